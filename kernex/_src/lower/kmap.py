"""kmap's lowering: every window function on the windows of its region at once.

``kmap`` traces each window function once on an abstract patch and replays its
jaxpr with the stencil interpreter (``interp/``), where patch element ``j`` is
the strided shifted slice ``state[origin + j :: strides]`` of the padded input.
A Laplacian becomes five slices and four adds over whole arrays, which XLA fuses
into one loop; there is no gather and no ``out_shape + kernel`` tensor unless
the function needs the whole window at once (then that primitive alone is
``vmap``-ed over a materialised patch). Functions assigned by index are combined
in assignment order with ``iota`` masks; one whose derivative may be infinite
(not only :data:`FINITE_DERIVATIVE` primitives) runs only on the windows of its
region (a sub-lattice: ``region_layout``) and its piece is written into the
output (``place``), so its derivative elsewhere cannot turn a gradient into NaN.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from kernex._src import config
from kernex._src.interp.context import SliceContext
from kernex._src.interp.evaluate import evaluate
from kernex._src.interp.values import Uniform, window_grid
from kernex._src.lower.guard import guard
from kernex._src.lower.trace import patch_spec, trace_tree_branches
from kernex._src.window.boundary import Boundary, pad_state
from kernex._src.window.geometry import Geometry, Layout
from kernex._src.window.regions import Progression

__all__ = ["kmap_fused", "region_layout", "place"]


def _axis_mask(progression, ndim: int, axis: int, size: int) -> jax.Array:
    """A progression of positions along ``axis`` as a boolean mask built from ``iota``."""
    shape = [1] * ndim
    shape[axis] = size
    position = lax.broadcasted_iota(np.int32, tuple(shape), axis)
    mask = (position >= progression.first) & (position <= progression.last)
    if progression.step > 1:
        mask = mask & ((position - progression.first) % progression.step == 0)
    return mask


def _mask_array(region, out_shape, extra_dims: int) -> jax.Array | bool:
    """The region's mask over output positions, built in XLA (no ``out_shape``-sized constant)."""
    ndim = len(out_shape) + extra_dims
    mask = True
    for axis, (progression, size) in enumerate(zip(region, out_shape)):
        if progression.count < size:
            mask = mask & _axis_mask(progression, ndim, axis, size)
    return mask


def region_layout(layout: Layout, region) -> Layout:
    """The layout of the windows a region's progressions select (window ``first + t*step`` per axis)."""
    return Layout(
        tuple(o + p.first * s for o, p, s in zip(layout.origin, region, layout.strides)),
        tuple(p.count for p in region),
        tuple(s * p.step for s, p in zip(layout.strides, region)),
        layout.dilation,
    )


def place(result: jax.Array, piece: jax.Array, region, out_shape) -> jax.Array:
    """``result`` with the positions of ``region`` replaced by ``piece`` (one value per region position)."""
    if all(p.step == 1 or p.count == 1 for p in region):
        starts = tuple(np.int32(p.first) for p in region) + (np.int32(0),) * (piece.ndim - len(region))
        return lax.dynamic_update_slice(result, piece, starts)
    # strided regions: spread the piece with interior padding and select it where the region is
    config = [(p.first, n - p.last - 1, p.step - 1) if p.count > 1 else (p.first, n - p.first - 1, 0)
              for p, n in zip(region, out_shape)] + [(0, 0, 0)] * (piece.ndim - len(region))
    spread = lax.pad(piece, jnp.zeros((), piece.dtype), config)
    return jnp.where(_mask_array(region, out_shape, piece.ndim - len(region)), spread, result)


# primitives whose derivative is finite wherever their inputs are (overflow aside): a function built
# only from these may run on every window and be selected with a mask (XLA fuses that best), since a
# zero cotangent times a finite derivative is zero. Anything else (sqrt, log, div, pow, custom
# derivatives, ...) runs only on the windows of its region.
FINITE_DERIVATIVE = frozenset({
    "add", "sub", "mul", "neg", "integer_pow", "square", "abs", "sign", "max", "min", "select_n", "clamp",
    "sin", "cos", "tanh", "logistic", "exp", "exp2", "floor", "ceil", "round", "convert_element_type",
    "eq", "ne", "lt", "le", "gt", "ge", "and", "or", "not", "xor", "reduce_sum", "reduce_max", "reduce_min",
    "reduce_prod", "reduce_and", "reduce_or", "argmax", "argmin", "dot_general", "slice", "squeeze",
    "reshape", "broadcast_in_dim", "transpose", "rev", "concatenate", "pad", "dynamic_slice", "gather",
    "iota", "copy", "copy_p", "stop_gradient", "real", "imag", "conj", "complex", "cumsum", "cummax", "cummin",
    "split", "pjit", "jit", "closed_call", "remat", "checkpoint", "expand_dims", "sort",
})


def _finite_derivative(jaxpr) -> bool:
    """True if every equation (inner jaxprs included) is in :data:`FINITE_DERIVATIVE`."""
    for eqn in jaxpr.eqns:
        if eqn.primitive.name not in FINITE_DERIVATIVE:
            return False
        for param in eqn.params.values():
            inner = getattr(param, "jaxpr", param)
            if hasattr(inner, "eqns") and not _finite_derivative(inner):
                return False
    return True


def _covers_everything(region, out_shape) -> bool:
    return region is None or all(p.first == 0 and p.step == 1 and p.count == n for p, n in zip(region, out_shape))


def kmap_fused(
    x, geometry: Geometry, branches, relative: bool, args: tuple, kwargs: dict, boundary: Boundary | None = None,
    block: Any = None,
) -> Any:  # fmt: skip
    """Evaluate every branch on the windows of its region with the stencil interpreter.

    ``x`` is an array or a pytree of equally shaped arrays (fields): each field is
    padded and sliced on its own, and the functions get the same structure of
    patches. The result has the structure of the functions' outputs, each leaf
    shaped ``out_shape + leaf_shape``.

    Functions assigned by index are combined in assignment order, so the latest
    assignment wins and positions no function owns are zero: one with finite
    derivatives runs on every window and is selected with a mask; any other runs
    only on the windows its region selects (a sub-lattice: strided slices again) and
    is placed, so its derivative elsewhere (``sqrt`` at 0, say) cannot turn the
    gradient into NaN; after an everywhere constant, a box region is padded with it.

    ``block`` (``None`` on one device) is one shard's share of a sharded kmap
    (``kernex._src.shard.positions.Block``): ``x`` is the shard's block, the
    windows are read from ``block.states`` (the block with its halos) at
    ``block.geometry``'s layout, and regions stay in global positions: one that
    differs between shards is selected with ``block.mask`` and, unless its function
    has finite derivatives, evaluated on ``block.guard``-ed inputs.
    """
    spec = patch_spec(x, geometry)
    jaxprs, tree, shapes, dtypes = trace_tree_branches(branches, spec, args, kwargs, "kmap")
    if block is None:
        local, states = geometry, [pad_state(field, geometry, boundary) for field in jax.tree_util.tree_leaves(x)]
    else:
        local, states = block.geometry, block.states
    patches = [window_grid(state, local, relative) for state in states]
    out_shape = tuple(local.out_shape)
    results: list = [None] * len(shapes)
    # per output leaf, the scalar every position holds while the result so far is one constant
    # (None otherwise): a box region then becomes `lax.pad(piece, constant)`, the hand-written
    # `jnp.pad(update(interior), 1)` of the seed's `F[...] = bc; F[1:-1, 1:-1] = update`
    constant: list = [None] * len(shapes)  # set by an everywhere assignment of a constant
    for number, (closed, branch) in enumerate(zip(jaxprs, branches)):
        region = branch.region
        if region is not None and any(p.count == 0 for p in region):
            continue
        whole = _covers_everything(region, geometry.out_shape)
        if block is not None and not whole:
            shared = block.region(region)  # None: the region differs between shards
            if shared is None:
                _combine_masked(block, closed, patches, region, local.layout, shapes, dtypes, results, constant)
                continue
            region = shared
        padded = not whole and all(c is not None for c in constant) and all(p.step == 1 or p.count == 1 for p in region)
        everywhere = whole or (not padded and _finite_derivative(closed.jaxpr))  # else on its region only
        ctx = SliceContext(local.layout if everywhere else region_layout(local.layout, region), config.UNROLL_LIMIT)
        inputs, consts = patches, closed.consts
        if block is None and not _finite_derivative(closed.jaxpr):  # latest assignment wins: guard the rest
            owned = _owned(region, [b.region for b in branches[number + 1 :]], out_shape)
            if owned is not None and not owned.any():
                continue  # overwritten everywhere
            if owned is not None:
                inputs, consts = guard(ctx, patches, consts, jnp.asarray(owned))
        values = evaluate(closed.jaxpr, consts, inputs, ctx)
        for i, (value, shape, dtype) in enumerate(zip(values, shapes, dtypes)):
            piece = jnp.broadcast_to(ctx.dense(value, dtype), ctx.out_shape + tuple(shape))
            if whole:
                uniform = isinstance(value, Uniform) and value.shape == ()
                constant[i] = jnp.asarray(value.value, dtype) if uniform else None
                results[i] = piece
                continue
            if padded:
                widths = [(p.first, n - p.first - p.count, 0) for p, n in zip(region, out_shape)]
                results[i] = lax.pad(piece, constant[i], widths + [(0, 0, 0)] * len(shape))
                constant[i] = None
                continue
            constant[i] = None
            if results[i] is None:
                results[i] = jnp.zeros(out_shape + tuple(shape), dtype)
            if everywhere:
                results[i] = jnp.where(_mask_array(region, out_shape, len(shape)), piece, results[i])
            else:
                results[i] = place(results[i], piece, region, out_shape)
    results = [jnp.zeros(out_shape + tuple(shape), dtype) if r is None else r for r, shape, dtype in zip(results, shapes, dtypes)]
    return tree.unflatten(results)


def _owned(region, later: list, out_shape) -> np.ndarray | None:
    """Over the windows of ``region`` (a lattice; None = every window), which no later assignment
    overwrites; None when none is overwritten."""
    if region is None:
        region = [Progression(0, 1, n) for n in out_shape]
    axes = [p.first + p.step * np.arange(p.count) for p in region]
    overwritten = np.zeros(tuple(p.count for p in region), dtype=bool)
    for other in later:
        if other is None:
            return np.zeros(overwritten.shape, dtype=bool)
        hit = np.ones(overwritten.shape, dtype=bool)
        for axis, (p, coords) in enumerate(zip(other, axes)):
            shape = [1] * len(axes)
            shape[axis] = len(coords)
            hit = hit & p.contains(coords).reshape(shape)
        overwritten |= hit
    return None if not overwritten.any() else ~overwritten


def _combine_masked(block, closed, patches, region, layout: Layout, shapes, dtypes, results: list, constant: list):
    """A sharded kmap's branch whose region differs between shards: every local window, selected by global
    position (guarded inputs unless the function has finite derivatives)."""
    ctx = SliceContext(layout, config.UNROLL_LIMIT)
    inputs, consts = patches, closed.consts
    if not _finite_derivative(closed.jaxpr):
        inputs, consts = block.guard(ctx, patches, consts, block.mask(region))
    values = evaluate(closed.jaxpr, consts, inputs, ctx)
    for i, (value, shape, dtype) in enumerate(zip(values, shapes, dtypes)):
        piece = jnp.broadcast_to(ctx.dense(value, dtype), ctx.out_shape + tuple(shape))
        current = jnp.zeros(piece.shape, dtype) if results[i] is None else results[i]
        results[i] = jnp.where(block.mask(region, len(shape)), piece, current)
        constant[i] = None
