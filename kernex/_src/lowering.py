"""How windows become XLA code.

This module knows nothing about argument parsing: it receives a resolved
:class:`~kernex._src.geometry.Geometry` and the window functions
(:class:`~kernex._src.kernel.Branch`). The evaluation here is the plain one:
every window is extracted into a dense ``out_shape + kernel`` patch tensor
built from strided shifted slices of the zero-padded input, and each function
is ``vmap``-ed over positions. Branches are combined with per-position masks.
"""

from __future__ import annotations

import itertools
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from kernex._src.geometry import Geometry

__all__ = ["pad_state", "output_spec", "extract_patches", "region_mask", "kmap_dense"]


def pad_state(x: jax.Array, geometry: Geometry) -> jax.Array:
    """Zero-extend ``x`` by ``geometry.state_padding`` (the kscan state / kmap source)."""
    if all(p == (0, 0) for p in geometry.state_padding):
        return x
    return lax.pad(x, jnp.zeros((), x.dtype), [(lo, hi, 0) for lo, hi in geometry.state_padding])


def patch_spec(x: jax.Array, geometry: Geometry) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct(geometry.kernel, x.dtype)


def output_spec(branches: Sequence[Any], spec: jax.ShapeDtypeStruct, args: tuple, kwargs: dict, name: str):
    """Shape and common dtype of the window functions' outputs (checked to agree)."""
    shapes, dtypes = [], []
    for branch in branches:
        out = jax.eval_shape(lambda p, b=branch: b.fn(p, *args, **kwargs), spec)
        if not isinstance(out, jax.ShapeDtypeStruct):
            raise TypeError(
                f"{name}: a window function must return one array or scalar; "
                f"{getattr(branch.fn, '__name__', branch.fn)!r} returned {jax.tree_util.tree_structure(out)}."
            )
        shapes.append(out.shape)
        dtypes.append(jnp.result_type(out))
    if len(set(shapes)) > 1:
        raise ValueError(
            f"{name}: every function assigned by index must return the same shape; got shapes {shapes} "
            f"(in assignment order)."
        )
    dtype = jnp.result_type(*dtypes) if len(dtypes) > 1 else dtypes[0]
    return shapes[0], dtype


def window_slice(state: jax.Array, geometry: Geometry, cells: Sequence[int]) -> jax.Array:
    """The ``out_shape`` array holding window cell ``cells`` of every window (a strided shifted slice)."""
    start = [o + c for o, c in zip(geometry.origin, cells)]
    limit = [st + (n - 1) * s + 1 for st, n, s in zip(start, geometry.out_shape, geometry.strides)]
    return lax.slice(state, start, limit, geometry.strides)


def patch_index_cells(geometry: Geometry, relative: bool, index: Sequence[int]) -> tuple[int, ...]:
    """Window cell read by patch index ``index``."""
    return tuple(geometry.patch_cells(axis, relative)[t] for axis, t in enumerate(index))


def extract_patches(state: jax.Array, geometry: Geometry, relative: bool) -> jax.Array:
    """Dense ``out_shape + kernel`` tensor of all patches (rolled when ``relative``)."""
    slices = [
        window_slice(state, geometry, patch_index_cells(geometry, relative, index))
        for index in itertools.product(*map(range, geometry.kernel))
    ]
    return jnp.stack(slices, axis=-1).reshape(geometry.out_shape + geometry.kernel)


def region_mask(region: Sequence[np.ndarray], extra_dims: int) -> np.ndarray:
    """Dense boolean mask over output positions from per-axis masks, with trailing unit dims."""
    mask = np.ones((), dtype=bool)
    for axis_mask in region:
        mask = mask[..., None] & axis_mask
    return mask.reshape(mask.shape + (1,) * extra_dims)


def combine_branches(outputs: Sequence[jax.Array], branches: Sequence[Any], shape, dtype, out_shape) -> jax.Array:
    """Latest branch wins on its region; positions owned by no branch are zero."""
    if branches[0].region is None:  # decorator form: one function everywhere
        return outputs[0]
    result = jnp.zeros(tuple(out_shape) + tuple(shape), dtype)
    for out, branch in zip(outputs, branches):
        mask = region_mask(branch.region, len(shape))
        if mask.any():
            result = jnp.where(mask, out.astype(dtype), result)
    return result


def kmap_dense(x, geometry: Geometry, branches, relative: bool, args: tuple, kwargs: dict) -> jax.Array:
    """Evaluate every branch on every window via a dense patch tensor and ``vmap``."""
    shape, dtype = output_spec(branches, patch_spec(x, geometry), args, kwargs, "kmap")
    patches = extract_patches(pad_state(x, geometry), geometry, relative)
    flat = patches.reshape((-1,) + geometry.kernel)
    outputs = []
    for branch in branches:
        out = jax.vmap(lambda p, b=branch: b.fn(p, *args, **kwargs))(flat)
        outputs.append(jnp.broadcast_to(out, (flat.shape[0],) + tuple(shape)).reshape(geometry.out_shape + tuple(shape)))
    return combine_branches(outputs, branches, shape, dtype, geometry.out_shape)
