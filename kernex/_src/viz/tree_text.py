"""``tree_diagram``, ``tree_mermaid`` and ``save_viz``: the model's field tree as text.

Both views walk **all** fields (static included) in declaration order;
nested treeclasses are expanded, every other value is shown with ``fmt``
(containers such as lists are shown as one value, not expanded).

* ``tree_diagram`` keeps the seed's connector quirk: a *last* child that is a
  treeclass is written ``└──name=`` without a space (docs/viz.md, 'What the views show').
* ``tree_mermaid`` marks static fields with a dotted link (``-.-``); node ids
  follow early pytreeclass's scheme (hashes of ``(depth, field index,
  parent id)``), so charts are identical across runs and match early
  pytreeclass. Text inside Mermaid labels is written as is; Mermaid needs
  ``"`` escaped, which ``fmt`` output of arrays and numbers never contains.
* ``save_viz`` writes ``filename`` + the method's suffix (``.md``, ``.html``
  or ``.txt``); ``filename`` may be a ``str`` or a path, its parent folder
  must exist.
"""

from __future__ import annotations

import os
from typing import Any

from kernex._src.tree.format import fmt
from kernex._src.tree.treeclass import is_treeclass
from kernex._src.viz.model_walk import check_model, field_items
from kernex._src.viz.summary import summary
from kernex._src.viz.tree_box import tree_box

__all__ = ["mermaid_markdown", "save_viz", "tree_diagram", "tree_mermaid"]


def tree_diagram(model: Any) -> str:
    """Text tree of the model's fields, nested treeclasses indented below their field.

    >>> from kernex import treeclass, static_field
    >>> @treeclass
    ... class Inner:
    ...     w: float = 1.0
    >>> @treeclass
    ... class Outer:
    ...     inner: Inner = Inner()
    ...     name: str = static_field(default="o")
    >>> print(tree_diagram(Outer()))
    Outer
        ├── inner=Inner
        │   └── w=1.0
        └── name='o'
    """
    check_model(model, "tree_diagram")
    lines = [type(model).__name__]

    def visit(node: Any, prefix: str) -> None:
        items = field_items(node)
        for index, (name, value, _) in enumerate(items):
            last = index == len(items) - 1
            if is_treeclass(value):
                lines.append(prefix + ("└──" if last else "├── ") + f"{name}={type(value).__name__}")
                visit(value, prefix + ("    " if last else "│   "))
            else:
                lines.append(prefix + ("└── " if last else "├── ") + f"{name}={fmt(value)}")

    visit(model, "    ")
    return "\n".join(lines)


def _node_id(depth: int, index: int, parent: int) -> int:
    """Mermaid node id (early pytreeclass's): the hash of ``(depth, index, parent)`` as an unsigned 64-bit int."""
    return hash((depth, index, parent)) % 2**64


def tree_mermaid(model: Any) -> str:
    """Mermaid flowchart source of the model's fields (``flowchart TD``; paste into a Markdown file).

    >>> from kernex import treeclass
    >>> @treeclass
    ... class Leaf:
    ...     w: float = 1.0
    >>> print(tree_mermaid(Leaf()))
    flowchart TD
        id15696277213149321320[Leaf]
        id15696277213149321320 --- id159132120600507116["w\\n1.0"]
    """
    check_model(model, "tree_mermaid")
    root = hash((0, 0, -1, 0)) % 2**64
    lines = ["flowchart TD", f"    id{root}[{type(model).__name__}]"]

    def visit(node: Any, node_id: int, depth: int) -> None:
        for index, (name, value, static) in enumerate(field_items(node)):
            child = _node_id(depth, index, node_id)
            if is_treeclass(value):
                lines.append(f"    id{node_id} --> id{child}({name}\\n{type(value).__name__})")
                visit(value, child, depth + 1)
            else:
                link = "-.-" if static else "---"
                lines.append(f'    id{node_id} {link} id{child}["{name}\\n{fmt(value)}"]')

    visit(model, root, 1)
    return "\n".join(lines)


def mermaid_markdown(model: Any) -> str:
    """The Mermaid chart in a fenced ```` ```mermaid ```` block (no trailing newline)."""
    return "```mermaid\n" + tree_mermaid(model) + "\n```"


_HTML = (
    "<html><body><script src='https://cdn.jsdelivr.net/npm/mermaid/dist/mermaid.min.js'></script>"
    "<script>mermaid.initialize({ startOnLoad: true });</script><div class='mermaid'>{chart}</div></body></html>"
)

# method -> (suffix, renderer)
_METHODS = {
    "tree_mermaid_md": (".md", mermaid_markdown),
    "tree_mermaid_html": (".html", lambda model: _HTML.replace("{chart}", tree_mermaid(model))),
    "tree_diagram": (".txt", tree_diagram),
    "tree_box": (".txt", tree_box),
    "summary": (".txt", summary),
}


def save_viz(model: Any, filename: str | os.PathLike, method: str = "tree_mermaid_md") -> None:
    """Write a visualization of ``model`` to ``filename`` plus a suffix chosen by ``method``.

    ========================  ===========  ==========================================
    method                    file         content
    ========================  ===========  ==========================================
    ``"tree_mermaid_md"``     ``.md``      Mermaid chart in a fenced code block
    ``"tree_mermaid_html"``   ``.html``    page rendering the chart with mermaid.js
    ``"tree_diagram"``        ``.txt``     :func:`tree_diagram`
    ``"tree_box"``            ``.txt``     :func:`tree_box` (no shapes)
    ``"summary"``             ``.txt``     :func:`summary`
    ========================  ===========  ==========================================
    """
    check_model(model, "save_viz")
    if method not in _METHODS:
        raise ValueError(
            f"save_viz(method=...) picks the file to write; got method={method!r}. Accepted methods: "
            f"{', '.join(map(repr, _METHODS))}. For images use `kernex.viz.plot_model(model, to_file='model.png')`."
        )
    suffix, render = _METHODS[method]
    path = os.fspath(filename) + suffix
    with open(path, "w", encoding="utf-8") as file:
        file.write(render(model))
