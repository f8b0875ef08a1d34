"""Call recording under jax.eval_shape: what is recorded, that nothing is computed, that classes are restored,
and the checks of the `array` argument (shared by summary, tree_box and plot_model)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_viz_model_walk import X, level2, linear, seed_model

import kernex
from demo.models import Linear
from kernex import treeclass
from kernex._src.viz.call_shapes import record_calls


def shapes(calls):
    return {path: (call.input_str, call.output_str) for path, call in calls.items()}


def test_seed_model_records_root_and_children():
    assert shapes(record_calls(seed_model(), X, "tree_box")) == {
        (): ("f32[100,1]", "f32[100,1]"),
        ("l1",): ("f32[100,1]", "f32[100,128]"),
        ("l2",): ("f32[100,128]", "f32[100,128]"),
        ("l3",): ("f32[100,128]", "f32[100,1]"),
    }
    assert record_calls(seed_model(), None, "tree_box") == {}


def test_runs_under_eval_shape_on_tracers_without_computing():
    seen = []

    @treeclass
    class Spy:
        inner: Linear

        def __call__(self, x):
            seen.append(isinstance(x, jax.core.Tracer))
            return self.inner(x)

    calls = record_calls(Spy(linear(0, 2, 3)), jnp.ones((4, 2)), "summary")
    assert seen == [True]
    assert isinstance(calls[("inner",)].output, jax.ShapeDtypeStruct)  # no tracer leaks out


def test_call_is_restored_after_success_and_after_errors():
    @treeclass
    class Broken:
        inner: Linear

        def __call__(self, x):
            return self.inner(x) @ jnp.ones((7, 7))  # shape mismatch

    original = Linear.__call__
    record_calls(seed_model(), X, "tree_box")
    assert Linear.__call__ is original and "__call__" in Broken.__dict__
    with pytest.raises(TypeError) as info:
        record_calls(Broken(linear(0, 2, 3)), jnp.ones((4, 2)), "tree_box")
    assert any("tree_box ran `model(array)` under jax.eval_shape" in note for note in info.value.__notes__)
    assert Linear.__call__ is original
    assert Broken.__call__.__qualname__.endswith("Broken.__call__")


def test_inherited_and_super_calls_are_recorded_once_and_unpatched_afterwards():
    @treeclass
    class Base:
        w: jax.Array

        def __call__(self, x):
            return x * self.w

    @treeclass
    class Child(Base):
        def __call__(self, x):
            return super().__call__(x + 1.0).sum(axis=0)

    @treeclass
    class Inherits(Base):
        pass

    @treeclass
    class Holder:
        a: Base
        b: Child
        c: Inherits

        def __call__(self, x):
            return self.a(x), self.b(x), self.c(x[:1])

    w = jnp.ones((1, 3))
    calls = record_calls(Holder(Base(w), Child(w), Inherits(w)), jnp.ones((2, 3)), "f")
    assert shapes(calls)[("b",)] == ("f32[2,3]", "f32[3]")  # the outer call, not super()'s
    assert shapes(calls)[("c",)] == ("f32[1,3]", "f32[1,3]")
    assert "__call__" not in Inherits.__dict__ and Inherits.__call__ is Base.__call__


def test_shared_instance_is_recorded_at_every_path():
    shared = linear(0, 2, 2)

    @treeclass
    class Tied:
        enc: Linear
        dec: Linear

        def __call__(self, x):
            return self.dec(x)

    calls = shapes(record_calls(Tied(shared, shared), jnp.ones((3, 2)), "f"))
    assert calls[("enc",)] == calls[("dec",)] == ("f32[3,2]", "f32[3,2]")


def test_copies_made_inside_call_are_not_recorded():
    @treeclass
    class Copies:
        inner: Linear

        def __call__(self, x):
            doubled = jax.tree_util.tree_map(lambda leaf: 2 * leaf, self.inner)
            return doubled(x)

    calls = record_calls(Copies(linear(0, 2, 2)), jnp.ones((1, 2)), "f")
    assert ("inner",) not in calls and () in calls


def test_chain_fallback_needs_callable_layers():
    calls = shapes(record_calls(_Stack(linear(0, 1, 3), linear(1, 3, 2)), X, "f"))
    assert calls == {("a",): ("f32[100,1]", "f32[100,3]"), ("b",): ("f32[100,3]", "f32[100,2]")}
    with pytest.raises(TypeError, match=r"tree_box\(model, array=\.\.\.\) needs callable layers: level2 has no "
                                        r"__call__.*level0\(d\) at model\.e\.d has no __call__ either"):
        record_calls(level2(), X, "tree_box")


def test_chain_fallback_errors_name_the_layer():
    with pytest.raises(TypeError) as info:
        record_calls(_Stack(linear(0, 1, 3), linear(1, 4, 2)), X, "summary")
    assert any("summary evaluated layer Linear(b) on f32[100,3]" in note for note in info.value.__notes__)


@treeclass
class _Stack:
    a: Linear
    b: Linear


# ---------------------------------------------------------------- the `array` argument


@pytest.mark.parametrize("func", ["summary", "tree_box", "plot_model"])
def test_array_that_is_a_list_of_numbers_names_array_and_suggests_asarray(func):
    view = getattr(kernex.viz, func)
    with pytest.raises(TypeError, match=rf"{func}\(model, array=\.\.\.\) runs `model\(array\)` under jax\.eval_shape.*"
                                        r"`array` must be an array \(jax\.Array, numpy\.ndarray or "
                                        r"jax\.ShapeDtypeStruct\) or a tuple/list/dict of arrays; got list whose "
                                        r"element array\[0\]\[0\] is float 1\.0\. To fix it, convert it first: "
                                        rf"`{func}\(model, array=jnp\.asarray\(\[\[1\.0\]\]\)\)`"):
        view(seed_model(), array=[[1.0]])


def test_array_that_is_a_string_or_number_names_array():
    with pytest.raises(TypeError, match=r"summary\(model, array=\.\.\.\).*got str 'abc'\. To fix it, pass the input "
                                        r"the model is called with, e\.g\. `summary\(model, array=jnp\.ones"):
        kernex.viz.summary(seed_model(), array="abc")
    with pytest.raises(TypeError, match=r"got float 2\.0\. To fix it, convert it first: "
                                        r"`tree_box\(model, array=jnp\.asarray\(2\.0\)\)`"):
        kernex.viz.tree_box(seed_model(), array=2.0)
    with pytest.raises(TypeError, match=r"got tuple whose element array\[1\] is str 'mask'"):
        record_calls(seed_model(), (X, "mask"), "summary")


def test_array_likes_and_containers_of_arrays_are_accepted():
    @treeclass
    class Pair:
        inner: Linear

        def __call__(self, xy):
            x, y = xy
            return self.inner(x) + y

    expected = {(): ("(f32[100,1], f32[1,3])", "f32[100,3]"), ("inner",): ("f32[100,1]", "f32[100,3]")}
    assert shapes(record_calls(Pair(linear(0, 1, 3)), (X, jnp.ones((1, 3))), "summary")) == expected
    assert shapes(record_calls(Pair(linear(0, 1, 3)), [X, np.ones((1, 3), np.float32)], "summary"))[("inner",)] == (
        "f32[100,1]", "f32[100,3]")
    abstract = jax.ShapeDtypeStruct((100, 1), jnp.float32)
    assert shapes(record_calls(seed_model(), abstract, "summary")) == shapes(record_calls(seed_model(), X, "summary"))


def test_model_without_call_that_is_itself_a_layer_gets_a_clear_sentence():
    @treeclass
    class Params:
        w: jax.Array

    message = (r"summary\(model, array=\.\.\.\) shows the shapes of `model\(array\)`, but Params defines no "
               r"__call__, so it cannot be run on `array`\. Define `__call__\(self, x\)` on Params, or call "
               r"`summary\(model\)` without `array`\.$")
    with pytest.raises(TypeError, match=message):
        kernex.viz.summary(Params(jnp.ones(3)), array=X)
    assert "Params" in kernex.viz.summary(Params(jnp.ones(3)))  # without `array` the table is printed


def test_chain_error_names_the_uncallable_layer_by_its_path():
    with pytest.raises(TypeError) as info:
        record_calls(level2(), X, "summary")
    message = str(info.value)
    assert "layer level0(d) at model.e.d has no __call__ either" in message
    assert "(itself)" not in message and message.endswith("or call `summary(model)` without `array`.")
