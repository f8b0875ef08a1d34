"""``kscan`` against a hand-written ``lax.scan``, the literal cell-by-cell scan, and NumPy.

Workloads (issue 4):

* the seed's linear convection (``F[:, 0] = F[:, -1] = bc``, initial conditions,
  ``F[1:, 1:-1] = linear_convection`` with named axes) at 151×51, 1000×1000 and
  2000×4000. ``kscan`` proves the ``'rows'`` schedule; the hand-written version
  is a ``lax.scan`` over time rows with a vectorised row update; the literal
  version is the same kscan with ``schedule='sequential'`` (one scan step per
  cell, the upstream execution model); NumPy loops over rows;
* periodic linear convection at 1000×2000: ``kscan(kernel_size=3,
  padding='same', boundary=('constant', 'wrap'), relative=True)`` with
  ``F[1:, :] = u[-1, 0] - c*(u[-1, 0] - u[-1, -1])`` (the upwind scheme; the
  first cell's left neighbour wraps to the last cell of the previous row, live
  state), row 0 of the input the initial condition. ``'auto'`` takes ``'rows'``:
  every row reads the previous one (no ``'parallel'``) and no window reads a
  cell of its own row, the wrapped read included. Hand-written: a ``lax.scan``
  over time with the left neighbours as ``jnp.roll(u, 1)``, and the same with
  an explicit ``jnp.concatenate`` of the wrapped slices (the target's baseline
  is the faster); NumPy loops over rows with ``np.roll``;
* a Gauss-Seidel sweep, 5-point average with the left and upper neighbours
  already updated in the same sweep (``0.25*(v[-1,0]+v[0,-1]+v[1,0]+v[0,1])``,
  relative, ``'same'``). No row or parallel schedule is exact; on CPU kscan
  runs it cell by cell. The hand-written version is a ``lax.scan`` over rows
  with an inner ``lax.scan`` over columns; the wavefront schedule is shown for
  comparison, and NumPy loops over cells (smaller grid only).

Run ``python -m benchmarks.suite_kscan [--quick]`` to print the tables.
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import kernex
from benchmarks import report
from benchmarks.harness import CELL_SCAN, HAND, KMAP, NUMPY, Impl, Workload
from benchmarks.targets import Target
from demo.stencils import convection_kernel

__all__ = ["periodic_convection_kernel", "run", "workloads"]

MODULE = "benchmarks.suite_kscan"
FULL = {"time_budget_s": 4.0, "min_rounds": 7, "max_rounds": 2000, "compile_repeats": 3}
QUICK = {"time_budget_s": 0.02, "min_rounds": 3, "max_rounds": 3, "compile_repeats": 1}
OTHER_SCHEDULE = "kscan, other schedule"

CONVECTION = Target("≤2× hand-written row scan; compile ≤2 s", 2.0, compile_ratio=None, compile_s=2.0)
SWEEP = Target("no worse than the literal cell scan (≤1.1×, timing noise); compile ≤2 s", 1.1,
               baseline=(CELL_SCAN,), compile_ratio=None, compile_s=2.0)  # fmt: skip
TMAX, XMAX, C = 0.5, 2.0, 0.5
COURANT = 0.5  # c*dt/dx of the periodic row: stable upwind (≤ 1)


# ----------------------------------------------------------------------------- linear convection


def _square_wave(nx: int):
    return int((nx - 1) / 4) + 1, int((nx - 1) / 2)


def _hand_convection(nt: int, nx: int):
    cfl = C * (TMAX / (nt - 1)) / (XMAX / (nx - 1))
    a, b = _square_wave(nx)

    def solve(u):
        first = jnp.ones(nx, u.dtype).at[a:b].set(2)

        def row(prev, _):
            new = prev.at[1:-1].set(prev[1:-1] - cfl * (prev[1:-1] - prev[:-2]))
            return new, new

        _, rows = lax.scan(row, first, None, length=nt - 1)
        return jnp.concatenate([first[None], rows])

    return solve


def _numpy_convection(nt: int, nx: int):
    cfl = C * (TMAX / (nt - 1)) / (XMAX / (nx - 1))
    a, b = _square_wave(nx)

    def solve(u):
        out = np.ones_like(u)
        out[0, a:b] = 2
        for n in range(1, nt):
            out[n, 1:-1] = out[n - 1, 1:-1] - cfl * (out[n - 1, 1:-1] - out[n - 1, :-2])
        return out

    return solve


def _convection(nt: int, nx: int) -> Workload:
    return Workload(
        f"linear convection {nt}×{nx}", f"seed linear convection (kscan, named axes, 6 index assignments), grid {nt}×{nx}",
        lambda: (jnp.ones((nt, nx), jnp.float32),),
        [Impl("kscan (auto: rows)", KMAP, convection_kernel(nt, nx, TMAX, XMAX, C)),
         Impl("lax.scan over rows", HAND, _hand_convection(nt, nx)),
         Impl("kscan schedule='sequential'", CELL_SCAN, convection_kernel(nt, nx, TMAX, XMAX, C, "sequential")),
         Impl("numpy row loop", NUMPY, _numpy_convection(nt, nx))],
        3, CONVECTION,
    )  # fmt: skip


# ----------------------------------------------------------------------------- periodic linear convection


def periodic_convection_kernel(schedule: str = "auto") -> kernex.kscan:
    """Upwind linear convection, periodic in space: rows are time steps, row 0 (uncovered) the initial condition."""
    F = kernex.kscan(kernel_size=3, padding="same", boundary=("constant", "wrap"), relative=True, schedule=schedule)
    F[1:, :] = lambda u: u[-1, 0] - COURANT * (u[-1, 0] - u[-1, -1])
    return F


def _time_scan(left):
    """``lax.scan`` over time from row 0 of ``u``; ``left(row)`` is every cell's left neighbour (periodic)."""

    def solve(u):
        def step(prev, _):
            new = prev - COURANT * (prev - left(prev))
            return new, new

        _, rows = lax.scan(step, u[0], None, length=u.shape[0] - 1)
        return jnp.concatenate([u[:1], rows])

    return solve


def _numpy_periodic_convection(u):
    out = u.copy()
    for n in range(1, u.shape[0]):
        out[n] = out[n - 1] - COURANT * (out[n - 1] - np.roll(out[n - 1], 1))
    return out


def _periodic_inputs(nt: int, nx: int):
    a, b = _square_wave(nx)
    return lambda: (jnp.ones((nt, nx), jnp.float32).at[0, a:b].set(2),)


def _periodic_convection(nt: int, nx: int) -> Workload:
    return Workload(
        f"periodic linear convection {nt}×{nx}",
        f"`kscan(kernel_size=3, padding='same', boundary=('constant','wrap'), relative=True)`, "
        f"`F[1:, :] = u[-1,0] - c*(u[-1,0] - u[-1,-1])` (periodic upwind, c = {COURANT:g}), row 0 the initial "
        f"square wave, grid {nt}×{nx}",
        _periodic_inputs(nt, nx),
        [Impl("kscan (auto: rows)", KMAP, periodic_convection_kernel()),
         Impl("lax.scan over time + jnp.roll", HAND, _time_scan(lambda r: jnp.roll(r, 1))),
         Impl("lax.scan over time + jnp.concatenate wrap", HAND,
              _time_scan(lambda r: jnp.concatenate([r[-1:], r[:-1]]))),
         Impl("numpy row loop + np.roll", NUMPY, _numpy_periodic_convection)],
        3, CONVECTION,
    )  # fmt: skip


# ----------------------------------------------------------------------------- Gauss-Seidel sweep


def _gauss_seidel(v):
    return 0.25 * (v[-1, 0] + v[0, -1] + v[1, 0] + v[0, 1])


def _kscan_sweep(schedule: str):
    return kernex.kscan(kernel_size=(3, 3), padding="same", relative=True, schedule=schedule)(_gauss_seidel)


def _hand_sweep(x):
    n, m = x.shape
    padded = jnp.pad(x, 1)

    def row(above, i):
        old = lax.dynamic_index_in_dim(padded, i + 1, keepdims=False)
        below = lax.dynamic_index_in_dim(padded, i + 2, keepdims=False)

        def cell(left, j):
            value = 0.25 * (above[j + 1] + left + below[j + 1] + old[j + 2])
            return value, value

        _, values = lax.scan(cell, jnp.zeros((), x.dtype), jnp.arange(m))
        return jnp.pad(values, 1), values

    _, rows = lax.scan(row, jnp.zeros(m + 2, x.dtype), jnp.arange(n))
    return rows


def _numpy_sweep(x):
    n, m = x.shape
    u = np.pad(x, 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            u[i, j] = 0.25 * (u[i - 1, j] + u[i, j - 1] + u[i + 1, j] + u[i, j + 1])
    return u[1:-1, 1:-1]


def _sweep(n: int, with_numpy: bool) -> Workload:
    impls = [Impl("kscan (auto: sequential on CPU)", KMAP, _kscan_sweep("auto")),
             Impl("nested lax.scan (rows, cells)", HAND, _hand_sweep),
             Impl("kscan schedule='sequential'", CELL_SCAN, _kscan_sweep("sequential")),
             Impl("kscan schedule='wavefront'", OTHER_SCHEDULE, _kscan_sweep("wavefront"))]  # fmt: skip
    if with_numpy:
        impls.append(Impl("numpy cell loop", NUMPY, _numpy_sweep))
    return Workload(
        f"Gauss-Seidel sweep {n}×{n}", "5-point average reading the already-updated left and upper neighbours",
        lambda: (jax.random.normal(jax.random.PRNGKey(0), (n, n)),), impls, 4, SWEEP,
    )  # fmt: skip


def workloads(quick: bool = False) -> list[Workload]:
    """The issue's workloads; ``quick`` shrinks every size (same code paths)."""
    if quick:
        return [_convection(16, 9), _convection(32, 40), _periodic_convection(24, 40),
                _sweep(12, True), _sweep(20, False)]  # fmt: skip
    return [_convection(151, 51), _convection(1000, 1000), _convection(2000, 4000), _periodic_convection(1000, 2000),
            _sweep(100, True), _sweep(1000, False)]  # fmt: skip


def run(quick: bool = False) -> dict:
    """Measure every workload; returns ``{"title", "rows", "markdown"}`` (see :func:`benchmarks.report.run_suite`)."""
    title = "kscan vs a hand-written lax.scan, the literal cell scan and NumPy"
    return report.run_suite(MODULE, "kscan", title, workloads(quick), QUICK if quick else FULL, quick)


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv[1:])["markdown"])
