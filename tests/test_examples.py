"""The CFD examples (``examples/cfd*.py``): every kernex solver ends where the notebook's NumPy code ends."""

import functools

import numpy as np
import pytest

from examples import cfd, cfd_1d, cfd_elliptic

RTOL = 1e-4  # float32 against float64, relative to the field's largest magnitude


@functools.lru_cache(maxsize=None)
def _errors(name: str) -> dict:
    return cfd.max_errors(small=True, names=[name])[name]


def _no_steps(kwargs: dict) -> dict:
    """The same problem before any time step or sweep."""
    kwargs = dict(kwargs)
    if "l1norm_target" in kwargs:
        kwargs.pop("l1norm_target")
        kwargs["iterations"] = 0
    else:
        kwargs["nt"] = 0
    return kwargs


@pytest.mark.parametrize("name", list(cfd.STEPS))
def test_kernex_solver_agrees_with_numpy(name):
    row = _errors(name)
    fields = [k for k in row if not k.endswith(" scale")]
    assert fields, row
    for field in fields:
        if field + " scale" in row:
            assert row[field] <= RTOL * row[field + " scale"], (field, row)
        else:  # Laplace's iteration count
            assert row[field] == 0, (field, row)


@pytest.mark.parametrize("name", list(cfd.STEPS))
def test_small_problems_evolve(name):
    """The agreement above is not vacuous: at the small sizes every field moves away from its initial state."""
    step, kwargs = cfd.STEPS[name], cfd.SMALL[name]
    after, before = step.numpy(**kwargs), step.numpy(**_no_steps(kwargs))
    for field, value in after.items():
        if np.issubdtype(np.asarray(value).dtype, np.floating):
            assert np.max(np.abs(value - before[field])) > 100 * RTOL * np.max(np.abs(value)), field


def test_steps_and_sizes_name_the_same_problems():
    assert list(cfd.SMALL) == list(cfd.STEPS)
    for name, step in cfd.STEPS.items():
        assert set(step.numpy(**cfd.SMALL[name])) == set(step.kernex(**cfd.SMALL[name])), name


def test_kscan_time_rows_equal_kmap_time_steps():
    kwargs = cfd.SMALL["1 linear convection 1-D (kscan)"]
    np.testing.assert_allclose(
        cfd_1d.linear_convection_kscan(**kwargs)["u"], cfd_1d.linear_convection_kmap(**kwargs)["u"], rtol=0, atol=1e-6
    )


def test_periodic_burgers_keeps_the_duplicate_end_point():
    u = cfd_1d.burgers_kmap(**cfd.SMALL["4 Burgers 1-D (periodic)"])["u"]
    assert u[-1] == u[0]


def test_laplace_fixed_sweeps_and_neumann_rows():
    reference = cfd_elliptic.laplace_numpy(nx=11, ny=9, iterations=7)
    result = cfd_elliptic.laplace_kmap(nx=11, ny=9, iterations=7)
    assert int(result["iterations"]) == 7
    np.testing.assert_allclose(result["p"], reference["p"], rtol=0, atol=1e-6)
    p = result["p"]
    np.testing.assert_array_equal(p[0], p[1])  # dp/dy = 0 at y = 0
    np.testing.assert_array_equal(p[-1], p[-2])  # dp/dy = 0 at y = 1
    np.testing.assert_array_equal(p[:, 0], 0)


def test_cavity_boundary_conditions():
    out = cfd_elliptic.cavity_kmap(**cfd.SMALL["11 cavity flow"])
    u, v, p = out["u"], out["v"], out["p"]
    np.testing.assert_array_equal(u[-1], 1)  # the lid, corners included
    np.testing.assert_array_equal(u[0], 0)
    np.testing.assert_array_equal(u[:-1, 0], 0)
    np.testing.assert_array_equal(u[:-1, -1], 0)
    for wall in (v[0], v[-1], v[:, 0], v[:, -1], p[-1]):
        np.testing.assert_array_equal(wall, 0)
    np.testing.assert_array_equal(p[:-1, 0], p[:-1, 1])  # dp/dx = 0 at x = 0
    np.testing.assert_array_equal(p[:-1, -1], p[:-1, -2])  # dp/dx = 0 at x = 2
