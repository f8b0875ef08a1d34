"""Boundary modes (``kernex._src.window.boundary``): the state against ``np.pad``, kmap against the
cell-by-cell reference for every mode per axis and side (values and gradients, float32 and x64),
scipy.ndimage's filters, and the errors of bad ``boundary`` / ``fill_value`` arguments."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage as ndi
from hypothesis import given
from hypothesis import strategies as st

from kernex import kmap
from kernex._src.window.boundary import MODES, pad_state, resolve_boundary
from kernex._src.window.geometry import resolve_geometry
from reference import (
    SCALAR_KMAP,
    by_index,
    geometries,
    kmap_functions,
    kmap_reference,
    property_settings,
    random_array,
    resolve,
)

SEEDS = st.integers(0, 2**31 - 1)


def _np_pad(x, pads, modes, fills):
    """``np.pad`` one axis and side at a time: index-mapping sides first, then constant sides in axis order."""
    for axis, ((lo, hi), pair) in enumerate(zip(pads, modes)):
        pieces = []
        for side, width in ((0, lo), (1, hi)):
            widths = [(0, 0)] * x.ndim
            widths[axis] = (width, 0) if side == 0 else (0, width)
            mode = "edge" if pair[side] == "constant" else pair[side]  # placeholder, overwritten below
            padded = np.pad(x, widths, mode=mode)
            pieces.append(np.take(padded, range(width) if side == 0 else range(padded.shape[axis] - width, padded.shape[axis]), axis))
        x = np.concatenate([pieces[0], x, pieces[1]], axis)
    for axis, ((lo, hi), pair, fill) in enumerate(zip(pads, modes, fills)):
        n = x.shape[axis]
        for side, sel in ((0, slice(0, lo)), (1, slice(n - hi, n))):
            if pair[side] == "constant":
                index = [slice(None)] * x.ndim
                index[axis] = sel
                x[tuple(index)] = fill[side]
    return x


@st.composite
def sides(draw, rank):
    modes = tuple((draw(st.sampled_from(MODES)), draw(st.sampled_from(MODES))) for _ in range(rank))
    fills = tuple((float(draw(st.integers(-3, 3))), float(draw(st.integers(-3, 3)))) for _ in range(rank))
    return modes, fills


def _spelled(draw, modes, fills):
    """The per-side modes and fills in one of the accepted spellings."""
    form = draw(st.sampled_from(["pairs", "axes", "one"]))
    if form == "one" or (form == "axes" and all(m[0] == m[1] for m in modes)):
        if form == "one":
            modes = ((modes[0][0],) * 2,) * len(modes)
            fills = ((fills[0][0],) * 2,) * len(fills)
            return modes[0][0], fills[0][0], modes, fills
        return tuple(m[0] for m in modes), tuple(f for f in fills), modes, fills
    return modes, fills, modes, fills


@given(data=st.data(), seed=SEEDS)
@property_settings(200)
def test_state_equals_np_pad(data, seed):
    rank = data.draw(st.integers(1, 3))
    shape = tuple(data.draw(st.integers(1, 4)) for _ in range(rank))
    pads = tuple((data.draw(st.integers(0, 6)), data.draw(st.integers(0, 6))) for _ in range(rank))
    modes, fills = data.draw(sides(rank))
    x = random_array(seed, shape, np.float32)
    got = pad_state(jnp.asarray(x), resolve_geometry(shape, 1, 1, pads), resolve_boundary(shape, modes, fills))
    np.testing.assert_array_equal(np.asarray(got), _np_pad(x.copy(), pads, modes, fills))


def test_one_mode_everywhere_is_one_jnp_pad():
    """The state of a single mode is the program a user writes by hand: one ``jnp.pad``."""
    x = jnp.arange(12.0).reshape(3, 4)
    g = resolve_geometry(x.shape, 3, 1, "same")
    for mode in MODES[1:]:
        b = resolve_boundary(x.shape, mode)
        got = jax.make_jaxpr(lambda x: pad_state(x, g, b))(x)
        by_hand = jax.make_jaxpr(lambda x: jnp.pad(x, ((1, 1), (1, 1)), mode=mode))(x)
        assert str(got) == str(by_hand), mode
        np.testing.assert_array_equal(np.asarray(pad_state(x, g, b)), np.pad(np.asarray(x), 1, mode=mode))


def _case(draw):
    case = draw(geometries(max_rank=2, max_pad=4))
    modes, fills = draw(sides(len(case["shape"])))
    boundary, fill_value, _, _ = _spelled(draw, modes, fills)
    return case, boundary, fill_value


def _kw(case, relative, boundary, fill_value):
    return dict(kernel_size=case["kernel_size"], strides=case["strides"], padding=case["padding"], relative=relative,
                boundary=boundary, fill_value=fill_value)


@given(data=st.data(), relative=st.booleans(), seed=SEEDS)
@property_settings(80)
def test_property_kmap_matches_reference(data, relative, seed):
    case, boundary, fill_value = _case(data.draw)
    kernel = resolve(case["shape"], case["kernel_size"], case["strides"], case["padding"])[0]
    x, w = random_array(seed, case["shape"], np.float32), random_array(seed + 1, kernel, np.float32)
    kw = _kw(case, relative, boundary, fill_value)
    pool = kmap_functions(kernel, relative)
    if data.draw(st.booleans()):
        fns = pool[data.draw(st.sampled_from(SCALAR_KMAP))]
        got = kmap(**kw)(fns)(x, w, b=0.5)
    else:  # everywhere, then every other position along each axis
        first, second = (pool[data.draw(st.sampled_from(SCALAR_KMAP))] for _ in range(2))
        fns = [(..., first), (tuple(slice(1, None, 2) for _ in case["shape"]), second)]
        got = by_index(kmap, fns, **kw)(x, w, b=0.5)
    expected = kmap_reference(x, fns, **kw, args=(w,), kwargs={"b": 0.5})
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-5)


@given(data=st.data(), relative=st.booleans(), seed=SEEDS)
@property_settings(40)
def test_property_gradients_match_reference(data, relative, seed):
    """grad of a loss that depends on the input, through every boundary mode, against jax.grad of the reference."""
    case, boundary, fill_value = _case(data.draw)
    kernel = resolve(case["shape"], case["kernel_size"], case["strides"], case["padding"])[0]
    x, w = random_array(seed, case["shape"], np.float32), random_array(seed + 1, kernel, np.float32)
    kw = _kw(case, relative, boundary, fill_value)
    fn = kmap_functions(kernel, relative)[data.draw(st.sampled_from(["sum", "weighted", "nonlinear", "cells", "max"]))]
    ref = functools.partial(kmap_reference, fns=fn, **kw, xp=jnp)

    def grad(apply):
        return jax.jit(jax.grad(lambda x, w: 0.5 * jnp.sum(apply(x, w) ** 2), argnums=(0, 1)))

    got = grad(lambda x, w: kmap(**kw)(fn)(x, w))(x, w)
    expected = grad(lambda x, w: ref(x, args=(w,)))(x, w)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("mode", MODES)
def test_x64_values_and_gradients(mode):
    with jax.enable_x64(True):
        x = np.random.default_rng(0).standard_normal((5, 6))
        kw = dict(kernel_size=3, padding=2, boundary=mode, fill_value=0.25)
        f = lambda v: jnp.sin(v[0, 1]) * v[2, 2] + v.max()  # noqa: E731
        got = kmap(**kw)(f)(x)
        assert got.dtype == np.float64
        np.testing.assert_allclose(np.asarray(got), kmap_reference(x, f, **kw), rtol=1e-12)
        g = jax.grad(lambda x: 0.5 * jnp.sum(kmap(**kw)(f)(x) ** 2))(x)
        e = jax.grad(lambda x: 0.5 * jnp.sum(kmap_reference(x, f, **kw, xp=jnp) ** 2))(jnp.asarray(x))
        assert g.dtype == np.float64
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=1e-10)


# scipy.ndimage's name for each mode here
SCIPY = {"constant": "constant", "edge": "nearest", "reflect": "mirror", "symmetric": "reflect", "wrap": "wrap"}


@pytest.mark.parametrize("mode", MODES)
def test_filters_match_scipy_ndimage(mode):
    x = np.random.default_rng(1).standard_normal((9, 11)).astype(np.float32)
    # scipy's sobel is two 1-D passes and pads the intermediate with cval too: equal for cval=0 only
    sobel = kmap(kernel_size=3, padding="same", boundary=mode)(
        lambda w: (w[:, 2] - w[:, 0]) @ jnp.array([1.0, 2.0, 1.0]))
    np.testing.assert_allclose(sobel(x), ndi.sobel(x, axis=1, mode=SCIPY[mode]), atol=1e-5)
    box = kmap(kernel_size=(3, 5), padding="same", boundary=mode, fill_value=0.5)(jnp.mean)
    np.testing.assert_allclose(box(x), ndi.uniform_filter(x, (3, 5), mode=SCIPY[mode], cval=0.5), atol=1e-5)
    mx = kmap(kernel_size=(4, 2), padding="same", boundary=mode, fill_value=0.5)(jnp.max)
    np.testing.assert_allclose(mx(x), ndi.maximum_filter(x, (4, 2), mode=SCIPY[mode], cval=0.5, origin=(-1, -1)),
                               atol=1e-6)


def test_pads_wider_than_the_axis_behave_as_jnp_pad():
    x = jnp.arange(1.0, 4.0)
    for mode in MODES[1:]:
        got = kmap(kernel_size=1, padding=((7, 5),), boundary=mode)(lambda v: v[0])(x)
        np.testing.assert_array_equal(np.asarray(got), np.pad(np.asarray(x), (7, 5), mode=mode))


def test_per_side_modes_and_fill_values():
    x = jnp.arange(1.0, 5.0)
    got = kmap(kernel_size=3, padding="same", boundary=(("edge", "constant"),), fill_value=((0.0, 9.0),))(jnp.sum)(x)
    assert got.tolist() == [1 + 1 + 2, 6, 9, 3 + 4 + 9]
    corner = kmap(kernel_size=3, padding="same", boundary=("wrap", "constant"), fill_value=(1.0, 7.0))(
        lambda v: v[0, 0])(jnp.zeros((3, 3)))
    # column -1 reads the constant side of axis 1 on every row, the wrapped rows included (corners)
    assert corner[:, 0].tolist() == [7.0, 7.0, 7.0] and corner[:, 1:].tolist() == [[0.0, 0.0]] * 3


def test_traced_fill_value_is_differentiable():
    x = jnp.arange(1.0, 5.0)
    g = jax.grad(lambda c: kmap(kernel_size=3, padding="same", fill_value=c)(jnp.sum)(x).sum())(2.0)
    assert float(g) == 2.0


def test_default_is_todays_zero_padding_and_repr_shows_non_defaults():
    x = jnp.arange(1.0, 6.0)
    np.testing.assert_array_equal(kmap(kernel_size=3, padding="same")(jnp.sum)(x),
                                  kmap(kernel_size=3, padding="same", boundary="constant", fill_value=0)(jnp.sum)(x))
    assert "boundary" not in repr(kmap(kernel_size=3))
    assert "boundary='wrap'" in repr(kmap(kernel_size=3, boundary="wrap"))


@pytest.mark.parametrize(
    "kwargs, error, needle",
    [
        (dict(boundary="mirror"), ValueError, "scipy.ndimage's 'mirror' is 'reflect'"),
        (dict(boundary="periodic"), ValueError, "'constant', 'edge', 'reflect', 'symmetric', 'wrap'"),
        (dict(boundary=3), TypeError, "`boundary` must be one mode string"),
        (dict(boundary=("wrap", ("edge",))), TypeError, "(lo, hi) pair"),
        (dict(fill_value="a"), TypeError, "`fill_value` must be one scalar"),
        (dict(fill_value=jnp.ones(3)), TypeError, "`fill_value`"),
    ],
)
def test_bad_arguments_are_refused_at_construction(kwargs, error, needle):
    with pytest.raises(error, match=needle.replace("(", r"\(").replace(")", r"\)")):
        kmap(kernel_size=3, **kwargs)


@pytest.mark.parametrize("kwargs", [dict(boundary=("wrap",) * 3), dict(fill_value=(0.0, 1.0, 2.0))])
def test_wrong_number_of_entries_names_the_shape(kwargs):
    with pytest.raises(ValueError, match=r"one entry per input axis: the input has shape \(4, 4\)"):
        kmap(kernel_size=3, **kwargs)(jnp.sum)(jnp.ones((4, 4)))
