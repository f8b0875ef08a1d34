"""How windows become XLA code.

This module knows nothing about argument parsing: it receives a resolved
:class:`~kernex._src.geometry.Geometry` and the window functions
(:class:`~kernex._src.kernel.Branch`).

``kmap`` traces each window function once on an abstract patch and replays its
jaxpr with :mod:`interpreter`, where patch element ``j`` is the strided shifted
slice ``state[origin + j :: strides]`` of the zero-padded input. A Laplacian
becomes five slices and four adds over whole arrays, which XLA fuses into one
loop; there is no gather and no ``out_shape + kernel`` tensor unless the
function needs the whole window at once (then that primitive alone is
``vmap``-ed over a materialised patch). Functions assigned by index are all
evaluated this way and combined with per-position masks built from per-axis
index ranges.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from kernex._src import interpreter
from kernex._src.geometry import Geometry
from kernex._src.stencil_values import Context, window_grid

__all__ = ["pad_state", "patch_spec", "trace_branches", "kmap_fused", "UNROLL_LIMIT"]

# windows (or intermediate per-window arrays) with more elements than this are
# not unrolled entry by entry; see large_windows.py
UNROLL_LIMIT = 256


def pad_state(x: jax.Array, geometry: Geometry) -> jax.Array:
    """Zero-extend ``x`` by ``geometry.state_padding`` (the kscan state / kmap source)."""
    if all(p == (0, 0) for p in geometry.state_padding):
        return x
    return lax.pad(x, jnp.zeros((), x.dtype), [(lo, hi, 0) for lo, hi in geometry.state_padding])


def patch_spec(x: jax.Array, geometry: Geometry) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct(geometry.kernel, x.dtype)


_PYTHON_SCALARS = {"b": bool, "i": int, "u": int, "f": float, "c": complex}


def trace_branches(branches: Sequence[Any], spec: jax.ShapeDtypeStruct, args: tuple, kwargs: dict, name: str):
    """Trace every window function on an abstract patch.

    Returns ``(jaxprs, shape, dtype)``: one closed jaxpr per branch, and the
    common output shape (checked to agree) and promoted dtype.
    """
    jaxprs, shapes, dtypes = [], [], []
    for branch in branches:
        closed, out = jax.make_jaxpr(lambda p, b=branch: b.fn(p, *args, **kwargs), return_shape=True)(spec)
        if not isinstance(out, jax.ShapeDtypeStruct):
            raise TypeError(
                f"{name}: a window function must return one array or scalar; "
                f"{getattr(branch.fn, '__name__', branch.fn)!r} returned {jax.tree_util.tree_structure(out)}."
            )
        jaxprs.append(closed)
        shapes.append(out.shape)
        # a weakly typed output (a Python constant, e.g. the seed's `lambda u: 1`) promotes like the
        # Python scalar it came from, so it does not widen float16 / int8 results of the other functions
        dtypes.append(_PYTHON_SCALARS.get(out.dtype.kind, out.dtype) if out.weak_type else out.dtype)
    if len(set(shapes)) > 1:
        raise ValueError(
            f"{name}: every function assigned by index must return the same shape; got shapes {shapes} "
            f"(in assignment order)."
        )
    return jaxprs, shapes[0], jnp.result_type(*dtypes)


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


def kmap_fused(x, geometry: Geometry, branches, relative: bool, args: tuple, kwargs: dict) -> jax.Array:
    """Evaluate every branch on all windows at once with the stencil interpreter."""
    spec = patch_spec(x, geometry)
    jaxprs, shape, dtype = trace_branches(branches, spec, args, kwargs, "kmap")
    ctx = Context(geometry.layout, UNROLL_LIMIT)
    patch = window_grid(pad_state(x, geometry), geometry, relative)
    outputs = []
    for closed in jaxprs:
        (value,) = interpreter.evaluate(closed.jaxpr, closed.consts, [patch], ctx)
        outputs.append(ctx.dense(value, dtype))
    return combine_branches(outputs, branches, shape, dtype, geometry.out_shape)
