"""``F[idx] = f``: index keys and the output positions they select.

A key addresses *anchor coordinates in the input* with Python indexing
semantics (``docs/semantics.md``, "Functions by index"). Along one axis a key entry selects an arithmetic
progression of input coordinates (one int, or a slice), and the anchors are an
arithmetic progression of output positions, so the windows a key selects are an
arithmetic progression of output positions per axis: a :class:`Progression`.
That keeps regions O(1) in size and lets kmap's lowering build masks from
``iota`` instead of ``out_shape``-sized constants (kscan's cell-by-cell and
wavefront schedules still tabulate each position's function per step).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from kernex._src.window.geometry import Geometry, is_int

__all__ = ["Progression", "normalize_index", "region_progressions"]


@dataclasses.dataclass(frozen=True)
class Progression:
    """The positions ``first, first + step, …`` (``count`` of them) along one axis."""

    first: int
    step: int
    count: int

    @property
    def last(self) -> int:
        return self.first + self.step * (self.count - 1)

    def contains(self, positions: np.ndarray) -> np.ndarray:
        positions = np.asarray(positions)
        if self.count == 0:
            return np.zeros(positions.shape, dtype=bool)
        inside = (positions >= self.first) & (positions <= self.last)
        return inside & ((positions - self.first) % self.step == 0)


def normalize_index(index: Any) -> tuple:
    """Check an ``F[index] = f`` key and store it in a shape-independent form.

    Returns a tuple of ints, slices and at most one ``Ellipsis``.

    >>> normalize_index((0, slice(1, None)))
    (0, slice(1, None, None))
    """
    entries = index if isinstance(index, tuple) else (index,)
    out = []
    for entry in entries:
        if entry is Ellipsis:
            out.append(entry)
        elif is_int(entry):
            out.append(int(entry))
        elif isinstance(entry, slice):
            parts = (entry.start, entry.stop, entry.step)
            if not all(p is None or is_int(p) for p in parts):
                raise TypeError(f"slice bounds in a kernel index must be ints or None; got {entry!r}.")
            if entry.step == 0:
                raise ValueError(f"slice step cannot be zero; got {entry!r}.")
            out.append(slice(*(None if p is None else int(p) for p in parts)))
        else:
            raise TypeError(
                f"a kernel index must be an int, a slice, Ellipsis or a tuple of these (one per axis); "
                f"got {entry!r} of type {type(entry).__name__} in index {index!r}."
            )
    if sum(e is Ellipsis for e in out) > 1:
        raise IndexError(f"a kernel index can contain at most one Ellipsis (...); got {index!r}.")
    return tuple(out)


def _expand(index: tuple, geometry: Geometry) -> list:
    ndim = geometry.ndim
    n_explicit = sum(e is not Ellipsis for e in index)
    if n_explicit > ndim:
        raise IndexError(
            f"kernel index {index!r} has {n_explicit} entries but the input has rank {ndim} (shape {geometry.shape})."
        )
    expanded = []
    for entry in index:
        expanded.extend([slice(None)] * (ndim - n_explicit) if entry is Ellipsis else [entry])
    return expanded + [slice(None)] * (ndim - len(expanded))


def _selected(entry: Any, n: int, axis: int, index: tuple, geometry: Geometry) -> Progression:
    """The input coordinates an index entry selects, as an increasing progression."""
    if isinstance(entry, slice):
        picked = range(*entry.indices(n))
        if len(picked) == 0:
            return Progression(0, 1, 0)
        first = picked[0] if picked.step > 0 else picked[-1]
        return Progression(first, abs(picked.step), len(picked))
    if not -n <= entry < n:
        raise IndexError(
            f"kernel index {index!r}: entry {entry} is out of range for axis {axis} of length {n} "
            f"(input shape {geometry.shape})."
        )
    return Progression(entry % n, 1, 1)


def _anchor_hits(geometry: Geometry, axis: int, selected: Progression) -> Progression:
    """Output positions ``o`` whose anchor ``o * s + b`` is one of the selected coordinates."""
    if selected.count == 0:
        return Progression(0, 1, 0)
    s = geometry.strides[axis]
    b = geometry.anchor_shift[axis] - geometry.padding[axis][0]  # anchor of window 0 (dilated centre)
    lo = max(0, -((b - selected.first) // s))  # ceil((first - b) / s)
    hi = min(geometry.out_shape[axis] - 1, (selected.last - b) // s)
    period = selected.step // math.gcd(s, selected.step)
    first = next((o for o in range(lo, min(lo + period, hi + 1)) if (o * s + b - selected.first) % selected.step == 0), None)
    if first is None:
        return Progression(0, 1, 0)
    return Progression(first, period, (hi - first) // period + 1)


def region_progressions(index: tuple, geometry: Geometry) -> tuple[Progression, ...]:
    """Per axis, the output positions whose anchor lies in ``index`` (anchors in padding never do).

    >>> from kernex._src.window.geometry import resolve_geometry
    >>> region_progressions((slice(1, None),), resolve_geometry((10,), 3, 1, "valid"))
    (Progression(first=0, step=1, count=8),)
    """
    return tuple(
        _anchor_hits(geometry, axis, _selected(entry, n, axis, index, geometry))
        for axis, (entry, n) in enumerate(zip(_expand(index, geometry), geometry.shape))
    )

