"""``kmap`` against hand-written shifted slices, the best native JAX op, and NumPy/SciPy.

Every workload uses the seed README's window function verbatim (conv
``jnp.sum(x*w)``, relative Laplacian, identity patches, ``jnp.mean`` moving
average, ``F[0]``/``F[1:]`` by index, ``jnp.max`` pooling, ``jnp.sum(x*kernel,
dtype=float32)`` blur) plus a 3-D 7-point Laplacian written like the seed's 2-D
one, the boundary-mode and by-index rows of ``kmap_features.py`` and the
several-fields and dilation rows of ``kmap_fields.py``.
For each, the same inputs go through

* ``kmap`` (jitted),
* a hand-written jitted version: ``jnp.pad`` + a Python loop over shifted
  (strided) slices, what a careful engineer writes by hand,
* native JAX ops: ``lax.conv_general_dilated``, ``lax.reduce_window``,
  ``lax.conv_general_dilated_patches`` (or ``jnp.where`` for functions by index),
* NumPy/SciPy where they fit (``scipy.ndimage``, NumPy slicing/``convolve``).

Gradients are ``jax.grad`` of the same loss ``0.5 * sum(f(*inputs)**2)`` of
each JAX implementation ``f``: its gradient ``J^T f`` depends on every input,
even for a linear ``f``. (The gradient of a plain ``sum(f(x))`` of a linear
``f`` is a constant that XLA folds at compile time, timing nothing.) See
``harness.py`` for how things are measured and ``README.md`` for the targets.

Run ``python -m benchmarks.suite_kmap [--quick]`` to print the tables.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import sys

import jax
import jax.numpy as jnp
import numpy as np
import scipy.ndimage as ndimage
from jax import lax

import kernex
from benchmarks import kmap_features, kmap_fields, report
from benchmarks.harness import HAND, KMAP, NATIVE, NUMPY, Impl, Workload
from benchmarks.targets import GRAD, Target

__all__ = ["run", "workloads"]

MODULE = "benchmarks.suite_kmap"
FULL = {"time_budget_s": 6.0, "min_rounds": 7, "max_rounds": 2000, "compile_repeats": 3}
QUICK = {"time_budget_s": 0.02, "min_rounds": 3, "max_rounds": 3, "compile_repeats": 1}

SEED = Target("≤1.3× hand-written", 1.3, memory_ratio=2.0)
VECTOR = Target("≤1.3× hand-written", 1.3)  # vector-valued window: no memory target
POOL = Target("≤1.5× hand-written", 1.5, memory_ratio=2.0)
BLUR = Target("≤2× scipy uniform_filter; compile ≤5 s", 2.0, baseline=(NUMPY,), compile_s=5.0, memory_ratio=2.0)


def _add(terms) -> jax.Array:
    return functools.reduce(operator.add, terms)


def _key(i: int) -> jax.Array:
    return jax.random.PRNGKey(i)


def _grad_loss(f, argnums=0):
    """``jax.grad`` of ``0.5 * sum(f(*a)**2)``: the VJP ``J^T f(*a)``, which depends on every input."""
    return jax.grad(lambda *a: 0.5 * jnp.sum(f(*a) ** 2), argnums=argnums)


def _gradient(forward: Workload, name: str, description: str, terms, argnums=0) -> Workload:
    """:func:`_grad_loss` of every JAX implementation of ``forward`` (one loss for all), on the same inputs."""
    impls = [dataclasses.replace(i, fn=_grad_loss(i.fn, argnums)) for i in forward.impls if i.is_jax and not i.post]
    return Workload(name, description, forward.inputs, impls, terms, GRAD)


# ----------------------------------------------------------------------------- seed conv: (C, H, W) * (C, 3, 3)


def _kmap_conv(c: int):
    @kernex.kmap(kernel_size=(c, 3, 3), padding=("valid", "same", "same"))
    def kernex_conv2d(x, w):
        return jnp.sum(x * w)

    return kernex_conv2d


def _hand_conv(x, w):
    c, h, wd = x.shape
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1)))
    return _add(xp[k, i : i + h, j : j + wd] * w[k, i, j] for k in range(c) for i in range(3) for j in range(3))[None]


def _lax_conv(x, w):
    out = lax.conv_general_dilated(x[None], w[None], (1, 1), "SAME", dimension_numbers=("NCHW", "OIHW", "NCHW"))
    return out[0]


def _scipy_conv(x, w):
    return sum(ndimage.correlate(x[k], w[k], mode="constant") for k in range(x.shape[0]))[None]


def _conv(name: str, c: int, n: int) -> Workload:
    return Workload(
        name, f"seed conv2d `kmap(kernel_size=({c},3,3), padding=('valid','same','same'))(jnp.sum(x*w))`, x {c}×{n}²",
        lambda: (jax.random.normal(_key(0), (c, n, n)), jax.random.normal(_key(1), (c, 3, 3))),
        [Impl("kmap", KMAP, _kmap_conv(c)), Impl("shifted slices", HAND, _hand_conv),
         Impl("lax.conv_general_dilated", NATIVE, _lax_conv), Impl("scipy.ndimage.correlate", NUMPY, _scipy_conv)],
        9 * c, SEED,
    )  # fmt: skip


# ----------------------------------------------------------------------------- 1-D patches, moving average, by index


@kernex.kmap(kernel_size=(3,), padding="same")
def get_patches(x):
    return x


def _hand_patches(x):
    n = x.shape[0]
    xp = jnp.pad(x, 1)
    return jnp.stack([xp[i : i + n] for i in range(3)], axis=-1)


def _patches(n: int) -> Workload:
    return Workload(
        "patches 1-D k=3 same", f"seed `kmap(kernel_size=(3,), padding='same')(lambda x: x)`, n={n:,} → ({n:,}, 3)",
        lambda: (jax.random.normal(_key(2), (n,)),),
        [Impl("kmap", KMAP, get_patches), Impl("stacked slices", HAND, _hand_patches),
         Impl("lax.conv_general_dilated_patches", NATIVE,
              lambda x: lax.conv_general_dilated_patches(x[None, None], (3,), (1,), "SAME"),
              post=lambda out: np.asarray(out)[0].T),  # native (1, 3, n) layout; transposed for the check only
         Impl("numpy sliding_window_view", NUMPY, lambda x: np.lib.stride_tricks.sliding_window_view(np.pad(x, 1), 3).copy())],
        1, VECTOR,
    )  # fmt: skip


@kernex.kmap(kernel_size=(3,))
def moving_average(x):
    return jnp.mean(x)


def _moving_average(n: int) -> Workload:
    return Workload(
        "moving average k=3", f"seed `kmap(kernel_size=(3,))(jnp.mean)`, n={n:,}",
        lambda: (jax.random.normal(_key(3), (n,)),),
        [Impl("kmap", KMAP, moving_average), Impl("shifted slices", HAND, lambda x: (x[:-2] + x[1:-1] + x[2:]) / 3),
         Impl("lax.reduce_window", NATIVE, lambda x: lax.reduce_window(x, np.float32(0), lax.add, (3,), (1,), "VALID") / 3),
         Impl("numpy convolve", NUMPY, lambda x: np.convolve(x, np.full(3, 1 / 3, np.float32), "valid"))],
        3, SEED,
    )  # fmt: skip


def _by_index_kmap():
    F = kernex.kmap(kernel_size=(1,))
    F[0] = lambda x: x[0] ** 2
    F[1:] = lambda x: x[0] ** 3
    return lambda x: F(x)


def _hand_by_index(x):
    return (x**3).at[0].set(x[0] ** 2)


def _where_by_index(x):
    return jnp.where(jnp.arange(x.shape[0]) == 0, x**2, x**3)


def _numpy_by_index(x):
    y = x**3
    y[0] = x[0] ** 2
    return y


def _by_index(n: int) -> Workload:
    return Workload(
        "function by index", f"seed `F[0] = x[0]**2; F[1:] = x[0]**3`, n={n:,}",
        lambda: (jax.random.uniform(_key(4), (n,), minval=0.5, maxval=1.5),),
        [Impl("kmap", KMAP, _by_index_kmap()), Impl("slices + .at[0].set", HAND, _hand_by_index),
         Impl("jnp.where", NATIVE, _where_by_index), Impl("numpy", NUMPY, _numpy_by_index)],
        1, SEED,
    )  # fmt: skip


# ----------------------------------------------------------------------------- Laplacians


@kernex.kmap(kernel_size=(3, 3), padding="valid", relative=True)
def laplacian(x):
    return (0 * x[1, -1] + 1 * x[1, 0] + 0 * x[1, 1] +
            1 * x[0, -1] + -4 * x[0, 0] + 1 * x[0, 1] +
            0 * x[-1, -1] + 1 * x[-1, 0] + 0 * x[-1, 1])  # fmt: skip


def _hand_laplacian(x):
    return x[2:, 1:-1] + x[:-2, 1:-1] + x[1:-1, :-2] + x[1:-1, 2:] - 4 * x[1:-1, 1:-1]


def _hand_laplacian_seed_terms(x):
    """The seed's function term for term: its ``0 * x`` corners stay (they turn an inf/nan corner into nan)."""
    h, w = x.shape

    def at(di, dj):
        return x[1 + di : h - 1 + di, 1 + dj : w - 1 + dj]

    return (0 * at(1, -1) + 1 * at(1, 0) + 0 * at(1, 1) +
            1 * at(0, -1) + -4 * at(0, 0) + 1 * at(0, 1) +
            0 * at(-1, -1) + 1 * at(-1, 0) + 0 * at(-1, 1))  # fmt: skip


_LAPLACE_3x3 = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float32)


def _lax_laplacian(x):
    return lax.conv_general_dilated(x[None, None], _LAPLACE_3x3[None, None], (1, 1), "VALID")[0, 0]


def _laplacian(n: int) -> Workload:
    return Workload(
        "Laplacian 2-D valid", f"seed relative 3×3 Laplacian, 'valid', {n}²",
        lambda: (jax.random.normal(_key(5), (n, n)),),
        [Impl("kmap", KMAP, laplacian), Impl("shifted slices", HAND, _hand_laplacian),
         Impl("shifted slices, the seed's 9 terms", HAND, _hand_laplacian_seed_terms),
         Impl("lax.conv_general_dilated", NATIVE, _lax_laplacian),
         Impl("scipy.ndimage.laplace", NUMPY, lambda x: ndimage.laplace(x, mode="constant")[1:-1, 1:-1])],
        5, SEED,
    )  # fmt: skip


@kernex.kmap(kernel_size=(3, 3, 3), padding="valid", relative=True)
def seven_point(x):
    return x[1, 0, 0] + x[-1, 0, 0] + x[0, 1, 0] + x[0, -1, 0] + x[0, 0, 1] + x[0, 0, -1] - 6 * x[0, 0, 0]


def _hand_seven_point(x):
    inner = slice(1, -1)
    shifted = [
        x[2:, inner, inner], x[:-2, inner, inner], x[inner, 2:, inner],
        x[inner, :-2, inner], x[inner, inner, 2:], x[inner, inner, :-2],
    ]  # fmt: skip
    return _add(shifted) - 6 * x[inner, inner, inner]


def _lax_seven_point(x):
    k = np.zeros((3, 3, 3), np.float32)
    k[1, 1, :] = k[1, :, 1] = k[:, 1, 1] = 1
    k[1, 1, 1] = -6
    return lax.conv_general_dilated(x[None, None], k[None, None], (1, 1, 1), "VALID")[0, 0]


def _seven_point(n: int) -> Workload:
    return Workload(
        "7-point 3-D valid", f"relative `x[±1,0,0] + x[0,±1,0] + x[0,0,±1] - 6*x[0,0,0]`, 'valid', {n}³",
        lambda: (jax.random.normal(_key(6), (n, n, n)),),
        [Impl("kmap", KMAP, seven_point), Impl("shifted slices", HAND, _hand_seven_point),
         Impl("lax.conv_general_dilated", NATIVE, _lax_seven_point),
         Impl("scipy.ndimage.laplace", NUMPY, lambda x: ndimage.laplace(x, mode="constant")[1:-1, 1:-1, 1:-1])],
        7, SEED,
    )  # fmt: skip


# ----------------------------------------------------------------------------- seed layers: max-pool, blur (vmap(vmap(kmap)))


def _kmap_maxpool(x):
    @jax.vmap  # batch
    @jax.vmap  # channels
    @kernex.kmap(kernel_size=(2, 2), strides=2, padding="valid")
    def _maxpool2d(x):
        return jnp.max(x)

    return _maxpool2d(x)


def _hand_maxpool(x):
    top = jnp.maximum(x[..., 0::2, 0::2], x[..., 0::2, 1::2])
    bottom = jnp.maximum(x[..., 1::2, 0::2], x[..., 1::2, 1::2])
    return jnp.maximum(top, bottom)


def _numpy_maxpool(x):
    b, c, h, w = x.shape
    return x.reshape(b, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def _maxpool(shape) -> Workload:
    return Workload(
        "max-pool 2×2 stride 2", f"seed MaxPool2D `vmap(vmap(kmap(jnp.max)))`, x {shape}",
        lambda: (jax.random.normal(_key(7), shape),),
        [Impl("kmap", KMAP, _kmap_maxpool), Impl("strided slices + maximum", HAND, _hand_maxpool),
         Impl("lax.reduce_window", NATIVE,
              lambda x: lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")),
         Impl("numpy reshape + max", NUMPY, _numpy_maxpool)],
        1, POOL,
    )  # fmt: skip


def _kmap_blur(k: int):
    kernel_size = (k, k)

    def blur(x):
        @jax.vmap  # batch
        @jax.vmap  # channels
        @kernex.kmap(kernel_size=(*kernel_size,), padding="same")
        def average_blur(x):
            kernel = jnp.ones([*kernel_size]) / jnp.array(kernel_size).prod()
            return jnp.sum(x * (kernel), dtype=jnp.float32)

        return average_blur(x)

    return blur


def _hand_blur(k: int):
    lo, hi = (k - 1) // 2, k // 2

    def blur(x):  # separable box filter: k row slices, then k column slices
        h, w = x.shape[-2:]
        xp = jnp.pad(x.astype(jnp.float32), ((0, 0), (0, 0), (lo, hi), (lo, hi)))
        rows = _add(xp[..., i : i + h, :] for i in range(k))
        return _add(rows[..., j : j + w] for j in range(k)) * np.float32(1 / k**2)

    return blur


def _lax_blur(k: int):
    lo, hi = (k - 1) // 2, k // 2

    def blur(x):
        b, c, h, w = x.shape
        ones = jnp.full((1, 1, k, k), 1 / k**2, jnp.float32)
        xf = x.astype(jnp.float32).reshape(b * c, 1, h, w)
        return lax.conv_general_dilated(xf, ones, (1, 1), ((lo, hi), (lo, hi))).reshape(b, c, h, w)

    return blur


def _reduce_window_blur(k: int):
    lo, hi = (k - 1) // 2, k // 2

    def blur(x):
        pads = ((0, 0), (0, 0), (lo, hi), (lo, hi))
        return lax.reduce_window(x.astype(jnp.float32), np.float32(0), lax.add, (1, 1, k, k), (1, 1, 1, 1), pads) / k**2

    return blur


def _blur(shape, k: int) -> Workload:
    def inputs():
        return (jax.random.randint(_key(8), shape, 0, 256, jnp.int32).astype(jnp.uint8),)

    return Workload(
        f"average blur {k}×{k} same", f"seed AverageBlur `vmap(vmap(kmap(jnp.sum(x*kernel, dtype=float32))))`, uint8 {shape} (float32 out, before the layer's uint8 cast)",
        inputs,
        [Impl("kmap", KMAP, _kmap_blur(k)), Impl("separable shifted slices", HAND, _hand_blur(k)),
         Impl("lax.conv_general_dilated", NATIVE, _lax_blur(k)), Impl("lax.reduce_window", NATIVE, _reduce_window_blur(k)),
         Impl("scipy.ndimage.uniform_filter", NUMPY,
              lambda x: ndimage.uniform_filter(x, size=(1, 1, k, k), output=np.float32, mode="constant"))],
        k * k, BLUR,
    )  # fmt: skip


def workloads(quick: bool = False) -> list[Workload]:
    """The issue's workloads; ``quick`` shrinks every size (same window functions and code paths)."""
    if quick:
        n1, conv, conv16, lap, pool, blur, cube = 1_000, 32, 16, 64, (2, 3, 16, 16), (1, 4, 32, 32), 16
    else:
        n1, conv, conv16, lap, pool, blur, cube = 1_000_000, 1024, 256, 2048, (8, 16, 256, 256), (1, 4, 256, 256), 256
    seed_conv, laplace, by_index = _conv("conv2d seed C=3", 3, conv), _laplacian(lap), _by_index(n1)
    return [
        seed_conv,
        _gradient(seed_conv, "conv2d grad (x, w)", f"`jax.grad(0.5*sum(conv(x, w)**2), argnums=(0, 1))`, x 3×{conv}²",
                  (27 + 27, 27 + conv * conv), argnums=(0, 1)),
        _conv("conv2d C=16", 16, conv16),
        _patches(n1),
        laplace,
        _gradient(laplace, "Laplacian 2-D grad", f"`jax.grad(0.5*sum(laplacian(x)**2))`, {lap}²", 5 + 5),
        _moving_average(n1),
        _maxpool(pool),
        _blur(blur, 25),
        by_index,
        _gradient(by_index, "function by index grad", f"`jax.grad(0.5*sum(F(x)**2))`, n={n1:,}", 1),
        _seven_point(cube),
        *kmap_features.workloads(quick),
        *kmap_fields.workloads(quick),
    ]  # fmt: skip


def run(quick: bool = False) -> dict:
    """Measure every workload; returns ``{"title", "rows", "markdown"}`` (see :func:`benchmarks.report.run_suite`)."""
    title = "kmap vs hand-written shifted slices, native JAX ops and NumPy/SciPy"
    return report.run_suite(MODULE, "kmap", title, workloads(quick), QUICK if quick else FULL, quick)


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv[1:])["markdown"])
