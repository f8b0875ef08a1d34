"""``plot_model(model, to_file=None, array=None)``: the Keras-like model plot, as Graphviz DOT (SPEC §4.5, D20).

The graph has one node per treeclass node (label ``ClassName(field)``, the
model being ``ClassName(Parent)``) and one per other field value
(``name=fmt(value)``), with an edge from each node to its fields in
declaration order. With ``array``, every treeclass node - containers and the
model included, unlike ``tree_box`` - shows the Input and Output of its own
call, recorded under ``jax.eval_shape`` as in ``tree_box`` (``None`` for a
node the model never called).

Choices where the SPEC is silent:

* node ids are ``n0``, ``n1``, ... in depth-first pre-order, so the source is
  identical across runs; static fields are dashed boxes linked by dashed
  edges (the Mermaid chart's dotted links); value nodes get no arrowhead;
* ``to_file`` suffixes are case-insensitive; ``.gv`` is accepted as an alias
  of ``.dot``; the parent folder must exist; the file is written only after
  the source is complete (a failing ``array`` leaves no file);
* rendering runs Graphviz's ``dot`` found on ``PATH`` (``subprocess``, no
  shell, 120 s limit); a missing ``dot`` or a failed run is a
  ``RuntimeError`` that says how to install Graphviz or shows ``dot``'s error.
"""

from __future__ import annotations

import html
import itertools
import os
import pathlib
import shutil
import subprocess
from typing import Any

from kernex._src.tree.format import fmt
from kernex._src.tree.treeclass import is_treeclass
from kernex._src.viz.call_shapes import Call, record_calls
from kernex._src.viz.model_walk import Path, check_model, field_items, label
from kernex._src.viz.tree_text import mermaid_markdown, tree_mermaid

__all__ = ["plot_model"]

_TEXT_SUFFIXES = {".dot": None, ".gv": None, ".mmd": tree_mermaid, ".md": mermaid_markdown}
_IMAGE_SUFFIXES = (".png", ".svg", ".pdf")

_INSTALL_HINT = (
    "Install Graphviz (Debian/Ubuntu: `sudo apt-get install graphviz`; macOS: `brew install graphviz`; "
    "conda: `conda install graphviz`; others: https://graphviz.org/download/) so that `dot` is on PATH"
)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _node_label(title: str, call: Call | None, with_shapes: bool) -> str:
    """An HTML-like Graphviz label: the title, with an Input/Output table when shapes are shown."""
    cell = '<td align="left">{}</td>'.format
    if not with_shapes:
        return f"<<b>{html.escape(title)}</b>>"
    shape_in, shape_out = (call.input_str, call.output_str) if call else ("None", "None")
    return (
        '<<table border="0" cellborder="1" cellspacing="0" cellpadding="4">'
        f'<tr><td rowspan="2"><b>{html.escape(title)}</b></td>{cell("Input")}{cell(html.escape(shape_in))}</tr>'
        f'<tr>{cell("Output")}{cell(html.escape(shape_out))}</tr></table>>'
    )


def _dot_source(model: Any, calls: dict[Path, Call], with_shapes: bool) -> str:
    lines = [
        f"digraph {_quote(type(model).__name__)} {{",
        '    graph [rankdir=TB, fontname="Helvetica"];',
        '    node [shape=box, style=rounded, fontname="Helvetica", fontsize=11];',
        '    edge [color="#555555"];',
    ]
    ids = (f"n{k}" for k in itertools.count())

    def visit(node: Any, path: Path, node_id: str) -> None:
        shape = "plaintext" if with_shapes else "box"
        node_label = _node_label(label(node, path), calls.get(path), with_shapes)
        lines.append(f"    {node_id} [shape={shape}, label={node_label}];")
        for name, value, static in field_items(node):
            child = next(ids)
            if is_treeclass(value):
                lines.append(f"    {node_id} -> {child};")
                visit(value, path + (name,), child)
                continue
            style = ', style="rounded,dashed"' if static else ""
            lines.append(f"    {node_id} -> {child} [arrowhead=none{', style=dashed' if static else ''}];")
            lines.append(f"    {child} [label={_quote(f'{name}={fmt(value)}')}{style}];")

    visit(model, (), next(ids))
    lines.append("}")
    return "\n".join(lines) + "\n"


def _render(source: str, path: str, image_format: str) -> None:
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError(
            f"plot_model(to_file={path!r}) renders .{image_format} files with Graphviz's `dot` program, which was "
            f"not found on PATH. {_INSTALL_HINT}, or write the graph without rendering: "
            f"to_file='model.dot' (Graphviz source) or to_file='model.md' (Mermaid)."
        )
    try:
        done = subprocess.run(
            [dot, f"-T{image_format}", "-o", path], input=source.encode(), capture_output=True, timeout=120
        )
    except subprocess.TimeoutExpired as err:
        raise RuntimeError(f"plot_model(to_file={path!r}): `dot -T{image_format}` did not finish in 120 s.") from err
    if done.returncode != 0:
        raise RuntimeError(
            f"plot_model(to_file={path!r}): `{dot} -T{image_format}` failed with exit status {done.returncode}: "
            f"{done.stderr.decode(errors='replace').strip()}"
        )


def _check_suffix(to_file: str) -> str:
    suffix = pathlib.PurePath(to_file).suffix.lower()
    if suffix in _TEXT_SUFFIXES or suffix in _IMAGE_SUFFIXES:
        return suffix
    accepted = ", ".join([*_TEXT_SUFFIXES, *_IMAGE_SUFFIXES])
    raise ValueError(
        f"plot_model(to_file=...) chooses the output format by the file suffix; got to_file={to_file!r} "
        f"(suffix {suffix or 'none'!r}). Accepted suffixes: {accepted} (.png/.svg/.pdf need Graphviz's `dot`). "
        f"For example to_file='model.png'."
    )


def plot_model(model: Any, to_file: str | os.PathLike | None = None, array: Any = None) -> str:
    """Keras-like plot of the model's structure: returns Graphviz DOT source; optionally writes or renders it.

    Args:
        model: a treeclass instance.
        to_file: optional file to write, format chosen by suffix: ``.dot``/``.gv``
            (the DOT source), ``.mmd`` (Mermaid chart), ``.md`` (Mermaid in a
            fenced block), ``.png``/``.svg``/``.pdf`` (rendered with Graphviz's
            ``dot``, which must be installed).
        array: optional input; when given, each treeclass node shows the Input
            and Output shapes of its call in ``model(array)``, run under
            ``jax.eval_shape`` (no FLOPs).

    Returns:
        The DOT source (ends with a newline).

    >>> from kernex import treeclass
    >>> @treeclass
    ... class Leaf:
    ...     w: float = 1.0
    >>> print(plot_model(Leaf()), end="")
    digraph "Leaf" {
        graph [rankdir=TB, fontname="Helvetica"];
        node [shape=box, style=rounded, fontname="Helvetica", fontsize=11];
        edge [color="#555555"];
        n0 [shape=box, label=<<b>Leaf(Parent)</b>>];
        n0 -> n1 [arrowhead=none];
        n1 [label="w=1.0"];
    }
    """
    check_model(model, "plot_model")
    suffix = None if to_file is None else _check_suffix(os.fspath(to_file))
    source = _dot_source(model, record_calls(model, array, "plot_model"), with_shapes=array is not None)
    if to_file is None:
        return source
    path = os.fspath(to_file)
    if suffix in _IMAGE_SUFFIXES:
        _render(source, path, suffix[1:])
        return source
    render = _TEXT_SUFFIXES[suffix]
    with open(path, "w", encoding="utf-8") as file:
        file.write(source if render is None else render(model))
    return source
