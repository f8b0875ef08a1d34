"""Shared cases for the ``kernex.ndimage`` tests: data, the scipy comparison, and the covering case matrix.

Every filter is compared with ``scipy.ndimage`` on the same data and arguments.
The default run covers, per function, half the modes, every dtype and rank and
both origins (:func:`covering`); ``KERNEX_LONG=1`` runs the full product
(:func:`full_product`). Integer results must be equal; float32
results agree to float32 rounding (scipy computes in double). To keep the suite
cheap, :func:`check_batch` compiles a whole list of cases as one ``jax.jit``
program (compilation, not execution, is what costs on 7x9 arrays).
"""

from __future__ import annotations

import contextlib
import itertools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import scipy.ndimage as sn

import kernex.ndimage as kn

MODES = ("reflect", "mirror", "nearest", "wrap", "constant", "grid-mirror", "grid-constant", "grid-wrap")
SHAPES = ((9,), (7, 9), (3, 4, 5))
DTYPES = (np.float32, np.uint8, np.int32)
ORIGINS = (0, 1)
CVAL = 2.5  # a non-integer cval also tests its conversion for integer data


def data(shape, dtype, seed=0) -> np.ndarray:
    """Deterministic test data: normals * 10 for floats, the full range for uint8, +-1000 for int32."""
    rng = np.random.default_rng(seed + 7 * len(shape))
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return (rng.standard_normal(shape) * 10).astype(dtype)
    if dtype == np.uint8:
        return rng.integers(0, 256, shape).astype(dtype)
    if dtype == np.bool_:
        return rng.integers(0, 2, shape).astype(bool)
    return rng.integers(-1000, 1000, shape).astype(dtype)


def covering(k: int = 0):
    """Four (mode, shape, dtype, origin) cases for the ``k``-th function: every dtype and rank, both origins, and
    every other mode (even ``k`` the even ones, odd ``k`` the odd ones; all eight per window path are in
    ``test_ndimage_args.py``)."""
    return [(MODES[(k + 2 * i) % 8], SHAPES[(i + 2 * k) % 3], DTYPES[(i + k) % 3], ORIGINS[(i + k) % 2]) for i in range(4)]


def full_product():
    return list(itertools.product(MODES, SHAPES, DTYPES, ORIGINS))


def assert_matches(got, expected, *, int_tol: int = 0, rtol: float = 2e-5, context: str = "") -> None:
    """``got`` (JAX) equals scipy's ``expected``: same dtype and shape; exact (or within ``int_tol``) for integers."""
    got = np.asarray(got)
    assert got.shape == expected.shape, f"{context}: shape {got.shape} != scipy's {expected.shape}"
    assert got.dtype == expected.dtype, f"{context}: dtype {got.dtype} != scipy's {expected.dtype}"
    if expected.dtype.kind in "fc":
        finite = np.abs(expected[np.isfinite(expected)])
        scale = max(1.0, float(finite.max(initial=0.0)))
        atol = 0.0 if expected.dtype == np.float64 else 4 * rtol * scale
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True, err_msg=context)
    else:
        diff = np.abs(got.astype(np.int64) - expected.astype(np.int64))
        where = np.argwhere(diff > int_tol)[:5].tolist()
        assert diff.max(initial=0) <= int_tol, f"{context}: max |diff| {diff.max()} at {where}"


@contextlib.contextmanager
def x64():
    """64-bit types on for the duration of the block (as tests/test_x64.py)."""
    if hasattr(jax, "enable_x64"):
        with jax.enable_x64(True):
            yield
        return
    previous = jax.config.jax_enable_x64  # pragma: no cover - older JAX
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", previous)


def check_batch(cases, *, int_tol: int = 0, rtol: float = 2e-5, chunk: int = 16) -> None:
    """``cases``: ``(name, args, kwargs)`` with a NumPy input ``args[0]``; kernex's results (``chunk`` cases per
    ``jax.jit`` program) must match scipy's. Every failing case is reported."""
    failures = []
    for start in range(0, len(cases), chunk):
        part = cases[start : start + chunk]

        def run(inputs, part=part):
            return [getattr(kn, name)(x, *args[1:], **kwargs) for x, (name, args, kwargs) in zip(inputs, part)]

        got = jax.jit(run)([jnp.asarray(args[0]) for _, args, _ in part])
        for g, (name, args, kwargs) in zip(got, part):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                expected = getattr(sn, name)(*args, **kwargs)
            label = f"{name} {args[0].shape} {args[0].dtype} {kwargs}"
            try:
                assert_matches(g, expected, int_tol=int_tol, rtol=rtol, context=label)
            except AssertionError as e:  # collect: report every failing case
                failures.append(str(e)[:400])
    assert not failures, "\n".join(failures)


def run_matrix(cases, make, **tol) -> None:
    """``make(mode, shape, dtype, origin) -> (name, args, kwargs)`` for every case, checked with :func:`check_batch`."""
    check_batch([make(*case) for case in cases], **tol)
