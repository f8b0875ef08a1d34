"""Boundary conditions as data, and the state: the input extended beyond its edges.

kmap reads its windows from the state and kscan updates it in place. Per axis
the state is the input extended by ``Geometry.state_padding`` (the positive part
of the padding; negative padding removes windows, never cells). What the
extended cells hold is the boundary, given per axis and side
(``docs/boundaries.md``); the names are ``jnp.pad``'s modes:

* ``'constant'`` - ``fill_value`` (default ``0``: the library's original zero padding);
* ``'edge'`` - the nearest edge cell;
* ``'reflect'`` - mirrored about the edge cell, which is not repeated;
* ``'symmetric'`` - mirrored including the edge cell (``scipy.ndimage``'s ``'reflect'``);
* ``'wrap'`` - periodic.

Invariants: a :class:`Boundary` is resolved from the user's arguments at call
time, one ``(lo, hi)`` pair of modes and of fill values per axis. The extension
is exactly ``jnp.pad``'s for pads of any width (wider than the axis included):
index-mapping modes are applied first, axis by axis, then constant sides in axis
order, so a cell outside the input along any ``'constant'`` side holds that
side's ``fill_value`` (corners included; where two constant sides with different
fill values meet, the later axis wins). Nothing here reads window data: this
module only builds the state.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from kernex._src.window.geometry import Geometry

__all__ = ["MODES", "Boundary", "check_boundary", "check_fill_value", "boundary_config", "resolve_boundary", "pad_state"]

#: the accepted boundary modes (``jnp.pad``'s names)
MODES = ("constant", "edge", "reflect", "symmetric", "wrap")


def _is_mode(v: Any) -> bool:
    return isinstance(v, str)


# scipy.ndimage's names for the same modes
_SCIPY_NAMES = {"nearest": "edge", "mirror": "reflect", "grid-mirror": "symmetric", "grid-wrap": "wrap", "grid-constant": "constant"}


def _check_mode(mode: str, boundary: Any) -> None:
    if mode not in MODES:
        hint = (
            f" scipy.ndimage's {mode!r} is {_SCIPY_NAMES[mode]!r} here (jnp.pad's names; scipy's 'reflect' is "
            f"'symmetric')" if mode in _SCIPY_NAMES else ""
        )
        raise ValueError(
            f"`boundary` modes must be one of {', '.join(map(repr, MODES))}; got {mode!r} in "
            f"boundary={boundary!r}.{hint}"
        )


def _nesting_error(name: str, value: Any, leaf: str) -> TypeError:
    return TypeError(
        f"`{name}` must be one {leaf} for every axis and side, a tuple/list with one entry per axis, or per "
        f"axis a (lo, hi) pair; got {name}={value!r}. Example: {name}=(('edge', 'constant'), 'wrap')"
        if name == "boundary"
        else f"`{name}` must be one {leaf} for every axis and side, a tuple/list with one entry per axis, or "
        f"per axis a (lo, hi) pair; got {name}={value!r}. Example: {name}=((0.0, 1.0), 0.0)"
    )


def check_boundary(boundary: Any) -> None:
    """Type/name check at construction time (the number of entries is checked against the input later)."""
    if _is_mode(boundary):
        _check_mode(boundary, boundary)
        return
    if not isinstance(boundary, (tuple, list)) or not boundary:
        raise _nesting_error("boundary", boundary, "mode string")
    for entry in boundary:
        if _is_mode(entry):
            _check_mode(entry, boundary)
        elif isinstance(entry, (tuple, list)) and len(entry) == 2 and all(map(_is_mode, entry)):
            for mode in entry:
                _check_mode(mode, boundary)
        else:
            raise _nesting_error("boundary", boundary, "mode string")


def boundary_config(boundary: Any, fill_value: Any) -> dict:
    """The non-default ``boundary`` / ``fill_value`` arguments, for a kernel's ``repr``."""
    extra = {}
    if boundary != "constant":
        extra["boundary"] = boundary
    if not (isinstance(fill_value, (int, float)) and fill_value == 0):
        extra["fill_value"] = fill_value
    return extra


def _is_scalar(v: Any) -> bool:
    if isinstance(v, (bool, int, float, complex, np.generic)):
        return True
    return isinstance(v, (jax.Array, np.ndarray)) and np.shape(v) == ()


def check_fill_value(fill_value: Any) -> None:
    """Type check at construction time: scalars, per axis, or per axis and side."""
    if _is_scalar(fill_value):
        return
    if not isinstance(fill_value, (tuple, list)) or not fill_value:
        raise _nesting_error("fill_value", fill_value, "scalar")
    for entry in fill_value:
        if _is_scalar(entry):
            continue
        if isinstance(entry, (tuple, list)) and len(entry) == 2 and all(map(_is_scalar, entry)):
            continue
        raise _nesting_error("fill_value", fill_value, "scalar")


@dataclasses.dataclass(frozen=True)
class Boundary:
    """Per axis, the ``(lo, hi)`` modes and the ``(lo, hi)`` fill values of constant sides."""

    modes: tuple[tuple[str, str], ...]
    fills: tuple[tuple[Any, Any], ...]

    @property
    def is_zero(self) -> bool:
        """True for the default: every side constant with a concrete zero fill."""
        return all(m == ("constant", "constant") for m in self.modes) and all(
            _is_concrete_zero(f) for pair in self.fills for f in pair
        )

    def side(self, axis: int, hi: bool) -> str:
        return self.modes[axis][int(hi)]


def _is_concrete_zero(v: Any) -> bool:
    try:
        return bool(np.asarray(v) == 0)
    except (jax.errors.TracerBoolConversionError, jax.errors.ConcretizationTypeError, TypeError):
        return False


def _per_axis_side(name: str, value: Any, ndim: int, shape: tuple[int, ...], is_leaf) -> tuple:
    if is_leaf(value):
        return ((value, value),) * ndim
    value = tuple(value)
    if len(value) != ndim:
        raise ValueError(
            f"`{name}` must have one entry per input axis: the input has shape {shape} (rank {ndim}) but "
            f"{name}={value!r} has {len(value)} entries. Pass one value for every axis, or {ndim} entries "
            f"(each a value or a (lo, hi) pair)."
        )
    return tuple((e, e) if is_leaf(e) else (e[0], e[1]) for e in value)


def resolve_boundary(shape: tuple[int, ...], boundary: Any = "constant", fill_value: Any = 0) -> Boundary:
    """Resolve the user's ``boundary`` and ``fill_value`` against an input shape.

    >>> b = resolve_boundary((4, 5), (("edge", "constant"), "wrap"), fill_value=1.0)
    >>> b.modes, b.fills
    ((('edge', 'constant'), ('wrap', 'wrap')), ((1.0, 1.0), (1.0, 1.0)))
    """
    ndim = len(shape)
    modes = _per_axis_side("boundary", boundary, ndim, shape, _is_mode)
    fills = _per_axis_side("fill_value", fill_value, ndim, shape, _is_scalar)
    for axis, (pair, n) in enumerate(zip(modes, shape)):
        if n == 0 and any(m != "constant" for m in pair):
            raise ValueError(
                f"`boundary` mode {pair!r} on axis {axis} needs cells to copy, but the input of shape {shape} "
                f"is empty along that axis; use 'constant' there."
            )
    return Boundary(modes, fills)


def _pad_axis(x: jax.Array, axis: int, lo: int, hi: int, modes: tuple[str, str]) -> jax.Array:
    """Extend one axis with index-mapping modes (constant sides are left for later)."""
    widths = [(0, 0)] * x.ndim
    lo_mode, hi_mode = modes
    if lo_mode == hi_mode:
        widths[axis] = (lo, hi)
        return jnp.pad(x, widths, mode=lo_mode)
    pieces = []
    if lo and lo_mode != "constant":
        widths[axis] = (lo, 0)
        pieces.append(lax.slice_in_dim(jnp.pad(x, widths, mode=lo_mode), 0, lo, axis=axis))
    pieces.append(x)
    if hi and hi_mode != "constant":
        widths[axis] = (0, hi)
        padded = jnp.pad(x, widths, mode=hi_mode)
        pieces.append(lax.slice_in_dim(padded, padded.shape[axis] - hi, padded.shape[axis], axis=axis))
    return lax.concatenate(pieces, axis) if len(pieces) > 1 else x


def _pad_constant(x: jax.Array, axis: int, width: int, hi_side: bool, fill: Any) -> jax.Array:
    """``width`` cells of ``fill`` before (or after) ``x`` along ``axis``.

    A JAX array fill (maybe traced) is concatenated as a broadcast block: ``lax.pad``'s transpose gives no
    cotangent to its padding value when the operand is a constant (jax 0.10), and
    ``fill_value`` is differentiable like any other argument.
    """
    given = fill
    fill = jnp.asarray(fill, x.dtype)
    if isinstance(given, jax.Array):  # maybe traced: keep it differentiable
        shape = list(x.shape)
        shape[axis] = width
        block = lax.broadcast_in_dim(fill, tuple(shape), ())
        return lax.concatenate([x, block] if hi_side else [block, x], axis)
    config = [(0, 0, 0)] * x.ndim
    config[axis] = (0, width, 0) if hi_side else (width, 0, 0)
    return lax.pad(x, fill, config)


def _one_static_fill(boundary: Boundary) -> Any:
    """The fill value when every side is ``'constant'`` with the same static scalar, else None (one
    ``lax.pad`` then builds the state: padding side by side leaves XLA a chain of copies)."""
    if any(pair != ("constant", "constant") for pair in boundary.modes):
        return None
    fills = [f for pair in boundary.fills for f in pair]
    if any(isinstance(f, jax.Array) for f in fills):
        return None
    return fills[0] if len({(type(f), f) for f in fills}) == 1 else None


def pad_state(x: jax.Array, geometry: Geometry, boundary: Boundary | None = None) -> jax.Array:
    """Extend ``x`` by ``geometry.state_padding`` with ``boundary`` (zeros when ``None``): the kscan
    state / kmap source. Exactly ``jnp.pad`` per axis and side (see the module docstring).

    >>> from kernex._src.window.geometry import resolve_geometry
    >>> g = resolve_geometry((4,), 3, 1, "same")
    >>> pad_state(jnp.arange(1., 5.), g, resolve_boundary((4,), "wrap")).tolist()
    [4.0, 1.0, 2.0, 3.0, 4.0, 1.0]
    """
    pads = geometry.state_padding
    if all(p == (0, 0) for p in pads):
        return x
    if boundary is None or boundary.is_zero:
        return lax.pad(x, jnp.zeros((), x.dtype), [(lo, hi, 0) for lo, hi in pads])
    modes = boundary.modes
    if len({pair for pair in modes}) == 1 and modes[0][0] == modes[0][1] != "constant":
        return jnp.pad(x, pads, mode=modes[0][0])  # one mode everywhere: a single jnp.pad, as by hand
    fill = _one_static_fill(boundary)
    if fill is not None:  # constant everywhere with one static fill: a single lax.pad, as by hand
        return lax.pad(x, jnp.asarray(fill, x.dtype), [(lo, hi, 0) for lo, hi in pads])
    for axis, ((lo, hi), pair) in enumerate(zip(pads, modes)):
        if pair != ("constant", "constant") and (lo or hi):
            x = _pad_axis(x, axis, lo if pair[0] != "constant" else 0, hi if pair[1] != "constant" else 0, pair)
    for axis, ((lo, hi), pair, fills) in enumerate(zip(pads, modes, boundary.fills)):
        for hi_side, width in ((False, lo), (True, hi)):
            if width and pair[int(hi_side)] == "constant":
                x = _pad_constant(x, axis, width, hi_side, fills[int(hi_side)])
    return x
