"""Rules for structural primitives: they only move entries around and emit no code.

Slicing, reshapes, transposes, broadcasts, padding, concatenation, splits and
gathers/dynamic slices with indices known at trace time rearrange the entries
of a Grid (an object array of per-window-element values). Indices that are only
known at run time are left to the fallback.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.core import primitives as prims

from kernex._src.interp.context import Context
from kernex._src.interp.rules.table import RuleTable, out_dtype
from kernex._src.interp.values import Dense, Grid, Uniform, object_array

__all__ = ["RULES"]

RULES = RuleTable()


def _structural(fn: Callable[..., np.ndarray]):
    """Wrap ``fn(ctx, eqn, *entry_arrays) -> entries`` (entry arrays of Grid/Uniform inputs)."""

    @functools.wraps(fn)
    def rule(ctx: Context, eqn, values):
        if any(isinstance(v, Dense) for v in values):
            return None
        return [Grid(fn(ctx, eqn, *values), out_dtype(eqn))]

    return rule


@RULES.register("broadcast_in_dim")
@_structural
def _broadcast_in_dim(ctx, eqn, operand, *dyn):
    shape, dims = eqn.params["shape"], eqn.params["broadcast_dimensions"]
    entries = ctx.entries_of(operand)
    expanded = [1] * len(shape)
    for src, dst in enumerate(dims):
        expanded[dst] = entries.shape[src]
    return np.broadcast_to(entries.reshape(expanded), shape)


def _slice_entries(entries: np.ndarray, params) -> np.ndarray:
    strides = params["strides"] or (1,) * len(params["start_indices"])
    return entries[tuple(map(slice, params["start_indices"], params["limit_indices"], strides))]


# primitives that only rearrange the elements of one operand: entries -> entries
_REARRANGE = {
    "reshape": lambda entries, p: entries.reshape(p["new_sizes"]),
    "squeeze": lambda entries, p: np.squeeze(entries, axis=tuple(p["dimensions"])),
    "transpose": lambda entries, p: entries.transpose(p["permutation"]),
    "rev": lambda entries, p: np.flip(entries, axis=tuple(p["dimensions"])),
    "slice": _slice_entries,
}
for _name, _move in _REARRANGE.items():
    RULES.register(_name)(_structural(lambda ctx, eqn, operand, *dyn, move=_move: move(ctx.entries_of(operand), eqn.params)))


@RULES.register("concatenate")
@_structural
def _concatenate(ctx, eqn, *operands):
    return np.concatenate([ctx.entries_of(v) for v in operands], axis=eqn.params["dimension"])


@RULES.register("pad")
@_structural
def _pad(ctx, eqn, operand, padding_value):
    entries = ctx.entries_of(operand)
    fill = ctx.entries_of(padding_value)[()]
    config = eqn.params["padding_config"]
    grown = [max(lo, 0) + max(hi, 0) + n + max(n - 1, 0) * interior for n, (lo, hi, interior) in zip(entries.shape, config)]
    out = object_array(tuple(grown), fill)
    placed = tuple(slice(max(lo, 0), max(lo, 0) + max(n - 1, 0) * (i + 1) + 1, i + 1) for n, (lo, hi, i) in zip(entries.shape, config))
    out[placed] = entries
    crop = tuple(slice(max(-lo, 0), g - max(-hi, 0)) for g, (lo, hi, _) in zip(grown, config))
    return out[crop]


def _static_starts(ctx, starts, operand_shape, sizes) -> tuple[int, ...] | None:
    if not all(isinstance(s, Uniform) and s.concrete for s in starts):
        return None
    # XLA clamps start indices so that the slice fits
    return tuple(int(min(max(int(np.asarray(s.value)), 0), n - k)) for s, n, k in zip(starts, operand_shape, sizes))


@RULES.register("dynamic_slice")
def _dynamic_slice(ctx: Context, eqn, values):
    operand, *starts = values
    sizes = eqn.params["slice_sizes"]
    if isinstance(operand, Dense):  # whole-window values: the vmap fallback slices them
        return None
    start = _static_starts(ctx, starts, operand.shape, sizes)
    if start is None:
        return None
    entries = ctx.entries_of(operand)[tuple(slice(s, s + k) for s, k in zip(start, sizes))]
    return [Grid(entries, out_dtype(eqn))]


@RULES.register("dynamic_update_slice")
def _dynamic_update_slice(ctx: Context, eqn, values):
    operand, update, *starts = values
    if any(isinstance(v, Dense) for v in (operand, update)):
        return None
    start = _static_starts(ctx, starts, operand.shape, update.shape)
    if start is None:
        return None
    entries = ctx.entries_of(operand).copy()
    entries[tuple(slice(s, s + k) for s, k in zip(start, update.shape))] = ctx.entries_of(update)
    return [Grid(entries, out_dtype(eqn))]


def _default_fill(dtype) -> Any:
    dtype = jnp.dtype(dtype)  # jnp: also ml_dtypes such as bfloat16
    if jnp.issubdtype(dtype, jnp.inexact):
        return np.array(np.nan, dtype)
    if dtype == np.bool_:
        return np.array(True)
    info = jnp.iinfo(dtype)
    return np.array(info.min if np.issubdtype(dtype, np.signedinteger) else info.max, dtype)


@RULES.register("gather")
def _gather(ctx: Context, eqn, values):
    """Gather with indices known at trace time: gather entry *codes*, then pick entries."""
    operand, indices = values
    if not (isinstance(operand, Grid) and isinstance(indices, Uniform) and indices.concrete):
        return None
    codes = np.arange(1, operand.size + 1, dtype=np.int32).reshape(operand.shape)
    params = dict(eqn.params, fill_value=0)
    with jax.ensure_compile_time_eval():
        picked = np.asarray(prims.gather_p.bind(codes, indices.value, **params))
    fill = eqn.params.get("fill_value")
    fill = _default_fill(operand.dtype) if fill is None else np.array(fill, operand.dtype)
    flat = operand.entries.reshape(-1)
    out = object_array(picked.shape)
    for idx in np.ndindex(*picked.shape):
        out[idx] = flat[picked[idx] - 1] if picked[idx] > 0 else fill
    return [Grid(out, out_dtype(eqn))]


@RULES.register("split")
def _split(ctx: Context, eqn, values):
    (operand,) = values
    if isinstance(operand, Dense):
        return None
    axis, sizes = eqn.params["axis"], eqn.params["sizes"]
    bounds = np.cumsum((0,) + tuple(sizes))
    entries = ctx.entries_of(operand)
    return [
        Grid(np.take(entries, range(lo, hi), axis=axis), out_dtype(eqn, i))
        for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:]))
    ]
