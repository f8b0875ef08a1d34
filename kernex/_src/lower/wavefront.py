"""kscan's wavefront schedule: ``lax.scan`` over hyperplanes ``pi · p = const`` of positions.

One step gathers the cells of its windows (scattered over the state, so there is
no lattice: :class:`GatherContext` answers ``None`` for regions and
materialisations, and the interpreter falls back to per-cell paths; a whole
window box is one gather), evaluates them, and scatters the results into their
anchors. ``lower/plan.py`` chooses the normal ``pi`` and proves it exact.
**Invariant:** every index is ``int32`` (``block.INDEX_DTYPE``), also under x64.
"""

from __future__ import annotations

import itertools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from kernex._src import config
from kernex._src.interp.context import Context
from kernex._src.interp.values import Cell, Source, window_grid
from kernex._src.lower.block import INDEX_DTYPE, recorded
from kernex._src.lower.cases import Cases, covers, index_grid, owners
from kernex._src.lower.plan import Plan
from kernex._src.window.frame import Frame, physical_state
from kernex._src.window.geometry import Geometry, Layout

__all__ = ["GatherContext", "run_wavefront"]


class GatherContext(Context):
    """Windows at arbitrary (traced) state positions: cells are gathered, not sliced."""

    def __init__(self, starts: jax.Array, ndim: int, dilation: tuple[int, ...] | None = None, frame: Frame | None = None):
        width = starts.shape[0]
        super().__init__(Layout((0,) * ndim, (width,), (1,) * ndim, dilation), config.UNROLL_LIMIT)
        self._starts = starts
        self._dilation = np.asarray(self.layout.dilation)
        # state coordinates -> stored ones, per axis (None: the same)
        self._tables = [None] * ndim if frame is None else [
            jnp.asarray(t) if on else None for t, on in zip(frame.tables, frame.mapped)
        ]

    def _gather(self, base, index):
        """``base`` at the state coordinates ``index[..., d]`` (a virtual cell reads the input cell it copies)."""
        return base[tuple(index[..., d] if t is None else t[index[..., d]] for d, t in enumerate(self._tables))]

    def cell(self, cell: Cell) -> jax.Array:
        key = (id(cell.source), cell.offset)
        if key not in self._slices:
            self.reads.add(cell.offset)
            offset = np.asarray(cell.offset) * self._dilation - np.asarray(cell.source.shift)
            index = self._starts + jnp.asarray(offset, self._starts.dtype)[None, :]
            gathered = self._gather(cell.source.base, index)
            self._slices[key] = (cell.source.read(gathered), cell.source)
        return self._slices[key][0]

    def region(self, source: Source, corner: tuple[int, ...], shape: tuple[int, ...]) -> jax.Array | None:
        """Always ``None``: windows are scattered, so the large-window plans fall back (see ``Context``)."""
        return None

    def patch(self, source: Source, corner: tuple[int, ...], shape: tuple[int, ...]) -> jax.Array:
        """One gather of every window's box of cells (``(width,) + shape``), transform applied."""
        self.reads.update(itertools.product(*(range(c, c + k) for c, k in zip(corner, shape))))
        cells = np.stack(np.meshgrid(*(np.arange(c, c + k) for c, k in zip(corner, shape)), indexing="ij"), axis=-1)
        offset = jnp.asarray(cells * self._dilation - np.asarray(source.shift), self._starts.dtype)[None]
        index = self._starts.reshape((self._starts.shape[0],) + (1,) * len(shape) + self._starts.shape[1:]) + offset
        return source.read(self._gather(source.base, index))

    def materialize(self, source: Source, transform: Any, corner, shape) -> Source | None:
        """Always ``None``: windows are scattered, so elementwise rules apply ``transform`` per entry."""
        return None


def run_wavefront(fields: list, geometry: Geometry, plan: Plan, branches, jaxprs, relative, frame: Frame) -> list:
    g = geometry
    positions = index_grid(g.out_shape)
    level = positions @ np.asarray(plan.pi, np.int64)
    level -= level.min()
    order = np.argsort(level, kind="stable")
    counts = np.bincount(level)
    width = int(counts.max())
    slot = np.empty(len(positions), dtype=np.int64)
    slot[order] = np.arange(len(positions)) - np.repeat(np.cumsum(counts) - counts, counts)
    table = np.zeros((len(counts), width), dtype=np.int64)
    valid = np.zeros((len(counts), width), dtype=bool)
    table[level, slot], valid[level, slot] = np.arange(len(positions)), True
    pos = positions[table]
    starts = (np.asarray(g.origin) + pos * np.asarray(g.strides)).astype(INDEX_DTYPE)
    stored = starts + np.asarray(g.anchor_shift) - np.asarray(frame.shift)  # anchors never lie on virtual sides
    anchors = np.where(valid[..., None], stored, np.asarray(frame.shape)).astype(INDEX_DTYPE)
    cover = np.stack([covers(b, pos.reshape(-1, g.ndim), range(g.ndim)).reshape(valid.shape) & valid for b in branches])
    cases = Cases(owners(cover))

    def step(states, xs):
        start, anchor, which = xs
        ctx = GatherContext(start, g.ndim, g.dilation, frame)
        patches = [window_grid(state, g, relative) for state in states]
        values = cases.select(ctx, patches, jaxprs, which, [state.dtype for state in states])
        where = tuple(anchor[:, d] for d in range(g.ndim))
        return tuple(state.at[where].set(value, mode="drop") for state, value in zip(states, values)), None

    xs = (jnp.asarray(starts), jnp.asarray(anchors), jnp.asarray(cases.table))
    states, _ = lax.scan(step, tuple(physical_state(x, g, frame) for x in fields), xs)
    return [recorded(state, g, frame) for state in states]
