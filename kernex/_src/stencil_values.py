"""Values of the stencil interpreter (see ``interpreter.py``).

The window function is traced once on an abstract patch; its jaxpr is then
evaluated with every variable bound to one of three kinds of value:

* :class:`Uniform` - the same for every window (constants, extra arguments).
  ``concrete`` ones (known at trace time) stay NumPy/JAX constants so indices
  computed from them remain static.
* :class:`Grid` - position dependent, kept *unrolled*: an object array with the
  per-window shape whose entries each hold that element for **all** windows at
  once (an ``out_shape`` array), or a lazy :class:`Cell` / :class:`Scaled`
  standing for a strided shifted slice of a whole-array :class:`Source`.
  Elementwise maths on a grid is elementwise maths on whole arrays, so XLA
  fuses the window function into one loop.
* :class:`Dense` - position dependent and materialised as an
  ``out_shape + per_window_shape`` array (used for primitives that need the
  whole window at once, e.g. ``sort``; evaluated with ``vmap``).
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from kernex._src.geometry import Geometry, Layout

__all__ = ["Source", "Cell", "Scaled", "Uniform", "Grid", "Dense", "Context", "is_concrete", "tap", "tree_reduce", "object_array"]


def is_concrete(value: Any) -> bool:
    """True for values known at trace time (NumPy data or non-traced JAX arrays)."""
    return not isinstance(value, jax.core.Tracer)


class Source:
    """An array that window cells are read from, through an optional lazy transform.

    State cell ``c`` holds ``transform(base)[c - shift]`` (``shift`` is the state
    coordinate of ``base[0, ...]``; zero for the padded input). ``transform`` is
    elementwise and is applied to what is read (a slice, a region), never to the
    whole base: cheap ops such as a dtype conversion then fuse into their
    consumers instead of materialising a converted copy of the input.
    """

    __slots__ = ("base", "transform", "shift")

    def __init__(self, base: jax.Array, transform: Any = None, shift: tuple[int, ...] | None = None):
        self.base = base
        self.transform = transform
        self.shift = (0,) * np.ndim(base) if shift is None else tuple(shift)

    def read(self, piece: jax.Array) -> jax.Array:
        """Apply the transform to a piece of ``base``."""
        return piece if self.transform is None else self.transform(piece)


@dataclasses.dataclass(frozen=True, eq=False)
class Cell:
    """Window cell ``offset`` (relative to each window's first cell) of ``source``."""

    source: Source
    offset: tuple[int, ...]


@dataclasses.dataclass(frozen=True, eq=False)
class Scaled:
    """``cell * weights[index]``: a cell times one element of a uniform array."""

    cell: Cell
    weights: "Uniform"
    index: tuple[int, ...]


@dataclasses.dataclass(frozen=True, eq=False)
class Uniform:
    value: Any  # np.ndarray, jax.Array or tracer, with the jaxpr variable's shape/dtype

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(np.shape(self.value))

    @property
    def concrete(self) -> bool:
        return is_concrete(self.value)


@dataclasses.dataclass(frozen=True, eq=False)
class Grid:
    entries: np.ndarray  # object array, per-window shape
    dtype: Any

    @property
    def shape(self) -> tuple[int, ...]:
        return self.entries.shape

    @property
    def size(self) -> int:
        return self.entries.size

    def all_cells(self) -> bool:
        return all(isinstance(e, Cell) for e in self.entries.flat)


@dataclasses.dataclass(frozen=True, eq=False)
class Dense:
    array: jax.Array  # out_shape + per-window shape

    def window_shape(self, n_positions: int) -> tuple[int, ...]:
        return tuple(self.array.shape[n_positions:])


def tap(region: jax.Array, axis: int, j: int, count: int, stride: int) -> jax.Array:
    """Cell ``j`` along ``axis`` of ``count`` windows that start every ``stride`` cells of ``region``."""
    return lax.slice_in_dim(region, j, j + (count - 1) * stride + 1, stride, axis)


def tree_reduce(binary: Any, items: list) -> Any:
    """Pairwise reduction (balanced tree: shorter dependency chains, better rounding)."""
    while len(items) > 1:
        paired = [binary(items[i], items[i + 1]) for i in range(0, len(items) - 1, 2)]
        items = paired + ([items[-1]] if len(items) % 2 else [])
    return items[0]


def object_array(shape: tuple[int, ...], fill: Any = None) -> np.ndarray:
    out = np.empty(shape, dtype=object)
    if fill is not None:
        for idx in np.ndindex(*shape):
            out[idx] = fill
    return out


class Context:
    """Per-evaluation state: where windows sit, caches of slices and scalars, and the cells read.

    ``reads`` collects every window-cell offset whose data was used, which is
    how ``kscan`` learns which cells a window function depends on.
    """

    def __init__(self, layout: Layout, unroll_limit: int):
        self.layout = layout
        self.out_shape = layout.out_shape
        self.n_positions = len(layout.out_shape)
        self.unroll_limit = unroll_limit
        self.reads: set[tuple[int, ...]] = set()
        self._slices: dict = {}
        self._scalars: dict = {}

    # -- entries -------------------------------------------------------------------------
    def region(self, source: Source, corner: tuple[int, ...], shape: tuple[int, ...]) -> jax.Array:
        """The part of ``source.base`` holding cells ``corner .. corner + shape - 1`` of every window.

        The source's transform is not applied (callers apply ``source.read``).
        """
        self.reads.update(itertools.product(*(range(c, c + k) for c, k in zip(corner, shape))))
        lay = self.layout
        start = [o + c - sh for o, c, sh in zip(lay.origin, corner, source.shift)]
        limit = [st + (n - 1) * s + k for st, n, s, k in zip(start, lay.out_shape, lay.strides, shape)]
        return lax.slice(source.base, start, limit)

    def materialize(self, source: Source, transform: Any, corner, shape) -> Source | None:
        """``transform`` applied once to the cells that the windows' ``corner + shape`` boxes read.

        Only cells some window reads are transformed (a stride larger than the box
        leaves gaps: None), so an op with an infinite derivative where no window
        looks (``sqrt`` of a cropped zero) cannot turn gradients into NaN.
        """
        if any(s > k and n > 1 for s, k, n in zip(self.layout.strides, shape, self.out_shape)):
            return None
        region = self.region(source, corner, shape)
        shift = [o + c for o, c in zip(self.layout.origin, corner)]
        return Source(transform(region), None, shift)

    def cell(self, cell: Cell) -> jax.Array:
        """Cell ``cell.offset`` of every window: a strided shifted slice of ``out_shape``."""
        key = (id(cell.source), cell.offset)
        if key not in self._slices:
            self.reads.add(cell.offset)
            lay = self.layout
            base = cell.source.base
            start = [o + c - sh for o, c, sh in zip(lay.origin, cell.offset, cell.source.shift)]
            limit = [st + (n - 1) * s + 1 for st, n, s in zip(start, lay.out_shape, lay.strides)]
            whole = all(st == 0 and li == n for st, li, n in zip(start, limit, base.shape)) and set(lay.strides) <= {1}
            piece = base if whole else lax.slice(base, start, limit, lay.strides)
            self._slices[key] = (cell.source.read(piece), cell.source)
        return self._slices[key][0]

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

    # -- materialisation -----------------------------------------------------------------
    def broadcast_entry(self, entry: Any, dtype: Any) -> jax.Array:
        array = jnp.asarray(self.resolve(entry), dtype=dtype)
        if array.shape != self.out_shape:
            array = lax.broadcast_in_dim(array, self.out_shape, ())
        return array

    def _box_patch(self, grid: Grid) -> jax.Array | None:
        """The patch of a Grid that is a box of one source's cells (axes possibly permuted, as by
        ``v.T``), or None.

        Built one axis at a time (``k0 + k1 + ...`` stacked strided slices of the
        windows' region) instead of one slice per cell: a 40x40 window is 80 ops,
        not 1600. The source's transform is applied to the patch, so cells no
        window reads (gaps between strided windows) never enter a derivative.
        """
        ndim = self.n_positions
        if grid.entries.ndim != ndim or grid.size < 2 or not grid.all_cells():
            return None
        first = grid.entries.flat[0]
        axes = []  # axes[a]: the state axis that grid axis a steps along
        for a, k in enumerate(grid.shape):
            if k > 1:
                step = np.subtract(grid.entries[(0,) * a + (1,) + (0,) * (ndim - a - 1)].offset, first.offset)
                if sorted(step.tolist()) != [0] * (ndim - 1) + [1]:
                    return None
                axes.append(int(np.argmax(step)))
            else:
                axes.append(None)
        free = iter(sorted(set(range(ndim)) - set(axes)))
        axes = [next(free) if axis is None else axis for axis in axes]
        if sorted(axes) != list(range(ndim)):
            return None
        for idx in np.ndindex(*grid.shape):
            entry = grid.entries[idx]
            expected = list(first.offset)
            for a, i in enumerate(idx):
                expected[axes[a]] += i
            if entry.source is not first.source or entry.offset != tuple(expected):
                return None
        box = [0] * ndim
        for a, axis in enumerate(axes):
            box[axis] = grid.shape[a]
        patch = self.region(first.source, first.offset, tuple(box))
        for axis, (k, s, n) in enumerate(zip(box, self.layout.strides, self.out_shape)):
            patch = jnp.stack([tap(patch, axis, j, n, s) for j in range(k)], axis=-1)
        if axes != sorted(axes):
            patch = lax.transpose(patch, tuple(range(ndim)) + tuple(ndim + axis for axis in axes))
        return first.source.read(patch)

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
        if patch is not None:
            return patch.astype(dtype)
        flat = [self.broadcast_entry(e, dtype) for e in value.entries.flat]
        if value.shape == ():
            return flat[0]
        return jnp.stack(flat, axis=-1).reshape(self.out_shape + value.shape)


def window_grid(state: jax.Array, geometry: Geometry, relative: bool) -> Grid:
    """The patch as a Grid of lazy cells of the (padded) state."""
    source = Source(state)
    cells = [geometry.patch_cells(axis, relative) for axis in range(geometry.ndim)]
    entries = object_array(geometry.kernel)
    for index in itertools.product(*map(range, geometry.kernel)):
        entries[index] = Cell(source, tuple(cells[a][t] for a, t in enumerate(index)))
    return Grid(entries, state.dtype)
