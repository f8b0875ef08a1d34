"""kscan's live state under boundary modes: which stored cell each state cell is.

kmap reads a padded copy of its input (``boundary.pad_state``); kscan cannot,
because a read through a ``'wrap'``, ``'edge'``, ``'reflect'`` or
``'symmetric'`` side must see the *current* value of the input cell it copies
(a periodic sweep sees the cells it already updated). So kscan stores a
*physical* state: the input extended by its ``'constant'`` sides only (those
cells hold ``fill_value`` and may be written, as with zero padding), while the
index-mapped sides are *virtual*: state coordinate ``v`` of axis ``k`` is stored
at ``tables[k][v]``.

Invariants:

* the tables are exactly ``jnp.pad``'s index maps (``boundary._pad_axis`` applied
  to an ``arange``), so a kscan whose function never writes reads what kmap reads;
* a virtual cell maps into the input's cells (never into a constant side); a
  physical cell is ``shift[k]`` coordinates before its state coordinate;
* anchors never lie on a virtual side (:func:`resolve_frame` refuses that): each
  write has one place, and the recorded outputs are the final physical anchors.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from kernex._src.window import boundary as bnd
from kernex._src.window.geometry import Geometry

__all__ = ["Frame", "resolve_frame", "physical_state", "extend_axis", "take_rows"]


@dataclasses.dataclass(frozen=True)
class Frame:
    """Per axis: the virtual widths ``(lo, hi)``, the stored shape, and state -> stored coordinates.

    ``tables[k]`` has one entry per state coordinate of axis ``k``; ``mapped[k]`` is
    False where the table is the identity shifted by ``shift[k]`` (no virtual side).
    """

    virtual: tuple[tuple[int, int], ...]
    shape: tuple[int, ...]
    shift: tuple[int, ...]
    stored_lo: tuple[int, ...]
    input_shape: tuple[int, ...]
    tables: tuple[np.ndarray, ...]
    modes: tuple[tuple[str, str], ...]
    fills: tuple

    @property
    def mapped(self) -> tuple[bool, ...]:
        return tuple(bool(lo or hi) for lo, hi in self.virtual)


def _table(n: int, lo: int, hi: int, clo: int, chi: int, modes: tuple[str, str]) -> np.ndarray:
    """State coordinate -> stored coordinate along one axis (``np.pad``'s index map of each virtual
    side alone, as ``boundary._pad_axis`` pads it)."""
    interior = np.arange(clo, clo + n)
    pieces = [np.pad(interior, (lo, 0), mode=modes[0])[:lo]] if lo else []
    pieces.append(np.arange(clo + n + chi))  # the stored cells: constant lo side, input, constant hi side
    if hi:
        pieces.append(np.pad(interior, (0, hi), mode=modes[1])[-hi:])
    return np.concatenate(pieces).astype(np.int32)


def resolve_frame(geometry: Geometry, boundary: bnd.Boundary) -> Frame:
    """The stored layout of a kscan state; raises if an anchor would lie on a virtual side.

    >>> from kernex._src.window.geometry import resolve_geometry
    >>> g = resolve_geometry((4,), 3, 1, "same")
    >>> f = resolve_frame(g, bnd.resolve_boundary((4,), "wrap"))
    >>> f.shape, f.tables[0].tolist()
    ((4,), [3, 0, 1, 2, 3, 0])
    """
    virtual, shape, shift, stored_lo, tables = [], [], [], [], []
    for axis, ((lo, hi), pair, n) in enumerate(zip(geometry.state_padding, boundary.modes, geometry.shape)):
        vlo, vhi = (lo if pair[0] != "constant" else 0), (hi if pair[1] != "constant" else 0)
        clo, chi = lo - vlo, hi - vhi
        anchors = geometry.first_anchor[axis] + geometry.strides[axis] * np.arange(geometry.out_shape[axis])
        outside = anchors[(anchors < vlo) | (anchors >= vlo + clo + n + chi)]
        if outside.size:
            raise ValueError(
                f"kscan with boundary={pair!r} on axis {axis}: the windows at state coordinates "
                f"{outside[:4].tolist()} have their anchor outside the input (padding {geometry.padding[axis]} is "
                f"wider than 'same' for kernel size {geometry.kernel[axis]}), where the boundary makes every cell a "
                f"copy of an input cell, so the write would have no place of its own. Use at most 'same' padding on "
                f"that axis, or boundary='constant' there (constant cells are stored and may be written)."
            )
        virtual.append((vlo, vhi))
        shape.append(clo + n + chi)
        shift.append(vlo)
        stored_lo.append(clo)
        tables.append(_table(n, vlo, vhi, clo, chi, pair))
    return Frame(
        tuple(virtual), tuple(shape), tuple(shift), tuple(stored_lo), geometry.shape, tuple(tables),
        boundary.modes, boundary.fills,
    )


def physical_state(x: jax.Array, geometry: Geometry, frame: Frame) -> jax.Array:
    """The stored state: ``x`` extended by its constant sides only (fill values, corners by axis order)."""
    for axis, ((lo, hi), (vlo, vhi), fills) in enumerate(zip(geometry.state_padding, frame.virtual, frame.fills)):
        for hi_side, width in ((False, lo - vlo), (True, hi - vhi)):
            if width:
                x = bnd._pad_constant(x, axis, width, hi_side, fills[int(hi_side)])
    return x


def extend_axis(block: jax.Array, axis: int, frame: Frame) -> jax.Array:
    """All stored cells of ``axis`` -> every state coordinate: the virtual sides are read from the
    input cells they copy (exactly ``jnp.pad`` of the current values)."""
    vlo, vhi = frame.virtual[axis]
    if not (vlo or vhi):
        return block
    clo, n = frame.stored_lo[axis], frame.input_shape[axis]
    padded = bnd._pad_axis(lax.slice_in_dim(block, clo, clo + n, axis=axis), axis, vlo, vhi, frame.modes[axis])
    pieces = [lax.slice_in_dim(padded, 0, vlo, axis=axis)] if vlo else []
    pieces.append(block)
    if vhi:
        pieces.append(lax.slice_in_dim(padded, padded.shape[axis] - vhi, padded.shape[axis], axis=axis))
    return lax.concatenate(pieces, axis)


def take_rows(state: jax.Array, axis: int, frame: Frame, start, size: int) -> jax.Array:
    """State coordinates ``start .. start + size - 1`` of ``axis`` (``start`` may be traced): a
    dynamic slice where the axis has no virtual side, else a gather of the mapped stored rows."""
    if not frame.mapped[axis]:
        return lax.dynamic_slice_in_dim(state, start - np.int32(frame.shift[axis]), size, axis=axis)
    rows = lax.dynamic_slice_in_dim(jnp.asarray(frame.tables[axis]), start, size)
    return jnp.take(state, rows, axis=axis)
