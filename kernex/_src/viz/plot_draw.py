"""Drawing ``plot_model``'s graph with matplotlib, used for images when Graphviz's ``dot`` is not installed.

The picture shows the same graph as the DOT source of ``plot.py``:

* one box per treeclass node, titled ``ClassName(field)`` (``ClassName(Parent)``
  for the model), with ``Input`` and ``Output`` lines when shapes are shown
  (``None`` for a node the model never called);
* one box per other field value, ``name=fmt(value)`` (``weight=f32[1,128]``);
* an edge from each node to each of its fields, in declaration order:
  an arrow to a treeclass child, a plain line to a value; static fields are
  dashed boxes linked by dashed lines.

Layout: a tidy tree drawn top to bottom. Every node of depth *d* sits in row
*d*; a subtree is as wide as the wider of its own box and its children side
by side, and each parent is centred over its children, so edges never cross
and never pass through a box. Text is set in DejaVu Sans Mono (shipped with
matplotlib), whose glyphs all have the same width, so box sizes are computed
from character counts and the axes use inches as data units.

Invariants: matplotlib is imported only inside :func:`draw` (it is an
optional dependency); drawing uses a standalone ``matplotlib.figure.Figure``
(no ``pyplot``, no backend switch, no global state left behind); the layout
is a pure function of the model, so the same model gives the same picture
(no dates or software versions in the file's metadata); SVG labels are text.
"""

from __future__ import annotations

import textwrap
from typing import Any

from kernex._src.tree.format import fmt
from kernex._src.tree.treeclass import is_treeclass
from kernex._src.viz.call_shapes import Call
from kernex._src.viz.model_walk import Path, field_items, label

__all__ = ["draw"]

_FONT = "DejaVu Sans Mono"
_FONT_SIZE = 9.0  # points
_CHAR_W = 0.602 * _FONT_SIZE / 72  # inches: advance width of every DejaVu Sans Mono glyph
_LINE_H = 1.35 * _FONT_SIZE / 72
_PAD_X, _PAD_Y = 0.10, 0.07  # inches of padding inside a box
_H_GAP, _V_GAP = 0.22, 0.45  # inches between sibling subtrees / between rows
_RULE_GAP = 0.05  # inches added below the title of a box with Input/Output lines, for the rule between them
_MARGIN = 0.2
_DPI = 150.0
_WRAP = 48  # characters per line before a long label is wrapped
_MAX_PIXELS = 32000  # largest image side; the dpi is lowered for very large models

_NODE_STYLE = {"facecolor": "#dbe9f6", "edgecolor": "#2f5d8a"}
_VALUE_STYLE = {"facecolor": "#f5f5f5", "edgecolor": "#777777"}
_STATIC_STYLE = {"facecolor": "#ffffff", "edgecolor": "#999999"}
_EDGE_COLOR = "#555555"


class _Box:
    """One node of the picture: its text, style, children and (after layout) its position in inches."""

    def __init__(self, title: str, details: list[str], *, node: bool, static: bool = False):
        self.title = _wrap(title)
        self.details = [line for text in details for line in _wrap(text)]
        self.node, self.static = node, static
        self.children: list[_Box] = []
        lines = self.title + self.details
        self.w = max(len(line) for line in lines) * _CHAR_W + 2 * _PAD_X
        self.h = len(lines) * _LINE_H + 2 * _PAD_Y + (_RULE_GAP if node and self.details else 0.0)
        self.x = self.y = 0.0  # top-left corner, y growing downwards
        self.extent = self.w

    def measure(self) -> float:
        """Width of the subtree rooted here (children side by side, or this box if wider)."""
        if self.children:
            row = sum(child.measure() for child in self.children) + _H_GAP * (len(self.children) - 1)
            self.extent = max(self.w, row)
        return self.extent

    def place(self, left: float, depth: int, row_tops: list[float]) -> None:
        """Place the subtree in ``[left, left + extent]``: children side by side below, this box over them.

        The box is centred over its first and last children's centres, moved
        only as far as needed to stay inside the subtree's extent (so that it
        never overlaps a neighbouring subtree).
        """
        self.y = row_tops[depth]
        row = sum(child.extent for child in self.children) + _H_GAP * (len(self.children) - 1)
        x = left + (self.extent - row) / 2
        for child in self.children:
            child.place(x, depth + 1, row_tops)
            x += child.extent + _H_GAP
        centre = left + self.extent / 2
        if self.children:
            first, last = self.children[0], self.children[-1]
            centre = (first.x + first.w / 2 + last.x + last.w / 2) / 2
        self.x = min(max(centre - self.w / 2, left), left + self.extent - self.w)


def _wrap(text: str) -> list[str]:
    return textwrap.wrap(text, _WRAP, subsequent_indent="  ", break_on_hyphens=False) or [""]


def _build(node: Any, path: Path, calls: dict[Path, Call], with_shapes: bool) -> _Box:
    details: list[str] = []
    if with_shapes:
        call = calls.get(path)
        details = [f"Input:  {call.input_str if call else 'None'}", f"Output: {call.output_str if call else 'None'}"]
    box = _Box(label(node, path), details, node=True)
    for name, value, static in field_items(node):
        if is_treeclass(value):
            box.children.append(_build(value, path + (name,), calls, with_shapes))
        else:
            box.children.append(_Box(f"{name}={fmt(value)}", [], node=False, static=static))
    return box


def _rows(root: _Box) -> list[list[_Box]]:
    rows, level = [], [root]
    while level:
        rows.append(level)
        level = [child for box in level for child in box.children]
    return rows


def _draw_box(ax: Any, box: _Box, patches: Any) -> None:
    style = _NODE_STYLE if box.node else _STATIC_STYLE if box.static else _VALUE_STYLE
    ax.add_patch(
        patches.FancyBboxPatch(
            (box.x, box.y), box.w, box.h, boxstyle="round,pad=0,rounding_size=0.05",
            linewidth=1.0, linestyle="--" if box.static else "-", zorder=2, **style,
        )
    )
    y = box.y + _PAD_Y
    for k, line in enumerate(box.title + box.details):
        if k == len(box.title) and box.node:  # rule between the title and the Input/Output lines
            rule = y + _RULE_GAP / 2 - 0.01
            ax.plot([box.x, box.x + box.w], [rule, rule], color=style["edgecolor"], linewidth=0.6, zorder=3)
            y += _RULE_GAP
        bold = k < len(box.title) and box.node
        ax.text(box.x + _PAD_X, y, line, ha="left", va="top", family=_FONT, size=_FONT_SIZE,
                weight="bold" if bold else "normal", zorder=3)
        y += _LINE_H


def _draw_edge(ax: Any, parent: _Box, child: _Box, patches: Any) -> None:
    start = (parent.x + parent.w / 2, parent.y + parent.h)
    end = (child.x + child.w / 2, child.y)
    ax.add_patch(
        patches.FancyArrowPatch(
            start, end, arrowstyle="-|>" if child.node else "-", mutation_scale=9, shrinkA=0, shrinkB=0,
            color=_EDGE_COLOR, linewidth=0.9, linestyle="--" if child.static else "-", zorder=1,
        )
    )


def draw(model: Any, calls: dict[Path, Call], with_shapes: bool, path: str, image_format: str) -> None:
    """Draw the model's graph and save it to ``path`` as ``image_format`` (``png``, ``svg`` or ``pdf``).

    Raises ``ImportError`` when matplotlib is not installed; ``plot.py``
    turns that into a message saying what to install.
    """
    import matplotlib
    from matplotlib import patches
    from matplotlib.figure import Figure

    root = _build(model, (), calls, with_shapes)
    rows = _rows(root)
    row_tops, top = [], 0.0
    for row in rows:
        row_tops.append(top)
        top += max(box.h for box in row) + _V_GAP
    height = top - _V_GAP
    width = root.measure()
    root.place(0.0, 0, row_tops)

    size = (width + 2 * _MARGIN, height + 2 * _MARGIN)
    dpi = min(_DPI, _MAX_PIXELS / max(size))
    fig = Figure(figsize=size, dpi=dpi, facecolor="white")
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(-_MARGIN, width + _MARGIN)
    ax.set_ylim(height + _MARGIN, -_MARGIN)  # inches, y downwards
    ax.set_axis_off()
    for row in rows:
        for box in row:
            for child in box.children:
                _draw_edge(ax, box, child, patches)
            _draw_box(ax, box, patches)
    metadata = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}[image_format]
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # SVG keeps the labels as text (searchable, small)
        fig.savefig(path, format=image_format, dpi=dpi, facecolor="white", metadata=metadata)
