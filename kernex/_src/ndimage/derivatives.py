"""scipy.ndimage's derivative filters in JAX: Sobel, Prewitt, Laplace and their Gaussian and generic forms.

Invariants: each is a sequence of 1-D correlations (``linear.line_pass``), every
pass padded with its axis' mode and ``cval`` and stored in the output dtype, in
scipy's order: ``sobel``/``prewitt`` differentiate along ``axis`` with
``[-1, 0, 1]`` and then smooth the other axes in increasing order
(``[1, 2, 1]`` / ``[1, 1, 1]``); the Laplace forms add one second derivative per
filtered axis and the gradient magnitudes take ``sqrt`` of the sum of squared
first derivatives, the sums and squares in the output dtype (integers wrap as
NumPy's in-place arithmetic does; a bool output combines with ``or``/``and``).
``gaussian_laplace`` uses, for the term of axis ``k``, ``mode[k]`` on every
axis of its Gaussian, and ``gaussian_gradient_magnitude`` smooths every axis
(``sigma`` per input axis), both exactly as scipy 1.17 does.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from kernex._src.ndimage import args as A
from kernex._src.ndimage import dtypes
from kernex._src.ndimage.entry import entry
from kernex._src.ndimage.filters import as_input, gaussian_filter
from kernex._src.ndimage.linear import line_pass

__all__ = [
    "sobel", "prewitt", "laplace", "generic_laplace", "gaussian_laplace", "generic_gradient_magnitude",
    "gaussian_gradient_magnitude",
]


def _edge(input, axis, output, mode, cval, smooth):
    x = as_input(input)
    ax = A.check_axes(A.as_int(axis, "axis"), x.ndim)[0]
    out = dtypes.output_dtype(output, x.dtype)
    if jnp.iscomplexobj(x) and out.kind != "c":
        out = dtypes.output_dtype(np.result_type(out, np.complex64), x.dtype)
    cval = A.check_cval(cval, complex_ok=jnp.iscomplexobj(x))
    modes = A.modes_for(mode, x.ndim, sequence_ok=True)
    store = dtypes.storage_dtype(out)
    r = line_pass(x, np.array([-1.0, 0.0, 1.0]), ax, modes[ax], cval, 0, store)
    for a in range(x.ndim):
        if a != ax:
            r = line_pass(r, smooth, a, modes[a], cval, 0, store)
    return dtypes.finish(r, out)


@entry
def sobel(input, axis=-1, output=None, mode="reflect", cval=0.0):
    """Sobel derivative along ``axis`` (``scipy.ndimage.sobel``).

    >>> import kernex.ndimage as ndi
    >>> ndi.sobel(jnp.array([[0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1]]), axis=1).tolist()
    [[0, 4, 4, 0], [0, 4, 4, 0], [0, 4, 4, 0]]
    """
    return _edge(input, axis, output, mode, cval, np.array([1.0, 2.0, 1.0]))


@entry
def prewitt(input, axis=-1, output=None, mode="reflect", cval=0.0):
    """Prewitt derivative along ``axis`` (``scipy.ndimage.prewitt``).

    >>> import kernex.ndimage as ndi
    >>> ndi.prewitt(jnp.array([[0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1]]), axis=1).tolist()
    [[0, 3, 3, 0], [0, 3, 3, 0], [0, 3, 3, 0]]
    """
    return _edge(input, axis, output, mode, cval, np.array([1.0, 1.0, 1.0]))


def _as_out(r: Any, out: np.dtype):
    return dtypes.c_cast(jnp.asarray(r), out)


def _extra(extra_arguments, extra_keywords):
    extra = tuple(extra_arguments) if isinstance(extra_arguments, (tuple, list)) else (extra_arguments,)
    return extra, dict(extra_keywords or {})


@entry
def generic_laplace(input, derivative2, output=None, mode="reflect", cval=0.0, extra_arguments=(), extra_keywords=None,
                    *, axes=None):  # fmt: skip
    """Sum over the filtered axes of ``derivative2(input, axis, output, mode, cval, *extra_arguments, **extra_keywords)``.

    As ``scipy.ndimage.generic_laplace``, except that ``derivative2`` receives the
    output *dtype* as ``output`` (nothing is written in place) and returns its result.

    >>> import kernex.ndimage as ndi
    >>> d2 = lambda x, axis, output, mode, cval: ndi.correlate1d(x, [1, -2, 1], axis, output, mode, cval)
    >>> ndi.generic_laplace(jnp.array([[0.0, 0, 0], [0, 1, 0], [0, 0, 0]]), d2, mode="constant").tolist()
    [[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]
    """
    if not callable(derivative2):
        raise TypeError(f"`derivative2` must be callable as derivative2(input, axis, output, mode, cval); got {derivative2!r}.")
    x = as_input(input)
    out = dtypes.output_dtype(output, x.dtype)
    ax = A.check_axes(axes, x.ndim)
    if not ax:
        return dtypes.c_cast(x, out)
    modes = A.per_axis(mode, len(ax), "mode")
    extra, kw = _extra(extra_arguments, extra_keywords)
    acc = _as_out(derivative2(x, ax[0], out, modes[0], cval, *extra, **kw), out)
    for a, m in zip(ax[1:], modes[1:]):
        term = _as_out(derivative2(x, a, out, m, cval, *extra, **kw), out)
        acc = acc | term if out == np.bool_ else acc + term
    return acc


@entry
def laplace(input, output=None, mode="reflect", cval=0.0, *, axes=None):
    """Sum of ``[1, -2, 1]`` second differences over the filtered axes (``scipy.ndimage.laplace``).

    >>> import kernex.ndimage as ndi
    >>> ndi.laplace(jnp.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]]), mode="constant").tolist()
    [[0, 1, 0], [1, -4, 1], [0, 1, 0]]
    """
    x = as_input(input)
    ax = A.check_axes(axes, x.ndim)
    A.modes_for(mode, len(ax), sequence_ok=True)  # check names and length
    cval = A.check_cval(cval, complex_ok=jnp.iscomplexobj(x))
    w = np.array([1.0, -2.0, 1.0])

    def d2(v, axis, out, m, c):
        return line_pass(v, w, axis, A.boundary_of(m), c, 0, dtypes.storage_dtype(out))

    return generic_laplace(x, d2, output, mode, cval, axes=ax)


@entry
def gaussian_laplace(input, sigma, output=None, mode="reflect", cval=0.0, *, axes=None, **kwargs):
    """Sum of Gaussian second derivatives over the filtered axes (``scipy.ndimage.gaussian_laplace``).

    ``kwargs`` (``truncate``, ``radius``) go to :func:`gaussian_filter`.

    >>> import kernex.ndimage as ndi
    >>> np.asarray(ndi.gaussian_laplace(jnp.array([0.0, 0, 1, 0, 0]), 1.0), np.float64).round(4).tolist()
    [0.1974, 0.002, -0.3989, 0.002, 0.1974]
    """
    x = as_input(input)
    ax = A.check_axes(axes, x.ndim)
    A.modes_for(mode, len(ax), sequence_ok=True)
    sigmas = A.expand_to_ndim(A.per_axis(sigma, len(ax), "sigma"), ax, x.ndim, 0)

    def d2(v, axis, out, m, c):
        order = [0] * v.ndim
        order[axis] = 2
        return gaussian_filter(v, sigmas, order, out, m, c, **kwargs)

    return generic_laplace(x, d2, output, mode, cval, axes=ax)


@entry
def generic_gradient_magnitude(input, derivative, output=None, mode="reflect", cval=0.0, extra_arguments=(),
                               extra_keywords=None, *, axes=None):  # fmt: skip
    """``sqrt`` of the sum over the filtered axes of ``derivative(input, axis, output, mode, cval, ...)**2``.

    As ``scipy.ndimage.generic_gradient_magnitude``, except that ``derivative``
    receives the output *dtype* as ``output`` and returns its result.

    >>> import kernex.ndimage as ndi
    >>> x = jnp.array([[0.0, 3.0], [4.0, 0.0]])
    >>> np.asarray(ndi.generic_gradient_magnitude(x, ndi.sobel, mode="constant"), np.float64).round(4).tolist()
    [[10.0, 5.6569], [4.2426, 10.0]]
    """
    if not callable(derivative):
        raise TypeError(f"`derivative` must be callable as derivative(input, axis, output, mode, cval); got {derivative!r}.")
    x = as_input(input)
    out = dtypes.output_dtype(output, x.dtype)
    ax = A.check_axes(axes, x.ndim)
    if not ax:
        return dtypes.c_cast(x, out)
    modes = A.per_axis(mode, len(ax), "mode")
    extra, kw = _extra(extra_arguments, extra_keywords)
    acc = None
    for a, m in zip(ax, modes):
        d = _as_out(derivative(x, a, out, m, cval, *extra, **kw), out)
        sq = d & d if out == np.bool_ else d * d
        acc = sq if acc is None else (acc | sq if out == np.bool_ else acc + sq)
    if out == np.bool_:
        return acc
    if out.kind in "fc":
        return jnp.sqrt(acc)
    return dtypes.c_cast(jnp.sqrt(acc.astype(dtypes.float_dtype(out))), out)


@entry
def gaussian_gradient_magnitude(input, sigma, output=None, mode="reflect", cval=0.0, *, axes=None, **kwargs):
    """Gradient magnitude with Gaussian first derivatives (``scipy.ndimage.gaussian_gradient_magnitude``).

    Every derivative smooths all input axes (``sigma`` is per input axis), as scipy.

    >>> import kernex.ndimage as ndi
    >>> np.asarray(ndi.gaussian_gradient_magnitude(jnp.array([0.0, 0, 1, 0, 0]), 1.0), np.float64).round(4).tolist()
    [0.0947, 0.2414, 0.0, 0.2414, 0.0947]
    """
    x = as_input(input)
    ax = A.check_axes(axes, x.ndim)
    A.modes_for(mode, len(ax), sequence_ok=True)

    def d1(v, axis, out, m, c):
        order = [0] * v.ndim
        order[axis] = 1
        return gaussian_filter(v, sigma, order, out, m, c, **kwargs)

    return generic_gradient_magnitude(x, d1, output, mode, cval, axes=ax)
