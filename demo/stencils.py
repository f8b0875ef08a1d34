"""The seed's kmap and kscan examples, end to end.

Solves the seed's linear-convection problem with ``kscan`` and plots it, and
prints the Laplacian, patches, moving-average and function-by-index results.
"""

from __future__ import annotations

import pathlib

import jax
import jax.numpy as jnp
import numpy as np

import kernex


def convection_kernel(nt: int, nx: int, tmax: float, xmax: float, c: float, schedule: str = "auto") -> kernex.kscan:
    """The seed's kscan for 1-D linear convection on an ``(nt, nx)`` grid (rows = time steps)."""
    dt, dx = tmax / (nt - 1), xmax / (nx - 1)
    F = kernex.kscan(
        kernel_size=(3, 3), padding=((1, 1), (1, 1)), named_axis={0: "n", 1: "i"}, relative=True, schedule=schedule
    )

    def bc(u):
        return 1

    def ic1(u):
        return 1

    def ic2(u):
        return 2

    def step(u):
        return u["i", "n-1"] - (c * dt / dx) * (u["i", "n-1"] - u["i-1", "n-1"])

    F[:, 0] = F[:, -1] = bc
    F[:, : int((nx - 1) / 4) + 1] = F[:, int((nx - 1) / 2) :] = ic1
    F[0:1, int((nx - 1) / 4) + 1 : int((nx - 1) / 2)] = ic2
    F[1:, 1:-1] = step
    return F


def linear_convection(nt: int = 151, nx: int = 51, tmax: float = 0.5, xmax: float = 2.0, c: float = 0.5):
    """The seed's 1-D linear convection solved with kscan (rows = time steps)."""
    return convection_kernel(nt, nx, tmax, xmax, c)(jnp.array(np.ones([nt, nx])))


def run(out_dir: pathlib.Path) -> None:
    import matplotlib  # only the demo plots; tests import the kernels above without matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nt, nx, xmax = 151, 51, 2.0
    solution = linear_convection(nt, nx, xmax=xmax)
    plt.figure(figsize=(10, 4))
    for n, line in list(enumerate(solution))[::20]:
        plt.plot(np.linspace(0, xmax, nx), line, label=f"n={n}")
    plt.xlabel("x")
    plt.ylabel("u")
    plt.title("Linear convection with kernex.kscan (square wave advected to the right)")
    plt.legend()
    path = out_dir / "linear_convection.png"
    plt.savefig(path, dpi=100, bbox_inches="tight")
    plt.close()
    print(f"linear convection: u has shape {solution.shape}; total of the last row {float(solution[-1].sum()):.4f}")
    print(f"  wrote {path}")

    @kernex.kmap(kernel_size=(3, 3), padding="valid", relative=True)
    def laplacian(x):
        return (0 * x[1, -1] + 1 * x[1, 0] + 0 * x[1, 1] +
                1 * x[0, -1] + -4 * x[0, 0] + 1 * x[0, 1] +
                0 * x[-1, -1] + 1 * x[-1, 0] + 0 * x[-1, 1])  # fmt: skip

    print("laplacian(jnp.ones([10, 10])):")
    print(laplacian(jnp.ones([10, 10])))

    @jax.jit
    @kernex.kmap(kernel_size=(3, 3), padding="same")
    def get_3x3_patches(x):
        return x

    mat = jnp.arange(1, 26).reshape(5, 5)
    print("get_3x3_patches(mat)[0, 0]:")
    print(get_3x3_patches(mat)[0, 0])

    @kernex.kmap(kernel_size=(3,))
    def moving_average(x):
        return jnp.mean(x)

    print("moving_average([1, 2, 3, 7, 9]):", moving_average(jnp.array([1, 2, 3, 7, 9])))

    F = kernex.kmap(kernel_size=(1,))
    F[0] = lambda x: x[0] ** 2
    F[1:] = lambda x: x[0] ** 3
    array = jnp.arange(1, 11).astype("float32")
    print("F(array):", F(array))
    print("dF/dx:", jax.grad(lambda x: jnp.sum(F(x)))(array))
