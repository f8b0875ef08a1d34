"""Unit tests of ``kernex._src.window.geometry`` (docs/semantics.md, 'Arguments' and 'Windows')."""

import re

import pytest
from hypothesis import given
from reference import geometries, property_settings, resolve

from kernex._src.window import geometry as geo

# --------------------------------------------------------------------------- resolve_geometry


@pytest.mark.parametrize(
    "k, pads",
    [(1, (0, 0)), (2, (0, 1)), (3, (1, 1)), (4, (1, 2)), (5, (2, 2))],
    ids=lambda v: str(v),
)
def test_same_padding_table(k, pads):
    """'same' pads ((k-1)//2, k//2)."""
    g = geo.resolve_geometry((7,), (k,), 1, "same")
    assert g.padding == (pads,)
    assert g.out_shape == (7,)


@pytest.mark.parametrize("k, centre", [(1, 0), (2, 0), (3, 1), (4, 1), (5, 2)])
def test_anchor_index_inside_window(k, centre):
    """Anchor index k=1->0, 2->0, 3->1, 4->1, 5->2."""
    assert geo.resolve_geometry((5,), k, 1, 0).center == (centre,)


@pytest.mark.parametrize("word", ["same", "SAME", "Same", "sAmE"])
def test_same_is_case_insensitive(word):
    """Padding strings are case-insensitive, globally and per axis."""
    assert geo.resolve_geometry((5, 6), (3, 4), 1, word).padding == ((1, 1), (1, 2))
    assert geo.resolve_geometry((5, 6), (3, 4), 1, (word, "VALID")).padding == ((1, 1), (0, 0))


@pytest.mark.parametrize(
    "padding, pads, out",
    [
        ("valid", ((0, 0),), (3,)),
        (0, ((0, 0),), (3,)),
        ("same", ((1, 1),), (5,)),
        (1, ((1, 1),), (5,)),
        ((1,), ((1, 1),), (5,)),
        (("same",), ((1, 1),), (5,)),
        (((1, 1),), ((1, 1),), (5,)),
        ([[0, 2]], ((0, 2),), (5,)),
        (2, ((2, 2),), (7,)),
        (((2, 0),), ((2, 0),), (5,)),
        (((-1, -1),), ((-1, -1),), (1,)),
        (((-1, 2),), ((-1, 2),), (4,)),
    ],
    ids=repr,
)
def test_padding_forms_1d(padding, pads, out):
    """Every padding spelling on mat(5) with k=3, and the output shape each gives."""
    g = geo.resolve_geometry((5,), (3,), 1, padding)
    assert g.padding == pads
    assert g.out_shape == out


def test_two_int_padding_on_2d_means_per_axis():
    """Padding has one entry per axis: for a 2-D input (0, 1) is axis 0 -> (0,0), axis 1 -> (1,1)."""
    g = geo.resolve_geometry((2, 5), (2, 3), 1, (0, 1))
    assert g.padding == ((0, 0), (1, 1))
    assert g.out_shape == (1, 5)


def test_kernel_minus_one_resolved_before_same_padding():
    """-1 becomes the axis length, then 'same' pads for it."""
    g = geo.resolve_geometry((3, 4), (-1, 1), 1, "same")
    assert g.kernel == (3, 1)
    assert g.padding == ((1, 1), (0, 0))
    assert g.out_shape == (3, 4)
    assert geo.resolve_geometry((3, 4), -1, 1, 0).kernel == (3, 4)


def test_int_arguments_broadcast():
    """Int kernel_size and strides apply to every axis."""
    g = geo.resolve_geometry((4, 6, 5), 2, 2, 0)
    assert g.kernel == (2, 2, 2)
    assert g.strides == (2, 2, 2)
    assert g.out_shape == (2, 3, 2)


@pytest.mark.parametrize(
    "strides, padding, anchors",
    [(2, "same", [0, 2, 4]), (2, "valid", [1, 3]), (3, "same", [0, 3]), (3, "valid", [1]), (1, 2, [-1, 0, 1, 2, 3, 4, 5])],
)
def test_anchors(strides, padding, anchors):
    """Anchor a(o) = o*s - lo + c_k (may lie in the padding)."""
    g = geo.resolve_geometry((5,), (3,), strides, padding)
    assert g.anchors(0).tolist() == anchors


def test_state_padding_origin_and_layout():
    """kscan's state keeps all cells; negative padding only moves the first window."""
    g = geo.resolve_geometry((5,), (3,), 1, ((-1, 2),))
    assert g.state_padding == ((0, 2),)
    assert g.state_shape == (7,)
    assert g.origin == (1,)
    assert g.layout == geo.Layout((1,), (4,), (1,))  # windows start at state cells 1, 2, 3, 4
    g = geo.resolve_geometry((5,), (3,), 2, ((2, -1),))
    assert g.state_padding == ((2, 0),)
    assert g.origin == (0,)
    assert g.layout == geo.Layout((0,), (2,), (2,))  # windows start at state cells 0, 2


@pytest.mark.parametrize(
    "k, cells",
    [(1, (0,)), (2, (0, 1)), (3, (1, 2, 0)), (4, (1, 2, 3, 0)), (5, (2, 3, 4, 0, 1))],
)
def test_patch_cells_relative_roll(k, cells):
    """Relative patches are the window rolled by -c_k."""
    g = geo.resolve_geometry((6,), (k,), 1, 0)
    assert g.patch_cells(0, relative=True) == cells
    assert g.patch_cells(0, relative=False) == tuple(range(k))


@given(geometries())
@property_settings(300)
def test_resolve_geometry_matches_reference(case):
    """Output shape, resolved padding, kernel and anchors agree with the formulas of docs/semantics.md."""
    g = geo.resolve_geometry(case["shape"], case["kernel_size"], case["strides"], case["padding"])
    kernel, strides, pads, out_shape = resolve(case["shape"], case["kernel_size"], case["strides"], case["padding"])
    assert g.kernel == kernel
    assert g.strides == strides
    assert g.padding == pads
    assert g.out_shape == out_shape
    for axis, (s, (lo, _), k) in enumerate(zip(strides, pads, kernel)):
        expected = [o * s - lo + (k - 1) // 2 for o in range(out_shape[axis])]
        assert g.anchors(axis).tolist() == expected


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "shape, kernel_size, strides, padding, match",
    [
        ((5,), (3, 3), 1, 0, "kernel_size"),
        ((5, 5), (3,), 1, 0, "kernel_size"),
        ((5,), (6,), 1, 0, "kernel_size"),
        ((5,), (6,), 1, 5, "kernel_size"),  # too large even when padding would fit
        ((5, 5), 0, 1, 0, "kernel_size"),
        ((5,), (-2,), 1, 0, "kernel_size"),
        ((5,), (3,), (1, 1), 0, "strides"),
        ((5,), (3,), 0, 0, "strides"),
        ((5,), (3,), (-1,), 0, "strides"),
        ((5,), (3,), 1, (0, 1), "padding"),  # a (lo, hi) pair is two entries for one axis
        ((5, 5), (3, 3), 1, (0, 1, 1), "padding"),
        ((5,), (3,), 1, "full", "padding"),
        ((5, 5), (3, 3), 1, ("same", "full"), "padding"),
        ((5,), (3,), 1, ((-2, -1),), "padding"),  # output length 0
        ((5,), (3,), 1, -2, "padding"),
    ],
    ids=repr,
)
def test_resolve_geometry_value_errors(shape, kernel_size, strides, padding, match):
    """ValueError naming the offending argument."""
    with pytest.raises(ValueError, match=match):
        geo.check_kernel_size(kernel_size)  # construction-time checks ...
        geo.check_strides(strides)
        geo.check_padding(padding)
        geo.resolve_geometry(shape, kernel_size, strides, padding)  # ... and call-time ones


@pytest.mark.parametrize("padding", [1.5, None, {"a": 1}, ((1, 2, 3),), ((1.0, 1),), (None,)], ids=repr)
def test_bad_padding_type(padding):
    """Unsupported padding type -> TypeError."""
    with pytest.raises(TypeError, match="padding"):
        geo.check_padding(padding)


@pytest.mark.parametrize("kernel_size", [1.5, "3", (3.0,), None], ids=repr)
def test_bad_kernel_size_type(kernel_size):
    with pytest.raises((TypeError, ValueError), match="kernel_size"):
        geo.check_kernel_size(kernel_size)


@pytest.mark.parametrize(
    "shape, kernel_size, padding, axis",
    [((0,), 3, 0, 0), ((0,), -1, "same", 0), ((4, 0), 1, 1, 1), ((0, 0, 2), (1, 1, 1), 0, 0)],
    ids=repr,
)
def test_empty_axis_names_the_shape(shape, kernel_size, padding, axis):
    """An empty axis fits no window: the message names the input's shape and the empty axis."""
    with pytest.raises(ValueError, match=re.escape(f"shape {shape}: axis {axis} is empty (length 0)")):
        geo.resolve_geometry(shape, kernel_size, 1, padding)
