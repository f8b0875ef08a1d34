"""Weighted sums over windows, evaluated in the order scipy.ndimage's C code evaluates them.

Invariants, per pass (one ``kmap``; the result is stored in the pass's storage dtype):

* 1-D weights (``line_pass``): scipy's ``correlate1d`` formula, which tests odd
  weights for symmetry (``|w[c+k] - w[c-k]| <= DBL_EPSILON``) or antisymmetry and
  then sums ``v[c]*w[c] + (v[c-k] ± v[c+k])*w[c-k]`` for ``k = c .. 1``,
  otherwise ``v[-1]*w[-1] + v[0]*w[0] + v[1]*w[1] + ...``; every weight takes
  part, so a NaN under a zero weight propagates as in scipy;
* N-D weights (``nd_pass``): weights with ``|w| <= DBL_EPSILON`` are dropped (they
  are not in scipy's footprint: NaN under them does not propagate) and the others
  summed in C order; beyond :data:`UNROLL` cells the sum is ``kmap``'s
  correlation plan, whose order differs (and includes zero weights);
* box means (``mean_pass``): ``sum / size``;
* integer data with integer weights (and an integer ``cval``) into an integer
  output is summed exactly in int32 (int64 under x64) and then converted as
  scipy converts (``dtypes.c_cast``), which equals scipy's double arithmetic
  while sums stay within the int32 range; everything else is floating point
  in ``dtypes.compute_dtype``;
* traced weights (a JAX array under ``jit``) cannot be inspected: they are summed
  in the general order, none dropped.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from kernex._src.ndimage import dtypes
from kernex._src.ndimage.windows import line_windows, windows

__all__ = ["UNROLL", "is_concrete", "line_pass", "nd_pass", "mean_pass"]

#: the most nonzero N-D weights summed one by one in scipy's order
UNROLL = 256
_EPS = np.finfo(np.float64).eps


def is_concrete(value: Any) -> bool:
    """Whether ``value`` can be read now (not a tracer)."""
    return not isinstance(value, jax.core.Tracer)


def _integral(value: Any) -> bool:
    a = np.asarray(value)
    return a.dtype.kind in "biu" or (a.dtype.kind == "f" and bool(np.all(np.isfinite(a) & (a == np.round(a)))))


def _int_acc(x_dtype: np.dtype, store: np.dtype, weights: Any, cval: Any) -> np.dtype | None:
    """The exact integer accumulator dtype, or None when the pass must run in floating point."""
    if x_dtype.kind not in "biu" or store.kind not in "biu":
        return None
    if not (is_concrete(weights) and is_concrete(cval)) or np.asarray(weights).dtype.kind == "c":
        return None
    acc = np.dtype(np.int64) if dtypes.x64() else np.dtype(np.int32)
    if x_dtype.itemsize > 4 or (x_dtype == np.uint32 and acc == np.int32):
        return None
    w = np.asarray(weights, np.float64)
    c = np.asarray(cval)
    if not (_integral(w) and _integral(c)) or np.iscomplexobj(c) or abs(float(c)) >= 2**31:
        return None
    if w.size and np.abs(w).max() >= 2**31:
        return None
    return acc


def _symmetry(w: np.ndarray) -> int:
    """scipy's test: 1 symmetric, -1 antisymmetric, 0 neither (even sizes are never symmetric)."""
    n = w.shape[0]
    if not n & 1 or np.iscomplexobj(w):
        return 0
    c = n // 2
    if all(abs(w[c + k] - w[c - k]) <= _EPS for k in range(1, c + 1)):
        return 1
    if all(abs(w[c + k] + w[c - k]) <= _EPS for k in range(1, c + 1)):
        return -1
    return 0


def _line_formula(w: np.ndarray, dtype: np.dtype):
    """scipy's correlate1d sum for concrete 1-D weights ``w`` (float64), in ``dtype``."""
    n = w.shape[0]
    c = n // 2
    wc = [np.asarray(v, dtype)[()] for v in w]
    sym = _symmetry(w)

    def fn(v):
        if sym:
            acc = v[c] * wc[c]
            for k in range(c):
                pair = v[k] + v[n - 1 - k] if sym > 0 else v[k] - v[n - 1 - k]
                acc = acc + pair * wc[k]
            return acc
        acc = v[n - 1] * wc[n - 1]
        for k in range(n - 1):
            acc = acc + v[k] * wc[k]
        return acc

    return fn


def _traced_line(v, w):
    acc = v[-1] * w[-1]
    for k in range(v.shape[0] - 1):
        acc = acc + v[k] * w[k]
    return acc


def _exact_sum(cells: list[tuple[Any, int]], acc_dtype: np.dtype):
    """Sum of ``v[index] * weight`` in integers, zero weights skipped."""
    terms = [(idx, int(w)) for idx, w in cells if int(w) != 0]

    def fn(v):
        if not terms:
            return jnp.zeros((), acc_dtype)
        acc = None
        for idx, w in terms:
            term = v[idx] if w == 1 else v[idx] * np.asarray(w, acc_dtype)[()]
            acc = term if acc is None else acc + term
        return acc

    return fn


def line_pass(x: jax.Array, weights: Any, axis: int, mode: str, cval: Any, origin: int, store: np.dtype) -> jax.Array:
    """One 1-D correlation of ``x`` along ``axis``, stored in ``store``.

    >>> import jax.numpy as jnp
    >>> line_pass(jnp.array([2, 8, 0, 4, 1, 9, 9, 0]), np.array([1.0, 3.0]), 0, "symmetric", 0.0, 0,
    ...           np.dtype("int32")).tolist()
    [8, 26, 8, 12, 7, 28, 36, 9]
    """
    if x.size == 0:
        return jnp.zeros(x.shape, store)
    acc = _int_acc(x.dtype, store, weights, cval)
    if acc is not None:
        w = np.asarray(weights, np.float64)
        fn = _exact_sum([(k, w[k]) for k in range(w.shape[0])], acc)
        out = line_windows(x.astype(acc), fn, w.shape[0], axis, mode, int(np.asarray(cval)), origin)
        return dtypes.c_cast(out, store)
    wdt = np.asarray(weights).dtype if is_concrete(weights) else weights.dtype
    cdt = dtypes.compute_dtype(x.dtype, store, wdt)
    xv = x.astype(cdt)
    if is_concrete(weights):
        w = np.asarray(weights)
        w = w.astype(np.complex128 if np.iscomplexobj(w) else np.float64)
        out = line_windows(xv, _line_formula(w, cdt), w.shape[0], axis, mode, cval, origin)
    else:
        w = weights.astype(cdt)
        out = line_windows(xv, _traced_line, w.shape[0], axis, mode, cval, origin, (w,))
    return dtypes.c_cast(out, store)


def nd_pass(x: jax.Array, weights: Any, modes: list[str], cval: Any, origins: list[int], store: np.dtype) -> jax.Array:
    """One N-D correlation of ``x`` with ``weights`` (same rank), stored in ``store``."""
    if x.size == 0:
        return jnp.zeros(x.shape, store)
    shape = tuple(weights.shape)
    acc = _int_acc(x.dtype, store, weights, cval)
    if acc is not None:
        w = np.asarray(weights, np.float64)
        cells = [(idx, w[idx]) for idx in zip(*np.nonzero(np.abs(w) > _EPS))]
        if len(cells) <= UNROLL:
            out = windows(x.astype(acc), _exact_sum(cells, acc), shape, modes, int(np.asarray(cval)), origins)
            return dtypes.c_cast(out, store)
    wdt = np.asarray(weights).dtype if is_concrete(weights) else weights.dtype
    cdt = dtypes.compute_dtype(x.dtype, store, wdt)
    xv = x.astype(cdt)
    if is_concrete(weights):
        w = np.asarray(weights)
        keep = np.abs(w) > _EPS
        cells = list(zip(*np.nonzero(keep)))
        if len(cells) <= UNROLL:
            wc = {idx: np.asarray(w[idx], cdt)[()] for idx in cells}

            def fn(v):
                if not cells:
                    return jnp.zeros((), cdt)
                acc_ = v[cells[0]] * wc[cells[0]]
                for idx in cells[1:]:
                    acc_ = acc_ + v[idx] * wc[idx]
                return acc_

            return dtypes.c_cast(windows(xv, fn, shape, modes, cval, origins), store)
        w = jnp.asarray(np.where(keep, w, 0), cdt)
    else:
        w = weights.astype(cdt)
    out = windows(xv, lambda v, w_: jnp.tensordot(v, w_, v.ndim), shape, modes, cval, origins, (w,))
    return dtypes.c_cast(out, store)


def mean_pass(x: jax.Array, size: int, axis: int, mode: str, cval: Any, origin: int, store: np.dtype) -> jax.Array:
    """One 1-D box mean (scipy's ``uniform_filter1d``), stored in ``store``: integers exactly (truncated)."""
    if x.size == 0:
        return jnp.zeros(x.shape, store)
    acc = _int_acc(x.dtype, store, np.ones(1), cval)
    if acc is not None:
        out = line_windows(
            x.astype(acc), lambda v: lax.div(jnp.sum(v), np.asarray(size, acc)[()]), size, axis, mode,
            int(np.asarray(cval)), origin,
        )  # fmt: skip
        return dtypes.c_cast(out, store)
    cdt = dtypes.compute_dtype(x.dtype, store)
    out = line_windows(x.astype(cdt), lambda v: jnp.sum(v) / size, size, axis, mode, cval, origin)
    return dtypes.c_cast(out, store)
