"""Steps 9-11 of "CFD Python: 12 steps to Navier-Stokes" (Laplace, Poisson, cavity flow), NumPy and kernex.

Arrays are ``(ny, nx)`` (axis 0 is ``y``). The ``*_numpy`` functions are the
notebooks' slice code in float64; the ``*_kmap`` functions use one ``kmap`` per
Jacobi sweep or time step in float32 with ``jax.lax`` loops. Both return a dict
of final fields as NumPy arrays (Laplace also its iteration count). Invariant:
every boundary condition of the notebook is met exactly, never approximated — a
Neumann side ``p[0] = p[1]`` *after* the sweep is the ``'edge'`` boundary of a
state that holds only the swept cells; a Dirichlet zero is a cell no ``F[idx]``
function covers (``kmap`` writes zeros there) or a ``'constant'`` side.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

import kernex

__all__ = [
    "laplace_numpy",
    "laplace_kmap",
    "poisson_numpy",
    "poisson_kmap",
    "cavity_numpy",
    "cavity_kmap",
]


def _f32(x) -> jax.Array:
    return jnp.asarray(x, jnp.float32)


# -- step 9: 2-D Laplace equation --------------------------------------------------------------


def laplace_initial(nx: int, ny: int) -> np.ndarray:
    """``p = 0`` with the notebook's boundary conditions: ``p = 0`` at ``x = 0``, ``p = y`` at ``x = 2``, Neumann in ``y``."""
    p = np.zeros((ny, nx))
    p[:, -1] = np.linspace(0, 1, ny)
    p[0, :] = p[1, :]
    p[-1, :] = p[-2, :]
    return p


def laplace_numpy(nx: int = 31, ny: int = 31, l1norm_target: float = 1e-4, iterations: int | None = None) -> dict:
    """Step 9 in NumPy: Jacobi sweeps until the relative L1 change is at most ``l1norm_target``.

    ``iterations`` (if given) runs exactly that many sweeps instead. Returns ``p``
    and the number of sweeps. The notebook's ``dy = 2 / (ny - 1)`` is kept.
    """
    dx, dy = 2 / (nx - 1), 2 / (ny - 1)
    y = np.linspace(0, 1, ny)
    p = laplace_initial(nx, ny)
    l1norm, n = 1.0, 0
    while (l1norm > l1norm_target) if iterations is None else (n < iterations):
        pn = p.copy()
        p[1:-1, 1:-1] = (dy**2 * (pn[1:-1, 2:] + pn[1:-1, :-2]) + dx**2 * (pn[2:, 1:-1] + pn[:-2, 1:-1])) / (
            2 * (dx**2 + dy**2)
        )
        p[:, 0] = 0
        p[:, -1] = y
        p[0, :] = p[1, :]
        p[-1, :] = p[-2, :]
        l1norm = np.sum(np.abs(p[:]) - np.abs(pn[:])) / np.sum(np.abs(pn[:]))
        n += 1
    return {"p": p, "iterations": np.asarray(n)}


def laplace_sweep(dx: float, dy: float) -> kernex.kmap:
    """One Jacobi sweep on the rows ``1 .. ny-2`` of ``p`` (the Neumann rows are their ``'edge'`` boundary).

    The columns ``x = 0`` and ``x = 2`` hold Dirichlet values: ``F[:, 0]`` and
    ``F[:, -1]`` keep them, ``F[:, 1:-1]`` is the 5-point average.
    """
    F = kernex.kmap(kernel_size=(3, 3), padding="same", relative=True, boundary="edge")
    F[:, 0] = F[:, -1] = lambda p: p[0, 0]
    F[:, 1:-1] = lambda p: (dy**2 * (p[0, 1] + p[0, -1]) + dx**2 * (p[1, 0] + p[-1, 0])) / (2 * (dx**2 + dy**2))
    return F


@functools.partial(jax.jit, static_argnames=("dx", "dy", "l1norm_target", "iterations", "max_iterations"))
def _laplace(rows, dx, dy, l1norm_target, iterations, max_iterations):
    sweep = laplace_sweep(dx, dy)

    def full(q):  # the Neumann rows p[0] = p[1], p[-1] = p[-2]
        return jnp.concatenate([q[:1], q, q[-1:]])

    def body(carry):
        q, _, n = carry
        qn = sweep(q)
        p, pn = full(qn), full(q)
        return qn, jnp.sum(jnp.abs(p) - jnp.abs(pn)) / jnp.sum(jnp.abs(pn)), n + 1

    def cond(carry):
        _, l1norm, n = carry
        if iterations is not None:
            return n < iterations
        return (l1norm > l1norm_target) & (n < max_iterations)

    q, _, n = jax.lax.while_loop(cond, body, (rows, jnp.float32(1.0), jnp.int32(0)))
    return full(q), n


def laplace_kmap(
    nx: int = 31, ny: int = 31, l1norm_target: float = 1e-4, iterations: int | None = None, max_iterations: int = 100_000
) -> dict:
    """Step 9 with ``boundary='edge'`` as the Neumann rows, in a ``lax.while_loop`` on the same L1 criterion.

    ``max_iterations`` bounds the loop (the notebook's has no bound).
    """
    p, n = _laplace(_f32(laplace_initial(nx, ny)[1:-1]), 2 / (nx - 1), 2 / (ny - 1), l1norm_target, iterations, max_iterations)
    return {"p": np.asarray(p), "iterations": np.asarray(n)}


# -- step 10: 2-D Poisson equation (p, b) ------------------------------------------------------


def poisson_source(nx: int, ny: int) -> np.ndarray:
    """The notebook's source: ``b = 100`` at ``(ny/4, nx/4)``, ``-100`` at ``(3ny/4, 3nx/4)``, 0 elsewhere."""
    b = np.zeros((ny, nx))
    b[int(ny / 4), int(nx / 4)] = 100
    b[int(3 * ny / 4), int(3 * nx / 4)] = -100
    return b


def poisson_numpy(nx: int = 50, ny: int = 50, nt: int = 100, xmax: float = 2.0, ymax: float = 1.0) -> dict:
    """Step 10 in NumPy: ``nt`` Jacobi sweeps of ``lap p = b`` on ``[0, xmax] x [0, ymax]``, ``p = 0`` on the walls."""
    dx, dy = xmax / (nx - 1), ymax / (ny - 1)
    p, b = np.zeros((ny, nx)), poisson_source(nx, ny)
    for _ in range(nt):
        pd = p.copy()
        p[1:-1, 1:-1] = (
            (pd[1:-1, 2:] + pd[1:-1, :-2]) * dy**2 + (pd[2:, 1:-1] + pd[:-2, 1:-1]) * dx**2 - b[1:-1, 1:-1] * dx**2 * dy**2
        ) / (2 * (dx**2 + dy**2))
        p[0, :] = p[ny - 1, :] = p[:, 0] = p[:, nx - 1] = 0
    return {"p": p}


@functools.partial(jax.jit, static_argnames=("nt", "dx", "dy"))
def _poisson(p, b, nt, dx, dy):
    F = kernex.kmap(kernel_size=(3, 3), padding="same", relative=True)
    # the walls are covered by no function: kmap writes p = 0 there
    F[1:-1, 1:-1] = lambda w: (
        (w["p"][0, 1] + w["p"][0, -1]) * dy**2 + (w["p"][1, 0] + w["p"][-1, 0]) * dx**2 - w["b"][0, 0] * dx**2 * dy**2
    ) / (2 * (dx**2 + dy**2))
    return jax.lax.fori_loop(0, nt, lambda _, p: F({"p": p, "b": b}), p)


def poisson_kmap(nx: int = 50, ny: int = 50, nt: int = 100, xmax: float = 2.0, ymax: float = 1.0) -> dict:
    """Step 10 with the fields ``{'p', 'b'}`` in one window and ``F[1:-1, 1:-1]``; uncovered walls are 0."""
    b = _f32(poisson_source(nx, ny))
    return {"p": np.asarray(_poisson(jnp.zeros((ny, nx), jnp.float32), b, nt, xmax / (nx - 1), ymax / (ny - 1)))}


# -- step 11: cavity flow (u, v, p) ------------------------------------------------------------


def cavity_numpy(
    nx: int = 41, ny: int = 41, nt: int = 100, nit: int = 50, rho: float = 1.0, nu: float = 0.1, dt: float = 0.001
) -> dict:
    """Step 11 in NumPy: lid-driven cavity on ``[0, 2]^2``, ``nit`` pressure sweeps per time step, lid ``u = 1``."""
    dx, dy = 2 / (nx - 1), 2 / (ny - 1)
    u, v, p, b = (np.zeros((ny, nx)) for _ in range(4))
    for _ in range(nt):
        un, vn = u.copy(), v.copy()
        dudx = (u[1:-1, 2:] - u[1:-1, :-2]) / (2 * dx)
        dvdy = (v[2:, 1:-1] - v[:-2, 1:-1]) / (2 * dy)
        dudy = (u[2:, 1:-1] - u[:-2, 1:-1]) / (2 * dy)
        dvdx = (v[1:-1, 2:] - v[1:-1, :-2]) / (2 * dx)
        b[1:-1, 1:-1] = rho * (1 / dt * (dudx + dvdy) - dudx**2 - 2 * dudy * dvdx - dvdy**2)
        for _ in range(nit):
            pn = p.copy()
            p[1:-1, 1:-1] = ((pn[1:-1, 2:] + pn[1:-1, :-2]) * dy**2 + (pn[2:, 1:-1] + pn[:-2, 1:-1]) * dx**2) / (
                2 * (dx**2 + dy**2)
            ) - dx**2 * dy**2 / (2 * (dx**2 + dy**2)) * b[1:-1, 1:-1]
            p[:, -1] = p[:, -2]  # dp/dx = 0 at x = 2
            p[0, :] = p[1, :]  # dp/dy = 0 at y = 0
            p[:, 0] = p[:, 1]  # dp/dx = 0 at x = 0
            p[-1, :] = 0  # p = 0 at y = 2
        u[1:-1, 1:-1] = (
            un[1:-1, 1:-1]
            - un[1:-1, 1:-1] * dt / dx * (un[1:-1, 1:-1] - un[1:-1, :-2])
            - vn[1:-1, 1:-1] * dt / dy * (un[1:-1, 1:-1] - un[:-2, 1:-1])
            - dt / (2 * rho * dx) * (p[1:-1, 2:] - p[1:-1, :-2])
            + nu
            * (
                dt / dx**2 * (un[1:-1, 2:] - 2 * un[1:-1, 1:-1] + un[1:-1, :-2])
                + dt / dy**2 * (un[2:, 1:-1] - 2 * un[1:-1, 1:-1] + un[:-2, 1:-1])
            )
        )
        v[1:-1, 1:-1] = (
            vn[1:-1, 1:-1]
            - un[1:-1, 1:-1] * dt / dx * (vn[1:-1, 1:-1] - vn[1:-1, :-2])
            - vn[1:-1, 1:-1] * dt / dy * (vn[1:-1, 1:-1] - vn[:-2, 1:-1])
            - dt / (2 * rho * dy) * (p[2:, 1:-1] - p[:-2, 1:-1])
            + nu
            * (
                dt / dx**2 * (vn[1:-1, 2:] - 2 * vn[1:-1, 1:-1] + vn[1:-1, :-2])
                + dt / dy**2 * (vn[2:, 1:-1] - 2 * vn[1:-1, 1:-1] + vn[:-2, 1:-1])
            )
        )
        u[0, :] = u[:, 0] = u[:, -1] = 0
        u[-1, :] = 1  # the lid
        v[0, :] = v[-1, :] = v[:, 0] = v[:, -1] = 0
    return {"u": u, "v": v, "p": p}


def cavity_kernels(rho: float, nu: float, dt: float, dx: float, dy: float) -> tuple:
    """The three kmaps of one cavity time step: source ``b``, pressure sweep, velocity update.

    * ``source({'u', 'v'})`` — ``padding='valid'``: one value per interior cell;
    * ``sweep({'p', 'b'})`` on the interior of ``p``: the notebook's pressure
      boundary after each sweep is ``'edge'`` (``dp/dx = 0``, ``dp/dy = 0`` at
      ``y = 0``) except ``p = 0`` at the top, a ``'constant'`` side;
    * ``velocity({'u', 'v', 'p'})`` on the whole grid: ``F[1:-1, 1:-1]`` is the
      momentum update, ``F[-1, :]`` the lid (``u = 1``, ``v = 0``); the other
      walls are covered by no function, so ``u = v = 0`` there.
    """

    def source(w):
        u, v = w["u"], w["v"]
        dudx, dvdy = (u[0, 1] - u[0, -1]) / (2 * dx), (v[1, 0] - v[-1, 0]) / (2 * dy)
        dudy, dvdx = (u[1, 0] - u[-1, 0]) / (2 * dy), (v[0, 1] - v[0, -1]) / (2 * dx)
        return rho * (1 / dt * (dudx + dvdy) - dudx**2 - 2 * dudy * dvdx - dvdy**2)

    def pressure(w):
        p = w["p"]
        return ((p[0, 1] + p[0, -1]) * dy**2 + (p[1, 0] + p[-1, 0]) * dx**2) / (2 * (dx**2 + dy**2)) - dx**2 * dy**2 / (
            2 * (dx**2 + dy**2)
        ) * w["b"][0, 0]

    def momentum(w):
        u, v, p = w["u"], w["v"], w["p"]

        def transport(q):
            return (
                q[0, 0]
                - u[0, 0] * dt / dx * (q[0, 0] - q[0, -1])
                - v[0, 0] * dt / dy * (q[0, 0] - q[-1, 0])
                + nu * (dt / dx**2 * (q[0, 1] - 2 * q[0, 0] + q[0, -1]) + dt / dy**2 * (q[1, 0] - 2 * q[0, 0] + q[-1, 0]))
            )

        return {
            "u": transport(u) - dt / (2 * rho * dx) * (p[0, 1] - p[0, -1]),
            "v": transport(v) - dt / (2 * rho * dy) * (p[1, 0] - p[-1, 0]),
        }

    stencil = {"kernel_size": (3, 3), "relative": True}
    source_k = kernex.kmap(padding="valid", **stencil)(source)
    sweep_k = kernex.kmap(padding="same", boundary=(("edge", "constant"), "edge"), **stencil)(pressure)
    velocity_k = kernex.kmap(padding="same", **stencil)
    velocity_k[1:-1, 1:-1] = momentum
    velocity_k[-1, :] = lambda w: {"u": jnp.ones_like(w["u"][0, 0]), "v": jnp.zeros_like(w["v"][0, 0])}
    return source_k, sweep_k, velocity_k


def pressure_from_interior(interior: jax.Array) -> jax.Array:
    """The whole ``p`` from its interior as the notebook's boundary conditions leave it (edge; 0 at the top)."""
    p = jnp.pad(interior, ((1, 0), (1, 1)), mode="edge")
    return jnp.concatenate([p, jnp.zeros_like(p[:1])])


@functools.partial(jax.jit, static_argnames=("nt", "nit", "rho", "nu", "dt", "dx", "dy"))
def _cavity(state, nt, nit, rho, nu, dt, dx, dy):
    source, sweep, velocity = cavity_kernels(rho, nu, dt, dx, dy)

    def step(_, s):
        u, v, p_in = s
        b = source({"u": u, "v": v})
        p_in = jax.lax.fori_loop(0, nit, lambda _, q: sweep({"p": q, "b": b}), p_in)
        uv = velocity({"u": u, "v": v, "p": pressure_from_interior(p_in)})
        return uv["u"], uv["v"], p_in

    u, v, p_in = jax.lax.fori_loop(0, nt, step, state)
    return u, v, pressure_from_interior(p_in)


def cavity_kmap(
    nx: int = 41, ny: int = 41, nt: int = 100, nit: int = 50, rho: float = 1.0, nu: float = 0.1, dt: float = 0.001
) -> dict:
    """Step 11 with three kmaps per time step (``cavity_kernels``); the pressure state is ``p``'s interior."""
    zeros = jnp.zeros((ny, nx), jnp.float32)
    u, v, p = _cavity((zeros, zeros, zeros[1:-1, 1:-1]), nt, nit, rho, nu, dt, 2 / (nx - 1), 2 / (ny - 1))
    return {"u": np.asarray(u), "v": np.asarray(v), "p": np.asarray(p)}
