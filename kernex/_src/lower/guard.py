"""Guarded inputs: window cells and traced constants whose derivatives are cut outside a mask.

A function assigned by index whose derivative may be infinite (``sqrt``, ``log``,
division, ...) must not contribute to a gradient at windows it does not own: a
zero cotangent times an infinite derivative is NaN. Where it cannot run on its
own windows only (they are no lattice, or differ between shards), it runs on
guarded inputs: each window cell becomes ``where(mask, cell, stop_gradient(cell))``
and each traced constant (extra arguments, closed-over tracers) the same per
window. Values are unchanged; outside ``mask`` no derivative reaches an input.
Concrete constants cannot be differentiated and stay as they are.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from kernex._src import config
from kernex._src.interp.values import Dense, Grid, is_concrete, object_array

__all__ = ["guard"]


def guard(ctx: Any, patches: list, consts: Sequence[Any], mask: Any) -> tuple[list, list]:
    """``(patches, consts)`` equal to the given ones, whose derivatives are cut outside ``mask``
    (broadcastable to ``ctx.out_shape``). Every window cell becomes an ``out_shape`` array (the
    interpreter then reads no lazy slices: slower, so only guarded functions take this path)."""
    keep = jnp.broadcast_to(mask, ctx.out_shape)

    def cut(array: jax.Array) -> jax.Array:
        array = jnp.broadcast_to(array, ctx.out_shape)
        return jnp.where(keep, array, lax.stop_gradient(array))

    guarded = []
    for grid in patches:
        entries = object_array(grid.shape)
        for index in np.ndindex(*grid.shape):
            entries[index] = cut(ctx.resolve(grid.entries[index]))
        guarded.append(Grid(entries, grid.dtype))
    return guarded, [c if is_concrete(c) else _guard_constant(c, keep) for c in consts]


def _guard_constant(value: Any, keep: jax.Array) -> Any:
    value = jnp.asarray(value)
    n = keep.ndim
    if value.size <= config.UNROLL_LIMIT:
        entries = object_array(value.shape)
        for index in np.ndindex(*value.shape):
            element = lax.broadcast_in_dim(value[index], keep.shape, ())
            entries[index] = jnp.where(keep, element, lax.stop_gradient(element))
        return Grid(entries, value.dtype)
    spread = lax.broadcast_in_dim(value, keep.shape + value.shape, tuple(range(n, n + value.ndim)))
    keep = lax.broadcast_in_dim(keep, spread.shape, tuple(range(n)))
    return Dense(jnp.where(keep, spread, lax.stop_gradient(spread)))
