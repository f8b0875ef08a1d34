"""Running a suite of workloads and writing its markdown tables (shared by the ``suite_*`` modules)."""

from __future__ import annotations

import sys

import jax
import numpy as np
import scipy

from benchmarks import harness
from benchmarks.harness import HAND, KMAP, Workload
from benchmarks.targets import Target, evaluate_targets

__all__ = ["run_suite"]



def _fmt(value, spec: str = ".2f", none: str = "—") -> str:
    return none if value is None else format(value, spec)


def _mib(value) -> str:
    return _fmt(None if value is None else value / 2**20, ".1f")


def _target_text(target: Target) -> str:
    parts = [target.label]
    if target.compile_ratio is not None:
        parts.append(f"compile ≤{target.compile_ratio:g}× hand-written")
    if target.memory_ratio is not None:
        parts.append(f"XLA peak ≤{target.memory_ratio:g}× (in+out)")
    return "; ".join(parts)


def _met_text(summary: dict) -> str:
    missed = [f"{c['criterion']} {_fmt(c['measured'])}{c['unit']} > {c['limit']:g}{c['unit']}" for c in summary["checks"] if not c["met"]]
    return "yes" if not missed else "**no**: " + ", ".join(missed)


def _markdown(label: str, title: str, rows: list[dict], summaries: dict, settings: dict, quick: bool) -> str:
    lines = [
        f"### {title}",
        "",
        f"{'quick (tiny sizes)' if quick else 'full sizes'}; per workload: {settings['compile_repeats']} fresh compilations "
        f"(median), then interleaved rounds for ≥{settings['time_budget_s']:g} s (≥{settings['min_rounds']}, "
        f"≤{settings['max_rounds']} rounds); jax {jax.__version__}, numpy {np.__version__}, scipy {scipy.__version__}.",
        "",
        f"#### Summary ({label} vs the others, medians)",
        "",
        f"| workload | {label} median (ms) | × hand-written | × best native | × NumPy/SciPy | compile × hand | XLA peak / (in+out) | target | met |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    by_workload: dict[str, list[dict]] = {}
    for row in rows:
        by_workload.setdefault(row["workload"], []).append(row)
    for name, group in by_workload.items():
        kmap = next(r for r in group if r["kind"] == KMAP)
        hand = next(r for r in group if r["kind"] == HAND)
        if kmap["error"]:
            lines.append(f"| {name} | ABORTED: {kmap['error'].splitlines()[0][:120]} | | | | | | {kmap['target']} | **no** |")
            continue
        s = summaries[name]
        native = f"{_fmt(s['ratio_vs_native'])} ({s['baseline_vs_native']})" if s["baseline_vs_native"] else "—"
        numpy = f"{_fmt(s['ratio_vs_numpy'])} ({s['baseline_vs_numpy']})" if s["baseline_vs_numpy"] else "—"
        compile_hand = kmap["compile_ms"] / hand["compile_ms"] if kmap.get("compile_ms") and hand.get("compile_ms") else None
        memory = next((c for c in s["checks"] if c["criterion"].startswith("XLA")), None)
        io = (kmap["input_bytes"] or 0) + (kmap["output_bytes"] or 0)
        peak = memory["measured"] if memory else (kmap["xla_peak_bytes"] / io if kmap.get("xla_peak_bytes") and io else None)
        lines.append(
            f"| {name} | {_fmt(kmap['median_ms'], '.3f')} | {_fmt(s['ratio_vs_hand'])} | {native} | {numpy} | "
            f"{_fmt(compile_hand)} | {_fmt(peak)} | {kmap['target']} | {kmap['met_text']} |"
        )
    lines += [
        "",
        "#### All implementations",
        "",
        "| workload | implementation | kind | median (ms) | min (ms) | × hand-written | compile (ms) | XLA temp (MiB) | XLA peak (MiB) | RSS Δ of the call (MiB) | samples | max abs err |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, group in by_workload.items():
        hand = next(r for r in group if r["kind"] == HAND)
        for r in group:
            if r["error"]:
                lines.append(f"| {name} | {r['implementation']} | {r['kind']} | ABORTED | | | | | | | | |")
                continue
            lines.append(
                f"| {name} | {r['implementation']} | {r['kind']} | {_fmt(r['median_ms'], '.3f')} | {_fmt(r['min_ms'], '.3f')} | "
                f"{_fmt(r['median_ms'] / hand['median_ms'])} | {_fmt(r['compile_ms'], '.0f')} | {_mib(r.get('xla_temp_bytes'))} | "
                f"{_mib(r.get('xla_peak_bytes'))} | {_mib(r.get('rss_delta_bytes'))} | {r['samples']} | {_fmt(r['max_abs_err'], '.2g')} |"
            )
    lines += [
        "",
        f"#### Targets ({label})",
        "",
        "| workload | criterion | measured | limit | met |",
        "|---|---|---:|---:|---|",
    ]
    for name, s in summaries.items():
        for c in s["checks"]:
            met = "yes" if c["met"] else "**no**"
            lines.append(f"| {name} | {c['criterion']} | {_fmt(c['measured'])}{c['unit']} | {c['limit']:g}{c['unit']} | {met} |")
    lines += ["", "Workloads:", ""]
    for name, group in by_workload.items():
        kmap = next(r for r in group if r["kind"] == KMAP)
        other = kmap.get("other_cpu_share")
        load = f"; other processes used {100 * other:.0f}% of the CPU meanwhile" if other is not None else ""
        lines.append(f"* **{name}**: {kmap['description']}{load}")
    return "\n".join(lines)


def run_suite(module: str, label: str, title: str, work: list[Workload], settings: dict, quick: bool) -> dict:
    """Measure ``work`` (the ``label`` implementation is the ``KMAP`` kind); returns ``{"title", "rows", "markdown"}``.

    One row per (workload, implementation) with ``median_ms``, ``min_ms``,
    ``compile_ms``, XLA memory (``xla_*_bytes``), ``rss_delta_bytes``, ``agreed``
    (the correctness check passed), ``error`` and, on kmap rows, the ratios,
    ``target``, ``checks`` and ``met`` (``None`` on the other rows).
    """
    rows: list[dict] = []
    for workload in work:
        print(f"[{label} suite] {workload.name} ...", file=sys.stderr, flush=True)
        for row in harness.measure(workload, **settings):
            row["description"] = workload.description
            rows.append(row)
    agreed = {r["workload"] for r in rows if r["agreed"]}
    pairs = [(r["workload"], r["implementation"]) for r in rows if r["workload"] in agreed]
    if quick:  # the tests' quick mode checks the subprocess path on one kmap call (each costs a JAX start-up)
        pairs = [pair for pair, r in zip(pairs, [r for r in rows if r["workload"] in agreed]) if r["kind"] == KMAP][:1]
    print(f"[{label} suite] peak RSS of {len(pairs)} calls in subprocesses ...", file=sys.stderr, flush=True)
    rss = harness.measure_rss(module, pairs, quick)
    summaries = {}
    for workload in work:
        group = [r for r in rows if r["workload"] == workload.name]
        for r in group:
            r.update(rss.get((r["workload"], r["implementation"]), {}))
            r.update(target=None, met=None)
        kmap = next(r for r in group if r["kind"] == KMAP)
        kmap["target"] = _target_text(workload.target)
        if workload.name in agreed:
            summaries[workload.name] = evaluate_targets(workload.target, group)
            kmap.update(summaries[workload.name])
            kmap["met_text"] = _met_text(summaries[workload.name])
        else:
            kmap["met"] = False
    return {"title": title, "rows": rows, "markdown": _markdown(label, title, rows, summaries, settings, quick)}
