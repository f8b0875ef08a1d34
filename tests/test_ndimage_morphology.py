"""kernex.ndimage's grey-scale morphology (``kernex/_src/ndimage/morphology.py``) against scipy.ndimage.

Erosion, dilation (which reflects the footprint/structure and its origin),
opening, closing and the morphological gradient, with ``size``, ``footprint``
and non-flat ``structure``, even sizes and origins, in every mode for
float32/uint8/int32 data of rank 1-3 (``KERNEX_LONG=1``: the full product).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ndimage_cases import CVAL, check_batch, covering, data, full_product, run_matrix

import kernex.ndimage as kn


def _element(nd, origin):
    """A structuring element per case: even/odd sizes, a footprint, a non-flat structure."""
    if origin == 0:
        return dict(size=(2, 3, 2)[:nd], origin=(-1, 1, 0)[:nd])
    fp = np.array([[1, 0, 1], [1, 1, 0], [0, 1, 1]], bool)[: 3 if nd > 1 else 1]
    fp = fp.reshape(fp.shape[: min(nd, 2)] + (1,) * (nd - 2)) if nd > 1 else fp[0]
    return dict(footprint=fp, structure=np.where(fp, np.arange(fp.size).reshape(fp.shape) % 3, 0), origin=(1, 0, 0)[:nd])


def _make(name):
    def make(mode, shape, dtype, origin):
        return name, (data(shape, dtype),), dict(_element(len(shape), origin), mode=mode, cval=CVAL)

    return make


NAMES = ["grey_erosion", "grey_dilation", "grey_opening", "grey_closing", "morphological_gradient"]


@pytest.mark.parametrize("name", NAMES)
def test_matches_scipy(name):
    run_matrix(covering(NAMES.index(name)), _make(name))


@pytest.mark.long
@pytest.mark.parametrize("name", NAMES)
def test_matches_scipy_full_product(name):
    run_matrix(full_product(), _make(name))


def test_scipy_docstring_numbers_and_element_forms():
    """scipy's grey_dilation docstring example; scalar sizes, footprints alone, structure alone, axes, output."""
    a = jnp.zeros((7, 7), jnp.int32).at[2, 2].set(1).at[2, 4].set(1).at[3, 3].set(3).at[4, 4].set(2)
    assert kn.grey_dilation(a, size=(3, 3)).tolist()[1:4] == [[0, 1, 1, 1, 1, 1, 0], [0, 1, 3, 3, 3, 1, 0],
                                                              [0, 1, 3, 3, 3, 2, 0]]  # fmt: skip
    assert kn.grey_dilation(a, structure=np.ones((3, 3))).tolist()[1] == [1, 2, 2, 2, 2, 2, 1]
    x = data((6, 7), np.uint8)
    x3 = data((3, 4, 5), np.float32)
    cross = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool)
    check_batch([
        *[(f, (x,), dict(size=2)) for f in ("grey_erosion", "grey_dilation", "grey_opening", "grey_closing")],
        ("grey_dilation", (x,), dict(footprint=cross, mode="wrap")),
        ("grey_erosion", (x,), dict(structure=np.arange(6.0).reshape(2, 3), mode="nearest")),  # uint8 wraps, as scipy
        ("grey_dilation", (x,), dict(structure=np.full((2, 2), 2.0), mode="constant", cval=255)),
        ("grey_dilation", (x3,), dict(size=(2, 3), axes=(2, 1), origin=(-1, 1), mode=("mirror", "wrap"))),
        ("grey_closing", (x3,), dict(footprint=cross, axes=(0, 2), origin=(0, 1))),
        ("morphological_gradient", (x,), dict(size=(3, 2), mode="mirror")),
        ("grey_opening", (x,), dict(size=3, output=np.float32)),
    ])  # fmt: skip


def test_gradient_flows_through_dilation_and_erosion():
    """Distinct values: the gradient's gradient goes to the selected cells, checked against jnp.pad + max/min."""
    x = jnp.asarray(np.random.default_rng(4).permutation(42).reshape(6, 7).astype(np.float32))
    ct = jnp.asarray(data((6, 7), np.float32, seed=6))

    def by_hand(v, reduce):
        p = jnp.pad(v, 1, mode="symmetric")
        return reduce(jnp.stack([p[i : i + 6, j : j + 7] for i in range(3) for j in range(3)]), axis=0)

    @jax.jit
    def grads(x):
        loss = lambda f: jax.grad(lambda v: jnp.sum(f(v) * ct))(x)  # noqa: E731
        return (loss(lambda v: kn.morphological_gradient(v, size=3)),
                loss(lambda v: by_hand(v, jnp.max) - by_hand(v, jnp.min)))  # fmt: skip

    g = grads(x)
    np.testing.assert_allclose(g[0], g[1], rtol=1e-6)


def test_element_required():
    with pytest.raises(ValueError, match="size=.*footprint=.*structure="):
        kn.grey_erosion(jnp.ones((3, 3)))
    with pytest.raises(ValueError, match="structure"):
        kn.grey_dilation(jnp.ones((3, 3)), structure=np.ones(3))
