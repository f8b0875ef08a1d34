"""``@treeclass``: declaration, pytree registration, freezing, hashing, str/repr, JAX transformations.

Rules: docs/treeclass.md.
"""

from __future__ import annotations

import copy
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from seed_trees import A, Test, level2

import kernex
from demo.models import AverageBlurLayer, MaxPool2D, StackedLinear
from kernex import static_field, treeclass
from kernex._src.tree.treeclass import is_static, is_treeclass, tree_fields


@treeclass
class P:
    w: jax.Array
    b: float
    name: str = static_field(default="p")


# ---------------------------------------------------------------- declaration


def test_decorator_keeps_the_class_and_its_name():
    assert type(A).__name__ == "Test" and isinstance(A, Test)
    assert [f.name for f in dataclasses.fields(Test)] == ["a", "b", "c", "name"]


def test_generated_init_positional_keyword_defaults_and_factory():
    @treeclass
    class D:
        a: int
        b: list = dataclasses.field(default_factory=lambda: [1, 2])
        c: int = 3

    d1, d2 = D(1), D(a=1, c=4)
    assert (d1.a, d1.b, d1.c) == (1, [1, 2], 3)
    assert (d2.a, d2.c) == (1, 4)
    assert d1.b is not D(1).b  # factory called per instance
    assert Test(a=None, b=20, c=30, name="A").a is None


def test_custom_init_is_kept_and_may_leave_defaults_unordered():
    # seed MaxPool2D: static fields without defaults, own keyword-only __init__
    pool = MaxPool2D()
    assert (pool.kernel_size, pool.strides, pool.padding) == ((2, 2), 2, "valid")
    assert MaxPool2D(kernel_size=(3, 3)).kernel_size == (3, 3)
    assert jax.tree_util.tree_leaves(pool) == [] and callable(pool)
    with pytest.raises(TypeError):
        MaxPool2D((3, 3))  # the class's own signature is kept (keyword-only)


def test_custom_init_fields_with_defaults_may_be_left_unassigned():
    @treeclass
    class Half:
        a: int
        b: int = 7
        c: list = dataclasses.field(default_factory=list)

        def __init__(self, a):
            self.a = a

    h = Half(1)
    assert (h.a, h.b, h.c) == (1, 7, [])
    assert jax.tree_util.tree_leaves(h) == [1, 7]


def test_unassigned_field_in_custom_init_is_named():
    @treeclass
    class Broken:
        weight: float
        bias: float

        def __init__(self):
            self.weight = 1.0

    with pytest.raises(AttributeError, match=r"Broken.__init__ did not assign field 'bias'.*self.bias = "):
        Broken()


def test_user_methods_and_dunders_in_the_class_body_are_kept():
    @treeclass
    class Custom:
        a: int

        def __repr__(self):
            return "custom!"

        def __add__(self, other):
            return "own add"

        def __call__(self, x):
            return x + self.a

    c = Custom(1)
    assert repr(c) == "custom!" and c + c == "own add" and c(2) == 3
    assert (c - c).a == 0  # the other operators are still attached


def test_a_field_named_like_a_method_wins():
    @treeclass
    class Stats:
        sum: float
        mean: float

    s = Stats(1.0, 2.0)
    assert (s.sum, s.mean) == (1.0, 2.0)
    assert (s + 1).sum == 2.0


def test_nested_treeclass_defaults_need_hashable_instances():
    m = level2()  # level1 and level2 take treeclass instances as defaults
    assert jax.tree_util.tree_leaves(m) == [10, 100]
    assert m.e.d.b == 20 and m.f.b == 200


def test_treeclass_subclass_of_treeclass_inherits_fields():
    @treeclass
    class Base:
        a: int

        def __init__(self, a):
            self.a = a

    @treeclass
    class Child(Base):
        b: int = 0

        def __init__(self, a, b):
            super().__init__(a)  # must not freeze the instance early
            self.b = b

    c = Child(1, 2)
    assert jax.tree_util.tree_leaves(c) == [1, 2]
    assert (c + c).b == 4
    with pytest.raises(AttributeError, match="frozen"):
        c.b = 3


def test_undecorated_subclass_is_rejected_with_a_fix():
    class Plain(Test):
        pass

    with pytest.raises(TypeError, match=r"add @treeclass above `class Plain`"):
        Plain(1, 2, 3, "x")


def test_decorating_a_non_class_raises():
    with pytest.raises(TypeError, match=r"@treeclass decorates a class.*got <function"):
        treeclass(lambda: None)
    with pytest.raises(TypeError, match="without parentheses"):
        treeclass()


# ---------------------------------------------------------------- pytree behaviour


def test_leaves_and_static_name():
    assert jax.tree_util.tree_leaves(A) == [10, 20, 30]
    assert jax.tree_util.tree_leaves(Test([10, 10], 20, 30, "B")) == [10, 10, 20, 30]


def test_key_paths_name_fields():
    paths = [p for p, _ in jax.tree_util.tree_flatten_with_path(A)[0]]
    assert paths == [(jax.tree_util.GetAttrKey("a"),), (jax.tree_util.GetAttrKey("b"),), (jax.tree_util.GetAttrKey("c"),)]

    @treeclass
    class Outer:
        inner: Test
        xs: list

    o = Outer(A, [1.0, 2.0])
    assert [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(o)[0]] == [
        ".inner.a", ".inner.b", ".inner.c", ".xs[0]", ".xs[1]"
    ]


def test_statics_are_part_of_the_structure_and_retrace():
    assert jax.tree_util.tree_structure(A) != jax.tree_util.tree_structure(Test(10, 20, 30, "B"))
    traces = []

    @jax.jit
    def f(t):
        traces.append(t.name)
        return t + 1

    assert f(A) == Test(11, 21, 31, "A")
    f(Test(1, 2, 3, "A"))
    f(Test(1, 2, 3, "B"))
    assert traces == ["A", "B"]


def test_str_values_are_static_without_static_field():
    @treeclass
    class Named:
        w: float
        label: str

    n = Named(1.0, "layer")
    assert jax.tree_util.tree_leaves(n) == [1.0]
    assert [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(n)[0]] == [".w"]
    out = jax.jit(lambda m: m * 2)(n)
    assert out.label == "layer" and float(out.w) == 2.0
    assert jax.tree_util.tree_structure(n) != jax.tree_util.tree_structure(Named(1.0, "other"))


def test_unflatten_does_not_call_init_and_drops_extra_attributes():
    calls = []

    @treeclass
    class Counted:
        a: float

        def __init__(self, a):
            calls.append(a)
            self.a = a

    c = Counted(1.0)
    c.register_op(lambda x: x, name="ident")
    leaves, treedef = jax.tree_util.tree_flatten(c)
    rebuilt = jax.tree_util.tree_unflatten(treedef, [5.0])
    assert calls == [1.0] and rebuilt.a == 5.0 and type(rebuilt) is Counted
    assert not hasattr(rebuilt, "ident")
    with pytest.raises(AttributeError, match="frozen"):
        rebuilt.a = 2.0


def test_lists_stay_lists():
    b = Test([10, 10], 20, 30, "B") + 1
    assert b.a == [11, 11] and type(b.a) is list


def test_none_fields_have_no_leaves():
    t = Test(None, 2, None, "t")
    assert jax.tree_util.tree_leaves(t) == [2]
    assert jax.tree_util.tree_map(lambda x: x * 3, t) == Test(None, 6, None, "t")


# ---------------------------------------------------------------- mutability (frozen after __init__)


def test_frozen_after_init_with_functional_alternatives():
    with pytest.raises(AttributeError, match=r"cannot assign field 'a'.*obj\.at\['a'\]\.set\(value\).*dataclasses\.replace\(obj, a=value\)"):
        A.a = 5
    with pytest.raises(AttributeError, match=r"cannot delete field 'b'.*frozen"):
        del A.b
    with pytest.raises(AttributeError, match=r"cannot assign attribute 'extra'.*not a field \(a, b, c, name\).*register_op"):
        A.extra = 1
    assert A.a == 10
    assert dataclasses.replace(A, a=5) == Test(5, 20, 30, "A")
    assert A.at["a"].set(5) == Test(5, 20, 30, "A")


def test_frozen_error_offers_only_alternatives_that_work():
    # .at[...].set leaves a static field unchanged: only dataclasses.replace is offered
    with pytest.raises(AttributeError, match=r"cannot assign field 'name'.*instead: `dataclasses\.replace\(obj, name=value\)`\.$"):
        A.name = "B"

    @treeclass
    class Custom:
        w: float

        def __init__(self, scale):
            self.w = 2.0 * scale

    with pytest.raises(AttributeError, match=r"obj\.at\['w'\]\.set\(value\)` or `dataclasses\.replace\(obj, w=value\)` \(it calls your __init__ again\)"):
        Custom(1.0).w = 3.0


def test_copies_are_equal_and_frozen():
    for clone in (copy.copy(A), copy.deepcopy(A)):
        assert clone == A and clone is not A
        with pytest.raises(AttributeError, match="frozen"):
            clone.a = 1


# ---------------------------------------------------------------- static values


def test_static_field_merges_metadata():
    @treeclass
    class M:
        k: int = static_field(default=3, metadata={"doc": "kernel"})

    (field,) = dataclasses.fields(M)
    assert field.metadata["doc"] == "kernel" and is_static(M(), field)


def test_array_as_static_value_is_rejected():
    @treeclass
    class Bad:
        k: object = static_field()

    with pytest.raises(TypeError, match=r"Bad\.k is a static_field but was given an array \(i32\[2\]\).*hashes them.*normal field"):
        Bad(jnp.array([1, 2]))
    with pytest.raises(TypeError, match=r"array \(f64\[3\]\)"):
        Bad(np.zeros(3))


def test_unhashable_static_value_warns():
    @treeclass
    class Listy:
        k: object = static_field()

    with pytest.warns(UserWarning, match=r"Listy\.k is a static_field holding an unhashable list.*tuple"):
        Listy([3, 3])


# ---------------------------------------------------------------- str / repr


def test_str_and_repr_seed_examples():
    assert str(A) == "Test(a=10,b=20,c=30,name=A)"
    assert repr(A) == "Test(a=10,b=20,c=30,name='A')"
    assert str(Test([11, 11], 21, 31, "B")) == "Test(a=[11, 11],b=21,c=31,name=B)"
    assert repr(P(jnp.zeros((1, 128)), 1.5)) == "P(w=f32[1,128],b=1.5,name='p')"


def test_repr_inside_init_shows_unassigned_fields():
    seen = []

    @treeclass
    class Partial:
        a: float
        b: float
        name: str = static_field()

        def __init__(self, a):
            self.a = a
            seen.append((repr(self), str(self), hash(self) == hash(self)))
            self.b, self.name = 2.0, "p"

    Partial(1.0)
    assert seen == [("Partial(a=1.0,b=<unassigned>,name=<unassigned>)", "Partial(a=1.0,b=<unassigned>,name=<unassigned>)", True)]


def test_nested_repr_and_str_use_the_inner_forms():
    @treeclass
    class Outer:
        inner: Test
        xs: list

    o = Outer(A, [jnp.ones(3), 2])
    assert repr(o) == "Outer(inner=Test(a=10,b=20,c=30,name='A'),xs=[f32[3], 2])"
    assert str(Outer(A, [1])) == "Outer(inner=Test(a=10,b=20,c=30,name=A),xs=[1])"


# ---------------------------------------------------------------- hashing (class and static values; never fails on array leaves)


def test_hash_with_array_leaves_and_consistency_with_eq():
    p1, p2 = P(jnp.array([1.0, 2.0]), 3.0), P(jnp.array([1.0, 2.0]), 3.0)
    assert p1 == p2 and hash(p1) == hash(p2)
    assert hash(A) == hash(Test(1, 2, 3, "A")) != hash(Test(1, 2, 3, "B"))
    assert {A: "x"}[Test(10, 20, 30, "A")] == "x"
    assert bool(Test(0, 0, 0, "z")) is True


def test_hash_with_unhashable_static_values_keeps_equal_trees_equal():
    @treeclass
    class Listy:
        k: object = static_field()

    with pytest.warns(UserWarning):
        one, two = Listy([1]), Listy([1])
    assert hash(one) == hash(two)
    with pytest.warns(UserWarning):
        left, right = Listy({"x": 1, "y": 2}), Listy({"y": 2, "x": 1})  # equal, with different reprs
    assert left == right and hash(left) == hash(right)


# ---------------------------------------------------------------- viz helper API


def test_is_treeclass_tree_fields_is_static():
    @treeclass
    class M:
        w: jax.Array
        label: str
        k: int = static_field(default=3)

    m = M(jnp.ones(2), "m")
    assert is_treeclass(m) and not is_treeclass(M) and not is_treeclass({"w": 1}) and not is_treeclass(None)
    assert [f.name for f in tree_fields(m)] == ["w", "label", "k"]
    assert [is_static(m, f) for f in tree_fields(m)] == [False, True, True]
    assert is_static(m, "k") and not is_static(m, "w")
    with pytest.raises(TypeError, match="expected a treeclass instance; got dict"):
        tree_fields({"w": 1})
    with pytest.raises(KeyError, match="'zz' is not a field of M"):
        is_static(m, "zz")


# ---------------------------------------------------------------- JAX transformations


def test_grad_returns_same_class_with_statics():
    grads = jax.grad(lambda p: (p.w**2).sum() + p.b**2)(P(jnp.array([1.0, 2.0]), 3.0))
    assert type(grads) is P and grads.name == "p"
    np.testing.assert_array_equal(grads.w, [2.0, 4.0])
    assert float(grads.b) == 6.0


def test_vmap_over_a_batch_of_trees_and_traced_scalars():
    batch = P(jnp.arange(6.0).reshape(3, 2), jnp.array([1.0, 2.0, 3.0]))
    out = jax.vmap(lambda p: p * p.b)(batch)
    np.testing.assert_array_equal(out.w, [[0, 1], [4, 6], [12, 15]])
    scaled = jax.jit(lambda p, lr: p - lr * p)(batch, 0.5)
    np.testing.assert_array_equal(scaled.w, batch.w * 0.5)


def test_eval_shape_and_tree_map():
    shapes = jax.eval_shape(lambda p: p * 2, P(jnp.ones((2, 3)), 1.0))
    assert type(shapes) is P and shapes.w.shape == (2, 3)
    assert jax.tree_util.tree_map(lambda x: x + 1, A) == Test(11, 21, 31, "A")


def test_jit_of_a_layer_instance_seed_layers():
    layer = jax.jit(MaxPool2D(kernel_size=(2, 2), strides=(2, 2), padding="same"))
    np.testing.assert_array_equal(layer(jnp.arange(1, 26).reshape(1, 1, 5, 5)), [[[[7, 9, 10], [17, 19, 20], [22, 24, 25]]]])

    image = jax.random.randint(jax.random.PRNGKey(1), (1, 2, 9, 9), 0, 255).astype(jnp.uint8)
    blurred = jax.jit(AverageBlurLayer(in_channels=2, kernel_size=(3, 3)))(image)
    padded = np.pad(np.asarray(image, np.float32), ((0, 0), (0, 0), (1, 1), (1, 1)))
    reference = sum(padded[..., i : i + 9, j : j + 9] for i in range(3) for j in range(3)) / 9
    assert blurred.shape == image.shape and blurred.dtype == jnp.uint8
    np.testing.assert_allclose(np.asarray(blurred, np.float32), np.floor(reference), atol=1)


def test_static_fields_stay_python_values_when_the_layer_is_a_jit_argument():
    layer = MaxPool2D(kernel_size=(3, 3), strides=(1, 1), padding="valid")
    out = jax.jit(lambda m, x: m(x))(layer, jnp.arange(1, 26).reshape(1, 1, 5, 5))
    np.testing.assert_array_equal(out, [[[[13, 14, 15], [18, 19, 20], [23, 24, 25]]]])


def test_jit_of_a_traced_layer_inside_grad():
    # jax.jit(model) caches the model and compares it with `==`; under grad its leaves are tracers
    model = StackedLinear(key=jax.random.PRNGKey(0), in_dim=1, out_dim=1)
    x = jnp.linspace(0, 1, 8)[:, None]

    def loss(m):
        return jnp.sum(jax.jit(m)(x) ** 2)

    grads = [jax.grad(loss)(model) for _ in range(2)]
    expected = jax.grad(lambda m: jnp.sum(m(x) ** 2))(model)
    for g in grads:
        for a, b in zip(jax.tree_util.tree_leaves(g), jax.tree_util.tree_leaves(expected)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    # traced leaves have no value: a tree equals itself, never another traced tree
    p = P(jnp.ones(2), 1.0)
    assert jax.jit(lambda t, u: jnp.array([t == t, t == u]))(p, p).tolist() == [True, False]


def test_equality_with_types_does_not_raise_for_signature_inspection_d30():
    layer = AverageBlurLayer(in_channels=1, kernel_size=(3, 3))
    assert (layer == int) is False and (layer != type) is True
    shape = jax.eval_shape(layer, jax.ShapeDtypeStruct((1, 1, 5, 5), jnp.uint8))
    assert shape.shape == (1, 1, 5, 5)


def test_seed_training_loop_loss_falls():
    from demo.regression import train

    model, x, y, initial, final = train(steps=2000)
    assert isinstance(model, StackedLinear) and model.l1.weight.shape == (1, 128)
    assert final < initial / 100, (initial, final)


def test_optax_adam_trains_a_treeclass_model():
    import optax

    x = jnp.linspace(0, 1, 32)[:, None]
    y = jnp.sin(3 * x)
    model = StackedLinear(key=jax.random.PRNGKey(0), in_dim=1, out_dim=1)
    optimizer = optax.adam(1e-2)
    state = optimizer.init(model)

    def loss(m):
        return jnp.mean((m(x) - y) ** 2)

    @jax.jit
    def step(m, s):
        value, grads = jax.value_and_grad(loss)(m)
        updates, s = optimizer.update(grads, s, m)
        return optax.apply_updates(m, updates), s, value

    losses = []
    for _ in range(30):
        model, state, value = step(model, state)
        losses.append(float(value))
    assert type(model) is StackedLinear and repr(model.l3) == "Linear(weight=f32[128,1],bias=f32[1,1])"
    assert losses[-1] < losses[0] / 2, losses


def test_public_api_exports():
    assert kernex.treeclass is treeclass and kernex.static_field is static_field
    assert all(hasattr(kernex, name) for name in ("kmap", "kscan", "treeclass", "static_field"))
