"""``summary(model, array=None)``: Keras-like table of layers, parameter counts, sizes and config.

One row per layer (innermost treeclass), depth-first over the dynamic fields
in declaration order; a non-treeclass dynamic value held directly by a
container gets its own row. With ``array`` an ``Output`` column shows each
layer's output shape, recorded by running the model under
``jax.eval_shape`` (see ``call_shapes.py``; early pytreeclass showed each layer's input there).

Choices made here (the ones users meet first are also in docs/viz.md):

* array-like leaves are anything with ``shape`` and ``dtype``: ``jax.Array``,
  ``numpy`` arrays and scalars, and ``jax.ShapeDtypeStruct`` - so the summary
  of an abstract model (``jax.eval_shape(make_model)``) counts the same
  parameters without allocating them;
* the Config line of a non-treeclass row has its spaces removed like a layer's;
* an ``Output`` cell reads ``None`` for a layer the model never called and
  for a non-treeclass row.
"""

from __future__ import annotations

import math
import sys
from typing import Any, Sequence

import jax
import jax.numpy as jnp

from kernex._src.tree.format import fmt
from kernex._src.tree.treeclass import is_treeclass
from kernex._src.viz.call_shapes import record_calls
from kernex._src.viz.model_walk import Path, check_model, field_items, is_layer

__all__ = ["box_table", "hsize", "summary"]

_UNITS = ("B", "KB", "MB", "GB")


def hsize(nbytes: int) -> str:
    """Human-readable size with three decimals, in B, KB, MB or GB (powers of 1024).

    >>> hsize(0), hsize(516), hsize(1024), hsize(67588), hsize(3 * 1024**4)
    ('0.000 B', '516.000 B', '1.000 KB', '66.004 KB', '3072.000 GB')
    """
    unit = max((u for u in range(len(_UNITS)) if nbytes >= 1024**u), default=0)
    return f"{nbytes / 1024**unit:.3f} {_UNITS[unit]}"


def box_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Lines of a box-drawn table; cells may span several lines, columns are as wide as their longest line.

    >>> print("\\n".join(box_table(["a ", "b"], [["1", "x\\ny"]])))
    ┌──┬─┐
    │a │b│
    ├──┼─┤
    │1 │x│
    │  │y│
    └──┴─┘
    """
    table = [[cell.split("\n") for cell in row] for row in [header, *rows]]
    widths = [max(len(line) for row in table for line in row[i]) for i in range(len(header))]

    def rule(left: str, middle: str, right: str) -> str:
        return left + middle.join("─" * w for w in widths) + right

    def text(row: list[list[str]]) -> list[str]:
        height = max(len(cell) for cell in row)
        padded = [cell + [""] * (height - len(cell)) for cell in row]
        return ["│" + "│".join(cell[k].ljust(w) for cell, w in zip(padded, widths)) + "│" for k in range(height)]

    lines = [rule("┌", "┬", "┐"), *text(table[0])]
    for row in table[1:]:
        lines += [rule("├", "┼", "┤"), *text(row)]
    lines.append(rule("└", "┴", "┘"))
    return lines


def _leaf_stats(leaf: Any) -> tuple[int, int, bool]:
    """``(parameter count, bytes, inexact)`` of one leaf."""
    if hasattr(leaf, "shape") and hasattr(leaf, "dtype"):
        size = math.prod(leaf.shape)  # leaf.dtype.itemsize also covers typed PRNG keys
        return size, size * leaf.dtype.itemsize, bool(jnp.issubdtype(leaf.dtype, jnp.inexact))
    if isinstance(leaf, (int, float, complex)):  # bool is an int
        return 1, sys.getsizeof(leaf), isinstance(leaf, (float, complex))
    return 0, sys.getsizeof(leaf), False


class _Totals:
    """Parameter counts and bytes, split into inexact (floating/complex) and other leaves."""

    def __init__(self) -> None:
        self.params = {True: 0, False: 0}
        self.nbytes = {True: 0, False: 0}

    def add(self, tree: Any) -> tuple[int, int]:
        """Count the leaves of ``tree``; returns its own ``(params, bytes)``."""
        params = nbytes = 0
        for leaf in jax.tree_util.tree_leaves(tree):
            count, size, inexact = _leaf_stats(leaf)
            self.params[inexact] += count
            self.nbytes[inexact] += size
            params, nbytes = params + count, nbytes + size
        return params, nbytes

    def lines(self, width: int) -> list[str]:
        p, b = self.params, self.nbytes
        return [
            f"Total params :\t{p[True] + p[False]:,}",
            f"Inexact params:\t{p[True]:,}",
            f"Other params:\t{p[False]:,}",
            "-" * width,
            f"Total size :\t{hsize(b[True] + b[False])}",
            f"Inexact size:\t{hsize(b[True])}",
            f"Other size:\t{hsize(b[False])}",
            "=" * width,
        ]


def _config_line(name: str, value: Any) -> str:
    return f"{name}={fmt(value)}".replace(" ", "")


def _rows(node: Any, path: Path = ()) -> list[tuple[Path, str, dict[str, Any]]]:
    """``(path, type name, {field: value})`` per row; the dict holds the dynamic values the row counts."""
    if is_layer(node):
        return [(path, type(node).__name__, {n: v for n, v, static in field_items(node) if not static})]
    rows = []
    for name, value, static in field_items(node):
        if static:
            continue
        if is_treeclass(value):
            rows += _rows(value, path + (name,))
        else:
            rows.append((path + (name,), type(value).__name__, {name: value}))
    return rows


def summary(model: Any, array: Any = None) -> str:
    """Table of the model's layers with parameter counts, sizes and dynamic fields, then totals.

    Args:
        model: a treeclass instance.
        array: optional input; when given, an ``Output`` column shows each
            layer's output shape, found by running ``model(array)`` under
            ``jax.eval_shape`` (nothing is computed).

    Returns:
        The table as a string (lines joined by ``\\n``, no trailing newline).

    >>> from kernex import treeclass
    >>> @treeclass
    ... class Scale:
    ...     w: float = 2.0
    >>> text = summary(Scale())
    >>> print("\\n".join(text.splitlines()[:5]))
    ┌─────┬───────┬────────┬──────┐
    │Type │Param #│Size    │Config│
    ├─────┼───────┼────────┼──────┤
    │Scale│1      │24.000 B│w=2.0 │
    └─────┴───────┴────────┴──────┘
    >>> text.splitlines()[5:8]
    ['Total params :\\t1', 'Inexact params:\\t1', 'Other params:\\t0']
    """
    check_model(model, "summary")
    calls = record_calls(model, array, "summary")
    totals = _Totals()
    table_rows = []
    for path, type_name, values in _rows(model):
        params, nbytes = totals.add(list(values.values()))
        output = [calls[path].output_str if path in calls else "None"] if array is not None else []
        config = "\n".join(_config_line(n, values[n]) for n in sorted(values))
        table_rows.append([type_name, *output, f"{params:,}", hsize(nbytes), config])
    header = ["Type ", *(["Output "] if array is not None else []), "Param #", "Size ", "Config"]
    lines = box_table(header, table_rows)
    return "\n".join(lines + totals.lines(len(lines[0])))
