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
* **steps by index** (:func:`by_index_step`): ``F[...] = wall`` then
  ``F[1:-1, 1:-1] = update`` (the interior), against the same update evaluated on
  shifted slices of the interior and padded with the wall value,
  ``jnp.pad(update(interior), 1)``, or written into ``full(wall).at[1:-1, 1:-1]``
  (the target is the faster of the two); ``jnp.roll`` + ``jnp.where`` on an
  interior mask; NumPy slicing. The rows: explicit diffusion 2-D and 1-D written
  the seed's way (absolute indexing, walls 0), and CFD Python's steps 3 (1-D
  diffusion), 5 (2-D linear convection) and 7 (2-D diffusion) written like
  ``examples/`` (relative windows, walls 1). Each row is its kmap function and
  the update ``update(at, *fields)`` the other implementations share, which reads
  the neighbour ``offset`` of field ``q`` as ``at(q, *offset)``.
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
from benchmarks.targets import Target

__all__ = ["BOUNDARY", "BY_INDEX_STEP", "by_index_step", "shifted_interior", "uniform_fields", "workloads"]

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


# ----------------------------------------------------------------------------- steps by index: F[...] = wall, F[interior] = update


def shifted_interior(q, *offset):
    """``q`` at ``i + offset`` for every interior cell ``i``: one shifted slice (of a NumPy or a JAX array)."""
    return q[tuple(slice(1 + o, n - 1 + o) for o, n in zip(offset, q.shape))]


def _rolled(q, *offset):
    """``q`` at ``i + offset`` for every cell ``i``, wrapping around (``jnp.roll``; the walls are replaced after)."""
    return jnp.roll(q, tuple(-o for o in offset), tuple(range(q.ndim)))


def _inside(shape: tuple[int, ...]) -> jax.Array:
    """The interior mask: no coordinate is the first or the last of its axis."""
    axes = [jnp.arange(n).reshape([n if b == a else 1 for b in range(len(shape))]) % (n - 1) != 0 for a, n in enumerate(shape)]
    return functools.reduce(operator.and_, axes)


def by_index_step(name, description, inputs, kmap_fn, update, terms, wall=0.0, target=BY_INDEX_STEP) -> Workload:
    """A step ``F[...] = wall; F[1:-1, …] = update`` (``kmap_fn``) against the same update written by hand.

    ``inputs()`` returns the fields (equally shaped arrays) and ``kmap_fn(*fields)``
    is the kmap version. ``update(at, *fields)`` computes the new interior (a field
    or a tuple of fields) from the neighbours ``at(q, *offset)`` of the fields; the
    other implementations evaluate it with ``at`` = one shifted slice per neighbour
    and add the walls (``jnp.pad(update(interior), 1)``, ``full(wall).at[interior].set``:
    the hand-written rows), with ``at`` = ``jnp.roll`` and ``jnp.where`` on the
    interior mask (native), and with NumPy slices written into ``full(wall)``.
    """

    def each(fn, new):
        return jax.tree_util.tree_map(fn, new)

    def padded(*fields):
        return each(lambda q: jnp.pad(q, 1, constant_values=wall), update(shifted_interior, *fields))

    def at_set(*fields):
        inner = (slice(1, -1),) * fields[0].ndim
        return each(lambda q: jnp.full(fields[0].shape, wall, q.dtype).at[inner].set(q), update(shifted_interior, *fields))

    def roll_where(*fields):
        return each(lambda q: jnp.where(_inside(q.shape), q, wall), update(_rolled, *fields))

    def numpy_slices(*fields):
        def place(q):
            out = np.full(fields[0].shape, wall, q.dtype)
            out[(slice(1, -1),) * q.ndim] = q
            return out

        return each(place, update(shifted_interior, *fields))

    inner = ", ".join(["1:-1"] * jax.eval_shape(inputs)[0].ndim)
    fill, pad_value = ("zeros", "") if wall == 0 else (f"full({wall:g})", f", constant_values={wall:g}")
    impls = [Impl("kmap", KMAP, kmap_fn), Impl(f"jnp.pad(update(interior), 1{pad_value})", HAND, padded),
             Impl(f"{fill}.at[{inner}].set", HAND, at_set), Impl("jnp.roll + jnp.where", NATIVE, roll_where),
             Impl("numpy slices", NUMPY, numpy_slices)]  # fmt: skip
    return Workload(name, description, inputs, impls, terms, target)


def uniform_fields(key: int, shape: tuple[int, ...], count: int = 1):
    """``inputs()`` of ``count`` fields uniform in [1, 2) (the range of the notebooks' hat)."""
    return lambda: tuple(1 + jax.random.uniform(_key(key + i), shape) for i in range(count))


def _diffusion_2d(n: int) -> Workload:
    nu, dt, dx = NU, DT, DX
    F = kernex.kmap(kernel_size=3, padding="same")
    F[...] = lambda u: 0.0
    F[1:-1, 1:-1] = lambda u: u[1, 1] + nu * dt / dx**2 * (u[0, 1] + u[2, 1] + u[1, 0] + u[1, 2] - 4 * u[1, 1])

    def update(at, u):
        return at(u, 0, 0) + nu * dt / dx**2 * (at(u, -1, 0) + at(u, 1, 0) + at(u, 0, -1) + at(u, 0, 1) - 4 * at(u, 0, 0))

    return by_index_step(
        "diffusion 2-D by index", f"seed-style `F[...] = 0; F[1:-1, 1:-1] = u[1,1] + nu*dt/dx**2*(4 neighbours - 4*u[1,1])`, {n}²",
        lambda: (jax.random.uniform(_key(22), (n, n)),), lambda u: F(u), update, 6,
    )  # fmt: skip


def _diffusion_1d(n: int) -> Workload:
    nu, dt, dx = NU, DT, DX
    F = kernex.kmap(kernel_size=3, padding="same")
    F[...] = lambda u: 0.0
    F[1:-1] = lambda u: u[1] + nu * dt / dx**2 * (u[0] - 2 * u[1] + u[2])

    def update(at, u):
        return at(u, 0) + nu * dt / dx**2 * (at(u, -1) - 2 * at(u, 0) + at(u, 1))

    return by_index_step(
        "diffusion 1-D by index", f"seed-style `F[...] = 0; F[1:-1] = u[1] + nu*dt/dx**2*(u[0] - 2*u[1] + u[2])`, n={n:,}",
        lambda: (jax.random.uniform(_key(23), (n,)),), lambda u: F(u), update, 4,
    )  # fmt: skip


# CFD Python's steps 3, 5 and 7 with the notebooks' parameters on [0, 2] (walls at 1), written like
# examples/: relative windows, F[...] = 1 for the walls, F[1:-1, …] = the update


def _cfd_diffusion_1d(n: int) -> Workload:  # step 3
    nu, dx = 0.3, 2 / (n - 1)
    dt = 0.2 * dx**2 / nu
    F = kernex.kmap(kernel_size=3, padding="same", relative=True)
    F[...] = lambda u: 1.0
    F[1:-1] = lambda u: u[0] + nu * dt / dx**2 * (u[1] - 2 * u[0] + u[-1])

    def update(at, u):
        return at(u, 0) + nu * dt / dx**2 * (at(u, 1) - 2 * at(u, 0) + at(u, -1))

    return by_index_step(
        "CFD 3 diffusion 1-D by index", f"`F[...] = 1; F[1:-1] = u[0] + nu*dt/dx**2*(u[1] - 2*u[0] + u[-1])`, n={n:,}",
        uniform_fields(30, (n,)), lambda u: F(u), update, 4, wall=1.0,
    )  # fmt: skip


def _cfd_linear_convection_2d(n: int) -> Workload:  # step 5
    c, dx = 1.0, 2 / (n - 1)
    dy, dt = dx, 0.2 * dx
    F = kernex.kmap(kernel_size=(3, 3), padding="same", relative=True)
    F[...] = lambda u: 1.0
    F[1:-1, 1:-1] = lambda u: u[0, 0] - c * dt / dx * (u[0, 0] - u[0, -1]) - c * dt / dy * (u[0, 0] - u[-1, 0])

    def update(at, u):
        return at(u, 0, 0) - c * dt / dx * (at(u, 0, 0) - at(u, 0, -1)) - c * dt / dy * (at(u, 0, 0) - at(u, -1, 0))

    return by_index_step(
        "CFD 5 linear convection 2-D by index", f"`F[...] = 1; F[1:-1, 1:-1] = upwind u[0,0] - c*dt/dx*(u[0,0] - u[0,-1]) - …`, {n}²",
        uniform_fields(31, (n, n)), lambda u: F(u), update, 5, wall=1.0,
    )  # fmt: skip


def _cfd_diffusion_2d(n: int) -> Workload:  # step 7
    nu, dx = 0.05, 2 / (n - 1)
    dy = dx
    dt = 0.25 * dx * dy / nu
    F = kernex.kmap(kernel_size=(3, 3), padding="same", relative=True)
    F[...] = lambda u: 1.0
    F[1:-1, 1:-1] = lambda u: (u[0, 0] + nu * dt / dx**2 * (u[0, 1] - 2 * u[0, 0] + u[0, -1])
                               + nu * dt / dy**2 * (u[1, 0] - 2 * u[0, 0] + u[-1, 0]))  # fmt: skip

    def update(at, u):
        return (at(u, 0, 0) + nu * dt / dx**2 * (at(u, 0, 1) - 2 * at(u, 0, 0) + at(u, 0, -1))
                + nu * dt / dy**2 * (at(u, 1, 0) - 2 * at(u, 0, 0) + at(u, -1, 0)))  # fmt: skip

    return by_index_step(
        "CFD 7 diffusion 2-D by index", f"`F[...] = 1; F[1:-1, 1:-1] = u[0,0] + nu*dt/dx**2*(…) + nu*dt/dy**2*(…)`, {n}²",
        uniform_fields(32, (n, n)), lambda u: F(u), update, 7, wall=1.0,
    )  # fmt: skip


def workloads(quick: bool = False) -> list[Workload]:
    """Sobel (1024²), periodic Laplacian (2048²), diffusion 2-D (1024²) and 1-D (2**20), CFD steps 3, 5, 7 by index.

    ``quick`` shrinks the sizes.
    """
    sobel, periodic, grid, line = (32, 64, 32, 1_000) if quick else (1024, 2048, 1024, 2**20)
    return [_sobel(sobel), _periodic(periodic), _diffusion_2d(grid), _diffusion_1d(line),
            _cfd_diffusion_1d(line), _cfd_linear_convection_2d(grid), _cfd_diffusion_2d(grid)]  # fmt: skip
