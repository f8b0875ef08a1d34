"""Values of the stencil interpreter (see ``evaluate.py``).

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
import numpy as np

from kernex._src.window.geometry import Geometry

__all__ = ["Source", "Cell", "Scaled", "Uniform", "Grid", "Dense", "is_concrete", "tree_reduce", "object_array", "window_grid"]


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


def window_grid(state: jax.Array, geometry: Geometry, relative: bool) -> Grid:
    """The patch as a Grid of lazy cells of the (padded) state."""
    source = Source(state)
    cells = [geometry.patch_cells(axis, relative) for axis in range(geometry.ndim)]
    entries = object_array(geometry.kernel)
    for index in itertools.product(*map(range, geometry.kernel)):
        entries[index] = Cell(source, tuple(cells[a][t] for a, t in enumerate(index)))
    return Grid(entries, state.dtype)
