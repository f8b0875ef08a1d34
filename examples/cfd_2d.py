"""Steps 5-8 of "CFD Python: 12 steps to Navier-Stokes" (2-D convection, diffusion, Burgers), NumPy and kernex.

Arrays are ``(ny, nx)``: axis 0 is ``y``, axis 1 is ``x``, as in the notebooks.
Each ``*_numpy`` function is the notebook's slice code in float64; each ``*_kmap``
function does one ``kmap`` per time step in float32 inside ``jax.lax.fori_loop``.
Both start from the notebooks' hat (2 on ``0.5 <= x, y <= 1``, 1 elsewhere on
``[0, 2]^2``) and return a dict of final fields as NumPy arrays. Invariant: the
walls hold ``u = v = 1`` after every step in both versions; kernex supplies them
either with ``F[idx]`` functions (steps 5, 6: the state is the whole grid) or as
the ``fill_value`` of a ``'constant'`` boundary (steps 7, 8: the state is the
interior).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

import kernex

__all__ = [
    "linear_convection_2d_numpy",
    "linear_convection_2d_kmap",
    "nonlinear_convection_2d_numpy",
    "nonlinear_convection_2d_kmap",
    "diffusion_2d_numpy",
    "diffusion_2d_kmap",
    "burgers_2d_numpy",
    "burgers_2d_kmap",
]


def hat_2d(nx: int, ny: int) -> np.ndarray:
    """The notebooks' 2-D hat on ``[0, 2]^2`` as a float64 ``(ny, nx)`` array."""
    dx, dy = 2 / (nx - 1), 2 / (ny - 1)
    u = np.ones((ny, nx))
    u[int(0.5 / dy) : int(1 / dy + 1), int(0.5 / dx) : int(1 / dx + 1)] = 2
    return u


def _walls(u: np.ndarray, value: float = 1.0) -> None:
    u[0, :] = u[-1, :] = u[:, 0] = u[:, -1] = value


def _march(step, state, nt: int):
    return jax.lax.fori_loop(0, nt, lambda _, s: step(s), state)


def _f32(x: np.ndarray) -> jax.Array:
    return jnp.asarray(x, jnp.float32)


def _with_walls(interior: np.ndarray, value: float = 1.0) -> np.ndarray:
    return np.pad(np.asarray(interior, np.float64), 1, constant_values=value)


# -- step 5: 2-D linear convection -------------------------------------------------------------


def linear_convection_2d_numpy(nx: int = 81, ny: int = 81, nt: int = 100, c: float = 1.0, sigma: float = 0.2) -> dict:
    """Step 5 in NumPy: backward differences in ``x`` and ``y``, ``dt = sigma dx``, walls at 1."""
    dx, dy = 2 / (nx - 1), 2 / (ny - 1)
    dt = sigma * dx
    u = hat_2d(nx, ny)
    for _ in range(nt):
        un = u.copy()
        u[1:, 1:] = un[1:, 1:] - c * dt / dx * (un[1:, 1:] - un[1:, :-1]) - c * dt / dy * (un[1:, 1:] - un[:-1, 1:])
        _walls(u)
    return {"u": u}


@functools.partial(jax.jit, static_argnames=("nt", "c", "dt", "dx", "dy"))
def _linear_convection_2d(u, nt, c, dt, dx, dy):
    F = kernex.kmap(kernel_size=(3, 3), padding="same", relative=True)
    F[...] = lambda u: jnp.ones_like(u[0, 0])  # the walls; the interior is reassigned below
    F[1:-1, 1:-1] = lambda u: u[0, 0] - c * dt / dx * (u[0, 0] - u[0, -1]) - c * dt / dy * (u[0, 0] - u[-1, 0])
    return _march(F, u, nt)


def linear_convection_2d_kmap(nx: int = 81, ny: int = 81, nt: int = 100, c: float = 1.0, sigma: float = 0.2) -> dict:
    """Step 5 with ``F[...] = 1`` (walls) and ``F[1:-1, 1:-1] = upwind`` (the most recent assignment wins)."""
    dx, dy = 2 / (nx - 1), 2 / (ny - 1)
    return {"u": np.asarray(_linear_convection_2d(_f32(hat_2d(nx, ny)), nt, c, sigma * dx, dx, dy))}


# -- step 6: 2-D nonlinear convection (u, v) ---------------------------------------------------


def nonlinear_convection_2d_numpy(nx: int = 101, ny: int = 101, nt: int = 80, c: float = 1.0, sigma: float = 0.2) -> dict:
    """Step 6 in NumPy: ``u`` and ``v`` advect each other with backward differences, walls at 1."""
    dx, dy = 2 / (nx - 1), 2 / (ny - 1)
    dt = sigma * dx
    u, v = hat_2d(nx, ny), hat_2d(nx, ny)
    for _ in range(nt):
        un, vn = u.copy(), v.copy()
        u[1:, 1:] = (
            un[1:, 1:]
            - un[1:, 1:] * c * dt / dx * (un[1:, 1:] - un[1:, :-1])
            - vn[1:, 1:] * c * dt / dy * (un[1:, 1:] - un[:-1, 1:])
        )
        v[1:, 1:] = (
            vn[1:, 1:]
            - un[1:, 1:] * c * dt / dx * (vn[1:, 1:] - vn[1:, :-1])
            - vn[1:, 1:] * c * dt / dy * (vn[1:, 1:] - vn[:-1, 1:])
        )
        _walls(u)
        _walls(v)
    return {"u": u, "v": v}


@functools.partial(jax.jit, static_argnames=("nt", "c", "dt", "dx", "dy"))
def _nonlinear_convection_2d(fields, nt, c, dt, dx, dy):
    def interior(w):
        u, v = w["u"], w["v"]

        def advect(q):  # q is the window of the advected field
            return q[0, 0] - u[0, 0] * c * dt / dx * (q[0, 0] - q[0, -1]) - v[0, 0] * c * dt / dy * (q[0, 0] - q[-1, 0])

        return {"u": advect(u), "v": advect(v)}

    F = kernex.kmap(kernel_size=(3, 3), padding="same", relative=True)
    F[...] = lambda w: {"u": jnp.ones_like(w["u"][0, 0]), "v": jnp.ones_like(w["v"][0, 0])}
    F[1:-1, 1:-1] = interior
    return _march(F, fields, nt)


def nonlinear_convection_2d_kmap(nx: int = 101, ny: int = 101, nt: int = 80, c: float = 1.0, sigma: float = 0.2) -> dict:
    """Step 6 with the fields ``{'u', 'v'}`` as one pytree: each window function sees both, returns both."""
    dx, dy = 2 / (nx - 1), 2 / (ny - 1)
    hat = _f32(hat_2d(nx, ny))
    out = _nonlinear_convection_2d({"u": hat, "v": hat}, nt, c, sigma * dx, dx, dy)
    return {k: np.asarray(a) for k, a in out.items()}


# -- step 7: 2-D diffusion ---------------------------------------------------------------------


def diffusion_2d_numpy(nx: int = 31, ny: int = 31, nt: int = 17, nu: float = 0.05, sigma: float = 0.25) -> dict:
    """Step 7 in NumPy: explicit 5-point diffusion, ``dt = sigma dx dy / nu``, walls at 1."""
    dx, dy = 2 / (nx - 1), 2 / (ny - 1)
    dt = sigma * dx * dy / nu
    u = hat_2d(nx, ny)
    for _ in range(nt):
        un = u.copy()
        u[1:-1, 1:-1] = (
            un[1:-1, 1:-1]
            + nu * dt / dx**2 * (un[1:-1, 2:] - 2 * un[1:-1, 1:-1] + un[1:-1, :-2])
            + nu * dt / dy**2 * (un[2:, 1:-1] - 2 * un[1:-1, 1:-1] + un[:-2, 1:-1])
        )
        _walls(u)
    return {"u": u}


@functools.partial(jax.jit, static_argnames=("nt", "nu", "dt", "dx", "dy"))
def _diffusion_2d(interior, nt, nu, dt, dx, dy):
    step = kernex.kmap(kernel_size=(3, 3), padding="same", relative=True, boundary="constant", fill_value=1.0)(
        lambda u: u[0, 0]
        + nu * dt / dx**2 * (u[0, 1] - 2 * u[0, 0] + u[0, -1])
        + nu * dt / dy**2 * (u[1, 0] - 2 * u[0, 0] + u[-1, 0])
    )
    return _march(step, interior, nt)


def diffusion_2d_kmap(nx: int = 31, ny: int = 31, nt: int = 17, nu: float = 0.05, sigma: float = 0.25) -> dict:
    """Step 7 on the interior; the walls are ``boundary='constant', fill_value=1``."""
    dx, dy = 2 / (nx - 1), 2 / (ny - 1)
    interior = _diffusion_2d(_f32(hat_2d(nx, ny)[1:-1, 1:-1]), nt, nu, sigma * dx * dy / nu, dx, dy)
    return {"u": _with_walls(interior)}


# -- step 8: 2-D Burgers' equation (u, v) ------------------------------------------------------


def burgers_2d_numpy(nx: int = 41, ny: int = 41, nt: int = 120, nu: float = 0.01, sigma: float = 0.0009) -> dict:
    """Step 8 in NumPy: upwind convection + 5-point diffusion of ``u`` and ``v``, walls at 1."""
    dx, dy = 2 / (nx - 1), 2 / (ny - 1)
    dt = sigma * dx * dy / nu
    u, v = hat_2d(nx, ny), hat_2d(nx, ny)
    for _ in range(nt):
        un, vn = u.copy(), v.copy()
        u[1:-1, 1:-1] = (
            un[1:-1, 1:-1]
            - dt / dx * un[1:-1, 1:-1] * (un[1:-1, 1:-1] - un[1:-1, :-2])
            - dt / dy * vn[1:-1, 1:-1] * (un[1:-1, 1:-1] - un[:-2, 1:-1])
            + nu * dt / dx**2 * (un[1:-1, 2:] - 2 * un[1:-1, 1:-1] + un[1:-1, :-2])
            + nu * dt / dy**2 * (un[2:, 1:-1] - 2 * un[1:-1, 1:-1] + un[:-2, 1:-1])
        )
        v[1:-1, 1:-1] = (
            vn[1:-1, 1:-1]
            - dt / dx * un[1:-1, 1:-1] * (vn[1:-1, 1:-1] - vn[1:-1, :-2])
            - dt / dy * vn[1:-1, 1:-1] * (vn[1:-1, 1:-1] - vn[:-2, 1:-1])
            + nu * dt / dx**2 * (vn[1:-1, 2:] - 2 * vn[1:-1, 1:-1] + vn[1:-1, :-2])
            + nu * dt / dy**2 * (vn[2:, 1:-1] - 2 * vn[1:-1, 1:-1] + vn[:-2, 1:-1])
        )
        _walls(u)
        _walls(v)
    return {"u": u, "v": v}


def burgers_2d_step(nu: float, dt: float, dx: float, dy: float) -> kernex.kmap:
    """One time step of 2-D Burgers on the interior fields ``{'u', 'v'}`` (walls: ``fill_value=1``)."""

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

    return kernex.kmap(kernel_size=(3, 3), padding="same", relative=True, boundary="constant", fill_value=1.0)(update)


@functools.partial(jax.jit, static_argnames=("nt", "nu", "dt", "dx", "dy"))
def _burgers_2d(fields, nt, nu, dt, dx, dy):
    return _march(burgers_2d_step(nu, dt, dx, dy), fields, nt)


def burgers_2d_kmap(nx: int = 41, ny: int = 41, nt: int = 120, nu: float = 0.01, sigma: float = 0.0009) -> dict:
    """Step 8 on the interior fields ``{'u', 'v'}``; the walls are the boundary's ``fill_value=1``."""
    dx, dy = 2 / (nx - 1), 2 / (ny - 1)
    hat = _f32(hat_2d(nx, ny)[1:-1, 1:-1])
    out = _burgers_2d({"u": hat, "v": hat}, nt, nu, sigma * dx * dy / nu, dx, dy)
    return {k: _with_walls(a) for k, a in out.items()}
