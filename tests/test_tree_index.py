"""Selecting parts of a treeclass: obj['a'], obj[mask], x | y, obj.at[...], asdict.

Rules: docs/treeclass.md, 'Selecting and updating'.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from seed_trees import A, Test

from kernex import static_field, treeclass


@treeclass
class Test5:
    __test__ = False

    a: object
    b: object
    c: object
    d: object
    name: str  # no static_field: a str value is static anyway


@treeclass
class Inner:
    a: object
    b: object
    c: object


@treeclass
class Outer:
    d: Inner
    e: Inner


A5 = Test5(10, 20, 30, jnp.array([1, 2, 3, 4, 5]), "A")
L = Outer(d=Inner(a=1, b=10, c=jnp.array([1, 2, 3, 4, 5])), e=Inner(a=2, b=20, c=jnp.array([-1, -2, -3, -4, -5])))


# ---------------------------------------------------------------- field selection


def test_seed_selection():
    assert (A["a"] + 1) == Test(11, None, None, "A")
    assert str(A["a"] + 10) == "Test(a=20,b=None,c=None,name=A)"
    assert str(A["b"] + 10) == "Test(a=None,b=30,c=None,name=A)"


def test_selection_of_several_and_static_names():
    assert A["a", "c"] == Test(10, None, 30, "A")
    assert A["name"] == Test(None, None, None, "A")  # naming a static is allowed; it is kept anyway
    assert A5["name", "d"] == Test5(None, None, None, jnp.array([1, 2, 3, 4, 5]), "A")
    assert A[()] == Test(None, None, None, "A")
    assert A["a"].name == "A" and jax.tree_util.tree_leaves(A["a"]) == [10]


def test_selection_keeps_or_drops_nested_fields_whole_and_works_under_jit():
    assert L["d"] == Outer(L.d, None)
    out = jax.jit(lambda m: m["e"] * 2)(L)
    assert out.d is None
    np.testing.assert_array_equal(out.e.c, [-2, -4, -6, -8, -10])


def test_unknown_field_is_a_key_error_d16():
    with pytest.raises(KeyError, match=r"'zzz' is not a field of Test; its fields are 'a', 'b', 'c', 'name'\."):
        A["zzz"]
    with pytest.raises(KeyError, match=r"'nmae' is not a field of Test.*Did you mean 'name'\?"):
        A["a", "nmae"]
    with pytest.raises(KeyError, match="'' is not a field"):
        A.at[""].get()


@pytest.mark.parametrize("where", [0, slice(None), 1.5, ("a", 0), [True], None])
def test_other_index_types_are_not_implemented(where):
    with pytest.raises(NotImplementedError, match=r"takes a field name \(obj\['a'\]\).*mask tree of the same class.*got"):
        A[where]


# ---------------------------------------------------------------- mask indexing


def test_seed_masks():
    assert A[A > 10] == Test(a=None, b=20, c=30, name="A")
    assert A[A > 100] == Test(None, None, None, "A")
    assert A[A >= 10] == A


def test_nested_masks():
    got = L.at[L > 0].get()
    assert got == Outer(L.d, Inner(2, 20, jnp.array([])))
    none_found = L.at[L == 0].get()
    assert none_found == Outer(Inner(None, None, jnp.array([])), Inner(None, None, jnp.array([])))
    assert L[L < 0].e.c.tolist() == [-1, -2, -3, -4, -5] and L[L < 0].d.a is None
    updated = L.at[L < 0].set(100)
    assert updated == Outer(L.d, Inner(2, 20, jnp.array([100] * 5)))
    with pytest.raises(ValueError, match=r"mask leaves must be booleans.*mask\.d\.a is 1 of dtype int"):
        L.at[L].get()
    with pytest.raises(NotImplementedError):
        L.at[0].get()


def test_mask_with_none_positions_and_0d_array_masks():
    partial_mask = (A > 15)["b", "c"]
    assert A[partial_mask] == Test(None, 20, 30, "A")
    assert A["a"][A > 0] == Test(10, None, None, "A")
    assert A[A > jnp.array(15)] == Test(None, 20, 30, "A")


def test_mask_errors():
    with pytest.raises(ValueError, match=r"mask\.a has shape \(2,\) but the value there has shape \(3,\)"):
        Test(jnp.arange(3), 1, 2, "m")[Test(jnp.array([True, False]), True, True, "m")]
    with pytest.raises(TypeError, match=r"needs two instances of the same treeclass; got Test and Inner"):
        A[Inner(True, True, True)]
    with pytest.raises(TypeError, match=r"mask indexing obj\[mask\] needs concrete masks.*mask\.a is traced.*at\[mask\]\.set"):
        jax.jit(lambda t: t[t > 1])(Test(jnp.arange(3), 1, 2, "m"))


# ---------------------------------------------------------------- merge


def test_seed_merge():
    Aa = A["a"] + 10
    Ab = A["b"] + 10
    assert (Aa | Ab | A) == Test(20, 30, 30, "A")
    assert (Aa | Ab | A) == ((Aa | Ab) | A)
    assert (A["c"] * 2 | A) == Test(10, 20, 60, "A")


def test_merge_keeps_falsy_left_values_and_whole_subtrees_d10():
    zeros = Test(0, False, jnp.zeros(3), "z")
    assert (zeros | A) == zeros
    assert (L["d"] | L) == L
    assert (Outer(None, None) | L) == L
    merged = jax.jit(lambda x, y: x | y)(A["a"] * 0, A)
    assert merged == Test(0, 20, 30, "A")


def test_merge_errors():
    with pytest.raises(TypeError, match=r"`\|` merges two Test trees.*got int on the right.*not a bitwise or"):
        A | 1
    with pytest.raises(TypeError, match="same treeclass"):
        A | Inner(1, 2, 3)
    with pytest.raises(ValueError, match=r"differ in structure at \.a"):
        Test([None, 1], 2, 3, "A") | Test(5, 2, 3, "A")


# ---------------------------------------------------------------- .at


def test_at_names():
    rest = jnp.array([1, 2, 3, 4, 5])
    assert A5.at["a"].get() == Test5(10, None, None, None, "A")
    assert A5.at["a", "b"].get() == Test5(10, 20, None, None, "A")
    assert A5.at["a", "b", "c", "d"].get() == A5
    assert A5.at["a"].set(0) == Test5(0, 20, 30, rest, "A")
    assert A5.at["a", "b"].set(0) == Test5(0, 0, 30, rest, "A")
    assert A5.at["a", "b", "c"].set(0) == Test5(0, 0, 0, rest, "A")


def test_at_set_leaves_statics_and_the_original_untouched():
    assert A.at["a", "name"].set(0) == Test(0, 20, 30, "A")
    assert A == Test(10, 20, 30, "A")
    with pytest.raises(KeyError, match="'x' is not a field"):
        A.at["x"].set(0)


def test_at_mask_set_scalar_and_array_masks_and_jit():
    t = Test(jnp.array([-1.0, 2.0]), -3, 4, "t")
    out = t.at[t > 0].set(0)
    np.testing.assert_array_equal(out.a, [-1.0, 0.0])
    assert (out.b, out.c) == (-3, 0)
    jitted = jax.jit(lambda tree: tree.at[tree < 0].set(0.0))(t)
    np.testing.assert_array_equal(jitted.a, [0.0, 2.0])
    assert float(jitted.b) == 0.0 and float(jitted.c) == 4.0
    with pytest.raises(ValueError, match=r"mask leaves must be booleans.*mask\.a has dtype float32"):
        t.at[t * 1.0].set(0)


def test_at_apply_on_names_and_masks():
    t = Test(jnp.array([-1.0, 2.0]), [-3, 4], 5, "t")
    assert t.at["b"].apply(abs) == Test(jnp.array([-1.0, 2.0]), [3, 4], 5, "t")
    np.testing.assert_array_equal(t.at[t < 0].apply(jnp.abs).a, [1.0, 2.0])
    assert t.at[t < 0].apply(jnp.abs).b == [3, 4]
    with pytest.raises(TypeError, match=r"at\[\.\.\.\]\.apply expects a function of one leaf.*got 3"):
        t.at["a"].apply(3)


# ---------------------------------------------------------------- asdict


def test_asdict_ordering():
    assert A.asdict() == {"a": 10, "b": 20, "c": 30, "name": "A"}

    @treeclass
    class Mixed:
        k: int = static_field(default=3)
        label: str = "m"
        w: float = 1.0

    assert list(Mixed().asdict().items()) == [("w", 1.0), ("k", 3), ("label", "m")]  # dynamic, then static


# ---------------------------------------------------------------- properties on random trees


_ints = st.integers(-50, 50)
_leaf = _ints | hnp.arrays(np.int32, st.integers(1, 4).map(lambda n: (n,)), elements=_ints)


@st.composite
def trees(draw, holes=False):
    """An ``Outer`` of ``Inner``s with int/array leaves; with ``holes`` some fields are None."""

    def value():
        return None if holes and draw(st.booleans()) else draw(_leaf)

    def inner():
        return None if holes and draw(st.integers(0, 4)) == 0 else Inner(value(), value(), value())

    return Outer(inner(), inner())


def _with_none_leaves(tree):
    return jax.tree_util.tree_flatten(tree, is_leaf=lambda v: v is None)[0]


@settings(max_examples=40, deadline=None)
@given(trees(holes=True), trees())
def test_property_merge_takes_left_unless_none(left, right):
    merged = left | right
    for field in ("d", "e"):
        got, x, y = getattr(merged, field), getattr(left, field), getattr(right, field)
        if x is None:
            assert got == y
            continue
        for name in ("a", "b", "c"):
            expected = getattr(y, name) if getattr(x, name) is None else getattr(x, name)
            assert np.array_equal(getattr(got, name), expected)


@settings(max_examples=40, deadline=None)
@given(trees(), _ints)
def test_property_masks_select_what_they_should(tree, k):
    selected = tree[tree > k]
    for got, leaf in zip(_with_none_leaves(selected), _with_none_leaves(tree)):
        if np.ndim(leaf):
            np.testing.assert_array_equal(got, np.asarray(leaf)[np.asarray(leaf) > k])
        else:
            assert got == (leaf if leaf > k else None)
    updated = tree.at[tree > k].set(k)
    expected = jax.tree_util.tree_map(lambda leaf: np.where(leaf > k, k, leaf), tree)
    assert updated == expected
    if not any(np.ndim(leaf) for leaf in jax.tree_util.tree_leaves(tree)):  # scalar masks split the tree in two
        assert (tree[tree > k] | tree[tree <= k]) == tree
