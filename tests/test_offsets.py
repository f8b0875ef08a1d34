"""Static reads outside the window raise IndexError (``kernex._src.lower.offsets``)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from reference import mat

from kernex import kmap, kscan
from kernex._src.lower.offsets import patch_reads

X1 = mat(5)
X2 = mat(5, 5)
REL = dict(kernel_size=3, relative=True)
REL2 = dict(kernel_size=(3, 3), relative=True)

RELATIVE_OUTSIDE = [
    # id, kmap kwargs, f, input, the offset and axis the message names
    ("x[2]", REL, lambda x: x[2], X1, "offset 2 on axis 0"),
    ("x[-2]", REL, lambda x: x[-2], X1, "offset -2 on axis 0"),
    ("x[5]", REL, lambda x: x[5], X1, "offset 5 on axis 0"),
    ("x[-100]", REL, lambda x: x[-100], X1, "offset -100 on axis 0"),
    ("two-offsets", REL, lambda x: x[2] + x[3], X1, "offsets 2, 3 on axis 0"),
    ("gather", REL, lambda x: x[jnp.array([0, 2])].sum(), X1, "offset 2 on axis 0"),
    ("take", REL, lambda x: jnp.take(x, 2), X1, "offset 2 on axis 0"),
    ("2d", REL2, lambda x: x[0, 2], X2, "offset 2 on axis 1"),
    ("chained", REL2, lambda x: x[0][2], X2, "offset 2 on axis 1"),
    ("column", REL2, lambda x: x[:, 2].sum(), X2, "offset 2 on axis 1"),
    ("transposed", REL2, lambda x: x.T[2, 0], X2, "offset 2 on axis 1"),
    ("elementwise-view", REL, lambda x: jnp.sin(x * 2.0)[2], X1, "offset 2 on axis 0"),
    ("inner-jit", REL, lambda x: jax.jit(lambda y: y[2])(x), X1, "offset 2 on axis 0"),
    ("even-kernel", dict(kernel_size=4, relative=True), lambda x: x[-2], X1, "offset -2 on axis 0"),
    ("k1", dict(kernel_size=1, relative=True), lambda x: x[-1], X1, "offset -1 on axis 0"),
]


@pytest.mark.parametrize("kw, f, x, where", [c[1:] for c in RELATIVE_OUTSIDE], ids=[c[0] for c in RELATIVE_OUTSIDE])
def test_relative_offsets_outside_the_window_raise(kw, f, x, where):
    """x[2] on a relative 3-cell axis used to read x[-1] (it wraps); now it names offset, axis and range."""
    k = kw["kernel_size"] if isinstance(kw["kernel_size"], int) else kw["kernel_size"][0]
    c = (k - 1) // 2
    with pytest.raises(IndexError, match=where) as info:
        kmap(**kw)(f)(x)
    assert f"offsets {-c}..{k - 1 - c}" in str(info.value) and "relative=True" in str(info.value)


def test_stacked_fields_on_a_whole_axis_are_not_read_rotated():
    """kernel_size=(-1, 3, 3), relative=True: axis 0 is offsets -1..1 too; x[2] is an error, not field 0."""
    fields = jnp.stack([jnp.full((4, 4), v) for v in (1.0, 2.0, 3.0)])
    F = kmap(kernel_size=(-1, 3, 3), relative=True)(lambda x: x[0, 0, 0] + 10 * x[2, 0, 0])
    with pytest.raises(IndexError, match=r"offset 2 on axis 0 .*offsets -1\.\.1.*relative=False"):
        F(fields)
    # anchor-relative offsets on that axis, and the absolute spelling, read the intended fields
    G = kmap(kernel_size=(-1, 3, 3), relative=True)(lambda x: x[-1, 0, 0] + 10 * x[1, 0, 0])
    H = kmap(kernel_size=(-1, 3, 3))(lambda x: x[0, 1, 1] + 10 * x[2, 1, 1])
    np.testing.assert_array_equal(G(fields), np.full((1, 2, 2), 31.0))
    np.testing.assert_array_equal(H(fields), np.full((1, 2, 2), 31.0))


ABSOLUTE_OUTSIDE = [
    ("x[3]", lambda x: x[3], "index 3 on axis 0"),
    ("x[5]", lambda x: x[5], "index 5 on axis 0"),
    ("x[-4]", lambda x: x[-4], "index -4 on axis 0"),
    ("gather", lambda x: x[jnp.array([0, 3])].sum(), "index 3 on axis 0"),
    ("take-fill", lambda x: jnp.take(x, 7), "index 7 on axis 0"),
    ("lax", lambda x: jax.lax.dynamic_index_in_dim(x, 4, keepdims=False), "index 4 on axis 0"),
]


@pytest.mark.parametrize("f, where", [c[1:] for c in ABSOLUTE_OUTSIDE], ids=[c[0] for c in ABSOLUTE_OUTSIDE])
def test_absolute_indices_outside_the_window_raise(f, where):
    """x[5] on a 3-cell window used to be clamped to x[2]; negative indices down to -k stay valid."""
    with pytest.raises(IndexError, match=where) as info:
        kmap(kernel_size=3)(f)(X1)
    assert "indices 0..2 (or -3..-1 from the end)" in str(info.value)


def test_kscan_checks_reads_too():
    with pytest.raises(IndexError, match="kscan: .*offset 2 on axis 0"):
        kscan(kernel_size=3, relative=True, padding="same")(lambda x: x[2])(X1)
    with pytest.raises(IndexError, match="kscan: .*index 3 on axis 0"):
        kscan(kernel_size=3, padding="same")(lambda x: x[3])(X1)


def test_by_index_functions_are_checked_under_jit():
    F = kmap(kernel_size=3, relative=True)
    F[0] = lambda x: x[0]
    F[1:] = lambda x: x[-2]
    with pytest.raises(IndexError, match="offset -2"):
        jax.jit(F)(X1)


IN_WINDOW = [
    # reads that stay inside the window (or whose indices depend on the patch's shape) are unchanged
    ("neighbours", REL, lambda x: x[1] - x[-1], [2, 2, 2]),
    ("python-negative", dict(kernel_size=3), lambda x: x[-3] + x[-1], [4, 6, 8]),
    ("loop-over-shape", REL, lambda x: sum(x[i] for i in range(x.shape[0])), [6, 9, 12]),
    ("middle-by-shape", REL, lambda x: x[x.shape[0] // 2], [3, 4, 5]),
    ("slices", REL, lambda x: x[1:].sum(), [4, 6, 8]),
    ("whole-window", REL, jnp.sum, [6, 9, 12]),
    ("kernel-shaped-weight", REL, lambda x: (x * jnp.array([1.0, 2.0, 3.0]))[1], [6, 8, 10]),
]


@pytest.mark.parametrize("kw, f, expected", [c[1:] for c in IN_WINDOW], ids=[c[0] for c in IN_WINDOW])
def test_reads_inside_the_window_are_unchanged(kw, f, expected):
    np.testing.assert_array_equal(kmap(**kw)(f)(X1), expected)


def test_run_time_indices_keep_jax_indexing_rules():
    """An index known only at run time is not checked: negative counts from the end, then it is clamped."""
    x = jnp.arange(10.0, 15.0)
    absolute = jax.jit(kmap(kernel_size=3)(lambda w, i: w[i]))
    relative = jax.jit(kmap(kernel_size=3, relative=True)(lambda w, i: w[i]))
    np.testing.assert_array_equal(absolute(x, 5), [12, 13, 14])  # clamped to the last cell
    np.testing.assert_array_equal(absolute(x, -5), [10, 11, 12])  # -5 + 3 = -2, clamped to the first
    np.testing.assert_array_equal(relative(x, 2), [10, 11, 12])  # wraps to offset -1
    np.testing.assert_array_equal(relative(x, 5), [10, 11, 12])  # clamped to the last rolled cell


def test_patch_reads_records_cells_and_normalised_indices():
    closed = jax.make_jaxpr(lambda x: x[1, -1] + x[5, 0] + x[:, 0].sum() + jnp.sum(x))(jnp.zeros((3, 3)))
    assert patch_reads(closed, (3, 3)) == {(0, 1), (1, 2), (0, 5), (1, 0)}
    closed = jax.make_jaxpr(lambda x, i: x[i] + x[1:].sum())(jnp.zeros(3), 0)
    assert patch_reads(closed, (3,)) == set()  # a traced index and a slice are not cell reads
