"""Primitive objects for the interpreter's rule tables, looked up by name once, at import.

Rule tables are keyed by :class:`jax.extend.core.Primitive` objects, never by
name strings, so a primitive renamed or removed by a JAX upgrade cannot
silently lose its rule: :data:`MISSING` lists every table name the running JAX
lacks, and the test suite asserts it is empty. Primitives that
``jax.extend.core.primitives`` does not export are found by tracing the
smallest public call that emits them (:func:`traced`).
"""

from __future__ import annotations

from typing import Callable, Iterable

import jax
import jax.numpy as jnp
from jax.extend import core as jex
from jax.extend.core import primitives as _prims

__all__ = ["MISSING", "lookup", "traced"]

# table names the running JAX does not provide (asserted empty by the tests)
MISSING: list[str] = []


def traced(fn: Callable, *specs: jax.ShapeDtypeStruct) -> jex.Primitive:
    """The primitive of the first equation of ``jax.make_jaxpr(fn)(*specs)``."""
    return jax.make_jaxpr(fn)(*specs).jaxpr.eqns[0].primitive


# not exported by jax.extend.core.primitives
_TRACED: dict[str, Callable[[], jex.Primitive]] = {
    "split": lambda: traced(lambda x: jnp.split(x, 2), jax.ShapeDtypeStruct((2,), jnp.float32)),
}


def _find(name: str) -> jex.Primitive | None:
    primitive = getattr(_prims, f"{name}_p", None)
    if primitive is None and name in _TRACED:
        try:
            primitive = _TRACED[name]()
        except Exception:  # pragma: no cover - depends on the JAX version
            primitive = None
    return primitive


def lookup(names: Iterable[str]) -> list[jex.Primitive]:
    """The primitives ``jax.extend.core.primitives.<name>_p`` (or :data:`_TRACED`) that exist in the
    running JAX; the other names go to :data:`MISSING`. (A primitive's own ``.name`` may differ from
    its attribute: ``remat_p.name`` is ``'remat2'``.)"""
    found = []
    for name in names:
        primitive = _find(name)
        if primitive is None:
            MISSING.append(name)
        else:
            found.append(primitive)
    return found
