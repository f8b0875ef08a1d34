"""Timing, correctness and memory measurement shared by the benchmark suites.

A :class:`Workload` is a set of implementations (:class:`Impl`) of one
computation on the same inputs. :func:`measure` runs them in one process:

1. builds the inputs once;
2. compiles every JAX implementation with ``jax.jit(f).lower(*args).compile()``
   (trace + lower + compile, timed separately from execution, median of a few
   fresh compilations) and reads XLA's own memory accounting
   (``compiled.memory_analysis()``: argument + output + temp bytes);
3. runs every implementation once and checks its result against the
   hand-written one with ``np.testing.assert_allclose`` (tolerance from
   float32 epsilon and the reduction size, :func:`tolerance`). A disagreement
   or a crash aborts the workload: it is printed to stderr, recorded in the
   rows (``agreed=False``, ``error``), and nothing of it is timed;
4. times the implementations interleaved: each round runs every implementation
   once (in a random order drawn every round, seeded), each call followed by
   ``jax.block_until_ready``; rounds continue until a per-workload time budget
   is spent (with a minimum and a maximum number of rounds). An implementation
   whose first call alone takes more than ``budget / min_rounds`` joins only the
   first ``max(3, budget / first call)`` rounds (a 6 s ``lax`` 3-D convolution
   would otherwise stretch the workload to minutes). Median and minimum per
   implementation are reported.

:func:`measure_rss` measures the process peak RSS of one implementation in a
fresh subprocess (``python -m benchmarks.harness rss ...``): the child builds
the inputs and compiles exactly as above, then resets the kernel's RSS
high-water mark (``/proc/self/clear_refs``), records its RSS, makes the single
call, and reports ``VmHWM - RSS before the call``: the peak of the process
minus the same process having done everything but the call. (Without the
reset, input generation, e.g. ``jax.random.normal`` on 256³, peaks higher than
most calls and would hide them.)

What each workload must achieve (:class:`~benchmarks.targets.Target`) and the
pass/fail checks computed from the measurements live in ``targets.py``.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import gc
import importlib
import json
import os
import pathlib
import random
import statistics
import subprocess
import sys
import time
import traceback
from typing import TYPE_CHECKING, Any, Callable, Sequence

import jax
import numpy as np

if TYPE_CHECKING:
    from benchmarks.targets import Target

__all__ = [
    "KMAP",
    "HAND",
    "NATIVE",
    "NUMPY",
    "CELL_SCAN",
    "Impl",
    "Workload",
    "tolerance",
    "measure",
    "measure_rss",
    "cpu_counters",
    "other_cpu_share",
]

KMAP, HAND, NATIVE, NUMPY = "kmap", "hand-written", "native", "numpy/scipy"
CELL_SCAN = "cell scan"  # kscan executed literally, one lax.scan step per window
EPS32 = float(np.finfo(np.float32).eps)
SLOW_SAMPLES = 3
ROOT = pathlib.Path(__file__).resolve().parent.parent


@dataclasses.dataclass(frozen=True)
class Impl:
    """One implementation: ``fn(*inputs)``; NumPy/SciPy ones get NumPy copies of the inputs.

    ``post`` (optional, untimed) converts the output to the reference layout for
    the correctness check, e.g. the channel-major patches of
    ``conv_general_dilated_patches``.
    """

    name: str
    kind: str
    fn: Callable
    post: Callable | None = None

    @property
    def is_jax(self) -> bool:
        return self.kind != NUMPY


@dataclasses.dataclass(frozen=True)
class Workload:
    name: str
    description: str
    inputs: Callable[[], tuple]
    impls: Sequence[Impl]
    terms: int | tuple[int, ...]  # reduction size of each output (for the tolerance)
    target: Target


def tolerance(terms: int, reference: np.ndarray) -> tuple[float, float]:
    """``(rtol, atol)`` for float32 results that sum ``terms`` values.

    Rounding error of a float32 sum grows with the number of terms, so
    ``rtol = clip(eps32 * terms, 1e-5, 1e-3)``; ``atol = rtol * max|reference|``
    covers outputs that cancel to near zero (e.g. a Laplacian).
    """
    rtol = min(max(EPS32 * terms, 1e-5), 1e-3)
    scale = float(np.max(np.abs(reference))) if reference.size else 0.0
    return rtol, rtol * max(scale, 1.0)


def _leaves(tree: Any) -> list[np.ndarray]:
    return [np.asarray(leaf) for leaf in jax.tree_util.tree_leaves(tree)]


def _nbytes(tree: Any) -> int:
    return sum(int(np.asarray(leaf).nbytes) for leaf in jax.tree_util.tree_leaves(tree))


def _block(tree: Any) -> Any:
    return jax.block_until_ready(tree)


def _numpy_inputs(inputs: tuple) -> tuple:
    return tuple(np.array(a) for a in inputs)


def _compile(fn: Callable, inputs: tuple):
    """Trace, lower and compile a fresh ``jax.jit`` wrapper (no cache hit); returns (compiled, seconds)."""
    wrapper = jax.jit(lambda *a: fn(*a))
    start = time.perf_counter()
    compiled = wrapper.lower(*inputs).compile()
    return compiled, time.perf_counter() - start


def _xla_memory(compiled) -> dict:
    stats = compiled.memory_analysis()
    if stats is None:
        return {"xla_argument_bytes": None, "xla_output_bytes": None, "xla_temp_bytes": None, "xla_peak_bytes": None}
    peak = stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes - stats.alias_size_in_bytes
    return {
        "xla_argument_bytes": int(stats.argument_size_in_bytes),
        "xla_output_bytes": int(stats.output_size_in_bytes),
        "xla_temp_bytes": int(stats.temp_size_in_bytes),
        "xla_peak_bytes": int(peak),
    }


def _busy_cpu_s() -> float | None:
    """CPU seconds the whole machine has been busy (all processes), from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_cpu_s() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def cpu_counters() -> tuple[float | None, float]:
    """(machine busy CPU seconds, this process's and its children's CPU seconds)."""
    return _busy_cpu_s(), _own_cpu_s()


def other_cpu_share(start: tuple[float | None, float], wall_s: float) -> float | None:
    """Share of the machine's CPU capacity used by other processes since ``start`` (``cpu_counters()``)."""
    busy = _busy_cpu_s()
    if busy is None or start[0] is None or wall_s <= 0:
        return None
    return max(0.0, (busy - start[0]) - (_own_cpu_s() - start[1])) / (wall_s * (os.cpu_count() or 1))


def _loud(workload: str, message: str) -> None:
    bar = "!" * 78
    print(f"\n{bar}\nBENCHMARK WORKLOAD {workload!r} ABORTED: {message}\n{bar}\n", file=sys.stderr, flush=True)


def _check(workload: Workload, outputs: dict[str, Any], reference_name: str) -> dict[str, float]:
    """Compare every output with the reference; returns max abs error per impl; raises AssertionError."""
    reference = _leaves(outputs[reference_name])
    terms = workload.terms if isinstance(workload.terms, tuple) else (workload.terms,) * len(reference)
    errors = {}
    for name, out in outputs.items():
        leaves = _leaves(out)
        if len(leaves) != len(reference):
            raise AssertionError(f"{name}: {len(leaves)} outputs, reference {reference_name} has {len(reference)}")
        worst = 0.0
        for i, (got, want, n) in enumerate(zip(leaves, reference, terms)):
            rtol, atol = tolerance(n, want)
            np.testing.assert_allclose(
                got, want, rtol=rtol, atol=atol,
                err_msg=f"workload {workload.name}: {name} (output {i}) disagrees with {reference_name}",
            )  # fmt: skip
            if got.size:
                worst = max(worst, float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)))))
        errors[name] = worst
    return errors


def measure(
    workload: Workload,
    *,
    time_budget_s: float,
    min_rounds: int,
    max_rounds: int,
    compile_repeats: int,
) -> list[dict]:
    """Measure one workload; returns one row per implementation (see the module docstring)."""
    rows = {
        impl.name: {"workload": workload.name, "implementation": impl.name, "kind": impl.kind, "agreed": False, "error": None}
        for impl in workload.impls
    }
    started, counters = time.perf_counter(), cpu_counters()
    inputs = _block(workload.inputs())
    np_inputs = _numpy_inputs(inputs)
    input_bytes = _nbytes(inputs)
    calls: dict[str, Callable[[], Any]] = {}
    try:
        for impl in workload.impls:
            row = rows[impl.name]
            if impl.is_jax:
                seconds = []
                for _ in range(compile_repeats):
                    compiled, s = _compile(impl.fn, inputs)
                    seconds.append(s)
                row["compile_ms"] = statistics.median(seconds) * 1e3
                row.update(_xla_memory(compiled))
                calls[impl.name] = lambda c=compiled: c(*inputs)
            else:
                row["compile_ms"] = None
                calls[impl.name] = lambda f=impl.fn: f(*np_inputs)
        outputs, first_s = {}, {}
        for impl in workload.impls:
            start = time.perf_counter()
            out = _block(calls[impl.name]())
            first_s[impl.name] = time.perf_counter() - start
            outputs[impl.name] = jax.tree_util.tree_map(np.asarray, impl.post(out) if impl.post else out)
        reference_name = next(impl.name for impl in workload.impls if impl.kind == HAND)
        errors = _check(workload, outputs, reference_name)
        output_bytes = _nbytes(outputs[reference_name])
        del outputs
    except Exception as exc:  # a crash or a disagreement: abort this workload, loudly
        message = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        _loud(workload.name, message)
        for row in rows.values():
            row["error"] = message
        return list(rows.values())

    samples: dict[str, list[float]] = {name: [] for name in calls}
    # an implementation too slow for min_rounds calls within the budget is sampled
    # in the first max(SLOW_SAMPLES, budget / first call) rounds only
    cap = {
        name: max(SLOW_SAMPLES, int(time_budget_s / s)) if s * min_rounds > time_budget_s else max_rounds
        for name, s in first_s.items()
    }
    # a fresh random order every round: a call right after a slow NumPy one finds cold
    # caches, and a rotated fixed order would always put the same implementation there
    order, shuffle = list(calls), random.Random(0).shuffle
    gc.collect()
    deadline = time.perf_counter() + time_budget_s
    rounds = 0
    while rounds < min_rounds or (rounds < max_rounds and time.perf_counter() < deadline):
        shuffle(order)
        for name in order:
            if len(samples[name]) >= cap[name]:
                continue
            start = time.perf_counter()
            out = _block(calls[name]())
            samples[name].append(time.perf_counter() - start)
            del out
        rounds += 1
    other = other_cpu_share(counters, time.perf_counter() - started)
    for name, row in rows.items():
        row.update(
            agreed=True,
            max_abs_err=errors[name],
            median_ms=statistics.median(samples[name]) * 1e3,
            min_ms=min(samples[name]) * 1e3,
            rounds=rounds,
            samples=len(samples[name]),
            input_bytes=input_bytes,
            output_bytes=output_bytes,
            other_cpu_share=other,
        )
    return list(rows.values())


# ----------------------------------------------------------------------------- peak RSS in a subprocess


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


def _rss_child(module: str, workload_name: str, impl_name: str, quick: bool) -> dict:
    """Runs in the subprocess: everything but the call, reset the peak, then the call."""
    workload = next(w for w in importlib.import_module(module).workloads(quick) if w.name == workload_name)
    impl = next(i for i in workload.impls if i.name == impl_name)
    inputs = _block(workload.inputs())
    if impl.is_jax:
        compiled, _ = _compile(impl.fn, inputs)
        run = lambda: compiled(*inputs)  # noqa: E731
    else:
        np_inputs = _numpy_inputs(inputs)
        run = lambda: impl.fn(*np_inputs)  # noqa: E731
    gc.collect()
    reset = _reset_peak_rss()
    before = _status_kib("VmRSS")
    out = _block(run())
    del out
    peak = _status_kib("VmHWM")
    return {"rss_before_kib": before, "rss_peak_kib": peak, "peak_reset": reset}


def _rss_one(module: str, workload: str, impl: str, quick: bool) -> dict:
    command = [sys.executable, "-m", "benchmarks.harness", "rss", module, workload, impl] + (["--quick"] if quick else [])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        return {"rss_error": (done.stderr.strip().splitlines() or ["no output"])[-1]}
    child = json.loads(done.stdout.strip().splitlines()[-1])
    if child["rss_before_kib"] is None or child["rss_peak_kib"] is None:
        return {"rss_error": "/proc/self/status not readable"}
    return {
        "rss_delta_bytes": (child["rss_peak_kib"] - child["rss_before_kib"]) * 1024,
        "rss_before_bytes": child["rss_before_kib"] * 1024,
        "rss_peak_reset": child["peak_reset"],
    }


def measure_rss(module: str, pairs: Sequence[tuple[str, str]], quick: bool, workers: int = 2) -> dict:
    """``{(workload, impl): rss fields}``, one subprocess per pair, ``workers`` at a time."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pair: pool.submit(_rss_one, module, *pair, quick) for pair in pairs}
        return {pair: future.result() for pair, future in futures.items()}


# ----------------------------------------------------------------------------- targets


def _main(argv: Sequence[str]) -> None:
    if len(argv) >= 4 and argv[0] == "rss":
        module, workload, impl = argv[1:4]
        quick = "--quick" in argv[4:]
        print(json.dumps(_rss_child(module, workload, impl, quick)))
        return
    raise SystemExit("usage: python -m benchmarks.harness rss MODULE WORKLOAD IMPLEMENTATION [--quick]")


if __name__ == "__main__":
    _main(sys.argv[1:])
