"""Selecting parts of a treeclass: ``obj['a']``, ``obj[mask]``, ``x | y``, ``obj.at[...]``, ``asdict``.

* ``obj['a', 'b']`` keeps the named fields and statics and sets every other
  dynamic field to ``None`` (no leaves); unknown names are a ``KeyError``.
  Structural, so it works under ``jit``.
* ``obj[mask]`` with a boolean mask tree of the same class (``obj[obj > 0]``)
  keeps a leaf where its scalar mask is ``True`` and filters arrays with array
  masks (``leaf[mask]``, 1-D result). Sizes depend on values, so this is eager
  only; ``obj.at[mask].set(v)`` is the shape-preserving, ``jit``-able form.
* ``x | y`` merges: ``x``'s value wherever it is not ``None``, else ``y``'s.
* ``obj.at[where]`` offers ``get()``, ``set(value)`` and ``apply(func)``.

Choices made here (documented in docs/treeclass.md, 'Selecting and updating'):

* ``.at[names].apply(func)`` applies ``func`` to every leaf of the named fields
  (like ``.at[mask].apply``), not to the field value as a whole;
  ``.at[mask].apply(func)`` is ``jnp.where(mask, func(leaf), leaf)`` for array masks.
* ``.at[names].set(v)`` leaves named static fields unchanged;
  use ``dataclasses.replace`` to change a static value.
* ``asdict()`` is shallow: nested treeclasses and containers are returned as
  they are (``dataclasses.asdict`` also works and converts recursively).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from kernex._src.tree import base
from kernex._src.tree import ops as tree_ops

__all__ = ["METHODS"]

_EAGER_ONLY = (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError)


def _field_names(where: Any) -> tuple[str, ...] | None:
    """``where`` as a tuple of field names, or ``None`` if it is not a name / tuple of names."""
    if isinstance(where, str):
        return (where,)
    if isinstance(where, tuple) and all(isinstance(w, str) for w in where):
        return where
    return None


def _unsupported_index(obj: Any, where: Any) -> NotImplementedError:
    cls = type(obj).__name__
    return NotImplementedError(
        f"{cls}[...] takes a field name (obj['a']), several names (obj['a', 'b']) or a boolean mask tree of "
        f"the same class (obj[obj > 0]); got {where!r} of type {type(where).__name__}. Fields are selected "
        f"by name, not by position."
    )


def select(obj: Any, names: tuple[str, ...]) -> Any:
    """Copy of ``obj`` where dynamic fields not in ``names`` are ``None`` (statics kept)."""
    base.check_field_names(obj, names)
    return base.replace_fields(obj, **{n: None for n in base.dynamic_names(obj) if n not in names})


def _mask_value(mask_leaf: Any, where: str) -> np.ndarray:
    """A concrete boolean numpy mask, or a clear error (non-boolean mask, or traced mask)."""
    try:
        mask = np.asarray(mask_leaf)
    except _EAGER_ONLY:
        raise TypeError(
            f"mask indexing obj[mask] needs concrete masks because the result's size depends on them, but "
            f"{where} is traced (inside jit/vmap/grad). Use the shape-preserving "
            f"`obj.at[mask].set(value)` there."
        ) from None
    if mask.dtype != np.bool_:
        raise ValueError(
            f"mask leaves must be booleans (e.g. from `obj > 0`); {where} is {mask_leaf!r} "
            f"of dtype {mask.dtype}."
        )
    return mask


def _masked(fn: Callable[[Any, Any, str], Any], obj: Any, mask: Any, what: str) -> Any:
    """Walk ``obj`` and ``mask`` together, calling ``fn(leaf, mask_leaf, where)`` where both are present."""
    if not base.is_treeclass(mask):
        raise _unsupported_index(obj, mask)

    def pair(leaf, mask_leaf, path):
        return fn(leaf, mask_leaf, f"mask{jax.tree_util.keystr(path)}")

    return tree_ops.zip_trees(pair, obj, mask, what)


def _mask_get(obj: Any, mask: Any) -> Any:
    def get(leaf, mask_leaf, where):
        if leaf is None or mask_leaf is None:
            return None
        m = _mask_value(mask_leaf, where)
        if m.ndim == 0:
            return leaf if m else None
        if np.shape(leaf) != m.shape:
            raise ValueError(f"{where} has shape {m.shape} but the value there has shape {np.shape(leaf)}.")
        return leaf[m] if isinstance(leaf, (jax.Array, np.ndarray)) else np.asarray(leaf)[m]

    return _masked(get, obj, mask, f"{type(obj).__name__}[mask]")


def _mask_update(obj: Any, mask: Any, new: Callable[[Any], Any], what: str) -> Any:
    """Leaves where ``mask`` is True become ``new(leaf)``; array masks use ``jnp.where`` (jit-friendly)."""

    def update(leaf, mask_leaf, where):
        if leaf is None or mask_leaf is None:
            return leaf
        if isinstance(mask_leaf, (bool, np.bool_)):
            return new(leaf) if mask_leaf else leaf
        if jnp.result_type(mask_leaf) != jnp.bool_:
            raise ValueError(
                f"mask leaves must be booleans (e.g. from `obj > 0`); {where} has dtype "
                f"{jnp.result_type(mask_leaf)}."
            )
        return jnp.where(mask_leaf, new(leaf), leaf)

    return _masked(update, obj, mask, what)


def _getitem(self, where):
    names = _field_names(where)
    if names is not None:
        return select(self, names)
    if base.is_treeclass(where):
        return _mask_get(self, where)
    raise _unsupported_index(self, where)


def merge(x: Any, y: Any) -> Any:
    """``x | y``: ``x``'s value wherever it is not ``None``, else ``y``'s (whole subtrees included)."""
    if not base.is_treeclass(y):
        raise TypeError(
            f"`|` merges two {type(x).__name__} trees (left value unless it is None); got "
            f"{type(y).__name__} on the right. It is not a bitwise or: use `obj ^ v`, `obj & v` or "
            f"jax.tree_util.tree_map for leafwise bit operations."
        )
    return tree_ops.zip_trees(lambda a, b, _: b if a is None else a, x, y, f"{type(x).__name__} | {type(y).__name__}")


class AtIndexer:
    """``obj.at[where]`` -> :class:`At`; ``where`` is field name(s) or a boolean mask tree."""

    __slots__ = ("_obj",)

    def __init__(self, obj: Any):
        self._obj = obj

    def __getitem__(self, where: Any) -> At:
        if _field_names(where) is None and not base.is_treeclass(where):
            raise _unsupported_index(self._obj, where)
        return At(self._obj, where)


class At:
    """Functional update of the part of a tree picked by ``obj.at[where]``.

    >>> from kernex import treeclass
    >>> import jax.numpy as jnp
    >>> @treeclass
    ... class T:
    ...     a: int
    ...     b: object
    >>> t = T(1, jnp.array([-1, 2]))
    >>> t.at["a"].set(5)
    T(a=5,b=i32[2])
    >>> t.at[t > 0].set(0).b.tolist()
    [-1, 0]
    >>> t.at["b"].apply(abs).b.tolist()
    [1, 2]
    """

    __slots__ = ("_obj", "_where")

    def __init__(self, obj: Any, where: Any):
        self._obj = obj
        self._where = where

    def get(self) -> Any:
        """Same as ``obj[where]``."""
        return _getitem(self._obj, self._where)

    def set(self, value: Any) -> Any:
        """Copy with the named dynamic fields, or the masked leaves, replaced by ``value``."""
        names = _field_names(self._where)
        if names is None:
            return _mask_update(self._obj, self._where, lambda leaf: value, f"{type(self._obj).__name__}.at[mask].set")
        base.check_field_names(self._obj, names)
        return base.replace_fields(self._obj, **{n: value for n in base.dynamic_names(self._obj) if n in names})

    def apply(self, func: Callable[[Any], Any]) -> Any:
        """Copy with ``func`` applied to every leaf of the named fields, or to the masked leaves."""
        if not callable(func):
            raise TypeError(f"at[...].apply expects a function of one leaf, e.g. `jnp.abs`; got {func!r}.")
        names = _field_names(self._where)
        if names is None:
            return _mask_update(self._obj, self._where, func, f"{type(self._obj).__name__}.at[mask].apply")
        base.check_field_names(self._obj, names)
        d = self._obj.__dict__
        changes = {n: jax.tree_util.tree_map(func, d[n]) for n in base.dynamic_names(self._obj) if n in names}
        return base.replace_fields(self._obj, **changes)


def _at(self) -> AtIndexer:
    """Functional updates: ``obj.at['a'].set(v)``, ``obj.at[obj > 0].set(0)``, ``.get()``, ``.apply(f)``."""
    return AtIndexer(self)


def asdict(self) -> dict[str, Any]:
    """All fields as a dict: dynamic fields first, then static ones, each in declaration order (shallow)."""
    d = self.__dict__
    info = base.class_info(self)
    dynamic = base.dynamic_names(self)
    return {**{n: d[n] for n in dynamic}, **{n: d[n] for n in info.names if n not in dynamic}}


#: every method ``@treeclass`` attaches from this module, by attribute name
METHODS: dict[str, Any] = {"__getitem__": _getitem, "__or__": merge, "at": property(_at), "asdict": asdict}
