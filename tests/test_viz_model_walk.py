"""kernex.viz model walking (nodes, layers, labels, argument checks) and the example models of the viz tests.

The other ``test_viz_*`` files import the models defined here: the seed's
StackedLinear, the nested example with static fields (``level2``, from ``seed_trees``) and ``M`` (inexact
and other leaves).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest
from seed_trees import level0, level2

import kernex
from demo.models import Linear, StackedLinear
from kernex import static_field, treeclass
from kernex._src.viz.model_walk import (
    check_model,
    field_items,
    is_layer,
    label,
    layers,
    walk_nodes,
)

X = jnp.linspace(0, 1, 100)[:, None]  # the seed's x: f32[100,1]


def seed_model() -> StackedLinear:
    return StackedLinear(key=jax.random.PRNGKey(0), in_dim=1, out_dim=1)


@treeclass
class M:
    w: jnp.ndarray
    n: jnp.ndarray
    s: float
    k: int
    name: str = static_field(default="m")


def make_m() -> M:
    return M(jnp.ones((2, 3)), jnp.arange(4), 1.5, 3)


def linear(key: int, in_dim: int, out_dim: int) -> Linear:
    return Linear(jax.random.PRNGKey(key), in_dim, out_dim)


@treeclass
class Sequential:
    """Layers in a list: one layer for the views, since containers are not inspected (docs/viz.md)."""

    layers: list

    def __call__(self, x):
        for layer in self.layers:
            x = jnp.tanh(layer(x))
        return x


@treeclass
class Reordered:
    """Declares ``first`` before ``second`` but calls ``second`` first (a chain in field order would fail)."""

    first: Linear
    second: Linear

    def __call__(self, x):
        return self.first(jax.nn.relu(self.second(x)))


def make_reordered() -> Reordered:
    return Reordered(first=linear(0, 5, 2), second=linear(1, 3, 5))


def test_walk_nodes_is_depth_first_pre_order_in_declaration_order():
    m = level2()
    assert [(path, type(node).__name__) for path, node in walk_nodes(m)] == [
        ((), "level2"), (("e",), "level1"), (("e", "d"), "level0"), (("f",), "level0")
    ]
    assert [path for path, _ in layers(m)] == [("e", "d"), ("f",)]
    assert [path for path, _ in layers(seed_model())] == [("l1",), ("l2",), ("l3",)]


def test_layers_are_innermost_treeclasses_and_containers_are_not_inspected():
    model = seed_model()
    assert not is_layer(model) and is_layer(model.l1)

    assert is_layer(Sequential([model.l1, model.l2]))  # lists are not inspected
    assert layers(model.l1) == [((), model.l1)]  # an innermost model is its own only layer


def test_static_fields_are_walked_and_flagged():
    node = level0(1, 2)
    assert field_items(node) == [("a", 1, False), ("b", 2, True)]

    @treeclass
    class Named:
        w: float
        label: str  # str values are static

    assert field_items(Named(1.0, "x")) == [("w", 1.0, False), ("label", "x", True)]


def test_labels_name_the_field_or_parent():
    model = seed_model()
    assert label(model, ()) == "StackedLinear(Parent)"
    assert label(model.l2, ("l2",)) == "Linear(l2)"
    assert label(level0(1, 2), ("e", "d")) == "level0(d)"


@pytest.mark.parametrize("func", ["summary", "tree_box", "tree_diagram", "tree_mermaid", "plot_model"])
@pytest.mark.parametrize("bad", [{"w": 1.0}, jnp.ones(3), None])
def test_every_view_rejects_non_treeclass_models(func, bad):
    with pytest.raises(TypeError, match=rf"{func}\(model=\.\.\.\).*must be an instance of a @treeclass class"):
        getattr(kernex.viz, func)(bad)


def test_passing_the_class_instead_of_an_instance_says_so():
    expected = r"pass an instance, not the class itself: `summary\(StackedLinear\(\.\.\.\)\)`"
    with pytest.raises(TypeError, match=expected):
        kernex.viz.summary(StackedLinear)
    with pytest.raises(TypeError, match="save_viz"):
        kernex.viz.save_viz({"a": 1}, "unused")
    check_model(seed_model(), "summary")  # no error for a treeclass instance


def test_import_kernex_alone_makes_viz_usable():
    import subprocess
    import sys

    code = (
        "import sys, kernex; assert 'matplotlib' not in sys.modules, 'viz must not import plotting libraries'; "
        "print(kernex.viz.tree_diagram.__module__, sorted(kernex.viz.__all__))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split(" ", 1)[0] == "kernex._src.viz.tree_text"
    assert "'plot_model', 'save_viz', 'summary', 'tree_box', 'tree_diagram', 'tree_mermaid'" in out
