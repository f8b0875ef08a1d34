"""Rules for custom derivatives (``custom_jvp_call``, ``custom_vjp_call``): primal on slices, user's rule kept.

The primal is the equation's ``call_jaxpr`` replayed by the interpreter, like an
inlined ``jit``, so ``jax.nn.relu`` or ``jnp.logaddexp`` become maxima and sums
of slices instead of a ``vmap`` over a materialised patch. Replaying alone would
differentiate the primal's own primitives (``max(x, 0)`` gives 1/2 at 0 where
``relu``'s rule gives 0), so the replay is wrapped in a ``jax.custom_jvp``
(``jax.custom_vjp``) whose derivative is the equation's own, per window:
``jax.jvp`` (``jax.vjp``) of the equation, traced on one abstract window and
replayed by the interpreter too, so gradients stay on slices as well.

Invariants:

* the wrapper's arguments are flat arrays with one element per window (each
  entry of a Grid input, read through the context, so reads are recorded) plus
  the traced Uniform inputs; concrete Uniform inputs are closed over and stay
  concrete (static indices keep working);
* its results are the per-window elements of every output, one ``out_shape``
  array each, so every output comes back as a Grid;
* the rule answers ``None`` (the ``vmap`` fallback) when an input is Dense, a
  traced input or an output is not inexact (no tangent space to wrap), or a
  per-window input or output has more than ``unroll_limit`` elements.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from kernex._src.interp.bind import bind_equation
from kernex._src.interp.context import Context
from kernex._src.interp.rules.table import RuleTable
from kernex._src.interp.values import Dense, Grid, Uniform, object_array

__all__ = ["RULES"]

RULES = RuleTable()


def _evaluate(jaxpr, consts, values, ctx):
    # evaluate.py imports the rule tables, so the loop is imported when a rule first runs
    from kernex._src.interp import evaluate

    return evaluate.evaluate(jaxpr, consts, values, ctx)


def _inexact(dtype) -> bool:
    return jnp.issubdtype(dtype, jnp.inexact)


def _spec(aval) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct(aval.shape, aval.dtype, weak_type=aval.weak_type)


class _Split:
    """Which inputs of an equation are traced (wrapper arguments) and which are concrete uniforms (closed over)."""

    def __init__(self, ctx: Context, eqn, values: Sequence[Any]):
        self.ctx, self.eqn, self.values = ctx, eqn, list(values)
        self.traced = [i for i, v in enumerate(values) if not (isinstance(v, Uniform) and v.concrete)]
        self.avals = [v.aval for v in eqn.invars]
        self.out_avals = [v.aval for v in eqn.outvars]

    def supported(self) -> bool:
        """No Dense input, every traced input and every output inexact, every per-window value unrollable."""
        limit = self.ctx.unroll_limit
        if any(isinstance(v, Dense) for v in self.values):
            return False
        if not all(_inexact(self.avals[i].dtype) for i in self.traced):
            return False
        if not all(_inexact(a.dtype) and int(np.prod(a.shape)) <= limit for a in self.out_avals):
            return False
        return all(v.size <= limit for v in self.values if isinstance(v, Grid))

    # -- flat arrays <-> interpreter values -------------------------------------------------
    def flat_inputs(self) -> list:
        """The wrapper's arguments: every entry of each Grid input, and each traced Uniform's value."""
        flat = []
        for i in self.traced:
            value, dtype = self.values[i], self.avals[i].dtype
            if isinstance(value, Grid):
                flat.extend(self.ctx.broadcast_entry(e, dtype) for e in value.entries.flat)
            else:
                flat.append(jnp.asarray(value.value, dtype))
        return flat

    def values_of(self, flat: Sequence[Any]) -> list:
        """Interpreter values of the traced inputs from wrapper arguments (or from their tangents)."""
        out, it = [], iter(flat)
        for i in self.traced:
            if isinstance(self.values[i], Grid):
                out.append(_grid([next(it) for _ in range(self.values[i].size)], self.avals[i]))
            else:
                out.append(Uniform(next(it)))
        return out

    def all_values(self, flat: Sequence[Any]) -> list:
        """Every input of the equation, traced ones rebuilt from ``flat``."""
        values = list(self.values)
        for i, v in zip(self.traced, self.values_of(flat)):
            values[i] = v
        return values

    def bind_traced(self, *traced) -> list:
        """The equation applied to one window, with the concrete inputs filled in."""
        args = [v.value if isinstance(v, Uniform) else None for v in self.values]
        for i, a in zip(self.traced, traced):
            args[i] = a
        return bind_equation(self.eqn, args)

    def traced_specs(self) -> list:
        """Abstract per-window values of the traced inputs (for tracing the equation's JVP/VJP on one window)."""
        return [_spec(self.avals[i]) for i in self.traced]


def _grid(flat: Sequence[Any], aval) -> Grid:
    entries = object_array(tuple(aval.shape))
    for idx, array in zip(np.ndindex(*aval.shape), flat):
        entries[idx] = array
    return Grid(entries, aval.dtype)


def _flat_value(ctx: Context, value: Any, aval) -> list:
    """A per-window value as one ``out_shape`` array per element (row-major), in the aval's dtype."""
    shape, dtype = tuple(aval.shape), aval.dtype
    if isinstance(value, Dense):
        array = value.array.astype(dtype)
        lead = (slice(None),) * ctx.n_positions
        return [array[lead + idx] for idx in np.ndindex(*shape)]
    entries = np.broadcast_to(ctx.entries_of(value), shape)
    return [ctx.broadcast_entry(e, dtype) for e in entries.flat]


def _flat_values(ctx: Context, values: Sequence[Any], avals) -> tuple:
    return tuple(array for value, aval in zip(values, avals) for array in _flat_value(ctx, value, aval))


def _grids(flat: Sequence[Any], avals) -> list:
    out, start = [], 0
    for aval in avals:
        n = int(np.prod(aval.shape))
        out.append(_grid(flat[start:start + n], aval))
        start += n
    return out


def _primal(split: _Split) -> Callable:
    """The equation's ``call_jaxpr`` replayed on wrapper arguments: flat per-element output arrays."""
    inner = split.eqn.params["call_jaxpr"]
    jaxpr, consts = (inner.jaxpr, inner.consts) if hasattr(inner, "consts") else (inner, ())

    def primal(*flat):
        outs = _evaluate(jaxpr, [Uniform(c) for c in consts], split.all_values(flat), split.ctx)
        return _flat_values(split.ctx, outs, split.out_avals)

    return primal


@RULES.register("custom_jvp_call")
def _custom_jvp_call(ctx: Context, eqn, values):
    split = _Split(ctx, eqn, values)
    if not split.supported():
        return None
    wrapped = jax.custom_jvp(_primal(split))

    @wrapped.defjvp
    def _jvp(primals, tangents):
        specs = split.traced_specs()
        per_window = jax.make_jaxpr(lambda p, t: jax.jvp(split.bind_traced, p, t))(specs, specs)
        args = split.values_of(primals) + split.values_of(tangents)
        outs = _evaluate(per_window.jaxpr, [Uniform(c) for c in per_window.consts], args, ctx)
        n = len(split.out_avals)
        return _flat_values(ctx, outs[:n], split.out_avals), _flat_values(ctx, outs[n:], split.out_avals)

    return _grids(wrapped(*split.flat_inputs()), split.out_avals)


@RULES.register("custom_vjp_call")
def _custom_vjp_call(ctx: Context, eqn, values):
    split = _Split(ctx, eqn, values)
    if not split.supported():
        return None
    primal = _primal(split)
    wrapped = jax.custom_vjp(primal)

    def fwd(*flat):
        return primal(*flat), flat

    def bwd(flat, cts):
        specs = split.traced_specs()
        ct_specs = [_spec(a) for a in split.out_avals]
        per_window = jax.make_jaxpr(lambda p, c: jax.vjp(split.bind_traced, *p)[1](c))(specs, ct_specs)
        args = split.values_of(flat) + _grids(cts, split.out_avals)
        outs = _evaluate(per_window.jaxpr, [Uniform(c) for c in per_window.consts], args, ctx)
        grads = []
        for i, out in zip(split.traced, outs):
            aval = split.avals[i]
            per_element = _flat_value(ctx, out, aval)
            if isinstance(values[i], Grid):
                grads.extend(per_element)
            else:  # a uniform input is shared by every window: its cotangent sums theirs
                sums = [jnp.sum(g) for g in per_element]
                grads.append(jnp.stack(sums).reshape(aval.shape) if sums else jnp.zeros(aval.shape, aval.dtype))
        return tuple(grads)

    wrapped.defvjp(fwd, bwd)
    return _grids(wrapped(*split.flat_inputs()), split.out_avals)
