"""``plot_model(model, to_file=None, array=None)``: the Keras-like model plot, as Graphviz DOT and images.

The graph has one node per treeclass node (label ``ClassName(field)``, the
model being ``ClassName(Parent)``) and one per other field value
(``name=fmt(value)``), with an edge from each node to its fields in
declaration order. With ``array``, every treeclass node - containers and the
model included, unlike ``tree_box`` - shows the Input and Output of its own
call, recorded under ``jax.eval_shape`` as in ``tree_box`` (``None`` for a
node the model never called).

Choices made here (the ones users meet first are also in docs/viz.md):

* node ids are ``n0``, ``n1``, ... in depth-first pre-order, so the source is
  identical across runs; static fields are dashed boxes linked by dashed
  edges (the Mermaid chart's dotted links); value nodes get no arrowhead;
* ``to_file`` is a ``str`` or ``os.PathLike`` (else ``TypeError``); suffixes
  are case-insensitive; ``.gv`` is accepted as an alias of ``.dot``; the
  parent folder must exist and be writable (``ValueError`` before any work);
  the file is written only after the source is complete (a failing ``array``
  leaves no file);
* images (``.png``/``.svg``/``.pdf``) are rendered by Graphviz's ``dot`` when
  ``shutil.which("dot")`` finds it (``subprocess``, no shell, 120 s limit; a
  failed run is a ``RuntimeError`` showing ``dot``'s error), else drawn with
  matplotlib (``plot_draw.py``, the same graph as a top-down tree); with
  neither installed, a ``RuntimeError`` names ``to_file`` and what to install.
  Text suffixes never need either.
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
    "Install matplotlib (`pip install matplotlib`), or Graphviz (Debian/Ubuntu: `sudo apt-get install graphviz`; "
    "macOS: `brew install graphviz`; conda: `conda install graphviz`; others: https://graphviz.org/download/) "
    "so that `dot` is on PATH"
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


def _matplotlib_missing() -> bool:
    try:
        import matplotlib  # noqa: F401  (optional dependency, imported only to draw)
    except ImportError:
        return True
    return False


def _draw(model: Any, calls: dict[Path, Call], with_shapes: bool, path: str, image_format: str) -> None:
    """Draw with matplotlib (no ``dot`` on PATH), or say what to install."""
    if _matplotlib_missing():
        raise RuntimeError(
            f"plot_model(to_file={path!r}) draws .{image_format} files with Graphviz's `dot` program when it is on "
            f"PATH, else with matplotlib; neither is installed. {_INSTALL_HINT}, or write the graph as text: "
            f"to_file='model.dot' (Graphviz source) or to_file='model.md' (Mermaid)."
        )
    from kernex._src.viz.plot_draw import draw

    draw(model, calls, with_shapes, path, image_format)


def _render(source: str, path: str, image_format: str, dot: str) -> None:
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
        f"(suffix {suffix or 'none'!r}). Accepted suffixes: {accepted} (.png/.svg/.pdf are rendered with "
        f"Graphviz's `dot` when installed, else drawn with matplotlib). "
        f"For example to_file='model.png'."
    )


def _as_path(to_file: Any) -> str:
    """``to_file`` as a ``str``, or a ``TypeError`` naming it."""
    if not isinstance(to_file, (str, os.PathLike)):
        raise TypeError(
            f"plot_model(to_file=...) takes a file path (a str or an os.PathLike such as pathlib.Path) or None; "
            f"got {type(to_file).__name__} {to_file!r}. For example to_file='model.png'."
        )
    return os.fsdecode(os.fspath(to_file))


def _check_folder(path: str) -> None:
    """``ValueError`` naming ``to_file`` unless ``path`` is a file name in an existing, writable folder."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise ValueError(
            f"plot_model(to_file={path!r}): that is a folder; give a file name inside it, "
            f"e.g. to_file={os.path.join(path, 'model.png')!r}."
        )
    if not os.path.isdir(folder):
        raise ValueError(
            f"plot_model(to_file={path!r}): the folder {folder!r} does not exist. Create it first "
            f"(`os.makedirs({folder!r}, exist_ok=True)`) or choose a path in an existing folder, "
            f"e.g. to_file='model.png'."
        )
    if not os.access(folder, os.W_OK):
        raise ValueError(
            f"plot_model(to_file={path!r}): the folder {folder!r} is not writable. Choose a path in a folder "
            f"you can write to, e.g. to_file='model.png' in the current folder."
        )


def _write_failed(path: str, err: OSError) -> OSError:
    return type(err)(
        f"plot_model(to_file={path!r}) could not write the file: {err.strerror or err}. Choose a path you can "
        f"write to, e.g. to_file='model.png' in the current folder."
    )


def plot_model(model: Any, to_file: str | os.PathLike | None = None, array: Any = None) -> str:
    """Keras-like plot of the model's structure: returns Graphviz DOT source; optionally writes or renders it.

    Args:
        model: a treeclass instance.
        to_file: optional file to write, format chosen by suffix: ``.dot``/``.gv``
            (the DOT source), ``.mmd`` (Mermaid chart), ``.md`` (Mermaid in a
            fenced block), ``.png``/``.svg``/``.pdf`` (rendered with Graphviz's
            ``dot`` when it is on PATH, else drawn with matplotlib). The
            parent folder must exist.
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
    path = None if to_file is None else _as_path(to_file)
    suffix = None if path is None else _check_suffix(path)
    if path is not None:
        _check_folder(path)
    calls = record_calls(model, array, "plot_model")
    source = _dot_source(model, calls, with_shapes=array is not None)
    if path is None:
        return source
    try:
        if suffix in _IMAGE_SUFFIXES:
            dot = shutil.which("dot")
            if dot is not None:
                _render(source, path, suffix[1:], dot)
            else:
                _draw(model, calls, array is not None, path, suffix[1:])
            return source
        render = _TEXT_SUFFIXES[suffix]
        with open(path, "w", encoding="utf-8") as file:
            file.write(source if render is None else render(model))
    except OSError as err:
        raise _write_failed(path, err) from err
    return source
