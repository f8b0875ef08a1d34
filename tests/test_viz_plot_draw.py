"""kernex.viz.plot_model images without Graphviz (matplotlib drawing), renderer choice, and ``to_file`` errors."""

from __future__ import annotations

import builtins
import itertools
import os
import shutil
import subprocess
import sys

import pytest
from test_viz_model_walk import X, level2, seed_model

import kernex
from kernex._src.viz import plot_draw

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def no_dot(monkeypatch):
    """Pretend Graphviz's `dot` is not on PATH, whether or not it is installed here."""
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "dot" else real_which(name, *a, **k))


def png_size(data: bytes) -> tuple[int, int]:
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_png_without_dot_is_drawn_with_matplotlib(tmp_path, no_dot):
    path = tmp_path / "model.png"
    source = kernex.viz.plot_model(seed_model(), to_file=path, array=X)
    assert source == kernex.viz.plot_model(seed_model(), array=X)  # the DOT source is still returned
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 1000
    width, height = png_size(data)
    assert width > 2 * height > 200  # a wide tree: the model, three layers, six weights/biases
    kernex.viz.plot_model(seed_model(), to_file=tmp_path / "again.png", array=X)
    assert (tmp_path / "again.png").read_bytes() == data  # deterministic: no dates or versions inside


def test_svg_and_pdf_without_dot_keep_the_labels(tmp_path, no_dot):
    kernex.viz.plot_model(seed_model(), to_file=tmp_path / "model.SVG", array=X)
    svg = (tmp_path / "model.SVG").read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    for text in ("StackedLinear(Parent)", "Linear(l1)", "Linear(l3)", "weight=f32[128,128]", "Output: f32[100,1]"):
        assert text in svg
    kernex.viz.plot_model(level2(), to_file=tmp_path / "model.pdf")
    data = (tmp_path / "model.pdf").read_bytes()
    assert data[:5] == b"%PDF-" and len(data) > 500


def test_layout_centres_parents_and_never_overlaps():
    root = plot_draw._build(level2(), (), {}, with_shapes=False)
    rows = plot_draw._rows(root)
    tops, top = [], 0.0
    for row in rows:
        tops.append(top)
        top += max(box.h for box in row) + plot_draw._V_GAP
    root.measure()
    root.place(0.0, 0, tops)
    assert [[box.title[0] for box in row] for row in rows] == [
        ["level2(Parent)"], ["level1(e)", "level0(f)"], ["level0(d)", "a=100", "b=200"], ["a=10", "b=20"]
    ]
    for depth, row in enumerate(rows):
        assert all(box.y == tops[depth] for box in row)
        assert all(left.x + left.w + plot_draw._H_GAP <= right.x + 1e-9 for left, right in itertools.pairwise(row))
        for box in row:
            if box.children:  # centred over its first and last children
                first, last = box.children[0], box.children[-1]
                middle = (first.x + first.w / 2 + last.x + last.w / 2) / 2
                assert abs(box.x + box.w / 2 - middle) < 1e-9
    static = [box for row in rows for box in row if box.static]
    assert [box.title[0] for box in static] == ["b=200", "b=20"]  # dashed boxes for static fields


def test_long_labels_are_wrapped():
    box = plot_draw._Box("x" * 100, [], node=False)
    assert len(box.title) == 3 and all(len(line) <= plot_draw._WRAP for line in box.title)


def test_neither_dot_nor_matplotlib_names_to_file_and_what_to_install(tmp_path, no_dot, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now raises ImportError
    path = tmp_path / "model.png"
    with pytest.raises(RuntimeError) as info:
        kernex.viz.plot_model(seed_model(), to_file=path)
    message = str(info.value)
    assert f"plot_model(to_file={str(path)!r})" in message
    assert "neither is installed" in message and "pip install matplotlib" in message
    assert "apt-get install graphviz" in message and "to_file='model.dot'" in message
    assert list(tmp_path.iterdir()) == []
    kernex.viz.plot_model(seed_model(), to_file=tmp_path / "model.dot")  # text needs neither
    assert (tmp_path / "model.dot").read_text(encoding="utf-8") == kernex.viz.plot_model(seed_model())


def test_dot_on_path_is_preferred_to_matplotlib(tmp_path, monkeypatch):
    runs = []

    def fake_run(args, input, capture_output, timeout):
        runs.append(args)
        with open(args[-1], "wb") as file:
            file.write(PNG_SIGNATURE + b"fake")
        return subprocess.CompletedProcess(args, 0, b"", b"")

    def no_drawing(*args, **kwargs):
        raise AssertionError("matplotlib must not be used when `dot` is on PATH")

    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: "/opt/graphviz/dot" if name == "dot" else None)
    monkeypatch.setattr(subprocess, "run", fake_run)
    monkeypatch.setattr(plot_draw, "draw", no_drawing)
    path = tmp_path / "model.png"
    kernex.viz.plot_model(seed_model(), to_file=path)
    assert runs == [["/opt/graphviz/dot", "-Tpng", "-o", str(path)]]
    assert path.read_bytes() == PNG_SIGNATURE + b"fake"


@pytest.mark.parametrize("to_file", [3, b"model.png", ["model.png"]])
def test_to_file_of_the_wrong_type_names_to_file(to_file):
    with pytest.raises(TypeError, match=r"plot_model\(to_file=\.\.\.\) takes a file path \(a str or an os\.PathLike "
                                        rf"such as pathlib\.Path\) or None; got {type(to_file).__name__} .*"
                                        r"For example to_file='model\.png'"):
        kernex.viz.plot_model(seed_model(), to_file=to_file)


@pytest.mark.parametrize("name", ["x.png", "x.dot"])
def test_missing_folder_names_to_file_before_any_work(name):
    path = os.path.join("/nonexistent_dir", name)
    with pytest.raises(ValueError, match=rf"plot_model\(to_file='{path}'\): the folder '/nonexistent_dir' does not "
                                         r"exist\. Create it first \(`os\.makedirs\('/nonexistent_dir', exist_ok="
                                         r"True\)`\)"):
        kernex.viz.plot_model(seed_model(), to_file=path, array=X)


def test_folder_or_unwritable_folder_names_to_file(tmp_path, monkeypatch):
    (tmp_path / "model.png").mkdir()
    with pytest.raises(ValueError, match=r"plot_model\(to_file=.*model\.png'\): that is a folder; give a file name"):
        kernex.viz.plot_model(seed_model(), to_file=tmp_path / "model.png")
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(ValueError, match=r"plot_model\(to_file=.*x\.md'\): the folder .* is not writable"):
        kernex.viz.plot_model(seed_model(), to_file=tmp_path / "x.md")


def test_failed_write_names_to_file(tmp_path, monkeypatch):
    def refuse(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(builtins, "open", refuse)
    with pytest.raises(PermissionError, match=r"plot_model\(to_file=.*x\.dot'\) could not write the file: "
                                              r"Permission denied\. Choose a path you can write to"):
        kernex.viz.plot_model(seed_model(), to_file=tmp_path / "x.dot")
