"""The interpreter's primitive tables: they exist in the running JAX, and their claims hold.

* Rule tables are keyed by :class:`jax.extend.core.Primitive` objects looked up
  by name at import (``kernex._src.interp.primitives``): a name the running JAX
  lacks would silently lose its rule, so every name must resolve (``MISSING``
  is empty), every key must be a ``Primitive``, and the keys must be the very
  objects JAX puts in jaxprs.
* ``elementwise.SOURCE_LEVEL`` lists the ops that may be applied once per input
  cell instead of once per window: each member gives the per-window values and
  gradients (brute force) where windows share cells; ``reduce_precision`` and
  conversions between float precisions are not members, and now give the
  per-window result.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from jax.extend import core as jex
from jax.extend.core import primitives as prims
from reference import kmap_reference_vectorized, random_array

import kernex
from kernex._src import config
from kernex._src.interp import primitives
from kernex._src.interp.evaluate import INLINE
from kernex._src.interp.rules import RULES, contractions, custom, elementwise, reductions, structural

FAMILIES = {
    "elementwise": elementwise.RULES,
    "structural": structural.RULES,
    "reductions": reductions.RULES,
    "contractions": contractions.RULES,
    "custom": custom.RULES,
}
F32 = jax.ShapeDtypeStruct((2, 2), jnp.float32)


def test_every_table_name_exists_in_the_running_jax():
    assert primitives.MISSING == []


@pytest.mark.parametrize("table", [RULES, *FAMILIES.values(), INLINE, elementwise.SOURCE_LEVEL],
                         ids=["RULES", *FAMILIES, "INLINE", "SOURCE_LEVEL"])
def test_every_key_is_a_primitive(table):
    assert table and all(isinstance(p, jex.Primitive) for p in table)


def test_the_registry_is_the_union_of_the_families():
    keys = [p for family in FAMILIES.values() for p in family]
    assert len(keys) == len(set(keys)), "a primitive has rules in two families"
    assert set(RULES) == set(keys)
    assert not INLINE & set(RULES), "an inlined call also has a rule"


def test_every_elementwise_name_has_its_rule():
    names = {p.name for p in elementwise.RULES}
    assert set(elementwise.ELEMENTWISE) <= names
    assert elementwise.SOURCE_LEVEL <= set(elementwise.RULES)


@pytest.mark.parametrize(
    "fn, name",
    [
        (jax.nn.relu, "custom_jvp_call"),
        (lambda x: jax.jit(jnp.sin)(x), "jit"),
        (lambda x: jax.checkpoint(jnp.sin)(x), "remat"),
        (lambda x: jnp.split(x, 2)[0], "split"),
        (jnp.exp, "exp"),
        (jnp.sum, "reduce_sum"),
    ],
    ids=["custom_jvp_call", "jit", "remat", "split", "exp", "reduce_sum"],
)
def test_keys_are_the_primitives_jax_emits(fn, name):
    """The primitive of a traced equation is found in the tables by identity."""
    (primitive,) = primitives.lookup([name])
    emitted = jax.make_jaxpr(fn)(F32).jaxpr.eqns[0].primitive
    assert emitted is primitive
    assert primitive in RULES or primitive in INLINE


def test_custom_vjp_call_has_a_rule():
    @jax.custom_vjp
    def f(x):
        return jnp.sin(x)

    f.defvjp(lambda x: (jnp.sin(x), x), lambda x, g: (g,))
    assert jax.make_jaxpr(f)(F32).jaxpr.eqns[0].primitive in custom.RULES


def test_unknown_names_are_recorded_as_missing(monkeypatch):
    monkeypatch.setattr(primitives, "MISSING", [])
    assert primitives.lookup(["exp", "no_such_primitive"]) == [prims.exp_p]
    assert primitives.MISSING == ["no_such_primitive"]


def test_traced_finds_primitives_not_exported():
    assert primitives.traced(lambda x: jnp.split(x, 2), jax.ShapeDtypeStruct((2,), jnp.float32)).name == "split"


# ----------------------------------------------------------------------------- SOURCE_LEVEL: once per input cell

# one window function per member of elementwise.SOURCE_LEVEL, keyed by the member it applies to whole
# sources; inputs in (0.2, 0.8) keep every op in its domain
_SPECIAL = jax.scipy.special
SOURCE_LEVEL_TERMS = {
    "unary": {
        "abs": lambda v: jnp.abs(v - 0.5), "acos": jnp.arccos, "acosh": lambda v: jnp.arccosh(1 + v),
        "asin": jnp.arcsin, "asinh": jnp.arcsinh, "atan": jnp.arctan, "atanh": jnp.arctanh, "cbrt": jnp.cbrt,
        "ceil": lambda v: jnp.ceil(3 * v) * v, "cos": jnp.cos, "cosh": jnp.cosh, "digamma": _SPECIAL.digamma,
        "erf": _SPECIAL.erf, "erf_inv": _SPECIAL.erfinv, "erfc": _SPECIAL.erfc, "exp": jnp.exp, "exp2": jnp.exp2,
        "expm1": jnp.expm1, "floor": lambda v: jnp.floor(3 * v) * v, "integer_pow": lambda v: v**3,
        "lgamma": _SPECIAL.gammaln, "log": jnp.log, "log1p": jnp.log1p, "logistic": jax.nn.sigmoid,
        "neg": lambda v: -jnp.sin(v), "round": lambda v: lax.round(3 * v) * v, "rsqrt": lax.rsqrt,
        "sign": lambda v: jnp.sign(v - 0.5) * v, "sin": jnp.sin, "sinh": jnp.sinh, "sqrt": jnp.sqrt,
        "square": jnp.square, "tan": jnp.tan, "tanh": jnp.tanh, "copy": lambda v: jnp.copy(v) * v,
        "stop_gradient": lambda v: jnp.sin(lax.stop_gradient(v)),
        "polygamma": lambda v: _SPECIAL.polygamma(1, v),
    },
    "binary": {
        "add": lambda v: jnp.sin(v + 2 * v), "sub": lambda v: jnp.exp(v - v * v), "mul": lambda v: jnp.sin(v * v),
        "div": lambda v: v / (1 + v), "max": lambda v: jnp.maximum(v, 1 - v), "min": lambda v: jnp.minimum(v, 1 - v),
        "pow": lambda v: v**v, "atan2": lambda v: jnp.arctan2(v, 1 - v), "rem": lambda v: lax.rem(v, 0.3),
        "igamma": lambda v: _SPECIAL.gammainc(1 + v, v), "igammac": lambda v: _SPECIAL.gammaincc(1 + v, v),
        "clamp": lambda v: lax.clamp(0.3, v, 0.6), "select_n": lambda v: jnp.where(v > 0.5, v, 2 * v),
    },
    "predicates": {
        name: (lambda op: lambda v: jnp.where(op(v, 0.5), v, -jnp.sin(v)))(op)
        for name, op in [("eq", lax.eq), ("ne", lax.ne), ("ge", lax.ge), ("gt", lax.gt), ("le", lax.le), ("lt", lax.lt)]
    }
    | {"is_finite": lambda v: jnp.where(jnp.isfinite(1 / (v - 0.5)), v, 0.0)},
    "complex": {
        "complex": lambda v: jnp.abs(lax.complex(v, 1 - v)), "real": lambda v: jnp.real(lax.complex(v, v * v)),
        "imag": lambda v: jnp.imag(lax.complex(v, v * v)), "conj": lambda v: jnp.imag(jnp.conj(lax.complex(v, v))),
    },
}
# members without a derivative in JAX (values only), and integer-only members
SOURCE_LEVEL_VALUE_TERMS = {
    "float": {"nextafter": lambda v: jnp.nextafter(v, 1.0), "zeta": lambda v: lax.zeta(2 + v, 1 + v)},
    "int": {
        "and": lambda v: v & 3, "or": lambda v: v | 4, "xor": lambda v: v ^ 5, "not": lambda v: ~v,
        "shift_left": lambda v: v << 1, "shift_right_arithmetic": lambda v: v >> 1,
        "shift_right_logical": lambda v: lax.shift_right_logical(v, 1), "population_count": lax.population_count,
        "clz": lax.clz,
    },
}


@pytest.fixture
def source_level_log(monkeypatch):
    """Names of the primitives ``elementwise._source_level`` applied to whole sources."""
    log: set[str] = set()
    original = elementwise._source_level

    def spy(ctx, eqn, values, shape):
        out = original(ctx, eqn, values, shape)
        if out is not None:
            log.add(eqn.primitive.name)
        return out

    monkeypatch.setattr(elementwise, "_source_level", spy)
    return log


def _windows_read_a_cell_together(monkeypatch):
    """UNROLL_LIMIT = 2: box passes over shared regions, so a source-level op is applied once per input cell."""
    monkeypatch.setattr(config, "UNROLL_LIMIT", 2)
    return dict(kernel_size=(3, 3), padding="same")


def _grad_pair(f, kw, x):
    """Gradients of ``0.5 * sum(y**2)``: kmap (jitted) and the brute force."""
    loss = lambda x: 0.5 * jnp.sum(kernex.kmap(**kw)(f)(x) ** 2)  # noqa: E731
    expected = lambda x: 0.5 * jnp.sum(kmap_reference_vectorized(x, f, **kw) ** 2)  # noqa: E731
    return jax.jit(jax.grad(loss))(x), jax.grad(expected)(x)


def _close(got, expected):
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape and got.dtype == expected.dtype, (got.shape, got.dtype, expected.dtype)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_source_level_table_is_covered():
    """Every member of SOURCE_LEVEL is exercised below; reduce_precision and convert_element_type are not members."""
    covered = {n for terms in [*SOURCE_LEVEL_TERMS.values(), *SOURCE_LEVEL_VALUE_TERMS.values()] for n in terms}
    assert covered == {p.name for p in elementwise.SOURCE_LEVEL}
    assert not {"reduce_precision", "convert_element_type"} & {p.name for p in elementwise.SOURCE_LEVEL}


@pytest.mark.parametrize("group", list(SOURCE_LEVEL_TERMS))
def test_source_level_ops_give_the_per_window_gradient(group, monkeypatch, source_level_log):
    """Each member, applied to whole sources, gives the values and gradients of the brute force."""
    kw = _windows_read_a_cell_together(monkeypatch)
    terms = SOURCE_LEVEL_TERMS[group]
    f = lambda v: sum(jnp.sum(t(v)) for t in terms.values())  # noqa: E731
    x = jnp.asarray(0.2 + 0.6 * np.random.default_rng(23).random((4, 5)), jnp.float32)
    got = jax.jit(kernex.kmap(**kw)(f))(x)
    assert set(terms) <= source_level_log
    _close(got, np.asarray(kmap_reference_vectorized(x, f, **kw)))
    grad, expected = _grad_pair(f, kw, x)
    np.testing.assert_allclose(np.asarray(grad), np.asarray(expected), rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("group", list(SOURCE_LEVEL_VALUE_TERMS))
def test_source_level_ops_without_derivative_give_the_per_window_values(group, monkeypatch, source_level_log):
    """Members without a JAX derivative (``nextafter``, ``zeta``) and integer-only members: per-window values."""
    kw = _windows_read_a_cell_together(monkeypatch)
    terms = SOURCE_LEVEL_VALUE_TERMS[group]
    f = lambda v: sum(jnp.sum(t(v)) for t in terms.values())  # noqa: E731
    rng = np.random.default_rng(24)
    if group == "int":
        x = rng.integers(0, 50, (4, 5)).astype(np.int32)
    else:
        x = (0.2 + 0.6 * rng.random((4, 5))).astype(np.float32)
    got = jax.jit(kernex.kmap(**kw)(f))(x)
    assert set(terms) <= source_level_log
    _close(got, np.asarray(kmap_reference_vectorized(x, f, **kw)))


@pytest.mark.parametrize("limit", [config.UNROLL_LIMIT, 2])
def test_reduce_precision_is_rounded_per_window(monkeypatch, source_level_log, limit):
    """reduce_precision's JVP rounds the tangent: rounding once per input cell the sum of the windows'
    cotangents (0.875 at the middle cell) is not the per-window definition (0.9375)."""
    monkeypatch.setattr(config, "UNROLL_LIMIT", limit)
    f = lambda w: jnp.sum(lax.reduce_precision(w, 5, 2))  # noqa: E731
    kw = dict(kernel_size=3, padding="same")
    x, ct = jnp.array([1.0, 2.0, 3.0]), jnp.full((3,), 0.3)
    (got,) = jax.vjp(kernex.kmap(**kw)(f), x)[1](ct)
    (expected,) = jax.vjp(lambda x: kmap_reference_vectorized(x, f, **kw), x)[1](ct)
    np.testing.assert_array_equal(np.asarray(expected), [0.625, 0.9375, 0.625])
    np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))
    assert "reduce_precision" not in source_level_log


@pytest.mark.parametrize(
    "old, new, at_source",
    [(np.float32, jnp.bfloat16, False), (np.float32, np.float16, False), (np.int32, np.float32, True)],
    ids=["f32-bf16", "f32-f16", "i32-f32"],
)
def test_conversions_between_float_precisions_are_per_window(monkeypatch, source_level_log, old, new, at_source):
    """A float conversion's transpose rounds cotangents to the other precision (summed per cell, not per
    window: off by one rounding), so only conversions that keep the precision are applied to whole sources.

    (bfloat16 is checked loosely: XLA may keep jitted bfloat16 intermediates in float32.)"""
    kw = _windows_read_a_cell_together(monkeypatch)
    f = lambda v: jnp.sum(jnp.sin(v.astype(new))).astype(np.float32)  # noqa: E731
    x = (random_array(25, (6, 6), np.float32) * (1 if old == np.float32 else 9)).astype(old)
    if at_source:
        got = jax.jit(kernex.kmap(**kw)(f))(x)
        _close(got, np.asarray(kmap_reference_vectorized(x, f, **kw)))
    else:
        grad, expected = _grad_pair(f, kw, x)
        tol = 2e-2 if new == jnp.bfloat16 else 0
        np.testing.assert_allclose(np.asarray(grad), np.asarray(expected), rtol=tol, atol=tol)
    assert ("convert_element_type" in source_level_log) == at_source
