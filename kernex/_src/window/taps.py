"""The one place where "cell ``j`` of every window" becomes a strided slice.

A :class:`~kernex._src.window.geometry.Layout` says where windows sit in an
array: window ``o`` starts at ``origin + o * strides`` and its cell ``j`` is
``j * dilation`` further. Every read of window data in the lowering is one of
the slices below, so their bounds (and the one multiplication of a window-cell
offset by the dilation) are written once:

* :func:`cell_slice` - cell ``offset`` of every window (an ``out_shape`` array):
  ``array[origin + offset * dilation - shift :: strides]``;
* :func:`box_region` - the contiguous part of the array holding cells
  ``corner .. corner + shape - 1`` of every window (with the cells between
  dilated cells, which no window reads: see ``SliceContext.materialize``);
* :func:`tap` - inside such a region, cell ``j`` along one axis of ``count``
  windows that start every ``stride`` cells, cells ``dilation`` apart.

``shift`` is the state coordinate of ``array[0, ...]`` (zero for the padded
input; non-zero for a derived source that only covers the windows' boxes).
Pure ``lax.slice``: nothing here gathers, pads or allocates beyond its result.
"""

from __future__ import annotations

from typing import Sequence

import jax
from jax import lax

from kernex._src.window.geometry import Layout, extent, span

__all__ = ["cell_slice", "box_region", "tap"]


def _start(layout: Layout, corner: Sequence[int], shift: Sequence[int]) -> list[int]:
    return [o + c * d - sh for o, c, d, sh in zip(layout.origin, corner, layout.dilation, shift)]


def cell_slice(array: jax.Array, layout: Layout, offset: Sequence[int], shift: Sequence[int]) -> jax.Array:
    """Cell ``offset`` of every window: ``array[origin + offset * dilation - shift :: strides]`` over ``out_shape``."""
    start = _start(layout, offset, shift)
    limit = [st + extent(n, s) for st, n, s in zip(start, layout.out_shape, layout.strides)]
    whole = all(st == 0 and li == n for st, li, n in zip(start, limit, array.shape)) and set(layout.strides) <= {1}
    return array if whole else lax.slice(array, start, limit, layout.strides)


def box_region(array: jax.Array, layout: Layout, corner: Sequence[int], shape: Sequence[int], shift: Sequence[int]) -> jax.Array:
    """The contiguous block of ``array`` holding cells ``corner .. corner + shape - 1`` of every window."""
    start = _start(layout, corner, shift)
    limit = [
        st + extent(n, s, span(k, d))
        for st, n, s, k, d in zip(start, layout.out_shape, layout.strides, shape, layout.dilation)
    ]
    return lax.slice(array, start, limit)


def tap(region: jax.Array, axis: int, j: int, count: int, stride: int, dilation: int = 1) -> jax.Array:
    """Cell ``j`` along ``axis`` of ``count`` windows that start every ``stride`` cells of ``region``
    (their cells ``dilation`` apart)."""
    start = j * dilation
    return lax.slice_in_dim(region, start, start + extent(count, stride), stride, axis)
