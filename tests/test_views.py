"""Named-axis views (``kernex._src.window.views``; docs/semantics.md, 'What the function receives')."""

import jax.numpy as jnp
import numpy as np
import pytest
from reference import mat

import kernex
from kernex._src.window import geometry as geo
from kernex._src.window.views import NamedPatch, check_named_axis, window_function


def named(kernel, names, relative=True, patch=None):
    """A NamedPatch over a patch of ``kernel`` shape holding the cell's window index as digits."""
    g = geo.resolve_geometry(kernel, kernel, 1, 0)
    if patch is None:
        # cell value = its window position written in base 10, e.g. (1, 2) -> 12
        patch = np.zeros(kernel, dtype=int)
        for idx in np.ndindex(*kernel):
            patch[idx] = int("".join(map(str, idx)) or 0)
        if relative:
            patch = np.roll(patch, [-c for c in g.center], axis=tuple(range(len(kernel))))
    return NamedPatch(jnp.asarray(patch), g, names, relative)


@pytest.mark.parametrize(
    "k, labels",
    [
        (1, ["i"]),
        (2, ["i", "i+1"]),
        (3, ["i-1", "i", "i+1"]),
        (4, ["i-1", "i", "i+1", "i+2"]),
        (5, ["i-2", "i-1", "i", "i+1", "i+2"]),
    ],
)
def test_labels_per_kernel_size(k, labels):
    """Labels run over offsets -c_k .. k-1-c_k; 'i', 'i+t', 'i-|t|'."""
    view = named((k,), {0: "i"})
    assert list(view) == labels
    assert len(view) == k
    # label 'i+t' reads window cell c_k + t
    centre = (k - 1) // 2
    for t, label in zip(range(-centre, k - centre), labels):
        assert int(view[label]) == centre + t


@pytest.mark.parametrize("relative", [True, False])
def test_labels_are_anchor_relative_whatever_relative_is(relative):
    """Labels are anchor-relative: a named view reads the same cells for relative and absolute patches."""
    view = named((3, 4), {0: "n", 1: "i"}, relative=relative)
    assert int(view["n", "i"]) == 11  # anchor = window cell (1, 1)
    assert int(view["n-1", "i+2"]) == 3  # window cell (0, 3)
    assert int(view["n+1", "i-1"]) == 20


def test_all_named_keys_in_any_order():
    """With all axes named a key holds one label per axis in any order."""
    view = named((3, 3, 2), {0: "a", 1: "b", 2: "c"})
    expected = int("011")  # window cell (0, 1, 1) = anchor offsets (-1, 0, +1)
    for key in [("a-1", "b", "c+1"), ("c+1", "a-1", "b"), ("b", "c+1", "a-1")]:
        assert int(view[key]) == expected
    assert list(view)[0] == ("a-1", "b-1", "c")


def test_one_dimensional_string_key():
    view = named((3,), {0: "x"})
    assert int(view["x+1"]) == 2
    assert int(view["x-1"]) == 0


def test_partial_naming_axis_order():
    """Some axes named -> tuple in axis order, ints are anchor offsets on unnamed axes."""
    view = named((3, 3), {0: "i"})
    assert int(view["i-1", 1]) == 2  # window cell (0, 2)
    assert int(view["i", -1]) == 10
    assert int(view["i+1", 0]) == 21
    assert list(view)[:3] == [("i-1", -1), ("i-1", 0), ("i-1", 1)]
    view = named((2, 3, 4), {1: "j"})
    assert int(view[1, "j+1", 2]) == 123


@pytest.mark.parametrize(
    "kernel, names, key",
    [
        ((3,), {0: "i"}, "i+2"),  # offset out of range for k=3
        ((3,), {0: "i"}, "j"),  # unknown name
        ((3,), {0: "i"}, ("i", "i")),  # too many entries
        ((3,), {0: "i"}, 0),  # integer on a named axis
        ((3, 3), {0: "i", 1: "j"}, "i"),  # too few entries
        ((3, 3), {0: "i", 1: "j"}, ("i-2", "j")),  # outside the window
        ((3, 3), {0: "i", 1: "j"}, ("i", "i+1")),  # axis given twice
        ((3, 3), {0: "i", 1: "j"}, ("i", 0)),  # ints are not accepted when every axis is named
        ((3, 3), {0: "i"}, (1, "i-1")),  # partial naming is in axis order
        ((3, 3), {0: "i"}, ("i", 2)),  # offset 2 outside [-1, 1] on the unnamed axis
        ((3, 3), {0: "i"}, ("i", "i")),  # label on an unnamed axis
        ((3, 3), {1: "j"}, ("j", 0)),
    ],
    ids=repr,
)
def test_key_errors(kernel, names, key):
    """Unknown named-axis keys raise KeyError."""
    view = named(kernel, names)
    with pytest.raises(KeyError):
        view[key]


@pytest.mark.parametrize(
    "kernel, names, key, message",
    [
        ((3,), {0: "i"}, "i+2", "label 'i+2' is offset 2 on axis 0 ('i'), outside the window: axis 0 has 3 cells, "
         "anchor offsets -1..1 (labels 'i-1' to 'i+1')"),
        ((3, 3), {0: "i", 1: "j"}, ("i", "j-3"), "label 'j-3' is offset -3 on axis 1 ('j')"),
        ((4,), {0: "i"}, "i-2", "anchor offsets -1..2"),
        ((3, 3), {0: "i"}, ("i", 2), "offset 2 on unnamed axis 1 is outside the window: axis 1 has 3 cells, "
         "anchor offsets -1..1"),
    ],
    ids=repr,
)
def test_offsets_outside_the_window_are_index_errors(kernel, names, key, message):
    """Like every out-of-window read an IndexError naming offset, axis and range (and still a KeyError)."""
    view = named(kernel, names)
    with pytest.raises(IndexError) as info:
        view[key]
    assert isinstance(info.value, KeyError)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "f",
    [jnp.sum, lambda u: u * 2, lambda u: jnp.ones(3) * u, jnp.asarray, np.asarray, lambda u: jnp.stack([u])],
    ids=["jnp.sum", "u*2", "array*u", "jnp.asarray", "np.asarray", "jnp.stack"],
)
def test_named_view_used_as_an_array_says_to_index_it_by_labels(f):
    """Not JAX's "Error interpreting argument ... NamedPatch": index the view by its labels."""
    F = kernex.kmap(kernel_size=(3, 3), named_axis={0: "i", 1: "j"})(f)
    with pytest.raises(TypeError, match="used its named-axis view as an array") as info:
        F(mat(4, 4))
    text = str(info.value)
    assert "u['i-1', 'j-1']" in text and "'i-1'..'i+1' on axis 0, 'j-1'..'j+1' on axis 1" in text
    assert "Error interpreting" not in text.split("(", 1)[0]


def test_named_view_attribute_errors_say_it_is_a_mapping():
    view = named((3,), {0: "i"})
    with pytest.raises(AttributeError, match="read-only mapping from labels to cells"):
        view.shape
    assert not hasattr(view, "sum") and sorted(view.keys()) == ["i", "i+1", "i-1"]


def test_read_only_mapping():
    view = named((3,), {0: "i"})
    with pytest.raises(TypeError):
        view["i"] = 1
    assert "i-1" in view and "i-2" not in view


@pytest.mark.parametrize(
    "named_axis",
    [{0: ""}, {0: "i+1"}, {0: "i-"}, {0: "i", 1: "i"}, {-1: "i"}, {0: 3}, {"0": "i"}, {True: "i"}],
    ids=repr,
)
def test_check_named_axis_value_errors(named_axis):
    """Distinct non-empty names without '+'/'-', non-negative integer axes."""
    with pytest.raises(ValueError, match="named_axis"):
        check_named_axis(named_axis)
    with pytest.raises(ValueError, match="named_axis"):
        kernex.kmap(kernel_size=3, named_axis=named_axis)


@pytest.mark.parametrize("named_axis", [["i"], "i", 1], ids=repr)
def test_check_named_axis_not_a_dict(named_axis):
    with pytest.raises((TypeError, ValueError), match="named_axis"):
        check_named_axis(named_axis)


def test_check_named_axis_copies():
    names = {0: "i"}
    checked = check_named_axis(names)
    assert checked == names and checked is not names
    assert check_named_axis(None) is None


def test_empty_named_axis_is_the_same_as_none():
    """{} names no axis: the function gets the plain patch (x[0] is the first cell, not the anchor)."""
    assert check_named_axis({}) is None
    x = jnp.arange(1, 6)
    for f in [lambda v: v[0], jnp.sum]:
        np.testing.assert_array_equal(kernex.kmap(kernel_size=3, named_axis={})(f)(x), kernex.kmap(kernel_size=3)(f)(x))


def test_numpy_integers_as_axes_and_offsets():
    assert check_named_axis({np.int64(0): "i"}) == {0: "i"}
    F = kernex.kmap(kernel_size=(3, 3), named_axis={np.int64(0): "i"})(lambda u: u["i", np.int64(1)])
    np.testing.assert_array_equal(F(mat(4, 4)), [[7, 8], [11, 12]])  # anchor row, one column right


def test_axis_out_of_range_for_input():
    """Axis keys must be in range(D) -> ValueError when the input rank is known."""
    g = geo.resolve_geometry((4, 4), 3, 1, 0)
    with pytest.raises(ValueError, match="named_axis"):
        window_function(lambda x: x, g, True, {2: "k"})
    with pytest.raises(ValueError, match="named_axis"):
        kernex.kmap(kernel_size=3, named_axis={2: "k"})(lambda x: x["k"])(mat(4, 4))
    with pytest.raises(ValueError, match="named_axis"):
        kernex.kscan(kernel_size=3, named_axis={1: "k"})(lambda x: x["k"])(mat(4))


def test_window_function_wraps_only_when_named():
    g = geo.resolve_geometry((4,), 3, 1, 0)
    f = lambda x: x  # noqa: E731
    assert window_function(f, g, True, None) is f
    view = window_function(f, g, True, {0: "i"})(jnp.array([2, 3, 1]))
    assert isinstance(view, NamedPatch)
    assert int(view["i-1"]) == 1 and int(view["i"]) == 2
