"""``fmt``: the one-line value format shared by treeclass ``repr`` and ``kernex.viz``.

Rules: docs/treeclass.md, '``str`` and ``repr``'.
"""

from __future__ import annotations

import collections

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kernex import static_field, treeclass
from kernex._src.tree.format import dtype_abbrev, fmt


@pytest.mark.parametrize(
    "dtype,expected",
    [
        ("float32", "f32"), ("float16", "f16"), ("bfloat16", "bf16"), ("int32", "i32"), ("int8", "i8"),
        ("uint8", "ui8"), ("uint32", "ui32"), ("complex64", "c64"), ("bool", "bool"),
    ],
)
def test_dtype_abbreviations(dtype, expected):
    assert dtype_abbrev(jnp.dtype(dtype)) == expected


def test_arrays_by_dtype_and_shape():
    assert fmt(jnp.zeros((100, 1))) == "f32[100,1]"
    assert fmt(jnp.arange(5)) == "i32[5]"  # no trailing comma for 1-D (early pytreeclass wrote i32[5,])
    assert fmt(jnp.float32(1.0)) == "f32[]"
    assert fmt(np.zeros((2, 3), np.uint8)) == "ui8[2,3]"
    assert fmt(np.zeros(4)) == "f64[4]"
    assert fmt(jax.ShapeDtypeStruct((2, 2), jnp.bfloat16)) == "bf16[2,2]"
    assert fmt(jnp.zeros((0, 3), bool)) == "bool[0,3]"


def test_typed_prng_keys_render_with_their_key_type():
    keys = jax.random.split(jax.random.key(0), 3)
    assert fmt(jax.random.key(0)) == "key<fry>[]" and fmt(keys) == "key<fry>[3]"
    assert dtype_abbrev(keys.dtype) == "key<fry>"


def test_tracers_render_like_arrays():
    seen = []
    jax.jit(lambda x: seen.append(fmt(x)) or x)(jnp.ones((3, 2)))
    assert seen == ["f32[3,2]"]


def test_containers_and_plain_values():
    assert fmt([jnp.ones(2), 1.5, "a"]) == "[f32[2], 1.5, 'a']"
    assert fmt((jnp.ones(2),)) == "(f32[2],)"
    assert fmt((1, (2, jnp.ones(1)))) == "(1, (2, f32[1]))"
    assert fmt({"w": jnp.ones((1, 2)), 3: None}) == "{'w': f32[1,2], 3: None}"
    Point = collections.namedtuple("Point", "x y")
    assert fmt(Point(jnp.ones(2), 1)) == "Point(x=f32[2], y=1)"
    assert [fmt(v) for v in (10, 1.5, "A", None, True)] == ["10", "1.5", "'A'", "None", "True"]
    assert fmt(collections.OrderedDict(a=1)) == repr(collections.OrderedDict(a=1))


def test_treeclass_values_use_their_repr():
    @treeclass
    class Linear:
        weight: jax.Array
        bias: jax.Array
        name: str = static_field(default="lin")

    layer = Linear(jnp.ones((1, 128)), jnp.ones((1, 128)))
    assert fmt(layer) == repr(layer) == "Linear(weight=f32[1,128],bias=f32[1,128],name='lin')"
    assert fmt([layer]) == "[Linear(weight=f32[1,128],bias=f32[1,128],name='lin')]"
