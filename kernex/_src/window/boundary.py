"""The state: the input extended beyond its edges so that every window can be sliced.

kmap reads its windows from the state and kscan updates it in place. Per axis
the state is the input extended by ``Geometry.state_padding`` (the positive part
of the padding; negative padding removes windows, never cells). Extended cells
read zero.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from kernex._src.window.geometry import Geometry

__all__ = ["pad_state"]


def pad_state(x: jax.Array, geometry: Geometry) -> jax.Array:
    """Zero-extend ``x`` by ``geometry.state_padding`` (the kscan state / kmap source)."""
    if all(p == (0, 0) for p in geometry.state_padding):
        return x
    return lax.pad(x, jnp.zeros((), x.dtype), [(lo, hi, 0) for lo, hi in geometry.state_padding])
