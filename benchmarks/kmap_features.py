"""kmap workloads for boundary modes (``boundary=``) and functions assigned by index (``F[idx] = f``).

They are rows of the kmap suite (:func:`benchmarks.suite_kmap.workloads` appends
:func:`workloads`); this module only declares them. Every implementation of a
workload computes the same function with the same expression and the same
boundary handling, so the harness's correctness check compares like with like:

* **Sobel magnitude, 'symmetric'**: ``sqrt(gx*gx + gy*gy)`` of the 3×3 Sobel
  derivatives, ``padding='same'``, ``boundary='symmetric'`` (scipy's
  ``'reflect'``): kmap; ``jnp.pad(x, 1, mode='symmetric')`` + shifted slices;
  the same pad + a two-channel ``lax.conv_general_dilated``;
  ``hypot(ndimage.sobel(axis=0), ndimage.sobel(axis=1))`` with ``mode='reflect'``.
* **periodic Laplacian, 'wrap'**: the 5-point Laplacian, ``boundary='wrap'``:
  kmap; ``jnp.pad(mode='wrap')`` + slices; ``jnp.roll``; ``ndimage.laplace(mode='wrap')``.
* **diffusion steps by index** (2-D and 1-D): the explicit diffusion update
  ``u + nu*dt/dx**2 * (neighbours - 2·rank·u)`` on the interior, 0 on the border,
  written the seed's way (``F[...] = lambda u: 0.0`` then ``F[1:-1, 1:-1] = update``,
  absolute indexing): kmap; ``jnp.pad(update(interior), 1)`` and
  ``zeros.at[1:-1, 1:-1].set(update(interior))`` (the target is the faster of
  the two); ``jnp.roll`` + ``jnp.where`` on an interior mask; NumPy slicing.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import scipy.ndimage as ndimage
from jax import lax

import kernex
from benchmarks.harness import HAND, KMAP, NATIVE, NUMPY, Impl, Workload
from benchmarks.targets import Target

__all__ = ["BOUNDARY", "BY_INDEX_STEP", "workloads"]

# no memory target for boundary modes: XLA's jnp.pad(mode='symmetric' | 'wrap') keeps three
# input-sized temporaries (peak 2.5× in + out) in the hand-written program as well
BOUNDARY = Target("≤1.2× hand-written", 1.2)
BY_INDEX_STEP = Target("≤1.15× hand-written", 1.15, memory_ratio=2.0)

# explicit diffusion: nu*dt/dx**2 = 0.2 (stable: ≤ 1/(2·rank))
NU, DX = 0.5, 0.01
DT = 0.2 * DX**2 / NU


def _key(i: int) -> jax.Array:
    return jax.random.PRNGKey(i)


# ----------------------------------------------------------------------------- Sobel magnitude, 'symmetric'


def _sobel_magnitude(w):
    """``w``: 3×3 window, absolute indexing (row, column); the derivatives of ``scipy.ndimage.sobel``."""
    gx = (w[0, 2] + 2 * w[1, 2] + w[2, 2]) - (w[0, 0] + 2 * w[1, 0] + w[2, 0])
    gy = (w[2, 0] + 2 * w[2, 1] + w[2, 2]) - (w[0, 0] + 2 * w[0, 1] + w[0, 2])
    return jnp.sqrt(gx * gx + gy * gy)


_kmap_sobel = kernex.kmap(kernel_size=(3, 3), padding="same", boundary="symmetric")(_sobel_magnitude)


def _hand_sobel(x):
    h, w = x.shape
    xp = jnp.pad(x, 1, mode="symmetric")

    def at(i, j):
        return xp[i : i + h, j : j + w]

    gx = (at(0, 2) + 2 * at(1, 2) + at(2, 2)) - (at(0, 0) + 2 * at(1, 0) + at(2, 0))
    gy = (at(2, 0) + 2 * at(2, 1) + at(2, 2)) - (at(0, 0) + 2 * at(0, 1) + at(0, 2))
    return jnp.sqrt(gx * gx + gy * gy)


_SOBEL = np.array(
    [[[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],  # gx (derivative along columns)
     [[-1, -2, -1], [0, 0, 0], [1, 2, 1]]],  # gy (derivative along rows)
    np.float32,
)  # fmt: skip


def _lax_sobel(x):
    xp = jnp.pad(x, 1, mode="symmetric")
    g = lax.conv_general_dilated(xp[None, None], _SOBEL[:, None], (1, 1), "VALID")[0]
    return jnp.sqrt(g[0] * g[0] + g[1] * g[1])


def _scipy_sobel(x):
    return np.hypot(ndimage.sobel(x, axis=1, mode="reflect"), ndimage.sobel(x, axis=0, mode="reflect"))


def _sobel(n: int) -> Workload:
    return Workload(
        "Sobel magnitude symmetric", f"`kmap((3,3), 'same', boundary='symmetric')(sqrt(gx²+gy²))`, {n}²",
        lambda: (jax.random.normal(_key(20), (n, n)),),
        [Impl("kmap", KMAP, _kmap_sobel), Impl("pad symmetric + shifted slices", HAND, _hand_sobel),
         Impl("pad symmetric + lax.conv_general_dilated", NATIVE, _lax_sobel),
         Impl("scipy.ndimage.sobel reflect", NUMPY, _scipy_sobel)],
        12, BOUNDARY,
    )  # fmt: skip


# ----------------------------------------------------------------------------- periodic Laplacian, 'wrap'


@kernex.kmap(kernel_size=(3, 3), padding="same", boundary="wrap")
def periodic_laplacian(u):
    return u[0, 1] + u[2, 1] + u[1, 0] + u[1, 2] - 4 * u[1, 1]


def _hand_periodic_laplacian(x):
    h, w = x.shape
    xp = jnp.pad(x, 1, mode="wrap")
    return xp[0:h, 1 : w + 1] + xp[2 : h + 2, 1 : w + 1] + xp[1 : h + 1, 0:w] + xp[1 : h + 1, 2 : w + 2] - 4 * x


def _roll_laplacian(x):
    return jnp.roll(x, 1, 0) + jnp.roll(x, -1, 0) + jnp.roll(x, 1, 1) + jnp.roll(x, -1, 1) - 4 * x


def _periodic(n: int) -> Workload:
    return Workload(
        "Laplacian 2-D wrap", f"5-point `kmap((3,3), 'same', boundary='wrap')`, {n}²",
        lambda: (jax.random.normal(_key(21), (n, n)),),
        [Impl("kmap", KMAP, periodic_laplacian), Impl("pad wrap + shifted slices", HAND, _hand_periodic_laplacian),
         Impl("jnp.roll", NATIVE, _roll_laplacian),
         Impl("scipy.ndimage.laplace wrap", NUMPY, lambda x: ndimage.laplace(x, mode="wrap"))],
        5, BOUNDARY,
    )  # fmt: skip


# ----------------------------------------------------------------------------- diffusion steps: F[...] = 0, F[interior] = update


def _diffusion_kmap_2d():
    nu, dt, dx = NU, DT, DX
    F = kernex.kmap(kernel_size=3, padding="same")
    F[...] = lambda u: 0.0
    F[1:-1, 1:-1] = lambda u: u[1, 1] + nu * dt / dx**2 * (u[0, 1] + u[2, 1] + u[1, 0] + u[1, 2] - 4 * u[1, 1])
    return lambda u: F(u)


def _update_2d(c, up, down, left, right):
    nu, dt, dx = NU, DT, DX
    return c + nu * dt / dx**2 * (up + down + left + right - 4 * c)


def _interior_2d(u):
    i = slice(1, -1)
    return _update_2d(u[i, i], u[:-2, i], u[2:, i], u[i, :-2], u[i, 2:])


def _roll_where_2d(u):
    h, w = u.shape
    inside = (jnp.arange(h)[:, None] % (h - 1) != 0) & (jnp.arange(w)[None, :] % (w - 1) != 0)
    new = _update_2d(u, jnp.roll(u, 1, 0), jnp.roll(u, -1, 0), jnp.roll(u, 1, 1), jnp.roll(u, -1, 1))
    return jnp.where(inside, new, 0.0)


def _numpy_2d(u):
    out = np.zeros_like(u)
    out[1:-1, 1:-1] = _interior_2d(u)
    return out


def _diffusion_2d(n: int) -> Workload:
    return Workload(
        "diffusion 2-D by index", f"seed-style `F[...] = 0; F[1:-1, 1:-1] = u[1,1] + nu*dt/dx**2*(4 neighbours - 4*u[1,1])`, {n}²",
        lambda: (jax.random.uniform(_key(22), (n, n)),),
        [Impl("kmap", KMAP, _diffusion_kmap_2d()), Impl("jnp.pad(update(interior), 1)", HAND, lambda u: jnp.pad(_interior_2d(u), 1)),
         Impl("zeros.at[1:-1, 1:-1].set", HAND, lambda u: jnp.zeros_like(u).at[1:-1, 1:-1].set(_interior_2d(u))),
         Impl("jnp.roll + jnp.where", NATIVE, _roll_where_2d), Impl("numpy slices", NUMPY, _numpy_2d)],
        6, BY_INDEX_STEP,
    )  # fmt: skip


def _diffusion_kmap_1d():
    nu, dt, dx = NU, DT, DX
    F = kernex.kmap(kernel_size=3, padding="same")
    F[...] = lambda u: 0.0
    F[1:-1] = lambda u: u[1] + nu * dt / dx**2 * (u[0] - 2 * u[1] + u[2])
    return lambda u: F(u)


def _update_1d(c, left, right):
    nu, dt, dx = NU, DT, DX
    return c + nu * dt / dx**2 * (left - 2 * c + right)


def _interior_1d(u):
    return _update_1d(u[1:-1], u[:-2], u[2:])


def _roll_where_1d(u):
    n = u.shape[0]
    inside = jnp.arange(n) % (n - 1) != 0
    return jnp.where(inside, _update_1d(u, jnp.roll(u, 1), jnp.roll(u, -1)), 0.0)


def _numpy_1d(u):
    out = np.zeros_like(u)
    out[1:-1] = _interior_1d(u)
    return out


def _diffusion_1d(n: int) -> Workload:
    return Workload(
        "diffusion 1-D by index", f"seed-style `F[...] = 0; F[1:-1] = u[1] + nu*dt/dx**2*(u[0] - 2*u[1] + u[2])`, n={n:,}",
        lambda: (jax.random.uniform(_key(23), (n,)),),
        [Impl("kmap", KMAP, _diffusion_kmap_1d()), Impl("jnp.pad(update(interior), 1)", HAND, lambda u: jnp.pad(_interior_1d(u), 1)),
         Impl("zeros.at[1:-1].set", HAND, lambda u: jnp.zeros_like(u).at[1:-1].set(_interior_1d(u))),
         Impl("jnp.roll + jnp.where", NATIVE, _roll_where_1d), Impl("numpy slices", NUMPY, _numpy_1d)],
        4, BY_INDEX_STEP,
    )  # fmt: skip


def workloads(quick: bool = False) -> list[Workload]:
    """Sobel (1024²), periodic Laplacian (2048²), diffusion 2-D (1024²) and 1-D (2**20); ``quick`` shrinks the sizes."""
    sobel, periodic, grid, line = (32, 64, 32, 1_000) if quick else (1024, 2048, 1024, 2**20)
    return [_sobel(sobel), _periodic(periodic), _diffusion_2d(grid), _diffusion_1d(line)]
