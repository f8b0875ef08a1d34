"""kmap workloads for several fields in one window (a dict of fields) and for dilated windows (``dilation=``).

They are rows of the kmap suite (:func:`benchmarks.suite_kmap.workloads` appends
:func:`workloads`); this module only declares them. Every implementation of a
workload computes the same update with the same expression and the same
boundary handling, so the harness's correctness check compares like with like;
the hand-written versions use one ``jnp.pad`` and separate shifted slices per
field, as an expert writes them:

* **Burgers 2-D, fields {u, v}** (CFD Python's step 8 on the interior, the walls
  are ``boundary='constant', fill_value=1`` as in ``examples/cfd_2d.py``): one
  relative 3×3 window function reads both fields and returns ``{'u', 'v'}``;
  ``jnp.pad(q, 1, constant_values=1)`` per field + shifted slices; the same pads
  + one three-channel ``lax.conv_general_dilated`` per field (both backward
  differences and the diffusion term); NumPy slices. Coefficients
  ``dt/dx = 0.2`` and ``nu*dt/dx**2 = 0.1`` (stable; the notebook's ``sigma``
  would make the update nearly the identity and the correctness check weak).
* **CFD step 8 by index**: the same window function as
  ``F[...] = {'u': 1, 'v': 1}; F[1:-1, 1:-1] = update`` on the whole grid
  (:func:`benchmarks.kmap_features.by_index_step`).
* **Poisson Jacobi 2-D, fields {p, b}** (step 10 as in ``examples/cfd_elliptic.py``):
  ``F[1:-1, 1:-1] = jacobi`` (the uncovered walls are 0) on ``{'p': p, 'b': b}``,
  by index as above; grid spacing ``dx = 2``, ``dy = 1`` (the notebook's 2:1 at unit
  scale: the ``b`` term is as large as the neighbours', so a gradient with respect
  to ``b`` is not negligible).
* **gradients** of both fields steps: ``jax.grad`` of ``0.5 * sum of every
  output field squared`` with respect to both fields (a linear loss would fold
  to a constant), every JAX implementation alike.
* **dilated 3×3 correlation**: ``kmap(kernel_size=3, padding='same',
  dilation=2)(lambda w, k: jnp.sum(w * k))``; ``jnp.pad(x, 2)`` + nine slices
  two cells apart; ``lax.conv_general_dilated(rhs_dilation=(2, 2))``;
  ``ndimage.correlate`` with the 5×5 kernel that has zeros between the taps.
"""

from __future__ import annotations

import functools
import operator

import jax
import jax.numpy as jnp
import numpy as np
import scipy.ndimage as ndimage
from jax import lax

import kernex
from benchmarks.harness import HAND, KMAP, NATIVE, NUMPY, Impl, Workload
from benchmarks.kmap_features import by_index_step, shifted_interior, uniform_fields
from benchmarks.targets import GRAD, Target

__all__ = ["FIELDS", "DILATION", "workloads"]

FIELDS = Target("≤1.1× hand-written", 1.1, memory_ratio=2.0)
DILATION = Target("≤1.3× hand-written", 1.3, memory_ratio=2.0)


def _key(i: int) -> jax.Array:
    return jax.random.PRNGKey(i)


def _gradient(forward: Workload, name: str, description: str, terms) -> Workload:
    """``jax.grad`` of ``0.5 * Σ sum(field**2)`` over the outputs of every JAX implementation of ``forward``."""

    def grad_of(f, count):
        def loss(*fields):
            return 0.5 * sum(jnp.sum(q**2) for q in jax.tree_util.tree_leaves(f(*fields)))

        return jax.grad(loss, argnums=tuple(range(count)))

    count = len(jax.eval_shape(forward.inputs))
    impls = [Impl(i.name, i.kind, grad_of(i.fn, count)) for i in forward.impls if i.is_jax]
    return Workload(name, description, forward.inputs, impls, terms, GRAD)


# ----------------------------------------------------------------------------- Burgers 2-D: fields {u, v}


def _burgers_coefficients(n: int) -> tuple[float, float, float, float]:
    """``(nu, dt, dx, dy)`` on [0, 2]² with ``n`` cells a side: ``dt/dx = 0.2``, ``nu*dt/dx**2 = 0.1``."""
    dx = dy = 2 / (n - 1)
    dt = 0.2 * dx
    return 0.5 * dx, dt, dx, dy


def _burgers_window(nu: float, dt: float, dx: float, dy: float):
    """The window function of ``examples/cfd_2d.py``'s ``burgers_2d_step``: relative windows ``{'u', 'v'}``."""

    def update(w):
        u, v = w["u"], w["v"]

        def burgers(q):
            return (
                q[0, 0]
                - dt / dx * u[0, 0] * (q[0, 0] - q[0, -1])
                - dt / dy * v[0, 0] * (q[0, 0] - q[-1, 0])
                + nu * dt / dx**2 * (q[0, 1] - 2 * q[0, 0] + q[0, -1])
                + nu * dt / dy**2 * (q[1, 0] - 2 * q[0, 0] + q[-1, 0])
            )

        return {"u": burgers(u), "v": burgers(v)}

    return update


def _burgers_update(nu: float, dt: float, dx: float, dy: float):
    """The same update by hand: ``update(at, u, v) -> (u, v)`` with neighbours ``at(q, di, dj)``."""

    def update(at, u, v):
        def burgers(q):
            return (
                at(q, 0, 0)
                - dt / dx * at(u, 0, 0) * (at(q, 0, 0) - at(q, 0, -1))
                - dt / dy * at(v, 0, 0) * (at(q, 0, 0) - at(q, -1, 0))
                + nu * dt / dx**2 * (at(q, 0, 1) - 2 * at(q, 0, 0) + at(q, 0, -1))
                + nu * dt / dy**2 * (at(q, 1, 0) - 2 * at(q, 0, 0) + at(q, -1, 0))
            )

        return burgers(u), burgers(v)

    return update


def _lax_burgers(nu: float, dt: float, dx: float, dy: float):
    """Pad both fields with 1, one convolution gives each field's two backward differences and diffusion term."""
    k = np.zeros((3, 1, 3, 3), np.float32)
    k[0, 0, 1, 1], k[0, 0, 1, 0] = 1, -1  # q - q[0, -1]
    k[1, 0, 1, 1], k[1, 0, 0, 1] = 1, -1  # q - q[-1, 0]
    k[2, 0, 1, 0] = k[2, 0, 1, 2] = nu * dt / dx**2
    k[2, 0, 0, 1] = k[2, 0, 2, 1] = nu * dt / dy**2
    k[2, 0, 1, 1] = -2 * (nu * dt / dx**2 + nu * dt / dy**2)

    def step(u, v):
        q = jnp.pad(jnp.stack([u, v])[:, None], ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=1.0)
        d = lax.conv_general_dilated(q, k, (1, 1), "VALID")  # (2 fields, 3 terms, h, w)
        new = jnp.stack([u, v]) - dt / dx * u[None] * d[:, 0] - dt / dy * v[None] * d[:, 1] + d[:, 2]
        return new[0], new[1]

    return step


def _burgers_fields(n: int) -> Workload:
    coefficients = _burgers_coefficients(n)
    step = kernex.kmap(kernel_size=(3, 3), padding="same", relative=True, boundary="constant", fill_value=1.0)(
        _burgers_window(*coefficients)
    )
    update = _burgers_update(*coefficients)

    def hand(u, v):
        return update(shifted_interior, jnp.pad(u, 1, constant_values=1.0), jnp.pad(v, 1, constant_values=1.0))

    def numpy_slices(u, v):
        return update(shifted_interior, np.pad(u, 1, constant_values=1.0), np.pad(v, 1, constant_values=1.0))

    return Workload(
        "Burgers 2-D fields {u, v}", f"`kmap((3,3), 'same', relative=True, boundary='constant', fill_value=1)` of one window function on `{{'u': u, 'v': v}}` returning `{{'u', 'v'}}`, 2 × {n}²",
        uniform_fields(40, (n, n), 2),
        [Impl("kmap", KMAP, lambda u, v: step({"u": u, "v": v})),
         Impl("jnp.pad per field + shifted slices", HAND, hand),
         Impl("jnp.pad + lax.conv_general_dilated", NATIVE, _lax_burgers(*coefficients)),
         Impl("numpy pad + slices", NUMPY, numpy_slices)],
        9, FIELDS,
    )  # fmt: skip


def _burgers_by_index(n: int) -> Workload:  # CFD Python's step 8
    coefficients = _burgers_coefficients(n)
    F = kernex.kmap(kernel_size=(3, 3), padding="same", relative=True)
    F[...] = lambda w: {"u": 1.0, "v": 1.0}
    F[1:-1, 1:-1] = _burgers_window(*coefficients)
    return by_index_step(
        "CFD 8 Burgers 2-D by index", f"`F[...] = {{'u': 1, 'v': 1}}; F[1:-1, 1:-1] = burgers` on `{{'u': u, 'v': v}}`, 2 × {n}²",
        uniform_fields(42, (n, n), 2), lambda u, v: F({"u": u, "v": v}), _burgers_update(*coefficients), 9, wall=1.0,
    )  # fmt: skip


# ----------------------------------------------------------------------------- Poisson Jacobi 2-D: fields {p, b}


def _poisson(n: int) -> Workload:  # CFD Python's step 10, one sweep
    dx, dy = 2.0, 1.0  # the notebook's 2:1 spacing at unit scale: the b term is as large as the neighbours'
    F = kernex.kmap(kernel_size=(3, 3), padding="same", relative=True)
    # the walls are covered by no function: kmap writes p = 0 there
    F[1:-1, 1:-1] = lambda w: (
        (w["p"][0, 1] + w["p"][0, -1]) * dy**2 + (w["p"][1, 0] + w["p"][-1, 0]) * dx**2 - w["b"][0, 0] * dx**2 * dy**2
    ) / (2 * (dx**2 + dy**2))

    def update(at, p, b):
        return ((at(p, 0, 1) + at(p, 0, -1)) * dy**2 + (at(p, 1, 0) + at(p, -1, 0)) * dx**2
                - at(b, 0, 0) * dx**2 * dy**2) / (2 * (dx**2 + dy**2))  # fmt: skip

    return by_index_step(
        "Poisson Jacobi 2-D fields {p, b}", f"`F[1:-1, 1:-1] = jacobi` on `{{'p': p, 'b': b}}` (walls uncovered: 0), 2 × {n}²",
        lambda: (jax.random.normal(_key(44), (n, n)), jax.random.normal(_key(45), (n, n))),
        lambda p, b: F({"p": p, "b": b}), update, 6, target=FIELDS,
    )  # fmt: skip


# ----------------------------------------------------------------------------- dilated 3×3 correlation


_kmap_dilated = kernex.kmap(kernel_size=3, padding="same", dilation=2)(lambda w, k: jnp.sum(w * k))


def _hand_dilated(x, k):
    h, w = x.shape
    xp = jnp.pad(x, 2)
    return functools.reduce(operator.add, (xp[2 * i : 2 * i + h, 2 * j : 2 * j + w] * k[i, j] for i in range(3) for j in range(3)))


def _lax_dilated(x, k):
    return lax.conv_general_dilated(x[None, None], k[None, None], (1, 1), ((2, 2), (2, 2)), rhs_dilation=(2, 2))[0, 0]


def _scipy_dilated(x, k):
    k5 = np.zeros((5, 5), k.dtype)
    k5[::2, ::2] = k
    return ndimage.correlate(x, k5, mode="constant")


def _dilated(n: int) -> Workload:
    return Workload(
        "conv 3×3 dilation 2", f"`kmap(kernel_size=3, padding='same', dilation=2)(lambda w, k: jnp.sum(w*k))`, {n}²",
        lambda: (jax.random.normal(_key(46), (n, n)), jax.random.normal(_key(47), (3, 3))),
        [Impl("kmap", KMAP, _kmap_dilated), Impl("jnp.pad + 9 slices 2 apart", HAND, _hand_dilated),
         Impl("lax.conv_general_dilated rhs_dilation=2", NATIVE, _lax_dilated),
         Impl("scipy.ndimage.correlate 5×5", NUMPY, _scipy_dilated)],
        9, DILATION,
    )  # fmt: skip


def workloads(quick: bool = False) -> list[Workload]:
    """Burgers {u, v} (+ grad), CFD step 8 by index, Poisson {p, b} (+ grad) on 1024², dilated conv 1024²; ``quick``: 32²."""
    n = 32 if quick else 1024
    burgers, poisson = _burgers_fields(n), _poisson(n)
    return [
        burgers,
        _gradient(burgers, "Burgers 2-D fields grad", f"`jax.grad(0.5*Σ sum(field**2), argnums=(0, 1))` of the {{u, v}} step, 2 × {n}²", 36),
        _burgers_by_index(n),
        poisson,
        _gradient(poisson, "Poisson Jacobi 2-D fields grad", f"`jax.grad(0.5*sum(p**2), argnums=(0, 1))` of the {{p, b}} sweep, 2 × {n}²", 10),
        _dilated(n),
    ]  # fmt: skip
