"""Leafwise treeclass math: operators, comparisons, equality, numpy methods, reductions, register_op.

Rules: docs/treeclass.md.
"""

from __future__ import annotations

import functools
import operator

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from seed_trees import A, Test

from kernex import static_field, treeclass
from kernex._src.tree import ops as tree_ops


@treeclass
class Test2:
    __test__ = False

    a: object
    b: object
    name: str = static_field()


# ---------------------------------------------------------------- the seed's examples


def test_seed_arithmetic():
    assert ((A + A) == Test(20, 40, 60, "A")) is True
    assert (A - A) == Test(0, 0, 0, "A")
    assert (A + 1) == Test(11, 21, 31, "A")


def test_seed_reductions():
    mean = (A * A).reduce_mean()
    assert isinstance(mean, jax.Array) and mean.dtype == jnp.float32 and float(mean) == 1400.0
    assert A.reduce_mean() == 60 and A.reduce_sum() == 60 and A.reduce_prod() == 6000


def test_list_leaves_stay_lists():
    B = Test([10, 10], 20, 30, "B")
    assert B.reduce_sum() == 70
    assert B * B == Test([100, 100], 400, 900, "B")


def test_tree_with_selected_tree():
    assert A["a"] + A == Test(20, None, None, "A")
    assert A + A["a"] == Test(20, 20, 30, "A")
    assert ((A["a"] + A) | A) == Test(20, 20, 30, "A")


def test_seed_test2_operators():
    T = Test2(-10, 20, "A")
    assert abs(T) == Test2(10, 20, "A")
    assert T + T == Test2(-20, 40, "A")
    assert T == T
    assert T // 2 == Test2(-5, 10, "A")
    assert T / 2 == Test2(-5.0, 10.0, "A")
    assert (T > T) == Test2(False, False, "A")
    assert (T >= T) == Test2(True, True, "A")
    assert (T <= T) == Test2(True, True, "A")
    assert -T == Test2(10, -20, "A")
    assert T * T == Test2(100, 400, "A")
    assert T**T == Test2((-10) ** (-10), 20**20, "A")
    assert T - T == Test2(0, 0, "A")
    assert abs(A) == A


def test_reductions_sum_per_leaf_results():
    U = Test2(a=jnp.array([-10, -10]), b=1, name="A")
    assert U.reduce_amax() == -9
    assert U.reduce_amin() == -9
    assert U.reduce_sum() == -19
    assert U.reduce_prod() == 100
    assert U.reduce_mean() == -9


def test_reflected_operators_array_operands_and_equality():
    assert 1 - A == Test(-9, -19, -29, "A")
    assert A * jnp.array(2) == Test(20, 40, 60, "A")
    assert (Test(1, 2, 3, "A") == Test(1, 2, 3, "B")) is False
    assert (A != A) is False
    assert str(A == 10) == "Test(a=True,b=False,c=False,name=A)"
    assert (A == int) is False


def test_comparison_str():
    assert str(A > 10) == "Test(a=False,b=True,c=True,name=A)"
    assert str(10 < A) == str(A > 10)  # Python reflects the comparison


# ---------------------------------------------------------------- operator table


INT_CASES = sorted(tree_ops.BINARY_OPS.items())


@pytest.mark.parametrize("name,op", [case for case in INT_CASES if case[0] != "matmul"])
def test_every_binary_operator_and_its_reflection_per_leaf(name, op):
    t = Test(12, 7, 5, "t")
    v = 3
    assert getattr(t, f"__{name}__")(v) == Test(op(12, v), op(7, v), op(5, v), "t")
    assert getattr(t, f"__r{name}__")(v) == Test(op(v, 12), op(v, 7), op(v, 5), "t")
    assert op(t, t) == Test(op(12, 12), op(7, 7), op(5, 5), "t")


def test_reflected_operators_keep_operand_order_d12():
    assert 100 / Test(1, 2, 4, "A") == Test(100.0, 50.0, 25.0, "A")
    assert 2 ** Test(1, 2, 3, "A") == Test(2, 4, 8, "A")
    assert 7 // Test(2, 3, 7, "A") == Test(3, 2, 1, "A")
    assert 7 % Test(2, 3, 4, "A") == Test(1, 1, 3, "A")
    assert 1 << Test(1, 2, 3, "A") == Test(2, 4, 8, "A")
    assert 2 * A == A * 2
    # called directly with a tree on the right, a reflected operator still computes other ∘ self
    assert A.__rsub__(A * 3) == Test(20, 40, 60, "A") and A.__rtruediv__(A * 2) == Test(2.0, 2.0, 2.0, "A")


def test_numpy_arrays_on_the_left_defer_to_the_tree():
    # without __array_ufunc__ = None numpy would treat the tree as an object scalar
    assert (np.array(15) > A) == Test(True, False, False, "A")
    assert (np.array(10) == A) == Test(True, False, False, "A")
    out = np.array([1.0, 2.0]) * Test2(jnp.ones(2), 3.0, "t")
    assert type(out) is Test2
    np.testing.assert_array_equal(out.a, [1.0, 2.0])
    np.testing.assert_array_equal(out.b, [3.0, 6.0])


def test_matmul_with_arrays_and_trees():
    w = Test2(jnp.eye(2), jnp.ones((2, 2)), "w")
    x = jnp.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal((w @ x).b, jnp.ones((2, 2)) @ x)
    np.testing.assert_array_equal((x @ w).a, x)
    np.testing.assert_array_equal((w @ w).b, jnp.full((2, 2), 2.0))


def test_unary_operators():
    t = Test(1, -2, 3, "t")
    assert -t == Test(-1, 2, -3, "t") and +t == t and abs(t) == Test(1, 2, 3, "t") and ~t == Test(-2, 1, -4, "t")


def test_python_scalars_stay_python_scalars():
    out = A + 10
    assert type(out.a) is int and str(out) == "Test(a=20,b=30,c=40,name=A)"
    assert type((A > 10).a) is bool


def test_arrays_and_tracers_broadcast_to_every_leaf_d13():
    t = Test2(jnp.array([1.0, 2.0]), 3.0, "t")
    out = t * np.float32(2)
    np.testing.assert_array_equal(out.a, [2.0, 4.0])
    assert float(out.b) == 6.0
    traced = jax.jit(lambda tree, lr: tree - lr * tree)(t, jnp.float32(0.25))
    np.testing.assert_array_equal(traced.a, [0.75, 1.5])
    assert traced.name == "t"


def test_none_handling_d11():
    left_none = Test(None, 2, 3, "x")
    assert left_none + 1 == Test(None, 3, 4, "x")
    assert left_none + A == Test(None, 22, 33, "x")  # statics from the left
    assert A + left_none == Test(10, 22, 33, "A")  # right None keeps the left value
    assert (A > left_none) == Test(None, True, True, "A")  # comparisons: None either side
    assert (left_none < A) == Test(None, True, True, "x")
    assert (A["b"] == A) is False and (A["b"] >= A) == Test(None, True, None, "A")


def test_right_none_over_a_whole_nested_subtree():
    @treeclass
    class Outer:
        inner: Test
        scale: float

    o = Outer(A, 2.0)
    assert o - o["scale"] == Outer(A, 0.0)
    assert o["inner"] * o == Outer(Test(100, 400, 900, "A"), None)


# ---------------------------------------------------------------- errors


def test_different_classes_raise_type_error():
    with pytest.raises(TypeError, match=r"Test\.__add__ needs two instances of the same treeclass; got Test and Test2"):
        A + Test2(1, 2, "x")
    with pytest.raises(TypeError, match="same treeclass"):
        A < Test2(1, 2, "x")


def test_structure_mismatch_prints_both_structures_and_the_position():
    with pytest.raises(ValueError, match=r"(?s)differ in structure at \.a.*left:  PyTreeDef\(CustomNode\(Test.*\[\[\*, \*\], \*, \*\].*right: PyTreeDef\(CustomNode\(Test.*\[\*, \*, \*\]"):
        Test([1, 2], 2, 3, "A") * A
    with pytest.raises(ValueError, match=r"differ in structure at \.b\['k'\]"):
        Test(1, {"k": 1}, 3, "A") + Test(1, {"k": [1]}, 3, "A")
    with pytest.raises(ValueError, match=r"differ in structure at \.b"):
        Test(1, (1, 2), 3, "A") + Test(1, [1, 2], 3, "A")
    with pytest.raises(ValueError, match=r"differ in structure at \.b"):
        Test2(1, 2, "A") + Test2(1, "two", "A")  # a str is static, so 'b' is no child on the right


@pytest.mark.parametrize("other", ["x", [1], {"a": 1}, None, object()])
def test_unsupported_right_operands_raise_type_error(other):
    with pytest.raises(TypeError):
        A + other
    with pytest.raises(TypeError):
        other * A


# ---------------------------------------------------------------- equality (tree == tree is a bool; unrelated objects are unequal, never an error)


def test_tree_equality_is_a_bool_with_value_semantics():
    x = Test2(jnp.array(100), np.arange(3), "x")
    assert (x == Test2(100, jnp.arange(3.0), "x")) is True  # dtype ignored
    assert (x == Test2(100, np.arange(4), "x")) is False  # shape matters
    assert (Test2(jnp.zeros((0,), jnp.int32), 1, "e") == Test2(np.zeros((0,)), 1, "e")) is True
    assert (Test(None, 1, 2, "A") == Test(0, 1, 2, "A")) is False
    assert (Test([1], 1, 2, "A") == Test(1, 1, 2, "A")) is False  # structure mismatch: False, no error
    assert (A != Test(10, 20, 31, "A")) is True


@pytest.mark.parametrize("other", [int, "A", None, object(), [10, 20, 30]])
def test_equality_with_other_objects_is_false_d30(other):
    assert (A == other) is False
    assert (A != other) is True


def test_eq_with_array_is_a_mask_tree():
    mask = Test2(jnp.array([1, 2]), 2, "m") == jnp.array(2)
    np.testing.assert_array_equal(mask.a, [False, True])
    assert bool(mask.b) is True
    assert str(A != 10) == "Test(a=False,b=True,c=True,name=A)"


# ---------------------------------------------------------------- numpy methods and reductions


def test_per_leaf_numpy_methods_forward_arguments():
    m = Test2(jnp.arange(6.0).reshape(2, 3), jnp.ones((2, 2)), "m")
    np.testing.assert_array_equal(m.sum(axis=0).a, [3.0, 5.0, 7.0])
    np.testing.assert_array_equal(m.mean(axis=1).a, [1.0, 4.0])
    np.testing.assert_array_equal(m.sum(axis=0).b, [2.0, 2.0])
    t = Test2(jnp.arange(6.0).reshape(2, 3), -4, "t")
    assert t.abs() == Test2(jnp.arange(6.0).reshape(2, 3), 4, "t")
    assert t.amax() == Test2(5.0, -4, "t") and t.amin() == Test2(0.0, -4, "t")
    assert t.prod() == Test2(0.0, -4, "t") and t.max() == t.amax() and t.min() == t.amin()
    assert float(t.var().a) == pytest.approx(np.var(np.arange(6.0))) and float(t.std().b) == 0.0
    summed = Test(10, 20, 30, "A").sum()
    assert summed == A and isinstance(summed.a, jax.Array)  # python scalars become 0-d arrays


def test_reductions_table():
    for name, (func, op, init) in tree_ops.REDUCTIONS.items():
        leaves = [np.array([1.0, 2.0]), 3.0]
        expected = op(op(init, func(leaves[0])), func(leaves[1]))
        assert float(getattr(Test2(*leaves, "r"), f"reduce_{name}")()) == pytest.approx(float(expected)), name
    assert Test(None, None, None, "e").reduce_sum() == 0 and Test(None, None, None, "e").reduce_prod() == 1


def test_reductions_forward_arguments_and_work_under_jit():
    t = Test2(jnp.ones((2, 3)), jnp.ones((2, 3)), "t")
    np.testing.assert_array_equal(t.reduce_sum(axis=0), [4.0, 4.0, 4.0])  # [2,2,2] + [2,2,2]
    assert float(jax.jit(lambda tree: tree.reduce_mean())(t)) == 2.0


# ---------------------------------------------------------------- register_op


def test_register_op_seed_examples():
    B = Test([10, 10], 20, 30, "B")
    assert B.register_op(func=lambda node: node + 1, name="plus_one") is None
    assert B.plus_one() == Test(a=[11, 11], b=21, c=31, name="B")
    assert str(B.plus_one()) == "Test(a=[11, 11],b=21,c=31,name=B)"

    C = Test(jnp.array([10, 10]), 20, 30, "C")
    C.register_op(func=jnp.prod, name="product", reduce_op=lambda x, y: x * y, init_val=1)
    assert C.product() == Test(a=100, b=20, c=30, name="C")
    assert C.reduce_product() == 60000
    A2 = Test(10, 20, 30, "A")
    A2.register_op(func=jnp.prod, name="product", reduce_op=lambda x, y: x * y, init_val=1)
    assert A2.reduce_product() == 6000


def test_register_op_is_per_instance_and_forwards_arguments():
    t = Test(1, 2, 3, "t")
    t.register_op(lambda leaf, k: leaf * k, name="times", reduce_op=operator.add)
    assert t.times(3) == Test(3, 6, 9, "t")
    assert t.reduce_times(2) == 12  # no init_val: starts from the first leaf's result
    assert not hasattr(t + 1, "times") and not hasattr(Test(1, 2, 3, "t"), "times")
    assert t == Test(1, 2, 3, "t")  # registered methods are not fields
    t.register_op(functools.partial(operator.add, 10), name="plus_ten", reduce_op=operator.add, init_val=0)
    assert t.plus_ten() == Test(11, 12, 13, "t") and t.reduce_plus_ten() == 36
    assert "functools.partial" in t.reduce_plus_ten.__doc__


def test_register_op_errors():
    t = Test(1, 2, 3, "t")
    with pytest.raises(TypeError, match=r"`func` must be callable.*got 3"):
        t.register_op(3, name="x")
    with pytest.raises(TypeError, match=r"`reduce_op` must be a callable.*got 'add'"):
        t.register_op(abs, name="x", reduce_op="add")
    with pytest.raises(ValueError, match=r"`name` must be a valid identifier.*got 'plus one'"):
        t.register_op(abs, name="plus one")
    with pytest.raises(ValueError, match=r"'name' is a field of Test.*choose another `name`"):
        t.register_op(abs, name="name")
    for unreachable in ("at", "__neg__"):  # a property and a dunder are looked up on the class
        with pytest.raises(ValueError, match=rf"'{unreachable}' is a special name or property of Test.*choose another"):
            t.register_op(abs, name=unreachable)
    with pytest.raises(TypeError, match="positional"):  # `name` is keyword-only
        t.register_op(abs, "positional")
    empty = Test(None, None, None, "e")
    empty.register_op(abs, name="ab", reduce_op=operator.add)
    with pytest.raises(ValueError, match=r"reduce_ab on a tree without leaves.*init_val"):
        empty.reduce_ab()


# ---------------------------------------------------------------- properties on random nested trees


@treeclass
class Inner:
    p: object
    q: object
    tag: str = static_field(default="inner")


@treeclass
class Outer:
    inner: object
    items: object
    r: object


_ints = st.integers(-1000, 1000)
_arrays = hnp.arrays(np.int32, st.integers(1, 4).map(lambda n: (n,)), elements=_ints)
_leaf = _ints | _arrays


@st.composite
def tree_pairs(draw, none_rate=0.0):
    """Two Outer trees of the same structure (values differ); some positions None with ``none_rate``."""

    def leaf_pair():
        first = draw(_leaf)
        if isinstance(first, np.ndarray):
            return first, draw(hnp.arrays(np.int32, first.shape, elements=_ints))
        return first, draw(_ints)

    def maybe_none(value):
        return None if none_rate and draw(st.floats(0, 1)) < none_rate else value

    n_items = draw(st.integers(0, 3))
    pairs = [leaf_pair() for _ in range(2 + n_items + 1)]
    lefts, rights = zip(*pairs)

    def build(values, holes):
        inner = Inner(*(maybe_none(v) if holes else v for v in values[:2]))
        items = [maybe_none(v) if holes else v for v in values[2 : 2 + n_items]]
        return Outer(maybe_none(inner) if holes else inner, items, maybe_none(values[-1]) if holes else values[-1])

    return build(lefts, True), build(rights, False)


def _none_leaves(tree):
    return jax.tree_util.tree_flatten(tree, is_leaf=lambda v: v is None)[0]


@settings(max_examples=40, deadline=None)
@given(tree_pairs())
def test_property_add_then_sub_is_identity(pair):
    a, b = pair
    assert (a + b) - b == a
    assert -(-a) == a and a * 1 == a and 0 + a == a


@settings(max_examples=40, deadline=None)
@given(tree_pairs(), _ints)
def test_property_reflected_sub_is_negated_sub(pair, k):
    a, _ = pair
    assert k - a == -(a - k)


@settings(max_examples=40, deadline=None)
@given(tree_pairs(none_rate=0.4))
def test_property_none_on_the_left_stays_none_on_the_right_keeps_left(pair):
    a, b = pair
    total = a + b
    assert jax.tree_util.tree_structure(total, is_leaf=lambda v: v is None) == jax.tree_util.tree_structure(
        a, is_leaf=lambda v: v is None
    )
    for got, left in zip(_none_leaves(total), _none_leaves(a)):
        assert (got is None) == (left is None)
    assert b + a == b + (a | b * 0)  # right None keeps the left value: like adding zero there
