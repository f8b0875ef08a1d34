"""Walking a treeclass model for ``kernex.viz``: argument checks, fields, layers and labels.

Vocabulary shared by every view (docs/viz.md, 'What the views show'):

* a **node** is a treeclass instance reached from the model through fields
  holding treeclass instances (containers such as lists are not entered);
* a **layer** is an *innermost* node: none of its field values (static ones
  included) is a treeclass instance;
* a node's **path** is the tuple of field names leading to it from the model
  (``()`` for the model itself); its **label** is ``ClassName(field)``, or
  ``ClassName(Parent)`` for the model.
"""

from __future__ import annotations

from typing import Any, Iterator

from kernex._src.tree.treeclass import is_static, is_treeclass, tree_fields

__all__ = ["Path", "check_model", "field_items", "is_layer", "label", "layers", "walk_nodes"]

Path = tuple[str, ...]


def check_model(model: Any, func: str) -> None:
    """``TypeError`` naming ``func``'s ``model`` argument unless it is a treeclass instance."""
    if is_treeclass(model):
        return
    if isinstance(model, type):
        hint = f"pass an instance, not the class itself: `{func}({model.__name__}(...))`."
    else:
        hint = (
            f"decorate the model's class (and its layers' classes) with @kernex.treeclass and pass an "
            f"instance: `{func}(MyModel(...))`."
        )
    raise TypeError(
        f"{func}(model=...) visualizes treeclass models: `model` must be an instance of a @treeclass class; "
        f"got {type(model).__name__} {_short(model)}. To fix it, {hint}"
    )


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def field_items(node: Any) -> list[tuple[str, Any, bool]]:
    """``(name, value, static)`` for every field of ``node``, in declaration order."""
    return [(f.name, getattr(node, f.name), is_static(node, f)) for f in tree_fields(node)]


def is_layer(node: Any) -> bool:
    """True if no field of ``node`` holds a treeclass instance: an innermost treeclass, a layer."""
    return not any(is_treeclass(value) for _, value, _ in field_items(node))


def label(node: Any, path: Path) -> str:
    """``ClassName(field)``, or ``ClassName(Parent)`` for the model itself (empty path)."""
    return f"{type(node).__name__}({path[-1] if path else 'Parent'})"


def walk_nodes(model: Any) -> Iterator[tuple[Path, Any]]:
    """``(path, node)`` for the model and every node below it, depth-first pre-order, declaration order."""
    stack: list[tuple[Path, Any]] = [((), model)]
    while stack:
        path, node = stack.pop()
        yield path, node
        children = [(path + (name,), value) for name, value, _ in field_items(node) if is_treeclass(value)]
        stack.extend(reversed(children))


def layers(model: Any) -> list[tuple[Path, Any]]:
    """``(path, layer)`` for every innermost node, depth-first in declaration order."""
    return [(path, node) for path, node in walk_nodes(model) if is_layer(node)]
