"""Applying a jaxpr equation's primitive to new inputs.

Every rule, the fallback and the evaluation loop emit code through
:func:`bind_equation`, so this is where an equation's parameters (and, for
higher-order primitives, its sub-functions) are recovered with the public
``Primitive.get_bind_params``.
"""

from __future__ import annotations

__all__ = ["bind_equation"]


def bind_equation(eqn, values) -> list:
    """Apply an equation's primitive to new inputs (higher-order primitives included)."""
    params = eqn.primitive.get_bind_params(eqn.params)
    if isinstance(params, tuple):  # older JAX returns (subfuns, params)
        subfuns, params = params
        values = (*subfuns, *values)
    out = eqn.primitive.bind(*values, **params)
    return list(out) if eqn.primitive.multiple_results else [out]
