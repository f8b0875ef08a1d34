"""Tracing window functions on an abstract patch.

Each registered function is traced once with ``jax.make_jaxpr`` on a
``ShapeDtypeStruct`` of the window's shape; the lowerings replay the jaxprs on
the interpreter's values. Tracing is where the functions' outputs are checked
(one array each, equal shapes) and their common dtype decided.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp

from kernex._src.window.geometry import Geometry

__all__ = ["patch_spec", "trace_branches"]


def patch_spec(x: jax.Array, geometry: Geometry) -> jax.ShapeDtypeStruct:
    """The abstract patch a window function is traced on."""
    return jax.ShapeDtypeStruct(geometry.kernel, x.dtype)


_PYTHON_SCALARS = {"b": bool, "i": int, "u": int, "f": float, "c": complex}


def trace_branches(branches: Sequence[Any], spec: jax.ShapeDtypeStruct, args: tuple, kwargs: dict, name: str):
    """Trace every window function on an abstract patch.

    Returns ``(jaxprs, shape, dtype)``: one closed jaxpr per branch, and the
    common output shape (checked to agree) and promoted dtype.
    """
    jaxprs, shapes, dtypes = [], [], []
    for branch in branches:
        closed, out = jax.make_jaxpr(lambda p, b=branch: b.fn(p, *args, **kwargs), return_shape=True)(spec)
        if not isinstance(out, jax.ShapeDtypeStruct):
            raise TypeError(
                f"{name}: a window function must return one array or scalar; "
                f"{getattr(branch.fn, '__name__', branch.fn)!r} returned {jax.tree_util.tree_structure(out)}."
            )
        jaxprs.append(closed)
        shapes.append(out.shape)
        # a weakly typed output (a Python constant, e.g. the seed's `lambda u: 1`) promotes like the
        # Python scalar it came from, so it does not widen float16 / int8 results of the other functions
        dtypes.append(_PYTHON_SCALARS.get(out.dtype.kind, out.dtype) if out.weak_type else out.dtype)
    if len(set(shapes)) > 1:
        raise ValueError(
            f"{name}: every function assigned by index must return the same shape; got shapes {shapes} "
            f"(in assignment order)."
        )
    return jaxprs, shapes[0], jnp.result_type(*dtypes)
