"""Steps 1-4 of Lorena Barba's "CFD Python: 12 steps to Navier-Stokes", in NumPy and with kernex.

Each problem has the notebook's NumPy code (``*_numpy``: float64, slice updates
on a copy of the previous time level) and a kernex version (``*_kmap``: float32,
one ``kmap`` per time step, time loop in ``jax.lax.fori_loop``); step 1 also has
the seed's time x space ``kscan`` form. Both versions of a problem build the same
initial condition from the same parameters (the notebook's are the defaults) and
return a dict of final fields as NumPy arrays, so they can be compared cell by
cell. Invariant: a kernex version never reads cells the NumPy version does not
read — boundary cells are kept by ``F[idx]`` or supplied by ``boundary=`` exactly
as the notebook keeps or sets them.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

import kernex

__all__ = [
    "linear_convection_numpy",
    "linear_convection_kmap",
    "linear_convection_kscan",
    "nonlinear_convection_numpy",
    "nonlinear_convection_kmap",
    "diffusion_numpy",
    "diffusion_kmap",
    "burgers_numpy",
    "burgers_kmap",
]


def hat_1d(nx: int) -> np.ndarray:
    """The notebooks' square wave on ``[0, 2]``: 2 on ``0.5 <= x <= 1``, 1 elsewhere (float64)."""
    dx = 2 / (nx - 1)
    u = np.ones(nx)
    u[int(0.5 / dx) : int(1 / dx + 1)] = 2
    return u


def _march(step, state, nt: int):
    """``nt`` applications of ``step`` to ``state`` in a ``fori_loop``."""
    return jax.lax.fori_loop(0, nt, lambda _, s: step(s), state)


# -- step 1: 1-D linear convection -------------------------------------------------------------


def linear_convection_numpy(nx: int = 41, nt: int = 25, dt: float = 0.025, c: float = 1.0) -> dict:
    """Step 1 in NumPy: ``u_i <- u_i - c dt/dx (u_i - u_{i-1})`` for ``i >= 1``; ``u_0`` is never updated."""
    dx = 2 / (nx - 1)
    u = hat_1d(nx)
    for _ in range(nt):
        un = u.copy()
        u[1:] = un[1:] - c * dt / dx * (un[1:] - un[:-1])
    return {"u": u}


@functools.partial(jax.jit, static_argnames=("nt", "dt", "dx", "c"))
def _linear_convection(u, nt, dt, dx, c):
    F = kernex.kmap(kernel_size=3, padding="same", relative=True)
    F[0] = lambda u: u[0]  # the left end keeps its value
    F[1:] = lambda u: u[0] - c * dt / dx * (u[0] - u[-1])  # backward difference
    return _march(F, u, nt)


def linear_convection_kmap(nx: int = 41, nt: int = 25, dt: float = 0.025, c: float = 1.0) -> dict:
    """Step 1 with one ``kmap`` per time step: ``F[0]`` keeps the left end, ``F[1:]`` is upwind."""
    u = _linear_convection(jnp.asarray(hat_1d(nx), jnp.float32), nt, dt, 2 / (nx - 1), c)
    return {"u": np.asarray(u)}


@functools.partial(jax.jit, static_argnames=("nt", "dt", "dx", "c"))
def _linear_convection_rows(u0, nt, dt, dx, c):
    F = kernex.kscan(kernel_size=(3, 3), padding=((1, 1), (1, 1)), named_axis={0: "n", 1: "i"}, relative=True)
    # row 0 (the initial condition) and column 0 (the left end) are covered by no function: kept
    F[1:, 1:] = lambda u: u["i", "n-1"] - c * dt / dx * (u["i", "n-1"] - u["i-1", "n-1"])
    return F(jnp.broadcast_to(u0, (nt + 1, u0.shape[0])))


def linear_convection_kscan(nx: int = 41, nt: int = 25, dt: float = 0.025, c: float = 1.0) -> dict:
    """Step 1 as the seed writes it: one ``kscan`` over an ``(nt + 1, nx)`` time x space grid.

    Row ``n`` holds ``u`` after ``n`` steps; each row reads the row before it, so
    ``kscan`` runs one ``lax.scan`` step per row. The result is the last row.
    """
    rows = _linear_convection_rows(jnp.asarray(hat_1d(nx), jnp.float32), nt, dt, 2 / (nx - 1), c)
    return {"u": np.asarray(rows[-1])}


# -- step 2: 1-D nonlinear convection ----------------------------------------------------------


def nonlinear_convection_numpy(nx: int = 41, nt: int = 20, dt: float = 0.025) -> dict:
    """Step 2 in NumPy: ``u_i <- u_i - u_i dt/dx (u_i - u_{i-1})`` for ``i >= 1``."""
    dx = 2 / (nx - 1)
    u = hat_1d(nx)
    for _ in range(nt):
        un = u.copy()
        u[1:] = un[1:] - un[1:] * dt / dx * (un[1:] - un[:-1])
    return {"u": u}


@functools.partial(jax.jit, static_argnames=("nt", "dt", "dx"))
def _nonlinear_convection(u, nt, dt, dx):
    F = kernex.kmap(kernel_size=3, padding="same", relative=True)
    F[0] = lambda u: u[0]
    F[1:] = lambda u: u[0] - u[0] * dt / dx * (u[0] - u[-1])
    return _march(F, u, nt)


def nonlinear_convection_kmap(nx: int = 41, nt: int = 20, dt: float = 0.025) -> dict:
    """Step 2 with one ``kmap`` per time step (``F[0]`` keeps the left end)."""
    u = _nonlinear_convection(jnp.asarray(hat_1d(nx), jnp.float32), nt, dt, 2 / (nx - 1))
    return {"u": np.asarray(u)}


# -- step 3: 1-D diffusion ---------------------------------------------------------------------


def diffusion_numpy(nx: int = 41, nt: int = 20, nu: float = 0.3, sigma: float = 0.2) -> dict:
    """Step 3 in NumPy: explicit central differences, ``dt = sigma dx^2 / nu``; both ends stay 1."""
    dx = 2 / (nx - 1)
    dt = sigma * dx**2 / nu
    u = hat_1d(nx)
    for _ in range(nt):
        un = u.copy()
        u[1:-1] = un[1:-1] + nu * dt / dx**2 * (un[2:] - 2 * un[1:-1] + un[:-2])
    return {"u": u}


@functools.partial(jax.jit, static_argnames=("nt", "nu", "dt", "dx"))
def _diffusion(interior, nt, nu, dt, dx):
    # the state is the interior; the fixed ends (u = 1) are the boundary's fill value
    step = kernex.kmap(kernel_size=3, padding="same", relative=True, boundary="constant", fill_value=1.0)(
        lambda u: u[0] + nu * dt / dx**2 * (u[1] - 2 * u[0] + u[-1])
    )
    return _march(step, interior, nt)


def diffusion_kmap(nx: int = 41, nt: int = 20, nu: float = 0.3, sigma: float = 0.2) -> dict:
    """Step 3 on the interior cells; the Dirichlet ends are ``boundary='constant', fill_value=1``."""
    dx = 2 / (nx - 1)
    u0 = hat_1d(nx)
    interior = _diffusion(jnp.asarray(u0[1:-1], jnp.float32), nt, nu, sigma * dx**2 / nu, dx)
    return {"u": np.concatenate([u0[:1], np.asarray(interior), u0[-1:]])}


# -- step 4: 1-D Burgers' equation (periodic) --------------------------------------------------


def burgers_initial(nx: int, nu: float) -> np.ndarray:
    """The notebook's saw-tooth ``u = -2 nu phi'/phi + 4`` at ``t = 0`` on ``[0, 2 pi]`` (float64).

    ``phi = exp(-x^2 / (4 nu)) + exp(-(x - 2 pi)^2 / (4 nu))``; the notebook derives
    ``phi'`` with SymPy, here it is written out.
    """
    x = np.linspace(0, 2 * np.pi, nx)
    a, b = np.exp(-(x**2) / (4 * nu)), np.exp(-((x - 2 * np.pi) ** 2) / (4 * nu))
    dphi = -x / (2 * nu) * a - (x - 2 * np.pi) / (2 * nu) * b
    return -2 * nu * dphi / (a + b) + 4


def burgers_numpy(nx: int = 101, nt: int = 100, nu: float = 0.07) -> dict:
    """Step 4 in NumPy: upwind convection + central diffusion, ``dt = dx nu``, periodic on ``[0, 2 pi]``.

    ``x = 0`` and ``x = 2 pi`` are the same point: ``u[0]`` reads ``u[-2]`` and
    ``u[-1]`` is set to ``u[0]``.
    """
    dx = 2 * np.pi / (nx - 1)
    dt = dx * nu
    u = burgers_initial(nx, nu)
    for _ in range(nt):
        un = u.copy()
        u[1:-1] = un[1:-1] - un[1:-1] * dt / dx * (un[1:-1] - un[:-2]) + nu * dt / dx**2 * (un[2:] - 2 * un[1:-1] + un[:-2])
        u[0] = un[0] - un[0] * dt / dx * (un[0] - un[-2]) + nu * dt / dx**2 * (un[1] - 2 * un[0] + un[-2])
        u[-1] = u[0]
    return {"u": u}


@functools.partial(jax.jit, static_argnames=("nt", "nu", "dt", "dx"))
def _burgers(u, nt, nu, dt, dx):
    step = kernex.kmap(kernel_size=3, padding="same", relative=True, boundary="wrap")(
        lambda u: u[0] - u[0] * dt / dx * (u[0] - u[-1]) + nu * dt / dx**2 * (u[1] - 2 * u[0] + u[-1])
    )
    return _march(step, u, nt)


def burgers_kmap(nx: int = 101, nt: int = 100, nu: float = 0.07) -> dict:
    """Step 4 on the ``nx - 1`` distinct points of the periodic grid with ``boundary='wrap'``.

    The duplicate point ``x = 2 pi`` is appended at the end as a copy of ``u[0]``.
    """
    dx = 2 * np.pi / (nx - 1)
    u = np.asarray(_burgers(jnp.asarray(burgers_initial(nx, nu)[:-1], jnp.float32), nt, nu, dx * nu, dx))
    return {"u": np.concatenate([u, u[:1]])}
