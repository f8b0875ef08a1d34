"""Leafwise math on treeclass instances: operators, comparisons, equality, reductions, ``register_op``.

Every operator goes through one function, :func:`leafwise`, which broadcasts
its right operand to the leaves of the left one (tree-math style):

* **tree ∘ scalar-like** (Python number/bool, numpy or JAX array or scalar,
  tracer): ``op(leaf, v)`` on every leaf (``op(v, leaf)`` for reflected
  operators); ``None`` fields stay ``None``; statics are kept.
* **tree ∘ tree** (same class only, else ``TypeError``): leaves are paired by
  position, ``None`` counting as a leaf on both sides - left ``None`` gives
  ``None``; right ``None`` leaves the left value unchanged for arithmetic and
  gives ``None`` for comparisons. Statics come from the left
  operand. Any other difference in structure is a ``ValueError`` that prints
  both structures and where they differ.
* anything else: ``NotImplemented`` (Python then raises ``TypeError``).

The plain Python operator is applied to the leaf objects, so Python scalars
stay Python scalars (``A + 10`` shows ``20``) and arrays follow JAX rules.
The table of operators is :data:`BINARY_OPS`, :data:`COMPARISONS` and
:data:`UNARY_OPS`; ``|`` is the merge of ``index.py``, not bitwise or.

``tree == tree`` is a Python ``bool`` (value equality);
``tree == scalar`` is a mask tree like ``<``.

Choices made here (documented in docs/treeclass.md):

* per-leaf numpy methods are ``abs sum prod mean amax amin max min std var``
  (``jnp`` functions, extra arguments forwarded);
* ``register_op(..., name=n)`` refuses names that are not identifiers, are
  fields of the class, dunders or properties of the class (``at``): Python
  would never reach the method. It also refuses (``ValueError``) names of
  methods or other attributes the class already has - the built-in ``sum``,
  ``mean``, ``reduce_sum``, ``asdict``, ``register_op``, ... and the class
  body's own - since the per-instance method would silently shadow them;
  re-registering a name registered before on the same instance replaces it.
"""

from __future__ import annotations

import functools
import itertools
import operator
import types
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from kernex._src.tree import base

__all__ = ["BINARY_OPS", "COMPARISONS", "METHODS", "UNARY_OPS", "leafwise", "tree_equal", "zip_trees"]

_SCALAR_TYPES = (int, float, complex, np.generic, np.ndarray, jax.Array)  # bool is an int


def is_scalar_like(value: Any) -> bool:
    """True for values broadcast to every leaf: numbers, bools, numpy/JAX arrays and scalars, tracers."""
    return isinstance(value, _SCALAR_TYPES)


class _Mismatch(Exception):
    """Raised inside :func:`zip_trees` at the first position where the two structures differ."""

    def __init__(self, path: tuple):
        super().__init__(path)
        self.path = path


def _split(node: Any):
    """One level of ``node``: ``None`` if it is a leaf, else ``(keys, children, treedef)``."""
    if isinstance(node, _SCALAR_TYPES):
        return None
    pairs, treedef = jax.tree_util.tree_flatten_with_path(node, is_leaf=lambda child: child is not node)
    if len(pairs) == 1 and pairs[0][0] == ():
        return None
    return tuple(path[0] for path, _ in pairs), [child for _, child in pairs], treedef


def _zip(fn: Callable[[Any, Any, tuple], Any], x: Any, y: Any, path: tuple) -> Any:
    if x is None or y is None:
        return fn(x, y, path)
    xs, ys = _split(x), _split(y)
    if xs is None and ys is None:
        return fn(x, y, path)
    if xs is None or ys is None or type(x) is not type(y):
        raise _Mismatch(path)
    if xs[0] != ys[0]:  # report the first child key that differs
        pairs = itertools.zip_longest(xs[0], ys[0])  # key objects cannot be compared with None
        raise _Mismatch(path + next((kx or ky,) for kx, ky in pairs if kx is None or ky is None or kx != ky))
    keys, children, treedef = xs
    return treedef.unflatten([_zip(fn, a, b, path + (k,)) for k, a, b in zip(keys, children, ys[1])])


def zip_trees(fn: Callable[[Any, Any, tuple], Any], x: Any, y: Any, what: str) -> Any:
    """Walk two same-class trees together and rebuild ``x``'s structure from ``fn``'s results.

    ``fn(a, b, path)`` (``path`` = key path of the position) is called wherever ``a`` or ``b`` is ``None`` (``None`` counts as
    a leaf on both sides, whatever the other side holds) and where both are
    leaves; containers must otherwise match (type and keys). ``what`` names the
    operation in the error raised on a mismatch.
    """
    if type(x) is not type(y):
        raise TypeError(
            f"{what} needs two instances of the same treeclass; got {type(x).__name__} and "
            f"{type(y).__name__}. Combine a tree with a scalar or array, or with another "
            f"{type(x).__name__}."
        )
    try:
        return _zip(fn, x, y, ())
    except _Mismatch as err:
        raise ValueError(
            f"{what}: the two {type(x).__name__} trees differ in structure at "
            f"{jax.tree_util.keystr(err.path) or 'the root'}; leaves are paired by position, so both "
            f"need the same containers there (None on either side is allowed).\n"
            f"  left:  {jax.tree_util.tree_structure(x)}\n  right: {jax.tree_util.tree_structure(y)}"
        ) from None


def leafwise(op: Callable, tree: Any, other: Any = None, *, arity: int = 2, reflected: bool = False,
             right_none: str = "left") -> Any:
    """Apply ``op`` leaf by leaf; the single map behind every treeclass operator.

    Args:
        op: ``op(leaf)`` if ``arity == 1``, else ``op(leaf, other_leaf)``.
        tree: the treeclass instance on the left.
        other: scalar-like (broadcast to every leaf) or an instance of the same class.
        arity: 1 for unary operators (``other`` ignored), 2 otherwise.
        reflected: compute ``op(other, leaf)`` (``__rsub__`` etc.).
        right_none: what a ``None`` on the right gives in tree ∘ tree: ``"left"``
            (the left value) or ``"none"``.

    Returns:
        a new instance, or ``NotImplemented`` for unsupported right operands.
    """
    if arity == 1:
        return jax.tree_util.tree_map(op, tree)
    if is_scalar_like(other):
        if reflected:
            return jax.tree_util.tree_map(lambda leaf: op(other, leaf), tree)
        return jax.tree_util.tree_map(lambda leaf: op(leaf, other), tree)
    if not base.is_treeclass(other):
        return NotImplemented

    def pair(left, right, _path):
        if left is None:
            return None
        if right is None:
            return left if right_none == "left" else None
        return op(right, left) if reflected else op(left, right)

    return zip_trees(pair, tree, other, f"{type(tree).__name__}.__{op.__name__.strip('_')}__")


#: binary operators (``__<name>__`` and reflected ``__r<name>__``) -> Python function applied to leaves
BINARY_OPS: dict[str, Callable] = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "truediv": operator.truediv,
    "floordiv": operator.floordiv,
    "mod": operator.mod,
    "pow": operator.pow,
    "matmul": operator.matmul,
    "and": operator.and_,
    "xor": operator.xor,
    "lshift": operator.lshift,
    "rshift": operator.rshift,
}
#: comparisons -> mask trees (``None`` on either side of tree ∘ tree gives ``None``)
COMPARISONS: dict[str, Callable] = {"lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge}
#: unary operators ``-x``, ``+x``, ``abs(x)``, ``~x``
UNARY_OPS: dict[str, Callable] = {"neg": operator.neg, "pos": operator.pos, "abs": operator.abs, "invert": operator.invert}


def _operator_method(name: str, op: Callable, **options: Any) -> Callable:
    def method(self, other=None):
        return leafwise(op, self, other, **options)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"Leafwise ``{op.__name__}`` (see ``kernex._src.tree.ops``)."
    return method


def _leaf_equal(a: Any, b: Any) -> bool:
    if a is None or b is None or a is b:
        return a is b
    try:
        if isinstance(a, (np.ndarray, np.generic, jax.Array)) or isinstance(b, (np.ndarray, np.generic, jax.Array)):
            return bool(np.array_equal(np.asarray(a), np.asarray(b)))
        result = a == b
        return result if isinstance(result, bool) else bool(np.all(result))
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return False  # a traced value has no concrete value to compare: only the same object is equal


def tree_equal(x: Any, y: Any) -> bool:
    """Value equality of two trees of the same class: statics, structure (``None`` included) and leaves.

    Array leaves compare by shape and value, dtype ignored (``np.array_equal``).
    Traced leaves (inside ``jit``/``grad``) have no value: they are equal only
    to themselves, so ``tree == tree`` stays a ``bool`` there (``jax.jit(model)``
    compares the model it caches with ``==``).
    """
    if x is y:
        return True
    if type(x) is not type(y):
        return False
    x_leaves, x_def = jax.tree_util.tree_flatten(x, is_leaf=lambda v: v is None)
    y_leaves, y_def = jax.tree_util.tree_flatten(y, is_leaf=lambda v: v is None)
    return x_def == y_def and all(_leaf_equal(a, b) for a, b in zip(x_leaves, y_leaves))


def _eq(self, other):
    if base.is_treeclass(other):
        return tree_equal(self, other)
    if is_scalar_like(other):
        return leafwise(operator.eq, self, other)
    return NotImplemented


def _ne(self, other):
    if base.is_treeclass(other):
        return not tree_equal(self, other)
    if is_scalar_like(other):
        return leafwise(operator.ne, self, other)
    return NotImplemented


def _reduce(func: Callable, op: Callable, leaves: list, init: Any, name: str) -> Any:
    results = [func(leaf) for leaf in leaves]
    if init is None:
        if not results:
            raise ValueError(
                f"reduce_{name} on a tree without leaves has nothing to start from; register the "
                f"operation with an `init_val` (e.g. init_val=0 for a sum)."
            )
        return functools.reduce(op, results)
    return functools.reduce(op, results, init)


#: per-leaf numpy methods: ``obj.sum(axis=0)`` -> tree of ``jnp.sum(leaf, axis=0)``
NUMPY_METHODS: dict[str, Callable] = {
    "abs": jnp.abs,
    "sum": jnp.sum,
    "prod": jnp.prod,
    "mean": jnp.mean,
    "amax": jnp.amax,
    "amin": jnp.amin,
    "max": jnp.max,
    "min": jnp.min,
    "std": jnp.std,
    "var": jnp.var,
}
#: built-in reductions ``reduce_<name>``: (per-leaf function, combining operator, initial value);
#: mean/amax/amin *sum* the per-leaf results, as early pytreeclass did (docs/treeclass.md)
REDUCTIONS: dict[str, tuple[Callable, Callable, Any]] = {
    "sum": (jnp.sum, operator.add, 0),
    "prod": (jnp.prod, operator.mul, 1),
    "mean": (jnp.mean, operator.add, 0),
    "amax": (jnp.amax, operator.add, 0),
    "amin": (jnp.amin, operator.add, 0),
}


def _name(func: Callable) -> str:
    return getattr(func, "__name__", repr(func))  # functools.partial and other callables have no __name__


def _map_method(name: str, func: Callable) -> Callable:
    def method(self, *args, **kwargs):
        return leafwise(lambda leaf: func(leaf, *args, **kwargs), self, arity=1)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"Tree of ``{_name(func)}(leaf, *args, **kwargs)`` for every leaf."
    return method


def _reduce_method(name: str, func: Callable, op: Callable, init: Any) -> Callable:
    def method(self, *args, **kwargs):
        leaves = jax.tree_util.tree_leaves(self)
        return _reduce(lambda leaf: func(leaf, *args, **kwargs), op, leaves, init, name)

    method.__name__ = method.__qualname__ = f"reduce_{name}"
    method.__doc__ = f"``{_name(op)}`` of ``{_name(func)}(leaf, *args, **kwargs)`` over all leaves, from {init!r}."
    return method


def register_op(self, func: Callable, *, name: str, reduce_op: Callable | None = None, init_val: Any = None) -> None:
    """Attach ``self.<name>()`` (per-leaf ``func``) and, with ``reduce_op``, ``self.reduce_<name>()``.

    The methods belong to this instance only; results of operations on it do
    not have them. ``reduce_<name>`` folds the per-leaf results with
    ``reduce_op``, starting from ``init_val`` or, if it is ``None``, from the
    first leaf's result.

    >>> from kernex import treeclass
    >>> import jax.numpy as jnp
    >>> @treeclass
    ... class T:
    ...     a: object
    ...     b: int
    >>> t = T(jnp.array([10, 10]), 20)
    >>> t.register_op(jnp.prod, name="product", reduce_op=lambda x, y: x * y, init_val=1)
    >>> t.product()
    T(a=i32[],b=i32[])
    >>> int(t.reduce_product())
    2000
    """
    if not callable(func):
        raise TypeError(f"register_op: `func` must be callable, e.g. `lambda leaf: leaf + 1`; got {func!r}.")
    if reduce_op is not None and not callable(reduce_op):
        raise TypeError(
            f"register_op: `reduce_op` must be a callable of two arguments (e.g. `operator.add`) or None; "
            f"got {reduce_op!r}."
        )
    info = base.class_info(self)
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"register_op: `name` must be a valid identifier such as 'plus_one'; got {name!r}.")
    for method_name in (name, f"reduce_{name}") if reduce_op is not None else (name,):
        # Python looks dunders and data descriptors (e.g. `at`) up on the class, past the instance
        shadowed = (method_name.startswith("__") and method_name.endswith("__")) or hasattr(getattr(type(self), method_name, None), "__set__")
        if method_name in info.names or shadowed:
            what = "a field of" if method_name in info.names else "a special name or property of"
            raise ValueError(
                f"register_op: {method_name!r} is {what} {type(self).__name__}, so a method of that name "
                f"could never be reached; choose another `name`."
            )
        existing = getattr(type(self), method_name, None)
        if existing is not None or hasattr(type(self), method_name):
            builtin = getattr(existing, "__module__", "").startswith("kernex._src.tree.")
            cls = type(self).__name__
            what = f"a built-in treeclass method of {cls}" if builtin else f"an attribute that class {cls} defines"
            via = "" if method_name == name else f" (registering with reduce_op also attaches {method_name!r})"
            raise ValueError(
                f"register_op(name={name!r}): {method_name!r} is {what} "
                f"(`obj.{method_name}`){via}; registering it would shadow that method on this instance. "
                f"Pick another `name`, e.g. name={'my_' + name!r}."
            )
    object.__setattr__(self, name, types.MethodType(_map_method(name, func), self))
    if reduce_op is not None:
        reduce = _reduce_method(name, func, reduce_op, init_val)
        object.__setattr__(self, f"reduce_{name}", types.MethodType(reduce, self))


def _build_methods() -> dict[str, Any]:
    methods: dict[str, Any] = {"__eq__": _eq, "__ne__": _ne, "register_op": register_op}
    for name, op in BINARY_OPS.items():
        methods[f"__{name}__"] = _operator_method(f"__{name}__", op)
        methods[f"__r{name}__"] = _operator_method(f"__r{name}__", op, reflected=True)
    for name, op in COMPARISONS.items():
        methods[f"__{name}__"] = _operator_method(f"__{name}__", op, right_none="none")
    for name, op in UNARY_OPS.items():
        methods[f"__{name}__"] = _operator_method(f"__{name}__", op, arity=1)
    for name, func in NUMPY_METHODS.items():
        methods[name] = _map_method(name, func)
    for name, (func, op, init) in REDUCTIONS.items():
        methods[f"reduce_{name}"] = _reduce_method(name, func, op, init)
    return methods


#: every method ``@treeclass`` attaches from this module, by attribute name
METHODS: dict[str, Any] = _build_methods()
