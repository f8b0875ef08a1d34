"""kmap's lowering: every window function on all windows at once, combined by region.

``kmap`` traces each window function once on an abstract patch and replays its
jaxpr with the stencil interpreter (``interp/``), where patch element ``j`` is
the strided shifted slice ``state[origin + j :: strides]`` of the padded input.
A Laplacian becomes five slices and four adds over whole arrays, which XLA fuses
into one loop; there is no gather and no ``out_shape + kernel`` tensor unless
the function needs the whole window at once (then that primitive alone is
``vmap``-ed over a materialised patch). Functions assigned by index are all
evaluated this way and combined with per-position masks built from ``iota``.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from kernex._src import config
from kernex._src.interp.context import SliceContext
from kernex._src.interp.evaluate import evaluate
from kernex._src.interp.values import window_grid
from kernex._src.lower.trace import patch_spec, trace_branches
from kernex._src.window.boundary import Boundary, pad_state
from kernex._src.window.geometry import Geometry

__all__ = ["kmap_fused", "combine_branches"]


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


def combine_branches(outputs: Sequence[jax.Array], branches: Sequence[Any], shape, dtype, out_shape) -> jax.Array:
    """Latest branch wins on its region; positions owned by no branch are zero."""
    if branches[0].region is None:  # decorator form: one function everywhere
        return outputs[0]
    result = None
    for out, branch in zip(outputs, branches):
        if any(p.count == 0 for p in branch.region):
            continue
        mask = _mask_array(branch.region, out_shape, len(shape))
        if mask is True:
            result = out
        else:
            result = jnp.where(mask, out, jnp.zeros((), dtype) if result is None else result)
    if result is None:
        result = jnp.zeros(tuple(out_shape) + tuple(shape), dtype)
    return jnp.broadcast_to(result, tuple(out_shape) + tuple(shape))


def kmap_fused(x, geometry: Geometry, branches, relative: bool, args: tuple, kwargs: dict, boundary: Boundary | None = None) -> jax.Array:
    """Evaluate every branch on all windows at once with the stencil interpreter."""
    spec = patch_spec(x, geometry)
    jaxprs, shape, dtype = trace_branches(branches, spec, args, kwargs, "kmap")
    ctx = SliceContext(geometry.layout, config.UNROLL_LIMIT)
    patch = window_grid(pad_state(x, geometry, boundary), geometry, relative)
    outputs = []
    for closed in jaxprs:
        (value,) = evaluate(closed.jaxpr, closed.consts, [patch], ctx)
        outputs.append(ctx.dense(value, dtype))
    return combine_branches(outputs, branches, shape, dtype, geometry.out_shape)
