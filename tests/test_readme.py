"""The README's code blocks run as written and compute what their comments say."""

import pathlib
import re

import jax.numpy as jnp
import numpy as np

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def _run_blocks() -> dict:
    namespace: dict = {}
    for block in re.findall(r"```python\n(.*?)```", README.read_text(), re.S):
        exec(compile(block, str(README), "exec"), namespace)
    return namespace


def test_readme_blocks_run_and_print_what_they_claim():
    ns = _run_blocks()
    np.testing.assert_array_equal(ns["laplacian"](jnp.ones((10, 10))), np.zeros((8, 8)))
    # the kscan block's F: a constant field stays constant under upwind convection
    np.testing.assert_array_equal(ns["F"](jnp.ones((4, 6))), np.ones((4, 6)))
    assert ns["conv2d"](jnp.ones((3, 5, 5)), jnp.ones((3, 3, 3))).shape == (1, 5, 5)
    layer = ns["layer"]
    assert (layer + 1).name == "linear"
    np.testing.assert_array_equal((layer + 1).bias, np.ones(2))
    assert layer[layer > 0].bias.size == 0  # bias is all zeros: nothing selected
    assert "Total params :\t8" in ns["kernex"].viz.summary(layer)


def test_readme_function_by_index_numbers():
    ns: dict = {}
    text = README.read_text()
    block = re.findall(r"```python\n(.*?)```", text, re.S)[0]
    exec(compile(block, str(README), "exec"), ns)
    x = jnp.arange(1.0, 11.0)
    np.testing.assert_array_equal(ns["F"](x), x**3 * (x > 1) + x**2 * (x == 1))
    np.testing.assert_array_equal(ns["jax"].grad(lambda v: ns["F"](v).sum())(x), np.where(x == 1, 2 * x, 3 * x**2))
