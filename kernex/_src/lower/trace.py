"""Tracing window functions on an abstract patch.

Each registered function is traced once with ``jax.make_jaxpr`` on a
``ShapeDtypeStruct`` of the window's shape; the lowerings replay the jaxprs on
the interpreter's values. Tracing is where the functions' outputs are checked
(one array each, equal shapes), their common dtype decided, and their static
reads checked against the window (``offsets.py``).
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from kernex._src.interp.bind import varying_spec
from kernex._src.lower.offsets import check_reads
from kernex._src.window.geometry import Geometry

__all__ = ["patch_spec", "trace_branches"]


def patch_spec(x: Any, geometry: Geometry) -> Any:
    """The abstract patch a window function is traced on (per-shard inside ``shard_map``); for a pytree
    of fields, the same structure of patches."""
    return jax.tree_util.tree_map(lambda leaf: varying_spec(geometry.kernel, leaf.dtype, like=leaf), x)


_PYTHON_SCALARS = {"b": bool, "i": int, "u": int, "f": float, "c": complex}


def _fn_name(fn: Any) -> str:
    return repr(getattr(fn, "__name__", fn))


def _checked_output(out: Any, fn: Any, name: str) -> Any:
    """``out`` if every leaf is an array or a number; a clear ``TypeError`` otherwise."""
    for leaf in jax.tree_util.tree_leaves(out):
        if not isinstance(leaf, (jax.Array, np.ndarray, np.generic, bool, int, float, complex)):
            inside = "" if leaf is out else f" (inside the {type(out).__name__} it returned)"
            raise TypeError(
                f"{name}: window function {_fn_name(fn)} returned {leaf!r} of type {type(leaf).__name__}"
                f"{inside}; a window function must return one array or scalar (a jax/numpy array or a "
                f"Python/NumPy number) computed from the window, e.g. `jnp.sum(x)`."
            )
    return out


def _promotable(out: jax.ShapeDtypeStruct):
    # a weakly typed output (a Python constant, e.g. the seed's `lambda u: 1`) promotes like the
    # Python scalar it came from, so it does not widen float16 / int8 results of the other functions
    return _PYTHON_SCALARS.get(out.dtype.kind, out.dtype) if out.weak_type else out.dtype


def trace_tree_branches(branches: Sequence[Any], spec: Any, args: tuple, kwargs: dict, name: str):
    """Trace every window function on an abstract patch (or pytree of patches).

    Returns ``(jaxprs, treedef, shapes, dtypes)``: one closed jaxpr per branch, the
    output structure shared by every function (checked), and per output leaf its
    shape (checked to agree) and its dtype promoted over the functions.
    """
    jaxprs, trees, shapes, dtypes = [], [], [], []
    for branch in branches:
        traced = lambda p, b=branch: _checked_output(b.fn(p, *args, **kwargs), b.fn, name)  # noqa: E731
        closed, out = jax.make_jaxpr(traced, return_shape=True)(spec)
        if branch.view != "named":  # named views check their labels themselves
            check_reads(branch.fn, closed, spec, branch.view == "relative", args, kwargs, name)
        leaves, tree = jax.tree_util.tree_flatten(out)
        if not leaves:
            raise TypeError(f"{name}: window function {_fn_name(branch.fn)} returned no array ({tree}).")
        jaxprs.append(closed)
        trees.append(tree)
        shapes.append(tuple(leaf.shape for leaf in leaves))
        dtypes.append([_promotable(leaf) for leaf in leaves])
    if len(set(trees)) > 1:
        raise ValueError(
            f"{name}: every function assigned by index must return the same structure; got {trees} "
            f"(in assignment order)."
        )
    if len(set(shapes)) > 1:
        shown = [s[0] if len(s) == 1 else s for s in shapes]
        raise ValueError(
            f"{name}: every function assigned by index must return the same shape; got shapes {shown} "
            f"(in assignment order)."
        )
    return jaxprs, trees[0], list(shapes[0]), [jnp.result_type(*column) for column in zip(*dtypes)]


def trace_branches(branches: Sequence[Any], spec: Any, args: tuple, kwargs: dict, name: str):
    """:func:`trace_tree_branches` for functions that return one array or scalar.

    Returns ``(jaxprs, shape, dtype)``: one closed jaxpr per branch, and the
    common output shape (checked to agree) and promoted dtype.
    """
    jaxprs, tree, shapes, dtypes = trace_tree_branches(branches, spec, args, kwargs, name)
    if tree != jax.tree_util.tree_structure(0):
        raise TypeError(
            f"{name}: a window function must return one array or scalar; "
            f"{_fn_name(branches[0].fn)} returned {tree}."
        )
    return jaxprs, shapes[0], dtypes[0]
