"""kernex.viz.tree_diagram, tree_mermaid and save_viz: exact text for the seed and example models, files."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import jax.numpy as jnp
import pytest
from test_viz_model_walk import level2, linear, make_m, seed_model
from test_viz_summary import assert_same_lines

import kernex
from kernex import static_field, treeclass

SEED_DIAGRAM = 'StackedLinear\n    ├── l1=Linear\n    │   ├── weight=f32[1,128]\n    │   └── bias=f32[1,128]\n    ├── l2=Linear\n    │   ├── weight=f32[128,128]\n    │   └── bias=f32[1,128]\n    └──l3=Linear\n        ├── weight=f32[128,1]\n        └── bias=f32[1,1]'  # noqa: E501
NESTED_STATIC_DIAGRAM = 'level2\n    ├── e=level1\n    │   └──d=level0\n    │       ├── a=10\n    │       └── b=20\n    └──f=level0\n        ├── a=100\n        └── b=200'  # noqa: E501
NESTED_STATIC_MERMAID = 'flowchart TD\n    id15696277213149321320[level2]\n    id15696277213149321320 --> id159132120600507116(e\\nlevel1)\n    id159132120600507116 --> id7500441386962467209(d\\nlevel0)\n    id7500441386962467209 --- id8292801017962660105["a\\n10"]\n    id7500441386962467209 -.- id5855743171222414412["b\\n20"]\n    id15696277213149321320 --> id10009280772564895168(f\\nlevel0)\n    id10009280772564895168 --- id11951215191344350637["a\\n100"]\n    id10009280772564895168 -.- id1196345851686744158["b\\n200"]'  # noqa: E501
SEED_MERMAID = r"""flowchart TD
    id15696277213149321320[StackedLinear]
    id15696277213149321320 --> id159132120600507116(l1\nLinear)
    id159132120600507116 --- id7500441386962467209["weight\nf32[1,128]"]
    id159132120600507116 --- id10793958738030044218["bias\nf32[1,128]"]
    id15696277213149321320 --> id10009280772564895168(l2\nLinear)
    id10009280772564895168 --- id11951215191344350637["weight\nf32[128,128]"]
    id10009280772564895168 --- id1196345851686744158["bias\nf32[1,128]"]
    id15696277213149321320 --> id7572222925824649475(l3\nLinear)
    id7572222925824649475 --- id4749243995442935477["weight\nf32[128,1]"]
    id7572222925824649475 --- id8042761346510512486["bias\nf32[1,1]"]"""
M_DIAGRAM = "M\n    ├── w=f32[2,3]\n    ├── n=i32[4]\n    ├── s=1.5\n    ├── k=3\n    └── name='m'"
HTML_HEAD = (
    "<html><body><script src='https://cdn.jsdelivr.net/npm/mermaid/dist/mermaid.min.js'></script><script>"
    "mermaid.initialize({ startOnLoad: true });</script><div class='mermaid'>"
)


def test_seed_diagram():
    text = kernex.viz.tree_diagram(seed_model())
    assert text == SEED_DIAGRAM
    assert_same_lines(text, SEED_DIAGRAM)
    assert all(line == line.rstrip() for line in text.split("\n"))


def test_single_field_diagram():
    @treeclass
    class test:  # noqa: N801
        a: int = 1

    assert kernex.viz.tree_diagram(test()) == "test\n    └── a=1"


def test_nested_static_diagram_keeps_the_last_child_quirk():
    assert kernex.viz.tree_diagram(level2()) == NESTED_STATIC_DIAGRAM


def test_non_array_leaves_and_static_string():
    assert kernex.viz.tree_diagram(make_m()) == M_DIAGRAM


def test_diagram_of_lists_none_and_deeper_nesting():
    @treeclass
    class Deep:
        inner: level2
        layers: list
        nothing: None = None

    model = Deep(level2(), [linear(0, 1, 2)])
    lines = kernex.viz.tree_diagram(model).split("\n")
    assert lines[:2] == ["Deep", "    ├── inner=level2"]
    assert lines[2:9] == ["    │   " + line[4:] for line in NESTED_STATIC_DIAGRAM.split("\n")[1:]]  # level2's body, shifted
    assert lines[9:] == ["    ├── layers=[Linear(weight=f32[1,2],bias=f32[1,2])]", "    └── nothing=None"]


def test_mermaid_with_static_links():
    assert kernex.viz.tree_mermaid(level2()) == NESTED_STATIC_MERMAID


def test_seed_mermaid():
    assert kernex.viz.tree_mermaid(seed_model()) == SEED_MERMAID


def test_mermaid_ids_do_not_depend_on_the_hash_seed():
    code = (
        "import sys; sys.path.insert(0, 'tests'); import kernex; from test_viz_model_walk import level2; "
        "print(kernex.viz.tree_mermaid(level2()), end='')"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": os.getcwd()}
    root = pathlib.Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, cwd=root)
    assert out.stdout == NESTED_STATIC_MERMAID


def test_save_viz_writes_each_method(tmp_path):
    model = seed_model()
    base = tmp_path / "model"
    assert kernex.viz.save_viz(model, str(base)) is None
    assert (tmp_path / "model.md").read_text(encoding="utf-8") == "```mermaid\n" + SEED_MERMAID + "\n```"
    kernex.viz.save_viz(model, base, method="tree_mermaid_html")  # a pathlib.Path works too
    assert (tmp_path / "model.html").read_text(encoding="utf-8") == HTML_HEAD + SEED_MERMAID + "</div></body></html>"
    for method, expected in [("tree_diagram", SEED_DIAGRAM), ("tree_box", kernex.viz.tree_box(model)),
                             ("summary", kernex.viz.summary(model))]:
        assert kernex.viz.save_viz(model, str(base), method=method) is None
        assert (tmp_path / "model.txt").read_text(encoding="utf-8") == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.html", "model.md", "model.txt"]


def test_save_viz_rejects_unknown_methods(tmp_path):
    with pytest.raises(ValueError, match=r"save_viz\(method=\.\.\.\).*got method='png'.*'tree_mermaid_md', "
                                         r"'tree_mermaid_html', 'tree_diagram', 'tree_box', 'summary'.*plot_model"):
        kernex.viz.save_viz(seed_model(), str(tmp_path / "m"), method="png")
    assert list(tmp_path.iterdir()) == []


def test_static_fields_render_in_every_text_view():
    @treeclass
    class Conv:
        w: jnp.ndarray
        kernel_size: tuple = static_field(default=(3, 3))

    conv = Conv(jnp.ones((3, 3)))
    assert kernex.viz.tree_diagram(conv).split("\n")[-1] == "    └── kernel_size=(3, 3)"
    static_link = ' -.- id10009280772564895168["kernel_size\\n(3, 3)"]'  # second child of the root: l2's id in SEED_MERMAID
    assert kernex.viz.tree_mermaid(conv).split("\n")[-1].endswith(static_link)
