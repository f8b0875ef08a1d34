"""Plans for windows too large to unroll (e.g. a 25×25 blur).

Unrolling a window of ``k`` cells emits ``k`` slices; for big windows that makes
a giant program. When a reduction covers a rectangular box of cells of one
whole-array source, it is lowered instead to

* ``lax.reduce_window`` passes, one axis at a time (sum/max/min are separable
  over a box: ``k0 + k1`` operations per output instead of ``k0 * k1``), or
* for a weighted sum ``sum(x * w)``, a correlation: separable passes when the
  weights are a known rank-1 tensor (box filters, Gaussians), otherwise
  ``lax.conv_general_dilated``.

Dilated windows (cells ``d`` apart) use the same plans on the region holding
their boxes: slice trees tap every ``d``-th cell, ``reduce_window`` and the
convolutions take ``window_dilation``/``rhs_dilation``, so every plan stays
exact. One exception: JAX has no gradient of a dilated ``reduce_window`` max or
min, so a dilated max/min/and/or pass longer than ``config.TAPS_UNROLL`` is a
doubling sweep instead (``log2 k`` elementwise maxima of shifted slices; these
reductions are idempotent, so overlapping halves give the same value).

Every plan reads through ``Context.region``. **Invariant:** a context that has
no regions (``region`` answers ``None``: kscan's wavefront) makes every plan
answer ``None``, never raise; the rule then falls back to per-window
evaluation (``evaluate.fallback``, on the patch of ``Context.dense``, which a
wavefront gathers in one go).
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from kernex._src import config
from kernex._src.interp.context import Context
from kernex._src.interp.values import Cell, Scaled, object_array, tree_reduce
from kernex._src.window.geometry import span
from kernex._src.window.taps import tap

__all__ = ["reduce_boxes", "box", "separable_factors"]

# full float32 products, like the unrolled `sum(x * w)` (GPUs may otherwise use TF32 in convolutions)
_EXACT = lax.Precision.HIGHEST
# reductions that are separable over a box (associative and commutative)
_OPS = {
    "reduce_sum": lax.add,
    "reduce_prod": lax.mul,
    "reduce_max": lax.max,
    "reduce_min": lax.min,
    "reduce_or": lax.bitwise_or,
    "reduce_and": lax.bitwise_and,
}


def box(offsets: Sequence[tuple[int, ...]]) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """``(corner, shape)`` if ``offsets`` are exactly the cells of one box, else None."""
    arr = np.asarray(offsets)
    corner, top = arr.min(axis=0), arr.max(axis=0)
    shape = top - corner + 1
    if int(np.prod(shape)) != len(offsets) or len(set(map(tuple, arr.tolist()))) != len(offsets):
        return None
    return tuple(int(c) for c in corner), tuple(int(s) for s in shape)


def _init(name: str, dtype: Any) -> Any:
    """The identity of the reduction ``name`` in ``dtype`` (ml_dtypes such as bfloat16 included)."""
    dtype = jnp.dtype(dtype)
    if name in ("reduce_sum", "reduce_prod"):
        return np.array(int(name == "reduce_prod"), dtype)
    if dtype == np.bool_:
        return np.array(name in ("reduce_min", "reduce_and"))
    if name in ("reduce_or", "reduce_and"):  # integers: no bit set / every bit set
        return np.array(-1 if name == "reduce_and" else 0).astype(dtype)
    if jnp.issubdtype(dtype, jnp.inexact):
        return np.array(-np.inf if name == "reduce_max" else np.inf, dtype)
    info = jnp.iinfo(dtype)
    return np.array(info.min if name == "reduce_max" else info.max, dtype)


def _axis_window(ndim: int, axis: int, size: int) -> tuple[int, ...]:
    return tuple(size if d == axis else 1 for d in range(ndim))


# reductions whose value over a window is the same when cells are counted twice (doubling sweeps)
_IDEMPOTENT = ("reduce_max", "reduce_min", "reduce_or", "reduce_and")


def _doubling(region, axis: int, k: int, stride: int, dilation: int, name: str, n_out: int):
    """``name`` over windows of ``k`` cells ``dilation`` apart along ``axis`` (``name`` idempotent).

    After step ``t`` entry ``i`` holds the reduction of cells ``i, i + d, ..., i + (2**t - 1) d``;
    a window of ``k`` cells is then two overlapping runs of ``p = 2**floor(log2 k)`` cells.
    """
    op, run, length = _OPS[name], 1, region.shape[axis]
    while 2 * run <= k:
        shift = run * dilation
        region = op(lax.slice_in_dim(region, 0, length - shift, 1, axis), lax.slice_in_dim(region, shift, length, 1, axis))
        run, length = 2 * run, length - shift
    return op(tap(region, axis, 0, n_out, stride), tap(region, axis, k - run, n_out, stride, dilation))


def _axis_pass(region, axis: int, k: int, stride: int, name: str, taps: np.ndarray | None = None, pre=None, dilation: int = 1):
    """Reduce (or correlate with ``taps``) windows of ``k`` cells ``dilation`` apart along ``axis``, with a stride (VALID).

    Up to ``config.TAPS_UNROLL`` cells the pass is a tree of strided slices, which XLA
    fuses with whatever produced ``region`` (padding, a dtype conversion), so
    nothing but the pass's output is materialised; longer windows use
    ``lax.reduce_window`` (or a 1-D convolution for varying taps). ``pre`` (a
    source's lazy transform) is applied to each slice, or to ``region`` first
    when the pass does not slice.
    """
    ndim = region.ndim
    dtype = region.dtype if pre is None else jax.eval_shape(pre, region).dtype
    uniform = taps is None or bool(np.all(taps == taps[0]))
    scale = None if taps is None or not uniform or taps[0] == 1 else np.asarray(taps[0], dtype)
    n_out = (region.shape[axis] - span(k, dilation)) // stride + 1
    if k <= config.TAPS_UNROLL:
        def cell(j):
            sl = tap(region, axis, j, n_out, stride, dilation)
            sl = sl if pre is None else pre(sl)
            return sl if uniform else sl * np.asarray(taps[j], dtype)

        out = tree_reduce(_OPS[name], [cell(j) for j in range(k) if uniform or taps[j] != 0] or [cell(0)])
    elif pre is not None:
        return _axis_pass(pre(region), axis, k, stride, name, taps, None, dilation)
    elif uniform and dilation > 1 and name in _IDEMPOTENT:  # no VJP of a dilated reduce_window max/min
        out = _doubling(region, axis, k, stride, dilation, name, n_out)
    elif uniform:
        window, strides = _axis_window(ndim, axis, k), _axis_window(ndim, axis, stride)
        dilations = _axis_window(ndim, axis, dilation)
        out = lax.reduce_window(region, _init(name, dtype), _OPS[name], window, strides, "VALID", window_dilation=dilations)
    else:
        moved = jnp.moveaxis(region, axis, -1)
        lhs = moved.reshape((-1, 1, moved.shape[-1]))
        conv = lax.conv_general_dilated(
            lhs, np.asarray(taps, dtype)[None, None], (stride,), "VALID", rhs_dilation=(dilation,), precision=_EXACT
        )
        return jnp.moveaxis(conv.reshape(moved.shape[:-1] + (n_out,)), -1, axis)
    return out if scale is None else out * scale


def _passes(ctx: Context, source, corner, shape, name: str, factors=None) -> jax.Array | None:
    """Separable passes over the region of ``source`` holding every window's box (None: no region)."""
    region = ctx.region(source, corner, shape)
    if region is None:
        return None
    pre = source.read
    for axis, (k, s, d) in enumerate(zip(shape, ctx.layout.strides, ctx.layout.dilation)):
        taps = None if factors is None else factors[axis]
        if k > 1 or s > 1 or taps is not None:
            region, pre = _axis_pass(region, axis, k, s, name, taps, pre, d), None
    return region if pre is None else pre(region)


def separable_factors(weights: np.ndarray) -> list[np.ndarray] | None:
    """1-D factors ``a_d`` with ``weights == outer(a_0, a_1, ...)``, or None."""
    weights = np.asarray(weights)
    if weights.ndim == 0 or not np.all(np.isfinite(weights)):
        return None
    pivot = np.unravel_index(np.argmax(np.abs(weights)), weights.shape)
    peak = weights[pivot]
    if peak == 0:
        return None
    factors = []
    for axis in range(weights.ndim):
        index = tuple(slice(None) if d == axis else p for d, p in enumerate(pivot))
        factors.append(weights[index] / (peak if axis > 0 else 1))
    rebuilt = factors[0]
    for f in factors[1:]:
        rebuilt = np.multiply.outer(rebuilt, f)
    scale = float(np.max(np.abs(weights)))
    if not np.allclose(rebuilt, weights, rtol=1e-6, atol=1e-7 * scale):
        return None
    return factors


def _correlate(ctx: Context, source, corner, shape, weights, dtype) -> jax.Array | None:
    """``sum(cells * weights)`` over every window's box: separable passes or a convolution (None: no region).

    Separable factors are fractions of the weights, so integer sums use the
    (exact) convolution instead.
    """
    separable = isinstance(weights, np.ndarray) and jnp.issubdtype(dtype, jnp.inexact)
    factors = separable_factors(weights) if separable else None
    if factors is not None:
        return _passes(ctx, source, corner, shape, "reduce_sum", factors)
    region = ctx.region(source, corner, shape)
    if region is None:
        return None
    region = source.read(region)
    w = jnp.asarray(weights, region.dtype)
    conv = lax.conv_general_dilated(
        region[None, None], w[None, None], ctx.layout.strides, "VALID", rhs_dilation=ctx.layout.dilation, precision=_EXACT
    )
    return conv[0, 0]


def _weights(group: Sequence[Scaled], corner, shape):
    """The box-shaped weight array of a group of ``cell * weights[i]`` entries."""
    weights = group[0].weights
    positions = [tuple(o - c for o, c in zip(e.cell.offset, corner)) for e in group]
    if weights.concrete:
        out = np.zeros(shape, dtype=np.asarray(weights.value).dtype)
        source = np.asarray(weights.value)
        for pos, e in zip(positions, group):
            out[pos] = source[e.index]
        return out
    flat_index = np.zeros(shape, dtype=np.int32)
    for pos, e in zip(positions, group):
        flat_index[pos] = np.ravel_multi_index(e.index, weights.shape)
    return jnp.reshape(weights.value, (-1,))[flat_index]


def _reduce_group(ctx: Context, name: str, group: list, dtype: Any) -> jax.Array | None:
    """One group of entries reduced by a box plan, or None (no plan applies, or no region)."""
    if all(isinstance(e, Cell) for e in group) and name in _OPS:
        sources = {id(e.source) for e in group}
        found = box([e.offset for e in group]) if len(sources) == 1 else None
        return None if found is None else _passes(ctx, group[0].source, *found, name)
    if name == "reduce_sum" and all(isinstance(e, Scaled) for e in group):
        if len({id(e.cell.source) for e in group}) != 1 or len({id(e.weights) for e in group}) != 1:
            return None
        found = box([e.cell.offset for e in group])
        if found is None:
            return None
        return _correlate(ctx, group[0].cell.source, *found, _weights(group, *found), dtype)
    return None


def reduce_boxes(ctx: Context, name: str, moved: np.ndarray, dtype: Any) -> np.ndarray | None:
    """Reduce the last axis of ``moved`` (entry groups) with box plans.

    Returns:
        An object array of reduced entries, or ``None`` when a plan does not apply to some
        group or the context has no regions; the calling rule must then return ``None``
        too (the interpreter's vmap fallback evaluates the primitive).
    """
    out = object_array(moved.shape[:-1])
    for idx in np.ndindex(*moved.shape[:-1]):
        reduced = _reduce_group(ctx, name, list(moved[idx]), dtype)
        if reduced is None:
            return None
        out[idx] = reduced.astype(dtype)
    return out
