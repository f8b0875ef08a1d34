"""``kmap`` (SPEC §1): facts 1-62 of §6.1, the seed's examples, JAX transformations,
errors, and property tests against the brute-force reference of ``reference.py``."""

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
    check,
    check_transformations,
    fact_table,
    geometries,
    indices,
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


def test_fact02_laplacian_of_ones():
    check(laplacian(jnp.ones([10, 10])), np.zeros((8, 8)), jnp.float32)


def test_fact03_laplacian_of_linear_ramp():
    check(laplacian(mat(5, 5).astype(jnp.float32)), np.zeros((3, 3)), jnp.float32)


def test_fact04_relative_identity_reads_the_centre():
    check(identity(mat(5, 5)), [[7, 8, 9], [12, 13, 14], [17, 18, 19]])


def test_fact05_06_patches():
    patches = get_3x3_patches(mat(5, 5))
    assert patches.shape == (5, 5, 3, 3) and patches.dtype == jnp.int32
    check(patches[0, 0], [[0, 0, 0], [0, 1, 2], [0, 6, 7]])
    check(patches[2, 2], [[7, 8, 9], [12, 13, 14], [17, 18, 19]])
    check(patches[4, 4], [[19, 20, 0], [24, 25, 0], [0, 0, 0]])


def test_fact07_moving_average():
    check(moving_average(jnp.array([1, 2, 3, 7, 9])), [2.0, 4.0, 6.3333335], jnp.float32, exact=False)


def test_fact08_09_function_by_index_and_gradient():
    F = seed_F()
    x = jnp.arange(1, 11).astype("float32")
    check(F(x), [1, 8, 27, 64, 125, 216, 343, 512, 729, 1000])
    check(jax.grad(lambda x: jnp.sum(F(x)))(x), [2, 12, 27, 48, 75, 108, 147, 192, 243, 300])


def test_fact10_jit_and_vmap_of_kernel_object():
    check(jax.jit(seed_F())(jnp.arange(1.0, 4.0)), [1, 8, 27])
    check(jax.vmap(seed_F())(jnp.arange(1.0, 7.0).reshape(2, 3)), [[1, 8, 27], [16, 125, 216]])


def test_fact11_calling_twice_gives_the_same_answer():
    F = seed_F()
    x = jnp.arange(1.0, 11.0)
    first = F(x)
    check(F(x), first)
    check(F(jnp.arange(1.0, 4.0)), [1, 8, 27])  # a call with another shape in between
    check(F(x), first)
    check(first, [1, 8, 27, 64, 125, 216, 343, 512, 729, 1000])


# ----------------------------------------------------------------------------- decorator-form facts

S = jnp.sum
ID = lambda v: v  # noqa: E731

DECORATED_FACTS = [
    # id, kmap kwargs, f, input, expected
    ("fact01", dict(kernel_size=(3,)), S, jnp.array([1, 2, 3, 4, 5]), [6, 9, 12]),
    ("fact12-valid", dict(kernel_size=(3,), padding="valid"), S, mat(5), [6, 9, 12]),
    ("fact12-0", dict(kernel_size=(3,), padding=0), S, mat(5), [6, 9, 12]),
    *[
        (f"fact12-{p!r}", dict(kernel_size=(3,), padding=p), S, mat(5), [3, 6, 9, 12, 9])
        for p in ["same", "SAME", "Same", 1, (1,), ("same",), ((1, 1),)]
    ],
    ("fact13-2", dict(kernel_size=(3,), padding=2), S, mat(5), [1, 3, 6, 9, 12, 9, 5]),
    ("fact13-(0,2)", dict(kernel_size=(3,), padding=((0, 2),)), S, mat(5), [6, 9, 12, 9, 5]),
    ("fact13-(2,0)", dict(kernel_size=(3,), padding=((2, 0),)), S, mat(5), [1, 3, 6, 9, 12]),
    ("fact14-(-1,-1)", dict(kernel_size=(3,), padding=((-1, -1),)), S, mat(5), [9]),
    ("fact14-(-1,2)", dict(kernel_size=(3,), padding=((-1, 2),)), S, mat(5), [9, 12, 9, 5]),
    ("fact15-same", dict(kernel_size=(2,), padding="same"), ID, mat(5), [[1, 2], [2, 3], [3, 4], [4, 5], [5, 0]]),
    ("fact15-(1,0)", dict(kernel_size=(2,), padding=((1, 0),)), ID, mat(5), [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]]),
    ("fact15-valid", dict(kernel_size=(2,), padding="valid"), ID, mat(5), [[1, 2], [2, 3], [3, 4], [4, 5]]),
    (
        "fact16-same",
        dict(kernel_size=(4,), padding="same"),
        ID,
        mat(5),
        [[0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5], [3, 4, 5, 0], [4, 5, 0, 0]],
    ),
    ("fact16-valid", dict(kernel_size=(4,), padding="valid"), ID, mat(5), [[1, 2, 3, 4], [2, 3, 4, 5]]),
    ("fact17-s2-valid", dict(kernel_size=(3,), strides=2), S, mat(5), [6, 12]),
    ("fact17-s2-same", dict(kernel_size=(3,), strides=2, padding="same"), S, mat(5), [3, 9, 9]),
    ("fact17-s3-valid", dict(kernel_size=(3,), strides=3), S, mat(5), [6]),
    ("fact17-s3-same", dict(kernel_size=(3,), strides=3, padding="same"), S, mat(5), [3, 12]),
    ("fact17-s(2,)-same", dict(kernel_size=(3,), strides=(2,), padding="same"), S, mat(5), [3, 9, 9]),
    ("fact18-s2", dict(kernel_size=(1,), strides=2, padding="same"), lambda v: v[0], mat(5), [1, 3, 5]),
    ("fact18-s3", dict(kernel_size=(1,), strides=3, padding="same"), lambda v: v[0], mat(5), [1, 4]),
    ("fact19-a", dict(kernel_size=(2, 2), strides=2), S, mat(4, 4), [[14, 22], [46, 54]]),
    ("fact19-b", dict(kernel_size=(2, 2), strides=(1, 2)), S, mat(3, 4), [[14, 22], [30, 38]]),
    (
        "fact20",
        dict(kernel_size=(2, 2), strides=2),
        ID,
        mat(4, 4),
        [[[[1, 2], [5, 6]], [[3, 4], [7, 8]]], [[[9, 10], [13, 14]], [[11, 12], [15, 16]]]],
    ),
    ("fact21-a", dict(kernel_size=(-1,)), S, mat(5), [15]),
    ("fact21-b", dict(kernel_size=(-1, 1)), S, mat(3, 4), [[15, 18, 21, 24]]),
    ("fact21-c", dict(kernel_size=(1, -1)), S, mat(3, 4), [[10], [26], [42]]),
    (
        "fact22",
        dict(kernel_size=(-1, 1), padding="same"),
        S,
        mat(3, 4),
        [[6, 8, 10, 12], [15, 18, 21, 24], [14, 16, 18, 20]],
    ),
    ("fact24-a", dict(kernel_size=3), S, mat(5), [6, 9, 12]),
    ("fact24-b", dict(), lambda v: v[0, 0], mat(2, 2), [[1, 2], [3, 4]]),
    ("fact25-a", dict(kernel_size=(3,), relative=True), lambda v: v[-1], mat(5), [1, 2, 3]),
    ("fact25-b", dict(kernel_size=(3,), relative=True), lambda v: v[1], mat(5), [3, 4, 5]),
    ("fact25-c", dict(kernel_size=(3,), relative=True, padding="same"), lambda v: v[0], mat(5), [1, 2, 3, 4, 5]),
    (
        "fact26",
        dict(kernel_size=(3,), relative=True, padding="same"),
        ID,
        mat(5),
        [[1, 2, 0], [2, 3, 1], [3, 4, 2], [4, 5, 3], [5, 0, 4]],
    ),
    ("fact27-a", dict(kernel_size=(4,), relative=True, padding="same"), lambda v: v[-1], mat(5), [0, 1, 2, 3, 4]),
    ("fact27-b", dict(kernel_size=(4,), relative=True, padding="same"), lambda v: v[2], mat(5), [3, 4, 5, 0, 0]),
    (
        "fact27-c",
        dict(kernel_size=(4,), relative=True, padding="same"),
        ID,
        mat(5),
        [[1, 2, 3, 0], [2, 3, 4, 1], [3, 4, 5, 2], [4, 5, 0, 3], [5, 0, 0, 4]],
    ),
    ("fact28", dict(kernel_size=(3, 3), relative=True), ID, mat(3, 3), [[[[5, 6, 4], [8, 9, 7], [2, 3, 1]]]]),
    ("fact29-a", dict(kernel_size=(3,), padding="same"), lambda v: v[0], mat(5), [0, 1, 2, 3, 4]),
    ("fact29-b", dict(kernel_size=(3,), padding="same"), lambda v: v[-1], mat(5), [2, 3, 4, 5, 0]),
    ("fact29-c", dict(kernel_size=(3, 3)), lambda v: v[1, 1], mat(4, 4), [[6, 7], [10, 11]]),
    (
        "fact31",
        dict(kernel_size=(2,)),
        lambda v: jnp.stack([v.sum(), v.prod()]),
        mat(5),
        [[3, 2], [5, 6], [7, 12], [9, 20]],
    ),
    ("fact34", dict(kernel_size=(3, 3), padding="same"), S, jnp.ones((3, 3)), [[4, 6, 4], [6, 9, 6], [4, 6, 4]]),
    ("fact35-a", dict(kernel_size=(1, 3), padding=(0, 1)), S, mat(2, 3), [[3, 6, 5], [9, 15, 11]]),
    ("fact35-b", dict(kernel_size=(1, 3), padding=("valid", "same")), S, mat(2, 3), [[3, 6, 5], [9, 15, 11]]),
    ("fact51-(0,1)", dict(kernel_size=(2,), relative=True, padding=((0, 1),)), lambda x: x[0] * 10, mat(5), [10, 20, 30, 40, 50]),
    ("fact51-(-1,1)", dict(kernel_size=(2,), relative=True, padding=((-1, 1),)), lambda x: x[0] * 10, mat(5), [20, 30, 40, 50]),
    ("fact51-(0,0)", dict(kernel_size=(2,), relative=True, padding=((0, 0),)), lambda x: x[0] * 10, mat(5), [10, 20, 30, 40]),
    ("fact51-(-1,0)", dict(kernel_size=(2,), relative=True, padding=((-1, 0),)), lambda x: x[0] * 10, mat(5), [20, 30, 40]),
    ("fact51-(-2,0)", dict(kernel_size=(2,), relative=True, padding=((-2, 0),)), lambda x: x[0] * 10, mat(5), [30, 40]),
    ("fact51-(-1,-1)", dict(kernel_size=(2,), relative=True, padding=((-1, -1),)), lambda x: x[0] * 10, mat(5), [20, 30]),
    ("fact51-(-2,-1)", dict(kernel_size=(2,), relative=True, padding=((-2, -1),)), lambda x: x[0] * 10, mat(5), [30]),
    *[
        (f"fact52-{p}", dict(kernel_size=(2, 2), relative=True, padding=p), lambda x: x[0, 0] * 10, mat(3, 3), e)
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
        (f"fact53-{p}", dict(kernel_size=(1, 2, 2), padding=p), lambda x: x[0, 0, 0] * 10, mat(2, 3, 3), e)
        for p, e in [
            (((0, -1), (0, 1), (0, 1)), [[[10, 20, 30], [40, 50, 60], [70, 80, 90]]]),
            (((-1, 0), (0, 1), (0, 1)), [[[100, 110, 120], [130, 140, 150], [160, 170, 180]]]),
            (((0, 0), (-1, 1), (0, 1)), [[[40, 50, 60], [70, 80, 90]], [[130, 140, 150], [160, 170, 180]]]),
        ]
    ],
    *[
        (f"fact55-{k}", dict(kernel_size=(3, 3), named_axis={0: "i", 1: "j"}, relative=True), f, mat(4, 4), e)
        for k, f, e in [
            ("i-1,j", lambda x: x["i-1", "j"], [[2, 3], [6, 7]]),
            ("j,i-1", lambda x: x["j", "i-1"], [[2, 3], [6, 7]]),
            ("i,j+1", lambda x: x["i", "j+1"], [[7, 8], [11, 12]]),
        ]
    ],
    ("fact56", dict(kernel_size=(3,), named_axis={0: "i"}), lambda x: x["i+1"] - x["i-1"], mat(5), [2, 2, 2]),
    ("fact57", dict(kernel_size=(3, 3), named_axis={0: "i"}), lambda x: x["i-1", 1], mat(4, 4), [[3, 4], [7, 8]]),
    ("fact58-k2", dict(kernel_size=(2,), named_axis={0: "i"}), lambda x: x["i"] * 10 + x["i+1"], mat(5), [12, 23, 34, 45]),
    (
        "fact58-k4",
        dict(kernel_size=(4,), named_axis={0: "i"}),
        lambda x: x["i-1"] * 100 + x["i"] * 10 + x["i+2"],
        mat(6),
        [124, 235, 346],
    ),
    (
        "fact60",
        dict(kernel_size=(3,), named_axis={0: "i"}, relative=False),
        lambda x: x["i+1"] * 100 + x["i"] * 10 + x["i-1"],
        mat(5),
        [321, 432, 543],
    ),
]


@fact_table("kw, f, x, expected", DECORATED_FACTS)
def test_decorated_facts(kw, f, x, expected):
    """Facts 1, 12-29, 31, 34-35, 51-53, 55-58, 60 (decorator form, exact values)."""
    check(kmap(**kw)(f)(x), expected)


def test_fact57_named_key_errors():
    """Fact 57: partial naming is in axis order; out-of-range labels are KeyErrors."""
    with pytest.raises(KeyError):
        kmap(kernel_size=(3, 3), named_axis={0: "i"})(lambda x: x[1, "i-1"])(mat(4, 4))
    with pytest.raises(KeyError):
        kmap(kernel_size=(3, 3), named_axis={0: "i", 1: "j"})(lambda x: x["i-2", "j"])(mat(4, 4))
    with pytest.raises(KeyError):
        kernex.kscan(kernel_size=(3,), named_axis={0: "i"})(lambda x: x["j"])(mat(4))


def test_fact23_minus_one_is_resolved_at_every_call():
    g = kmap(kernel_size=(-1,))(jnp.sum)
    check(g(jnp.arange(5)), [10])
    check(g(jnp.arange(7)), [21])
    check(g(jnp.arange(5)), [10])


def test_fact30_extra_args_and_kwargs():
    g = kmap(kernel_size=(3,))(lambda v, w, b=0: jnp.sum(v * w) + b)
    w = jnp.array([1, 0, -1])
    check(g(mat(5), w), [-2, -2, -2])
    check(g(mat(5), w, b=100), [98, 98, 98])


def test_fact32_mean_of_ints_is_float32():
    check(kmap(kernel_size=(2,))(jnp.mean)(mat(5)), [1.5, 2.5, 3.5, 4.5], jnp.float32)


def test_fact33_conv_grad_jit_vmap():
    conv = kmap(kernel_size=(3,), padding="same")(lambda x, w: jnp.sum(x * w))
    x, w = jnp.arange(1.0, 6.0), jnp.array([1.0, 2.0, 3.0])
    check(conv(x, w), [8, 14, 20, 26, 14])
    check(jax.grad(lambda w: conv(x, w).sum())(w), [10, 15, 14])
    check(jax.grad(lambda x: conv(x, w).sum())(x), [3, 6, 6, 6, 5])
    check(jax.jit(conv)(x, w), [8, 14, 20, 26, 14])
    check(jax.vmap(conv, in_axes=(0, None))(jnp.stack([x, 2 * x]), w), [[8, 14, 20, 26, 14], [16, 28, 40, 52, 28]])


def test_python_scalar_output_is_int32():
    """SPEC §1.5: ``lambda v: 90`` gives an int32 result."""
    check(kmap(kernel_size=1)(lambda v: 90)(jnp.arange(3.0)), [90, 90, 90], jnp.int32)


# ----------------------------------------------------------------------------- function by index

v0 = lambda v: v[0]  # noqa: E731

BY_INDEX_FACTS = [
    # id, kernel kwargs, [(index, f), ...], input, expected
    (
        "fact36",
        dict(kernel_size=(3,), padding="valid", relative=True),
        [(0, lambda v: -1), (1, lambda v: -2), (slice(2, None), v0)],
        jnp.arange(1, 11),
        [-2, 3, 4, 5, 6, 7, 8, 9],
    ),
    (
        "fact37",
        dict(kernel_size=(1,)),
        [(2, lambda v: v[0] * 10), (5, lambda v: v[0] * 100)],
        jnp.arange(1, 11),
        [0, 0, 30, 0, 0, 600, 0, 0, 0, 0],
    ),
    (
        "fact38",
        dict(kernel_size=(1,)),
        [(5, lambda v: v[0] * 100), (2, lambda v: v[0] * 10)],
        jnp.arange(1, 11),
        [0, 0, 30, 0, 0, 600, 0, 0, 0, 0],
    ),
    ("fact39", dict(kernel_size=(1,)), [(2, lambda v: v[0] * 10)], jnp.arange(1, 11), [0, 0, 30, 0, 0, 0, 0, 0, 0, 0]),
    (
        "fact40",
        dict(kernel_size=(1,)),
        [(slice(None), v0), (slice(3, 6), lambda v: 10 * v[0]), (slice(5, 8), lambda v: 100 * v[0])],
        jnp.arange(1, 11),
        [1, 2, 3, 40, 50, 600, 700, 800, 9, 10],
    ),
    (
        "fact41",
        dict(kernel_size=(1,)),
        [(slice(None), v0), (-1, lambda v: 10 * v[0]), (slice(-3, -1), lambda v: 100 * v[0])],
        jnp.arange(1, 11),
        [1, 2, 3, 4, 5, 6, 7, 800, 900, 100],
    ),
    (
        "fact42-step2",
        dict(kernel_size=(1,)),
        [(slice(None), v0), (slice(1, None, 2), lambda v: -v[0])],
        jnp.arange(1, 11),
        [1, -2, 3, -4, 5, -6, 7, -8, 9, -10],
    ),
    (
        "fact42-step3",
        dict(kernel_size=(1,)),
        [(slice(None), v0), (slice(1, None, 3), lambda v: -v[0])],
        jnp.arange(1, 11),
        [1, -2, 3, 4, -5, 6, 7, -8, 9, 10],
    ),
    (
        "fact43",
        dict(kernel_size=(1,)),
        [(slice(None), v0), (slice(3, 6), lambda v: 10 * v[0]), (4, v0)],
        jnp.arange(1, 11),
        [1, 2, 3, 40, 5, 60, 7, 8, 9, 10],
    ),
    (
        "fact44",
        dict(kernel_size=(1,), strides=2),
        [(slice(None), v0), (4, lambda v: -v[0]), (5, lambda v: -100)],
        jnp.arange(1, 11),
        [1, 3, -5, 7, 9],
    ),
    (
        # SPEC's fact 45 lists [[10,20,30,40,50],[60,-70,...],...]: that is upstream's
        # first-function fallback and contradicts §1.9/D2 (row 0 cols 1-4 and (1,0) have
        # no assignment -> 0). We test the normative D2 reading; see the report.
        "fact45-D2",
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
        "fact46",
        dict(kernel_size=(1,), relative=True, padding="same"),
        [(0, lambda x: 10 * x[0]), (1, lambda x: -10 * x[0]), (slice(2, None), lambda x: 100 * x[0])],
        jnp.arange(1, 11),
        [10, -20, 300, 400, 500, 600, 700, 800, 900, 1000],
    ),
    (
        "fact47",
        dict(kernel_size=(1, 1)),
        [((slice(None), slice(None)), lambda x: x[0, 0]), ((slice(None), -1), lambda x: -x[0, 0])],
        mat(3, 3),
        [[1, 2, -3], [4, 5, -6], [7, 8, -9]],
    ),
    *[
        (
            f"fact48-{index}",
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
            f"fact49-{p}",
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
        "fact50",
        dict(kernel_size=(3,), relative=True, padding=((1, 1),)),
        [(slice(None), lambda x: x[-1] + x[0]), (0, lambda x: 90), (4, lambda x: 60)],
        mat(5),
        [90, 3, 5, 7, 60],
    ),
    (
        "fact59",
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


@fact_table("kw, assignments, x, expected", BY_INDEX_FACTS)
def test_by_index_facts(kw, assignments, x, expected):
    """Facts 36-50, 59 and §1.9 rules (latest assignment wins, zeros where none applies)."""
    F = by_index(kmap, assignments, **kw)
    check(F(x), expected)
    check(F(x), expected)  # assignments are not altered by calling (fact 11 / D6)


def test_fact54_array_call_with_extra_args():
    F = by_index(kmap, [(0, lambda v, a: v[0] * a), (slice(1, None), lambda v, a: -v[0] * a)], kernel_size=(1,))
    check(F(jnp.arange(1, 11), 3), [3, -6, -9, -12, -15, -18, -21, -24, -27, -30])
    check(F(jnp.arange(1, 11), a=3), [3, -6, -9, -12, -15, -18, -21, -24, -27, -30])


def test_fact61_dtypes_are_promoted():
    """D8: a float constant next to an int32 function promotes to float32."""
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
    """SPEC §1.9: ``K[a] = K[b] = f`` assigns ``f`` to both indices."""
    F = kmap(kernel_size=1)
    F[1] = F[3] = lambda v: v[0] * 10
    check(F(mat(5)), [0, 20, 0, 40, 0])


def test_reassigning_the_same_function_raises_its_priority():
    """D3: the most recent assignment wins even when it reuses an earlier function object."""
    f, g = (lambda v: v[0]), (lambda v: -v[0])
    F = by_index(kmap, [(slice(None), f), (slice(None), g), (slice(0, 2), f)], kernel_size=1)
    check(F(mat(4)), [1, 2, -3, -4])


def test_decorator_ignores_assignments():
    """D27: a wrapper ``K(f)`` applies ``f`` everywhere whatever ``K[idx]`` holds."""
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


# ----------------------------------------------------------------------------- layers (§5, facts 111-118)


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
    ids=["fact111", "fact112-default", "fact112-k3", "section5.1-k3-valid"],
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
    """§5.2: mean of the zero-padded window; jax.jit(layer) works (the seed's 25x25 too); uint8 output."""
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
    ids=["fact116-same", "fact116-strides2"],
)
def test_fact116_conv2d_layer(strides, lax_padding, out_shape):
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


def test_fact113_seed_conv_on_a_ramp():
    out = kernex_conv2d(jnp.arange(1, 49).reshape(3, 4, 4).astype(jnp.float32), jnp.ones((3, 3, 3)))
    expected = [[[234, 360, 378, 258], [387, 594, 621, 423], [459, 702, 729, 495], [330, 504, 522, 354]]]
    check(out, expected, jnp.float32)


@pytest.mark.parametrize("H", [5, 16])
def test_fact114_seed_conv_matches_lax(H):
    kx, kw = jax.random.split(jax.random.PRNGKey(H))
    x, w = jax.random.normal(kx, (3, H, H)), jax.random.normal(kw, (3, 3, 3))
    expected = lax.conv_general_dilated(x[None], w[None], (1, 1), "SAME", dimension_numbers=("NCHW", "OIHW", "NCHW"))[0]
    out = kernex_conv2d(x, w)
    assert out.shape == (1, H, H)
    np.testing.assert_allclose(np.asarray(out), np.asarray(expected), atol=1e-3)


def test_fact115_patches_match_lax():
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


def test_fact117_depthwise():
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


def test_fact118_vmapped_strided_mean():
    out = jax.vmap(kmap(kernel_size=(3, 3), strides=(2, 2))(jnp.mean))(jnp.arange(1.0, 51.0).reshape(2, 5, 5))
    check(out, [[[7, 9], [17, 19]], [[32, 34], [42, 44]]], jnp.float32)


# ----------------------------------------------------------------------------- transformations, purity, inputs


def test_kernel_object_jit_grad_vmap_wrt_array_and_args():
    """SPEC §1.10: jax.jit(K), jax.jit(K.__call__), grad/value_and_grad w.r.t. array and args, vmap."""
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
    """SPEC §1.7: numpy arrays are accepted by wrappers and by the array call."""
    x = np.arange(1, 6)
    check(kmap(kernel_size=(3,), padding="same")(jnp.sum)(x), [3, 6, 9, 12, 9])
    check(seed_F()(np.arange(1.0, 4.0, dtype=np.float32)), [1, 8, 27])
    check(kmap(kernel_size=(2,))(lambda v, w: jnp.sum(v * w))(x, np.array([1, -1])), [-1, -1, -1, -1])


def test_decorated_function_is_pure_across_shapes():
    """SPEC §1.7: results do not depend on earlier calls with other shapes (D6)."""
    g = kmap(kernel_size=(3, -1), padding=("same", 0))(lambda v: v.max() - v.min())
    a, b = mat(4, 3), mat(6, 5) * 2
    first = g(a)
    g(b)
    check(g(a), first)
    check(first, kmap_reference(a, lambda v: v.max() - v.min(), kernel_size=(3, -1), padding=("same", 0)))
    check(g(b), kmap_reference(b, lambda v: v.max() - v.min(), kernel_size=(3, -1), padding=("same", 0)))


# ----------------------------------------------------------------------------- errors (§1.7-1.9, §1.12)


def registered(**kw):
    return by_index(kmap, [(slice(None), jnp.sum)], **kw)


ERRORS = [
    # id, thunk, exception, message pattern
    ("fact62-pair-on-1d", lambda: kmap(kernel_size=(3,), padding=(0, 1))(S)(mat(5)), ValueError, "padding"),
    ("fact62-full", lambda: kmap(kernel_size=(3,), padding="full")(S)(mat(5)), ValueError, "padding"),
    ("full-per-axis", lambda: kmap(kernel_size=3, padding=("same", "FULL"))(S)(mat(4, 4)), ValueError, "padding"),
    ("fact62-kernel-rank", lambda: kmap(kernel_size=(3,))(S)(mat(4, 4)), ValueError, "kernel_size"),
    ("kernel-rank-long", lambda: kmap(kernel_size=(3, 3, 3))(S)(mat(4, 4)), ValueError, "kernel_size"),
    ("fact62-kernel-too-large", lambda: kmap(kernel_size=(6,))(S)(mat(5)), ValueError, "kernel_size"),
    ("D9-kernel-too-large-padded", lambda: kmap(kernel_size=(6,), padding=3)(S)(mat(5)), ValueError, "kernel_size"),
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


@fact_table("thunk, exc, match", ERRORS)
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


def test_mismatched_output_shapes():
    """SPEC §1.9: functions assigned by index must return equal shapes."""
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
    """Named keys (all/partial naming, labels in any order) read anchor-relative cells (§1.8, D7)."""
    case, named_axis, f = data
    x = random_array(seed, case["shape"], np.int32)
    kw = dict(kernel_size=case["kernel_size"], strides=case["strides"], padding=case["padding"], relative=relative)
    got = kmap(**kw, named_axis=named_axis)(f)(x)
    _compare(got, kmap_reference(x, f, **kw, named_axis=named_axis))
