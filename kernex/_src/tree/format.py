"""Short, one-line rendering of field values, shared by treeclass ``repr`` and ``kernex.viz``.

Arrays are rendered by dtype and shape only (``f32[100,1]``), so a model's
``repr`` stays one readable line however large its weights are.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

__all__ = ["dtype_abbrev", "fmt"]


def dtype_abbrev(dtype: Any) -> str:
    """``float32`` -> ``f32``, ``uint8`` -> ``ui8``, ``bfloat16`` -> ``bf16``, ``bool`` -> ``bool``.

    >>> dtype_abbrev(np.dtype("complex64")), dtype_abbrev(np.dtype("int32"))
    ('c64', 'i32')
    """
    if jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        return str(dtype)  # typed PRNG keys (jax.random.key): key<fry>
    name = np.dtype(dtype).name
    return name.replace("complex", "c").replace("float", "f").replace("int", "i")


def fmt(value: Any) -> str:
    """One-line form of a value: arrays as dtype + shape, containers element-wise, else ``repr``.

    * ``jax.Array`` (tracers included), ``numpy.ndarray``, ``jax.ShapeDtypeStruct``:
      ``f32[100,1]``, ``i32[5]``, ``f32[]``;
    * list, tuple, dict, namedtuple: Python's layout with ``fmt`` applied to
      the elements;
    * anything else, including treeclass instances (whose ``repr`` uses ``fmt``):
      ``repr(value)``.

    >>> import jax.numpy as jnp
    >>> fmt(jnp.zeros((100, 1))), fmt(jnp.arange(5)), fmt(jnp.float32(1))
    ('f32[100,1]', 'i32[5]', 'f32[]')
    >>> fmt([jnp.ones(2), 1.5, "a"]), fmt({"w": np.zeros((2, 3), np.uint8)}), fmt((1,))
    ("[f32[2], 1.5, 'a']", "{'w': ui8[2,3]}", '(1,)')
    """
    if isinstance(value, (jax.Array, np.ndarray, jax.ShapeDtypeStruct)):
        return f"{dtype_abbrev(value.dtype)}[{','.join(str(d) for d in value.shape)}]"
    if type(value) is list:
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    if type(value) is tuple:
        inner = ", ".join(fmt(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, tuple) and hasattr(type(value), "_fields"):  # namedtuple
        inner = ", ".join(f"{k}={fmt(v)}" for k, v in zip(type(value)._fields, value))
        return f"{type(value).__name__}({inner})"
    if type(value) is dict:
        return "{" + ", ".join(f"{k!r}: {fmt(v)}" for k, v in value.items()) + "}"
    return repr(value)
