"""kscan schedules (``kernex._src.schedule``): which cells a function reads, which plan is chosen,
which explicit requests are refused, and (property tests) that every schedule either raises the
documented ``ValueError`` or reproduces the sequential reference, values and gradients.

The plan is observed through the public API: ``read_offsets`` and ``choose_plan`` are wrapped (not
replaced) in ``kernex._src.kscan`` while a real ``kscan`` call runs.
"""

from __future__ import annotations

import itertools
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reference import (
    by_index,
    geometries,
    indices,
    kscan_reference,
    property_settings,
    random_array,
    resolve,
    seed_laplacian,
)

import kernex
from demo.stencils import linear_convection
from kernex._src import config
from kernex._src.lower import kscan as kscan_module
from kernex._src.lower import plan as schedule
from kernex._src.lower import reads
from kernex._src.window.geometry import resolve_geometry


@pytest.fixture
def planner(monkeypatch):
    """Records ``reads``, ``geometry`` and ``plan`` of the kscan calls made while it is active."""
    record: dict = {}

    def read_offsets(*args, **kwargs):
        record["reads"] = reads.read_offsets(*args, **kwargs)
        return record["reads"]

    def choose_plan(geometry, reads, requested, frame=None):
        record["geometry"] = geometry
        record["plan"] = schedule.choose_plan(geometry, reads, requested, frame)
        return record["plan"]

    monkeypatch.setattr(kscan_module, "read_offsets", read_offsets)
    monkeypatch.setattr(kscan_module, "choose_plan", choose_plan)
    return record


def run(planner, F, x, *args):
    """``F(x, *args)`` and what the planner saw."""
    planner.clear()
    out = F(x, *args)
    return out, planner


def scan(f, schedule="auto", **kw):
    return kernex.kscan(schedule=schedule, **kw)(f)


REL3 = dict(kernel_size=(3, 3), padding="same", relative=True)
REL1 = dict(kernel_size=(3,), padding="same", relative=True)


def gauss_seidel(v):
    return 0.25 * (v[-1, 0] + v[0, -1] + v[1, 0] + v[0, 1])


# ----------------------------------------------------------------------------- read_offsets


def laplacian_5(x):
    return x[1, 0] + x[0, -1] - 4 * x[0, 0] + x[0, 1] + x[-1, 0]


def dead_code(x):
    unused = jnp.sum(jnp.sin(x)) * x[1, 1]  # noqa: F841
    return jnp.tanh(x[0, 1]) + x[1, 0] * x[0, 0]


FIVE = {(0, 1), (1, 0), (1, 1), (1, 2), (2, 1)}  # window cells of the 5-point stencil (centre (1, 1))

READ_CASES = [
    # id, function, kscan kwargs, window cells read (absolute window coordinates)
    ("laplacian-5-point", laplacian_5, REL3, FIVE),
    # conservative: multiplying a cell by 0 still reads it (the product is computed)
    ("seed-laplacian-zero-terms-count", seed_laplacian, REL3, set(np.ndindex(3, 3))),
    ("dead-code-does-not-count", dead_code, REL3, {(1, 2), (2, 1), (1, 1)}),
    ("sum-reads-all", jnp.sum, dict(kernel_size=(3, 3), padding="same"), set(np.ndindex(3, 3))),
    ("mean-1d", jnp.mean, dict(kernel_size=(4,), padding="same"), {(0,), (1,), (2,), (3,)}),
    ("relative-1d", lambda v: jnp.tanh(v[-1]) * v[1], dict(REL1, kernel_size=(3,)), {(0,), (2,)}),
    ("absolute-1d", lambda v: jnp.tanh(v[0]) * v[2], dict(kernel_size=(3,), padding="same"), {(0,), (2,)}),
    ("relative-even-kernel", lambda v: jnp.tanh(v[-1]) * v[2], dict(kernel_size=(4,), relative=True), {(0,), (3,)}),
    ("constant", lambda v: 2.0, dict(kernel_size=(3,), padding="same"), set()),
    ("gauss-seidel", gauss_seidel, REL3, FIVE - {(1, 1)}),
    # a function that returns a cell unchanged, or through cheap elementwise ops, still reads it
    ("copy-a-cell", lambda v: v[-1], REL1, {(0,)}),
    ("cheap-op-of-a-cell", lambda v: v[-1] * 0.5 + 1.0, REL1, {(0,)}),
    ("named-one-cell", lambda u: u["i", "n-1"], dict(REL3, named_axis={0: "n", 1: "i"}), {(0, 1)}),
    ("named-two-cells", lambda u: u["i", "n-1"] - 0.5 * u["i-1", "n-1"], dict(REL3, named_axis={0: "n", 1: "i"}),
     {(0, 1), (0, 0)}),
]


@pytest.mark.parametrize("f, kw, expected", [c[1:] for c in READ_CASES], ids=[c[0] for c in READ_CASES])
def test_read_offsets(planner, f, kw, expected):
    """The cells read, and the kscan result with the plan chosen from them."""
    x = random_array(0, (5,) * len(kw["kernel_size"]), np.float32)
    out, seen = run(planner, scan(f, **kw), x)
    reference = kscan_reference(x, f, **kw)
    problems = []
    if seen["reads"] != expected:
        problems.append(f"reads {sorted(seen['reads'])}, expected {sorted(expected)} (plan {seen['plan'].name!r})")
    if not np.allclose(np.asarray(out), reference, rtol=1e-6, atol=1e-6):
        problems.append(f"kscan gave {np.asarray(out).tolist()}, the reference {reference.tolist()}")
    assert not problems, problems


def test_function_by_index_unions_the_reads(planner):
    kw = dict(kernel_size=(5,), padding="same", relative=True)
    assignments = [(slice(None, 3), lambda v: jnp.tanh(v[-2])), (slice(3, None), lambda v: jnp.tanh(v[1]))]
    F = by_index(kernex.kscan, assignments, **kw)
    x = random_array(1, (8,), np.float32)
    out, seen = run(planner, F, x)
    assert seen["reads"] == {(0,), (3,)}
    assert seen["plan"].name == "sequential"  # v[-2] of the first function reads an earlier write
    expected = kscan_reference(x, assignments, **kw)
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-6)


def test_read_offsets_directly():
    """``read_offsets`` on traced jaxprs (the unit under the fixture above)."""
    geometry = resolve_geometry((6, 6), (3, 3), 1, "same")
    jaxprs = [jax.make_jaxpr(f)(jnp.zeros((3, 3))) for f in (lambda p: p[0, 0] * p[2, 2], lambda p: jnp.exp(p[1, 2]))]
    assert reads.read_offsets(jaxprs, geometry, False, jnp.float32) == {(0, 0), (2, 2), (1, 2)}


# ----------------------------------------------------------------------------- choose_plan


def test_seed_linear_convection_runs_by_rows(planner):
    linear_convection(4, 9, 1.5, 2.0, 0.25)
    assert planner["plan"].name == "rows"
    assert planner["reads"] == {(0, 0), (0, 1)}  # u['i-1', 'n-1'], u['i', 'n-1']


def test_reading_only_later_cells_runs_in_parallel(planner):
    f = lambda v: jnp.tanh(v[1, 0]) + v[0, 1] * v[1, 1] - v[1, -1]  # noqa: E731
    x = random_array(2, (6, 5), np.float32)
    out, seen = run(planner, scan(f, **REL3), x)
    assert seen["plan"].name == "parallel"
    np.testing.assert_allclose(np.asarray(out), kscan_reference(x, f, **REL3), rtol=1e-6)


class _Accelerator:
    """Stands for the ``jax`` module inside ``schedule`` with an accelerator as the default backend."""

    def __getattr__(self, name):
        return getattr(jax, name)

    @staticmethod
    def default_backend():
        return "gpu"


@pytest.fixture(params=["this-backend", "accelerator"])
def backend(request, monkeypatch):
    """'auto' only weighs a wavefront against a block schedule off CPU: run the plan tests both ways."""
    if request.param == "accelerator":
        monkeypatch.setattr(schedule, "jax", _Accelerator())
    return schedule.jax.default_backend()


def _wavefront_chosen(backend, out_shape, pi):
    """The documented 'auto' rule for a function whose first valid block schedule is 'sequential' or
    more than one leading axis: never on CPU; elsewhere iff ``config.WAVEFRONT_ADVANTAGE`` times fewer steps."""
    wave_steps = sum(abs(p) * (n - 1) for p, n in zip(pi, out_shape)) + 1
    block_steps = math.prod(out_shape)
    return backend != "cpu" and config.WAVEFRONT_ADVANTAGE * wave_steps < block_steps


@pytest.mark.parametrize("n", [4, 7, 8, 16])
def test_gauss_seidel_plan_follows_the_documented_rule(planner, backend, n):
    """Gauss-Seidel reads (-1, 0) and (0, -1) (earlier writes) and (1, 0), (0, 1) (later cells): of the
    block schedules only 'sequential' is exact; the hyperplanes i + j are. Off CPU 'auto' takes the
    wavefront iff ``config.WAVEFRONT_ADVANTAGE * (2n - 1) < n * n`` (with the factor 4: from n = 8 on)."""
    x = random_array(3, (n, n), np.float32)
    out, seen = run(planner, scan(gauss_seidel, **REL3), x)
    plan = seen["plan"]
    expect_wave = _wavefront_chosen(backend, (n, n), (1, 1))
    assert plan.name == ("wavefront" if expect_wave else "sequential")
    if backend != "cpu" and config.WAVEFRONT_ADVANTAGE == 4:
        assert expect_wave == (n >= 8)  # the rule evaluated by hand: 4 * (2n - 1) < n^2
    if expect_wave:
        assert plan.pi == (1, 1)
    np.testing.assert_allclose(np.asarray(out), kscan_reference(x, gauss_seidel, **REL3), rtol=1e-5, atol=1e-6)
    forced = scan(gauss_seidel, schedule="wavefront", **REL3)(x)
    np.testing.assert_allclose(np.asarray(forced), np.asarray(out), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n", [5, 12])
def test_window_sum_plan(planner, backend, n):
    """``jnp.sum`` over a 3x3 'same' window reads earlier writes on its own row: 'sequential', unless
    (off CPU) a wavefront beats it by the documented factor; never on a 5x5 grid."""
    x = random_array(4, (n, n), np.float32) * 0.1
    kw = dict(kernel_size=(3, 3), padding="same")
    out, seen = run(planner, scan(jnp.sum, **kw), x)
    plan = seen["plan"]
    pi = schedule.wavefront(seen["geometry"], seen["reads"])
    assert _valid_order(seen["geometry"], seen["reads"], pi)
    assert plan.name == ("wavefront" if _wavefront_chosen(backend, (n, n), pi) else "sequential")
    if n == 5:
        assert plan.name == "sequential"
    np.testing.assert_allclose(np.asarray(out), kscan_reference(x, jnp.sum, **kw), rtol=1e-5, atol=1e-6)


def test_partial_block_schedule_in_3d(planner, backend):
    """A 3-D function reading the previous cell of axis 1: scan over the first 2 axes, axis 2 at once
    (the wavefront (0, 1, 0) needs 3 steps instead of 6: not the documented factor 4 better)."""
    f = lambda v: 0.5 * jnp.tanh(v[0, -1, 0]) + v[0, 0, 0]  # noqa: E731
    kw = dict(kernel_size=(1, 3, 1), padding=(0, "same", 0), relative=True)
    x = random_array(5, (2, 3, 4), np.float32)
    out, seen = run(planner, scan(f, **kw), x)
    assert seen["plan"].kind == "block" and seen["plan"].lead == 2
    assert seen["plan"].name == "scan over the first 2 axes"
    np.testing.assert_allclose(np.asarray(out), kscan_reference(x, f, **kw), rtol=1e-6)


def test_previous_cell_of_the_last_axis_in_3d(planner, backend):
    """Reading the previous cell of the last axis leaves 'sequential' (24 steps) as the only block
    schedule; the wavefront (0, 0, 1) takes 4 steps, and 4 * 4 < 24: taken off CPU."""
    f = lambda v: 0.5 * jnp.tanh(v[0, 0, -1]) + v[0, 0, 0]  # noqa: E731
    kw = dict(kernel_size=(1, 1, 3), padding=(0, 0, "same"), relative=True)
    x = random_array(5, (2, 3, 4), np.float32)
    out, seen = run(planner, scan(f, **kw), x)
    assert schedule.block_conflict(seen["geometry"], seen["reads"], 2) == (0, 0, -1)
    if _wavefront_chosen(backend, (2, 3, 4), (0, 0, 1)):
        assert seen["plan"].name == "wavefront" and seen["plan"].pi == (0, 0, 1)
    else:
        assert seen["plan"].name == "sequential"
    np.testing.assert_allclose(np.asarray(out), kscan_reference(x, f, **kw), rtol=1e-6)


def test_block_conflict_and_plan_names():
    g = resolve_geometry((6, 6), (3, 3), 1, "same")
    gs_reads = FIVE - {(1, 1)}
    assert schedule.block_conflict(g, gs_reads, 2) is None
    assert schedule.block_conflict(g, gs_reads, 1) == (0, -1)
    assert schedule.block_conflict(g, gs_reads, 0) in {(0, -1), (-1, 0)}
    assert schedule.block_conflict(g, {(0, 1)}, 1) is None  # (-1, 0): previous row, fine for 'rows'
    assert schedule.block_conflict(g, {(2, 2)}, 0) is None  # a later cell only
    assert schedule.block_conflict(g, {(1, 1)}, 0) is None  # the anchor itself
    # strides: a read that is not on the anchor lattice never conflicts
    gs = resolve_geometry((6, 6), (3, 3), 2, "same")
    assert schedule.block_conflict(gs, {(1, 0)}, 0) is None
    assert [schedule.Plan("block", 3, m).name for m in range(4)] == [
        "parallel", "rows", "scan over the first 2 axes", "sequential"]
    assert schedule.Plan("wavefront", 2, pi=(1, 1)).name == "wavefront"


def _valid_order(geometry, reads, pi):
    """Brute force: every write a window must see is on an earlier hyperplane, every write it must not
    see is on the same or a later one (independent of ``schedule._position_steps``)."""
    positions = list(np.ndindex(*geometry.out_shape))
    g = geometry
    anchor = {tuple(o + p * s + c for o, p, s, c in zip(g.origin, pos, g.strides, g.center)): pos for pos in positions}
    for pos in positions:
        start = [o + p * s for o, p, s in zip(geometry.origin, pos, geometry.strides)]
        for j in reads:
            other = anchor.get(tuple(st + jj for st, jj in zip(start, j)))
            if other is None or other == pos:
                continue
            level, other_level = np.dot(pi, pos), np.dot(pi, other)
            if other < pos and not other_level < level:
                return False
            if other > pos and not other_level >= level:
                return False
    return True


# ----------------------------------------------------------------------------- explicit requests


def _offset_in(message):
    found = re.search(r"offset \(([-\d, ]+)\)", message)
    assert found, message
    return tuple(int(t) for t in found.group(1).split(",") if t.strip())


@pytest.mark.parametrize(
    "requested, allowed",
    [("parallel", {(-1, 0), (0, -1)}), ("rows", {(0, -1)})],
)
def test_refused_requests_name_the_schedule_and_the_offset(requested, allowed):
    x = random_array(6, (6, 6), np.float32)
    with pytest.raises(ValueError, match=f"schedule='{requested}'") as info:
        scan(gauss_seidel, schedule=requested, **REL3)(x)
    assert _offset_in(str(info.value)) in allowed


def test_wavefront_beyond_the_searched_normals_uses_the_lexicographic_one(planner):
    """(0, -1) needs pi_1 >= 1 and (-1, +3) needs pi_0 >= 3 pi_1 + 1 >= 4: outside [-2, 2]; the
    lexicographic normal (1 + 1 * 3, 1) = (4, 1) is exact, so schedule='wavefront' runs."""
    f = lambda v: jnp.tanh(v[0, -1]) + jnp.tanh(v[-1, 3])  # noqa: E731
    kw = dict(kernel_size=(3, 7), padding="same", relative=True)
    x = random_array(7, (5, 8), np.float32) * 0.1
    got = scan(f, schedule="wavefront", **kw)(x)
    assert planner["plan"].pi == (4, 1)
    expected = kscan_reference(x, f, **kw)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(scan(f, **kw)(x)), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bad", ["fast", "Parallel", None, 1, "block"])
def test_invalid_schedule_value(bad):
    with pytest.raises(ValueError, match="schedule"):
        kernex.kscan(kernel_size=3, schedule=bad)


def test_accepted_explicit_requests():
    """Requests that keep the result run and agree: rows for an explicit time step, parallel for later cells."""
    x = random_array(8, (6, 5), np.float32)
    step = lambda v: v[-1, 0] * 0.5 + jnp.tanh(v[-1, 1])  # noqa: E731
    expected = kscan_reference(x, step, **REL3)
    for requested in ["rows", "sequential", "auto", "wavefront"]:
        np.testing.assert_allclose(np.asarray(scan(step, schedule=requested, **REL3)(x)), expected, rtol=1e-6)


# ----------------------------------------------------------------------------- property tests


def _cell(draw, kernel, relative):
    if relative:
        return tuple(draw(st.integers(-((k - 1) // 2), k - 1 - (k - 1) // 2)) for k in kernel)
    return tuple(draw(st.integers(0, k - 1)) for k in kernel)


class SparseFunction:
    """``a * sum(c_i * g(v[cell_i])) + 0.1`` (floats) or ``(sum(c_i * v[cell_i]) + 1) % 7 - 3`` (ints),
    with a readable repr for hypothesis' reports."""

    def __init__(self, cells, coefs, form, integer):
        self.cells, self.coefs, self.form, self.integer = cells, coefs, form, integer

    def __call__(self, v, a):
        if self.integer:
            total = sum((c * v[cell] for c, cell in zip(self.coefs, self.cells)), jnp.int32(0))
            return (total + 1) % 7 - 3 + a * 0
        terms = [c * FORMS[self.form](v[cell]) for c, cell in zip(self.coefs, self.cells)]
        return a * sum(terms, jnp.float32(0.0)) + 0.1

    def __repr__(self):
        terms = " + ".join(f"{c}*{self.form}(v[{cell}])" for c, cell in zip(self.coefs, self.cells)) or "0"
        return f"(({terms}) + 1) % 7 - 3" if self.integer else f"a * ({terms}) + 0.1"


@st.composite
def sparse_function(draw, kernel, relative, dtype, forms, cells=(0, 4)):
    """A :class:`SparseFunction` of a random subset of window cells."""
    chosen = [_cell(draw, kernel, relative) for _ in range(draw(st.integers(*cells)))]
    if np.dtype(dtype).kind == "i":
        return SparseFunction(chosen, [draw(st.sampled_from([-2, -1, 1, 2, 3])) for _ in chosen], "id", True)
    coefs = [draw(st.sampled_from([-1.0, -0.5, 0.5, 1.0])) for _ in chosen]
    return SparseFunction(chosen, coefs, draw(st.sampled_from(forms)), False)


FORMS = {"tanh": jnp.tanh, "sin": jnp.sin, "scaled": lambda t: 0.5 * t, "copy": lambda t: t, "id": lambda t: t}


@st.composite
def scan_problems(draw, dtypes=(np.float32, np.int32), forms=("tanh", "sin"), cells=(0, 4)):
    case = draw(st.one_of(geometries(max_stride=1), geometries()))  # unit strides: more conflicts
    kernel = resolve(case["shape"], case["kernel_size"], case["strides"], case["padding"])[0]
    relative = draw(st.booleans())
    dtype = draw(st.sampled_from(dtypes))
    kw = dict(kernel_size=case["kernel_size"], strides=case["strides"], padding=case["padding"], relative=relative)
    if draw(st.booleans()):
        fns = draw(sparse_function(kernel, relative, dtype, forms, cells))
    else:
        fns = [(draw(indices(case["shape"])), draw(sparse_function(kernel, relative, dtype, forms, cells)))
               for _ in range(draw(st.integers(1, 3)))]
    return case["shape"], dtype, kw, fns


def _build(fns, schedule_name, kw):
    if callable(fns):
        return kernex.kscan(schedule=schedule_name, **kw)(fns)
    return by_index(kernex.kscan, fns, schedule=schedule_name, **kw)


def _compare(got, expected):
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape and got.dtype == expected.dtype, (got.shape, got.dtype, expected.dtype)
    if np.issubdtype(expected.dtype, np.floating):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    else:
        np.testing.assert_array_equal(got, expected)


def _every_schedule(shape, dtype, kw, fns, seed, gradients):
    x = random_array(seed, shape, dtype)
    a = jnp.float32(0.8) if np.dtype(dtype).kind == "f" else jnp.int32(1)
    expected = kscan_reference(x, fns, args=(a,), **kw)
    if gradients:
        ct = random_array(seed + 1, expected.shape, np.float32)
        ref_loss = lambda x, a: jnp.sum(kscan_reference(x, fns, args=(a,), xp=jnp, **kw) * ct)  # noqa: E731
        expected_grads = jax.jit(jax.grad(ref_loss, argnums=(0, 1)))(x, a)
    for name in schedule.SCHEDULES:
        F = _build(fns, name, kw)
        try:
            got = F(x, a)
        except ValueError as error:
            assert name in ("parallel", "rows"), f"{name!r} must always run: {error}"
            assert f"schedule={name!r}" in str(error) and "would change the result" in str(error)
            continue
        _compare(got, expected)
        if gradients:
            loss = lambda x, a: jnp.sum(F(x, a) * ct)  # noqa: E731
            for g, e in zip(jax.jit(jax.grad(loss, argnums=(0, 1)))(x, a), expected_grads):
                np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=1e-5, atol=1e-5)


@given(problem=scan_problems(), seed=st.integers(0, 2**31 - 1))
@property_settings(60)
def test_property_every_schedule_is_exact_or_refused(problem, seed):
    _every_schedule(*problem, seed, gradients=False)


@given(problem=scan_problems(dtypes=(np.float32,)), seed=st.integers(0, 2**31 - 1))
@property_settings(20)
def test_property_every_schedule_is_exact_or_refused_with_gradients(problem, seed):
    _every_schedule(*problem, seed, gradients=True)


@given(
    problem=scan_problems(dtypes=(np.float32,), forms=("scaled", "copy"), cells=(1, 2)),
    seed=st.integers(0, 2**31 - 1),
)
@property_settings(40)
def test_property_cheap_and_structural_functions(problem, seed):
    """The same with functions whose cells reach the output through cheap ops or unchanged (lazy values)."""
    _every_schedule(*problem, seed, gradients=False)


@given(case=geometries(), relative=st.booleans(), data=st.data())
@property_settings(40)
def test_property_chosen_wavefront_orders_are_valid(case, relative, data):
    """``wavefront`` always returns a normal that the brute-force check accepts, and 'auto' never raises."""
    geometry = resolve_geometry(case["shape"], case["kernel_size"], case["strides"], case["padding"])
    cells = list(itertools.product(*map(range, geometry.kernel)))
    reads = set(data.draw(st.lists(st.sampled_from(cells), max_size=5)))
    assert _valid_order(geometry, reads, schedule.wavefront(geometry, reads))
    lead = next(m for m in range(geometry.ndim + 1) if schedule.block_conflict(geometry, reads, m) is None)
    with pytest.MonkeyPatch.context() as mp:
        for name in ["this-backend", "accelerator"]:
            if name == "accelerator":
                mp.setattr(schedule, "jax", _Accelerator())
            plan = schedule.choose_plan(geometry, reads, "auto")  # never raises
            if plan.kind == "block":
                assert plan.lead == lead  # the first exact block schedule
            else:
                assert lead > 1 and _valid_order(geometry, reads, plan.pi)
                assert _wavefront_chosen(schedule.jax.default_backend(), geometry.out_shape, plan.pi)
    assert schedule.choose_plan(geometry, reads, "sequential").name == "sequential"
