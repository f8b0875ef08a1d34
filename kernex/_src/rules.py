"""Per-primitive rules of the stencil interpreter.

A rule receives the context, the jaxpr equation and its input values (at least
one of them position dependent) and returns the output values, or ``None`` to
ask for the generic ``vmap`` fallback. Rules work on :class:`Grid` entries
(whole ``out_shape`` arrays), so the code they emit is elementwise over all
windows and fuses; structural primitives (slicing, reshapes, transposes,
broadcasts, static gathers…) only rearrange entries and emit nothing.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend.core import primitives as prims

from kernex._src import large_windows
from kernex._src.stencil_values import Cell, Context, Dense, Grid, Scaled, Source, Uniform, object_array, tree_reduce

__all__ = ["RULES", "bind_equation"]

RULES: dict[str, Callable] = {}


def _register(*names: str):
    def wrap(rule):
        for name in names:
            RULES[name] = rule
        return rule

    return wrap


def bind_equation(eqn, values) -> list:
    """Apply an equation's primitive to new inputs (higher-order primitives included)."""
    params = eqn.primitive.get_bind_params(eqn.params)
    if isinstance(params, tuple):  # older JAX returns (subfuns, params)
        subfuns, params = params
        values = (*subfuns, *values)
    out = eqn.primitive.bind(*values, **params)
    return list(out) if eqn.primitive.multiple_results else [out]


def _out_dtype(eqn, i: int = 0):
    return eqn.outvars[i].aval.dtype


# ---------------------------------------------------------------------------------------
# elementwise
# ---------------------------------------------------------------------------------------
_ELEMENTWISE = """
abs acos acosh add and asin asinh atan atan2 atanh cbrt ceil clamp clz complex conj
convert_element_type copy cos cosh digamma div eq erf erf_inv erfc exp exp2 expm1
floor ge gt igamma igammac imag integer_pow is_finite le lgamma log log1p logistic lt max
min mul ne neg nextafter not or polygamma population_count pow real reduce_precision rem
round rsqrt select_n shift_left shift_right_arithmetic shift_right_logical sign sin sinh
sqrt square stop_gradient sub tan tanh xor zeta
""".split()


# primitives whose operands must all have the same shape (no rank-0 broadcasting)
_SAME_SHAPE = {"select_n", "clamp"}


def _bind_elementwise(eqn, args: list):
    if eqn.primitive.name in _SAME_SHAPE:
        shapes = {np.shape(a) for a in args} - {()}
        if shapes:
            (shape,) = shapes
            args = [lax.broadcast_in_dim(a, shape, ()) if np.shape(a) == () else a for a in args]
    return bind_equation(eqn, args)[0]


def _single_source(grid: Grid) -> Source | None:
    if not grid.all_cells():
        return None
    sources = {id(e.source): e.source for e in grid.entries.flat}
    return next(iter(sources.values())) if len(sources) == 1 else None


# elementwise ops cheap enough to recompute for every (window, cell) they are read in
_CHEAP = {
    "abs", "add", "and", "ceil", "clamp", "convert_element_type", "copy", "eq", "floor", "ge", "gt",
    "le", "lt", "max", "min", "mul", "ne", "neg", "not", "or", "round", "select_n", "sign", "square", "sub", "xor",
}


def _source_level(ctx: Context, eqn, values, shape) -> Grid | None:
    """Apply the op to whole sources when every grid operand reads the same cells.

    ``f(x)`` on all cells of a patch equals the cells of ``f(state)``. Cheap ops
    stay lazy (applied to whatever is read, so they fuse into the consumer);
    expensive ones are applied once to the whole array, which costs one
    evaluation per input cell instead of one per (window, cell).
    """
    grids = [v for v in values if isinstance(v, Grid)]
    if any(isinstance(v, Uniform) and v.shape != () for v in values):
        return None
    first = grids[0]
    sources = [_single_source(g) for g in grids]
    if any(s is None for s in sources) or any(g.shape != shape for g in grids):
        return None
    offsets = [e.offset for e in first.entries.flat]
    if any([e.offset for e in g.entries.flat] != offsets for g in grids[1:]):
        return None
    if len({(id(s.base), s.shift) for s in sources}) > 1:
        return None
    it = iter(sources)
    parents = [next(it) if isinstance(v, Grid) else None for v in values]

    def transform(piece):
        return _bind_elementwise(eqn, [v.value if p is None else p.read(piece) for v, p in zip(values, parents)])

    if eqn.primitive.name in _CHEAP:
        source = Source(sources[0].base, transform, sources[0].shift)
    else:
        found = large_windows.box(offsets)
        if found is None or first.size * int(np.prod(ctx.out_shape)) < int(np.prod(sources[0].base.shape)):
            return None  # not a box of cells, or strided sparse reads: per-entry evaluation is cheaper
        source = ctx.materialize(sources[0], transform, *found)
        if source is None:
            return None
    entries = object_array(shape)
    for idx in np.ndindex(*shape):
        entries[idx] = Cell(source, first.entries[idx].offset)
    return Grid(entries, _out_dtype(eqn))


def _scaled(ctx: Context, eqn, values, shape) -> Grid | None:
    """``cells * weights`` for windows too large to unroll: keep it lazy for a correlation."""
    if eqn.primitive is not prims.mul_p or len(values) != 2:
        return None
    grid, weights = values if isinstance(values[0], Grid) else values[::-1]
    if not (isinstance(grid, Grid) and isinstance(weights, Uniform)) or weights.shape != grid.shape:
        return None
    if grid.size <= ctx.unroll_limit or _single_source(grid) is None:
        return None
    entries = object_array(shape)
    for idx in np.ndindex(*shape):
        entries[idx] = Scaled(grid.entries[idx], weights, idx)
    return Grid(entries, _out_dtype(eqn))


@_register(*_ELEMENTWISE)
def elementwise(ctx: Context, eqn, values):
    if any(isinstance(v, Dense) for v in values):
        return None
    shape = np.broadcast_shapes(*[v.shape for v in values])
    fast = _source_level(ctx, eqn, values, shape) or _scaled(ctx, eqn, values, shape)
    if fast is not None:
        return [fast]
    if int(np.prod(shape)) > ctx.unroll_limit:
        return None
    out = object_array(shape)
    for idx in np.ndindex(*shape):
        out[idx] = _bind_elementwise(eqn, [ctx.element(v, idx) for v in values])
    return [Grid(out, _out_dtype(eqn))]


# ---------------------------------------------------------------------------------------
# structure: these only move entries around
# ---------------------------------------------------------------------------------------
def _structural(fn: Callable[..., np.ndarray]):
    """Wrap ``fn(ctx, eqn, *entry_arrays) -> entries`` (entry arrays of Grid/Uniform inputs)."""

    @functools.wraps(fn)
    def rule(ctx: Context, eqn, values):
        if any(isinstance(v, Dense) for v in values):
            return None
        return [Grid(fn(ctx, eqn, *values), _out_dtype(eqn))]

    return rule


@_register("broadcast_in_dim")
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
    _register(_name)(_structural(lambda ctx, eqn, operand, *dyn, move=_move: move(ctx.entries_of(operand), eqn.params)))


@_register("concatenate")
@_structural
def _concatenate(ctx, eqn, *operands):
    return np.concatenate([ctx.entries_of(v) for v in operands], axis=eqn.params["dimension"])


@_register("pad")
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


@_register("dynamic_slice")
def _dynamic_slice(ctx: Context, eqn, values):
    operand, *starts = values
    sizes = eqn.params["slice_sizes"]
    if isinstance(operand, Dense):  # whole-window values: the vmap fallback slices them
        return None
    start = _static_starts(ctx, starts, operand.shape, sizes)
    if start is None:
        return None
    entries = ctx.entries_of(operand)[tuple(slice(s, s + k) for s, k in zip(start, sizes))]
    return [Grid(entries, _out_dtype(eqn))]


@_register("dynamic_update_slice")
def _dynamic_update_slice(ctx: Context, eqn, values):
    operand, update, *starts = values
    if any(isinstance(v, Dense) for v in (operand, update)):
        return None
    start = _static_starts(ctx, starts, operand.shape, update.shape)
    if start is None:
        return None
    entries = ctx.entries_of(operand).copy()
    entries[tuple(slice(s, s + k) for s, k in zip(start, update.shape))] = ctx.entries_of(update)
    return [Grid(entries, _out_dtype(eqn))]


def _default_fill(dtype) -> Any:
    dtype = jnp.dtype(dtype)  # jnp: also ml_dtypes such as bfloat16
    if jnp.issubdtype(dtype, jnp.inexact):
        return np.array(np.nan, dtype)
    if dtype == np.bool_:
        return np.array(True)
    info = jnp.iinfo(dtype)
    return np.array(info.min if np.issubdtype(dtype, np.signedinteger) else info.max, dtype)


@_register("gather")
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
    return [Grid(out, _out_dtype(eqn))]


@_register("split")
def _split(ctx: Context, eqn, values):
    (operand,) = values
    if isinstance(operand, Dense):
        return None
    axis, sizes = eqn.params["axis"], eqn.params["sizes"]
    bounds = np.cumsum((0,) + tuple(sizes))
    entries = ctx.entries_of(operand)
    return [
        Grid(np.take(entries, range(lo, hi), axis=axis), _out_dtype(eqn, i))
        for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:]))
    ]


# ---------------------------------------------------------------------------------------
# reductions
# ---------------------------------------------------------------------------------------
_REDUCERS = {
    "reduce_sum": lax.add,
    "reduce_max": lax.max,
    "reduce_min": lax.min,
    "reduce_prod": lax.mul,
    "reduce_and": lax.bitwise_and,
    "reduce_or": lax.bitwise_or,
    "reduce_xor": lax.bitwise_xor,
}


@_register(*_REDUCERS)
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
        entries = large_windows.reduce_boxes(ctx, name, moved, _out_dtype(eqn))
        return None if entries is None else [Grid(entries, _out_dtype(eqn))]
    ties = name in _TIES and jnp.issubdtype(_out_dtype(eqn), jnp.inexact)  # only floats have tangents
    out = object_array(kept_shape)
    for idx in np.ndindex(*kept_shape):
        items = [ctx.resolve(e) for e in moved[idx]]
        out[idx] = _TIES[name](*items) if ties else tree_reduce(_REDUCERS[name], items)
    return [Grid(out, _out_dtype(eqn))]


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


@_register(*_CUMULATIVE)
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
    return [Grid(np.moveaxis(out, -1, axis), _out_dtype(eqn))]


@_register("dot_general")
def _dot_general(ctx: Context, eqn, values):
    """Contractions over window elements as sums of products of entries."""
    lhs, rhs = values
    if isinstance(lhs, Dense) or isinstance(rhs, Dense) or _out_dtype(eqn) == np.bool_:  # bool: no lax.mul
        return None
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    lfree = [d for d in range(len(lhs.shape)) if d not in lc and d not in lb]
    rfree = [d for d in range(len(rhs.shape)) if d not in rc and d not in rb]
    size = lambda shape, dims: int(np.prod([shape[d] for d in dims]))  # noqa: E731
    B, F, C, G = size(lhs.shape, lb), size(lhs.shape, lfree), size(lhs.shape, lc), size(rhs.shape, rfree)
    out_shape = tuple(lhs.shape[d] for d in list(lb) + lfree) + tuple(rhs.shape[d] for d in rfree)
    to_left = lambda arr: arr.transpose(list(lb) + lfree + list(lc)).reshape(B, F, C)  # noqa: E731
    to_right = lambda arr: arr.transpose(list(rb) + list(rc) + rfree).reshape(B, C, G)  # noqa: E731
    dtype = _out_dtype(eqn)
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
    if not (isinstance(grid, Grid) and isinstance(weights, Uniform)) or _single_source(grid) is None:
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

