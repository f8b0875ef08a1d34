"""kernex.viz.summary: exact tables for the seed and example models, leaf kinds, rows, Output column."""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_viz_model_walk import (
    Sequential,
    X,
    level2,
    linear,
    make_m,
    make_reordered,
    seed_model,
)

import kernex
from demo.models import Linear, StackedLinear
from kernex import static_field, treeclass
from kernex._src.tree.format import fmt
from kernex._src.viz.summary import box_table, hsize

SEED_SUMMARY = '┌──────┬───────┬─────────┬───────────────────┐\n│Type  │Param #│Size     │Config             │\n├──────┼───────┼─────────┼───────────────────┤\n│Linear│256    │1.000 KB │bias=f32[1,128]    │\n│      │       │         │weight=f32[1,128]  │\n├──────┼───────┼─────────┼───────────────────┤\n│Linear│16,512 │64.500 KB│bias=f32[1,128]    │\n│      │       │         │weight=f32[128,128]│\n├──────┼───────┼─────────┼───────────────────┤\n│Linear│129    │516.000 B│bias=f32[1,1]      │\n│      │       │         │weight=f32[128,1]  │\n└──────┴───────┴─────────┴───────────────────┘\nTotal params :\t16,897\nInexact params:\t16,897\nOther params:\t0\n----------------------------------------------\nTotal size :\t66.004 KB\nInexact size:\t66.004 KB\nOther size:\t0.000 B\n=============================================='  # noqa: E501
SUMMARY_WITH_ARRAY = '┌──────┬────────────┬───────┬─────────┬───────────────────┐\n│Type  │Output      │Param #│Size     │Config             │\n├──────┼────────────┼───────┼─────────┼───────────────────┤\n│Linear│f32[100,128]│256    │1.000 KB │bias=f32[1,128]    │\n│      │            │       │         │weight=f32[1,128]  │\n├──────┼────────────┼───────┼─────────┼───────────────────┤\n│Linear│f32[100,128]│16,512 │64.500 KB│bias=f32[1,128]    │\n│      │            │       │         │weight=f32[128,128]│\n├──────┼────────────┼───────┼─────────┼───────────────────┤\n│Linear│f32[100,1]  │129    │516.000 B│bias=f32[1,1]      │\n│      │            │       │         │weight=f32[128,1]  │\n└──────┴────────────┴───────┴─────────┴───────────────────┘\nTotal params :\t16,897\nInexact params:\t16,897\nOther params:\t0\n-----------------------------------------------------------\nTotal size :\t66.004 KB\nInexact size:\t66.004 KB\nOther size:\t0.000 B\n==========================================================='  # noqa: E501
M_SUMMARY = '┌─────┬───────┬────────┬──────────┐\n│Type │Param #│Size    │Config    │\n├─────┼───────┼────────┼──────────┤\n│M    │12     │92.000 B│k=3       │\n│     │       │        │n=i32[4]  │\n│     │       │        │s=1.5     │\n│     │       │        │w=f32[2,3]│\n└─────┴───────┴────────┴──────────┘\nTotal params :\t12\nInexact params:\t7\nOther params:\t5\n-----------------------------------\nTotal size :\t92.000 B\nInexact size:\t48.000 B\nOther size:\t44.000 B\n==================================='  # noqa: E501
ONE_FIELD_SUMMARY = '┌─────┬───────┬────────┬──────┐\n│Type │Param #│Size    │Config│\n├─────┼───────┼────────┼──────┤\n│test │1      │28.000 B│a=1   │\n└─────┴───────┴────────┴──────┘\nTotal params :\t1\nInexact params:\t0\nOther params:\t1\n-------------------------------\nTotal size :\t28.000 B\nInexact size:\t0.000 B\nOther size:\t28.000 B\n==============================='  # noqa: E501
NESTED_STATIC_SUMMARY = '┌──────┬───────┬────────┬──────┐\n│Type  │Param #│Size    │Config│\n├──────┼───────┼────────┼──────┤\n│level0│1      │28.000 B│a=10  │\n├──────┼───────┼────────┼──────┤\n│level0│1      │28.000 B│a=100 │\n└──────┴───────┴────────┴──────┘\nTotal params :\t2\nInexact params:\t0\nOther params:\t2\n--------------------------------\nTotal size :\t56.000 B\nInexact size:\t0.000 B\nOther size:\t56.000 B\n================================'  # noqa: E501


def assert_same_lines(actual: str, expected: str) -> None:
    """The issue's comparison: line by line after ``rstrip()``."""
    assert [line.rstrip() for line in actual.split("\n")] == [line.rstrip() for line in expected.split("\n")]


def parse_rows(text: str) -> list[dict[str, str]]:
    """Data rows of a summary as ``{header: cell}`` (multi-line cells joined with ``\\n``)."""
    table = text[: text.index("\nTotal params")].split("\n")
    header = [h.strip() for h in table[1].strip("│").split("│")]
    rows, current = [], None
    for line in table[3:-1]:
        if line.startswith("├"):
            rows.append(current)
            current = None
            continue
        cells = [c.rstrip() for c in line.strip("│").split("│")]
        current = cells if current is None else [f"{a}\n{b}" if b else a for a, b in zip(current, cells)]
    rows.append(current)
    return [dict(zip(header, row)) for row in rows if row is not None]


def parse_totals(text: str) -> dict[str, str]:
    return dict(line.split(":\t") for line in text.split("\n") if ":\t" in line)


def test_seed_summary():
    assert kernex.viz.summary(seed_model()) == SEED_SUMMARY
    assert_same_lines(kernex.viz.summary(seed_model()), SEED_SUMMARY)


def test_output_column_shows_each_layer_output():
    assert kernex.viz.summary(seed_model(), array=X) == SUMMARY_WITH_ARRAY


def test_inexact_and_other_split():
    assert kernex.viz.summary(make_m()) == M_SUMMARY


def test_single_int_field():
    @treeclass
    class test:  # noqa: N801 - the class name is part of the expected text
        a: int = 1

    assert kernex.viz.summary(test()) == ONE_FIELD_SUMMARY


def test_nested_static_fields_are_not_counted():
    assert kernex.viz.summary(level2()) == NESTED_STATIC_SUMMARY


def test_abstract_model_from_eval_shape_has_the_same_summary():
    abstract = jax.eval_shape(lambda: seed_model())
    assert isinstance(abstract.l2.weight, jax.ShapeDtypeStruct)
    assert kernex.viz.summary(abstract) == SEED_SUMMARY


@pytest.mark.parametrize(
    "nbytes,expected",
    [(0, "0.000 B"), (516, "516.000 B"), (1023, "1023.000 B"), (1024, "1.000 KB"), (67588, "66.004 KB"),
     (1024**2, "1.000 MB"), (5 * 1024**3 // 2, "2.500 GB"), (2 * 1024**4, "2048.000 GB")],
)
def test_hsize(nbytes, expected):
    assert hsize(nbytes) == expected


def test_box_table_pads_columns_and_rows():
    lines = box_table(["Type ", "B"], [["a", "x\ny\nz"], ["longer", ""]])
    assert len({len(line) for line in lines}) == 1
    assert lines[0] == "┌" + "─" * 6 + "┬" + "─" + "┐"
    assert lines[3:6] == ["│a     │x│", "│      │y│", "│      │z│"]
    assert lines[7] == "│longer│ │"


def test_leaf_kinds_counts_and_bytes():
    @treeclass
    class Leaves:
        half: jax.Array
        mask: jax.Array
        small: np.ndarray
        z: complex
        flag: bool
        scalar: np.float32
        nothing: None
        pair: tuple
        label: str  # a str value is static: not counted

    leaves = Leaves(jnp.ones((2, 2), jnp.bfloat16), jnp.zeros(5, bool), np.zeros(3, np.int8), 2j, True,
                    np.float32(1.0), None, (1, 2.0), "name")
    text = kernex.viz.summary(leaves)
    inexact = [(4, 8), (1, sys.getsizeof(2j)), (1, 4), (1, sys.getsizeof(2.0))]  # bf16[2,2], 2j, f32 scalar, 2.0
    other = [(5, 5), (3, 3), (1, sys.getsizeof(True)), (1, sys.getsizeof(1))]  # bool[5], i8[3], True, 1
    n_in, b_in = map(sum, zip(*inexact))
    n_ot, b_ot = map(sum, zip(*other))
    assert parse_totals(text) == {
        "Total params ": f"{n_in + n_ot:,}", "Inexact params": str(n_in), "Other params": str(n_ot),
        "Total size ": hsize(b_in + b_ot), "Inexact size": hsize(b_in), "Other size": hsize(b_ot),
    }
    (row,) = parse_rows(text)
    assert row["Config"].split("\n") == [
        "flag=True", "half=bf16[2,2]", "mask=bool[5]", "nothing=None", "pair=(1,2.0)", "scalar=np.float32(1.0)",
        "small=i8[3]", "z=2j",
    ]


def test_typed_prng_key_leaves_count_as_other_params():
    @treeclass
    class Keyed:
        key: jax.Array
        w: jax.Array

    keyed = Keyed(jax.random.split(jax.random.key(0), 2), jnp.ones(3))
    text = kernex.viz.summary(keyed)
    key_bytes = keyed.key.dtype.itemsize * 2  # a threefry key holds two uint32 words
    assert parse_totals(text) == {
        "Total params ": "5", "Inexact params": "3", "Other params": "2",
        "Total size ": hsize(12 + key_bytes), "Inexact size": hsize(12), "Other size": hsize(key_bytes),
    }
    assert parse_rows(text)[0]["Config"].split("\n") == ["key=key<fry>[2]", "w=f32[3]"]
    assert kernex.viz.tree_diagram(keyed).splitlines()[1:] == ["    ├── key=key<fry>[2]", "    └── w=f32[3]"]


def test_non_treeclass_values_of_containers_get_their_own_rows():
    @treeclass
    class Scaled:
        body: Linear
        scale: float
        extra: list
        tag: str = static_field(default="t")

        def __call__(self, x):
            return self.body(x) * self.scale

    model = Scaled(linear(0, 3, 2), 0.5, [1, 2])
    rows = parse_rows(kernex.viz.summary(model, array=jnp.ones((4, 3))))
    assert [(r["Type"], r["Config"]) for r in rows] == [
        ("Linear", f"bias={fmt(model.body.bias)}\nweight={fmt(model.body.weight)}"),
        ("float", "scale=0.5"),
        ("list", "extra=[1,2]"),
    ]
    assert [r["Output"] for r in rows] == ["f32[4,2]", "None", "None"]
    assert [r["Param #"] for r in rows] == ["8", "1", "2"]


def test_list_of_layers_is_one_row_because_lists_are_not_inspected():
    model = Sequential([linear(0, 3, 5), linear(1, 5, 2)])
    x = jnp.ones((7, 3))
    (row,) = parse_rows(kernex.viz.summary(model, array=x))
    n = sum(leaf.size for leaf in jax.tree_util.tree_leaves(model))
    assert row == {
        "Type": "Sequential",
        "Output": fmt(model(x)),
        "Param #": f"{n:,}",
        "Size": hsize(4 * n),
        "Config": "layers=" + fmt(model.layers).replace(" ", ""),
    }


def test_output_column_follows_the_actual_calls_not_the_declaration_order():
    model, x = make_reordered(), jnp.ones((10, 3))
    rows = parse_rows(kernex.viz.summary(model, array=x))
    assert [r["Output"] for r in rows] == [fmt(model(x)), fmt(model.second(x))]
    assert [r["Config"].split("\n")[1] for r in rows] == ["weight=f32[5,2]", "weight=f32[3,5]"]


def test_uncalled_layers_show_none_and_all_lines_align():
    @treeclass
    class Branchy:
        used: Linear
        spare: Linear

        def __call__(self, x):
            return self.used(x)

    text = kernex.viz.summary(Branchy(linear(0, 2, 3), linear(1, 2, 3)), array=jnp.ones((1, 2)))
    assert [r["Output"] for r in parse_rows(text)] == ["f32[1,3]", "None"]
    table = text[: text.index("\nTotal")].split("\n")
    assert len({len(line) for line in table}) == 1
    assert text.split("\n")[-1] == "=" * len(table[0])


def test_model_without_call_uses_the_sequential_chain():
    @treeclass
    class Stack:
        a: Linear
        b: Linear

    rows = parse_rows(kernex.viz.summary(Stack(linear(0, 1, 4), linear(1, 4, 2)), array=X))
    assert [r["Output"] for r in rows] == ["f32[100,4]", "f32[100,2]"]


def test_summary_matches_seed_after_training_steps():
    model = seed_model()
    grads = jax.grad(lambda m: jnp.mean(m(X) ** 2))(model)
    assert kernex.viz.summary(model - 1e-3 * grads) == SEED_SUMMARY
    assert isinstance(model, StackedLinear)
