"""``tree_box(model, array=None)``: nested Keras-like boxes with each layer's input and output.

A layer (innermost treeclass) is drawn as a box with its label and its
Input/Output shapes; a container as a titled box stacking its children's
boxes, fields in declaration order (static included; non-treeclass fields as
one-line ``name=value`` boxes). Shapes come from ``call_shapes.py``: the
model is run once under ``jax.eval_shape`` and every child's actual call is
recorded, so the boxes stay in declaration order while each shows what that
child really received and returned - also when the model calls its children
in another order, several times (first call shown), or not at all (``None``).
A model without ``__call__`` falls back to a sequential chain: its layers,
depth-first, each get the previous layer's output (docs/viz.md, 'What the views show').
"""

from __future__ import annotations

from typing import Any

from kernex._src.tree.format import fmt
from kernex._src.tree.treeclass import is_treeclass
from kernex._src.viz.call_shapes import Call, record_calls
from kernex._src.viz.model_walk import Path, check_model, field_items, is_layer, label

__all__ = ["tree_box"]


def _layer_box(title: str, call: Call | None) -> list[str]:
    shape_in, shape_out = (call.input_str, call.output_str) if call else ("None", "None")
    width, inner = len(title) + 2, max(len(shape_in), len(shape_out)) + 2
    return [
        "┌" + "─" * width + "┬" + "─" * 8 + "┬" + "─" * inner + "┐",
        "│" + " " * width + "│ Input  │ " + shape_in.ljust(inner - 2) + " │",
        "│ " + title + " │" + "─" * 8 + "┼" + "─" * inner + "┤",
        "│" + " " * width + "│ Output │ " + shape_out.ljust(inner - 2) + " │",
        "└" + "─" * width + "┴" + "─" * 8 + "┴" + "─" * inner + "┘",
    ]


def _value_box(text: str) -> list[str]:
    return ["┌" + "─" * len(text) + "┐", "│" + text + "│", "└" + "─" * len(text) + "┘"]


def _box(node: Any, path: Path, calls: dict[Path, Call]) -> list[str]:
    title = label(node, path)
    if is_layer(node):
        return _layer_box(title, calls.get(path))
    inner: list[str] = []
    for name, value, _ in field_items(node):
        if is_treeclass(value):
            inner += _box(value, path + (name,), calls)
        else:
            inner += _value_box(f"{name}={fmt(value)}")
    width = max([len(title), *map(len, inner)])
    return [
        "┌" + "─" * width + "┐",
        "│" + title.ljust(width) + "│",
        "├" + "─" * width + "┤",
        *("│" + line.ljust(width) + "│" for line in inner),
        "└" + "─" * width + "┘",
    ]


def tree_box(model: Any, array: Any = None) -> str:
    """Nested boxes of the model's structure with each layer's Input and Output shapes.

    Args:
        model: a treeclass instance.
        array: optional input; when given, ``model(array)`` runs under
            ``jax.eval_shape`` (no FLOPs) and each layer shows the shapes of its
            own call. Without it every shape reads ``None``.

    Returns:
        The boxes as a string (lines joined by ``\\n``, no trailing newline).

    >>> import jax.numpy as jnp
    >>> from kernex import treeclass
    >>> @treeclass
    ... class Double:
    ...     k: float = 2.0
    ...     def __call__(self, x):
    ...         return jnp.concatenate([x, self.k * x])
    >>> print(tree_box(Double(), array=jnp.ones((3, 4))))
    ┌────────────────┬────────┬──────────┐
    │                │ Input  │ f32[3,4] │
    │ Double(Parent) │────────┼──────────┤
    │                │ Output │ f32[6,4] │
    └────────────────┴────────┴──────────┘
    """
    check_model(model, "tree_box")
    return "\n".join(_box(model, (), record_calls(model, array, "tree_box")))
