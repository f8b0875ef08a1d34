"""The seed README's treeclass models: ``Linear`` and the 3-layer MLP ``StackedLinear``.

Written as in the seed (custom ``__init__``, ``x @ weight + bias``), so the
regression demo, the benchmarks and the viz examples share one definition.

>>> import jax
>>> model = StackedLinear(key=jax.random.PRNGKey(0), in_dim=1, out_dim=1)
>>> model.l2
Linear(weight=f32[128,128],bias=f32[1,128])
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from kernex import treeclass

__all__ = ["Linear", "StackedLinear"]


@treeclass
class Linear:
    """Dense layer ``x @ weight + bias`` with He-normal weights and a bias of ones (as in the seed)."""

    weight: jax.Array
    bias: jax.Array

    def __init__(self, key: jax.Array, in_dim: int, out_dim: int):
        self.weight = jax.random.normal(key, shape=(in_dim, out_dim)) * jnp.sqrt(2 / in_dim)
        self.bias = jnp.ones((1, out_dim))

    def __call__(self, x: jax.Array) -> jax.Array:
        return x @ self.weight + self.bias


@treeclass
class StackedLinear:
    """``in_dim -> 128 -> 128 -> out_dim`` MLP with ``tanh`` between layers."""

    l1: Linear
    l2: Linear
    l3: Linear

    def __init__(self, key: jax.Array, in_dim: int, out_dim: int):
        keys = jax.random.split(key, 3)
        self.l1 = Linear(key=keys[0], in_dim=in_dim, out_dim=128)
        self.l2 = Linear(key=keys[1], in_dim=128, out_dim=128)
        self.l3 = Linear(key=keys[2], in_dim=128, out_dim=out_dim)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = jax.nn.tanh(self.l1(x))
        x = jax.nn.tanh(self.l2(x))
        return self.l3(x)
