"""kernex.ndimage's linear filters (``kernex/_src/ndimage/filters.py`` and ``linear.py``) against scipy.ndimage.

Every function is compared with scipy 1.17 on the same data, in every mode, for
1-D/2-D/3-D float32, uint8 and int32 inputs and two origins (the default run
covers each mode once per function; ``KERNEX_LONG=1`` runs the full product).
Under x64 the results are bitwise scipy's (same double arithmetic in the same
order). Gradients are checked against a hand-written ``jnp.pad`` + slices
reference and against the adjoint identity.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage as sn
from ndimage_cases import CVAL, assert_matches, check_batch, covering, data, full_product, run_matrix, x64

import kernex.ndimage as kn
from kernex._src.ndimage.args import MODES as MODE_MAP

W1 = [0.5, -1.0, 2.0, 0.25]  # exact in float32: integer data give exact sums in 32-bit mode too


def _make(name):
    def make(mode, shape, dtype, origin):
        x = data(shape, dtype)
        nd = len(shape)
        kw = dict(mode=mode, cval=CVAL)
        if name == "correlate1d":
            return name, (x, W1), dict(kw, axis=0, origin=origin)
        if name == "convolve1d":
            return name, (x, [1, 2, 3]), dict(kw, axis=-1, origin=origin)
        if name == "correlate":
            return name, (x, np.arange(3.0**nd).reshape((3,) * nd) - 4), dict(kw, origin=origin)
        if name == "convolve":
            return name, (x, np.arange(1.0, 1 + 2**nd).reshape((2,) * nd) / 4), dict(kw, origin=-origin)
        if name == "uniform_filter":
            return name, (x,), dict(kw, size=3, origin=origin)
        if name == "uniform_filter1d":
            return name, (x, 4), dict(kw, origin=origin)
        if name == "gaussian_filter":
            return name, (x, 1.0 if origin else [0.5, 0.8, 1.2][:nd]), dict(kw, truncate=3.0)
        if name == "gaussian_filter1d":
            return name, (x, 1.0), dict(kw, order=origin, axis=0)
        raise AssertionError(name)

    return make


NAMES = ["correlate1d", "convolve1d", "correlate", "convolve", "uniform_filter", "uniform_filter1d", "gaussian_filter",
         "gaussian_filter1d"]  # fmt: skip
# Gaussian weights are not exact in float32: integer results may differ by one where scipy's double lies within
# float32 rounding of an integer (exact under x64: test_x64_bitwise)
INT_TOL = {"gaussian_filter": 1, "gaussian_filter1d": 1}


@pytest.mark.parametrize("name", NAMES)
def test_matches_scipy(name):
    """Four modes, the three dtypes and ranks and both origins (ndimage_cases.covering)."""
    run_matrix(covering(NAMES.index(name)), _make(name), int_tol=INT_TOL.get(name, 0))


@pytest.mark.long
@pytest.mark.parametrize("name", NAMES)
def test_matches_scipy_full_product(name):
    run_matrix(full_product(), _make(name), int_tol=INT_TOL.get(name, 0))


def test_x64_bitwise():
    """With 64-bit types scipy's numbers come out bit for bit (uniform's running sum aside)."""
    with x64():
        cases = []
        for dtype in (np.float64, np.uint8, np.int32, np.float32):
            x = data((6, 7), dtype, seed=3)
            cases += [
                ("correlate1d", (x, [0.1, 0.7, -0.3]), dict(mode="constant", cval=1.5)),
                ("convolve", (x, np.arange(1.0, 5).reshape(2, 2) / 3), dict(mode="mirror")),
                ("gaussian_filter", (x, 1.3), dict(mode="nearest", truncate=2.5)),
                ("gaussian_filter", (x, 0.9), dict(order=(1, 2), mode="wrap")),
                ("gaussian_filter1d", (x, 0.7), dict(order=3, truncate=2.0)),
            ]
        check_batch(cases, rtol=0.0, chunk=len(cases))  # rtol 0: equal
        x = data((6, 7), np.float64, seed=3)
        check_batch([("uniform_filter", (x,), dict(size=4))], rtol=1e-13)


_FACTS = [  # (function, input, args, kwargs, expected): scipy's test_filters.py (test_correlate01-04, test_uniform01-06)
    *[(f, [1, 2], ([2],), {}, [2, 4]) for f in ("correlate", "convolve", "correlate1d", "convolve1d")],
    *[(f, [1, 2, 3], ([1],), {}, [1, 2, 3]) for f in ("correlate", "convolve", "correlate1d", "convolve1d")],
    *[(f, [1], ([1, 1],), {}, [2]) for f in ("correlate", "convolve", "correlate1d", "convolve1d")],  # window > axis
    ("correlate", [1, 2], ([1, 1],), {}, [2, 3]),
    ("convolve", [1, 2], ([1, 1],), {}, [3, 4]),
    ("uniform_filter1d", [2, 4, 6], (2,), dict(origin=-1), [3, 5, 6]),
    ("uniform_filter", [1, 2, 3], ([0],), {}, [1, 2, 3]),
    ("uniform_filter", [2, 4, 6], ([2],), {}, [2, 3, 5]),
    *[("uniform_filter", np.array([[4, 8, 12], [16, 20, 24]], a), ([2, 2],), dict(output=o), [[4, 6, 10], [10, 12, 16]])
      for a, o in [(np.uint8, np.float32), (np.float32, np.int16), (np.int32, np.uint8)]],
    ("gaussian_filter", np.zeros(1, np.float32), (1,), dict(order=3), [0.0]),
]


def test_scipy_suite_facts():
    inputs = [jnp.asarray(x) for _, x, _, _, _ in _FACTS]
    got = jax.jit(lambda xs: [getattr(kn, f)(x, *a, **k) for x, (f, _, a, k, _) in zip(xs, _FACTS)])(inputs)
    for g, (f, x, a, k, expected) in zip(got, _FACTS):
        assert g.tolist() == expected, (f, x, a, k)
        assert g.dtype == np.dtype(k.get("output", np.asarray(x).dtype if np.asarray(x).dtype != np.int64 else np.int32))
    c = kn.uniform_filter1d(jnp.array([2 + 1j, 4 + 2j, 6 + 3j], jnp.complex64), 2, origin=-1)
    np.testing.assert_allclose(np.asarray(c), [3 + 1.5j, 5 + 2.5j, 6 + 3j])
    assert kn.uniform_filter(jnp.array([], jnp.float32), [1]).shape == (0,)
    with pytest.raises(ValueError, match="order"):
        kn.gaussian_filter(jnp.zeros(1), 1, -1)


def test_output_dtype_axes_and_per_axis_arguments():
    """Passes are stored in the output dtype (uint8 truncates between passes, float32 does not); axes, per-axis
    sizes, modes, origins, sigmas, orders and radii follow scipy."""
    x = data((7, 9), np.uint8, seed=5)
    x3 = data((3, 4, 5), np.float32)
    check_batch([
        *[("uniform_filter", (x,), dict(size=(3, 2), output=o, mode="wrap")) for o in (None, np.float32, np.int16)],
        ("correlate1d", (data((9,), np.float32) * 30, [1.0, -2.0, 0.5]), dict(output=np.int8)),
        ("uniform_filter", (x3,), dict(size=(3, 2), axes=(2, 0), mode=("wrap", "nearest"), origin=(1, 0))),
        ("gaussian_filter", (x3, (1.0, 0.5)), dict(axes=(-1, 1), order=(1, 0), mode=("mirror", "constant"), cval=1.0)),
        ("gaussian_filter", (x3, 1.0), dict(radius=(1, 2, 3), truncate=1.0)),
        ("gaussian_filter", (x3, (0.0, 1.0, 0.0)), {}),  # sigma-0 axes are skipped
        ("correlate", (x3, np.ones((2, 3)) / 6), dict(axes=(0, 2), origin=(-1, 1), mode="grid-wrap")),
        ("convolve", (x3, np.arange(6.0).reshape(2, 3)), dict(axes=(1, 2), mode="mirror")),
    ])  # fmt: skip
    check_batch([("gaussian_filter", (data((7, 9), np.float32) * 3,), dict(sigma=1.0, output=np.uint8))], int_tol=1)


def test_nan_and_inf_follow_scipy():
    """Every weight takes part in 1-D passes (NaN under a zero weight spreads); N-D drops zero weights."""
    x = np.array([1.0, 2.0, np.nan, 4.0, np.inf, 6.0, -np.inf, 8.0, 9.0], np.float32)
    cases = [("gaussian_filter", (x, 1.0), {})]
    for w in ([1.0, 0.0, 1.0], [-1.0, 0.0, 1.0], [0.5, 2.0, 0.0, 1.0], [0.0, 1.0, 0.0]):
        cases += [("correlate1d", (x, w), dict(mode="nearest")), ("correlate", (x, np.array(w)), dict(mode="nearest"))]
    check_batch(cases)


def test_uniform_nan_stays_local():
    """A documented difference: scipy's running sum spreads a NaN to the rest of the line; kernex's does not."""
    x = np.array([1.0, 2.0, np.nan, 4.0, 5.0, 6.0, 7.0, 8.0], np.float32)
    got = np.asarray(kn.uniform_filter1d(jnp.asarray(x), 3))
    padded = np.pad(x, 1, mode="symmetric")
    expected = np.array([padded[i : i + 3].mean() for i in range(x.size)], np.float32)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert np.isnan(sn.uniform_filter1d(x, 3)[-1]) and not np.isnan(got[-1])


def test_complex_data_and_weights():
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((5, 6)) + 1j * rng.standard_normal((5, 6))).astype(np.complex64)
    w = (rng.standard_normal(3) + 1j * rng.standard_normal(3)).astype(np.complex64)
    check_batch([
        ("correlate1d", (x, w), dict(mode="wrap", cval=1 + 2j)),
        ("convolve1d", (x, w), dict(mode="constant", cval=1 - 1j)),
        ("correlate", (x.real.copy(), np.outer(w, w)), dict(mode="mirror")),
        ("convolve", (x, np.outer(w, w.conj())), dict(mode="nearest")),
        ("gaussian_filter", (x, 1.0), {}),
        ("uniform_filter", (x, 3), dict(mode="constant", cval=2j)),
    ])  # fmt: skip


def test_traced_weights_under_jit_and_their_gradient():
    x = data((7, 9), np.float32)
    w = np.arange(6.0).reshape(2, 3) - 2
    ct = jnp.asarray(data((7, 9), np.float32, seed=9))

    @jax.jit
    def run(x, w, w1):
        loss = lambda f: jax.grad(lambda w: jnp.sum(f(x, w) * ct))(w)
        return (kn.correlate(x, w, mode="nearest", origin=(-1, 1)), kn.convolve1d(x, w1, axis=0, mode="wrap"),
                loss(lambda x, w: kn.correlate(x, w, mode="mirror")), loss(lambda x, w: _pad_correlate(x, w, "mirror", 0.0)))

    a, b, gw, gw_ref = run(jnp.asarray(x), jnp.asarray(w, jnp.float32), jnp.array([1.0, 2.0, -1.0]))
    assert_matches(a, sn.correlate(x, w, mode="nearest", origin=(-1, 1)))
    assert_matches(b, sn.convolve1d(x, [1.0, 2.0, -1.0], axis=0, mode="wrap"))
    np.testing.assert_allclose(gw, gw_ref, rtol=1e-5, atol=1e-3)


def _pad_correlate(x, w, mode, cval, origins=None):
    """Hand-written reference: jnp.pad with the mode, then a sum of shifted slices."""
    origins = origins or [0] * x.ndim
    pads = [(s // 2 + o, s - 1 - s // 2 - o) for s, o in zip(w.shape, origins)]
    jmode = MODE_MAP[mode]
    if jmode == "constant":  # built by hand: jnp.pad gives no gradient to a traced constant_values (jax 0.10)
        p = jnp.full([n + lo + hi for n, (lo, hi) in zip(x.shape, pads)], cval, x.dtype)
        p = p.at[tuple(slice(lo, lo + n) for n, (lo, _) in zip(x.shape, pads))].set(x)
    else:
        p = jnp.pad(x, pads, mode=jmode)
    out = jnp.zeros(x.shape, x.dtype)
    for idx in np.ndindex(*w.shape):
        out = out + w[idx] * p[tuple(slice(i, i + n) for i, n in zip(idx, x.shape))]
    return out


def test_gradient_matches_hand_written_padding():
    x = jnp.asarray(data((6, 7), np.float32))
    ct = jnp.asarray(data((6, 7), np.float32, seed=4))
    w = np.array([[1.0, -2.0, 0.5], [0.25, 3.0, -1.0]])
    modes = ("reflect", "mirror", "wrap", "constant")

    @jax.jit
    def grads(x, c):
        out = []
        for f in (lambda x, c, m: kn.correlate(x, w, mode=m, cval=c, origin=(-1, 1)),
                  lambda x, c, m: _pad_correlate(x, w, m, c, [-1, 1])):  # fmt: skip
            out.append([jax.grad(lambda x: jnp.sum(f(x, c, m) * ct))(x) for m in modes])
            out.append(jax.grad(lambda c: jnp.sum(f(x, c, "constant") * ct))(c))  # with respect to cval
        return out

    got, got_c, ref, ref_c = grads(x, 1.5)
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(got_c, ref_c, rtol=1e-5)


def test_gradient_of_separable_filters_is_their_adjoint():
    """For a linear filter G, <G x, c> = <x, grad_x <G x, c>> (the gradient is G's transpose)."""
    x = jnp.asarray(data((5, 8), np.float32))
    c = jnp.asarray(data((5, 8), np.float32, seed=1))
    filters = [lambda v: kn.gaussian_filter(v, (1.0, 0.6), mode=("reflect", "grid-wrap"), truncate=3.0),
               lambda v: kn.uniform_filter(v, (2, 5), mode=("mirror", "nearest"), origin=(0, 1))]  # fmt: skip

    @jax.jit
    def pairs(x, c):
        return [(jnp.vdot(f(x), c), jnp.vdot(x, jax.grad(lambda v: jnp.vdot(f(v), c))(x))) for f in filters]

    for forward, adjoint in pairs(x, c):
        np.testing.assert_allclose(forward, adjoint, rtol=1e-4)


def test_vmap_and_jit():
    xs = data((3, 6, 7), np.float32)
    got = jax.vmap(jax.jit(lambda v: kn.gaussian_filter(v, 1.0, mode="wrap")))(jnp.asarray(xs))
    assert_matches(got, np.stack([sn.gaussian_filter(v, 1.0, mode="wrap") for v in xs]))
