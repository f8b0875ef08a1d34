"""kernex.ndimage's derivative filters (``kernex/_src/ndimage/derivatives.py``) against scipy.ndimage.

Sobel, Prewitt, Laplace, Gaussian Laplace and Gaussian gradient magnitude (and
their generic forms) in every mode for float32/uint8/int32 data of rank 1-3
(``KERNEX_LONG=1``: the full product), with per-axis modes, ``axes``, output
dtypes, bool data (scipy's raw bytes between passes), x64 (bitwise) and gradients.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage as sn
from ndimage_cases import CVAL, check_batch, covering, data, full_product, run_matrix, x64

import kernex.ndimage as kn


def _make(name):
    def make(mode, shape, dtype, origin):
        x = data(shape, dtype)
        kw = dict(mode=mode, cval=CVAL)
        if name in ("sobel", "prewitt"):
            return name, (x,), dict(kw, axis=-origin)
        if name == "laplace":
            return name, (x,), kw
        if name == "gaussian_laplace":
            return name, (x, 0.7 + 0.3 * origin), dict(kw, truncate=3.0)
        if name == "gaussian_gradient_magnitude":
            return name, (x, 0.6 + 0.3 * origin), kw
        raise AssertionError(name)

    return make


NAMES = ["sobel", "prewitt", "laplace", "gaussian_laplace", "gaussian_gradient_magnitude"]
# Gaussian weights are not exact in float32: an integer result may differ by one (exact under x64, below)
INT_TOL = {"gaussian_laplace": 1, "gaussian_gradient_magnitude": 1}


@pytest.mark.parametrize("name", NAMES)
def test_matches_scipy(name):
    run_matrix(covering(NAMES.index(name)), _make(name), int_tol=INT_TOL.get(name, 0))


@pytest.mark.long
@pytest.mark.parametrize("name", NAMES)
def test_matches_scipy_full_product(name):
    run_matrix(full_product(), _make(name), int_tol=INT_TOL.get(name, 0))


def test_per_axis_modes_axes_output_and_bool():
    """scipy's test_multiple_modes(_prewitt) numbers; axes; output dtypes; bool data."""
    arr = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]], np.float32)
    assert kn.prewitt(jnp.asarray(arr), mode=["reflect", "wrap"]).tolist() == [[1, -3, 2], [1, -2, 1], [1, -1, 0]]
    x = data((4, 5, 6), np.float32)
    u = data((6, 7), np.uint8)
    b = data((6, 7), np.bool_)
    check_batch([
        *[(f, (arr,) + a, dict(mode="reflect")) for f, a in [("sobel", ()), ("laplace", ()), ("gaussian_laplace", (1,))]],
        ("sobel", (x,), dict(axis=1, mode=("wrap", "constant", "mirror"), cval=1.0)),
        ("prewitt", (x,), dict(axis=0, mode=("nearest", "reflect", "grid-wrap"))),
        ("laplace", (x,), dict(axes=(2, 0), mode=("mirror", "wrap"))),
        ("gaussian_laplace", (x, (1.0, 0.7)), dict(axes=(0, 2), mode=("nearest", "constant"), cval=0.5, truncate=2.0)),
        ("gaussian_laplace", (x, 0.6), dict(truncate=2.0)),
        ("gaussian_gradient_magnitude", (x, (0.6, 0.5, 0.8)), dict(axes=(1, 2), mode=("wrap", "mirror"), truncate=2.0)),
        ("gaussian_gradient_magnitude", (x, 1.0), dict(radius=2)),
        ("sobel", (u,), dict(output=np.int16)),
        ("laplace", (u,), dict(output=np.float32)),
        ("sobel", (u,), dict(output=np.uint8)),  # wraps between passes, as scipy
        ("sobel", (b,), {}), ("prewitt", (b,), dict(axis=0)),  # bool: raw bytes between passes
        ("gaussian_gradient_magnitude", (u, 1.0), dict(output=np.float32)),
    ])  # fmt: skip


def test_generic_forms_take_jax_derivatives():
    x = data((6, 7), np.float32)
    d2 = lambda v, axis, output, mode, cval, w: kn.correlate1d(v, w, axis, output, mode, cval)  # noqa: E731
    d2_np = lambda v, axis, output, mode, cval, w: sn.correlate1d(v, w, axis, output, mode, cval)  # noqa: E731
    w = [1.0, -2.0, 1.0]
    got = kn.generic_laplace(jnp.asarray(x), d2, mode="wrap", extra_arguments=(w,))
    np.testing.assert_allclose(got, sn.generic_laplace(x, d2_np, mode="wrap", extra_arguments=(w,)), rtol=1e-5, atol=1e-5)
    got = kn.generic_gradient_magnitude(jnp.asarray(x), kn.sobel, mode="nearest")
    np.testing.assert_allclose(got, sn.generic_gradient_magnitude(x, sn.sobel, mode="nearest"), rtol=1e-5, atol=1e-4)


def test_x64_bitwise():
    with x64():
        cases = []
        for dt in (np.float64, np.uint8, np.int32):
            x = data((5, 6), dt, seed=2)
            cases += [("gaussian_laplace", (x, 1.2), dict(mode="mirror", truncate=2.0)),
                      ("gaussian_gradient_magnitude", (x, 0.9), dict(mode="constant", cval=1.5, truncate=3.0)),
                      ("sobel", (x,), dict(mode="nearest")), ("laplace", (x,), dict(mode="wrap"))]  # fmt: skip
        check_batch(cases, rtol=0.0, chunk=len(cases))


def test_gradients():
    """The gradient of a linear derivative is its transpose; the magnitude's is the chain rule through sqrt."""
    x = jnp.asarray(data((6, 7), np.float32))
    c = jnp.asarray(data((6, 7), np.float32, seed=3))
    linear = [lambda v: kn.sobel(v, 0, mode="wrap"), lambda v: kn.gaussian_laplace(v, 0.8, mode="nearest", truncate=2.0)]
    mag = lambda v: kn.gaussian_gradient_magnitude(v, 0.8, mode="reflect", truncate=2.0)  # noqa: E731

    def by_hand(v):
        d = [kn.gaussian_filter(v, 0.8, order=o, truncate=2.0) for o in ((1, 0), (0, 1))]
        return jnp.sqrt(d[0] ** 2 + d[1] ** 2)

    @jax.jit
    def run(x, c):
        pairs = [(jnp.vdot(f(x), c), jnp.vdot(x, jax.grad(lambda v: jnp.vdot(f(v), c))(x))) for f in linear]
        return pairs, jax.grad(lambda v: jnp.vdot(mag(v), c))(x), jax.grad(lambda v: jnp.vdot(by_hand(v), c))(x)

    pairs, g, g_ref = run(x, c)
    for forward, adjoint in pairs:
        np.testing.assert_allclose(forward, adjoint, rtol=1e-4)
    np.testing.assert_allclose(g, g_ref, rtol=1e-5, atol=1e-5)
