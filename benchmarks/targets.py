"""What a benchmark workload must achieve, and the pass/fail checks computed from its measurements.

A :class:`Target` states bounds on kmap's ratios to the other implementations
of a workload; :func:`evaluate_targets` turns the measured rows of one
workload (see :func:`benchmarks.harness.measure`) into ratios and checks.
Nothing is hard-coded: every figure comes from the rows.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

from benchmarks.harness import HAND, KMAP, NATIVE, NUMPY

__all__ = ["Target", "GRAD", "evaluate_targets"]


@dataclasses.dataclass(frozen=True)
class Target:
    """What the kmap implementation of a workload must achieve.

    ``time_ratio``: kmap median / baseline median, where the baseline is the
    faster (by median) of the implementations whose kind is in ``baseline``.
    ``compile_ratio``: bound on kmap compile time / hand-written compile time, if any.
    ``compile_s``: absolute bound on kmap's compile time, if any.
    ``memory_ratio``: bound on XLA's peak (argument + output + temp bytes)
    over (input + output bytes), if any (scalar-output forward windows).
    """

    label: str
    time_ratio: float
    baseline: tuple[str, ...] = (HAND,)
    compile_ratio: float | None = 2.0
    compile_s: float | None = None
    memory_ratio: float | None = None


#: every gradient workload (``jax.grad`` of ``0.5 * sum(f(x)**2)``), whichever module declares it
GRAD = Target("≤1.5× faster of hand-written/lax grad", 1.5, baseline=(HAND, NATIVE))


def _median_of(rows: Sequence[dict], kinds: Sequence[str]) -> tuple[float | None, str | None]:
    """Fastest median among implementations of the given kinds (and its name)."""
    candidates = [(r["median_ms"], r["implementation"]) for r in rows if r["kind"] in kinds and r.get("median_ms")]
    return min(candidates) if candidates else (None, None)


def _check_row(criterion: str, measured: float | None, limit: float, unit: str = "×") -> dict:
    met = measured is not None and math.isfinite(measured) and measured <= limit
    return {"criterion": criterion, "measured": measured, "limit": limit, "unit": unit, "met": met}


def evaluate_targets(target: Target, rows: Sequence[dict]) -> dict:
    """Ratios of the kmap row to the other kinds, and the target checks (all computed from ``rows``)."""
    kmap = next(r for r in rows if r["kind"] == KMAP)
    hand = next(r for r in rows if r["kind"] == HAND)
    ratios = {}
    for key, kinds in (("vs_hand", (HAND,)), ("vs_native", (NATIVE,)), ("vs_numpy", (NUMPY,))):
        base, name = _median_of(rows, kinds)
        ratios[f"ratio_{key}"] = kmap["median_ms"] / base if base and kmap.get("median_ms") else None
        ratios[f"baseline_{key}"] = name
    checks = []
    base, name = _median_of(rows, target.baseline)
    checks.append(
        _check_row(f"time / {name or ' or '.join(target.baseline)}", kmap["median_ms"] / base if base and kmap.get("median_ms") else None, target.time_ratio)
    )  # fmt: skip
    compile_ratio = kmap["compile_ms"] / hand["compile_ms"] if kmap.get("compile_ms") and hand.get("compile_ms") else None
    if target.compile_ratio is not None:
        checks.append(_check_row("compile / hand-written", compile_ratio, target.compile_ratio))
    if target.compile_s is not None:
        checks.append(_check_row("compile", kmap["compile_ms"] / 1e3 if kmap.get("compile_ms") else None, target.compile_s, "s"))
    if target.memory_ratio is not None:
        io = (kmap.get("input_bytes") or 0) + (kmap.get("output_bytes") or 0)
        peak = kmap.get("xla_peak_bytes")
        checks.append(_check_row("XLA peak / (in + out)", peak / io if peak and io else None, target.memory_ratio))
    return {**ratios, "checks": checks, "met": all(c["met"] for c in checks)}
