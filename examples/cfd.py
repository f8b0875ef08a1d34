"""Lorena Barba's "CFD Python: 12 steps to Navier-Stokes", steps 1-11, with kernex next to NumPy.

This module is the index: ``STEPS`` names every problem with its NumPy and
kernex solvers (defined in ``cfd_1d``, ``cfd_2d`` and ``cfd_elliptic``), and
``max_errors`` runs both and reports how far apart they end. Invariants: a
step's two solvers take the same keyword arguments (the notebook's parameters
are their defaults; ``SMALL`` holds sizes for quick checks) and return dicts with
the same keys; NumPy runs in float64, kernex in float32.

Run ``python -m examples.cfd`` to print the table at the notebooks' sizes.
"""

from __future__ import annotations

import time
from typing import Callable, NamedTuple

import numpy as np

from examples import cfd_1d, cfd_2d, cfd_elliptic

__all__ = ["Step", "STEPS", "SMALL", "max_errors", "main"]


class Step(NamedTuple):
    """One problem: its NumPy solver, its kernex solver and the kmap features it shows."""

    numpy: Callable[..., dict]
    kernex: Callable[..., dict]
    features: str


STEPS: dict[str, Step] = {
    "1 linear convection 1-D (kmap)": Step(
        cfd_1d.linear_convection_numpy, cfd_1d.linear_convection_kmap, "F[0] keeps the left end, F[1:] upwind"
    ),
    "1 linear convection 1-D (kscan)": Step(
        cfd_1d.linear_convection_numpy, cfd_1d.linear_convection_kscan, "kscan over time x space, named axes n, i"
    ),
    "2 nonlinear convection 1-D": Step(
        cfd_1d.nonlinear_convection_numpy, cfd_1d.nonlinear_convection_kmap, "F[0] / F[1:]"
    ),
    "3 diffusion 1-D": Step(cfd_1d.diffusion_numpy, cfd_1d.diffusion_kmap, "boundary='constant', fill_value=1"),
    "4 Burgers 1-D (periodic)": Step(cfd_1d.burgers_numpy, cfd_1d.burgers_kmap, "boundary='wrap'"),
    "5 linear convection 2-D": Step(
        cfd_2d.linear_convection_2d_numpy, cfd_2d.linear_convection_2d_kmap, "F[...] walls, F[1:-1, 1:-1] interior"
    ),
    "6 nonlinear convection 2-D": Step(
        cfd_2d.nonlinear_convection_2d_numpy,
        cfd_2d.nonlinear_convection_2d_kmap,
        "fields {u, v} in, {u, v} out; F[idx]",
    ),
    "7 diffusion 2-D": Step(cfd_2d.diffusion_2d_numpy, cfd_2d.diffusion_2d_kmap, "boundary='constant', fill_value=1"),
    "8 Burgers 2-D": Step(
        cfd_2d.burgers_2d_numpy, cfd_2d.burgers_2d_kmap, "fields {u, v}; boundary='constant', fill_value=1"
    ),
    "9 Laplace 2-D": Step(
        cfd_elliptic.laplace_numpy, cfd_elliptic.laplace_kmap, "boundary='edge' (Neumann), F[:, 0] / F[:, -1]; while_loop"
    ),
    "10 Poisson 2-D": Step(
        cfd_elliptic.poisson_numpy, cfd_elliptic.poisson_kmap, "fields {p, b}; F[1:-1, 1:-1], uncovered walls = 0"
    ),
    "11 cavity flow": Step(
        cfd_elliptic.cavity_numpy,
        cfd_elliptic.cavity_kmap,
        "fields {u, v, p}; padding='valid'; boundary=(('edge', 'constant'), 'edge'); F[-1, :] lid",
    ),
}

#: Sizes for quick checks (the tests): small grids, few steps, same physics otherwise.
SMALL: dict[str, dict] = {
    "1 linear convection 1-D (kmap)": {"nx": 21, "nt": 10, "dt": 0.05},
    "1 linear convection 1-D (kscan)": {"nx": 21, "nt": 10, "dt": 0.05},
    "2 nonlinear convection 1-D": {"nx": 21, "nt": 10, "dt": 0.05},
    "3 diffusion 1-D": {"nx": 21, "nt": 10},
    "4 Burgers 1-D (periodic)": {"nx": 31, "nt": 20},
    "5 linear convection 2-D": {"nx": 21, "ny": 17, "nt": 10},
    "6 nonlinear convection 2-D": {"nx": 21, "ny": 17, "nt": 10},
    "7 diffusion 2-D": {"nx": 15, "ny": 13, "nt": 10},
    "8 Burgers 2-D": {"nx": 15, "ny": 13, "nt": 20},
    "9 Laplace 2-D": {"nx": 11, "ny": 9, "l1norm_target": 1e-3},
    "10 Poisson 2-D": {"nx": 16, "ny": 12, "nt": 20},
    "11 cavity flow": {"nx": 11, "ny": 9, "nt": 10, "nit": 10, "dt": 0.01},
}


def max_errors(small: bool = False, names=None) -> dict[str, dict[str, float]]:
    """Runs both solvers of each step and returns ``{step: {field: max |kernex - numpy|}}``.

    Args:
        small: use the ``SMALL`` sizes instead of the notebooks' defaults.
        names: the steps to run (default: all of ``STEPS``).

    Each field's entry is the largest absolute difference; an extra entry
    ``'<field> scale'`` holds ``max |numpy|`` of that field, so the relative
    error is their ratio. Integer fields (Laplace's iteration count) report the
    absolute difference of the counts.
    """
    errors = {}
    for name in names if names is not None else STEPS:
        step = STEPS[name]
        kwargs = SMALL[name] if small else {}
        reference, result = step.numpy(**kwargs), step.kernex(**kwargs)
        row = {}
        for field, ref in reference.items():
            row[field] = float(np.max(np.abs(np.asarray(result[field], np.float64) - ref)))
            if np.issubdtype(np.asarray(ref).dtype, np.floating):
                row[f"{field} scale"] = float(np.max(np.abs(ref)))
        errors[name] = row
    return errors


def main() -> None:
    """Prints one line per step: the max error of each field, its scale and the kernex feature used."""
    for name in STEPS:
        start = time.perf_counter()
        row = max_errors(names=[name])[name]
        elapsed = time.perf_counter() - start
        cells = ", ".join(
            f"{k} {v:.2e} (scale {row[k + ' scale']:.3g})" if k + " scale" in row else f"{k} {v:g}"
            for k, v in row.items()
            if not k.endswith(" scale")
        )
        print(f"{name:34s} {cells}  [{elapsed:.1f} s]")


if __name__ == "__main__":
    main()
