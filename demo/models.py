"""The seed README's treeclass models: ``Linear``, the MLP ``StackedLinear``, ``MaxPool2D``, ``AverageBlurLayer``.

Written as in the seed (custom ``__init__``, ``x @ weight + bias``, ``kmap``
inside ``__call__``), so the demos, benchmarks, treeclass and viz tests share
one definition (test_kmap keeps plain-class copies to test kmap without treeclass).

>>> import jax
>>> model = StackedLinear(key=jax.random.PRNGKey(0), in_dim=1, out_dim=1)
>>> model.l2
Linear(weight=f32[128,128],bias=f32[1,128])
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from kernex import kmap, static_field, treeclass

__all__ = ["AverageBlurLayer", "Linear", "MaxPool2D", "StackedLinear"]


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


@treeclass
class MaxPool2D:
    """Max over ``kernel_size`` windows of ``(batch, channel, row, col)`` input; all fields static."""

    kernel_size: tuple[int, ...] | int = static_field()
    strides: tuple[int, ...] | int = static_field()
    padding: tuple[int, ...] | int | str = static_field()

    def __init__(self, *, kernel_size=(2, 2), strides=2, padding="valid"):
        self.kernel_size = kernel_size
        self.strides = strides
        self.padding = padding

    def __call__(self, x: jax.Array) -> jax.Array:
        @jax.vmap  # batch
        @jax.vmap  # channels
        @kmap(kernel_size=self.kernel_size, strides=self.strides, padding=self.padding)
        def _maxpool2d(x):
            return jnp.max(x)

        return _maxpool2d(x)


@treeclass
class AverageBlurLayer:
    """Channels-first mean filter (zero padding, ``'same'`` size), cast to ``uint8``; dynamic fields as in the seed."""

    in_channels: int
    kernel_size: tuple[int]

    def __init__(self, in_channels: int, kernel_size: tuple[int, ...]):
        self.in_channels = in_channels
        self.kernel_size = kernel_size

    def __call__(self, x: jax.Array) -> jax.Array:
        @jax.vmap  # batch
        @jax.vmap  # channels
        @kmap(kernel_size=(*self.kernel_size,), padding="same")
        def average_blur(x):
            kernel = jnp.ones([*self.kernel_size]) / jnp.array(self.kernel_size).prod()
            return jnp.sum(x * kernel, dtype=jnp.float32)

        return average_blur(x).astype(jnp.uint8)
