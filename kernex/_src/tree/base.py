"""What every treeclass operation needs to know about a class: fields, statics, copies.

This is the bottom layer of the treeclass modules (``treeclass.py`` builds the
decorator on it, ``ops.py`` and ``index.py`` the operators and
indexing). It holds the registry of decorated classes and answers three
questions about an instance:

* which fields it has (declaration order, ``dataclasses`` semantics);
* which of them are **static** - declared with :func:`static_field` or
  currently holding a ``str`` (docs/treeclass.md, 'Static and dynamic fields') -
  and therefore part of the tree structure instead of leaves;
* how to build a modified copy without calling ``__init__`` (every treeclass
  operation returns a new instance; unflattening does the same).
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any, Iterable

__all__ = [
    "ClassInfo",
    "STATIC_MARKER",
    "check_field_names",
    "class_info",
    "dynamic_names",
    "is_static",
    "is_treeclass",
    "new_instance",
    "replace_fields",
    "static_field",
    "tree_fields",
]

#: key of the ``dataclasses.Field.metadata`` entry that marks a static field
STATIC_MARKER = "kernex.static"


@dataclasses.dataclass(frozen=True)
class ClassInfo:
    """Per-class facts computed once by ``@treeclass``.

    ``names`` lists every field in declaration order; ``marked_static`` those
    declared with :func:`static_field`; ``maybe_dynamic`` the others (they are
    dynamic unless their current value is a ``str``).
    """

    fields: tuple[dataclasses.Field, ...]
    names: tuple[str, ...]
    marked_static: tuple[str, ...]
    maybe_dynamic: tuple[str, ...]


_REGISTRY: dict[type, ClassInfo] = {}


def register_class(cls: type) -> ClassInfo:
    """Record a freshly decorated dataclass; returns its :class:`ClassInfo`."""
    fields = dataclasses.fields(cls)
    marked = tuple(f.name for f in fields if f.metadata.get(STATIC_MARKER, False))
    info = ClassInfo(
        fields=fields,
        names=tuple(f.name for f in fields),
        marked_static=marked,
        maybe_dynamic=tuple(f.name for f in fields if f.name not in marked),
    )
    _REGISTRY[cls] = info
    return info


def static_field(**kwargs: Any) -> dataclasses.Field:
    """A ``dataclasses.field`` whose value is static: part of the tree structure, not a leaf.

    All keyword arguments go to :func:`dataclasses.field`; user ``metadata`` is
    kept and the static marker is added to it. Static values should be
    hashable (JAX hashes tree structures under ``jit``); arrays are rejected.
    An array ``default`` is a ``TypeError`` saying how to declare a leaf with
    that default instead; any other unhashable ``default`` (a list, a dict) is a
    ``TypeError`` suggesting a hashable equivalent (``dataclasses`` itself would
    only point to ``default_factory``, whose unhashable result then fails under ``jit``).

    >>> import dataclasses
    >>> f = static_field(default=3, metadata={"unit": "px"})
    >>> f.default, dict(f.metadata) == {"unit": "px", STATIC_MARKER: True}
    (3, True)
    """
    if "default" in kwargs:
        _check_static_default(kwargs["default"])
    metadata = dict(kwargs.pop("metadata", None) or {})
    metadata[STATIC_MARKER] = True
    return dataclasses.field(metadata=metadata, **kwargs)


def _check_static_default(default: Any) -> None:
    """``TypeError`` naming ``default`` for an array or another unhashable static default."""
    if hasattr(default, "shape") and hasattr(default, "dtype") and type(default).__hash__ is None:
        shape = "(" + ", ".join(map(str, default.shape)) + ("," if len(default.shape) == 1 else "") + ")"
        try:
            values = tuple(default.tolist()) if len(default.shape) == 1 and default.shape[0] <= 8 else None
        except Exception:  # noqa: BLE001 - e.g. a tracer has no concrete values to show
            values = None
        as_tuple = f"static_field(default={values!r})" if values is not None else "static_field(default=tuple(...))"
        raise TypeError(
            f"static_field(default=...) got an array (shape {shape}, dtype {default.dtype}), but a static value "
            f"cannot be an array: static values are part of the tree structure, and jax.jit hashes them and "
            f"compares them with ==, which arrays do not support. To give the field an array default as a leaf, "
            f"declare a normal field with a factory, e.g. "
            f"`x: jax.Array = dataclasses.field(default_factory=lambda: jnp.ones({shape}))` (your array "
            f"expression inside the lambda; each instance gets its own array). To keep the field static, use a "
            f"hashable value such as a tuple: `{as_tuple}`."
        )
    if type(default).__hash__ is None:
        if isinstance(default, (list, set)):
            hint = f"a tuple: `static_field(default={tuple(default)!r})`"
        elif isinstance(default, dict):
            hint = f"a tuple of pairs: `static_field(default={tuple(default.items())!r})`"
        else:
            hint = "a tuple, a frozenset or a number"
        raise TypeError(
            f"static_field(default=...) got an unhashable {type(default).__name__} ({default!r}); static values "
            f"are part of the tree structure and jax.jit hashes them, so a static default must be hashable. "
            f"Use a hashable equivalent, such as {hint}."
        )


def is_treeclass(obj: Any) -> bool:
    """True if ``obj`` is an instance of a class decorated with ``@treeclass``.

    Classes themselves (and instances of undecorated subclasses, which are not
    registered pytrees) give ``False``.

    >>> from kernex import treeclass
    >>> @treeclass
    ... class P:
    ...     w: float = 1.0
    >>> is_treeclass(P()), is_treeclass(P), is_treeclass({"w": 1.0})
    (True, False, False)
    """
    return type(obj) in _REGISTRY


def class_info(obj: Any) -> ClassInfo:
    """The :class:`ClassInfo` of a treeclass instance, or a ``TypeError`` that says why not."""
    try:
        return _REGISTRY[type(obj)]
    except KeyError:
        pass
    bases = [b.__name__ for b in type(obj).__mro__ if b in _REGISTRY]
    hint = (
        f" {type(obj).__name__} subclasses the treeclass {bases[0]} but is not decorated itself; "
        f"add @treeclass above `class {type(obj).__name__}`."
        if bases
        else " Decorate its class with @treeclass."
    )
    raise TypeError(f"expected a treeclass instance; got {type(obj).__name__}.{hint}")


def tree_fields(obj: Any) -> tuple[dataclasses.Field, ...]:
    """The fields of a treeclass instance, in declaration order (static ones included).

    >>> from kernex import treeclass, static_field
    >>> @treeclass
    ... class P:
    ...     w: float
    ...     name: str = static_field()
    >>> [f.name for f in tree_fields(P(1.0, "p"))]
    ['w', 'name']
    """
    return class_info(obj).fields


def is_static(obj: Any, field: dataclasses.Field | str) -> bool:
    """True if ``field`` of ``obj`` is static: declared with ``static_field()`` or holding a ``str`` now.

    ``field`` is a ``dataclasses.Field`` (as returned by :func:`tree_fields`) or
    a field name. Static values are part of the tree structure, never leaves.

    >>> from kernex import treeclass, static_field
    >>> @treeclass
    ... class P:
    ...     w: float
    ...     label: str
    ...     k: int = static_field(default=3)
    >>> p = P(1.0, "p")
    >>> [is_static(p, f) for f in tree_fields(p)]
    [False, True, True]
    """
    info = class_info(obj)
    name = field if isinstance(field, str) else field.name
    check_field_names(obj, (name,))
    return name in info.marked_static or isinstance(obj.__dict__.get(name), str)


def dynamic_names(obj: Any) -> tuple[str, ...]:
    """Names of the fields of ``obj`` that are dynamic now (not marked static, not a ``str``)."""
    d = obj.__dict__
    return tuple(n for n in class_info(obj).maybe_dynamic if not isinstance(d.get(n), str))


def check_field_names(obj: Any, names: Iterable[str]) -> None:
    """``KeyError`` for the first name in ``names`` that is not a field of ``obj`` (typos must not pass silently)."""
    info = class_info(obj)
    for name in names:
        if name not in info.names:
            close = difflib.get_close_matches(str(name), info.names, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise KeyError(
                f"{name!r} is not a field of {type(obj).__name__}; its fields are "
                f"{', '.join(map(repr, info.names)) or '(none)'}.{hint}"
            )


def new_instance(cls: type, values: dict[str, Any]) -> Any:
    """An instance of ``cls`` with exactly ``values`` as fields, built without calling ``__init__``."""
    obj = object.__new__(cls)
    obj.__dict__.update(values)
    return obj


def replace_fields(obj: Any, **changes: Any) -> Any:
    """A copy of ``obj`` (fields only, no ``__init__`` call) with ``changes`` applied."""
    d = obj.__dict__
    values = {n: d[n] for n in class_info(obj).names}
    values.update(changes)
    return new_instance(type(obj), values)
