"""kernex.ndimage's shared argument and dtype handling (``args.py``, ``dtypes.py``, ``windows.py``, ``entry.py``).

Checked against scipy 1.17: the mode-name mapping cell by cell (windows wider
than the axis included, on every window path), the origin rule, ``axes`` and the
footprint/origin order, scipy's conversion of doubles into every integer dtype,
output dtypes, one compilation per configuration, and every error path (each
naming the argument).
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage as sn
from ndimage_cases import MODES, check_batch, data, x64

import kernex.ndimage as kn
from kernex._src.ndimage import args as A
from kernex._src.ndimage import dtypes


@pytest.mark.parametrize("mode", MODES)
def test_mode_names_read_the_cells_scipy_reads(mode):
    """``np.pad(x, r, MODES[mode])`` (what kmap's boundary reads) is scipy's extension, for pads wider than the axis."""
    for n in (1, 2, 3, 5):
        x = np.arange(1.0, n + 1)
        k = 11
        ext = np.stack([sn.correlate1d(x, np.eye(k)[j], mode=mode, cval=-1.0) for j in range(k)], -1)
        m = kn.MODES[mode]
        p = np.pad(x, k // 2, mode=m, **({"constant_values": -1.0} if m == "constant" else {}))
        np.testing.assert_array_equal(ext, np.lib.stride_tricks.sliding_window_view(p, k))


def test_every_window_path_in_every_mode_with_wide_windows():
    """Each kind of pass (1-D sums, N-D sums, 1-D extrema, footprints, sorts, generic) in all 8 modes, windows
    longer than their axis."""
    x1 = data((3,), np.float32)
    x2 = data((2, 3), np.float32)
    fp = np.array([[1, 0, 1, 1, 0], [0, 1, 1, 0, 1]], bool)
    cases = []
    for mode in MODES:
        kw = dict(mode=mode, cval=-2.0)
        cases += [("correlate1d", (x1, np.arange(1.0, 8)), kw), ("correlate", (x2, np.arange(1.0, 16).reshape(3, 5)), kw),
                  ("minimum_filter1d", (x1, 6), dict(kw, origin=-2)), ("maximum_filter", (x2,), dict(kw, footprint=fp)),
                  ("median_filter", (x2,), dict(kw, size=(3, 5), origin=(1, -1))),
                  ("generic_filter", (x2, lambda v: v[0] - v[-1]), dict(kw, footprint=fp))]  # fmt: skip
    check_batch(cases, chunk=len(cases))


def test_origin_rule_is_scipys():
    for size in range(1, 6):
        for origin in range(-4, 5):
            try:
                sn.correlate1d(np.zeros(6), np.ones(size), origin=origin)
                ok = True
            except ValueError:
                ok = False
            if ok:
                assert A.check_origin(origin, size) == origin
            else:
                with pytest.raises(ValueError, match=r"`origin` must satisfy .* got origin="):
                    A.check_origin(origin, size)
    for f, a in [(kn.correlate1d, ([1, 1, 2, 0],)), (kn.uniform_filter1d, (3,)), (kn.minimum_filter1d, (3,))]:
        with pytest.raises(ValueError, match="origin"):
            f(jnp.arange(6.0), *a, origin=2)
    with pytest.raises(ValueError, match="origin"):
        kn.correlate(jnp.ones((3, 5)), np.ones((2, 2)), origin=[0, 1])
    with pytest.raises(ValueError, match="origin"):
        kn.median_filter(jnp.arange(5.0), 3, origin=2)
    with pytest.raises(TypeError, match="origin"):
        kn.median_filter(jnp.arange(5.0), 3, origin=0.5)


def test_axes_footprint_and_origin_order_follow_scipy():
    """A subset of axes: the footprint lies on them in increasing order, origins follow ``axes``; all axes: both in
    axis order. Separable filters follow ``axes`` throughout."""
    x3 = data((3, 4, 5), np.float32)
    x2 = data((4, 5), np.float32)
    check_batch([
        ("median_filter", (x3,), dict(size=(3, 1), axes=(2, 0), origin=(0, 0))),
        ("median_filter", (x3,), dict(footprint=np.ones((2, 3)), axes=(2, 0), origin=(1, -1))),
        ("median_filter", (x2,), dict(footprint=np.ones((2, 3)), axes=(1, 0), origin=(0, 1))),
        ("correlate", (x3, np.arange(6.0).reshape(3, 2)), dict(axes=(-1, 0), origin=(0, 1))),
        ("uniform_filter", (x3,), dict(size=(3, 1), axes=(2, 0), origin=(1, 0))),
    ])  # fmt: skip
    assert A.check_axes(None, 3) == (0, 1, 2) and A.check_axes((-1, 0), 3) == (2, 0)


def _conversion_values():
    v = [-1.5, 2.7, 255.9, 256.0, -256.5, 65535.5, 70000.0, -70000.0, np.nan, np.inf, -np.inf, 2.0**31, -(2.0**31),
         127.9, -128.9, 1e10, -1e10, 3e9, 2.0**40]  # fmt: skip
    return np.array(v)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.uint16, np.int16, np.int32, np.uint32, np.bool_])
def test_float_to_integer_conversion_is_scipys(dtype):
    """scipy stores a double into an integer array as x86-64 C does: truncation, then 32-bit wrap-around."""
    v = _conversion_values()
    if dtype == np.uint32:  # without 64-bit ints: exact on [-2**31, 2**32) only (documented)
        v = v[np.isnan(v) | ((v >= -(2.0**31)) & (v < 2.0**32)) | np.isinf(v)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = sn.correlate1d(v, [1.0], output=dtype)
    got = np.asarray(dtypes.c_cast(jnp.asarray(v, jnp.float32), dtype))
    np.testing.assert_array_equal(got, expected.view(np.uint8).astype(bool) if dtype == np.bool_ else expected)
    for c in v[np.isfinite(v)]:
        assert dtypes.fill_value(float(c), dtype) == dtypes.c_cast(jnp.asarray([c], jnp.float32), dtype)[0]


def test_conversion_under_x64():
    with x64():
        v = np.concatenate([_conversion_values(), [2.0**63, 1.5 * 2**63, 2.0**64, -(2.0**63), 2.0**70]])
        for dtype in (np.uint32, np.int64, np.uint64, np.int32, np.uint8):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                expected = sn.correlate1d(v, [1.0], output=dtype)
            np.testing.assert_array_equal(np.asarray(dtypes.c_cast(jnp.asarray(v), dtype)), expected, err_msg=str(dtype))


def test_output_dtypes():
    x = jnp.asarray(data((5, 6), np.uint8))
    assert kn.uniform_filter(x).dtype == np.uint8
    assert kn.uniform_filter(x, output=np.float32).dtype == np.float32
    assert kn.uniform_filter(x, output="int16").dtype == np.int16
    assert kn.median_filter(x.astype(jnp.float32), 3, output=jnp.int32).dtype == np.int32
    with pytest.warns(UserWarning, match="complex"):
        r = kn.correlate1d(jnp.ones(4), np.array([1j, 1.0]), output=np.float32)
    assert r.dtype == np.complex64
    assert dtypes.compute_dtype(np.uint8, np.uint8) == np.float32
    assert dtypes.compute_dtype(np.float16, np.float16) == np.float32
    with x64():
        assert dtypes.compute_dtype(np.uint8, np.uint8) == np.float64
        assert dtypes.compute_dtype(np.float32, np.float32) == np.float32


def test_one_compilation_per_configuration():
    """A repeated call with the same configuration reuses the compiled program; a new cval is a new one."""
    traced = []

    def fn(v):
        traced.append(1)
        return jnp.max(v) - jnp.min(v)

    x = jnp.asarray(data((5, 6), np.float32))
    a = kn.generic_filter(x, fn, size=3, mode="wrap")
    b = kn.generic_filter(x + 1, fn, size=3, mode="wrap")
    n = len(traced)
    kn.generic_filter(x, fn, size=3, mode="wrap")
    assert len(traced) == n  # cached: not traced again
    kn.generic_filter(x, fn, size=3, mode="constant", cval=3.0)
    assert len(traced) > n
    np.testing.assert_allclose(a, b, rtol=1e-6)


ERRORS = [
    (ValueError, "`mode` must be one of", lambda x: kn.uniform_filter(x, mode="foo")),
    (ValueError, "'edge' is scipy's 'nearest'", lambda x: kn.sobel(x, mode="edge")),
    (TypeError, "`mode` must be a mode name", lambda x: kn.uniform_filter(x, mode=3)),
    (ValueError, "`mode` must be a single mode", lambda x: kn.correlate(x, np.ones((3, 3)), mode=("wrap", "wrap"))),
    (ValueError, "`mode` must be a single mode", lambda x: kn.median_filter(x, footprint=np.eye(3), mode=["wrap", "wrap"])),
    (ValueError, "`mode` must be one value or one value per filtered axis", lambda x: kn.uniform_filter(x, mode=["wrap"])),
    (ValueError, "`axes` entries must lie in", lambda x: kn.uniform_filter(x, axes=(0, 2))),
    (ValueError, "`axes` must not repeat", lambda x: kn.gaussian_filter(x, 1, axes=(1, -1))),
    (TypeError, "`axes` must be None, an int", lambda x: kn.median_filter(x, 3, axes="0")),
    (ValueError, "give `size=`", lambda x: kn.median_filter(x)),
    (ValueError, "give `size=`", lambda x: kn.minimum_filter(x)),
    (ValueError, "`footprint` must have one axis per filtered axis", lambda x: kn.median_filter(x, footprint=np.ones(3))),
    (ValueError, "`footprint` must select at least one cell", lambda x: kn.maximum_filter(x, footprint=np.zeros((2, 2)))),
    (ValueError, "`size` must be >= 1", lambda x: kn.median_filter(x, 0)),
    (ValueError, "`size` must be >= 0", lambda x: kn.uniform_filter(x, -1)),
    (TypeError, "`size` must be an int", lambda x: kn.uniform_filter1d(x, 2.5)),
    (ValueError, "`size` must be one value or one value per filtered axis", lambda x: kn.uniform_filter(x, (3, 3, 3))),
    (ValueError, "`weights` must have one axis per filtered axis", lambda x: kn.correlate(x, np.ones(3))),
    (ValueError, "`weights` must be a non-empty 1-D", lambda x: kn.correlate1d(x, np.ones((2, 2)))),
    (ValueError, "`weights` must be a non-empty 1-D", lambda x: kn.convolve1d(x, [])),
    (TypeError, "`output` must be None or a dtype: a JAX array cannot be written in place", lambda x: kn.sobel(x, output=x)),
    (TypeError, "`output` must be None or a dtype", lambda x: kn.sobel(x, output="foo")),
    (TypeError, "`output` must be a numeric dtype", lambda x: kn.sobel(x, output=object)),
    (TypeError, "`cval` must be a scalar", lambda x: kn.uniform_filter(x, cval="1")),
    (TypeError, "`cval` must be a scalar", lambda x: kn.uniform_filter(x, cval=(1, 2))),
    (ValueError, "`cval` must be real", lambda x: kn.median_filter(x, 3, cval=1j)),
    (ValueError, "`input` must have at least one axis", lambda x: kn.median_filter(x[0, 0], 3)),
    (TypeError, "`input` must be real", lambda x: kn.median_filter(x * 1j, 3)),
    (ValueError, "`rank` must lie in -9 .. 8", lambda x: kn.rank_filter(x, 9, size=3)),
    (TypeError, "`rank` must be an int", lambda x: kn.rank_filter(x, 1.5, size=3)),
    (ValueError, "`percentile` must lie in -100 .. 100", lambda x: kn.percentile_filter(x, 150, size=3)),
    (TypeError, "`percentile` must be a real number", lambda x: kn.percentile_filter(x, "p", size=3)),
    (TypeError, "`function` must be a callable", lambda x: kn.generic_filter(x, 3, size=3)),
    (ValueError, "`function` must return a scalar", lambda x: kn.generic_filter(x, lambda v: v, size=3)),
    (ValueError, "`sigma` must be non-zero", lambda x: kn.gaussian_filter1d(x, 0.0)),
    (ValueError, "`radius` must be a non-negative int", lambda x: kn.gaussian_filter(x, 1.0, radius=-1)),
    (ValueError, "`order` must be >= 0", lambda x: kn.gaussian_filter1d(x, 1.0, order=-1)),
    (TypeError, "`sigma` must be a real number", lambda x: kn.gaussian_filter1d(x, "s")),
    (ValueError, "`structure` must have one axis per filtered axis", lambda x: kn.grey_erosion(x, structure=np.ones(2))),
    (ValueError, "`footprint` and `structure` must have the same shape",
     lambda x: kn.grey_erosion(x, footprint=np.ones((2, 2)), structure=np.ones((3, 3)))),
    (TypeError, "`derivative2` must be callable", lambda x: kn.generic_laplace(x, None)),
]


@pytest.mark.parametrize("error,message,call", ERRORS, ids=[m[:40] for _, m, _ in ERRORS])
def test_errors_name_the_argument(error, message, call):
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        call(jnp.ones((4, 5)))


def test_traced_shape_arguments_are_refused():
    with pytest.raises(TypeError, match="`footprint` must be concrete"):
        jax.jit(lambda x, f: kn.median_filter(x, footprint=f))(jnp.ones((4, 4)), jnp.ones((3, 3), bool))


def test_size_and_footprint_warns_like_scipy():
    with pytest.warns(UserWarning, match="ignoring size because footprint is set"):
        r = kn.median_filter(jnp.arange(7.0), size=5, footprint=np.ones(3, bool))
    assert r.tolist() == sn.median_filter(np.arange(7.0), footprint=np.ones(3, bool)).tolist()
