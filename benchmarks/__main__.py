"""``python -m benchmarks [--quick] [--only NAME] [--output DIR]``: run the benchmark suites.

Every module ``benchmarks/suite_*.py`` is a suite (``run(quick) -> {"title",
"rows", "markdown"}``); they run one after the other, in name order. The
tables are printed, and ``results.md`` (machine description, then each suite's
table) and ``results.json`` (the same plus every row) are written to
``benchmarks/`` for a full run, or to ``out/bench/`` for a ``--quick`` or
``--only`` run so that a partial run never overwrites the committed results
(``--output DIR`` picks the folder explicitly). The exit status is 1 if any
workload's implementations disagreed or crashed.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import pathlib
import pkgutil
import platform
import subprocess
import sys
import time

import benchmarks
from benchmarks.harness import cpu_counters, other_cpu_share

HERE = pathlib.Path(__file__).resolve().parent


def suite_names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("suite_"))


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(module: str) -> str:
    try:
        return importlib.import_module(module).__version__
    except ImportError:
        return "not installed"


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=HERE.parent, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def machine() -> dict:
    import jax

    cores = os.cpu_count() or 1
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "cores": cores,
        "usable_cores": usable,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "jax_backend": jax.default_backend(),
        "jax_devices": [str(d) for d in jax.devices()],
        **{name: _version(name) for name in ("jax", "jaxlib", "numpy", "scipy", "equinox")},
        "load_avg_start": os.getloadavg(),
        "commit": _git("rev-parse", "--short", "HEAD") or "unknown",
        "kernex_uncommitted_changes": bool(_git("status", "--porcelain", "--", "kernex")),
    }


def machine_markdown(m: dict) -> str:
    other = m["other_processes_cpu_share"]
    if other is None:
        share = "CPU use of other processes unknown (no /proc/stat)."
    else:
        share = f"Other processes used {100 * other:.0f}% of the machine's CPU capacity during the run."
        if other > 0.15:
            share += " **The machine was loaded**: absolute times are inflated and ratios noisier."
    return "\n".join(
        [
            f"* date: {m['date']}; wall time of the run: {m['wall_s']:.0f} s",
            f"* kernex at commit {m['commit']}"
            + (" **with uncommitted changes under kernex/**" if m["kernex_uncommitted_changes"] else " (kernex/ unmodified)"),
            f"* CPU: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable); {m['platform']}",
            f"* JAX backend: {m['jax_backend']} ({', '.join(m['jax_devices'])})",
            f"* Python {m['python']}; jax {m['jax']}, jaxlib {m['jaxlib']}, numpy {m['numpy']}, scipy {m['scipy']}, "
            f"equinox {m['equinox']}",
            "* load average (1, 5, 15 min) before the run: "
            + ", ".join(f"{v:.2f}" for v in m["load_avg_start"])
            + "; after: "
            + ", ".join(f"{v:.2f}" for v in m["load_avg_end"])
            + ". "
            + share,
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes and few rounds (seconds)")
    parser.add_argument("--only", metavar="NAME", help="run one suite, e.g. 'kmap' or 'suite_kmap'")
    parser.add_argument("--output", type=pathlib.Path, help="folder for results.md/results.json")
    args = parser.parse_args(argv)

    names = suite_names()
    if args.only:
        wanted = args.only if args.only.startswith("suite_") else f"suite_{args.only}"
        if wanted not in names:
            parser.error(f"unknown suite {args.only!r}; available: {', '.join(n[len('suite_'):] for n in names)}")
        names = [wanted]
    output = args.output or (HERE.parent / "out" / "bench" if args.quick or args.only else HERE)

    info = machine()
    start, cpu_start = time.perf_counter(), cpu_counters()
    results = {}
    for name in names:
        print(f"== {name} ==", file=sys.stderr, flush=True)
        result = importlib.import_module(f"benchmarks.{name}").run(quick=args.quick)
        results[name] = result
        print(result["markdown"], "\n", flush=True)
    info["wall_s"] = time.perf_counter() - start
    info["load_avg_end"] = os.getloadavg()
    info["other_processes_cpu_share"] = other_cpu_share(cpu_start, info["wall_s"])

    sections = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`python -m benchmarks" + (" --quick" if args.quick else "") + "`); "
        "see `benchmarks/README.md` for what is measured and how to read the tables.",
        "",
        "## Machine",
        "",
        machine_markdown(info),
    ]
    for result in results.values():
        sections += ["", result["markdown"]]
    output.mkdir(parents=True, exist_ok=True)
    (output / "results.md").write_text("\n".join(sections) + "\n")
    payload = {"machine": info, "quick": args.quick, "suites": {n: {"title": r["title"], "rows": r["rows"]} for n, r in results.items()}}
    (output / "results.json").write_text(json.dumps(payload, indent=1, default=str) + "\n")
    print(f"wrote {output / 'results.md'} and {output / 'results.json'}", file=sys.stderr)

    failed = [(n, r["workload"]) for n, res in results.items() for r in res["rows"] if r.get("agreed", True) is False]
    if failed:
        print(f"FAILED (disagreement or crash): {sorted(set(failed))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
