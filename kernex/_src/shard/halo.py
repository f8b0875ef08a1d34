"""Per shard, the block kmap reads: its own cells plus the halo its windows need, boundary on the global edges only.

Along an input axis split into ``P`` equal blocks of ``nl`` cells, shard ``p``
computes the windows ``p*ml .. (p+1)*ml - 1`` with ``ml = nl / stride``: the
windows anchored in its own block. Window ``o`` starts at input cell
``o*s - lo`` (``docs/semantics.md``), so shard ``p``'s windows start at
``p*nl - lo`` and read up to ``span - stride - lo`` cells past its block: the
*halo* is ``lo`` cells before and ``span - stride - lo`` after, the same on
every shard (a negative halo is cells of the block no window reads). The local
computation is then an ordinary kmap on the block with padding
``(lo, span - stride - lo)`` (:func:`plan_halos`' local :class:`Geometry`),
whose padding cells hold the neighbours' cells instead of boundary cells.

Invariants:

* one ``lax.ppermute`` per side and per split axis carries every field's halo
  (fields of one dtype are stacked; one message per dtype otherwise), axis by
  axis in axis order, each on the block already extended along the earlier
  axes, so corner cells travel through the edge neighbours (no diagonal
  messages);
* the boundary mode applies on the global edges only: the first (last) shard
  builds its lo (hi) halo from its own block with the mode, exactly as
  ``pad_state`` pads the whole input (``'wrap'`` is the cyclic message
  instead; a zero ``'constant'`` side is what ``ppermute`` delivers to a
  shard no one sends to). Axes that are not split are padded as on one device;
* :func:`plan_halos` refuses, with a ``ValueError`` naming the axis, the sizes
  and the fix, every split where this is not exact: blocks of unequal length,
  a stride that does not divide the block, an output length other than
  ``n / stride``, and halos wider than a neighbour's block (or than a mirrored
  edge can take from the edge shard's own cells).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from kernex._src.shard.mesh import Split
from kernex._src.window.boundary import Boundary, pad_state
from kernex._src.window.geometry import Geometry

__all__ = ["AxisHalo", "plan_halos", "extend"]


@dataclasses.dataclass(frozen=True)
class AxisHalo:
    """One split input axis: its mesh axes, number of blocks, windows per block and halo widths (may be < 0)."""

    axis: int
    names: tuple[str, ...]
    shards: int
    out: int
    lo: int
    hi: int


def _most_shards(n: int, block: int) -> int:
    """The most equal blocks of at least ``block`` cells that ``n`` cells split into.

    >>> _most_shards(16, 5), _most_shards(16, 4), _most_shards(12, 5)
    (2, 4, 2)
    """
    return max(d for d in range(1, n + 1) if n % d == 0 and n // d >= block) if n >= block else 1


def _check_axis(geometry: Geometry, split: Split, axis: int, name: str) -> AxisHalo:
    n, shards, s = geometry.shape[axis], split.shards(axis), geometry.strides[axis]
    where = f"{name}: input axis {axis} (length {n}) is split over {split.describe(axis)}"
    if n % shards:
        below, above = n - n % shards, n + shards - n % shards
        raise ValueError(
            f"{where}, which does not cut it into equal blocks. Pad or crop the axis to a multiple of {shards} "
            f"(e.g. {below or above} or {above}), or leave it unsplit."
        )
    block = n // shards
    if block % s:
        raise ValueError(
            f"{where} into blocks of {block} cells, and strides[{axis}] = {s} does not divide a block: every shard "
            f"must hold whole windows. Use a length that is a multiple of {shards * s} (blocks a multiple of the "
            f"stride), fewer shards on this axis, or leave it unsplit."
        )
    w, (lo, hi), m = geometry.spans[axis], geometry.padding[axis], geometry.out_shape[axis]
    if m != n // s:
        raise ValueError(
            f"{where}; each shard computes the windows anchored in its own block, so the output must have "
            f"n / stride = {n // s} positions along this axis, but padding {(lo, hi)} gives {m}. Use "
            f"padding='same' on this axis (or a (lo, hi) with {w - s} <= lo + hi <= {w - 1}), or leave it unsplit."
        )
    halo = AxisHalo(axis, split.axes[axis], shards, block // s, lo, w - s - lo)
    for side, width in (("lo", halo.lo), ("hi", halo.hi)):
        if width > block:
            raise ValueError(
                f"{where} into blocks of {block} cells, but each shard's windows need {width} cells from its {side} "
                f"neighbour (kernel_size {geometry.kernel[axis]}, dilation {geometry.dilation[axis]}, padding "
                f"{(lo, hi)}): halos may not be wider than a block. Use at most {_most_shards(n, width)} shards on "
                f"this axis (blocks of at least {width} cells), a smaller window, or leave it unsplit."
            )
    return halo


def _check_edges(halo: AxisHalo, block: int, boundary: Boundary | None, where: str) -> None:
    if boundary is None:
        return
    for hi_side, width in ((False, halo.lo), (True, halo.hi)):
        mode = boundary.side(halo.axis, hi_side)
        if mode == "reflect" and width >= block:
            raise ValueError(
                f"{where}: boundary 'reflect' mirrors {width} cells about the {'last' if hi_side else 'first'} "
                f"cell, which needs {width + 1} cells of the edge shard's block but a block holds {block}. Use at "
                f"most {_most_shards(halo.shards * block, width + 1)} shards on this axis (blocks of at least "
                f"{width + 1} cells), another boundary mode, or leave it unsplit."
            )


def plan_halos(geometry: Geometry, split: Split, boundary: Boundary | None, name: str = "kmap"):
    """``(local geometry, halos)``: the block's geometry (its padding = the halo widths on split axes) and,
    per split axis, its :class:`AxisHalo`; a ``ValueError`` where a split cannot be exact.

    >>> from kernex._src.window.geometry import resolve_geometry
    >>> from jax.sharding import AbstractMesh
    >>> split = Split(AbstractMesh((4,), ("x",)), (("x",), None))
    >>> local, halos = plan_halos(resolve_geometry((16, 8), 3, 1, "same"), split, None)
    >>> local.shape, local.padding, local.out_shape, (halos[0].lo, halos[0].hi)
    ((4, 8), ((1, 1), (1, 1)), (4, 8), (1, 1))
    """
    halos = tuple(_check_axis(geometry, split, a, name) for a in range(geometry.ndim) if split.shards(a) > 1)
    shape, padding = list(geometry.shape), list(geometry.padding)
    for halo in halos:
        shape[halo.axis] //= halo.shards
        padding[halo.axis] = (halo.lo, halo.hi)
        where = f"{name}: input axis {halo.axis} split over {split.describe(halo.axis)}"
        _check_edges(halo, shape[halo.axis], boundary, where)
    local = Geometry(tuple(shape), geometry.kernel, geometry.strides, tuple(padding), geometry.dilation)
    return local, halos


def _one_axis(x: jax.Array, axis: int, lo: int, hi: int) -> Geometry:
    pads = tuple((lo, hi) if a == axis else (0, 0) for a in range(x.ndim))
    return Geometry(x.shape, (1,) * x.ndim, (1,) * x.ndim, pads)


def _send(parts: list[jax.Array], names: tuple[str, ...], perm: list[tuple[int, int]]) -> list[jax.Array]:
    """``lax.ppermute`` of every part, one message per dtype (same-dtype parts are stacked)."""
    out: list = [None] * len(parts)
    groups: dict = {}
    for i, part in enumerate(parts):
        groups.setdefault(part.dtype, []).append(i)
    for members in groups.values():
        message = parts[members[0]] if len(members) == 1 else jnp.stack([parts[i] for i in members])
        received = lax.ppermute(message, names, perm)
        for k, i in enumerate(members):
            out[i] = received if len(members) == 1 else received[k]
    return out


def _exchange(states: list[jax.Array], halo: AxisHalo, lo: int, hi: int, boundary: Boundary | None) -> list[jax.Array]:
    """Every state extended along ``halo.axis`` by ``lo`` cells of the previous shard and ``hi`` of the next."""
    axis, shards = halo.axis, halo.shards
    index = lax.axis_index(halo.names)
    pieces: list[list] = [[] for _ in states]
    for hi_side, width in ((False, lo), (True, hi)):
        if not width:
            continue
        mode = "constant" if boundary is None else boundary.side(axis, hi_side)
        cyclic = mode == "wrap"
        if hi_side:  # the next shard's first cells
            sent = [lax.slice_in_dim(s, 0, width, axis=axis) for s in states]
            perm = [(p + 1, p) for p in range(shards - 1)] + ([(0, shards - 1)] if cyclic else [])
        else:  # the previous shard's last cells
            n = states[0].shape[axis]
            sent = [lax.slice_in_dim(s, n - width, n, axis=axis) for s in states]
            perm = [(p, p + 1) for p in range(shards - 1)] + ([(shards - 1, 0)] if cyclic else [])
        received = _send(sent, halo.names, perm)
        zero = mode == "constant" and (boundary is None or _zero_fill(boundary, axis, hi_side))
        if not cyclic and not zero:  # the global edge: the boundary mode on the edge shard's own block
            edge_shard = shards - 1 if hi_side else 0
            geometry = _one_axis(states[0], axis, 0 if hi_side else width, width if hi_side else 0)
            for i, s in enumerate(states):
                padded = pad_state(s, geometry, boundary)
                start = padded.shape[axis] - width if hi_side else 0
                edge = lax.slice_in_dim(padded, start, start + width, axis=axis)
                received[i] = jnp.where(index == edge_shard, edge, received[i])
        for i, r in enumerate(received):
            pieces[i].append((hi_side, r))
    out = []
    for s, parts in zip(states, pieces):
        before = [r for hi_side, r in parts if not hi_side]
        after = [r for hi_side, r in parts if hi_side]
        out.append(lax.concatenate(before + [s] + after, axis) if parts else s)
    return out


def _zero_fill(boundary: Boundary, axis: int, hi_side: bool) -> bool:
    """A concrete zero fill: what ``ppermute`` delivers to the shard no one sends to."""
    fill = boundary.fills[axis][int(hi_side)]
    return not isinstance(fill, jax.core.Tracer) and bool(np.asarray(fill) == 0)


def extend(blocks: list, local: Geometry, halos: tuple[AxisHalo, ...], boundary: Boundary | None) -> list:
    """Each field's block extended by ``local.state_padding``: halos on split axes, the boundary elsewhere.

    Runs inside ``jax.shard_map``; the result is the local state that the
    single-device lowering reads its windows from (``local.layout``).
    """
    by_axis = {halo.axis: halo for halo in halos}
    states = list(blocks)
    for axis, (lo, hi) in enumerate(local.state_padding):
        if not lo and not hi:
            continue
        if axis in by_axis:
            states = _exchange(states, by_axis[axis], lo, hi, boundary)
        else:
            geometry = _one_axis(states[0], axis, lo, hi)
            states = [pad_state(s, geometry, boundary) for s in states]
    return states
