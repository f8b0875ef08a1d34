"""scipy.ndimage's linear filters in JAX: correlations, convolutions, box and Gaussian filters.

Invariants: same arguments and defaults as scipy 1.17 (``mode='reflect'``,
``cval=0.0``, ``origin=0``, ``axes=None``); the result has the input's shape and
the ``output`` dtype (default: the input's). Separable filters run one 1-D pass
per filtered axis, in the order of ``axes``, each padded with ``mode``/``cval``
and stored in the output dtype, as scipy does; passes are ``kmap`` calls
(``linear.py``), so ``jit``, ``grad`` (input, ``cval``, traced weights) and
``vmap`` work. Complex data or weights are computed in complex arithmetic
(correlations conjugate complex weights, like scipy and ``np.correlate``).
"""

from __future__ import annotations

import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from kernex._src.ndimage import args as A
from kernex._src.ndimage import dtypes
from kernex._src.ndimage.entry import entry
from kernex._src.ndimage.linear import is_concrete, line_pass, mean_pass, nd_pass

__all__ = [
    "correlate1d", "convolve1d", "correlate", "convolve", "uniform_filter1d", "uniform_filter",
    "gaussian_filter1d", "gaussian_filter", "gaussian_kernel1d", "as_input", "run_passes",
]


def as_input(input: Any, *, complex_ok: bool = True, name: str = "input") -> jax.Array:
    """The input as a JAX array of rank >= 1 (complex refused where scipy refuses it)."""
    x = jnp.asarray(input)
    if x.ndim == 0:
        raise ValueError(f"`{name}` must have at least one axis; got a scalar {input!r}.")
    if not complex_ok and jnp.iscomplexobj(x):
        raise TypeError(f"`{name}` must be real for this filter (scipy refuses complex data too); got dtype {x.dtype}.")
    return x


def _axis(axis: Any, ndim: int) -> int:
    return A.check_axes(A.as_int(axis, "axis"), ndim)[0]


def _out(output: Any, x: jax.Array, complex_result: bool) -> np.dtype:
    out = dtypes.output_dtype(output, x.dtype)
    if complex_result and out.kind != "c":
        if output is not None:
            warnings.warn("promoting specified output dtype to complex", stacklevel=3)
        out = np.dtype(np.result_type(out, np.complex64))
        out = dtypes.output_dtype(out, out)
    return out


def _weights(weights: Any, name: str = "weights"):
    """Concrete weights as a NumPy array, traced ones kept; returns ``(w, is_complex)``."""
    if is_concrete(weights):
        w = np.asarray(weights)
        if w.dtype.kind not in "biufc":
            raise TypeError(f"`{name}` must be numeric; got dtype {w.dtype}.")
        return w, w.dtype.kind == "c"
    return weights, jnp.iscomplexobj(weights)


def _conj(w):
    return (np.conj(w) if isinstance(w, np.ndarray) else jnp.conj(w)) if np.iscomplexobj(w) else w


@entry
def correlate1d(input, weights, axis=-1, output=None, mode="reflect", cval=0.0, origin=0):
    """1-D correlation along ``axis`` (``scipy.ndimage.correlate1d``).

    >>> import kernex.ndimage as ndi
    >>> ndi.correlate1d(jnp.array([2, 8, 0, 4, 1, 9, 9, 0]), weights=[1, 3]).tolist()
    [8, 26, 8, 12, 7, 28, 36, 9]
    """
    x = as_input(input)
    w, cw = _weights(weights)
    if w.ndim != 1 or w.shape[0] < 1:
        raise ValueError(f"`weights` must be a non-empty 1-D sequence; got shape {tuple(w.shape)}.")
    ax = _axis(axis, x.ndim)
    complex_result = cw or jnp.iscomplexobj(x)
    out = _out(output, x, complex_result)
    cval = A.check_cval(cval, complex_ok=complex_result)
    o = A.check_origin(origin, w.shape[0])
    r = line_pass(x, _conj(w), ax, A.boundary_of(mode), cval, o, dtypes.storage_dtype(out))
    return dtypes.finish(r, out)


def _flip_origin(origin: int, size: int) -> int:
    return -origin - (0 if size & 1 else 1)


@entry
def convolve1d(input, weights, axis=-1, output=None, mode="reflect", cval=0.0, origin=0):
    """1-D convolution along ``axis`` (``scipy.ndimage.convolve1d``).

    >>> import kernex.ndimage as ndi
    >>> ndi.convolve1d(jnp.array([2, 8, 0, 4, 1, 9, 9, 0]), weights=[1, 3]).tolist()
    [14, 24, 4, 13, 12, 36, 27, 0]
    """
    w, _ = _weights(weights)
    if w.ndim != 1 or w.shape[0] < 1:
        raise ValueError(f"`weights` must be a non-empty 1-D sequence; got shape {tuple(w.shape)}.")
    o = A.check_origin(origin, w.shape[0])
    return correlate1d(input, _conj(w[::-1]), axis, output, mode, cval, _flip_origin(o, w.shape[0]))


def _correlate_nd(input, weights, output, mode, cval, origin, axes, convolution: bool):
    x = as_input(input)
    w, cw = _weights(weights)
    ax = A.check_axes(axes, x.ndim)
    if w.ndim != len(ax):
        raise ValueError(
            f"`weights` must have one axis per filtered axis ({len(ax)} for input rank {x.ndim} and axes={axes!r}); "
            f"got weights of shape {tuple(w.shape)}."
        )
    if 0 in w.shape:
        raise ValueError(f"`weights` must not have an empty axis; got shape {tuple(w.shape)}.")
    if w.ndim < x.ndim:
        missing = tuple(a for a in range(x.ndim) if a not in ax)
        w = np.expand_dims(w, missing) if isinstance(w, np.ndarray) else jnp.expand_dims(w, missing)
    origins = A.expand_to_ndim(A.per_axis(origin, len(ax), "origin"), ax, x.ndim, 0)
    origins = [A.check_origin(o, s) for o, s in zip(origins, w.shape)]
    if convolution:
        w = w[(slice(None, None, -1),) * w.ndim]
        origins = [_flip_origin(o, s) for o, s in zip(origins, w.shape)]
    elif cw:
        w = _conj(w)
    complex_result = cw or jnp.iscomplexobj(x)
    out = _out(output, x, complex_result)
    cval = A.check_cval(cval, complex_ok=complex_result)
    modes = A.modes_for(mode, 1, sequence_ok=False) * x.ndim
    return dtypes.finish(nd_pass(x, w, modes, cval, origins, dtypes.storage_dtype(out)), out)


@entry
def correlate(input, weights, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None):
    """N-D correlation (``scipy.ndimage.correlate``); ``weights`` has one axis per filtered axis.

    >>> import kernex.ndimage as ndi
    >>> ndi.correlate(jnp.arange(9.0).reshape(3, 3), jnp.ones((2, 2)), mode="constant").tolist()
    [[0.0, 1.0, 3.0], [3.0, 8.0, 12.0], [9.0, 20.0, 24.0]]
    """
    return _correlate_nd(input, weights, output, mode, cval, origin, axes, False)


@entry
def convolve(input, weights, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None):
    """N-D convolution (``scipy.ndimage.convolve``): correlation with the flipped weights.

    >>> import kernex.ndimage as ndi
    >>> a = jnp.array([[1, 2, 0, 0], [5, 3, 0, 4], [0, 0, 0, 7], [9, 3, 0, 0]])
    >>> k = jnp.array([[1, 1, 1], [1, 1, 0], [1, 0, 0]])
    >>> ndi.convolve(a, k, mode="constant", cval=0.0).tolist()
    [[11, 10, 7, 4], [10, 3, 11, 11], [15, 12, 14, 7], [12, 3, 7, 0]]
    """
    return _correlate_nd(input, weights, output, mode, cval, origin, axes, True)


@entry
def uniform_filter1d(input, size, axis=-1, output=None, mode="reflect", cval=0.0, origin=0):
    """1-D box mean of ``size`` cells along ``axis`` (``scipy.ndimage.uniform_filter1d``).

    >>> import kernex.ndimage as ndi
    >>> ndi.uniform_filter1d(jnp.array([2, 8, 0, 4, 1, 9, 9, 0]), size=3).tolist()
    [4, 3, 4, 1, 4, 6, 6, 3]
    """
    x = as_input(input)
    ax = _axis(axis, x.ndim)
    size = A.check_size(size)
    o = A.check_origin(origin, size)
    out = _out(output, x, jnp.iscomplexobj(x))
    cval = A.check_cval(cval, complex_ok=jnp.iscomplexobj(x))
    return dtypes.finish(mean_pass(x, size, ax, A.boundary_of(mode), cval, o, dtypes.storage_dtype(out)), out)


def run_passes(x, out, passes):
    """Run ``passes`` (functions of (array, store dtype)) in order, each result stored in the output's storage."""
    store = dtypes.storage_dtype(out)
    if not passes:
        return dtypes.c_cast(x, out)
    for p in passes:
        x = p(x, store)
    return dtypes.finish(x, out)


@entry
def uniform_filter(input, size=3, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None):
    """N-D box mean as 1-D passes (``scipy.ndimage.uniform_filter``); axes with ``size`` 1 are skipped.

    >>> import kernex.ndimage as ndi
    >>> np.asarray(ndi.uniform_filter(jnp.arange(9.0).reshape(3, 3), size=3, mode="nearest"), np.float64).round(4).tolist()
    [[1.3333, 2.0, 2.6667], [3.3333, 4.0, 4.6667], [5.3333, 6.0, 6.6667]]
    """
    x = as_input(input)
    ax = A.check_axes(axes, x.ndim)
    sizes = [A.check_size(s, minimum=0) for s in A.per_axis(size, len(ax), "size")]
    origins = A.per_axis(origin, len(ax), "origin")
    modes = A.modes_for(mode, len(ax), sequence_ok=True)
    out = _out(output, x, jnp.iscomplexobj(x))
    cval = A.check_cval(cval, complex_ok=jnp.iscomplexobj(x))
    passes = []
    for a, s, o, m in zip(ax, sizes, origins, modes):
        if s > 1:
            o = A.check_origin(o, s)
            passes.append(lambda v, st, a=a, s=s, o=o, m=m: mean_pass(v, s, a, m, cval, o, st))
    return run_passes(x, out, passes)


def gaussian_kernel1d(sigma: float, order: int, radius: int) -> np.ndarray:
    """The 1-D Gaussian (derivative of ``order``) on ``-radius .. radius``, float64, as scipy builds it.

    The Gaussian is normalised to sum 1; its ``order``-th derivative is
    ``q(x) * phi(x)`` with the polynomial ``q`` obtained by applying
    ``q -> q' + q * p'`` (``p' = -x / sigma**2``) ``order`` times to ``q = 1``.

    >>> gaussian_kernel1d(1.0, 0, 1).round(4).tolist()
    [0.2741, 0.4519, 0.2741]
    """
    if order < 0:
        raise ValueError(f"`order` must be >= 0; got order={order!r}.")
    powers = np.arange(order + 1)
    sigma2 = sigma * sigma
    x = np.arange(-radius, radius + 1)
    phi = np.exp(-0.5 / sigma2 * x**2)
    phi = phi / phi.sum()
    if order == 0:
        return phi
    q = np.zeros(order + 1)
    q[0] = 1
    step = np.diag(powers[1:], 1) + np.diag(np.ones(order) / -sigma2, -1)  # q -> q' + q * p'
    for _ in range(order):
        q = step.dot(q)
    return (x[:, None] ** powers).dot(q) * phi


def _gaussian_weights(sigma: Any, order: Any, truncate: Any, radius: Any) -> np.ndarray:
    try:
        sd = float(sigma)
    except (TypeError, ValueError):
        raise TypeError(f"`sigma` must be a real number (one per axis for gaussian_filter); got sigma={sigma!r}.") from None
    order = A.as_int(order, "order")
    if radius is None:
        lw = int(float(truncate) * sd + 0.5)
    else:
        lw = A.as_int(radius, "radius")
    if lw < 0:
        raise ValueError(f"`radius` must be a non-negative int (radius = round(truncate * sigma)); got radius={lw} "
                         f"from sigma={sigma!r}, truncate={truncate!r}, radius={radius!r}.")
    if sd == 0:
        raise ValueError("`sigma` must be non-zero for gaussian_filter1d (gaussian_filter skips axes with sigma 0).")
    return gaussian_kernel1d(sd, order, lw)[::-1]


@entry
def gaussian_filter1d(input, sigma, axis=-1, order=0, output=None, mode="reflect", cval=0.0, truncate=4.0, *,
                      radius=None):  # fmt: skip
    """1-D Gaussian filter (or derivative of ``order``) along ``axis`` (``scipy.ndimage.gaussian_filter1d``).

    >>> import kernex.ndimage as ndi
    >>> np.asarray(ndi.gaussian_filter1d(jnp.array([1.0, 2.0, 3.0, 4.0, 5.0]), 1), np.float64).round(4).tolist()
    [1.427, 2.0678, 3.0, 3.9322, 4.573]
    """
    w = _gaussian_weights(sigma, order, truncate, radius)
    return correlate1d(input, w, axis, output, mode, cval, 0)


@entry
def gaussian_filter(input, sigma, order=0, output=None, mode="reflect", cval=0.0, truncate=4.0, *, radius=None,
                    axes=None):  # fmt: skip
    """N-D Gaussian filter as 1-D passes (``scipy.ndimage.gaussian_filter``); axes with ``sigma <= 1e-15`` are skipped.

    >>> import kernex.ndimage as ndi
    >>> a = jnp.arange(50, step=2).reshape((5, 5))
    >>> ndi.gaussian_filter(a, sigma=1).tolist()[0]
    [4, 6, 8, 9, 11]
    """
    x = as_input(input)
    ax = A.check_axes(axes, x.ndim)
    n = len(ax)
    sigmas = A.per_axis(sigma, n, "sigma")
    orders = A.per_axis(order, n, "order")
    modes = A.modes_for(mode, n, sequence_ok=True)
    radii = A.per_axis(radius, n, "radius")
    out = _out(output, x, jnp.iscomplexobj(x))
    cval = A.check_cval(cval, complex_ok=jnp.iscomplexobj(x))
    passes = []
    for a, s, o, m, r in zip(ax, sigmas, orders, modes, radii):
        w = _gaussian_weights(s, o, truncate, r) if float(s) > 1e-15 else None
        if w is not None:
            passes.append(lambda v, st, a=a, w=w, m=m: line_pass(v, w, a, m, cval, 0, st))
    return run_passes(x, out, passes)
