"""Unit tests of ``kernex._src.interp.values``: the interpreter's values and the lazy window grid."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kernex._src.interp.values import (
    is_concrete,
    object_array,
    tree_reduce,
    window_grid,
)
from kernex._src.window.boundary import pad_state
from kernex._src.window.geometry import resolve_geometry

STATE = np.arange(1.0, 43.0, dtype=np.float32).reshape(6, 7)


def test_is_concrete():
    assert is_concrete(np.ones(2)) and is_concrete(jnp.ones(2)) and is_concrete(3.0)

    def f(x):
        assert not is_concrete(x)
        return x

    jax.jit(f)(jnp.ones(2))
    jax.grad(lambda x: f(x).sum())(jnp.ones(2))


@pytest.mark.parametrize("relative", [False, True])
@pytest.mark.parametrize("kernel", [(3, 4), (1, 5), (2, 2)])
def test_window_grid_offsets(kernel, relative):
    geometry = resolve_geometry((6, 7), kernel, 1, "same")
    state = pad_state(jnp.asarray(STATE), geometry)
    grid = window_grid(state, geometry, relative)
    assert grid.shape == kernel and grid.dtype == state.dtype and grid.all_cells()
    assert len({id(e.source) for e in grid.entries.flat}) == 1
    assert grid.entries.flat[0].source.base is state
    centre = geometry.center
    for index in np.ndindex(*kernel):
        expected = tuple((t + c) % k for t, c, k in zip(index, centre, kernel)) if relative else index
        assert grid.entries[index].offset == expected


def test_tree_reduce_is_a_balanced_pairwise_reduction():
    assert tree_reduce(lambda a, b: f"({a}{b})", list("abcde")) == "(((ab)(cd))e)"
    assert tree_reduce(lambda a, b: f"({a}{b})", list("abcd")) == "((ab)(cd))"
    assert tree_reduce(lambda a, b: a + b, [3]) == 3


def test_object_array():
    filled = object_array((2, 3), "x")
    assert filled.dtype == object and filled.shape == (2, 3) and set(filled.flat) == {"x"}
    assert all(e is None for e in object_array((2,)).flat)
    assert object_array((), 5)[()] == 5
