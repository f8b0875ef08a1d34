"""The benchmark suites in quick mode: every workload runs, every implementation agrees,
every number is sane, the tables show every row. No timing assertions."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import harness, suite_kmap, suite_kscan, suite_treeclass
from benchmarks.harness import HAND, KMAP, NATIVE, NUMPY, Impl, Workload
from benchmarks.targets import Target, evaluate_targets


@pytest.fixture(scope="module")
def kmap_result():
    return suite_kmap.run(quick=True)


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_kmap_suite_covers_every_workload_and_implementation(kmap_result):
    expected = {(w.name, i.name) for w in suite_kmap.workloads(quick=True) for i in w.impls}
    got = [(r["workload"], r["implementation"]) for r in kmap_result["rows"]]
    assert sorted(got) == sorted(expected)
    names = {w.name for w in suite_kmap.workloads(quick=True)}
    # the workload list
    for needle in ["conv2d seed C=3", "conv2d grad", "conv2d C=16", "patches", "Laplacian 2-D valid",
                   "Laplacian 2-D grad", "moving average", "max-pool", "blur 25×25", "function by index",
                   "function by index grad", "7-point 3-D", "Sobel magnitude symmetric", "Laplacian 2-D wrap",
                   "diffusion 2-D by index", "diffusion 1-D by index", "CFD 3 diffusion 1-D by index",
                   "CFD 5 linear convection 2-D by index", "CFD 7 diffusion 2-D by index", "CFD 8 Burgers 2-D by index",
                   "Burgers 2-D fields {u, v}", "Burgers 2-D fields grad", "Poisson Jacobi 2-D fields {p, b}",
                   "Poisson Jacobi 2-D fields grad", "conv 3×3 dilation 2"]:  # fmt: skip
        assert any(needle in n for n in names), needle
    for workload in suite_kmap.workloads(quick=True):
        kinds = {i.kind for i in workload.impls}
        assert {KMAP, HAND} <= kinds and NATIVE in kinds, workload.name


def test_kmap_suite_every_implementation_agreed_and_numbers_are_sane(kmap_result):
    for row in kmap_result["rows"]:
        where = (row["workload"], row["implementation"])
        assert row["agreed"] is True and row["error"] is None, where
        assert _positive(row["median_ms"]) and _positive(row["min_ms"]), where
        assert row["min_ms"] <= row["median_ms"], where
        assert row["samples"] >= 3 and math.isfinite(row["max_abs_err"]), where
        assert _positive(row["input_bytes"]) and _positive(row["output_bytes"]), where
        if row["kind"] == NUMPY:
            assert row["compile_ms"] is None, where
        else:
            assert _positive(row["compile_ms"]), where
            # XLA's accounting: every input is read (a computation that reads none was folded
            # to a constant at compile time), the outputs (plus a pointer table for a tuple
            # of outputs), temporaries
            assert row["xla_argument_bytes"] == row["input_bytes"], where
            assert 0 <= row["xla_output_bytes"] - row["output_bytes"] <= 64, where
            assert row["xla_temp_bytes"] >= 0, where
            assert row["xla_peak_bytes"] == row["xla_argument_bytes"] + row["xla_output_bytes"] + row["xla_temp_bytes"], where
    # quick mode measures the peak RSS of the first kmap call only (a subprocess each)
    first = next(row for row in kmap_result["rows"] if row["kind"] == KMAP)
    assert "rss_error" not in first, first["rss_error"]
    assert first["rss_delta_bytes"] >= 0 and _positive(first["rss_before_bytes"]), first["workload"]
    assert sum("rss_delta_bytes" in row for row in kmap_result["rows"]) == 1


def test_kmap_suite_targets_are_computed_from_the_measurements(kmap_result):
    rows = kmap_result["rows"]
    for row in rows:
        if row["kind"] != KMAP:
            assert row["target"] is None and row["met"] is None
            continue
        fastest_hand = min(r["median_ms"] for r in rows if r["workload"] == row["workload"] and r["kind"] == HAND)
        assert row["ratio_vs_hand"] == pytest.approx(row["median_ms"] / fastest_hand)
        assert row["target"] and row["checks"]
        for check in row["checks"]:
            assert math.isfinite(check["measured"]) and check["measured"] > 0
            assert check["met"] == (check["measured"] <= check["limit"])
        assert row["met"] == all(c["met"] for c in row["checks"])
        criteria = " ".join(c["criterion"] for c in row["checks"])
        assert "time /" in criteria and "compile / hand-written" in criteria


def test_kmap_suite_markdown_has_every_row(kmap_result):
    markdown = kmap_result["markdown"]
    assert kmap_result["title"] in markdown
    for row in kmap_result["rows"]:
        assert f"| {row['workload']} | {row['implementation']} | {row['kind']} |" in markdown
        if row["kind"] == KMAP:
            for check in row["checks"]:
                assert f"| {row['workload']} | {check['criterion']} |" in markdown


def _tiny_workload(impls) -> Workload:
    return Workload("tiny", "x + 1", lambda: (jnp.arange(8.0),), impls, 1, Target("≤1.3× hand-written", 1.3))


def test_harness_aborts_a_workload_on_disagreement_or_crash(capsys):
    settings = {"time_budget_s": 0.0, "min_rounds": 3, "max_rounds": 3, "compile_repeats": 1}
    good = [Impl("hand", HAND, lambda x: x + 1), Impl("np", NUMPY, lambda x: x + 1)]
    rows = harness.measure(_tiny_workload(good + [Impl("kmap", KMAP, lambda x: x + 1)]), **settings)
    assert all(r["agreed"] and r["samples"] == 3 for r in rows)

    rows = harness.measure(_tiny_workload(good + [Impl("kmap", KMAP, lambda x: x + 1.01)]), **settings)
    assert all(not r["agreed"] and "kmap" in r["error"] and "median_ms" not in r for r in rows)
    assert "ABORTED" in capsys.readouterr().err

    rows = harness.measure(_tiny_workload(good + [Impl("kmap", KMAP, lambda x: x.reshape(3, -1))]), **settings)
    assert all(not r["agreed"] and r["error"] for r in rows)


def test_tolerance_grows_with_the_reduction_size():
    ref = np.array([-2.0, 1.0])
    assert harness.tolerance(1, ref) == (1e-5, 2e-5)
    assert harness.tolerance(625, ref)[0] == pytest.approx(625 * harness.EPS32)
    assert harness.tolerance(10**7, ref)[0] == 1e-3


def test_evaluate_targets_compares_kmap_with_the_faster_baseline():
    def row(kind, name, median, compile_ms=10.0):
        return {"kind": kind, "implementation": name, "median_ms": median, "compile_ms": compile_ms,
                "input_bytes": 100, "output_bytes": 100, "xla_peak_bytes": 500}  # fmt: skip

    rows = [row(KMAP, "k", 3.0, 25.0), row(HAND, "h", 2.0), row(NATIVE, "n", 1.5), row(NUMPY, "s", 6.0, None)]
    target = Target("grad", 1.5, baseline=(HAND, NATIVE), compile_s=1.0, memory_ratio=2.0)
    summary = evaluate_targets(target, rows)
    assert summary["ratio_vs_hand"] == 1.5 and summary["ratio_vs_native"] == 2.0 and summary["ratio_vs_numpy"] == 0.5
    checks = {c["criterion"]: c for c in summary["checks"]}
    assert checks["time / n"]["measured"] == 2.0 and not checks["time / n"]["met"]
    assert checks["compile / hand-written"]["measured"] == 2.5 and not checks["compile / hand-written"]["met"]
    assert checks["compile"]["measured"] == 0.025 and checks["compile"]["met"]
    assert checks["XLA peak / (in + out)"]["measured"] == 2.5 and not checks["XLA peak / (in + out)"]["met"]
    assert summary["met"] is False


def test_treeclass_suite_quick():
    result = suite_treeclass.run(quick=True)
    assert result["rows"]
    ops = {r["op"] for r in result["rows"]}
    assert ops == {"tree_flatten", "tree_unflatten"}
    assert {"kernex.treeclass", "dict of arrays"} <= {r["variant"] for r in result["rows"]}
    for row in result["rows"]:
        assert _positive(row["median_us"]) and _positive(row["min_us"]) and row["min_us"] <= row["median_us"]
        assert row["ratio_vs_equinox"] is None or _positive(row["ratio_vs_equinox"])
        assert f"| {row['op']} | {row['variant']} |" in result["markdown"]


def test_kscan_suite_quick():
    """Issue 4 workloads: every implementation agrees with the hand-written scan and the targets are computed."""
    result = suite_kscan.run(quick=True)
    expected = {(w.name, i.name) for w in suite_kscan.workloads(quick=True) for i in w.impls}
    assert sorted((r["workload"], r["implementation"]) for r in result["rows"]) == sorted(expected)
    names = " ".join(w.name for w in suite_kscan.workloads(quick=True))
    assert "linear convection" in names and "periodic linear convection" in names and "Gauss-Seidel" in names
    for row in result["rows"]:
        where = (row["workload"], row["implementation"])
        assert row["agreed"] is True and row["error"] is None, where
        assert _positive(row["median_ms"]) and row["min_ms"] <= row["median_ms"], where
        if row["kind"] == KMAP:
            criteria = {c["criterion"]: c for c in row["checks"]}
            assert criteria["compile"]["unit"] == "s" and criteria["compile"]["limit"] == 2.0, where
            assert row["met"] == all(c["met"] for c in row["checks"]), where
            assert f"| {row['workload']} | {row['implementation']} | {row['kind']} |" in result["markdown"]


def test_kscan_periodic_convection_is_the_periodic_upwind_scheme_on_rows():
    """The bench row's kscan spelling is u[n, j] = u[n-1, j] - c*(u[n-1, j] - u[n-1, j-1 mod nx]), and 'auto' runs
    it as 'rows' (the same program as asking for 'rows'; 'parallel' is refused: each row reads the previous one)."""
    nt, nx, c = 6, 7, suite_kscan.COURANT
    x = np.zeros((nt, nx), np.float32)
    x[0] = np.random.default_rng(0).uniform(1, 2, nx)
    want = x.copy()
    for n in range(1, nt):
        for j in range(nx):
            want[n, j] = want[n - 1, j] - c * (want[n - 1, j] - want[n - 1, (j - 1) % nx])
    auto = suite_kscan.periodic_convection_kernel()
    np.testing.assert_allclose(np.asarray(auto(jnp.asarray(x))), want, rtol=1e-6)
    rows = suite_kscan.periodic_convection_kernel("rows")
    assert str(jax.make_jaxpr(auto)(x)) == str(jax.make_jaxpr(rows)(x))
    with pytest.raises(ValueError, match="parallel"):
        suite_kscan.periodic_convection_kernel("parallel")(x)


GRADIENT_WORKLOADS = [w for w in suite_kmap.workloads(quick=True) if w.target is suite_kmap.GRAD]


def test_every_gradient_workload_is_checked():
    names = {w.name for w in GRADIENT_WORKLOADS}
    assert names == {"conv2d grad (x, w)", "Laplacian 2-D grad", "function by index grad",
                     "Burgers 2-D fields grad", "Poisson Jacobi 2-D fields grad"}  # fmt: skip
    assert all(w.impls[0].kind == KMAP for w in GRADIENT_WORKLOADS)


def _perturbed(inputs: tuple, k: int) -> tuple:
    """``inputs`` with argument ``k`` moved by a random amount (the others unchanged)."""
    noise = jax.random.normal(jax.random.PRNGKey(100 + k), inputs[k].shape, inputs[k].dtype)
    return inputs[:k] + (inputs[k] + 0.5 * noise,) + inputs[k + 1 :]


@pytest.mark.parametrize("workload", GRADIENT_WORKLOADS, ids=lambda w: w.name)
def test_gradient_workloads_depend_on_every_input_and_agree(workload):
    """A gradient that does not change with the input is a constant XLA folds at compile time (nothing is
    timed); every gradient leaf must move when any one input moves, and every implementation's gradient
    must equal the hand-written one at every input."""
    hand = next(i for i in workload.impls if i.kind == HAND)
    compiled = {i.name: jax.jit(i.fn) for i in workload.impls}
    base = workload.inputs()
    points = [base] + [_perturbed(base, k) for k in range(len(base))]
    grads = [{name: [np.asarray(g) for g in jax.tree_util.tree_leaves(f(*x))] for name, f in compiled.items()} for x in points]
    terms = workload.terms if isinstance(workload.terms, tuple) else (workload.terms,) * len(grads[0][hand.name])
    for at, by_impl in enumerate(grads):
        reference = by_impl[hand.name]
        for name, leaves in by_impl.items():
            for leaf, want, n in zip(leaves, reference, terms, strict=True):
                rtol, atol = harness.tolerance(n, want)
                np.testing.assert_allclose(leaf, want, rtol=rtol, atol=atol, err_msg=f"{name} vs {hand.name}, input {at}")
    for k, moved in enumerate(grads[1:]):
        for name in compiled:
            for i, (before, after, n) in enumerate(zip(grads[0][name], moved[name], terms, strict=True)):
                rtol, atol = harness.tolerance(n, before)
                assert not np.allclose(before, after, rtol=rtol, atol=atol), (
                    f"{workload.name}: {name}'s gradient {i} does not change with input {k}: a constant"
                )
