"""Windows placed as scipy.ndimage places them, built with ``kernex.kmap``.

Invariants: the window of shape ``shape`` at output cell ``i`` covers, per axis,
the input cells ``i - (s // 2 + o) + j`` (``j < s``, ``o`` the origin), so the
output has the input's shape; cells outside the input read through ``kmap``'s
``boundary`` (one mode per axis) and ``fill_value`` (``cval``). A window longer
than its axis (which ``kmap`` refuses) first extends that axis with a
one-cell ``kmap`` carrying the same boundary, so every mode matches
``jnp.pad`` for pads of any width, as scipy's filters do. The window function
receives the window (shape ``shape``) and returns one scalar per window.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax

from kernex._src.kmap import kmap

__all__ = ["windows", "line_windows"]


def _cell(patch: jax.Array) -> jax.Array:
    return patch.reshape(())


def windows(
    x: jax.Array, fn: Callable, shape: Sequence[int], modes: Sequence[str], cval: Any, origins: Sequence[int],
    args: tuple = (), kwargs: dict | None = None,
) -> jax.Array:  # fmt: skip
    """``fn(window, *args, **kwargs)`` at every cell of ``x``, windows placed as scipy's.

    >>> import jax.numpy as jnp
    >>> windows(jnp.arange(5.0), jnp.sum, (3,), ("constant",), 0.0, (0,)).tolist()
    [1.0, 3.0, 6.0, 9.0, 7.0]
    >>> windows(jnp.arange(5.0), jnp.sum, (3,), ("constant",), 0.0, (1,)).tolist()   # shifted right
    [0.0, 1.0, 3.0, 6.0, 9.0]
    """
    shape = tuple(int(s) for s in shape)
    lo = [s // 2 + o for s, o in zip(shape, origins)]
    hi = [s - 1 - l for s, l in zip(shape, lo)]
    boundary = tuple(modes)
    wide = [a for a in range(x.ndim) if shape[a] > x.shape[a] and (lo[a] or hi[a])]
    if wide:  # kmap refuses kernels longer than their axis: extend those axes first (same boundary)
        pads = tuple((lo[a], hi[a]) if a in wide else (0, 0) for a in range(x.ndim))
        x = kmap(kernel_size=1, padding=pads, boundary=boundary, fill_value=cval)(_cell)(x)
        for a in wide:
            lo[a] = hi[a] = 0
    kernel = kmap(kernel_size=shape, padding=tuple(zip(lo, hi)), boundary=boundary, fill_value=cval)
    return kernel(fn)(x, *args, **(kwargs or {}))


def line_windows(
    x: jax.Array, fn: Callable, size: int, axis: int, mode: str, cval: Any, origin: int, args: tuple = (),
) -> jax.Array:  # fmt: skip
    """``fn(line)`` with ``line`` the 1-D window of ``size`` cells along ``axis`` (a 1-D pass of a separable filter).

    >>> import jax.numpy as jnp
    >>> line_windows(jnp.arange(6.0).reshape(2, 3), lambda v: v[0] - v[2], 3, 1, "edge", 0.0, 0).tolist()
    [[-1.0, -2.0, -1.0], [-1.0, -2.0, -1.0]]
    """
    shape = [1] * x.ndim
    shape[axis] = size
    origins = [0] * x.ndim
    origins[axis] = origin
    modes = ["constant"] * x.ndim
    modes[axis] = mode

    def line(patch, *a):
        return fn(patch.reshape(size), *a)

    return windows(x, line, shape, modes, cval, origins, args)

