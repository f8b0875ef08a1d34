"""What a window function receives: absolute, relative or named-axis views of a patch.

The patch array itself is built by the lowering, already in the order the
user's indexing expects (``Geometry.patch_cells``): cell ``j`` for absolute
indexing, the window rolled by ``-center`` for ``relative=True``. Named axes
wrap that array in :class:`NamedPatch`, a read-only mapping whose labels are
always anchor-relative (``docs/semantics.md``, "What the function receives").
A label or integer offset outside the window raises :class:`WindowOffsetError`
(both the mapping's ``KeyError`` and the ``IndexError`` of every out-of-window
read); using the mapping as an array raises a ``TypeError`` that says to index
it by its labels.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Mapping
from typing import Any, Callable

import jax

from kernex._src.window.geometry import Geometry, is_int

__all__ = ["NamedPatch", "WindowOffsetError", "check_named_axis", "window_function"]


class WindowOffsetError(IndexError, KeyError):
    """A named-axis key outside the window: an ``IndexError`` like every out-of-window read, and a
    ``KeyError`` because a named view is a mapping."""

    def __str__(self) -> str:  # KeyError would show the message's repr
        return str(self.args[0]) if self.args else ""


class _ViewUsedAsArray(TypeError):
    """A named-axis view passed where an array was expected (``detail``: how)."""

    def __init__(self, message: str, detail: str):
        super().__init__(message)
        self.detail = detail


def check_named_axis(named_axis: Any) -> dict[int, str] | None:
    """Validate ``named_axis`` at construction time; returns a copy."""
    if named_axis is None:
        return None
    if not isinstance(named_axis, Mapping):
        raise TypeError(
            f"`named_axis` must be None or a dict {{axis_index: name}}, e.g. {{0: 'n', 1: 'i'}}; "
            f"got {named_axis!r} of type {type(named_axis).__name__}."
        )
    out = {}
    for axis, name in named_axis.items():
        if not is_int(axis) or axis < 0:
            raise ValueError(f"`named_axis` keys must be non-negative axis indices; got key {axis!r} in {named_axis!r}.")
        if not isinstance(name, str) or not name or "+" in name or "-" in name:
            raise ValueError(
                f"`named_axis` names must be non-empty strings without '+' or '-'; got {name!r} "
                f"for axis {axis} in {named_axis!r}."
            )
        out[int(axis)] = name
    if len(set(out.values())) != len(out):
        raise ValueError(f"`named_axis` names must be distinct; got {named_axis!r}.")
    return out or None  # {} names no axis: the same as None


def _label(name: str, offset: int) -> str:
    return name if offset == 0 else f"{name}{offset:+d}"


_LABEL = re.compile(r"^(?P<name>[^+-]+)(?P<offset>[+-]\d+)$")


class NamedPatch(Mapping):
    """Read-only mapping from labels such as ``'i-1'`` or ``('i', 'n-1')`` to patch cells.

    With every axis named a key holds one label per axis in any order (a bare
    string for 1-D). With some axes named a key is a tuple in axis order:
    labels on named axes, integer anchor offsets on the others.
    """

    def __init__(self, patch: Any, geometry: Geometry, names: dict[int, str], relative: bool):
        self._patch = patch
        self._names = names
        self._kernel = geometry.kernel
        self._center = geometry.center
        self._relative = relative
        self._all_named = len(names) == geometry.ndim
        # label -> (axis, offset) for every named axis
        self._labels = {
            _label(names[axis], t): (axis, t)
            for axis in names
            for t in range(-geometry.center[axis], geometry.kernel[axis] - geometry.center[axis])
        }

    def _position(self, axis: int, offset: int) -> int:
        k, c = self._kernel[axis], self._center[axis]
        return offset % k if self._relative else offset + c

    def _offsets(self, key: Any) -> tuple[int, ...]:
        ndim = len(self._kernel)
        parts = key if isinstance(key, tuple) else (key,)
        if len(parts) != ndim:
            raise KeyError(f"{key!r}: a named-axis key needs {ndim} entries (one per axis); got {len(parts)}.")
        offsets: list[int | None] = [None] * ndim
        for position, part in enumerate(parts):
            if isinstance(part, str):
                if part not in self._labels:
                    self._raise_outside(key, part)
                    raise KeyError(f"{part!r} is not a label of this window; valid labels: {sorted(self._labels)}.")
                axis, offset = self._labels[part]
                if not self._all_named and axis != position:
                    raise KeyError(
                        f"{key!r}: with only some axes named, keys are in axis order; label {part!r} "
                        f"belongs to axis {axis} but is at position {position}."
                    )
            elif is_int(part) and not self._all_named and position not in self._names:
                axis, offset = position, int(part)
                lo, hi = -self._center[axis], self._kernel[axis] - self._center[axis] - 1
                if not lo <= offset <= hi:
                    raise WindowOffsetError(
                        f"{key!r}: offset {offset} on unnamed axis {axis} is outside the window: axis {axis} has "
                        f"{self._kernel[axis]} cells, anchor offsets {lo}..{hi}. Use an offset in that range or a "
                        f"larger kernel_size."
                    )
            else:
                raise KeyError(
                    f"{key!r}: entry {part!r} at position {position} is not valid; named axes take labels "
                    f"such as {next(iter(self._labels))!r}, unnamed axes take integer offsets."
                )
            if offsets[axis] is not None:
                raise KeyError(f"{key!r}: axis {axis} is given twice.")
            offsets[axis] = offset
        return tuple(offsets)  # type: ignore[arg-type]

    def _raise_outside(self, key: Any, part: str) -> None:
        """Raise :class:`WindowOffsetError` if ``part`` is a label of a named axis with an offset out of range."""
        match = _LABEL.match(part)
        axis = next((a for a, n in self._names.items() if match and n == match["name"]), None)
        if axis is None:
            return
        k, c = self._kernel[axis], self._center[axis]
        name = self._names[axis]
        raise WindowOffsetError(
            f"{key!r}: label {part!r} is offset {int(match['offset'])} on axis {axis} ({name!r}), outside the "
            f"window: axis {axis} has {k} cells, anchor offsets {-c}..{k - 1 - c} (labels {_label(name, -c)!r} "
            f"to {_label(name, k - 1 - c)!r}). Use a label in that range or a larger kernel_size."
        )

    def _as_array_error(self, fn: Any, detail: str) -> TypeError:
        first = next(iter(self))
        example = ", ".join(map(repr, first)) if isinstance(first, tuple) else repr(first)
        who = "a window function" if fn is None else f"window function {getattr(fn, '__name__', fn)!r}"
        return _ViewUsedAsArray(
            f"{who} used its named-axis view as an array ({detail}). With `named_axis` the function receives a "
            f"read-only mapping from labels to cells, not an array: index it by its labels, e.g. u[{example}] "
            f"(labels run over {self._label_ranges()}), and combine the cells with jnp, e.g. "
            f"`jnp.stack([u[key] for key in u])` for all of them; or drop `named_axis` to receive the window "
            f"as an array.",
            detail,
        )

    def _label_ranges(self) -> str:
        parts = []
        for axis, (k, c) in enumerate(zip(self._kernel, self._center)):
            if axis in self._names:
                name = self._names[axis]
                parts.append(f"{_label(name, -c)!r}..{_label(name, k - 1 - c)!r} on axis {axis}")
            else:
                parts.append(f"offsets {-c}..{k - 1 - c} on unnamed axis {axis}")
        return ", ".join(parts)

    def __array__(self, *args: Any, **kwargs: Any):
        raise self._as_array_error(None, "converted with numpy/jnp.asarray")

    def __getattr__(self, name: str) -> Any:  # only called for attributes the mapping lacks
        if name.startswith("_"):
            raise AttributeError(name)
        raise AttributeError(
            f"a named-axis view has no attribute {name!r}: it is a read-only mapping from labels to cells, not an "
            f"array; index it by its labels (over {self._label_ranges()}) and compute with the cells it returns."
        )

    def __getitem__(self, key: Any) -> Any:
        offsets = self._offsets(key)
        return self._patch[tuple(self._position(a, t) for a, t in enumerate(offsets))]

    def __iter__(self):
        per_axis = []
        for axis, (k, c) in enumerate(zip(self._kernel, self._center)):
            offsets = range(-c, k - c)
            if axis in self._names:
                per_axis.append([_label(self._names[axis], t) for t in offsets])
            else:
                per_axis.append(list(offsets))
        for key in itertools.product(*per_axis):
            yield key[0] if len(key) == 1 else key

    def __len__(self) -> int:
        size = 1
        for k in self._kernel:
            size *= k
        return size

    def __repr__(self) -> str:
        return f"NamedPatch(names={self._names}, kernel={self._kernel})"



def window_function(
    f: Callable, geometry: Geometry, relative: bool, named_axis: dict[int, str] | None
) -> Callable:
    """Return ``g(patch, *args, **kwargs)`` that calls ``f`` with the view the user asked for."""
    if named_axis is None:
        return f
    for axis in named_axis:
        if axis >= geometry.ndim:
            raise ValueError(
                f"`named_axis` refers to axis {axis} but the input has rank {geometry.ndim} "
                f"(shape {geometry.shape}); valid axes are 0..{geometry.ndim - 1}."
            )

    @functools.wraps(f)  # errors about the function name it, not this wrapper
    def named(patch, *args, **kwargs):
        # one view per field when the windowed argument is a pytree of arrays
        views = jax.tree_util.tree_map(lambda p: NamedPatch(p, geometry, named_axis, relative), patch)
        view = jax.tree_util.tree_leaves(views, is_leaf=lambda v: isinstance(v, NamedPatch))[0]
        try:
            return f(views, *args, **kwargs)
        except _ViewUsedAsArray as err:
            raise view._as_array_error(f, err.detail) from None
        except TypeError as err:  # e.g. jnp.sum(u), u * 2: JAX's message names the NamedPatch type
            if "NamedPatch" not in str(err):
                raise
            raise view._as_array_error(f, f"{type(err).__name__}: {str(err).splitlines()[0]}") from err

    return named
