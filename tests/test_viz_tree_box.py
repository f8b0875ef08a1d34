"""kernex.viz.tree_box: exact boxes for the seed and example models, and recorded calls for other models."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
from test_viz_model_walk import (
    Sequential,
    X,
    level2,
    linear,
    make_reordered,
    seed_model,
)
from test_viz_summary import assert_same_lines

import kernex
from demo.models import Linear
from kernex import static_field, treeclass
from kernex._src.tree.format import fmt

SEED_BOX_WITH_ARRAY = '┌──────────────────────────────────────┐\n│StackedLinear(Parent)                 │\n├──────────────────────────────────────┤\n│┌────────────┬────────┬──────────────┐│\n││            │ Input  │ f32[100,1]   ││\n││ Linear(l1) │────────┼──────────────┤│\n││            │ Output │ f32[100,128] ││\n│└────────────┴────────┴──────────────┘│\n│┌────────────┬────────┬──────────────┐│\n││            │ Input  │ f32[100,128] ││\n││ Linear(l2) │────────┼──────────────┤│\n││            │ Output │ f32[100,128] ││\n│└────────────┴────────┴──────────────┘│\n│┌────────────┬────────┬──────────────┐│\n││            │ Input  │ f32[100,128] ││\n││ Linear(l3) │────────┼──────────────┤│\n││            │ Output │ f32[100,1]   ││\n│└────────────┴────────┴──────────────┘│\n└──────────────────────────────────────┘'  # noqa: E501
SEED_BOX = '┌──────────────────────────────┐\n│StackedLinear(Parent)         │\n├──────────────────────────────┤\n│┌────────────┬────────┬──────┐│\n││            │ Input  │ None ││\n││ Linear(l1) │────────┼──────┤│\n││            │ Output │ None ││\n│└────────────┴────────┴──────┘│\n│┌────────────┬────────┬──────┐│\n││            │ Input  │ None ││\n││ Linear(l2) │────────┼──────┤│\n││            │ Output │ None ││\n│└────────────┴────────┴──────┘│\n│┌────────────┬────────┬──────┐│\n││            │ Input  │ None ││\n││ Linear(l3) │────────┼──────┤│\n││            │ Output │ None ││\n│└────────────┴────────┴──────┘│\n└──────────────────────────────┘'  # noqa: E501
LAYER_BOX_WITH_ARRAY = '┌────────────────┬────────┬──────────────┐\n│                │ Input  │ f32[100,1]   │\n│ Linear(Parent) │────────┼──────────────┤\n│                │ Output │ f32[100,128] │\n└────────────────┴────────┴──────────────┘'  # noqa: E501
ONE_FIELD_BOX = '┌──────────────┬────────┬──────┐\n│              │ Input  │ None │\n│ test(Parent) │────────┼──────┤\n│              │ Output │ None │\n└──────────────┴────────┴──────┘'  # noqa: E501
NESTED_STATIC_BOX = '┌───────────────────────────────┐\n│level2(Parent)                 │\n├───────────────────────────────┤\n│┌─────────────────────────────┐│\n││level1(e)                    ││\n│├─────────────────────────────┤│\n││┌───────────┬────────┬──────┐││\n│││           │ Input  │ None │││\n│││ level0(d) │────────┼──────┤││\n│││           │ Output │ None │││\n││└───────────┴────────┴──────┘││\n│└─────────────────────────────┘│\n│┌───────────┬────────┬──────┐  │\n││           │ Input  │ None │  │\n││ level0(f) │────────┼──────┤  │\n││           │ Output │ None │  │\n│└───────────┴────────┴──────┘  │\n└───────────────────────────────┘'  # noqa: E501

_LABEL = re.compile(r"│ (\w+\(\w+\)) │────────┼")
_CELL = re.compile(r"│ (Input |Output) │ (.*?) +│")


def layer_boxes(text: str) -> list[tuple[str, str, str]]:
    """``(label, input, output)`` of every layer box, top to bottom."""
    lines = text.split("\n")
    found = []
    for k, line in enumerate(lines):
        match = _LABEL.search(line)
        if match:
            shape_in = _CELL.search(lines[k - 1]).group(2)
            shape_out = _CELL.search(lines[k + 1]).group(2)
            found.append((match.group(1), shape_in, shape_out))
    return found


def assert_rectangular(text: str) -> None:
    lines = text.split("\n")
    assert len({len(line) for line in lines}) == 1, "every line of the outer box has the same width"
    assert lines[0][0] == "┌" and lines[-1][0] == "└" and all(line[-1] in "┐│┤┘" for line in lines)


def test_seed_with_array():
    assert kernex.viz.tree_box(seed_model(), array=X) == SEED_BOX_WITH_ARRAY
    assert_same_lines(kernex.viz.tree_box(seed_model(), array=X), SEED_BOX_WITH_ARRAY)


def test_seed_without_array():
    assert kernex.viz.tree_box(seed_model()) == SEED_BOX


def test_innermost_model_is_a_single_layer_box():
    assert kernex.viz.tree_box(seed_model().l1, array=X) == LAYER_BOX_WITH_ARRAY


def test_non_callable_layer_without_array():
    @treeclass
    class test:  # noqa: N801
        a: int = 1

    assert kernex.viz.tree_box(test()) == ONE_FIELD_BOX


def test_nested_containers_and_static_fields():
    assert kernex.viz.tree_box(level2()) == NESTED_STATIC_BOX


def test_children_called_in_another_order_show_their_own_calls_in_declaration_order():
    model, x = make_reordered(), jnp.ones((10, 3))
    hidden = model.second(x)
    text = kernex.viz.tree_box(model, array=x)
    assert layer_boxes(text) == [
        ("Linear(first)", fmt(hidden), fmt(model.first(hidden))),
        ("Linear(second)", fmt(x), fmt(hidden)),
    ]
    assert_rectangular(text)


def test_child_called_twice_shows_its_first_call_and_uncalled_child_shows_none():
    @treeclass
    class Twice:
        block: Linear
        spare: Linear

        def __call__(self, x):
            h = self.block(x)
            return self.block(jnp.concatenate([h, h]))

    x = jnp.ones((6, 4))
    text = kernex.viz.tree_box(Twice(linear(0, 4, 4), linear(1, 4, 4)), array=x)
    assert layer_boxes(text) == [("Linear(block)", "f32[6,4]", "f32[6,4]"), ("Linear(spare)", "None", "None")]


def test_several_arguments_keywords_and_tuple_results():
    @treeclass
    class Mix:
        w: jax.Array

        def __call__(self, x, y, *, scale=1.0):
            return x @ self.w, y.sum() * scale

    @treeclass
    class Pair:
        mix: Mix

        def __call__(self, x):
            return self.mix(x, x.astype(jnp.int32), scale=2.0)

    x = jnp.ones((3, 2))
    text = kernex.viz.tree_box(Pair(Mix(jnp.ones((2, 5)))), array=x)
    assert layer_boxes(text) == [("Mix(mix)", "f32[3,2], i32[3,2], scale=2.0", "(f32[3,5], f32[])")]
    assert_rectangular(text)


@treeclass
class Block:
    up: Linear
    down: Linear
    name: str = static_field(default="block")

    def __call__(self, x):
        return x + self.down(jax.nn.gelu(self.up(x)))  # residual


@treeclass
class Net:
    stem: Linear
    blocks: Block
    head: Linear
    depth: int = 2

    def __call__(self, x):
        x = self.stem(x)
        for _ in range(self.depth):
            x = self.blocks(x)
        return self.head(x)


def test_three_levels_of_nesting_with_static_and_scalar_fields():
    model = Net(linear(0, 3, 8), Block(linear(1, 8, 16), linear(2, 16, 8)), linear(3, 8, 1))
    x = jnp.ones((5, 3))
    h = model.stem(x)
    text = kernex.viz.tree_box(model, array=x)
    assert layer_boxes(text) == [
        ("Linear(stem)", fmt(x), fmt(h)),
        ("Linear(up)", fmt(h), fmt(model.blocks.up(h))),
        ("Linear(down)", fmt(model.blocks.up(h)), fmt(h)),
        ("Linear(head)", fmt(h), fmt(model(x))),
    ]
    assert_rectangular(text)
    lines = text.split("\n")
    assert lines[1].rstrip("│ ") == "│Net(Parent)"
    assert any(line.startswith("││Block(blocks)") for line in lines)  # container title, one level down
    assert any(line.startswith("││┌") for line in lines)  # layer boxes two levels down
    assert "││┌" + "─" * 12 + "┐" in text and "│││name='block'│" in text  # static field, inside Block
    assert "│┌" + "─" * 7 + "┐" in text and "││depth=2│" in text
    assert text.count("┌") == 1 + 1 + 4 + 2  # Net, Block, four layers, name and depth boxes


def test_list_of_layers_is_one_layer_box_with_the_call_shapes():
    model = Sequential([linear(0, 3, 5), linear(1, 5, 2)])
    x = jnp.ones((4, 3))
    assert layer_boxes(kernex.viz.tree_box(model, array=x)) == [("Sequential(Parent)", "f32[4,3]", "f32[4,2]")]


def test_model_without_call_falls_back_to_the_sequential_chain():
    @treeclass
    class Stack:
        a: Linear
        b: Linear

    assert layer_boxes(kernex.viz.tree_box(Stack(linear(0, 1, 4), linear(1, 4, 2)), array=X)) == [
        ("Linear(a)", "f32[100,1]", "f32[100,4]"),
        ("Linear(b)", "f32[100,4]", "f32[100,2]"),
    ]


def test_numpy_input_and_abstract_input():
    model = seed_model()
    assert kernex.viz.tree_box(model, array=jax.ShapeDtypeStruct((100, 1), jnp.float32)) == SEED_BOX_WITH_ARRAY
    boxes = layer_boxes(kernex.viz.tree_box(model, array=np.ones((3, 1), np.float32)))
    assert boxes[0] == ("Linear(l1)", "f32[3,1]", "f32[3,128]")
