"""Numeric types of ``kernex.ndimage``: the output dtype, the arithmetic dtype, and scipy's conversion to integers.

Invariants (scipy.ndimage's rules, checked in ``tests/test_ndimage_args.py``):

* the result has the input's dtype unless ``output=`` names another dtype; an
  ``output`` array cannot be written in place in JAX and is refused;
* separable filters store every 1-D pass in the output dtype (scipy does), so an
  integer output truncates between passes; a ``bool`` output is stored as
  ``uint8`` between passes (scipy keeps the raw byte) and is ``!= 0`` at the end;
* arithmetic runs in floating point: float64 for integer data when
  ``jax_enable_x64`` is on (scipy always uses double), float32 otherwise, and
  the input's or output's own float dtype for float data (never below float32);
* a float becomes an integer as scipy's C code converts a double on x86-64:
  truncation toward zero through a 32-bit int for 8/16/32-bit targets (so
  ``uint8`` and ``int16`` wrap around, ``-1.5 -> 255`` for ``uint8``, and a value
  outside the int32 range or NaN becomes ``INT32_MIN``: ``0`` for ``uint8``) and
  through a 64-bit int for ``uint32`` (and the 64-bit types under x64).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["output_dtype", "storage_dtype", "float_dtype", "compute_dtype", "c_cast", "finish", "fill_value", "x64"]


def x64() -> bool:
    """Whether 64-bit types are on (``jax_enable_x64``)."""
    return jax.dtypes.canonicalize_dtype(np.float64) == np.float64


def _canonical(dtype: Any) -> np.dtype:
    return np.dtype(jax.dtypes.canonicalize_dtype(np.dtype(dtype)))


def output_dtype(output: Any, input_dtype: Any) -> np.dtype:
    """The result's dtype: ``output`` (a dtype, a scalar type or a dtype string), or the input's when ``None``.

    >>> output_dtype(None, np.uint8), output_dtype("float32", np.uint8)
    (dtype('uint8'), dtype('float32'))
    """
    if output is None:
        return _canonical(input_dtype)
    if isinstance(output, (np.ndarray, jax.Array)) or (not isinstance(output, type) and hasattr(output, "__array__")):
        raise TypeError(
            "`output` must be None or a dtype: a JAX array cannot be written in place. Use the returned array, and "
            f"pass output=arr.dtype to choose its type; got an array of shape {np.shape(output)}."
        )
    try:
        dtype = np.dtype(output)
    except TypeError:
        raise TypeError(f"`output` must be None or a dtype (e.g. jnp.float32, 'uint8'); got output={output!r}.") from None
    if dtype.kind not in "biufc":
        raise TypeError(f"`output` must be a numeric dtype; got output={output!r} ({dtype}).")
    return _canonical(dtype)


def storage_dtype(out: np.dtype) -> np.dtype:
    """The dtype intermediate passes are stored in: the output's, ``uint8`` for a bool output."""
    return np.dtype(np.uint8) if out == np.bool_ else out


def float_dtype(*dtypes: np.dtype) -> np.dtype:
    """The floating (or complex) dtype to compute in for data of ``dtypes`` (see the module docstring)."""
    cands = [np.dtype(np.float32)]
    for d in dtypes:
        d = np.dtype(d)
        if d.kind in "fc":
            cands.append(d)
        else:  # integer or bool data: scipy computes in double
            cands.append(_canonical(np.float64))
    return _canonical(np.result_type(*cands))


def compute_dtype(in_dtype: Any, out_dtype: Any, *extra: Any) -> np.dtype:
    """:func:`float_dtype` of the input, the output and any ``extra`` dtypes (weights)."""
    return float_dtype(in_dtype, out_dtype, *extra)


_I32 = (-(2**31), 2**31)
_I64 = (-(2**63), 2**63)


def _via_int(t: jax.Array, bounds: tuple[int, int], wide: Any, dtype: np.dtype) -> jax.Array:
    """``(dtype)(wide)t``: out of ``wide``'s range (or NaN) is its minimum, then wrap into ``dtype``."""
    lo, hi = float(bounds[0]), float(bounds[1])  # exact in float32 and float64
    ok = (t >= lo) & (t < hi)
    return jnp.where(ok, t, lo).astype(wide).astype(dtype)


def c_cast(v: jax.Array, dtype: Any) -> jax.Array:
    """``v`` converted to ``dtype`` as scipy's C code stores a double into an array of that type.

    >>> c_cast(jnp.array([2.7, -1.5, 256.0, 1e10]), np.uint8).tolist()
    [2, 255, 0, 0]
    >>> c_cast(jnp.array([-2.7, 3e9]), np.int32).tolist()
    [-2, -2147483648]
    """
    dtype = np.dtype(dtype)
    if v.dtype == dtype:
        return v
    if dtype == np.bool_:
        return c_cast(v, np.uint8) != 0
    if dtype.kind in "fc":
        return v.astype(dtype)
    if v.dtype.kind in "biu":  # integer to integer: two's-complement wrap, as C
        return v.astype(dtype)
    if v.dtype.kind == "c":
        v = jnp.real(v)
    t = jnp.trunc(v)
    if dtype.itemsize <= 4 and dtype != np.uint32:
        return _via_int(t, _I32, np.int32, dtype)
    if x64():
        if dtype == np.uint64:  # x86-64: values >= 2**63 go through (t - 2**63) ^ 2**63
            big = t >= 2.0**63
            low = _via_int(t, _I64, np.int64, np.uint64)
            high = _via_int(t - 2.0**63, _I64, np.int64, np.uint64) ^ np.uint64(2**63)
            return jnp.where(big, high, low)
        return _via_int(t, _I64, np.int64, dtype)
    # uint32 without 64-bit ints: exact on [-2**31, 2**32), 0 elsewhere
    neg = _via_int(jnp.where(t < 0, t, 0), _I32, np.int32, dtype)
    pos = jnp.where((t >= 0) & (t < 2.0**32), t, 0).astype(dtype)
    return jnp.where(t < 0, jnp.where(t >= float(_I32[0]), neg, np.zeros((), dtype)), pos)


def finish(v: jax.Array, out: np.dtype) -> jax.Array:
    """The stored result ``v`` (storage dtype) as the output dtype."""
    return c_cast(v, out)


def fill_value(cval: Any, dtype: Any) -> Any:
    """``cval`` as the value a cell outside the input holds in an array of ``dtype`` (scipy's ``(type)cval``).

    Float data keep ``cval`` as given (it may be traced); integer data get :func:`c_cast`'s conversion.

    >>> fill_value(-1.5, np.uint8), fill_value(2.7, np.int32), fill_value(0.5, np.float32)
    (np.uint8(255), np.int32(2), 0.5)
    """
    dtype = np.dtype(dtype)
    if dtype.kind in "fc":
        return cval
    try:
        c = complex(cval).real
    except TypeError:  # traced
        return c_cast(jnp.asarray(cval), dtype)
    if dtype == np.bool_:
        return np.bool_(fill_value(c, np.uint8) != 0)
    if c != c:  # NaN
        t = None
    else:
        t = int(np.trunc(c)) if np.isfinite(c) else None
    bits = 32 if dtype.itemsize <= 4 and dtype != np.uint32 else 64
    if t is None or not -(2 ** (bits - 1)) <= t < 2 ** (bits - 1):
        if dtype == np.uint64 and t is not None and 2**63 <= t < 2**64:
            return np.uint64(t)
        t = -(2 ** (bits - 1))
    return np.array(t, np.int64).astype(dtype)[()]
