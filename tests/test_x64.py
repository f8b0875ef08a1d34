"""kmap and kscan with 64-bit types on (``jax_enable_x64``): float64 values and gradients, every schedule.

Under x64 a Python int becomes an ``int64`` index while the schedules' traced
indices are ``int32``; ``lax.dynamic_slice`` rejects the mix, which broke
kscan's block schedules (the seed's linear convection). x64 is switched on only
inside each test (:func:`x64`), so the rest of the suite keeps 32-bit defaults.
Every comparison is against the brute-force references of ``reference.py`` run
in float64, with tolerances that a float32 computation would miss.
"""

from __future__ import annotations

import contextlib
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reference import (
    SCALAR_KMAP,
    by_index,
    geometries,
    indices,
    kmap_functions,
    kmap_reference,
    kmap_reference_vectorized,
    kscan_functions,
    kscan_reference,
    property_settings,
    random_array,
    resolve,
    upwind_reference,
)

import kernex
from demo.stencils import convection_kernel
from kernex._src.lower.plan import SCHEDULES

TOL = dict(rtol=1e-10, atol=1e-12)


@contextlib.contextmanager
def x64():
    """64-bit types on for the duration of the block, restored afterwards."""
    if hasattr(jax, "enable_x64"):
        with jax.enable_x64(True):
            yield
        return
    previous = jax.config.jax_enable_x64  # pragma: no cover - older JAX without the context manager
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", previous)


def _compare(got, expected):
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    assert got.dtype == expected.dtype == np.float64, (got.dtype, expected.dtype)
    np.testing.assert_allclose(got, expected, **TOL)


def test_x64_stays_inside_the_tests():
    assert jnp.asarray(1.0).dtype == jnp.float32
    with x64():
        assert jnp.asarray(1.0).dtype == jnp.float64
    assert jnp.asarray(1.0).dtype == jnp.float32


# ----------------------------------------------------------------------------- the seed's linear convection




@pytest.mark.parametrize("schedule", ["auto", "rows", "sequential", "wavefront"])
def test_seed_linear_convection_in_float64(schedule):
    """The README's kscan example on a float64 grid, eagerly and under jit (the block schedules used to raise
    ``TypeError: index arguments to dynamic_slice must be integers of the same type``)."""
    with x64():
        F = convection_kernel(12, 17, 0.5, 2.0, 0.5, schedule)
        x = jnp.ones((12, 17), jnp.float64)
        expected = upwind_reference(12, 17, 0.5, 2.0, 0.5)
        _compare(F(x), expected)
        _compare(jax.jit(F)(x), expected)


# ----------------------------------------------------------------------------- kmap paths


KMAP_PATHS = {
    # name: (kernel_size, strides, window function): unrolled, box plans, correlation, fallbacks, dynamic indices
    "laplacian": ((3, 3), 1, lambda v: v[0, 1] + v[1, 0] + v[2, 1] + v[1, 2] - 4 * v[1, 1]),
    "box-17x17": ((17, 17), (2, 3), jnp.mean),
    "gauss-17x17": ((17, 17), 1, lambda v: jnp.sum(v * np.outer(np.hanning(17), np.hanning(17)))),
    "median": ((3, 3), 1, lambda v: jnp.median(v)),
    "argmin-index": ((3, 3), (1, 2), lambda v: v.ravel()[jnp.argmin(v)] + jnp.argmax(v)),
    "cond": ((3, 3), 1, lambda v: jax.lax.cond(v.sum() > 0, jnp.max, jnp.min, v)),
}


@pytest.mark.parametrize("name", KMAP_PATHS)
def test_kmap_paths_in_float64(name):
    kernel_size, strides, f = KMAP_PATHS[name]
    kw = dict(kernel_size=kernel_size, strides=strides, padding="same")
    with x64():
        x = random_array(1, (18, 19) if kernel_size == (17, 17) else (5, 6), np.float64)
        ct = random_array(2, resolve(x.shape, kernel_size, strides, "same")[3], np.float64)
        apply = kernex.kmap(**kw)(f)
        _compare(jax.jit(apply)(x), kmap_reference(x, f, **kw))
        grad = lambda g: jax.jit(jax.grad(lambda x: jnp.sum(g(x) * ct)))(x)  # noqa: E731
        _compare(grad(apply), grad(lambda x: kmap_reference_vectorized(x, f, **kw)))


def test_kmap_by_index_in_float64():
    """Functions assigned by index (iota masks) on float64 data."""
    with x64():
        x = random_array(3, (5, 6), np.float64)
        assignments = [((slice(None), slice(0, 3)), lambda v: v.sum()), ((1, slice(2, None)), lambda v: v.max() * 0.5)]
        F = by_index(kernex.kmap, assignments, kernel_size=3, padding="same")
        _compare(jax.jit(F)(x), kmap_reference(x, assignments, kernel_size=3, padding="same"))


# ----------------------------------------------------------------------------- property tests


def _setup(case, relative, seed):
    kernel = resolve(case["shape"], case["kernel_size"], case["strides"], case["padding"])[0]
    x = random_array(seed, case["shape"], np.float64)
    w = random_array(seed + 1, kernel, np.float64)
    kw = dict(kernel_size=case["kernel_size"], strides=case["strides"], padding=case["padding"], relative=relative)
    return kernel, x, w, kw


FLOAT_KMAP = [name for name in SCALAR_KMAP if name != "const"]  # 'const' returns an int: an int64 result


@given(case=geometries(), relative=st.booleans(), name=st.sampled_from(FLOAT_KMAP), seed=st.integers(0, 2**31 - 1))
@property_settings(7)
def test_property_kmap_values_and_gradients_in_float64(case, relative, name, seed):
    with x64():
        kernel, x, w, kw = _setup(case, relative, seed)
        f = kmap_functions(kernel, relative)[name]
        apply = kernex.kmap(**kw)(f)
        _compare(jax.jit(apply)(x, w, b=0.5), kmap_reference(x, f, **kw, args=(w,), kwargs={"b": 0.5}))
        if name == "const_float":
            return  # no gradient
        ref = functools.partial(kmap_reference_vectorized, fn=f, **kw)
        ct = random_array(seed + 2, resolve(x.shape, kw["kernel_size"], kw["strides"], kw["padding"])[3], np.float64)
        grad = lambda g: jax.jit(jax.grad(lambda x, w: jnp.sum(g(x, w) * ct), argnums=(0, 1)))(x, w)  # noqa: E731
        for got, expected in zip(grad(lambda x, w: apply(x, w, b=0.5)), grad(lambda x, w: ref(x, args=(w,), kwargs={"b": 0.5}))):
            _compare(got, expected)


@st.composite
def _scan_spec(draw, shape, pool):
    if draw(st.booleans()):
        return draw(st.sampled_from(pool))
    return [(draw(indices(shape)), draw(st.sampled_from(pool))) for _ in range(draw(st.integers(1, 2)))]


def _scan_build(spec, pool, schedule, kw):
    if isinstance(spec, str):
        return kernex.kscan(schedule=schedule, **kw)(pool[spec]), pool[spec]
    assignments = [(index, pool[name]) for index, name in spec]
    return by_index(kernex.kscan, assignments, schedule=schedule, **kw), assignments


@given(case=geometries(), relative=st.booleans(), seed=st.integers(0, 2**31 - 1), gradients=st.booleans(), data=st.data())
@property_settings(7)
def test_property_kscan_every_schedule_in_float64(case, relative, seed, gradients, data):
    """Every schedule runs (or refuses with the documented ValueError) and matches the sequential model."""
    with x64():
        kernel, x, w, kw = _setup(case, relative, seed)
        pool = kscan_functions(kernel, relative, np.float64)
        spec = data.draw(_scan_spec(case["shape"], sorted(pool)))
        _, fns = _scan_build(spec, pool, "sequential", kw)
        expected = kscan_reference(x, fns, **kw, args=(w,), kwargs={"b": 0.25})
        ct = random_array(seed + 2, expected.shape, np.float64)
        loss = lambda g: lambda x, w: jnp.sum(g(x, w) * ct)  # noqa: E731
        if gradients:
            ref = functools.partial(kscan_reference, fns=fns, xp=jnp, **kw)
            expected_grads = jax.jit(jax.grad(loss(lambda x, w: ref(x, args=(w,), kwargs={"b": 0.25})), (0, 1)))(x, w)
        for schedule in SCHEDULES:
            F, _ = _scan_build(spec, pool, schedule, kw)
            try:
                got = jax.jit(F)(x, w, b=0.25)
            except ValueError as error:
                assert schedule in ("parallel", "rows") and "would change the result" in str(error), error
                continue
            _compare(got, expected)
            if gradients:
                grads = jax.jit(jax.grad(loss(lambda x, w, F=F: F(x, w, b=0.25)), (0, 1)))(x, w)
                for g, e in zip(grads, expected_grads):
                    _compare(g, e)
