"""The ``Context`` contract: the interpreter's only door to window data.

A context knows where the windows of one evaluation sit and turns lazy
:class:`~kernex._src.interp.values.Cell` entries into arrays with one element
per window. **Invariant:** every read of the input (or of a state, for kscan)
goes through :meth:`Context.cell`, :meth:`Context.region`, :meth:`Context.patch`
or :meth:`Context.materialize`, and each records the window offsets it reads in
``reads``. kscan's schedules are sound only because of this: its read analysis
runs the same rules on a probe context and trusts ``reads`` to be complete.

A concrete context must implement :meth:`Context.cell`. :meth:`Context.region`,
:meth:`Context.patch` and :meth:`Context.materialize` are optional: their
results are typed ``... | None``, and ``None`` means "this context cannot give
that shortcut", never an error. A context whose windows are not a regular
lattice of one array (kscan's wavefront gathers scattered windows) answers
``None`` for regions and materialisations. **Every caller must handle
``None``** by taking a per-cell path: the box plans of
``interp/large_windows.py`` answer ``None`` in turn (the rule then uses the vmap
fallback), elementwise rules apply the transform per entry, and
:meth:`Context.dense` asks :meth:`Context.patch` and else stacks one
:meth:`Context.cell` per entry. Never a crash.

:class:`SliceContext` is the lattice context of kmap and of kscan's block
schedules: cells are strided shifted slices (``window/taps.py``).
"""

from __future__ import annotations

import abc
import itertools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from kernex._src.interp.values import (
    Cell,
    Dense,
    Grid,
    Scaled,
    Source,
    Uniform,
    object_array,
)
from kernex._src.window.geometry import Layout
from kernex._src.window.taps import box_region, cell_slice, tap

__all__ = ["Context", "SliceContext"]


class Context(abc.ABC):
    """Per-evaluation state: where windows sit, caches of cells and scalars, and the cells read.

    Attributes:
        layout: where windows sit (``out_shape`` is the number of windows per axis).
        unroll_limit: windows (or per-window values) with more elements than this
            are not unrolled entry by entry.
        reads: every window-cell offset whose data was used (kscan's read analysis).
    """

    def __init__(self, layout: Layout, unroll_limit: int):
        self.layout = layout
        self.out_shape = layout.out_shape
        self.n_positions = len(layout.out_shape)
        self.unroll_limit = unroll_limit
        self.reads: set[tuple[int, ...]] = set()
        self._slices: dict = {}
        self._scalars: dict = {}

    # -- the contract --------------------------------------------------------------------
    @abc.abstractmethod
    def cell(self, cell: Cell) -> jax.Array:
        """Cell ``cell.offset`` of every window, with the source's transform applied: an ``out_shape`` array."""

    def region(self, source: Source, corner: tuple[int, ...], shape: tuple[int, ...]) -> jax.Array | None:
        """The contiguous part of ``source.base`` holding cells ``corner .. corner + shape - 1`` of every window.

        The source's transform is *not* applied: callers apply ``source.read``.

        Returns:
            The region, or ``None`` when this context's windows do not lie on a lattice of
            ``source.base`` (the default). Callers must then read per cell, or through
            :meth:`patch`; the box plans of ``large_windows`` return ``None`` to their rule.
        """
        return None

    def patch(self, source: Source, corner: tuple[int, ...], shape: tuple[int, ...]) -> jax.Array | None:
        """Cells ``corner .. corner + shape - 1`` of every window, transform applied: ``out_shape + shape``.

        The default is built from :meth:`region`, one axis at a time (``k0 + k1 + ...``
        stacked strided slices instead of one slice per cell: a 40x40 window is 80 ops, not
        1600). The transform is applied after slicing, so cells no window reads (gaps
        between strided windows) never enter a derivative.

        Returns:
            The patch, or ``None`` when there is no region and the context has no other
            way (the caller, :meth:`dense`, then stacks one :meth:`cell` per entry).
        """
        region = self.region(source, corner, shape)
        if region is None:
            return None
        for axis, (k, s, d, n) in enumerate(zip(shape, self.layout.strides, self.layout.dilation, self.out_shape)):
            if n == 1:  # one window along this axis (kscan's sequential steps): its k cells are the region's
                cells = region if d == 1 else lax.slice_in_dim(region, 0, None, d, axis)  # every d-th (dilation)
                region = jnp.expand_dims(jnp.moveaxis(cells, axis, -1), axis)
            else:
                region = jnp.stack([tap(region, axis, j, n, s, d) for j in range(k)], axis=-1)
        return source.read(region)

    def materialize(self, source: Source, transform: Any, corner, shape) -> Source | None:
        """A new source holding ``transform`` applied once to the cells the windows' ``corner + shape`` boxes read.

        Returns:
            The source, or ``None`` (the default) when this context cannot build one; the
            caller (the elementwise rules) then applies ``transform`` per entry.
        """
        return None

    # -- shared by every context ---------------------------------------------------------
    def scalar(self, uniform: Uniform, index: tuple[int, ...]) -> Any:
        """Element ``index`` of a uniform value (index ``()`` broadcasts rank-0 values)."""
        if uniform.shape == ():
            return uniform.value
        key = (id(uniform), index)
        if key not in self._scalars:
            value = uniform.value
            if uniform.concrete:
                self._scalars[key] = (np.asarray(value)[index], uniform)
            else:
                self._scalars[key] = (value[index], uniform)
        return self._scalars[key][0]

    def resolve(self, entry: Any) -> Any:
        """An entry as an ``out_shape`` array (or a scalar for position-independent entries)."""
        if isinstance(entry, Cell):
            return self.cell(entry)
        if isinstance(entry, Scaled):
            return lax.mul(self.cell(entry.cell), self.scalar(entry.weights, entry.index))
        return entry

    def element(self, value: Any, index: tuple[int, ...]) -> Any:
        """Element ``index`` (of the broadcast shape) of a Grid/Uniform value, NumPy broadcasting rules."""
        shape = value.shape
        own = tuple(0 if n == 1 else i for i, n in zip(index[len(index) - len(shape):], shape))
        if isinstance(value, Grid):
            return self.resolve(value.entries[own])
        return self.scalar(value, own)

    def entries_of(self, value: Any) -> np.ndarray:
        """A Grid's entries, or a Uniform's elements as an object array of scalars."""
        if isinstance(value, Grid):
            return value.entries
        out = object_array(value.shape)
        for idx in np.ndindex(*value.shape):
            out[idx] = self.scalar(value, idx)
        return out

    def broadcast_entry(self, entry: Any, dtype: Any) -> jax.Array:
        array = jnp.asarray(self.resolve(entry), dtype=dtype)
        if array.shape != self.out_shape:
            array = lax.broadcast_in_dim(array, self.out_shape, ())
        return array

    def _box_layout(self, grid: Grid) -> tuple[list[int], tuple[int, ...], list[np.ndarray]] | None:
        """If the Grid holds each cell of a box of one source once, arranged axis by axis (the state axes
        possibly permuted, as by ``v.T``, and each axis's cells in any order, as by a relative view's
        roll): ``(axes, corner, orders)`` with ``entry[i].offset[axes[a]] == corner[axes[a]] +
        orders[a][i[a]]``; else None."""
        if grid.size < 2 or not grid.all_cells():
            return None
        first = grid.entries.flat[0]
        ndim = len(first.offset)
        if grid.entries.ndim != ndim:
            return None
        axes, lines = [], []
        for a, k in enumerate(grid.shape):
            line = np.array([grid.entries[(0,) * a + (i,) + (0,) * (ndim - a - 1)].offset for i in range(k)])
            moved = np.flatnonzero(np.any(line != line[0], axis=0))
            if len(moved) > 1:
                return None
            axes.append(int(moved[0]) if len(moved) else None)
            lines.append(line)
        free = iter(sorted(set(range(ndim)) - {axis for axis in axes if axis is not None}))
        axes = [next(free, -1) if axis is None else axis for axis in axes]
        if sorted(axes) != list(range(ndim)):  # two grid axes step along one state axis
            return None
        corner, orders = list(first.offset), []
        for a, axis in enumerate(axes):
            along = lines[a][:, axis]
            corner[axis] = int(along.min())
            orders.append(along - corner[axis])
            if sorted(orders[-1].tolist()) != list(range(len(along))):
                return None
        for idx in np.ndindex(*grid.shape):
            entry = grid.entries[idx]
            expected = list(corner)
            for a, i in enumerate(idx):
                expected[axes[a]] += int(orders[a][i])
            if entry.source is not first.source or entry.offset != tuple(expected):
                return None
        return axes, tuple(corner), orders

    def _box_patch(self, grid: Grid) -> jax.Array | None:
        """The patch of a Grid that is a box of one source's cells, from one :meth:`patch` of the box
        (then reordered: a rolled axis is two slices, a transpose is free), or None (not a box, or no patch)."""
        found = self._box_layout(grid)
        if found is None:
            return None
        axes, corner, orders = found
        first, n = grid.entries.flat[0], self.n_positions
        box = [0] * len(axes)
        for a, axis in enumerate(axes):
            box[axis] = grid.shape[a]
        patch = self.patch(first.source, corner, tuple(box))
        if patch is None:
            return None
        for a, axis in enumerate(axes):
            order, k = orders[a], len(orders[a])
            if np.array_equal(order, np.arange(k)):
                continue
            if np.array_equal(order, (np.arange(k) + order[0]) % k):  # a roll (relative indexing)
                patch = jnp.roll(patch, -int(order[0]), axis=n + axis)
            else:
                patch = jnp.take(patch, order, axis=n + axis)
        if axes != sorted(axes):
            patch = lax.transpose(patch, tuple(range(n)) + tuple(n + axis for axis in axes))
        return patch

    def _reshaped_box_patch(self, grid: Grid) -> jax.Array | None:
        """The patch of a Grid holding the cells of a box of one source in another shape (``v.ravel()``,
        ``v.reshape(...)`` of a window or of its transpose), from the box patch; else None."""
        if grid.size < 2 or not grid.all_cells():
            return None
        offsets = np.array([e.offset for e in grid.entries.flat])
        shape = tuple(int(k) for k in offsets.max(axis=0) - offsets.min(axis=0) + 1)
        if int(np.prod(shape)) != grid.size:
            return None
        for box_shape in dict.fromkeys(itertools.permutations(shape)):
            if box_shape == grid.shape:
                continue  # already tried as it is
            patch = self._box_patch(Grid(grid.entries.reshape(box_shape), grid.dtype))
            if patch is not None:
                return patch.reshape(self.out_shape + grid.shape)
        return None

    def dense(self, value: Any, dtype: Any = None) -> jax.Array:
        """``out_shape + per_window_shape`` array of a value."""
        if isinstance(value, Dense):
            return value.array if dtype is None else value.array.astype(dtype)
        if isinstance(value, Uniform):
            array = jnp.asarray(value.value, dtype=dtype)
            shape = self.out_shape + array.shape
            dims = tuple(range(self.n_positions, len(shape)))
            return lax.broadcast_in_dim(array, shape, dims)
        dtype = value.dtype if dtype is None else dtype
        if value.size == 0:  # e.g. v[:0]: nothing to stack
            return jnp.zeros(self.out_shape + value.shape, dtype)
        patch = self._box_patch(value)
        if patch is None:
            patch = self._reshaped_box_patch(value)
        if patch is not None:
            return patch.astype(dtype)
        flat = [self.broadcast_entry(e, dtype) for e in value.entries.flat]
        if value.shape == ():
            return flat[0]
        return jnp.stack(flat, axis=-1).reshape(self.out_shape + value.shape)


class SliceContext(Context):
    """Windows on a regular lattice of their sources: every cell is a strided shifted slice."""

    def cell(self, cell: Cell) -> jax.Array:
        key = (id(cell.source), cell.offset)
        if key not in self._slices:
            self.reads.add(cell.offset)
            piece = cell_slice(cell.source.base, self.layout, cell.offset, cell.source.shift)
            self._slices[key] = (cell.source.read(piece), cell.source)
        return self._slices[key][0]

    def region(self, source: Source, corner: tuple[int, ...], shape: tuple[int, ...]) -> jax.Array:
        self.reads.update(itertools.product(*(range(c, c + k) for c, k in zip(corner, shape))))
        return box_region(source.base, self.layout, corner, shape, source.shift)

    def materialize(self, source: Source, transform: Any, corner, shape) -> Source | None:
        """Only cells some window reads are transformed (a stride larger than the box, or a dilation
        whose skipped cells no other window reads, leaves gaps: None), so an op with an infinite
        derivative where no window looks (``sqrt`` of a cropped zero) cannot turn gradients into NaN."""
        layout = self.layout
        if not all(_no_gaps(n, s, k, d) for n, s, k, d in zip(self.out_shape, layout.strides, shape, layout.dilation)):
            return None
        region = self.region(source, corner, shape)
        shift = [o + c * d for o, c, d in zip(layout.origin, corner, layout.dilation)]
        return Source(transform(region), None, shift)


# beyond this many (window, cell) pairs on one axis, a dilated box is not checked for gaps (nor materialised)
_GAP_CHECK_LIMIT = 1 << 22


def _no_gaps(n: int, s: int, k: int, d: int) -> bool:
    """Whether the cells ``o*s + j*d`` (``o < n``, ``j < k``) of one axis cover ``0 .. (n-1)*s + (k-1)*d``.

    >>> _no_gaps(4, 1, 3, 2), _no_gaps(1, 1, 3, 2), _no_gaps(3, 3, 2, 1), _no_gaps(3, 2, 2, 1), _no_gaps(4, 2, 3, 2)
    (True, False, False, True, False)
    """
    if n == 1:
        return k == 1 or d == 1
    if d == 1 or k == 1:
        return s <= k
    if n * k > _GAP_CHECK_LIMIT:
        return False
    covered = np.zeros((n - 1) * s + (k - 1) * d + 1, dtype=bool)
    covered[(np.arange(n)[:, None] * s + np.arange(k)[None, :] * d).ravel()] = True
    return bool(covered.all())
