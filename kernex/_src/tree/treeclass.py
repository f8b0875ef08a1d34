"""``@treeclass``: dataclass-like JAX pytree containers you can do math on (rules: docs/treeclass.md).

>>> import jax, jax.numpy as jnp
>>> from kernex import treeclass, static_field
>>> @treeclass
... class Test:
...     a: float
...     b: float
...     c: float
...     name: str = static_field()
>>> A = Test(10, 20, 30, "A")
>>> A + A == Test(20, 40, 60, "A")
True
>>> print(A["a"] + 10)
Test(a=20,b=None,c=None,name=A)
>>> A[A > 10]
Test(a=None,b=20,c=30,name='A')
>>> jax.tree_util.tree_leaves(A), float((A * A).reduce_mean())
([10, 20, 30], 1400.0)

What the decorator does to a class:

* applies ``dataclasses.dataclass`` (no generated ``__init__`` if the class
  defines one; ``eq``/``repr`` are replaced by the treeclass versions);
* registers it with ``jax.tree_util.register_pytree_with_keys``: dynamic
  fields are the children (key paths name them, ``GetAttrKey('a')``), static
  fields - ``static_field()`` or any ``str`` value - are aux data, so they are
  part of the tree structure; unflattening does not call ``__init__``;
* freezes instances once the outermost ``__init__`` returns; fields a custom
  ``__init__`` did not assign take their declared default, or raise;
* attaches the operators of ``ops.py`` and the indexing of
  ``index.py`` (methods the class body defines itself are kept), plus
  ``__hash__`` (class and static values), ``__str__`` and ``__repr__``.

Choices made here (documented in docs/treeclass.md):

* an array as a static value is a ``TypeError`` at construction (static
  values are hashed and compared with ``==`` as part of the structure, which
  arrays do not support); other unhashable static values get a warning, since
  ``jit`` will fail to hash them;
* the frozen-instance check is per instance: ``super().__init__`` inside a
  subclass's ``__init__`` does not freeze early; subclasses of a treeclass must
  be decorated themselves to be pytrees (an undecorated one is refused when
  constructed);
* ``__init__`` runs once; flattening never calls it, and instances rebuilt
  by JAX (``tree_unflatten``, ``jit`` outputs, gradients) skip its checks.

For tools that walk models (``kernex.viz``): :func:`is_treeclass`,
:func:`tree_fields` and :func:`is_static` (defined in ``base.py``).
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import warnings
from typing import Any, Callable

import jax
import numpy as np

from kernex._src.tree import base
from kernex._src.tree import index as tree_index
from kernex._src.tree import ops as tree_ops
from kernex._src.tree.base import is_static, is_treeclass, static_field, tree_fields
from kernex._src.tree.format import fmt

__all__ = ["is_static", "is_treeclass", "static_field", "tree_fields", "treeclass"]

# present in an instance's __dict__ while its __init__ runs (value = nesting depth)
_INIT_DEPTH = "__kernex_init_depth__"


def _unassigned(obj: Any, name: str) -> AttributeError:
    cls = type(obj).__name__
    return AttributeError(
        f"{cls}.__init__ did not assign field {name!r}. Every field must be set in __init__ "
        f"(`self.{name} = ...`) or declared with a default (`{name}: T = default`)."
    )


def _finish_init(obj: Any) -> None:
    """Fill unassigned fields from defaults, reject arrays as static values (runs once per instance)."""
    d = obj.__dict__
    info = base.class_info(obj)
    for field in info.fields:
        if field.name not in d:
            if field.default is not dataclasses.MISSING:
                d[field.name] = field.default
            elif field.default_factory is not dataclasses.MISSING:
                d[field.name] = field.default_factory()
            else:
                raise _unassigned(obj, field.name)
    for name in info.marked_static:
        value = d[name]
        if isinstance(value, (jax.Array, np.ndarray)):
            raise TypeError(
                f"{type(obj).__name__}.{name} is a static_field but was given an array ({fmt(value)}). "
                f"Static values are part of the tree structure: JAX hashes them and compares them with == on "
                f"every jit call, and arrays support neither. Declare `{name}` as a normal field to make it a "
                f"leaf (for an array default: `{name}: jax.Array = dataclasses.field(default_factory=lambda: "
                f"...)`), or pass a hashable value such as `tuple(x.tolist())`."
            )
        try:
            hash(value)
        except TypeError:
            warnings.warn(
                f"{type(obj).__name__}.{name} is a static_field holding an unhashable {type(value).__name__} "
                f"({value!r}); jax.jit will fail to hash the tree structure. Use a tuple or another hashable value.",
                stacklevel=3,
            )


def _wrap_init(init):
    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        d = self.__dict__
        depth = d.get(_INIT_DEPTH, 0)
        d[_INIT_DEPTH] = depth + 1
        try:
            init(self, *args, **kwargs)
        finally:
            if depth:
                d[_INIT_DEPTH] = depth
            else:
                del d[_INIT_DEPTH]
        if not depth:
            _finish_init(self)

    return __init__


def _frozen_error(obj: Any, name: str, verb: str) -> AttributeError:
    cls = type(obj).__name__
    info = base.class_info(obj)
    if name in info.names:
        # .at[...].set leaves static fields unchanged, and dataclasses.replace re-runs __init__
        ways = [] if name in info.marked_static else [f"`obj.at[{name!r}].set(value)`"]
        custom_init = not type(obj).__dataclass_params__.init
        ways.append(f"`dataclasses.replace(obj, {name}=value)`" + (" (it calls your __init__ again)" if custom_init else ""))
        return AttributeError(
            f"cannot {verb} field {name!r}: {cls} instances are frozen once __init__ returns. Make a modified "
            f"copy instead: {' or '.join(ways)}."
        )
    return AttributeError(
        f"cannot {verb} attribute {name!r}: {cls} instances are frozen once __init__ returns and {name!r} is "
        f"not a field ({', '.join(info.names) or 'none'}). Declare it as an annotated field and assign it in "
        f"__init__, or attach a per-leaf method with `obj.register_op(func, name={name!r})`."
    )


def _setattr(self, name: str, value: Any) -> None:
    if _INIT_DEPTH not in self.__dict__:
        raise _frozen_error(self, name, "assign")
    object.__setattr__(self, name, value)


def _delattr(self, name: str) -> None:
    if _INIT_DEPTH not in self.__dict__:
        raise _frozen_error(self, name, "delete")
    object.__delattr__(self, name)


def _static_items(obj: Any) -> tuple:
    d, info = obj.__dict__, base.class_info(obj)
    return tuple((n, d[n]) for n in info.names if n in d and (n in info.marked_static or isinstance(d[n], str)))


def _hash(self) -> int:
    items = _static_items(self)
    try:
        return hash((type(self), items))
    except TypeError:  # an unhashable static value (warned about at __init__): equal trees must hash equal
        return hash((type(self), tuple(n for n, _ in items)))


def _fields_text(obj: Any, show: Callable[[Any], str]) -> str:
    d = obj.__dict__  # a field not assigned yet (repr inside __init__) shows as <unassigned>
    text = ",".join(f"{n}={show(d[n]) if n in d else '<unassigned>'}" for n in base.class_info(obj).names)
    return f"{type(obj).__name__}({text})"


def _str(self) -> str:
    return _fields_text(self, str)


def _repr(self) -> str:
    return _fields_text(self, fmt)


_OWN_METHODS: dict[str, Any] = {
    "__setattr__": _setattr,
    "__delattr__": _delattr,
    "__hash__": _hash,
    "__str__": _str,
    "__repr__": _repr,
    "__array_ufunc__": None,  # `np.array(5) > tree`: numpy defers to the tree's reflected operator
}
_METHODS: dict[str, Any] = {**tree_ops.METHODS, **tree_index.METHODS, **_OWN_METHODS}


def _values_getter(names: tuple[str, ...]):
    """``d -> tuple(d[n] for n in names)``, done in C by ``operator.itemgetter`` for 2+ names."""
    if len(names) > 1:
        return operator.itemgetter(*names)
    return (lambda d: (d[names[0]],)) if names else (lambda d: ())


# Unflatten is on the hot path of every jit call and tree_map, so, like dataclasses and equinox,
# we generate it per class: one tuple-unpacking assignment per group of fields.
_UNFLATTEN_SOURCE = """
def unflatten(aux, children):
    if aux[1]:
        return unflatten_with_strings(aux, children)
    obj = new(cls)
    d = obj.__dict__
    {dynamic}
    {static}
    return obj
"""


def _unpack(names: tuple[str, ...], source: str) -> str:
    return "".join(f"d[{n!r}], " for n in names) + f"= {source}" if names else "pass"


def _register_pytree(cls: type, info: base.ClassInfo) -> None:
    """Children = dynamic field values; aux = (static values, (name, str) of str-valued fields)."""
    maybe_dynamic, marked = info.maybe_dynamic, info.marked_static
    keys = {n: jax.tree_util.GetAttrKey(n) for n in maybe_dynamic}
    get_dynamic, get_static = _values_getter(maybe_dynamic), _values_getter(marked)
    is_str = functools.partial(type.__instancecheck__, str)

    def split(obj):
        d = obj.__dict__
        try:
            children, statics = get_dynamic(d), get_static(d)
        except KeyError as err:
            raise _unassigned(obj, err.args[0]) from None
        if any(map(is_str, children)):  # str values are static: they can never be JAX leaves
            strings = tuple((n, d[n]) for n in maybe_dynamic if isinstance(d[n], str))
            return [d[n] for n in maybe_dynamic if not isinstance(d[n], str)], (statics, strings)
        return children, (statics, ())

    def flatten_with_keys(obj):
        children, aux = split(obj)
        names = maybe_dynamic if not aux[1] else [n for n in maybe_dynamic if n not in dict(aux[1])]
        return [(keys[n], c) for n, c in zip(names, children)], aux

    def unflatten_with_strings(aux, children):
        obj = object.__new__(cls)
        d = obj.__dict__
        d.update(aux[1])
        d.update(zip([n for n in maybe_dynamic if n not in d], children))
        d.update(zip(marked, aux[0]))
        return obj

    namespace = {"new": object.__new__, "cls": cls, "unflatten_with_strings": unflatten_with_strings}
    source = _UNFLATTEN_SOURCE.format(dynamic=_unpack(maybe_dynamic, "children"), static=_unpack(marked, "aux[0]"))
    exec(compile(source, f"<treeclass unflatten of {cls.__qualname__}>", "exec"), namespace)
    unflatten = namespace["unflatten"]
    jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, split)


def _keep_user_method(cls: type, name: str, ours: Any) -> bool:
    """True if ``cls`` (or a base) defines ``name`` itself, so the treeclass version must not replace it."""
    owner = next((klass for klass in cls.__mro__ if name in klass.__dict__), object)
    current = owner.__dict__.get(name)
    return not (owner is object or current is None or current is ours)


def treeclass(cls: type | None = None) -> type:
    """Turn an annotated class into a frozen dataclass registered as a JAX pytree with math and indexing.

    Fields are the annotated class attributes (``dataclasses`` rules:
    defaults, ``default_factory``, ``ClassVar`` excluded). A class body with
    its own ``__init__`` keeps it; it must assign every field without a default.

    Returns:
        ``cls`` itself, modified in place.

    >>> import jax, jax.numpy as jnp
    >>> from kernex import treeclass, static_field
    >>> @treeclass
    ... class Linear:
    ...     weight: jax.Array
    ...     bias: jax.Array
    ...     def __init__(self, key, in_dim, out_dim):
    ...         self.weight = jax.random.normal(key, (in_dim, out_dim))
    ...         self.bias = jnp.ones((1, out_dim))
    ...     def __call__(self, x):
    ...         return x @ self.weight + self.bias
    >>> layer = Linear(jax.random.PRNGKey(0), 2, 3)
    >>> layer
    Linear(weight=f32[2,3],bias=f32[1,3])
    >>> grads = jax.grad(lambda m: m(jnp.ones((1, 2))).sum())(layer)
    >>> (layer - 0.5 * grads).bias.tolist()
    [[0.5, 0.5, 0.5]]
    >>> layer.bias = 0
    Traceback (most recent call last):
    ...
    AttributeError: cannot assign field 'bias': Linear instances are frozen once __init__ returns. ...
    """
    if not isinstance(cls, type):
        raise TypeError(
            f"@treeclass decorates a class (`@treeclass` above `class Model: ...`, without parentheses); "
            f"got {cls!r} of type {type(cls).__name__}."
        )
    own_init = "__init__" in cls.__dict__
    cls = dataclasses.dataclass(cls, init=not own_init, repr=False, eq=False)
    cls.__init__ = _wrap_init(cls.__init__)
    info = base.register_class(cls)
    for name, method in _METHODS.items():
        if name not in info.names and not _keep_user_method(cls, name, method):
            setattr(cls, name, method)
    _register_pytree(cls, info)
    return cls
