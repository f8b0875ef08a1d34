"""Unit tests of ``kernex._src.window.regions``: ``F[idx]`` keys and the output positions they select.

Rules: docs/semantics.md, 'Functions by index'.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reference import geometries, indices, property_settings

from kernex._src.window import geometry as geo
from kernex._src.window import regions

# --------------------------------------------------------------------------- normalize_index


@pytest.mark.parametrize(
    "index, expected",
    [
        (3, (3,)),
        (-1, (-1,)),
        (np.int64(2), (2,)),
        (slice(1, None, 2), (slice(1, None, 2),)),
        (Ellipsis, (Ellipsis,)),
        ((0, slice(None), Ellipsis), (0, slice(None), Ellipsis)),
        ((), ()),
    ],
    ids=repr,
)
def test_normalize_index(index, expected):
    assert regions.normalize_index(index) == expected


@pytest.mark.parametrize(
    "index",
    [[0, 1], 1.5, "a", np.array([0, 1]), (0, [1]), (slice(0.5, 2),), None],
    ids=repr,
)
def test_normalize_index_type_errors(index):
    """Lists, arrays, floats (and other types) -> TypeError."""
    with pytest.raises(TypeError, match="index|slice"):
        regions.normalize_index(index)


def test_normalize_index_zero_step_and_two_ellipses():
    with pytest.raises(ValueError, match="step"):
        regions.normalize_index(slice(None, None, 0))
    with pytest.raises(IndexError, match="Ellipsis"):
        regions.normalize_index((Ellipsis, 0, Ellipsis))


# --------------------------------------------------------------------------- region masks


def region_masks(index, g):
    """The progressions of ``F[index]`` as boolean masks over output positions."""
    key = regions.normalize_index(index)
    return tuple(p.contains(np.arange(n)) for p, n in zip(regions.region_progressions(key, g), g.out_shape))


@pytest.mark.parametrize(
    "padding, index, expected",
    [
        ("valid", 0, [False, False, False]),  # anchors 1..3: index 0 never used
        ("valid", slice(2, None), [False, True, True]),
        ("same", -1, [False, False, False, False, True]),
        ("same", slice(None, None, 2), [True, False, True, False, True]),  # Python slice steps
        ("same", slice(None, None, -2), [True, False, True, False, True]),
        ("same", slice(-10, 10), [True] * 5),  # slices are clipped
        (2, Ellipsis, [False, True, True, True, True, True, False]),  # anchors -1 and 5 are padding
        (((1, 0),), slice(0, 2), [True, True, False, False]),
    ],
    ids=repr,
)
def test_region_masks_1d(padding, index, expected):
    """Masks over output positions whose anchor (input coordinate) is in ``idx``."""
    g = geo.resolve_geometry((5,), (3,), 1, padding)
    (mask,) = region_masks(index, g)
    assert mask.tolist() == expected


def test_region_masks_strided_and_nd():
    g = geo.resolve_geometry((10,), (1,), 2, 0)  # anchors 0, 2, 4, 6, 8
    (mask,) = region_masks(5, g)
    assert not mask.any()
    g = geo.resolve_geometry((3, 4, 2), 1, 1, 0)
    masks = region_masks((Ellipsis, 1), g)  # last axis only
    assert [m.tolist() for m in masks] == [[True] * 3, [True] * 4, [False, True]]
    masks = region_masks(1, g)  # missing trailing axes = whole axis
    assert [m.tolist() for m in masks] == [[False, True, False], [True] * 4, [True] * 2]


def test_region_masks_errors():
    g = geo.resolve_geometry((5, 5), 1, 1, 0)
    with pytest.raises(IndexError):
        region_masks((0, 0, 0), g)
    with pytest.raises(IndexError):
        region_masks(7, g)


@given(st.data())
@property_settings(300)
def test_progressions_match_brute_force(data):
    """Per axis: output position o is selected iff its anchor o*s - lo + c is an input coordinate in the index."""
    case = data.draw(geometries())
    g = geo.resolve_geometry(case["shape"], case["kernel_size"], case["strides"], case["padding"])
    index = data.draw(indices(g.shape))
    key = regions.normalize_index(index)
    for axis, (progression, n) in enumerate(zip(regions.region_progressions(key, g), g.shape)):
        entry = regions._expand(key, g)[axis]
        coords = np.arange(n)[entry] if isinstance(entry, slice) else np.array([entry % n])
        expected = np.isin(g.anchors(axis), coords)
        np.testing.assert_array_equal(progression.contains(np.arange(g.out_shape[axis])), expected)
