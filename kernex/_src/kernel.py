"""The kernel object shared by ``kmap`` and ``kscan``: arguments, calling conventions, ``F[idx] = f``.

A kernel object only records what the user said. Every call resolves the
geometry from the input's shape afresh (calls are pure: ``docs/semantics.md``) and hands the result to
the subclass's ``_lower``, which decides how windows become XLA code.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
from typing import Any, Callable

import jax
import numpy as np

from kernex._src.window import geometry as geo
from kernex._src.window import regions
from kernex._src.window.views import check_named_axis, window_function

__all__ = ["Branch", "Kernel"]


@dataclasses.dataclass(frozen=True)
class Branch:
    """One window function and the output positions it owns.

    ``region`` is ``None`` for "everywhere" (decorator form) or, per axis, the
    progression of output positions it covers; later branches win where
    regions overlap. ``view`` is what ``fn`` indexes: ``'absolute'`` or
    ``'relative'`` patches (their static reads are checked against the window
    when traced) or ``'named'`` views (which check their labels themselves).
    """

    fn: Callable
    region: tuple[regions.Progression, ...] | None
    view: str = "absolute"


def _is_array(x: Any) -> bool:
    return isinstance(x, (jax.Array, np.ndarray))


def _is_fields(x: Any) -> bool:
    """An array, or a pytree (dict, tuple, treeclass, ...) whose leaves are all arrays: the windowed argument."""
    if _is_array(x):
        return True
    if callable(x):  # a function (decorator form); a callable pytree is taken as a function too
        return False
    leaves = jax.tree_util.tree_leaves(x)
    return bool(leaves) and all(_is_array(leaf) for leaf in leaves)


def _fields(name: str, tree: Any) -> tuple[list, Any, tuple[int, ...]]:
    """``(leaves as jax arrays, treedef, common shape)`` of the windowed argument; equal shapes or a ValueError."""
    paths_leaves, treedef = jax.tree_util.tree_flatten_with_path(tree)
    leaves = [jax.numpy.asarray(leaf) for _, leaf in paths_leaves]
    first_path, first = paths_leaves[0][0], leaves[0]
    for (path, _), leaf in zip(paths_leaves[1:], leaves[1:]):
        if leaf.shape != first.shape:
            raise ValueError(
                f"{name}: every field of the windowed argument must have the same shape, so that one window "
                f"covers the same cells of each; field {jax.tree_util.keystr(first_path) or '[0]'} has shape "
                f"{first.shape} but field {jax.tree_util.keystr(path)} has shape {leaf.shape}. Pass "
                f"differently shaped arrays as extra (unwindowed) arguments instead."
            )
    return leaves, treedef, first.shape


class Kernel(abc.ABC):
    """Base class of :class:`kmap` and :class:`kscan`; see their docstrings."""

    _name = "kernel"

    def __init__(self, kernel_size=1, strides=1, padding=0, relative=False, named_axis=None, *, dilation=1):
        geo.check_kernel_size(kernel_size)
        geo.check_strides(strides)
        geo.check_dilation(dilation)
        geo.check_padding(padding)
        if not isinstance(relative, (bool, np.bool_)):
            raise TypeError(f"`relative` must be a bool; got {relative!r} of type {type(relative).__name__}.")
        self.kernel_size = kernel_size
        self.strides = strides
        self.padding = padding
        self.dilation = dilation
        self.relative = bool(relative)
        self.named_axis = check_named_axis(named_axis)
        self._assignments: list[tuple[tuple, Callable]] = []

    def __repr__(self) -> str:
        entries = (self.dilation,) if geo.is_int(self.dilation) else tuple(self.dilation)
        dilated = {} if set(entries) == {1} else {"dilation": self.dilation}  # shown only when not 1
        extra = "".join(f", {k}={v!r}" for k, v in (dilated | self._extra_config()).items())
        return (
            f"{self._name}(kernel_size={self.kernel_size!r}, strides={self.strides!r}, padding={self.padding!r}, "
            f"relative={self.relative!r}, named_axis={self.named_axis!r}{extra})"
        )

    def _extra_config(self) -> dict[str, Any]:
        """Constructor arguments of a subclass, shown by ``repr``."""
        return {}

    # identity hash so that ``jax.jit(K)`` works
    __hash__ = object.__hash__

    def __setitem__(self, index: Any, func: Callable) -> None:
        if not callable(func):
            raise TypeError(
                f"{self._name}[{index!r}] = ... expects a function of the window, e.g. `lambda x: x[0]`; "
                f"got {func!r} of type {type(func).__name__}."
            )
        self._assignments.append((regions.normalize_index(index), func))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and not kwargs and callable(args[0]) and not _is_array(args[0]):
            return self._decorate(args[0])
        if args and _is_fields(args[0]):
            if not self._assignments:
                raise ValueError(
                    f"{self._name} was called on an array but no function is registered. Either decorate a "
                    f"function (`{self._name}(...)(f)(array)`) or assign one by index first (`F[:] = f`)."
                )
            branches = [(index, fn) for index, fn in self._assignments]
            return self._apply(args[0], branches, args[1:], kwargs)
        first = type(args[0]).__name__ if args else "nothing"
        raise ValueError(
            f"{self._name} objects are called with a function (decorator form, `{self._name}(...)(f)`) or with "
            f"an array (after `F[idx] = f`); got {first} as the first argument."
        )

    def _decorate(self, f: Callable) -> Callable:
        @functools.wraps(f)
        def wrapper(array, *args, **kwargs):
            if not _is_fields(array):
                raise TypeError(
                    f"the function decorated by {self._name} takes an array (jax or numpy), or a pytree of "
                    f"equally shaped arrays, as its first argument; got {type(array).__name__}."
                )
            return self._apply(array, [(None, f)], args, kwargs)

        return wrapper

    def _apply(self, array: Any, assignments: list, args: tuple, kwargs: dict) -> jax.Array:
        if _is_array(array):
            array = jax.numpy.asarray(array)
            shape = array.shape
        else:  # a pytree of fields, windowed alike
            leaves, treedef, shape = _fields(self._name, array)
            array = treedef.unflatten(leaves)
        if len(shape) < 1:
            raise ValueError(f"{self._name} needs an input of rank >= 1; got an array of shape {shape}.")
        geometry = geo.resolve_geometry(shape, self.kernel_size, self.strides, self.padding, self.dilation)
        branches = [
            Branch(
                fn=window_function(fn, geometry, self.relative, self.named_axis),
                region=None if index is None else regions.region_progressions(index, geometry),
                view="named" if self.named_axis else "relative" if self.relative else "absolute",
            )
            for index, fn in assignments
        ]
        return self._lower(array, geometry, branches, args, kwargs)

    @abc.abstractmethod
    def _lower(self, array: jax.Array, geometry: geo.Geometry, branches: list[Branch], args: tuple, kwargs: dict):
        """Evaluate ``branches`` over every window of ``array``."""
