"""A jaxpr interpreter that evaluates a window function on all windows at once.

``f`` is traced on an abstract patch (``jax.make_jaxpr``) and its equations are
replayed on the values of :mod:`kernex._src.interp.values`: each patch element
is a strided shifted slice of the padded input, elementwise maths maps over
those whole arrays and reductions over the window become sums/maxima of slices,
so XLA sees one fusible loop instead of a gathered ``out_shape + kernel``
tensor. Calls (:data:`INLINE`) are replayed in place; custom derivatives are
replayed too, inside a wrapper that keeps their rule (``rules/custom.py``).
Primitives without a rule (``sort``, control flow, …) run through ``vmap`` on a
materialised patch (:func:`fallback`), so every function stays correct.

This module owns the loop only: values are in ``values.py``, reads of window
data in the :class:`~kernex._src.interp.context.Context`, per-primitive code in
``rules/`` (:data:`kernex._src.interp.rules.RULES`). Dead equations are skipped
(an unused read is not a read).
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import numpy as np
from jax.extend import core as jex

from kernex._src.interp import primitives
from kernex._src.interp.bind import bind_equation
from kernex._src.interp.context import Context
from kernex._src.interp.rules import RULES
from kernex._src.interp.values import Dense, Grid, Uniform, is_concrete

__all__ = ["evaluate", "fallback", "live_equations", "INLINE"]

# primitives whose semantics is "evaluate the inner jaxpr" (jax.jit, closed calls, jax.checkpoint)
INLINE = frozenset(primitives.lookup(["jit", "closed_call", "call", "remat"]))


def _inner_jaxpr(eqn) -> tuple[Any, Sequence[Any]]:
    inner = eqn.params.get("jaxpr", eqn.params.get("call_jaxpr"))
    if isinstance(inner, jex.ClosedJaxpr):
        return inner.jaxpr, inner.consts
    return inner, ()


def _uniform(eqn, values: Sequence[Uniform]) -> list[Uniform]:
    raw = [v.value for v in values]
    if all(is_concrete(r) for r in raw):
        with jax.ensure_compile_time_eval():
            return [Uniform(o) for o in bind_equation(eqn, raw)]
    return [Uniform(o) for o in bind_equation(eqn, raw)]


def fallback(ctx: Context, eqn, values: Sequence[Any]) -> list[Dense]:
    """Evaluate one primitive per window with ``vmap`` over materialised inputs."""
    n_pos = len(ctx.out_shape)
    n_windows = int(np.prod(ctx.out_shape))
    args, axes = [], []
    for v in values:
        if isinstance(v, Uniform):
            args.append(v.value)
            axes.append(None)
        else:
            array = ctx.dense(v)
            args.append(array.reshape((n_windows,) + array.shape[n_pos:]))
            axes.append(0)
    outs = jax.vmap(lambda *a: tuple(bind_equation(eqn, a)), in_axes=tuple(axes))(*args)
    return [Dense(o.reshape(ctx.out_shape + o.shape[1:])) for o in outs]


def live_equations(jaxpr) -> list:
    """The equations whose results reach the outputs (or that have effects), in order."""
    live = {v for v in jaxpr.outvars if not isinstance(v, jex.Literal)}
    kept = []
    for eqn in reversed(jaxpr.eqns):
        if eqn.effects or any(v in live for v in eqn.outvars if not isinstance(v, jex.DropVar)):
            kept.append(eqn)
            live.update(v for v in eqn.invars if not isinstance(v, jex.Literal))
    return kept[::-1]


def evaluate(jaxpr, consts: Sequence[Any], args: Sequence[Any], ctx: Context) -> list[Any]:
    env: dict = {}

    def read(var):
        if isinstance(var, jex.Literal):
            return Uniform(np.asarray(var.val, dtype=var.aval.dtype))
        return env[var]

    for var, value in zip(jaxpr.constvars, consts):
        env[var] = value if isinstance(value, (Uniform, Grid, Dense)) else Uniform(value)
    for var, value in zip(jaxpr.invars, args):
        env[var] = value
    for eqn in live_equations(jaxpr):
        values = [read(v) for v in eqn.invars]
        if all(isinstance(v, Uniform) for v in values):
            outs = _uniform(eqn, values)
        elif eqn.primitive in INLINE:
            inner, inner_consts = _inner_jaxpr(eqn)
            outs = evaluate(inner, [Uniform(c) for c in inner_consts], values, ctx)
        else:
            rule = RULES.get(eqn.primitive)
            outs = rule(ctx, eqn, values) if rule is not None else None
            if outs is None:
                outs = fallback(ctx, eqn, values)
        for var, out in zip(eqn.outvars, outs):
            if not isinstance(var, jex.DropVar):
                env[var] = out
    return [read(v) for v in jaxpr.outvars]
