"""Public entry points of ``kernex.ndimage`` as one compiled program per configuration.

Invariants: :func:`entry` wraps a filter so that a call runs under ``jax.jit``:
the input (first argument) and every traced value are the dynamic arguments;
everything else (mode names, sizes, ``footprint``/``weights``/``structure``
arrays, concrete ``cval``, callables) is static configuration, so the
filter's Python-side checks see concrete values and a repeated call with the
same configuration and shapes reuses the compiled program (run eagerly, every
shifted slice of a window would compile on its own). Concrete arrays are
frozen by value (shape, dtype and bytes); a configuration that cannot be hashed
runs without ``jit``. Results and errors are those of the wrapped function.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["entry"]


class _Frozen:
    """A concrete array as a hashable, static value (compared by shape, dtype and bytes)."""

    __slots__ = ("array", "_key")

    def __init__(self, array: np.ndarray):
        self.array = array
        self._key = (array.shape, array.dtype.str, array.tobytes())

    def __hash__(self) -> int:
        return hash(self._key)

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, _Frozen) and self._key == other._key


_DYNAMIC = object()


def _static(leaf: Any) -> Any:
    if isinstance(leaf, jax.Array):
        return _Frozen(np.asarray(leaf))
    if isinstance(leaf, np.ndarray):
        return _Frozen(leaf)
    return leaf


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _run(fn: Callable, treedef, statics: tuple, dynamic: list) -> Any:
    it = iter(dynamic)
    leaves = [next(it) if s is _DYNAMIC else (s.array if isinstance(s, _Frozen) else s) for s in statics]
    args, kwargs = jax.tree_util.tree_unflatten(treedef, leaves)
    return fn(*args, **kwargs)


def entry(fn: Callable) -> Callable:
    """``fn(input, *args, **kwargs)`` compiled once per configuration (see the module docstring)."""

    @functools.wraps(fn)
    def wrapper(input, *args, **kwargs):
        x = input if isinstance(input, jax.Array) else jnp.asarray(input)
        leaves, treedef = jax.tree_util.tree_flatten(((x, *args), kwargs))
        statics, dynamic = [_DYNAMIC], [x]  # leaf 0 is the input: always data
        for leaf in leaves[1:]:
            if isinstance(leaf, jax.core.Tracer):
                statics.append(_DYNAMIC)
                dynamic.append(leaf)
            else:
                statics.append(_static(leaf))
        try:
            hash(tuple(statics))
        except TypeError:  # an unhashable configuration value: run it as it is
            return fn(x, *args, **kwargs)
        return _run(fn, treedef, tuple(statics), dynamic)

    return wrapper
