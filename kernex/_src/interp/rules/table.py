"""The registry shared by the rule families: a dict from ``Primitive`` to rule.

A rule receives the context, the jaxpr equation and its input values (at least
one of them position dependent) and returns the output values, or ``None`` to
ask for the generic ``vmap`` fallback (``interp/evaluate.py``). Rules are
registered by primitive *name* and stored under the running JAX's
:class:`jax.extend.core.Primitive` object (``interp/primitives.py``): a name JAX
no longer has is recorded in ``primitives.MISSING``, which the tests check.
"""

from __future__ import annotations

from typing import Callable

from jax.extend import core as jex

from kernex._src.interp import primitives

__all__ = ["RuleTable", "out_dtype"]


class RuleTable(dict):
    """``{Primitive: rule}``; :meth:`register` is the decorator that fills it."""

    def register(self, *names: str) -> Callable[[Callable], Callable]:
        def wrap(rule: Callable) -> Callable:
            for primitive in primitives.lookup(names):
                self[primitive] = rule
            return rule

        return wrap

    def rule(self, primitive: jex.Primitive) -> Callable | None:
        return self.get(primitive)


def out_dtype(eqn, i: int = 0):
    """The dtype of the equation's ``i``-th output."""
    return eqn.outvars[i].aval.dtype
