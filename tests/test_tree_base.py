"""``tree.base``: class registry, static/dynamic split, field-name checks and copies without ``__init__``."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kernex import static_field, treeclass
from kernex._src.tree import base


@treeclass
class M:
    w: object
    label: object
    k: int = static_field(default=3, metadata={"doc": "kernel"})


def test_static_field_marker_and_user_metadata():
    field = static_field(default=1, metadata={"unit": "px"})
    assert field.default == 1 and dict(field.metadata) == {"unit": "px", base.STATIC_MARKER: True}
    assert static_field().metadata[base.STATIC_MARKER] is True
    assert static_field(default_factory=list).default_factory is list


def test_class_info_of_a_registered_class():
    info = base.class_info(M(1.0, "m"))
    assert info.names == ("w", "label", "k")
    assert info.marked_static == ("k",) and info.maybe_dynamic == ("w", "label")
    assert [f.name for f in info.fields] == list(info.names)
    assert info.fields[2].metadata["doc"] == "kernel"


def test_static_and_dynamic_names_depend_on_str_values():
    text, number = M(1.0, "m"), M(1.0, 2.0)
    assert base.dynamic_names(text) == ("w",) and base.dynamic_names(number) == ("w", "label")
    assert [base.is_static(text, f) for f in base.tree_fields(text)] == [False, True, True]
    assert [base.is_static(number, n) for n in ("w", "label", "k")] == [False, False, True]


def test_is_treeclass_only_for_instances_of_decorated_classes():
    assert base.is_treeclass(M(1, 2))
    assert not any(base.is_treeclass(v) for v in (M, 1, None, {"w": 1}, jnp.ones(2)))


def test_class_info_errors_say_what_to_decorate():
    @dataclasses.dataclass
    class Plain:
        w: int = 1

    with pytest.raises(TypeError, match=r"expected a treeclass instance; got Plain\. Decorate its class with @treeclass"):
        base.class_info(Plain())


def test_check_field_names_suggests_close_names():
    with pytest.raises(KeyError, match=r"'lable' is not a field of M; its fields are 'w', 'label', 'k'\. Did you mean 'label'\?"):
        base.check_field_names(M(1, 2), ("w", "lable"))
    base.check_field_names(M(1, 2), ("w", "label", "k"))  # no error


def test_replace_fields_copies_fields_only_without_init():
    @treeclass
    class Guarded:
        a: int

        def __init__(self, a):
            if a < 0:
                raise AssertionError("__init__ must not run for copies")
            self.a = a

    g = Guarded(1)
    g.register_op(abs, name="absolute")
    copy = base.replace_fields(g, a=-2)
    assert copy.a == -2 and g.a == 1 and not hasattr(copy, "absolute")
    assert type(base.new_instance(Guarded, {"a": -5})) is Guarded


# ---------------------------------------------------------------- static_field defaults


def test_static_field_array_default_gives_a_fix_that_works():
    with pytest.raises(TypeError, match=r"static_field\(default=\.\.\.\) got an array \(shape \(3,\), dtype float32\), "
                                        r"but a static value cannot be an array.*jax\.jit hashes them.*declare a "
                                        r"normal field with a factory, e\.g\. `x: jax\.Array = dataclasses\.field\("
                                        r"default_factory=lambda: jnp\.ones\(\(3,\)\)\)`.*"
                                        r"`static_field\(default=\(1\.0, 1\.0, 1\.0\)\)`"):
        static_field(default=jnp.ones(3))
    with pytest.raises(TypeError, match=r"got an array \(shape \(2, 2\), dtype int64\).*default=tuple\(\.\.\.\)"):
        static_field(default=np.zeros((2, 2), np.int64))

    # both fixes the message suggests work, under jit too
    @treeclass
    class Leafy:
        x: jax.Array = dataclasses.field(default_factory=lambda: jnp.ones((3,)))
        k: tuple = static_field(default=(1.0, 1.0, 1.0))

    a, b = Leafy(), Leafy()
    assert a.x is not b.x and jax.tree_util.tree_leaves(a)[0].shape == (3,)
    assert float(jax.jit(lambda t: t.x.sum() + sum(t.k))(a)) == 6.0


def test_static_field_unhashable_default_suggests_a_hashable_one():
    with pytest.raises(TypeError, match=r"static_field\(default=\.\.\.\) got an unhashable list \(\[1, 2\]\).*must be "
                                        r"hashable\. Use a hashable equivalent, such as a tuple: "
                                        r"`static_field\(default=\(1, 2\)\)`"):
        static_field(default=[1, 2])
    with pytest.raises(TypeError, match=r"unhashable dict.*a tuple of pairs: `static_field\(default=\(\('a', 1\),\)\)`"):
        static_field(default={"a": 1})
    assert static_field(default=np.float32(2.0)).default == 2.0  # numpy scalars are hashable
    assert static_field(default=None).default is None
