"""kscan's state under boundary modes (``window/frame.py``): reads through an index-mapping side see
the live input cell they copy, every schedule stays exact (or is refused), values and gradients
match the literal sequential model of ``reference.py`` (docs/boundaries.md, "kscan")."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reference import kscan_functions, kscan_reference, property_settings, random_array, resolve

from kernex import kscan
from kernex._src.lower.plan import SCHEDULES
from kernex._src.window import boundary as bnd
from kernex._src.window.frame import resolve_frame
from kernex._src.window.geometry import resolve_geometry

MODES = list(bnd.MODES)
S = jnp.sum


@pytest.mark.parametrize(
    "boundary, expected",
    [
        ("constant", [3, 8, 15, 24, 29]),
        ("wrap", [8, 13, 20, 29, 42]),  # the last window reads the first cell, already 8
        ("edge", [4, 9, 16, 25, 35]),
        ("symmetric", [4, 9, 16, 25, 35]),
        ("reflect", [5, 10, 17, 26, 57]),  # x[-1] -> x[1], x[5] -> x[3] (already 26)
    ],
)
def test_one_dimensional_sums_read_the_live_state(boundary, expected):
    got = kscan(kernel_size=3, padding="same", boundary=boundary)(S)(jnp.array([1, 2, 3, 4, 5]))
    assert got.tolist() == expected
    x = np.array([1, 2, 3, 4, 5])
    assert kscan_reference(x, S, kernel_size=3, padding="same", boundary=boundary).tolist() == expected


def test_constant_fill_value_and_per_side_modes():
    F = kscan(kernel_size=3, padding="same", boundary=(("constant", "wrap"),), fill_value=10)
    # x[-1] = 10 (stored, fill), x[5] -> x[0] (already 13)
    assert F(S)(jnp.array([1, 2, 3, 4, 5])).tolist() == [13, 18, 25, 34, 52]


def test_wrapped_reads_make_the_parallel_schedule_inexact():
    """Reading the next cell is 'parallel' with zeros, but the last window's wrapped read is an earlier write."""
    nxt = lambda x: x[1] + 1.0  # noqa: E731
    x = jnp.arange(5.0)
    kw = dict(kernel_size=3, padding="same", relative=True)
    np.testing.assert_array_equal(kscan(schedule="parallel", **kw)(nxt)(x), [2, 3, 4, 5, 1])
    with pytest.raises(ValueError, match="schedule='parallel' would change the result"):
        kscan(schedule="parallel", boundary="wrap", **kw)(nxt)(x)
    expected = kscan_reference(np.arange(5.0), nxt, boundary="wrap", **kw)
    np.testing.assert_array_equal(expected, [2, 3, 4, 5, 3])
    for schedule in ("auto", "sequential", "wavefront"):
        np.testing.assert_array_equal(kscan(schedule=schedule, boundary="wrap", **kw)(nxt)(x), expected)


def test_periodic_linear_convection_rows_schedule_matches_numpy():
    """1-D linear convection, periodic in space, rows are time steps (docs/examples.md, step 1 with wrap)."""
    nt, nx, c = 30, 41, 0.5
    u0 = np.exp(-((np.linspace(0, 2, nx) - 0.6) ** 2) / 0.02).astype(np.float32)
    x = np.zeros((nt, nx), np.float32)
    x[0] = u0
    F = kscan(kernel_size=3, padding="same", boundary=("constant", "wrap"), relative=True, schedule="rows")
    F[1:, :] = lambda u: u[-1, 0] - c * (u[-1, 0] - u[-1, -1])
    expected = x.copy()
    for n in range(1, nt):
        expected[n] = expected[n - 1] - c * (expected[n - 1] - np.roll(expected[n - 1], 1))
    np.testing.assert_allclose(np.asarray(jax.jit(F)(x)), expected, rtol=1e-5, atol=1e-6)


def test_anchor_beyond_an_index_mapping_side_is_refused():
    with pytest.raises(ValueError, match=r"boundary=\('wrap', 'wrap'\) on axis 0: .*anchor outside the input"):
        kscan(kernel_size=3, padding=2, boundary="wrap")(S)(jnp.arange(5.0))
    # a constant side stores its cells: windows anchored there write them
    got = kscan(kernel_size=3, padding=2, boundary="constant", fill_value=1)(S)(jnp.arange(5.0))
    np.testing.assert_array_equal(got, kscan_reference(np.arange(5.0), S, kernel_size=3, padding=2, fill_value=1))


def test_repr_and_bad_arguments():
    assert "boundary='wrap'" in repr(kscan(kernel_size=3, boundary="wrap"))
    with pytest.raises(ValueError, match="scipy.ndimage's 'nearest' is 'edge'"):
        kscan(kernel_size=3, boundary="nearest")
    with pytest.raises(TypeError, match="fill_value"):
        kscan(kernel_size=3, fill_value="one")
    with pytest.raises(ValueError, match="one entry per input axis"):
        kscan(kernel_size=3, padding="same", boundary=("wrap", "edge"))(S)(jnp.arange(5.0))


def test_frame_tables_are_jnp_pad_index_maps():
    g = resolve_geometry((6, 4), (5, 3), 1, ((4, 2), (1, 1)))
    frame = resolve_frame(g, bnd.resolve_boundary((6, 4), (("constant", "reflect"), "wrap")))
    assert frame.shape == (6 + 4, 4) and frame.shift == (0, 1)
    np.testing.assert_array_equal(frame.tables[0][:4], np.arange(4))  # the stored constant side
    np.testing.assert_array_equal(frame.tables[0][4:], np.pad(np.arange(4, 10), (0, 2), mode="reflect"))
    np.testing.assert_array_equal(frame.tables[1], np.pad(np.arange(4), 1, mode="wrap"))


# ----------------------------------------------------------------------------- property tests


@st.composite
def bounded_cases(draw):
    """Shape, kernel, strides, padding at most 'same' on index-mapping sides, and per-side modes/fills."""
    rank = draw(st.integers(1, 2))
    shape = tuple(draw(st.integers(2, 6 if rank == 2 else 9)) for _ in range(rank))
    kernel = tuple(draw(st.integers(1, min(n, 3))) for n in shape)
    strides = tuple(draw(st.integers(1, 2)) for _ in shape)
    modes, padding = [], []
    for k in kernel:
        pair = (draw(st.sampled_from(MODES)), draw(st.sampled_from(MODES)))
        same = ((k - 1) // 2, k - 1 - (k - 1) // 2)
        pad = tuple(draw(st.integers(0, w + (2 if m == "constant" else 0))) for w, m in zip(same, pair))
        modes.append(pair)
        padding.append(pad)
    fill = draw(st.sampled_from([0, 1, -2]))
    return dict(shape=shape, kernel_size=kernel, strides=strides, padding=tuple(padding)), tuple(modes), fill


@given(case=bounded_cases(), relative=st.booleans(), schedule=st.sampled_from(SCHEDULES), seed=st.integers(0, 2**31 - 1))
@property_settings(40)
def test_property_every_schedule_is_exact_or_refused(case, relative, schedule, seed):
    geometry, modes, fill = case
    kernel = resolve(geometry["shape"], geometry["kernel_size"])[0]
    x, w = random_array(seed, geometry["shape"], np.float32), random_array(seed + 1, kernel, np.float32)
    pool = kscan_functions(kernel, relative, np.float32)
    fn = pool[sorted(pool)[seed % len(pool)]]
    kw = dict(geometry, relative=relative, boundary=modes, fill_value=fill)
    kw.pop("shape")
    expected = kscan_reference(x, fn, args=(w,), **kw)
    try:
        got = kscan(schedule=schedule, **kw)(fn)(x, w)
    except ValueError as err:
        assert schedule in ("parallel", "rows") and "would change the result" in str(err)
        got = kscan(schedule="auto", **kw)(fn)(x, w)
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-4, atol=1e-5)


@given(case=bounded_cases(), seed=st.integers(0, 2**31 - 1))
@property_settings(15)
def test_property_gradients_match_the_sequential_model(case, seed):
    geometry, modes, fill = case
    kernel = resolve(geometry["shape"], geometry["kernel_size"])[0]
    x, w = random_array(seed, geometry["shape"], np.float32), random_array(seed + 1, kernel, np.float32)
    fn = kscan_functions(kernel, True, np.float32)[("weighted", "cells", "nonlinear")[seed % 3]]
    kw = dict(geometry, relative=True, boundary=modes, fill_value=fill)
    kw.pop("shape")
    ref = functools.partial(kscan_reference, fns=fn, xp=jnp, **kw)
    out = np.asarray(ref(x, args=(w,)))
    ct = random_array(seed + 2, out.shape, np.float32)

    def grad(f):
        return jax.grad(lambda x, w: jnp.sum(f(x, w) * ct), argnums=(0, 1))(x, w)

    got = grad(kscan(**kw)(fn))
    expected = grad(lambda x, w: ref(x, args=(w,)))
    for g, e in zip(got, expected):
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=1e-4, atol=1e-4)
