"""Rules for contractions (``dot_general``): sums of products of window entries.

Small contractions unroll into products and a balanced sum; a contraction of a
large window with uniform weights (``jnp.tensordot(v, w, 2)``) becomes
``cell * weight`` groups for the correlation plans of ``interp/large_windows.py``.
"""

from __future__ import annotations

import numpy as np
from jax import lax

from kernex._src.interp import large_windows
from kernex._src.interp.context import Context
from kernex._src.interp.rules.elementwise import single_source
from kernex._src.interp.rules.table import RuleTable, out_dtype
from kernex._src.interp.values import (
    Dense,
    Grid,
    Scaled,
    Uniform,
    object_array,
    tree_reduce,
)

__all__ = ["RULES"]

RULES = RuleTable()


@RULES.register("dot_general")
def _dot_general(ctx: Context, eqn, values):
    """Contractions over window elements as sums of products of entries."""
    lhs, rhs = values
    if isinstance(lhs, Dense) or isinstance(rhs, Dense) or out_dtype(eqn) == np.bool_:  # bool: no lax.mul
        return None
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    lfree = [d for d in range(len(lhs.shape)) if d not in lc and d not in lb]
    rfree = [d for d in range(len(rhs.shape)) if d not in rc and d not in rb]
    size = lambda shape, dims: int(np.prod([shape[d] for d in dims]))  # noqa: E731
    B, F, C, G = size(lhs.shape, lb), size(lhs.shape, lfree), size(lhs.shape, lc), size(rhs.shape, rfree)
    out_shape = tuple(lhs.shape[d] for d in list(lb) + lfree) + tuple(rhs.shape[d] for d in rfree)
    to_left = lambda arr: arr.transpose(list(lb) + lfree + list(lc)).reshape(B, F, C)  # noqa: E731
    to_right = lambda arr: arr.transpose(list(rb) + list(rc) + rfree).reshape(B, C, G)  # noqa: E731
    dtype = out_dtype(eqn)
    if C > ctx.unroll_limit:  # each output sums a large window: correlations, not unrolled products
        sides = _weighted_window_sums(ctx, lhs, rhs, to_left, to_right, dtype)
        if sides is not None:
            return [Grid(sides.reshape(out_shape), dtype)]
    if B * F * G * C > 4 * ctx.unroll_limit:
        return None
    L, R = to_left(ctx.entries_of(lhs)), to_right(ctx.entries_of(rhs))
    cast = lambda e: lax.convert_element_type(ctx.resolve(e), dtype)  # noqa: E731
    out = object_array((B, F, G))
    for b, f, g in np.ndindex(B, F, G):
        out[b, f, g] = tree_reduce(lax.add, [lax.mul(cast(L[b, f, c]), cast(R[b, c, g])) for c in range(C)])
    return [Grid(out.reshape(out_shape), dtype)]


def _weighted_window_sums(ctx: Context, lhs, rhs, to_left, to_right, dtype) -> np.ndarray | None:
    """A contraction of one array's window cells with uniform weights over a large window
    (``jnp.tensordot(v, w, 2)``, ``v.ravel() @ w.ravel()``) as ``sum(cell * weight)`` groups for
    the correlation plans of ``large_windows``, or None."""
    grid_left = isinstance(lhs, Grid)
    grid, weights = (lhs, rhs) if grid_left else (rhs, lhs)
    if not (isinstance(grid, Grid) and isinstance(weights, Uniform)) or single_source(grid) is None:
        return None
    index = object_array(weights.shape)  # each weight's index in the uniform array, laid out like its operand
    for idx in np.ndindex(*weights.shape):
        index[idx] = idx
    if grid_left:
        L, W = to_left(grid.entries), to_right(index)
    else:
        W, R = to_left(index), to_right(grid.entries)
    B, F, C = (L if grid_left else W).shape
    G = (W if grid_left else R).shape[2]
    groups = object_array((B, F, G, C))
    for b, f, g, c in np.ndindex(B, F, G, C):
        cell, at = (L[b, f, c], W[b, c, g]) if grid_left else (R[b, c, g], W[b, f, c])
        groups[b, f, g, c] = Scaled(cell, weights, at)
    return large_windows.reduce_boxes(ctx, "reduce_sum", groups, dtype)
