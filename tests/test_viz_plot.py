"""kernex.viz.plot_model: DOT source, files by suffix, rendering with Graphviz's dot and its errors.

Drawing with matplotlib when `dot` is missing, and `to_file` errors, are tested in test_viz_plot_draw.py.
"""

from __future__ import annotations

import re
import shutil
import stat
import sys

import jax
import jax.numpy as jnp
import pytest
from test_viz_model_walk import X, level2, linear, seed_model
from test_viz_tree_box import layer_boxes
from test_viz_tree_text import NESTED_STATIC_MERMAID, SEED_MERMAID

import kernex
from demo.models import Linear
from kernex import static_field, treeclass

HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(
    not HAS_DOT, reason="Graphviz's `dot` is not installed (Debian: apt-get install graphviz)"
)


def node_labels(source: str) -> dict[str, str]:
    return dict(re.findall(r'^    (n\d+) \[.*?label=(<.*>|"(?:[^"\\]|\\.)*")', source, flags=re.M))


def edges(source: str) -> list[tuple[str, str, str]]:
    return re.findall(r"^    (n\d+) -> (n\d+)(.*);$", source, flags=re.M)


def test_dot_names_every_node_and_shape_of_tree_box():
    model = seed_model()
    source = kernex.viz.plot_model(model, array=X)
    assert source.startswith('digraph "StackedLinear" {\n') and source.endswith("}\n")
    for title, shape_in, shape_out in layer_boxes(kernex.viz.tree_box(model, array=X)):
        (label,) = [lab for lab in node_labels(source).values() if f"<b>{title}</b>" in lab]
        assert f">Input</td><td align=\"left\">{shape_in}<" in label
        assert f">Output</td><td align=\"left\">{shape_out}<" in label
    assert "<b>StackedLinear(Parent)</b>" in source
    for line in kernex.viz.tree_diagram(model).split("\n")[1:]:
        name_value = line.split("── ")[-1]
        if not name_value.endswith("=Linear"):
            assert f'[label="{name_value}"]' in source


def test_graph_structure_follows_the_fields():
    source = kernex.viz.plot_model(level2())
    labels = node_labels(source)
    assert labels == {
        "n0": "<<b>level2(Parent)</b>>", "n1": "<<b>level1(e)</b>>", "n2": "<<b>level0(d)</b>>",
        "n3": '"a=10"', "n4": '"b=20"', "n5": "<<b>level0(f)</b>>", "n6": '"a=100"', "n7": '"b=200"',
    }
    assert edges(source) == [
        ("n0", "n1", ""), ("n1", "n2", ""), ("n2", "n3", " [arrowhead=none]"),
        ("n2", "n4", " [arrowhead=none, style=dashed]"), ("n0", "n5", ""), ("n5", "n6", " [arrowhead=none]"),
        ("n5", "n7", " [arrowhead=none, style=dashed]"),
    ]
    assert 'n4 [label="b=20", style="rounded,dashed"];' in source  # static field
    assert kernex.viz.plot_model(level2()) == source  # deterministic


def test_uncalled_nodes_show_none_and_labels_are_escaped():
    @treeclass
    class Odd:
        used: Linear
        spare: Linear
        note: str = static_field(default='say "hi" \\ <b>')

        def __call__(self, x):
            return self.used(jax.nn.relu(x))

    source = kernex.viz.plot_model(Odd(linear(0, 2, 3), linear(1, 2, 3)), array=jnp.ones((1, 2)))
    labels = node_labels(source)
    assert '<b>Linear(spare)</b></td><td align="left">Input</td><td align="left">None</td>' in labels["n4"]
    assert labels["n7"] == r'''"note='say \"hi\" \\\\ <b>'"'''


def test_text_files_by_suffix(tmp_path):
    model = seed_model()
    source = kernex.viz.plot_model(model, to_file=tmp_path / "model.dot", array=X)
    assert (tmp_path / "model.dot").read_text(encoding="utf-8") == source == kernex.viz.plot_model(model, array=X)
    assert kernex.viz.plot_model(model, to_file=str(tmp_path / "model.GV")) == kernex.viz.plot_model(model)
    assert (tmp_path / "model.GV").read_text(encoding="utf-8") == kernex.viz.plot_model(model)
    kernex.viz.plot_model(level2(), to_file=tmp_path / "chart.mmd")
    assert (tmp_path / "chart.mmd").read_text(encoding="utf-8") == NESTED_STATIC_MERMAID
    kernex.viz.plot_model(model, to_file=tmp_path / "chart.md")
    assert (tmp_path / "chart.md").read_text(encoding="utf-8") == "```mermaid\n" + SEED_MERMAID + "\n```"


@pytest.mark.parametrize("to_file", ["model.jpg", "model", "archive.dot.zip"])
def test_unknown_suffix_is_rejected_before_writing(tmp_path, to_file):
    expected = (
        r"plot_model\(to_file=\.\.\.\) chooses the output format by the file suffix; "
        r"got to_file=.*Accepted suffixes: \.dot, \.gv, \.mmd, \.md, \.png, \.svg, \.pdf"
    )
    with pytest.raises(ValueError, match=expected):
        kernex.viz.plot_model(seed_model(), to_file=tmp_path / to_file)
    assert list(tmp_path.iterdir()) == []


def test_missing_dot_and_matplotlib_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, *args, **kwargs: None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(RuntimeError, match=r"with Graphviz's `dot` program when it is on PATH, else with matplotlib; "
                                           r"neither is installed\. Install matplotlib \(`pip install matplotlib`\), "
                                           r"or Graphviz \(Debian/Ubuntu: `sudo apt-get install graphviz`.*"
                                           r"to_file='model\.dot'"):
        kernex.viz.plot_model(seed_model(), to_file=tmp_path / "model.png")
    assert list(tmp_path.iterdir()) == []


def test_missing_dot_with_path_pointing_away_draws_with_matplotlib(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    kernex.viz.plot_model(seed_model(), to_file=tmp_path / "model.svg")
    assert "<svg" in (tmp_path / "model.svg").read_text(encoding="utf-8")


def test_failing_dot_reports_its_error(tmp_path, monkeypatch):
    fake = tmp_path / "dot"
    fake.write_text("#!/bin/sh\necho 'syntax error near line 1' >&2\nexit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match=r"-Tpdf` failed with exit status 3: syntax error near line 1"):
        kernex.viz.plot_model(seed_model(), to_file=tmp_path / "model.pdf")


@needs_dot
def test_png_is_rendered_with_graphviz(tmp_path):
    path = tmp_path / "model.png"
    source = kernex.viz.plot_model(seed_model(), to_file=path, array=X)
    assert source == kernex.viz.plot_model(seed_model(), array=X)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > height > 100  # a wide tree of three layer tables


@needs_dot
def test_svg_with_quotes_and_html_characters_is_valid_graphviz(tmp_path):
    @treeclass
    class Tricky:
        inner: level2
        text: str = static_field(default='a "quoted" <tag> & \\ back')

        def __call__(self, x):
            return x

    kernex.viz.plot_model(Tricky(level2()), to_file=tmp_path / "tricky.svg", array=jnp.ones(2))
    svg = (tmp_path / "tricky.svg").read_text(encoding="utf-8")
    assert "level0(d)" in svg and "&quot;quoted&quot;" in svg and "&lt;tag&gt; &amp;" in svg
