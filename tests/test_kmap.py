"""``kmap`` (rules: docs/semantics.md): the seed's examples, exact values for every padding, stride and
indexing form, functions by index, the seed's layers, JAX transformations, errors, and property tests
against the brute-force reference of ``reference.py``."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage
from hypothesis import given
from hypothesis import strategies as st
from jax import lax
from reference import (
    SCALAR_KMAP,
    by_index,
    case_table,
    check,
    check_transformations,
    geometries,
    indices,
    jaxpr_equations,
    kmap_functions,
    kmap_reference,
    mat,
    named_cases,
    property_settings,
    random_array,
    resolve,
    seed_laplacian,
)

import kernex
from kernex import kmap

# ----------------------------------------------------------------------------- seed examples


laplacian = kmap(kernel_size=(3, 3), padding="valid", relative=True)(seed_laplacian)


@kmap(kernel_size=(3, 3), relative=True)
def identity(x):
    return x[0, 0]


@jax.jit
@kmap(kernel_size=(3, 3), padding="same")
def get_3x3_patches(x):
    return x


@kmap(kernel_size=(3,))
def moving_average(x):
    return jnp.mean(x)


def seed_F():
    """The seed's function-by-index example: x^2 at index 0, x^3 elsewhere."""
    F = kmap(kernel_size=(1,))
    F[0] = lambda x: x[0] ** 2
    F[1:] = lambda x: x[0] ** 3
    return F


def test_seed_laplacian_of_ones():
    check(laplacian(jnp.ones([10, 10])), np.zeros((8, 8)), jnp.float32)


def test_seed_laplacian_of_linear_ramp():
    check(laplacian(mat(5, 5).astype(jnp.float32)), np.zeros((3, 3)), jnp.float32)


def test_relative_identity_reads_the_centre():
    check(identity(mat(5, 5)), [[7, 8, 9], [12, 13, 14], [17, 18, 19]])


def test_seed_3x3_patches():
    patches = get_3x3_patches(mat(5, 5))
    assert patches.shape == (5, 5, 3, 3) and patches.dtype == jnp.int32
    check(patches[0, 0], [[0, 0, 0], [0, 1, 2], [0, 6, 7]])
    check(patches[2, 2], [[7, 8, 9], [12, 13, 14], [17, 18, 19]])
    check(patches[4, 4], [[19, 20, 0], [24, 25, 0], [0, 0, 0]])


def test_seed_moving_average():
    check(moving_average(jnp.array([1, 2, 3, 7, 9])), [2.0, 4.0, 6.3333335], jnp.float32, exact=False)


def test_seed_function_by_index_and_gradient():
    F = seed_F()
    x = jnp.arange(1, 11).astype("float32")
    check(F(x), [1, 8, 27, 64, 125, 216, 343, 512, 729, 1000])
    check(jax.grad(lambda x: jnp.sum(F(x)))(x), [2, 12, 27, 48, 75, 108, 147, 192, 243, 300])


def test_jit_and_vmap_of_kernel_object():
    check(jax.jit(seed_F())(jnp.arange(1.0, 4.0)), [1, 8, 27])
    check(jax.vmap(seed_F())(jnp.arange(1.0, 7.0).reshape(2, 3)), [[1, 8, 27], [16, 125, 216]])


def test_calling_twice_gives_the_same_answer():
    F = seed_F()
    x = jnp.arange(1.0, 11.0)
    first = F(x)
    check(F(x), first)
    check(F(jnp.arange(1.0, 4.0)), [1, 8, 27])  # a call with another shape in between
    check(F(x), first)
    check(first, [1, 8, 27, 64, 125, 216, 343, 512, 729, 1000])


# ----------------------------------------------------------------------------- decorator form: exact values

S = jnp.sum
ID = lambda v: v  # noqa: E731

DECORATED_CASES = [
    # id, kmap kwargs, f, input, expected
    ("sum-k3", dict(kernel_size=(3,)), S, jnp.array([1, 2, 3, 4, 5]), [6, 9, 12]),
    ("k3-valid", dict(kernel_size=(3,), padding="valid"), S, mat(5), [6, 9, 12]),
    ("k3-padding-0", dict(kernel_size=(3,), padding=0), S, mat(5), [6, 9, 12]),
    *[
        (f"k3-same-spelled-{p!r}", dict(kernel_size=(3,), padding=p), S, mat(5), [3, 6, 9, 12, 9])
        for p in ["same", "SAME", "Same", 1, (1,), ("same",), ((1, 1),)]
    ],
    ("k3-padding-2", dict(kernel_size=(3,), padding=2), S, mat(5), [1, 3, 6, 9, 12, 9, 5]),
    ("k3-padding-(0,2)", dict(kernel_size=(3,), padding=((0, 2),)), S, mat(5), [6, 9, 12, 9, 5]),
    ("k3-padding-(2,0)", dict(kernel_size=(3,), padding=((2, 0),)), S, mat(5), [1, 3, 6, 9, 12]),
    ("k3-crop-(-1,-1)", dict(kernel_size=(3,), padding=((-1, -1),)), S, mat(5), [9]),
    ("k3-padding-(-1,2)", dict(kernel_size=(3,), padding=((-1, 2),)), S, mat(5), [9, 12, 9, 5]),
    ("k2-same-patches", dict(kernel_size=(2,), padding="same"), ID, mat(5), [[1, 2], [2, 3], [3, 4], [4, 5], [5, 0]]),
    ("k2-padding-(1,0)-patches", dict(kernel_size=(2,), padding=((1, 0),)), ID, mat(5), [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]]),
    ("k2-valid-patches", dict(kernel_size=(2,), padding="valid"), ID, mat(5), [[1, 2], [2, 3], [3, 4], [4, 5]]),
    (
        "k4-same-patches",
        dict(kernel_size=(4,), padding="same"),
        ID,
        mat(5),
        [[0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5], [3, 4, 5, 0], [4, 5, 0, 0]],
    ),
    ("k4-valid-patches", dict(kernel_size=(4,), padding="valid"), ID, mat(5), [[1, 2, 3, 4], [2, 3, 4, 5]]),
    ("k3-s2-valid", dict(kernel_size=(3,), strides=2), S, mat(5), [6, 12]),
    ("k3-s2-same", dict(kernel_size=(3,), strides=2, padding="same"), S, mat(5), [3, 9, 9]),
    ("k3-s3-valid", dict(kernel_size=(3,), strides=3), S, mat(5), [6]),
    ("k3-s3-same", dict(kernel_size=(3,), strides=3, padding="same"), S, mat(5), [3, 12]),
    ("k3-s(2,)-same", dict(kernel_size=(3,), strides=(2,), padding="same"), S, mat(5), [3, 9, 9]),
    ("k1-s2-same", dict(kernel_size=(1,), strides=2, padding="same"), lambda v: v[0], mat(5), [1, 3, 5]),
    ("k1-s3-same", dict(kernel_size=(1,), strides=3, padding="same"), lambda v: v[0], mat(5), [1, 4]),
    ("2d-k2-s2", dict(kernel_size=(2, 2), strides=2), S, mat(4, 4), [[14, 22], [46, 54]]),
    ("2d-k2-s(1,2)", dict(kernel_size=(2, 2), strides=(1, 2)), S, mat(3, 4), [[14, 22], [30, 38]]),
    (
        "2d-k2-s2-patches",
        dict(kernel_size=(2, 2), strides=2),
        ID,
        mat(4, 4),
        [[[[1, 2], [5, 6]], [[3, 4], [7, 8]]], [[[9, 10], [13, 14]], [[11, 12], [15, 16]]]],
    ),
    ("whole-axis-1d", dict(kernel_size=(-1,)), S, mat(5), [15]),
    ("whole-axis-0", dict(kernel_size=(-1, 1)), S, mat(3, 4), [[15, 18, 21, 24]]),
    ("whole-axis-1", dict(kernel_size=(1, -1)), S, mat(3, 4), [[10], [26], [42]]),
    (
        "whole-axis-same",
        dict(kernel_size=(-1, 1), padding="same"),
        S,
        mat(3, 4),
        [[6, 8, 10, 12], [15, 18, 21, 24], [14, 16, 18, 20]],
    ),
    ("int-kernel-size", dict(kernel_size=3), S, mat(5), [6, 9, 12]),
    ("default-kernel-size-1", dict(), lambda v: v[0, 0], mat(2, 2), [[1, 2], [3, 4]]),
    ("relative-v[-1]", dict(kernel_size=(3,), relative=True), lambda v: v[-1], mat(5), [1, 2, 3]),
    ("relative-v[1]", dict(kernel_size=(3,), relative=True), lambda v: v[1], mat(5), [3, 4, 5]),
    ("relative-same-v[0]", dict(kernel_size=(3,), relative=True, padding="same"), lambda v: v[0], mat(5), [1, 2, 3, 4, 5]),
    (
        "relative-same-patches",
        dict(kernel_size=(3,), relative=True, padding="same"),
        ID,
        mat(5),
        [[1, 2, 0], [2, 3, 1], [3, 4, 2], [4, 5, 3], [5, 0, 4]],
    ),
    ("relative-k4-same-v[-1]", dict(kernel_size=(4,), relative=True, padding="same"), lambda v: v[-1], mat(5), [0, 1, 2, 3, 4]),
    ("relative-k4-same-v[2]", dict(kernel_size=(4,), relative=True, padding="same"), lambda v: v[2], mat(5), [3, 4, 5, 0, 0]),
    (
        "relative-k4-same-patches",
        dict(kernel_size=(4,), relative=True, padding="same"),
        ID,
        mat(5),
        [[1, 2, 3, 0], [2, 3, 4, 1], [3, 4, 5, 2], [4, 5, 0, 3], [5, 0, 0, 4]],
    ),
    ("relative-2d-patch", dict(kernel_size=(3, 3), relative=True), ID, mat(3, 3), [[[[5, 6, 4], [8, 9, 7], [2, 3, 1]]]]),
    ("absolute-same-v[0]", dict(kernel_size=(3,), padding="same"), lambda v: v[0], mat(5), [0, 1, 2, 3, 4]),
    ("absolute-same-v[-1]", dict(kernel_size=(3,), padding="same"), lambda v: v[-1], mat(5), [2, 3, 4, 5, 0]),
    ("absolute-2d-v[1,1]", dict(kernel_size=(3, 3)), lambda v: v[1, 1], mat(4, 4), [[6, 7], [10, 11]]),
    (
        "vector-output",
        dict(kernel_size=(2,)),
        lambda v: jnp.stack([v.sum(), v.prod()]),
        mat(5),
        [[3, 2], [5, 6], [7, 12], [9, 20]],
    ),
    ("2d-same-sum-of-ones", dict(kernel_size=(3, 3), padding="same"), S, jnp.ones((3, 3)), [[4, 6, 4], [6, 9, 6], [4, 6, 4]]),
    ("per-axis-int-padding", dict(kernel_size=(1, 3), padding=(0, 1)), S, mat(2, 3), [[3, 6, 5], [9, 15, 11]]),
    ("per-axis-string-padding", dict(kernel_size=(1, 3), padding=("valid", "same")), S, mat(2, 3), [[3, 6, 5], [9, 15, 11]]),
    ("relative-k2-padding-(0,1)", dict(kernel_size=(2,), relative=True, padding=((0, 1),)), lambda x: x[0] * 10, mat(5), [10, 20, 30, 40, 50]),
    ("relative-k2-padding-(-1,1)", dict(kernel_size=(2,), relative=True, padding=((-1, 1),)), lambda x: x[0] * 10, mat(5), [20, 30, 40, 50]),
    ("relative-k2-padding-(0,0)", dict(kernel_size=(2,), relative=True, padding=((0, 0),)), lambda x: x[0] * 10, mat(5), [10, 20, 30, 40]),
    ("relative-k2-padding-(-1,0)", dict(kernel_size=(2,), relative=True, padding=((-1, 0),)), lambda x: x[0] * 10, mat(5), [20, 30, 40]),
    ("relative-k2-padding-(-2,0)", dict(kernel_size=(2,), relative=True, padding=((-2, 0),)), lambda x: x[0] * 10, mat(5), [30, 40]),
    ("relative-k2-padding-(-1,-1)", dict(kernel_size=(2,), relative=True, padding=((-1, -1),)), lambda x: x[0] * 10, mat(5), [20, 30]),
    ("relative-k2-padding-(-2,-1)", dict(kernel_size=(2,), relative=True, padding=((-2, -1),)), lambda x: x[0] * 10, mat(5), [30]),
    *[
        (f"relative-2d-padding-{p}", dict(kernel_size=(2, 2), relative=True, padding=p), lambda x: x[0, 0] * 10, mat(3, 3), e)
        for p, e in [
            (((0, 1), (0, 1)), mat(3, 3) * 10),
            (((0, 1), (-1, 1)), [[20, 30], [50, 60], [80, 90]]),
            (((-1, 1), (0, 1)), [[40, 50, 60], [70, 80, 90]]),
            (((-1, 0), (0, 1)), [[40, 50, 60]]),
            (((0, 1), (-1, 0)), [[20], [50], [80]]),
            (((-1, 0), (-1, 0)), [[50]]),
        ]
    ],
    *[
        (f"3d-padding-{p}", dict(kernel_size=(1, 2, 2), padding=p), lambda x: x[0, 0, 0] * 10, mat(2, 3, 3), e)
        for p, e in [
            (((0, -1), (0, 1), (0, 1)), [[[10, 20, 30], [40, 50, 60], [70, 80, 90]]]),
            (((-1, 0), (0, 1), (0, 1)), [[[100, 110, 120], [130, 140, 150], [160, 170, 180]]]),
            (((0, 0), (-1, 1), (0, 1)), [[[40, 50, 60], [70, 80, 90]], [[130, 140, 150], [160, 170, 180]]]),
        ]
    ],
    *[
        (f"named-all-axes-{k}", dict(kernel_size=(3, 3), named_axis={0: "i", 1: "j"}, relative=True), f, mat(4, 4), e)
        for k, f, e in [
            ("i-1,j", lambda x: x["i-1", "j"], [[2, 3], [6, 7]]),
            ("j,i-1", lambda x: x["j", "i-1"], [[2, 3], [6, 7]]),
            ("i,j+1", lambda x: x["i", "j+1"], [[7, 8], [11, 12]]),
        ]
    ],
    ("named-difference", dict(kernel_size=(3,), named_axis={0: "i"}), lambda x: x["i+1"] - x["i-1"], mat(5), [2, 2, 2]),
    ("named-partial-axis-order", dict(kernel_size=(3, 3), named_axis={0: "i"}), lambda x: x["i-1", 1], mat(4, 4), [[3, 4], [7, 8]]),
    ("named-k2", dict(kernel_size=(2,), named_axis={0: "i"}), lambda x: x["i"] * 10 + x["i+1"], mat(5), [12, 23, 34, 45]),
    (
        "named-k4",
        dict(kernel_size=(4,), named_axis={0: "i"}),
        lambda x: x["i-1"] * 100 + x["i"] * 10 + x["i+2"],
        mat(6),
        [124, 235, 346],
    ),
    (
        "named-absolute-patch",
        dict(kernel_size=(3,), named_axis={0: "i"}, relative=False),
        lambda x: x["i+1"] * 100 + x["i"] * 10 + x["i-1"],
        mat(5),
        [321, 432, 543],
    ),
]


@case_table("kw, f, x, expected", DECORATED_CASES)
def test_decorated_facts(kw, f, x, expected):
    """Decorator form: exact values for each padding, stride, kernel size and indexing form."""
    check(kmap(**kw)(f)(x), expected)


def test_named_key_errors():
    """Partial naming is in axis order; unknown and out-of-window labels are KeyErrors."""
    with pytest.raises(KeyError):
        kmap(kernel_size=(3, 3), named_axis={0: "i"})(lambda x: x[1, "i-1"])(mat(4, 4))
    with pytest.raises(KeyError):
        kmap(kernel_size=(3, 3), named_axis={0: "i", 1: "j"})(lambda x: x["i-2", "j"])(mat(4, 4))
    with pytest.raises(KeyError):
        kernex.kscan(kernel_size=(3,), named_axis={0: "i"})(lambda x: x["j"])(mat(4))


def test_minus_one_is_resolved_at_every_call():
    g = kmap(kernel_size=(-1,))(jnp.sum)
    check(g(jnp.arange(5)), [10])
    check(g(jnp.arange(7)), [21])
    check(g(jnp.arange(5)), [10])


def test_extra_args_and_kwargs():
    g = kmap(kernel_size=(3,))(lambda v, w, b=0: jnp.sum(v * w) + b)
    w = jnp.array([1, 0, -1])
    check(g(mat(5), w), [-2, -2, -2])
    check(g(mat(5), w, b=100), [98, 98, 98])


def test_mean_of_ints_is_float32():
    check(kmap(kernel_size=(2,))(jnp.mean)(mat(5)), [1.5, 2.5, 3.5, 4.5], jnp.float32)


def test_conv_grad_jit_vmap():
    conv = kmap(kernel_size=(3,), padding="same")(lambda x, w: jnp.sum(x * w))
    x, w = jnp.arange(1.0, 6.0), jnp.array([1.0, 2.0, 3.0])
    check(conv(x, w), [8, 14, 20, 26, 14])
    check(jax.grad(lambda w: conv(x, w).sum())(w), [10, 15, 14])
    check(jax.grad(lambda x: conv(x, w).sum())(x), [3, 6, 6, 6, 5])
    check(jax.jit(conv)(x, w), [8, 14, 20, 26, 14])
    check(jax.vmap(conv, in_axes=(0, None))(jnp.stack([x, 2 * x]), w), [[8, 14, 20, 26, 14], [16, 28, 40, 52, 28]])


def test_python_scalar_output_is_int32():
    """A Python int output (``lambda v: 90``) gives an int32 result."""
    check(kmap(kernel_size=1)(lambda v: 90)(jnp.arange(3.0)), [90, 90, 90], jnp.int32)


# ----------------------------------------------------------------------------- function by index

v0 = lambda v: v[0]  # noqa: E731

BY_INDEX_CASES = [
    # id, kernel kwargs, [(index, f), ...], input, expected
    (
        "relative-valid-indices-are-anchors",
        dict(kernel_size=(3,), padding="valid", relative=True),
        [(0, lambda v: -1), (1, lambda v: -2), (slice(2, None), v0)],
        jnp.arange(1, 11),
        [-2, 3, 4, 5, 6, 7, 8, 9],
    ),
    (
        "two-indices-zeros-elsewhere",
        dict(kernel_size=(1,)),
        [(2, lambda v: v[0] * 10), (5, lambda v: v[0] * 100)],
        jnp.arange(1, 11),
        [0, 0, 30, 0, 0, 600, 0, 0, 0, 0],
    ),
    (
        "two-indices-any-order",
        dict(kernel_size=(1,)),
        [(5, lambda v: v[0] * 100), (2, lambda v: v[0] * 10)],
        jnp.arange(1, 11),
        [0, 0, 30, 0, 0, 600, 0, 0, 0, 0],
    ),
    ("one-index-zeros-elsewhere", dict(kernel_size=(1,)), [(2, lambda v: v[0] * 10)], jnp.arange(1, 11), [0, 0, 30, 0, 0, 0, 0, 0, 0, 0]),
    (
        "overlapping-slices-latest-wins",
        dict(kernel_size=(1,)),
        [(slice(None), v0), (slice(3, 6), lambda v: 10 * v[0]), (slice(5, 8), lambda v: 100 * v[0])],
        jnp.arange(1, 11),
        [1, 2, 3, 40, 50, 600, 700, 800, 9, 10],
    ),
    (
        "negative-indices",
        dict(kernel_size=(1,)),
        [(slice(None), v0), (-1, lambda v: 10 * v[0]), (slice(-3, -1), lambda v: 100 * v[0])],
        jnp.arange(1, 11),
        [1, 2, 3, 4, 5, 6, 7, 800, 900, 100],
    ),
    (
        "slice-step-2",
        dict(kernel_size=(1,)),
        [(slice(None), v0), (slice(1, None, 2), lambda v: -v[0])],
        jnp.arange(1, 11),
        [1, -2, 3, -4, 5, -6, 7, -8, 9, -10],
    ),
    (
        "slice-step-3",
        dict(kernel_size=(1,)),
        [(slice(None), v0), (slice(1, None, 3), lambda v: -v[0])],
        jnp.arange(1, 11),
        [1, -2, 3, 4, -5, 6, 7, -8, 9, 10],
    ),
    (
        "reused-function-latest-wins",
        dict(kernel_size=(1,)),
        [(slice(None), v0), (slice(3, 6), lambda v: 10 * v[0]), (4, v0)],
        jnp.arange(1, 11),
        [1, 2, 3, 40, 5, 60, 7, 8, 9, 10],
    ),
    (
        "strided-indices-are-anchors",
        dict(kernel_size=(1,), strides=2),
        [(slice(None), v0), (4, lambda v: -v[0]), (5, lambda v: -100)],
        jnp.arange(1, 11),
        [1, 3, -5, 7, 9],
    ),
    (
        # row 0 columns 1-4 and cell (1, 0) have no assignment, so they are 0 (upstream fell
        # back to the first function there; docs/semantics.md, 'Functions by index')
        "by-index-uncovered-zeros",
        dict(kernel_size=(3, 3), relative=True, padding="same"),
        [
            ((0, 0), lambda x: 10 * x[0, 0]),
            ((1, slice(1, None)), lambda x: -10 * x[0, 0]),
            (slice(2, None), lambda x: 100 * x[0, 0]),
        ],
        mat(5, 5),
        [
            [10, 0, 0, 0, 0],
            [0, -70, -80, -90, -100],
            [1100, 1200, 1300, 1400, 1500],
            [1600, 1700, 1800, 1900, 2000],
            [2100, 2200, 2300, 2400, 2500],
        ],
    ),
    (
        "relative-same-three-regions",
        dict(kernel_size=(1,), relative=True, padding="same"),
        [(0, lambda x: 10 * x[0]), (1, lambda x: -10 * x[0]), (slice(2, None), lambda x: 100 * x[0])],
        jnp.arange(1, 11),
        [10, -20, 300, 400, 500, 600, 700, 800, 900, 1000],
    ),
    (
        "2d-last-column",
        dict(kernel_size=(1, 1)),
        [((slice(None), slice(None)), lambda x: x[0, 0]), ((slice(None), -1), lambda x: -x[0, 0])],
        mat(3, 3),
        [[1, 2, -3], [4, 5, -6], [7, 8, -9]],
    ),
    *[
        (
            f"3d-partial-index-{index}",
            dict(kernel_size=(1, 2, 2), padding=((0, 0), (0, 1), (0, 1)), relative=True),
            [(slice(None), lambda x: x[0, 0, 0]), (index, lambda x: -1)],
            mat(2, 3, 3),
            np.where(mask, -1, np.asarray(mat(2, 3, 3))),
        )
        for index, mask in [
            (0, np.arange(18).reshape(2, 3, 3) < 9),
            ((0, 0), np.arange(18).reshape(2, 3, 3) < 3),
            ((0, 0, 0), np.arange(18).reshape(2, 3, 3) < 1),
        ]
    ],
    *[
        (
            f"relative-padding-{p}-index-0",
            dict(kernel_size=(3,), relative=True, padding=p),
            [(slice(None), lambda x: x[0] + x[1]), (0, lambda x: 90)],
            mat(5),
            e,
        )
        for p, e in [
            (((1, 1),), [90, 5, 7, 9, 5]),
            (((0, 1),), [5, 7, 9, 5]),
            (((1, 0),), [90, 5, 7, 9]),
            (((0, 0),), [5, 7, 9]),
            (((-1, -1),), [7]),
            (((0, -1),), [5, 7]),
            (((-1, 0),), [7, 9]),
        ]
    ],
    (
        "both-borders",
        dict(kernel_size=(3,), relative=True, padding=((1, 1),)),
        [(slice(None), lambda x: x[-1] + x[0]), (0, lambda x: 90), (4, lambda x: 60)],
        mat(5),
        [90, 3, 5, 7, 60],
    ),
    (
        "named-by-index",
        dict(kernel_size=(3,), named_axis={0: "i"}, relative=True, padding="same"),
        [(0, lambda x: x["i"] * 100), (slice(1, None), lambda x: x["i-1"])],
        mat(5),
        [100, 1, 2, 3, 4],
    ),
    (
        "anchors-in-padding-get-no-function",
        dict(kernel_size=(3,), padding=2),
        [(Ellipsis, jnp.sum)],
        mat(5),
        [0, 3, 6, 9, 12, 9, 0],
    ),
    (
        "vector-output-zeros-elsewhere",
        dict(kernel_size=(2,)),
        [(1, lambda v: v)],
        mat(4),
        [[0, 0], [2, 3], [0, 0]],
    ),
    (
        "ellipsis-last-axis",
        dict(kernel_size=1),
        [((Ellipsis, 1), lambda v: -v[0, 0])],
        mat(2, 3),
        [[0, -2, 0], [0, -5, 0]],
    ),
]


@case_table("kw, assignments, x, expected", BY_INDEX_CASES)
def test_by_index_facts(kw, assignments, x, expected):
    """Functions by index: the latest assignment wins, zeros where none applies (docs/semantics.md)."""
    F = by_index(kmap, assignments, **kw)
    check(F(x), expected)
    check(F(x), expected)  # assignments are not altered by calling (calls are pure)


def test_array_call_with_extra_args():
    F = by_index(kmap, [(0, lambda v, a: v[0] * a), (slice(1, None), lambda v, a: -v[0] * a)], kernel_size=(1,))
    check(F(jnp.arange(1, 11), 3), [3, -6, -9, -12, -15, -18, -21, -24, -27, -30])
    check(F(jnp.arange(1, 11), a=3), [3, -6, -9, -12, -15, -18, -21, -24, -27, -30])


def test_by_index_dtypes_are_promoted():
    """Index functions of different dtypes are promoted: a float constant next to an int32 function gives float32."""
    F = by_index(kmap, [(0, lambda v: 1.5), (slice(1, None), lambda v: v[0])], kernel_size=(1,))
    check(F(mat(4)), [1.5, 2.0, 3.0, 4.0], jnp.float32)


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16, jnp.int8, jnp.uint8, jnp.float32])
def test_python_constants_by_index_do_not_widen_the_dtype(dtype):
    """A constant function (the seed's boundary ``lambda u: 1``) promotes like a Python scalar, as in jnp."""
    F = by_index(kmap, [(Ellipsis, lambda v: v[1]), (0, lambda v: 1)], kernel_size=3, padding="same")
    x = jnp.arange(1, 6).astype(dtype)
    out = F(x)
    assert out.dtype == jnp.result_type(x, 1) == dtype
    check(out, [1, 2, 3, 4, 5], dtype)
    G = by_index(kmap, [(Ellipsis, lambda v: 1), (0, lambda v: 2.0)], kernel_size=1)
    check(G(x), [2.0, 1.0, 1.0, 1.0, 1.0], jnp.float32)  # Python int and float: the default float


def test_chained_assignment_records_two_assignments():
    """``K[a] = K[b] = f`` assigns ``f`` to both indices."""
    F = kmap(kernel_size=1)
    F[1] = F[3] = lambda v: v[0] * 10
    check(F(mat(5)), [0, 20, 0, 40, 0])


def test_reassigning_the_same_function_raises_its_priority():
    """The most recent assignment wins even when it reuses an earlier function object."""
    f, g = (lambda v: v[0]), (lambda v: -v[0])
    F = by_index(kmap, [(slice(None), f), (slice(None), g), (slice(0, 2), f)], kernel_size=1)
    check(F(mat(4)), [1, 2, -3, -4])


def test_decorator_ignores_assignments():
    """A wrapper ``K(f)`` applies ``f`` everywhere whatever ``K[idx]`` holds."""
    K = kmap(kernel_size=1)
    K[0] = lambda v: -100
    check(K(lambda v: v[0] * 2)(mat(3)), [2, 4, 6])
    check(K(mat(3)), [-100, 0, 0])


def test_decorator_keeps_function_metadata():
    def my_stencil(x):
        """doc"""
        return x.sum()

    g = kmap(kernel_size=2)(my_stencil)
    assert g.__name__ == "my_stencil" and g.__doc__ == "doc"
    assert g.__wrapped__ is my_stencil


# ----------------------------------------------------------------------------- the seed's layers, conv and patches


class MaxPool2D:
    """The seed's MaxPool2D without treeclass."""

    def __init__(self, *, kernel_size=(2, 2), strides=2, padding="valid"):
        self.kernel_size, self.strides, self.padding = kernel_size, strides, padding

    def __call__(self, x):
        @jax.vmap
        @jax.vmap
        @kernex.kmap(kernel_size=self.kernel_size, strides=self.strides, padding=self.padding)
        def _maxpool2d(x):
            return jnp.max(x)

        return _maxpool2d(x)


@pytest.mark.parametrize(
    "kw, expected",
    [
        (dict(kernel_size=(2, 2), strides=(2, 2), padding="same"), [[7, 9, 10], [17, 19, 20], [22, 24, 25]]),
        (dict(), [[7, 9], [17, 19]]),
        (dict(kernel_size=(3, 3), strides=2, padding="same"), [[7, 9, 10], [17, 19, 20], [22, 24, 25]]),
        (dict(kernel_size=(3, 3), strides=1, padding="valid"), [[13, 14, 15], [18, 19, 20], [23, 24, 25]]),
    ],
    ids=["k2-s2-same", "default", "k3-s2-same", "k3-valid"],
)
def test_maxpool2d(kw, expected):
    out = MaxPool2D(**kw)(jnp.arange(1, 26).reshape(1, 1, 5, 5))
    check(out, [[expected]], jnp.int32)


class AverageBlurLayer:
    """The seed's AverageBlurLayer without treeclass (``blur`` is the float result before the cast)."""

    def __init__(self, in_channels, kernel_size):
        self.in_channels, self.kernel_size = in_channels, kernel_size

    def blur(self, x):
        @jax.vmap
        @jax.vmap
        @kmap(kernel_size=(*self.kernel_size,), padding="same")
        def average_blur(x):
            kernel = jnp.ones([*self.kernel_size]) / jnp.array(self.kernel_size).prod()
            return jnp.sum(x * (kernel), dtype=jnp.float32)

        return average_blur(x)

    def __call__(self, x):
        return self.blur(x).astype(jnp.uint8)


@pytest.mark.parametrize("size, shape", [(3, (1, 3, 9, 11)), (5, (2, 3, 9, 11)), (25, (1, 4, 30, 32))])
def test_average_blur_layer(size, shape):
    """AverageBlurLayer: mean of the zero-padded window; jax.jit(layer) works (the seed's 25x25 too); uint8 output."""
    x = jnp.asarray(np.random.default_rng(size).integers(0, 256, shape), dtype=jnp.uint8)
    layer = AverageBlurLayer(in_channels=shape[1], kernel_size=(size, size))
    expected = scipy.ndimage.uniform_filter(np.asarray(x, np.float64), size=(1, 1, size, size), mode="constant")
    np.testing.assert_allclose(np.asarray(layer.blur(x)), expected, rtol=1e-5, atol=1e-3)
    out = jax.jit(layer)(x)
    assert out.shape == x.shape and out.dtype == jnp.uint8


class Conv2D:
    """The seed's Conv2D layer without treeclass."""

    def __init__(self, *, in_channels, out_channels, kernel_size, strides=1, padding=("same", "same"),
                 key=jax.random.PRNGKey(0), use_bias=True,
                 kernel_initializer=jax.nn.initializers.kaiming_uniform()):  # fmt: skip
        self.weight = kernel_initializer(key, (out_channels, in_channels, *kernel_size))
        self.bias = jnp.zeros((out_channels, *((1,) * len(kernel_size)))) if use_bias else None
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.strides = strides
        self.padding = ("valid",) + padding

    def __call__(self, x):
        @kernex.kmap(kernel_size=(self.in_channels, *self.kernel_size), strides=self.strides, padding=self.padding)
        def _conv2d(x, w):
            return jnp.sum(x * w)

        @jax.vmap
        def fwd_image(image):
            return jax.vmap(lambda w: _conv2d(image, w))(self.weight)[:, 0] + (self.bias if self.bias is not None else 0)

        return fwd_image(x)


@pytest.mark.parametrize(
    "strides, lax_padding, out_shape",
    [(1, "SAME", (2, 4, 8, 8)), (2, ((1, 1), (1, 1)), (2, 4, 4, 4))],
    ids=["same", "strides2"],
)
def test_conv2d_layer(strides, lax_padding, out_shape):
    layer = Conv2D(in_channels=3, out_channels=4, kernel_size=(3, 3), strides=strides)
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 3, 8, 8))
    out = layer(x)
    expected = lax.conv_general_dilated(x, layer.weight, (strides, strides), lax_padding, dimension_numbers=("NCHW", "OIHW", "NCHW"))
    assert out.shape == out_shape
    np.testing.assert_allclose(np.asarray(out), np.asarray(expected + layer.bias[None]), atol=1e-5, rtol=1e-5)


@jax.jit
@kmap(kernel_size=(3, 3, 3), padding=("valid", "same", "same"))
def kernex_conv2d(x, w):
    return jnp.sum(x * w)


def test_seed_conv_on_a_ramp():
    out = kernex_conv2d(jnp.arange(1, 49).reshape(3, 4, 4).astype(jnp.float32), jnp.ones((3, 3, 3)))
    expected = [[[234, 360, 378, 258], [387, 594, 621, 423], [459, 702, 729, 495], [330, 504, 522, 354]]]
    check(out, expected, jnp.float32)


@pytest.mark.parametrize("H", [5, 16])
def test_seed_conv_matches_lax(H):
    kx, kw = jax.random.split(jax.random.PRNGKey(H))
    x, w = jax.random.normal(kx, (3, H, H)), jax.random.normal(kw, (3, 3, 3))
    expected = lax.conv_general_dilated(x[None], w[None], (1, 1), "SAME", dimension_numbers=("NCHW", "OIHW", "NCHW"))[0]
    out = kernex_conv2d(x, w)
    assert out.shape == (1, H, H)
    np.testing.assert_allclose(np.asarray(out), np.asarray(expected), atol=1e-3)


def test_patches_match_lax():
    get_patches = jax.jit(kmap(kernel_size=(3,), padding="same")(lambda x: x))
    x = jnp.arange(1.0, 11.0)
    expected = lax.conv_general_dilated_patches(x[None, None], (3,), (1,), padding="same").reshape(-1, 10).T
    out = get_patches(x)
    check(out, np.asarray(expected))
    check(out[0], [0, 1, 2])
    check(out[9], [9, 10, 0])
    y = jax.random.normal(jax.random.PRNGKey(0), (37,))
    expected = lax.conv_general_dilated_patches(y[None, None], (3,), (1,), padding="same").reshape(-1, 37).T
    np.testing.assert_allclose(np.asarray(get_patches(y)), np.asarray(expected))


def test_depthwise_conv():
    f = jax.jit(jax.vmap(kmap(kernel_size=(3, 3), padding=("same", "same"))(lambda x, w: jnp.sum(x * w))))
    out = f(jnp.arange(1, 51).reshape(2, 5, 5), jnp.arange(1, 19).reshape(2, 3, 3))
    assert out.shape == (2, 5, 5)
    expected0 = [
        [128, 202, 241, 280, 184],
        [276, 411, 456, 501, 318],
        [441, 636, 681, 726, 453],
        [606, 861, 906, 951, 588],
        [320, 436, 457, 478, 280],
    ]
    check(out[0], expected0)


def test_vmapped_strided_mean():
    out = jax.vmap(kmap(kernel_size=(3, 3), strides=(2, 2))(jnp.mean))(jnp.arange(1.0, 51.0).reshape(2, 5, 5))
    check(out, [[[7, 9], [17, 19]], [[32, 34], [42, 44]]], jnp.float32)


# ----------------------------------------------------------------------------- transformations, purity, inputs


def test_kernel_object_jit_grad_vmap_wrt_array_and_args():
    """jax.jit(K), jax.jit(K.__call__), grad/value_and_grad w.r.t. array and args, vmap."""
    fns = [(lambda v, w, b=0.0: jnp.sum(v * w) + b), (lambda v, w, b=0.0: jnp.sin(v[-1]) * w[0] * b)]
    assignments = [(slice(None, 2), fns[0]), (slice(2, None), fns[1])]
    kw = dict(kernel_size=(3,), padding="same", relative=True)
    F = by_index(kmap, assignments, **kw)
    reference = functools.partial(kmap_reference, fns=assignments, **kw)
    check_transformations(F, reference, jnp.linspace(-1.0, 2.0, 6), jnp.array([0.5, -1.0, 2.0]), 1.5)


def test_kernel_objects_are_hashable():
    F = seed_F()
    assert hash(F) == hash(F)
    assert {F: 1}[F] == 1


def test_numpy_inputs():
    """Numpy arrays are accepted by wrappers and by the array call."""
    x = np.arange(1, 6)
    check(kmap(kernel_size=(3,), padding="same")(jnp.sum)(x), [3, 6, 9, 12, 9])
    check(seed_F()(np.arange(1.0, 4.0, dtype=np.float32)), [1, 8, 27])
    check(kmap(kernel_size=(2,))(lambda v, w: jnp.sum(v * w))(x, np.array([1, -1])), [-1, -1, -1, -1])


def test_decorated_function_is_pure_across_shapes():
    """Results do not depend on earlier calls with other shapes (calls are pure)."""
    g = kmap(kernel_size=(3, -1), padding=("same", 0))(lambda v: v.max() - v.min())
    a, b = mat(4, 3), mat(6, 5) * 2
    first = g(a)
    g(b)
    check(g(a), first)
    check(first, kmap_reference(a, lambda v: v.max() - v.min(), kernel_size=(3, -1), padding=("same", 0)))
    check(g(b), kmap_reference(b, lambda v: v.max() - v.min(), kernel_size=(3, -1), padding=("same", 0)))


# ----------------------------------------------------------------------------- errors (docs/semantics.md, 'Errors')


def registered(**kw):
    return by_index(kmap, [(slice(None), jnp.sum)], **kw)


ERRORS = [
    # id, thunk, exception, message pattern
    ("pair-on-1d", lambda: kmap(kernel_size=(3,), padding=(0, 1))(S)(mat(5)), ValueError, "padding"),
    ("full", lambda: kmap(kernel_size=(3,), padding="full")(S)(mat(5)), ValueError, "padding"),
    ("full-per-axis", lambda: kmap(kernel_size=3, padding=("same", "FULL"))(S)(mat(4, 4)), ValueError, "padding"),
    ("kernel-rank", lambda: kmap(kernel_size=(3,))(S)(mat(4, 4)), ValueError, "kernel_size"),
    ("kernel-rank-long", lambda: kmap(kernel_size=(3, 3, 3))(S)(mat(4, 4)), ValueError, "kernel_size"),
    ("kernel-too-large", lambda: kmap(kernel_size=(6,))(S)(mat(5)), ValueError, "kernel_size"),
    ("kernel-too-large-padded", lambda: kmap(kernel_size=(6,), padding=3)(S)(mat(5)), ValueError, "kernel_size"),
    ("kernel-0", lambda: kmap(kernel_size=0)(S)(mat(5)), ValueError, "kernel_size"),
    ("kernel-negative", lambda: kmap(kernel_size=(-2,))(S)(mat(5)), ValueError, "kernel_size"),
    ("strides-rank", lambda: kmap(kernel_size=(1,), strides=(1, 1))(S)(mat(5)), ValueError, "strides"),
    ("strides-0", lambda: kmap(kernel_size=(1,), strides=0)(S)(mat(5)), ValueError, "strides"),
    ("strides-negative", lambda: kmap(kernel_size=(1, 1), strides=(1, -1))(S)(mat(5, 5)), ValueError, "strides"),
    ("padding-rank", lambda: kmap(kernel_size=1, padding=(0, 0, 0))(S)(mat(5, 5)), ValueError, "padding"),
    ("output-length-0", lambda: kmap(kernel_size=(3,), padding=((-2, -1),))(S)(mat(5)), ValueError, "padding"),
    ("output-length-negative", lambda: kmap(kernel_size=(3, 1), padding=-2)(S)(mat(5, 5)), ValueError, "padding"),
    ("padding-float", lambda: kmap(kernel_size=1, padding=1.5)(S)(mat(5)), TypeError, "padding"),
    ("padding-None", lambda: kmap(kernel_size=1, padding=None)(S)(mat(5)), TypeError, "padding"),
    ("padding-triple", lambda: kmap(kernel_size=1, padding=((0, 1, 2),))(S)(mat(5)), TypeError, "padding"),
    ("padding-dict", lambda: kmap(kernel_size=1, padding={0: 1})(S)(mat(5)), TypeError, "padding"),
    ("no-registered-function", lambda: kmap(kernel_size=1)(mat(5)), ValueError, "regist"),
    ("first-arg-int", lambda: kmap(kernel_size=1)(3), ValueError, "kmap"),
    ("first-arg-str", lambda: kmap(kernel_size=1)("abc"), ValueError, "kmap"),
    ("first-arg-None", lambda: registered(kernel_size=1)(None), ValueError, "kmap"),
    ("no-args", lambda: kmap(kernel_size=1)(), ValueError, "kmap"),
    ("callable-with-extra-arg", lambda: kmap(kernel_size=1)(S, 1), ValueError, "kmap"),
    ("callable-with-kwarg", lambda: kmap(kernel_size=1)(S, b=1), ValueError, "kmap"),
    ("rank-0-decorated", lambda: kmap(kernel_size=1)(S)(jnp.array(1.0)), ValueError, "rank"),
    ("rank-0-array-call", lambda: registered(kernel_size=1)(jnp.array(1.0)), ValueError, "rank"),
]


@case_table("thunk, exc, match", ERRORS)
def test_errors(thunk, exc, match):
    with pytest.raises(exc, match=match):
        thunk()


def test_non_callable_assignment_is_a_type_error():
    F = kmap(kernel_size=1)
    for value in [3, "f", None, jnp.ones(3)]:
        with pytest.raises(TypeError, match="function"):
            F[0] = value


@pytest.mark.parametrize(
    "index", [[0, 1], 1.5, "a", np.array([0, 1]), jnp.array(1), (0, [1]), (slice(0, 1.5),)], ids=repr
)
def test_bad_index_type_is_a_type_error(index):
    F = kmap(kernel_size=1)
    with pytest.raises(TypeError, match="index|slice"):
        F[index] = jnp.sum


@pytest.mark.parametrize(
    "f, given",
    [(lambda v: "abc", "returned 'abc' of type str;"), (lambda v: (v[0], "abc"), "of type str (inside the tuple")],
    ids=["str", "str-in-tuple"],
)
def test_window_function_returning_a_non_array_is_a_type_error(f, given):
    """Not JAX's "traced for jit returned a value of type str": the return value and what is accepted."""
    for K in (kmap, kernex.kscan):
        with pytest.raises(TypeError, match="array or scalar") as info:
            K(kernel_size=3)(f)(mat(5))
        assert given in str(info.value) and "traced for jit" not in str(info.value)


@pytest.mark.parametrize("shape", [(0,), (3, 0)])
def test_empty_input_axis_is_named_in_the_error(shape):
    with pytest.raises(ValueError, match=r"axis \d is empty \(length 0\)") as info:
        kmap(kernel_size=1)(jnp.sum)(jnp.ones(shape))
    assert str(shape) in str(info.value)


def test_mismatched_output_shapes():
    """Functions assigned by index must return equal shapes."""
    F = by_index(kmap, [(0, lambda v: v), (slice(1, None), lambda v: v.sum())], kernel_size=(2,))
    with pytest.raises((ValueError, TypeError), match="shape"):
        F(mat(5))


# ----------------------------------------------------------------------------- property tests


def _tolerances(dtype):
    return dict(rtol=1e-5, atol=1e-5) if np.dtype(dtype).kind == "f" else dict(rtol=0, atol=0)


def _compare(got, expected):
    assert got.shape == expected.shape, (got.shape, expected.shape)
    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), **_tolerances(expected.dtype))


def _setup(case, relative, dtype, seed):
    kernel, _, _, _ = resolve(case["shape"], case["kernel_size"], case["strides"], case["padding"])
    x = random_array(seed, case["shape"], dtype)
    w = random_array(seed + 1, kernel, np.float32)
    kw = dict(kernel_size=case["kernel_size"], strides=case["strides"], padding=case["padding"], relative=relative)
    return kernel, x, w, kw


SEEDS = st.integers(0, 2**31 - 1)
DTYPES = st.sampled_from([np.float32, np.int32])


def _maybe_jit(fn, use_jit):
    return jax.jit(fn) if use_jit else fn


@given(
    case=geometries(),
    relative=st.booleans(),
    name=st.sampled_from(sorted(kmap_functions((1,), False))),
    dtype=DTYPES,
    seed=SEEDS,
    use_jit=st.booleans(),
)
@property_settings(80)
def test_property_decorated_matches_reference(case, relative, name, dtype, seed, use_jit):
    kernel, x, w, kw = _setup(case, relative, dtype, seed)
    f = kmap_functions(kernel, relative)[name]
    got = _maybe_jit(kmap(**kw)(f), use_jit)(x, w, b=0.5)
    _compare(got, kmap_reference(x, f, **kw, args=(w,), kwargs={"b": 0.5}))


@st.composite
def assignment_lists(draw, shape, pool):
    return [(draw(indices(shape)), draw(st.sampled_from(pool))) for _ in range(draw(st.integers(1, 3)))]


@given(case=geometries(), relative=st.booleans(), dtype=DTYPES, seed=SEEDS, use_jit=st.booleans(), data=st.data())
@property_settings(60)
def test_property_by_index_matches_reference(case, relative, dtype, seed, use_jit, data):
    kernel, x, w, kw = _setup(case, relative, dtype, seed)
    pool = kmap_functions(kernel, relative)
    names = data.draw(assignment_lists(case["shape"], SCALAR_KMAP))
    assignments = [(index, pool[name]) for index, name in names]
    F = by_index(kmap, assignments, **kw)
    got = _maybe_jit(F, use_jit)(x, w, b=0.5)
    _compare(got, kmap_reference(x, assignments, **kw, args=(w,), kwargs={"b": 0.5}))


@given(case=geometries(), relative=st.booleans(), seed=SEEDS, decorated=st.booleans(), data=st.data())
@property_settings(30)
def test_property_gradients_match_reference(case, relative, seed, decorated, data):
    """grad of sum(out * cotangent) w.r.t. the input, a positional and a keyword argument (under jit)."""
    kernel, x, w, kw = _setup(case, relative, np.float32, seed)
    pool = kmap_functions(kernel, relative)
    if decorated:
        fns = pool[data.draw(st.sampled_from(sorted(pool)))]
        apply = kmap(**kw)(fns)
    else:
        fns = [(i, pool[n]) for i, n in data.draw(assignment_lists(case["shape"], SCALAR_KMAP))]
        apply = by_index(kmap, fns, **kw)
    ref = functools.partial(kmap_reference, fns=fns, **kw, xp=jnp)
    ct = random_array(seed + 2, ref(x, args=(w,), kwargs={"b": 0.5}).shape, np.float32)

    def grad(fn):
        return jax.jit(jax.grad(lambda x, w, b: jnp.sum(fn(x, w, b) * ct), argnums=(0, 1, 2)))

    got = grad(lambda x, w, b: apply(x, w, b=b))(x, w, 0.5)
    expected = grad(lambda x, w, b: ref(x, args=(w,), kwargs={"b": b}))(x, w, 0.5)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=1e-4, atol=1e-4)


@given(data=named_cases(), relative=st.booleans(), seed=SEEDS)
@property_settings(40)
def test_property_named_axis_matches_reference(data, relative, seed):
    """Named keys (all/partial naming, labels in any order) read anchor-relative cells, whatever ``relative`` says."""
    case, named_axis, f = data
    x = random_array(seed, case["shape"], np.int32)
    kw = dict(kernel_size=case["kernel_size"], strides=case["strides"], padding=case["padding"], relative=relative)
    got = kmap(**kw, named_axis=named_axis)(f)(x)
    _compare(got, kmap_reference(x, f, **kw, named_axis=named_axis))


# ----------------------------------------------------------------------------- region-restricted F[idx] = f


def test_by_index_gradient_is_not_nan_where_a_function_does_not_own_the_window():
    """sqrt's infinite derivative at 0 is outside its region: the gradient is the per-region one."""
    F = kmap(kernel_size=1)
    F[0] = lambda w: jnp.sqrt(w[0])
    F[1:] = lambda w: w[0]
    x = jnp.array([1.0, 0.0, 2.0, 4.0])
    assert jax.grad(lambda x: F(x).sum())(x).tolist() == [0.5, 1.0, 1.0, 1.0]
    assert jax.jit(jax.grad(lambda x: F(x).sum()))(x).tolist() == [0.5, 1.0, 1.0, 1.0]


def test_latest_assignment_wins_also_for_gradients():
    """A later assignment overlapping an earlier function's region: the earlier one's infinite derivative
    where it is overwritten never reaches the gradient (guarded inputs, lower/guard.py)."""
    F = kmap(kernel_size=3, padding="same", relative=True)
    fns = [(slice(None), lambda w: jnp.log(w[0]) + w[1]), (0, lambda w: w[0]), (2, lambda w: w[-1])]
    for index, fn in fns:
        F[index] = fn
    x = jnp.array([0.0, 1.0, 0.0, 2.0])
    loss = lambda f: lambda x: jnp.sum(f(x) ** 2)  # noqa: E731
    got = jax.grad(loss(F))(x)
    expected = jax.grad(loss(lambda x: kmap_reference(x, fns, xp=jnp, kernel_size=3, padding="same", relative=True)))(x)
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-6)
    assert np.isfinite(np.asarray(got)).all()


def test_by_index_functions_run_only_on_their_windows():
    """The interior update of the seed's idiom is evaluated on the interior windows only."""
    F = kmap(kernel_size=3, padding="same")
    F[...] = lambda w: 0.0
    F[1:-1, 1:-1] = lambda w: jnp.log(w[1, 1])  # log of the zero padding would be -inf
    F[::2, 1] = lambda w: w.sum()
    x = jnp.arange(1.0, 21.0).reshape(4, 5)
    expected = np.zeros((4, 5), np.float32)
    expected[1:-1, 1:-1] = np.log(np.asarray(x)[1:-1, 1:-1])
    padded = np.pad(np.asarray(x), 1)
    for i in (0, 2):
        expected[i, 1] = padded[i:i + 3, 1:4].sum()
    np.testing.assert_allclose(F(x), expected, rtol=1e-6)
    g = jax.grad(lambda x: jnp.sum(F(x) ** 2))(x)
    assert np.isfinite(np.asarray(g)).all()
    logs = [e for e in jaxpr_equations(jax.make_jaxpr(F)(x)) if e.primitive.name == "log"]
    assert [e.outvars[0].aval.shape for e in logs] == [(2, 3)]


def test_by_index_functions_with_finite_derivatives_are_masked_on_every_window():
    """The seed's F[0] = x**2; F[1:] = x**3 is one fused select (no pieces placed), as jnp.where by hand."""
    F = kmap(kernel_size=1)
    F[0] = lambda v: v[0] ** 2
    F[1:] = lambda v: v[0] ** 3
    x = jnp.arange(1.0, 6.0)
    names = {e.primitive.name for e in jaxpr_equations(jax.make_jaxpr(F)(x))}
    assert "select_n" in names and not names & {"pad", "dynamic_update_slice", "scatter"}
    assert F(x).tolist() == [1.0, 8.0, 27.0, 64.0, 125.0]
    np.testing.assert_allclose(jax.grad(lambda x: F(x).sum())(x), [2.0, 12.0, 27.0, 48.0, 75.0])
