"""Flatten/unflatten cost of the seed MLP: treeclass vs ``equinox.Module`` vs a plain dict.

The three models hold the same six arrays (``StackedLinear`` 1->128->128->1).
All variants are timed in one process, interleaved (each repetition times
every variant once, in turn), after a warm-up; each sample is the mean of a
batch of calls measured with ``time.perf_counter``. Reported: median and
minimum per call over the samples, and the ratio to equinox (<1 = faster).

Run ``python -m benchmarks.suite_treeclass [--quick]`` to print the table.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any, Callable

import jax

__all__ = ["run"]


def _models() -> dict[str, Any]:
    from demo.models import StackedLinear

    model = StackedLinear(key=jax.random.PRNGKey(0), in_dim=1, out_dim=1)
    layers = (model.l1, model.l2, model.l3)
    models = {"kernex.treeclass": model}
    try:
        import equinox as eqx
    except ImportError:  # equinox is a bench extra; compare with the dict alone without it
        pass
    else:

        class EqxLinear(eqx.Module):
            weight: jax.Array
            bias: jax.Array

        class EqxStackedLinear(eqx.Module):
            l1: EqxLinear
            l2: EqxLinear
            l3: EqxLinear

        models["equinox.Module"] = EqxStackedLinear(*(EqxLinear(m.weight, m.bias) for m in layers))
    models["dict of arrays"] = {f"l{i}": {"weight": m.weight, "bias": m.bias} for i, m in enumerate(layers, 1)}
    return models


def _sample(fn: Callable[[], Any], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def run(quick: bool = False) -> dict:
    """Time ``tree_flatten`` and ``tree_unflatten``; returns ``{"title", "rows", "markdown"}``.

    Each row: ``variant``, ``op``, ``median_us``, ``min_us``, ``ratio_vs_equinox``
    (median over median; ``None`` when equinox is not installed).
    """
    reps, calls = (15, 200) if quick else (101, 1000)
    models = _models()
    tasks: dict[tuple[str, str], Callable[[], Any]] = {}
    for name, model in models.items():
        leaves, treedef = jax.tree_util.tree_flatten(model)
        tasks[(name, "tree_flatten")] = lambda m=model: jax.tree_util.tree_flatten(m)
        tasks[(name, "tree_unflatten")] = lambda d=treedef, v=leaves: jax.tree_util.tree_unflatten(d, v)
    for fn in tasks.values():  # warm-up
        _sample(fn, calls)
    samples: dict[tuple[str, str], list[float]] = {key: [] for key in tasks}
    for _ in range(reps):
        for key, fn in tasks.items():
            samples[key].append(_sample(fn, calls))

    rows = []
    for (name, op), times in samples.items():
        reference = samples.get(("equinox.Module", op))
        rows.append(
            {
                "variant": name,
                "op": op,
                "median_us": statistics.median(times) * 1e6,
                "min_us": min(times) * 1e6,
                "ratio_vs_equinox": statistics.median(times) / statistics.median(reference) if reference else None,
            }
        )
    title = "treeclass flatten/unflatten of the seed MLP (6 arrays) vs equinox.Module"
    lines = [
        f"### {title}",
        "",
        f"{reps} interleaved samples x {calls} calls each; jax {jax.__version__}, Python {sys.version.split()[0]}.",
        "",
        "| op | variant | median (µs) | min (µs) | median / equinox |",
        "|---|---|---:|---:|---:|",
    ]
    for row in sorted(rows, key=lambda r: (r["op"], r["variant"])):
        ratio = "n/a" if row["ratio_vs_equinox"] is None else f"{row['ratio_vs_equinox']:.2f}"
        lines.append(f"| {row['op']} | {row['variant']} | {row['median_us']:.2f} | {row['min_us']:.2f} | {ratio} |")
    return {"title": title, "rows": rows, "markdown": "\n".join(lines)}


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv[1:])["markdown"])
