"""Applying a jaxpr equation's primitive to new inputs.

Every rule, the fallback and the evaluation loop emit code through
:func:`bind_equation`, so this is where an equation's parameters (and, for
higher-order primitives, its sub-functions) are recovered with the public
``Primitive.get_bind_params``. Two invariants hold for every bind:

* **Source locations.** The new equations carry the replayed equation's
  ``source_info`` (traceback and name stack, as ``jax.core.eval_jaxpr`` does),
  so lowered jaxprs, HLO metadata and errors point at the user's line.
* **Varying manual axes.** Inside ``jax.shard_map`` (``check_vma=True``) a
  primitive's operands must vary over the mesh axes its typing rule expects.
  Window functions are traced on a per-shard patch (:func:`varying_spec`), so
  each traced operand records those axes; a replayed operand that varies over
  fewer (a concrete constant, a literal, an array a rule created) is cast up
  with ``jax.lax.pcast(..., to="varying")`` to its traced axes and, for
  first-order primitives, to the union of all operands' axes, as
  ``jax.numpy``'s own wrappers do. ``pvary`` equations are replayed as that
  cast, so a value already varying is not cast twice. Outside ``shard_map``
  every set is empty and nothing is emitted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
from jax.extend import core as jex
from jax.extend import source_info_util

__all__ = ["bind_equation", "equation_context", "match_varying", "varying_axes", "varying_spec"]


def _aval_varying(aval: Any) -> frozenset:
    """The manual mesh axes an abstract value varies over."""
    vma = getattr(aval, "vma", None)  # the older JAX spelling
    if vma is None:
        vma = getattr(getattr(aval, "manual_axis_type", None), "varying", None)
    return frozenset(vma) if vma else frozenset()


def varying_axes(value: Any) -> frozenset:
    """The manual mesh axes ``value`` varies over (empty outside ``shard_map`` and for non-arrays)."""
    try:
        return _aval_varying(jax.typeof(value))
    except TypeError:  # not an array-like
        return frozenset()


def varying_spec(shape: tuple[int, ...], dtype: Any, like: Any) -> jax.ShapeDtypeStruct:
    """An abstract array of ``shape``/``dtype`` varying over the same manual mesh axes as ``like``.

    Window functions are traced on such a patch, so inside ``shard_map`` their
    jaxprs (loop carries and custom-derivative rules included) are typed as
    per-shard values: the type their replay on slices of ``like`` has.
    """
    if not varying_axes(like):
        return jax.ShapeDtypeStruct(shape, dtype)
    aval = jax.typeof(like)
    sharding = jax.sharding.NamedSharding(aval.sharding.mesh, jax.sharding.PartitionSpec())
    return jax.ShapeDtypeStruct(shape, dtype, sharding=sharding, manual_axis_type=aval.manual_axis_type)


def match_varying(values: Sequence[Any], targets: Sequence[frozenset] | None = None) -> list:
    """``values`` with operand ``i`` cast to vary over ``targets[i]`` (default: the union of all).

    An operand already varying over an axis keeps it (casts only ever add axes).
    Without a traced operand nothing is cast: concrete values stay concrete
    (their consumers cast them), and a cast cannot run at compile time.
    """
    values = list(values)
    if not any(isinstance(v, jax.core.Tracer) for v in values):
        return values
    own = [varying_axes(v) for v in values]
    if targets is None:
        targets = [frozenset().union(*own)] * len(values)
    for i, (value, have, want) in enumerate(zip(values, own, targets)):
        missing = want - have
        if missing:
            values[i] = jax.lax.pcast(value, tuple(sorted(missing, key=str)), to="varying")
    return values


def _find_pvary() -> jex.Primitive | None:
    """The primitive of ``jax.lax.pcast(..., to="varying")``, found by tracing it in a ``shard_map``.

    Called once at import: probing from inside a trace (e.g. under
    ``jax.ensure_compile_time_eval``) would fail.
    """
    try:
        mesh = jax.sharding.AbstractMesh((2,), ("kernex_probe",))
        spec = jax.sharding.PartitionSpec
        probe = jax.shard_map(
            lambda a: jax.lax.pcast(a, "kernex_probe", to="varying"),
            mesh=mesh,
            in_specs=spec(),
            out_specs=spec("kernex_probe"),
        )
        outer = jax.make_jaxpr(probe)(jax.ShapeDtypeStruct((2,), "float32")).jaxpr
        return outer.eqns[0].params["jaxpr"].eqns[0].primitive
    except (AttributeError, IndexError, KeyError, TypeError, ValueError):  # pragma: no cover - JAX version
        return None


_PVARY = _find_pvary()


def _has_subprograms(params: dict) -> bool:
    """True for higher-order primitives: their sub-jaxprs fix their operands' types exactly."""
    for value in params.values():
        items = value if isinstance(value, (tuple, list)) else (value,)
        if any(isinstance(v, (jex.ClosedJaxpr, jex.Jaxpr)) or callable(v) for v in items):
            return True
    return False


def _targets(eqn, values: Sequence[Any]) -> list[frozenset] | None:
    """Per operand, the manual axes it must vary over when ``eqn`` is rebound on ``values``."""
    traced = [_aval_varying(v.aval) for v in eqn.invars] if len(eqn.invars) == len(values) else None
    if _has_subprograms(eqn.params):
        return traced
    union = frozenset().union(*(varying_axes(v) for v in values), *(traced or ()))
    return [union] * len(values)


def equation_context(eqn):
    """A context in which new equations carry ``eqn``'s traceback and (nested) name stack."""
    info = eqn.source_info
    return source_info_util.user_context(
        info.traceback, name_stack=source_info_util.current_name_stack() + info.name_stack
    )


def bind_equation(eqn, values) -> list:
    """Apply an equation's primitive to new inputs (higher-order primitives included)."""
    with equation_context(eqn):
        if eqn.primitive is _PVARY:
            return match_varying(values, [_aval_varying(v.aval) for v in eqn.outvars])
        targets = _targets(eqn, values)
        if targets is not None:
            values = match_varying(values, targets)
        params = eqn.primitive.get_bind_params(eqn.params)
        if isinstance(params, tuple):  # older JAX returns (subfuns, params)
            subfuns, params = params
            values = (*subfuns, *values)
        out = eqn.primitive.bind(*values, **params)
    return list(out) if eqn.primitive.multiple_results else [out]
