"""One shard's windows as global output positions: what ``F[idx]`` regions select there.

A :class:`Block` is what kmap's lowering needs to run on one shard
(``lower/kmap.py``, ``kmap_fused(..., block=...)``): the states it reads (the
shard's fields extended by their halos, ``halo.py``), the local geometry whose
layout places the shard's windows in them, and how a local position maps to a
global one (``global = local + axis_index * windows per shard`` on split axes).

Invariants: regions are always read in *global* output positions, so a
function owns exactly the windows it owns on one device. A region that every
shard sees alike (whole along the split axes, or periodic with a period that
divides the shard) becomes a local region and takes the single-device paths
(region-only evaluation, placing, padding with a constant). Any other region
is selected with a mask of global positions; a function whose derivative may
be infinite then runs on every local window but on *guarded* inputs
(:meth:`Block.guard`): outside its region each window cell and each traced
constant (extra arguments, closed-over tracers) is ``stop_gradient``-ed, so its
derivative there never reaches a gradient (``0 * inf`` stays out of it), and
its values there are discarded by the mask.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from kernex._src.lower.guard import guard
from kernex._src.shard.halo import AxisHalo
from kernex._src.window.geometry import Geometry
from kernex._src.window.regions import Progression

__all__ = ["Block"]


@dataclasses.dataclass(frozen=True)
class Block:
    """One shard's share of a sharded kmap (built inside ``jax.shard_map``).

    ``states``: per field, the extended block; ``geometry``: the local geometry
    (``geometry.layout`` places the shard's windows in the states);
    ``halos``: the split axes; ``global_out``: the global output shape.
    """

    states: list
    geometry: Geometry
    halos: tuple[AxisHalo, ...]
    global_out: tuple[int, ...]

    def _halo(self, axis: int) -> AxisHalo | None:
        return next((h for h in self.halos if h.axis == axis), None)

    def region(self, region: Sequence[Progression]) -> tuple[Progression, ...] | None:
        """The region in local positions if every shard sees the same one, else ``None``.

        >>> halo = AxisHalo(0, ("x",), 4, 4, 1, 1)
        >>> block = Block([], Geometry((4,), (3,), (1,), ((1, 1),)), (halo,), (16,))
        >>> block.region((Progression(1, 2, 8),)), block.region((Progression(1, 1, 15),))
        ((Progression(first=1, step=2, count=2),), None)
        """
        local = []
        for axis, p in enumerate(region):
            halo = self._halo(axis)
            if halo is None:
                local.append(p)
            elif p.first < p.step and p.last + p.step >= self.global_out[axis] and halo.out % p.step == 0:
                local.append(Progression(p.first, p.step, halo.out // p.step))
            else:
                return None
        return tuple(local)

    def mask(self, region: Sequence[Progression], extra_dims: int = 0) -> jax.Array | bool:
        """Where the local windows' *global* positions are in ``region`` (broadcastable to
        ``local out_shape + extra_dims`` trailing axes)."""
        out_shape = tuple(self.geometry.out_shape)
        ndim = len(out_shape) + extra_dims
        mask = True
        for axis, (p, size) in enumerate(zip(region, out_shape)):
            halo = self._halo(axis)
            if halo is None and p.count == size:
                continue
            shape = [1] * ndim
            shape[axis] = size
            position = lax.broadcasted_iota(np.int32, tuple(shape), axis)
            if halo is not None:
                position = position + lax.axis_index(halo.names).astype(np.int32) * np.int32(halo.out)
            inside = (position >= p.first) & (position <= p.last)
            if p.step > 1:
                inside = inside & ((position - p.first) % p.step == 0)
            mask = mask & inside
        return mask

    def guard(self, ctx: Any, patches: list, consts: Sequence[Any], mask: Any) -> tuple[list, list]:
        """Patches and constants equal to the given ones, whose derivatives are cut outside ``mask``
        (``lower/guard.py``)."""
        return guard(ctx, patches, consts, mask)
