"""kernex.ndimage's order-statistic filters (``kernex/_src/ndimage/rank.py``) against scipy.ndimage.

Minimum/maximum (1-D, separable ``size``, non-separable ``footprint``), rank,
median, percentile and generic filters are compared with scipy 1.17 in every
mode for float32/uint8/int32 data of rank 1-3 and two origins (``KERNEX_LONG=1``:
the full product). NaN, where scipy leaves it undefined, follows the documented
rule (minima/maxima propagate it, sorts put it last), checked against NumPy.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage as sn
from ndimage_cases import CVAL, assert_matches, check_batch, covering, data, full_product, run_matrix

import kernex.ndimage as kn
from kernex._src.ndimage.args import MODES as MODE_MAP

FP = np.array([[1, 0, 1], [1, 1, 0]], bool)


def _footprint(nd):
    return FP[(slice(None),) * min(nd, 2)].reshape(FP.shape[: min(nd, 2)] + (1,) * (nd - 2)) if nd > 1 else FP[0]


def _generic(v):
    return v.max() - 0.5 * v[0] + v[-1] * 0.25  # works on NumPy (scipy) and JAX (kernex) arrays alike


def _make(name):
    def make(mode, shape, dtype, origin):
        x = data(shape, dtype)
        nd = len(shape)
        kw = dict(mode=mode, cval=CVAL)
        if name == "minimum_filter1d":
            return name, (x, 3), dict(kw, origin=origin, axis=0)
        if name == "maximum_filter1d":
            return name, (x, 4), dict(kw, origin=origin)
        if name == "minimum_filter":
            return name, (x,), dict(kw, size=(3, 2, 2)[:nd], origin=(origin, -1, 0)[:nd])
        if name == "maximum_filter":  # a non-separable footprint
            return name, (x,), dict(kw, footprint=_footprint(nd), origin=(-origin, -origin, 0)[:nd])
        if name == "median_filter":
            return name, (x,), dict(kw, size=3, origin=origin)
        if name == "rank_filter":
            return name, (x, -2), dict(kw, footprint=_footprint(nd), origin=(-origin, -origin, 0)[:nd])
        if name == "percentile_filter":
            return name, (x, 30), dict(kw, size=(2, 3, 2)[:nd], origin=-origin)
        if name == "generic_filter":
            return name, (x, _generic), dict(kw, size=(3, 1, 2)[:nd], origin=(origin, 0, -origin)[:nd])
        raise AssertionError(name)

    return make


NAMES = ["minimum_filter1d", "maximum_filter1d", "minimum_filter", "maximum_filter", "median_filter", "rank_filter",
         "percentile_filter", "generic_filter"]  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_matches_scipy(name):
    run_matrix(covering(NAMES.index(name)), _make(name))


@pytest.mark.long
@pytest.mark.parametrize("name", NAMES)
def test_matches_scipy_full_product(name):
    run_matrix(full_product(), _make(name))


def test_scipy_suite_facts_and_dispatch():
    """scipy's test_minimum_filter01-09 numbers; rank 0 / n-1 and median of 1-2 cells are min/max (mode tuples then
    work on full boxes, as in scipy); cval outside an integer dtype's range behaves as scipy's double comparison."""
    a = np.array([[3, 2, 5, 1, 4], [7, 6, 9, 3, 5], [5, 8, 3, 7, 1]])
    fp = np.array([[1, 0, 1], [1, 1, 0]])
    assert kn.minimum_filter(jnp.array([1, 2, 3, 4, 5]), [2]).tolist() == [1, 1, 2, 3, 4]
    assert kn.minimum_filter(jnp.array([3, 2, 5, 1, 4]), [3]).tolist() == [2, 2, 1, 1, 1]
    assert kn.minimum_filter(jnp.asarray(a), [2, 3]).tolist() == [[2, 2, 1, 1, 1], [2, 2, 1, 1, 1], [5, 3, 3, 1, 1]]
    assert kn.minimum_filter(jnp.asarray(a), footprint=fp).tolist() == [[2, 2, 1, 1, 1], [2, 3, 1, 3, 1], [5, 5, 3, 3, 1]]
    assert kn.minimum_filter(jnp.asarray(a), footprint=fp, origin=-1).tolist() == [
        [3, 1, 3, 1, 1], [5, 3, 3, 1, 1], [3, 3, 1, 1, 1]]  # fmt: skip
    x = data((5, 6), np.uint8)
    check_batch([
        ("minimum_filter", (x,), dict(footprint=np.ones((2, 3)), mode=["reflect", "wrap"])),
        ("rank_filter", (x, 0), dict(size=(2, 2), mode=("nearest", "mirror"))),
        ("rank_filter", (x, -1), dict(size=(3, 1), mode=("constant", "wrap"), cval=7)),
        ("median_filter", (x,), dict(size=(2, 1), mode=("constant", "wrap"), cval=300)),
        ("percentile_filter", (x, -20), dict(size=3)),
        ("percentile_filter", (x, 100), dict(size=3, mode="wrap")),
        *[(f, (x.astype(dt),), dict(size=3, mode="constant", cval=c))
          for f in ("minimum_filter", "maximum_filter") for dt in (np.uint8, np.int32)
          for c in (np.inf, -np.inf, 300.0, -5.5, 1e12)],
        *[(f, (x,), dict(footprint=fp, mode="constant", cval=c)) for f in ("minimum_filter", "maximum_filter")
          for c in (np.inf, -5.5, 300.0)],
        ("median_filter", (x,), dict(footprint=fp, axes=(1, 0), origin=(0, 1))),  # all axes: origins in axis order
        ("generic_filter", (x.astype(np.float32), _generic), dict(size=(3, 2), axes=(1, 0), mode="mirror")),
        ("median_filter", (data((3, 4, 5), np.float32),), dict(size=(3, 2), axes=(0, 2), origin=(1, 0))),
    ])  # fmt: skip


def test_one_dimensional_rank_windows_wider_than_the_axis():
    """scipy's 1-D rank code disagrees with its own N-D code when a window reaches past the far edge; kernex
    follows the N-D code (the same input seen as shape (1, n))."""
    x = np.array([3.0, 1.0], np.float32)
    got = kn.median_filter(jnp.asarray(x), size=3, mode="mirror", origin=1)
    expected = sn.median_filter(x[None], size=(1, 3), mode="mirror", origin=(0, 1))[0]
    assert got.tolist() == expected.tolist() == [3.0, 1.0]
    assert sn.median_filter(x, size=3, mode="mirror", origin=1).tolist() == [1.0, 1.0]  # scipy's 1-D path


def _windows(x, shape, mode, cval=0.0):
    """All windows (scipy placement, origin 0) of a NumPy array, flattened: the brute-force reference."""
    pads = [(s // 2, s - 1 - s // 2) for s in shape]
    m = MODE_MAP[mode]
    p = np.pad(x, pads, mode="constant", constant_values=cval) if m == "constant" else np.pad(x, pads, mode=m)
    return np.lib.stride_tricks.sliding_window_view(p, shape).reshape(x.shape + (-1,))


def test_nan_rule_and_inf():
    """NaN: minima/maxima propagate it, sorts put it last (scipy leaves NaN undefined); inf follows scipy."""
    x = np.array([[1.0, np.nan, 3.0, 0.5], [4.0, 5.0, -np.inf, 2.0], [np.inf, 0.0, 1.5, 7.0]], np.float32)
    xj = jnp.asarray(x)
    w = _windows(x, (2, 3), "nearest")
    got = jax.jit(lambda v: [
        kn.minimum_filter(v, (2, 3), mode="nearest"), kn.maximum_filter(v, footprint=np.ones((2, 3)), mode="nearest"),
        kn.median_filter(v, (2, 3), mode="nearest"), kn.rank_filter(v, 4, (2, 3), mode="nearest"),
    ])(xj)  # fmt: skip
    np.testing.assert_array_equal(got[0], w.min(-1))
    np.testing.assert_array_equal(got[1], w.max(-1))
    np.testing.assert_array_equal(got[2], np.sort(w, -1)[..., 3])
    np.testing.assert_array_equal(got[3], np.sort(w, -1)[..., 4])
    finite = np.where(np.isnan(x), 2.0, x).astype(np.float32)  # inf without NaN: scipy's numbers
    check_batch([(f, (finite,), dict(size=(2, 3), mode="mirror")) for f in ("minimum_filter", "maximum_filter", "median_filter")])


def test_generic_filter_arguments_jit_and_gradient():
    x = data((6, 7), np.float32)
    a = np.arange(9.0, dtype=np.float32) - 4
    fn = lambda v, a, scale=1.0: scale * jnp.sum(v * a)  # noqa: E731
    ref = sn.correlate(x, (a * 2).reshape(3, 3), mode="wrap")
    got = kn.generic_filter(jnp.asarray(x), fn, size=3, mode="wrap", extra_arguments=(a,), extra_keywords={"scale": 2.0})
    assert_matches(got, ref, rtol=1e-5)
    ct = jnp.asarray(data((6, 7), np.float32, seed=2))

    @jax.jit
    def grads(x, a):  # a traced extra argument, differentiated; the input, differentiated
        ga = jax.grad(lambda a: jnp.sum(kn.generic_filter(x, fn, size=3, mode="wrap", extra_arguments=(a,)) * ct))(a)
        gx = jax.grad(lambda x: jnp.sum(kn.generic_filter(x, fn, size=3, mode="wrap", extra_arguments=(a,)) * ct))(x)
        gx_ref = jax.grad(lambda x: jnp.sum(kn.correlate(x, a.reshape(3, 3), mode="wrap") * ct))(x)
        return ga, gx, gx_ref

    ga, gx, gx_ref = grads(jnp.asarray(x), jnp.asarray(a))
    windows = _windows(x, (3, 3), "wrap")
    np.testing.assert_allclose(ga, np.einsum("ijk,ij->k", windows, np.asarray(ct)), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(gx, gx_ref, rtol=1e-5, atol=1e-4)


def test_gradients_of_order_statistics():
    """The gradient of a median/maximum goes to the selected cell (distinct values: no ties), as jnp.sort's/max's."""
    x = jnp.asarray(np.random.default_rng(3).permutation(42).reshape(6, 7).astype(np.float32))
    ct = jnp.asarray(data((6, 7), np.float32, seed=5))

    def by_hand(v, select):
        p = jnp.pad(v, 1, mode="symmetric")
        cells = jnp.stack([p[i : i + 6, j : j + 7] for i in range(3) for j in range(3)], -1)
        return select(cells)

    @jax.jit
    def grads(x):
        loss = lambda f: jax.grad(lambda v: jnp.sum(f(v) * ct))(x)  # noqa: E731
        return [loss(lambda v: kn.median_filter(v, 3)), loss(lambda v: by_hand(v, lambda c: jnp.sort(c, -1)[..., 4])),
                loss(lambda v: kn.maximum_filter(v, 3)), loss(lambda v: by_hand(v, lambda c: c.max(-1)))]  # fmt: skip

    g = grads(x)
    for got, ref in zip(g[::2], g[1::2]):
        np.testing.assert_allclose(got, ref, rtol=1e-6)
