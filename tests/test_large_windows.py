"""Windows above ``config.UNROLL_LIMIT`` cells (``kernex._src.large_windows``).

Unit tests of ``box`` and ``separable_factors``, then ``kmap`` with large windows,
both real ones (17x17, 25x25, 67 taps) and small ones with the limit
monkeypatched to 2: box reductions (``reduce_window`` passes) with strides and
every padding form, weighted sums with separable / non-separable constant
weights and traced weights (correlations), integer inputs; values and gradients
against ``reference.py`` and, where it fits, ``scipy.ndimage``. (Large windows
on contexts without regions, kscan's wavefront: ``test_context.py``.)
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage
from hypothesis import given
from hypothesis import strategies as st
from reference import (
    kmap_reference,
    kmap_reference_vectorized,
    largest_intermediate,
    primitive_names,
    property_settings,
    random_array,
)

import kernex
from kernex._src import config
from kernex._src.interp.large_windows import box, separable_factors

# ----------------------------------------------------------------------------- box


def _cells(corner, shape):
    return [tuple(c + i for c, i in zip(corner, idx)) for idx in itertools.product(*map(range, shape))]


@pytest.mark.parametrize(
    "corner, shape",
    [((0,), (1,)), ((2,), (5,)), ((0, 0), (2, 2)), ((1, -2), (3, 1)), ((3, 0, 2), (2, 3, 1)), ((0, 0, 0), (1, 1, 1))],
    ids=str,
)
def test_box_finds_the_corner_and_shape_in_any_order(corner, shape):
    cells = _cells(corner, shape)
    assert box(cells) == (corner, shape)
    assert box(cells[::-1]) == (corner, shape)
    assert box(list(np.random.default_rng(0).permutation(cells).tolist())) == (corner, shape)


@pytest.mark.parametrize(
    "cells",
    [
        [(0,), (2,)],  # gap
        [(0, 0), (0, 1), (1, 0)],  # L shape: one cell missing
        [(0, 0), (1, 1)],  # diagonal
        [(0,), (1,), (1,)],  # duplicate, count != box size
        [(0,), (1,), (2,), (2,)],  # duplicate, count > box size
        [(0,), (2,), (2,)],  # duplicate with a gap, count == box size
        _cells((0, 0, 0), (2, 2, 2))[:-1],  # 3-D, one corner missing
    ],
    ids=str,
)
def test_box_rejects_non_boxes(cells):
    assert box(cells) is None


# ----------------------------------------------------------------------------- separable_factors


def _outer(*vectors):
    out = np.asarray(vectors[0], np.float64)
    for v in vectors[1:]:
        out = np.multiply.outer(out, np.asarray(v, np.float64))
    return out


GAUSS5 = np.exp(-0.5 * (np.arange(-2, 3) / 1.2) ** 2)


@pytest.mark.parametrize(
    "weights",
    [
        np.array([1.0, -2.0, 0.0, 3.0]),  # 1-D: always separable
        np.ones((3, 3)),
        0.5 * np.ones((2, 4)),
        _outer(GAUSS5, GAUSS5),
        _outer([1, -2, 1], [-1, 0, 3]),  # negative entries, a zero column
        _outer([0, 1, 0], [1, 2, 1]),  # zero rows
        _outer([1, 2], [3, -1, 2], [0.5, 4]),  # 3-D
        -_outer(GAUSS5, [1, 1, 1]),
        np.array([[7.0]]),
    ],
    ids=["1d", "box", "box-half", "gauss", "negative", "zero-rows", "3d", "negated", "single"],
)
def test_separable_factors_rebuild_the_weights(weights):
    factors = separable_factors(weights)
    assert factors is not None
    assert len(factors) == weights.ndim
    assert [f.shape for f in factors] == [(n,) for n in weights.shape]
    np.testing.assert_allclose(_outer(*factors), weights, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "weights",
    [
        np.array([[1.0, 2.0], [3.0, 4.0]]),
        np.eye(3),
        np.random.default_rng(0).standard_normal((3, 3)),
        _outer([1, 2], [1, 1], [1, 3]) + _outer([0, 1], [1, 0], [2, 0]),  # rank 2 in 3-D
        np.zeros((3, 3)),
        np.zeros(4),
        np.array(2.0),  # rank 0
        np.array([[1.0, np.nan], [1.0, 1.0]]),
        np.array([[np.inf, 1.0], [1.0, 1.0]]),
    ],
    ids=["2x2", "eye", "random", "3d-rank2", "zeros", "zeros-1d", "rank0", "nan", "inf"],
)
def test_separable_factors_reject_other_weights(weights):
    assert separable_factors(weights) is None


@given(
    vectors=st.lists(
        st.lists(st.floats(-4, 4, allow_nan=False).filter(lambda v: v == 0 or abs(v) > 1e-3), min_size=1, max_size=5),
        min_size=1,
        max_size=3,
    ),
)
@property_settings(60)
def test_property_outer_products_are_separable(vectors):
    weights = _outer(*vectors)
    factors = separable_factors(weights)
    if not np.any(weights):
        assert factors is None
        return
    assert factors is not None
    np.testing.assert_allclose(_outer(*factors), weights, rtol=1e-9, atol=1e-9 * np.abs(weights).max())


# ----------------------------------------------------------------------------- kmap with large windows


@pytest.fixture
def limit_2(monkeypatch):
    monkeypatch.setattr(config, "UNROLL_LIMIT", 2)


# (input shape, kernel) pairs: small windows with the limit at 2, real windows above the default limit
SIZES = {"small": ((7, 9), (3, 4)), "17x17": ((21, 19), (17, 17))}
PADDINGS = ["same", "valid", 3, ((2, 5), (0, 1)), ((-2, 1), (3, -1)), ("same", (1, 0))]
REDUCTIONS = {"mean": jnp.mean, "max": jnp.max, "min": jnp.min, "sum": jnp.sum}


def assert_no_patch_tensor(fn, x, kernel, out_shape):
    """No intermediate of ``jit(fn)(x)`` has more than kernel_cells * outputs / 2 elements (or the state's)."""
    bound = max(np.prod(kernel) * np.prod(out_shape) // 2, 4 * x.size)
    assert largest_intermediate(jax.jit(fn), x) <= bound


def _size(request, name):
    if name == "small":
        request.getfixturevalue("limit_2")
    return SIZES[name]


def _close(got, expected, atol=1e-4):
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape and got.dtype == expected.dtype, (got.shape, got.dtype, expected.dtype)
    if np.issubdtype(expected.dtype, np.inexact):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=atol)
    else:
        np.testing.assert_array_equal(got, expected)


def _values_and_grads(fn, x, *args, argnums=0):
    """``(fn(x, *args), grad of sum(fn * ct))`` under jit, with a fixed random cotangent."""
    out = jax.jit(fn)(x, *args)
    ct = random_array(11, out.shape, np.float32)
    grads = jax.jit(jax.grad(lambda *a: jnp.sum(fn(*a) * ct), argnums=argnums))(x, *args)
    return out, grads


def _box_cases():
    """Every reduction x padding x stride on small windows; on 17x17 windows max/min (whose gradients
    compile slowly) only with 'same' padding."""
    for size, reduction, padding, strides in itertools.product(SIZES, REDUCTIONS, PADDINGS, [1, (2, 3)]):
        if size == "small" or reduction in ("mean", "sum") or padding == "same":
            yield pytest.param(size, reduction, padding, strides, id=f"{size}-{reduction}-{padding}-{strides}")


def check_kmap(f, kw, x):
    """``kmap(**kw)(f)`` vs the vectorised reference under jit: values and the gradient w.r.t. ``x``."""
    apply = kernex.kmap(**kw)(f)
    got, grads = _values_and_grads(apply, x)
    expected, expected_grads = _values_and_grads(lambda x: kmap_reference_vectorized(x, f, **kw), x)
    _close(got, expected)
    _close(grads, expected_grads)
    return apply, expected


@pytest.mark.parametrize("size, reduction, padding, strides", list(_box_cases()))
def test_box_reductions(request, size, reduction, padding, strides):
    shape, kernel = _size(request, size)
    kw = dict(kernel_size=kernel, strides=strides, padding=padding)
    f = REDUCTIONS[reduction]
    x = random_array(0, shape, np.float32)
    apply, expected = check_kmap(f, kw, x)
    # separable passes over the boxes: no gather, no convolution, no patch tensor
    assert not primitive_names(jax.jit(apply), x) & {"gather", "conv_general_dilated"}
    assert_no_patch_tensor(apply, x, kernel, expected.shape)


def test_vectorized_reference_agrees_with_the_loop_on_a_large_window():
    kw = dict(kernel_size=(17, 17), strides=(2, 3), padding=((-2, 1), (3, -1)))
    x = random_array(0, (21, 19), np.float32)
    _close(kmap_reference_vectorized(x, jnp.mean, **kw), kmap_reference(x, jnp.mean, **kw))


@pytest.mark.parametrize("size", [3, 17, 25])
def test_box_filters_match_scipy(size):
    """'same', odd kernels, zero padding: the window is centred like scipy's filters with mode='constant'."""
    x = random_array(1, (27, 30), np.float32)
    kw = dict(kernel_size=(size, size), padding="same")
    xs = np.asarray(x, np.float64)
    scipy_filters = {
        jnp.mean: scipy.ndimage.uniform_filter(xs, size, mode="constant"),
        jnp.max: scipy.ndimage.maximum_filter(xs, size, mode="constant"),
        jnp.min: scipy.ndimage.minimum_filter(xs, size, mode="constant"),
    }
    for f, expected in scipy_filters.items():
        np.testing.assert_allclose(np.asarray(kernex.kmap(**kw)(f)(x)), expected, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- weighted sums


def _gauss(n, sigma):
    return np.exp(-0.5 * ((np.arange(n) - (n - 1) / 2) / sigma) ** 2).astype(np.float32)


def _weights(kind, kernel):
    rng = np.random.default_rng(5)
    if kind == "box":
        return np.ones(kernel, np.float32)
    if kind == "box-scaled":
        return np.full(kernel, 1.0 / np.prod(kernel), np.float32)
    if kind == "gauss":
        return _outer(*[_gauss(k, k / 4) for k in kernel]).astype(np.float32)
    if kind == "rank1-signed":
        return _outer(*[rng.standard_normal(k) for k in kernel]).astype(np.float32)
    return rng.standard_normal(kernel).astype(np.float32)  # non-separable


WEIGHT_KINDS = ["box", "box-scaled", "gauss", "rank1-signed", "dense"]
CORRELATION_PADDINGS = ["same", ((-1, 2), (4, 0))]


@pytest.mark.parametrize("strides", [1, pytest.param((3, 2), marks=pytest.mark.long)], ids=["s1", "s32"])
@pytest.mark.parametrize("padding", CORRELATION_PADDINGS, ids=str)
@pytest.mark.parametrize("kind", WEIGHT_KINDS)
@pytest.mark.parametrize("size", SIZES)
def test_weighted_sum_with_constant_weights(request, size, kind, padding, strides):
    shape, kernel = _size(request, size)
    W = _weights(kind, kernel)
    f = lambda v: jnp.sum(v * W)  # noqa: E731  (W: a concrete uniform)
    kw = dict(kernel_size=kernel, strides=strides, padding=padding)
    x = random_array(2, shape, np.float32)
    apply, expected = check_kmap(f, kw, x)
    _close(apply(x), expected)  # eagerly too
    names = primitive_names(jax.jit(apply), x)
    assert "gather" not in names
    separable = kind != "dense"
    assert ("conv_general_dilated" in names) != separable, names  # separable passes, or one correlation


@pytest.mark.parametrize("size", SIZES)
def test_weighted_sum_with_traced_weights(request, size):
    """Weights as an extra argument: under jit they are a tracer (a correlation with traced weights);
    gradients w.r.t. the input and the weights; vmap over a batch of weights."""
    shape, kernel = _size(request, size)
    kw = dict(kernel_size=kernel, strides=(2, 1), padding=((3, 1), "same"))
    f = lambda v, w: jnp.sum(v * w) + 0.5  # noqa: E731
    x = random_array(3, shape, np.float32)
    w = random_array(4, kernel, np.float32)
    apply = kernex.kmap(**kw)(f)
    got, grads = _values_and_grads(apply, x, w, argnums=(0, 1))
    ref = lambda x, w: kmap_reference_vectorized(x, f, args=(w,), **kw)  # noqa: E731
    expected, expected_grads = _values_and_grads(ref, x, w, argnums=(0, 1))
    _close(got, expected)
    for g, e in zip(grads, expected_grads):
        _close(g, e)
    ws = np.stack([w, -2 * w, _weights("gauss", kernel)])
    batched = jax.jit(jax.vmap(apply, in_axes=(None, 0)))(x, ws)
    _close(batched, jax.vmap(ref, in_axes=(None, 0))(x, ws))


@pytest.mark.parametrize("size", [17, 25])
def test_weighted_sums_match_scipy_correlate(size):
    x = random_array(6, (26, 29), np.float32)
    kernel = (size, size)
    kw = dict(kernel_size=kernel, padding="same")
    for kind in ["gauss", "rank1-signed", "dense"]:
        W = _weights(kind, kernel)
        expected = scipy.ndimage.correlate(np.asarray(x, np.float64), W.astype(np.float64), mode="constant")
        np.testing.assert_allclose(np.asarray(kernex.kmap(**kw)(lambda v: jnp.sum(v * W))(x)), expected, atol=2e-4)
        traced = jax.jit(kernex.kmap(**kw)(lambda v, w: jnp.sum(v * w)))(x, W)
        np.testing.assert_allclose(np.asarray(traced), expected, atol=2e-4)


@pytest.mark.parametrize("shape, kernel", [((80,), (67,)), ((70, 5), (65, 3))], ids=["1d-67", "2d-65x3"])
def test_more_than_64_taps_per_axis(shape, kernel):
    """Separable weights with more than 64 taps on an axis take the 1-D convolution branch."""
    W = _outer(*[_gauss(k, k / 6) for k in kernel]).astype(np.float32)
    f = lambda v: jnp.sum(v * W)  # noqa: E731
    kw = dict(kernel_size=kernel, strides=2, padding="same")
    check_kmap(f, kw, x=random_array(7, shape, np.float32))


@pytest.mark.parametrize(
    "name", ["tensordot", "vdot", "ravel-matmul", "weights-first"], ids=lambda n: n
)
@pytest.mark.parametrize("traced", [False, True], ids=["constant", "traced"])
def test_contractions_with_weights_over_a_large_window_are_correlations(name, traced):
    """``jnp.tensordot(v, w, 2)`` & co. on a 17x17 window: one correlation, not 289 unrolled products."""
    f = {
        "tensordot": lambda v, w: jnp.tensordot(v, w, 2),
        "vdot": lambda v, w: jnp.vdot(v, w),
        "ravel-matmul": lambda v, w: v.ravel() @ w.ravel(),
        "weights-first": lambda v, w: jnp.tensordot(w, v, 2),
    }[name]
    x = random_array(13, (21, 19), np.float32)
    W = _weights("dense", (17, 17))
    kw = dict(kernel_size=(17, 17), strides=(1, 2), padding="same")
    apply = kernex.kmap(**kw)(f)
    fn = (lambda x, w: apply(x, w)) if traced else (lambda x, w: apply(x, W))
    got, (gx, gw) = _values_and_grads(fn, x, W, argnums=(0, 1))
    ref = lambda x, w: kmap_reference_vectorized(x, f, args=(w,), **kw)  # noqa: E731
    expected, (ex, ew) = _values_and_grads(ref, x, W, argnums=(0, 1))
    _close(got, expected)
    _close(gx, ex)
    if traced:
        _close(gw, ew, atol=1e-3)
    names = primitive_names(fn, x, W)
    assert "conv_general_dilated" in names and "dot_general" not in names, names
    assert largest_intermediate(fn, x, W) <= 4 * x.size


def test_the_seed_average_blur_25x25_is_a_box_filter():
    """The seed's 25x25 AverageBlur function: ones / 625 weights, float32 sum of a uint8 image."""
    x = jnp.asarray(np.random.default_rng(0).integers(0, 256, (30, 32)), jnp.uint8)

    def blur(v):
        kernel = jnp.ones([25, 25]) / jnp.array((25, 25)).prod()
        return jnp.sum(v * kernel, dtype=jnp.float32)

    apply = kernex.kmap(kernel_size=(25, 25), padding="same")(blur)
    expected = scipy.ndimage.uniform_filter(np.asarray(x, np.float64), 25, mode="constant")
    np.testing.assert_allclose(np.asarray(jax.jit(apply)(x)), expected, rtol=1e-5, atol=1e-3)
    names = primitive_names(jax.jit(apply), x)
    assert "conv_general_dilated" not in names and "gather" not in names, names


# ----------------------------------------------------------------------------- integer inputs


INT_FUNCTIONS = {
    "sum": jnp.sum,
    "max": jnp.max,
    "min": jnp.min,
    "mean": jnp.mean,
    "row-sums": lambda v: v.sum(axis=1),
    "box-weights-int": lambda v: jnp.sum(v * np.full(v.shape, 3, np.int32)),
    "dense-weights-int": lambda v: jnp.sum(v * (np.arange(v.size, dtype=np.int32).reshape(v.shape) % 5)),
}


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.int8], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", INT_FUNCTIONS)
@pytest.mark.parametrize("size", SIZES)
def test_integer_inputs(request, size, name, dtype):
    shape, kernel = _size(request, size)
    kw = dict(kernel_size=kernel, strides=(1, 2), padding=((2, -1), "same"))
    x = np.random.default_rng(8).integers(0 if dtype == np.uint8 else -20, 21, shape).astype(dtype)
    f = INT_FUNCTIONS[name]
    expected = kmap_reference_vectorized(x, f, **kw)
    _close(jax.jit(kernex.kmap(**kw)(f))(x), expected)
    if size == "small":  # eagerly too (op-by-op dispatch of a 17x17 window is slow)
        _close(kernex.kmap(**kw)(f)(x), expected)


@pytest.mark.parametrize(
    "factors",
    [([1, 1, 1], [1, 2, 1]), ([1, 2, 1], [1, 2, 1]), ([2, 4, 2], [1, 3, 1])],
    ids=["box-x-121", "121-x-121", "242-x-131"],
)
@pytest.mark.parametrize("traced", [False, True], ids=["constant", "traced"])
def test_integer_inputs_with_separable_integer_weights(limit_2, factors, traced):
    """Integer image, integer rank-1 weights: the result is an exact integer correlation.

    The separable factors are normalised by the largest weight (e.g. [1, 2, 1] x [.5, 1, .5]); the
    fractional taps must not be cast to the integer dtype.
    """
    W = np.outer(*factors).astype(np.int32)
    x = np.arange(1, 26, dtype=np.int32).reshape(5, 5)
    kw = dict(kernel_size=(3, 3), padding="same")
    f = lambda v, w: jnp.sum(v * w)  # noqa: E731
    expected = kmap_reference(x, f, args=(W,), **kw)
    expected_scipy = scipy.ndimage.correlate(x, W, mode="constant")
    np.testing.assert_array_equal(expected, expected_scipy)
    apply = kernex.kmap(**kw)(f)
    got = jax.jit(apply)(x, W) if traced else apply(x, W)  # eager: W is a concrete uniform
    _close(got, expected)


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, jnp.bfloat16], ids=lambda d: jnp.dtype(d).name)
def test_reduce_window_identities_over_more_than_64_taps(dtype):
    """A 70-tap axis takes lax.reduce_window, whose init must be the reduction's identity in the dtype.

    (or: no bit set; and: every bit set, -1 for signed integers; max/min: the dtype's extremes, also bfloat16.)
    """
    rng = np.random.default_rng(12)
    x = rng.integers(0 if dtype == np.uint8 else -9, 10, (100, 6)).astype(dtype)
    kw = dict(kernel_size=(70, 5))
    functions = {"max": jnp.max, "min": jnp.min}
    if jnp.issubdtype(dtype, jnp.integer):
        functions.update(
            {"or": lambda v: jnp.bitwise_or.reduce(v, axis=None), "and": lambda v: jnp.bitwise_and.reduce(v, axis=None)}
        )
    for name, f in functions.items():
        _close(jax.jit(kernex.kmap(**kw)(f))(x), kmap_reference_vectorized(x, f, **kw))


def test_real_17x17_window_with_separable_integer_weights():
    """Same as above without monkeypatching: a real 17x17 window of integers."""
    W = np.outer(np.ones(17, np.int32), np.arange(1, 18, dtype=np.int32))
    x = np.random.default_rng(9).integers(-3, 4, (18, 20)).astype(np.int32)
    f = lambda v: jnp.sum(v * W)  # noqa: E731
    kw = dict(kernel_size=(17, 17), padding="same")
    _close(kernex.kmap(**kw)(f)(x), kmap_reference_vectorized(x, f, **kw))


def test_boolean_inputs(limit_2):
    """any/all have no box plan (the dense fallback, slow to compile for real large windows)."""
    shape, kernel = SIZES["small"]
    kw = dict(kernel_size=kernel, padding="same")
    x = np.random.default_rng(10).random(shape) > 0.7
    for f in [jnp.any, jnp.all, jnp.max, jnp.min, jnp.sum]:
        _close(kernex.kmap(**kw)(f)(x), kmap_reference_vectorized(x, f, **kw))


# ----------------------------------------------------------------------------- mixed and derived windows


@pytest.mark.parametrize("size", SIZES)
def test_derived_sources_and_partial_boxes(request, size):
    """Reductions of elementwise functions of the window (source-level ops), of sub-boxes and of rows,
    and a weighted sum of a derived source, with relative indexing."""
    shape, kernel = _size(request, size)
    kw = dict(kernel_size=kernel, strides=(2, 1), padding="same", relative=True)
    x = random_array(11, shape, np.float32)
    W = _weights("gauss", kernel)

    def f(v):
        t = jnp.tanh(v)
        return (
            jnp.mean(t * t)
            + jnp.max(jnp.abs(v[-3:, :4]))  # relative: cells (k-3-c.., c..c+3), a box
            + v.sum(axis=0).max()
            + jnp.sum(jnp.exp(-v * v) * W)
            # not a box: the dense fallback (slow to compile for a real 17x17 window, so small only)
            - (jnp.min(v[:, ::2]) if size == "small" else 0.0)
        )

    check_kmap(f, kw, x)


@pytest.mark.parametrize(
    "f", [jnp.mean, jnp.max, lambda v: jnp.sum(v * _weights("gauss", v.shape))], ids=["mean", "max", "gauss"]
)
def test_25x25_windows_do_not_build_a_patch_tensor(f):
    """25x25 windows on a 40x40 image, forward and gradient."""
    x = random_array(12, (40, 40), np.float32)
    apply = kernex.kmap(kernel_size=(25, 25), padding="same")(f)
    assert_no_patch_tensor(apply, x, (25, 25), (40, 40))
    assert_no_patch_tensor(jax.grad(lambda x: jnp.sum(apply(x) ** 2)), x, (25, 25), (40, 40))
