"""Rules for elementwise primitives: maths over whole ``out_shape`` arrays, one per window element.

An elementwise op on Grid entries is the same op on the entries' arrays, so the
emitted code is elementwise over all windows and fuses. Two shortcuts for
large windows: the op is applied to whole *sources* when every operand reads
the same cells (:func:`_source_level`), and ``cells * weights`` stays lazy as
:class:`Scaled` entries for the correlation plans (:func:`_scaled`).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend.core import primitives as prims

from kernex._src.interp import large_windows, primitives
from kernex._src.interp.bind import bind_equation
from kernex._src.interp.context import Context
from kernex._src.interp.rules.table import RuleTable, out_dtype
from kernex._src.interp.values import (
    Cell,
    Dense,
    Grid,
    Scaled,
    Source,
    Uniform,
    object_array,
)

__all__ = ["RULES", "ELEMENTWISE", "SOURCE_LEVEL", "single_source"]

RULES = RuleTable()

ELEMENTWISE = """
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


def single_source(grid: Grid) -> Source | None:
    if not grid.all_cells():
        return None
    sources = {id(e.source): e.source for e in grid.entries.flat}
    return next(iter(sources.values())) if len(sources) == 1 else None


# Elementwise ops that _source_level may apply once per input cell instead of once per (window, cell):
# their JVP is a linear map of the tangent fixed by the primal values alone (``t -> exp(x) * t``, a
# select on ``x``, or no tangent), so the cotangents every window sends to a cell sum to the gradient of
# the per-window definition. Not ``reduce_precision``: its JVP rounds the tangent, and rounding each
# window's cotangent differs from rounding their sum. ``convert_element_type`` only when it keeps the
# float precision (:func:`_exact_at_source`): between precisions its transpose rounds cotangents alike.
SOURCE_LEVEL = frozenset(primitives.lookup("""
abs acos acosh add and asin asinh atan atan2 atanh cbrt ceil clamp clz complex conj copy cos cosh
digamma div eq erf erf_inv erfc exp exp2 expm1 floor ge gt igamma igammac imag integer_pow is_finite
le lgamma log log1p logistic lt max min mul ne neg nextafter not or polygamma population_count pow
real rem round rsqrt select_n shift_left shift_right_arithmetic shift_right_logical sign sin sinh
sqrt square stop_gradient sub tan tanh xor zeta
""".split()))


def _exact_at_source(eqn) -> bool:
    """Whether applying ``eqn`` once per input cell gives every window its values and gradients."""
    if eqn.primitive in SOURCE_LEVEL:
        return True
    if eqn.primitive is not prims.convert_element_type_p:
        return False
    old, new = eqn.invars[0].aval.dtype, out_dtype(eqn)
    if not (jnp.issubdtype(old, jnp.inexact) and jnp.issubdtype(new, jnp.inexact)):
        return True  # an integer or bool side has no tangent
    return jnp.finfo(old).dtype == jnp.finfo(new).dtype  # complex64 <-> float32 keeps the precision


# elementwise ops cheap enough to recompute for every (window, cell) they are read in
_CHEAP = {
    "abs", "add", "and", "ceil", "clamp", "convert_element_type", "copy", "eq", "floor", "ge", "gt",
    "le", "lt", "max", "min", "mul", "ne", "neg", "not", "or", "round", "select_n", "sign", "square", "sub", "xor",
}


def _source_level(ctx: Context, eqn, values, shape) -> Grid | None:
    """Apply the op to whole sources when every grid operand reads the same cells.

    ``f(x)`` on all cells of a patch equals the cells of ``f(state)``, and for the ops of
    :data:`SOURCE_LEVEL` its gradient matches too (others: None). Cheap ops
    stay lazy (applied to whatever is read, so they fuse into the consumer);
    expensive ones are applied once to the whole array, which costs one
    evaluation per input cell instead of one per (window, cell).
    """
    if not _exact_at_source(eqn):
        return None
    grids = [v for v in values if isinstance(v, Grid)]
    if any(isinstance(v, Uniform) and v.shape != () for v in values):
        return None
    first = grids[0]
    sources = [single_source(g) for g in grids]
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
    return Grid(entries, out_dtype(eqn))


def _scaled(ctx: Context, eqn, values, shape) -> Grid | None:
    """``cells * weights`` for windows too large to unroll: keep it lazy for a correlation."""
    if eqn.primitive is not prims.mul_p or len(values) != 2:
        return None
    grid, weights = values if isinstance(values[0], Grid) else values[::-1]
    if not (isinstance(grid, Grid) and isinstance(weights, Uniform)) or weights.shape != grid.shape:
        return None
    if grid.size <= ctx.unroll_limit or single_source(grid) is None:
        return None
    entries = object_array(shape)
    for idx in np.ndindex(*shape):
        entries[idx] = Scaled(grid.entries[idx], weights, idx)
    return Grid(entries, out_dtype(eqn))


@RULES.register(*ELEMENTWISE)
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
    return [Grid(out, out_dtype(eqn))]
