"""Rules for reductions over window elements: trees of binary ops on entries, or box plans.

Small windows reduce their entries pairwise (a balanced tree); windows above
``config.UNROLL_LIMIT`` elements use the separable box plans of
``interp/large_windows.py``. Float ``max``/``min`` split the tangent equally
among tied cells, like ``jnp.max``.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from kernex._src.interp import large_windows
from kernex._src.interp.context import Context
from kernex._src.interp.rules.table import RuleTable, out_dtype
from kernex._src.interp.values import Grid, object_array, tree_reduce

__all__ = ["RULES"]

RULES = RuleTable()

_REDUCERS = {
    "reduce_sum": lax.add,
    "reduce_max": lax.max,
    "reduce_min": lax.min,
    "reduce_prod": lax.mul,
    "reduce_and": lax.bitwise_and,
    "reduce_or": lax.bitwise_or,
    "reduce_xor": lax.bitwise_xor,
}


@RULES.register(*_REDUCERS)
def _reduce(ctx: Context, eqn, values):
    (operand,) = values
    if not isinstance(operand, Grid):
        return None
    axes = tuple(eqn.params["axes"])
    kept = [d for d in range(len(operand.shape)) if d not in axes]
    kept_shape = tuple(operand.shape[d] for d in kept)
    n_reduced = int(np.prod([operand.shape[a] for a in axes]))
    if n_reduced == 0:
        return None
    moved = operand.entries.transpose(kept + list(axes)).reshape(kept_shape + (n_reduced,))
    name = eqn.primitive.name
    if operand.size > ctx.unroll_limit:
        entries = large_windows.reduce_boxes(ctx, name, moved, out_dtype(eqn))
        return None if entries is None else [Grid(entries, out_dtype(eqn))]
    ties = name in _TIES and jnp.issubdtype(out_dtype(eqn), jnp.inexact)  # only floats have tangents
    out = object_array(kept_shape)
    for idx in np.ndindex(*kept_shape):
        items = [ctx.resolve(e) for e in moved[idx]]
        out[idx] = _TIES[name](*items) if ties else tree_reduce(_REDUCERS[name], items)
    return [Grid(out, out_dtype(eqn))]


def _tie_splitting(binary: Callable) -> Callable:
    """``max``/``min`` of several arrays whose JVP splits the tangent equally among tied cells, as ``jnp.max`` does.

    A tree of binary ``lax.max`` would give each tie at each level half the
    tangent (0.25, 0.25, 0.5 for three equal cells); ``jnp.max`` gives 1/3 each.
    """

    @jax.custom_jvp
    def choose(*items):
        return tree_reduce(binary, list(items))

    @choose.defjvp
    def choose_jvp(primals, tangents):
        out = choose(*primals)
        hits = [lax.eq(x, out) for x in primals]
        count = tree_reduce(lax.add, [lax.convert_element_type(h, out.dtype) for h in hits])
        picked = tree_reduce(lax.add, [lax.select(h, t, lax.full_like(t, 0)) for h, t in zip(hits, tangents)])
        return out, picked / count

    return choose


_TIES = {"reduce_max": _tie_splitting(lax.max), "reduce_min": _tie_splitting(lax.min)}


_CUMULATIVE = {"cumsum": lax.add, "cumprod": lax.mul, "cummax": lax.max, "cummin": lax.min}


@RULES.register(*_CUMULATIVE)
def _cumulative(ctx: Context, eqn, values):
    (operand,) = values
    if not isinstance(operand, Grid) or operand.size > ctx.unroll_limit:
        return None
    axis, reverse = eqn.params["axis"], eqn.params["reverse"]
    entries = np.moveaxis(operand.entries, axis, -1)
    if reverse:
        entries = entries[..., ::-1]
    out = object_array(entries.shape)
    for idx in np.ndindex(*entries.shape[:-1]):
        acc = None
        for j, e in enumerate(entries[idx]):
            acc = ctx.resolve(e) if acc is None else _CUMULATIVE[eqn.primitive.name](acc, ctx.resolve(e))
            out[idx + (j,)] = acc
    if reverse:
        out = out[..., ::-1]
    return [Grid(np.moveaxis(out, -1, axis), out_dtype(eqn))]
