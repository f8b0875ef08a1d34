"""``dilation=``: window cells ``d`` input cells apart, in ``kmap`` and every ``kscan`` schedule
(docs/semantics.md, "Dilation"; docs/kscan_schedules.md).

Everything is checked against the brute-force references of ``reference.py`` (coordinates
``o*s - lo + j*d``): values and gradients of random geometries with random dilations, relative and
named views, strides, the 'same' rule, large windows (box plans, long dilated passes), a 3x3
dilation-2 correlation against ``lax.conv_general_dilated(rhs_dilation=...)`` with no gather, every
kscan schedule (refused only when a brute-force scan of the windows finds a read of an earlier
write), float64, and the argument errors.
"""

import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reference import (
    SCALAR_KMAP,
    by_index,
    kmap_functions,
    kmap_reference,
    kmap_reference_vectorized,
    kscan_functions,
    kscan_reference,
    primitive_names,
    property_settings,
    random_array,
    resolve,
)

import kernex
from kernex._src.lower.plan import SCHEDULES
from kernex._src.window.geometry import resolve_geometry

REFUSED = "would change the result"


def _spell(draw, entries):
    if len(set(entries)) == 1 and draw(st.booleans()):
        return entries[0]
    return draw(st.sampled_from([tuple, list]))(entries)


@st.composite
def dilated_geometries(draw, max_rank=2):
    """Random valid ``kernel_size, strides, padding, dilation`` (every axis has a window) and a shape."""
    rank = draw(st.integers(1, max_rank))
    shape = tuple(draw(st.integers(1, 7 if rank == 1 else 5)) for _ in range(rank))
    kernel = [draw(st.integers(1, min(n, 3))) for n in shape]
    dilation = [draw(st.integers(1, 3)) for _ in shape]
    pads = []
    for n, k, d in zip(shape, kernel, dilation):
        span = (k - 1) * d + 1
        kind = draw(st.sampled_from(["same", "valid", "pair"] if n >= span else ["same", "pair"]))
        if kind == "pair":
            lo = draw(st.integers(-1, min(span, 3)))  # small pads keep the window count (reference loops) small
            least = max(-1, span - n - lo)
            pads.append((lo, draw(st.integers(least, least + 3))))
        else:
            pads.append(kind)
    padding = draw(st.sampled_from(["same", "SAME"])) if set(pads) == {"same"} and draw(st.booleans()) else tuple(pads)
    return dict(
        shape=shape,
        kernel_size=_spell(draw, kernel),
        strides=_spell(draw, [draw(st.integers(1, 3)) for _ in shape]),
        padding=padding,
        dilation=_spell(draw, dilation),
    )


def _args(case, relative):
    return {k: v for k, v in case.items() if k != "shape"} | {"relative": relative}


def _kernel(case):
    return resolve(case["shape"], case["kernel_size"], case["strides"], case["padding"], case["dilation"])[0]


def _loss(fn):
    return lambda *a: 0.5 * jnp.sum(fn(*a) ** 2)


def _grad(fn, argnums=0):
    """Jitted gradient of ``0.5 * sum(fn(...) ** 2)`` (one compile instead of op-by-op dispatch)."""
    return jax.jit(jax.grad(_loss(fn), argnums=argnums))


# ----------------------------------------------------------------------------- kmap


@given(
    case=dilated_geometries(),
    relative=st.booleans(),
    name=st.sampled_from(SCALAR_KMAP + ["vector"]),
    seed=st.integers(0, 99),
)
@property_settings(40)
def test_property_kmap_values_match_reference(case, relative, name, seed):
    """Random geometries with random per-axis dilations: every pool function equals the brute force."""
    kw = _args(case, relative)
    kernel = _kernel(case)
    f = kmap_functions(kernel, relative)[name]
    x, w = random_array(seed, case["shape"], np.float32), random_array(seed + 1, kernel, np.float32)
    got = kernex.kmap(**kw)(f)(x, w, b=0.5)
    expected = kmap_reference(x, f, args=(w,), kwargs={"b": 0.5}, **kw)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-5)


@given(
    case=dilated_geometries(),
    relative=st.booleans(),
    name=st.sampled_from(["sum", "max", "weighted", "cells", "median", "mixed"]),
    seed=st.integers(0, 99),
)
@property_settings(32)
def test_property_kmap_gradients_match_reference(case, relative, name, seed):
    """grad of 0.5 * sum(out ** 2) w.r.t. the input and the weights."""
    kw = _args(case, relative)
    kernel = _kernel(case)
    f = kmap_functions(kernel, relative)[name]
    x, w = random_array(seed, case["shape"], np.float32), random_array(seed + 1, kernel, np.float32)
    got = _grad(lambda x, w: kernex.kmap(**kw)(f)(x, w), (0, 1))(x, w)
    expected = _grad(lambda x, w: kmap_reference_vectorized(x, f, args=(w,), **kw), (0, 1))(x, w)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("k, d", [(1, 3), (2, 2), (3, 2), (4, 2), (3, 3), (5, 2), (4, 3)])
def test_same_padding_rule(k, d):
    """'same' pads ((k-1)//2 * d, (k-1)*d - (k-1)//2 * d): the output has the input's length and the
    anchor of window o is input cell o, also when the dilated span is longer than the axis."""
    n = 7
    g = resolve_geometry((n,), k, 1, "same", dilation=d)
    c = (k - 1) // 2
    assert g.padding == ((c * d, (k - 1) * d - c * d),)
    assert g.out_shape == (n,) and g.anchors(0).tolist() == list(range(n))
    x = jnp.arange(1.0, n + 1)
    np.testing.assert_array_equal(
        np.asarray(kernex.kmap(k, padding="same", dilation=d)(lambda v: v[c])(x)), np.asarray(x)
    )


@pytest.mark.parametrize(
    "n, k, s, d, pads", [(10, 3, 1, 2, (0, 0)), (10, 3, 2, 2, (0, 0)), (9, 2, 3, 4, (1, 2)), (5, 3, 1, 3, (3, 3))]
)
def test_output_length(n, k, s, d, pads):
    """(n + lo + hi - ((k-1)*d + 1)) // s + 1 windows; window o reads o*s - lo + j*d."""
    lo, hi = pads
    x = jnp.arange(1, n + 1)
    out = kernex.kmap(k, s, (pads,), dilation=d)(lambda v: v)(x)
    assert out.shape == ((n + lo + hi - ((k - 1) * d + 1)) // s + 1, k)
    for o in range(out.shape[0]):
        coords = [o * s - lo + j * d for j in range(k)]
        assert out[o].tolist() == [c + 1 if 0 <= c < n else 0 for c in coords]


def test_relative_and_named_views_count_window_cells():
    """x[1] / u['i+1'] is the next window cell, d input cells from the anchor."""
    x = random_array(0, (8, 9), np.float32)
    kw = dict(kernel_size=3, padding="same", dilation=(2, 3))
    expected = kmap_reference(x, lambda v: v[2, 1] - v[0, 1] + 10 * v[1, 2], **kw)
    relative = kernex.kmap(**kw, relative=True)(lambda v: v[1, 0] - v[-1, 0] + 10 * v[0, 1])(x)
    named = kernex.kmap(**kw, named_axis={0: "i", 1: "j"})(
        lambda u: u["i+1", "j"] - u["j", "i-1"] + 10 * u["i", "j+1"]
    )(x)
    padded = np.pad(np.asarray(x), ((2, 2), (3, 3)))
    by_hand = padded[4:, 3:-3] - padded[:-4, 3:-3] + 10 * padded[2:-2, 6:]
    for got in (relative, named, expected):
        np.testing.assert_allclose(np.asarray(got), by_hand, rtol=1e-6)
    with pytest.raises(IndexError, match="offsets -1..1"):
        kernex.kmap(**kw, relative=True)(lambda v: v[2, 0])(x)  # window cells, not input cells


def test_strides_and_dilation():
    """Different strides, dilations and paddings per axis, with a weighted sum and single cells."""
    x = random_array(1, (11, 12), np.float32)
    kw = dict(kernel_size=(3, 2), strides=(2, 3), padding=((1, 2), "same"), dilation=(3, 2))
    f = lambda v: jnp.sum(v * jnp.arange(6.0).reshape(3, 2)) + v[0, 1] * v[2, 0]  # noqa: E731
    np.testing.assert_allclose(np.asarray(kernex.kmap(**kw)(f)(x)), kmap_reference(x, f, **kw), rtol=1e-5)


def test_conv_general_dilated_equivalence_without_gather():
    """A 3x3 dilation-2 correlation is lax.conv_general_dilated(rhs_dilation=(2, 2)), as strided slices."""
    x, w = random_array(2, (12, 13), np.float32), random_array(3, (3, 3), np.float32)
    for strides, padding in [((1, 1), "VALID"), ((2, 1), ((2, 2), (2, 2)))]:
        K = kernex.kmap(3, strides, "valid" if padding == "VALID" else "same", dilation=2)(lambda v: jnp.sum(v * w))
        conv = jax.lax.conv_general_dilated(x[None, None], w[None, None], strides, padding, rhs_dilation=(2, 2))
        np.testing.assert_allclose(np.asarray(K(x)), np.asarray(conv[0, 0]), rtol=1e-5, atol=1e-5)
        assert "gather" not in primitive_names(K, x)
        assert "gather" not in primitive_names(jax.grad(_loss(K)), x)


def test_by_index_kmap_and_kscan():
    """Functions by index own anchors in input coordinates (anchor o*s - lo + c*d)."""
    x = random_array(4, (12,), np.float32)
    assignments = [(slice(1, None, 2), lambda v: v[0] - v[2]), (0, lambda v: v[0] + 10 * v[2]), (slice(4, 9), jnp.max)]
    for kw in [
        dict(kernel_size=3, padding="same", dilation=2),
        dict(kernel_size=3, strides=2, padding=((3, 1),), dilation=3),
    ]:
        F, S = by_index(kernex.kmap, assignments, **kw), by_index(kernex.kscan, assignments, **kw)
        np.testing.assert_allclose(np.asarray(F(x)), kmap_reference(x, assignments, **kw), rtol=1e-6)
        np.testing.assert_allclose(np.asarray(S(x)), kscan_reference(x, assignments, **kw), rtol=1e-6)


# ----------------------------------------------------------------------------- large windows


LARGE = {
    "same": dict(kernel_size=17, padding="same", dilation=2),
    "strided": dict(kernel_size=17, strides=(3, 2), padding=((1, 2), (0, 3)), dilation=(2, 1)),
}


@pytest.mark.parametrize(
    "name, geometry", [("sum", "same"), ("max", "strided"), ("mean", "strided"), ("weighted", "same")]
)
def test_large_dilated_windows_use_box_plans(name, geometry, fallback_log):
    """17x17 windows, dilation 2 (289 cells: box plans, no vmap fallback); values and gradients."""
    x, w = random_array(5, (36, 37), np.float32), random_array(6, (17, 17), np.float32)
    f = {"sum": jnp.sum, "max": jnp.max, "mean": jnp.mean, "weighted": lambda v: jnp.sum(v * w)}[name]
    kw = LARGE[geometry]
    K = kernex.kmap(**kw)(f)
    np.testing.assert_allclose(
        np.asarray(K(x)), np.asarray(kmap_reference_vectorized(x, f, **kw)), rtol=1e-4, atol=1e-4
    )
    got, expected = _grad(K)(x), _grad(lambda x: kmap_reference_vectorized(x, f, **kw))(x)
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-4, atol=1e-4)
    assert fallback_log == []


@pytest.mark.parametrize(
    "name, plan", [("sum", "reduce_window_sum"), ("max", None), ("weighted", "conv_general_dilated")]
)
def test_long_dilated_passes(name, plan, fallback_log):
    """4x70 windows (a pass of 70 > 64 taps): dilated reduce_window / convolution, and for max (whose dilated
    reduce_window has no gradient in JAX) a doubling sweep; values and gradients."""
    x, w = random_array(7, (8, 300), np.float32), random_array(8, (4, 70), np.float32)
    f = {"sum": jnp.sum, "max": jnp.max, "weighted": lambda v: jnp.sum(v * w)}[name]
    kw = dict(kernel_size=(4, 70), strides=(1, 2), padding="same", dilation=(1, 3))
    K = kernex.kmap(**kw)(f)
    np.testing.assert_allclose(
        np.asarray(K(x)), np.asarray(kmap_reference_vectorized(x, f, **kw)), rtol=1e-4, atol=1e-4
    )
    got, expected = _grad(K)(x), _grad(lambda x: kmap_reference_vectorized(x, f, **kw))(x)
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-4, atol=1e-4)
    names = primitive_names(K, x)
    assert (plan in names) if plan else not {"reduce_window_max", "gather"} & names
    assert fallback_log == []


def test_source_level_op_never_sees_cells_between_dilated_cells():
    """sqrt applied once to the cells windows read: the zeros between dilated cells (read by no window)
    must not enter the gradient (sqrt'(0) = inf would make it NaN)."""
    x = jnp.asarray([1.0, 0.0] * 6 + [1.0])
    kw = dict(kernel_size=3, strides=2, dilation=2)
    K = kernex.kmap(**kw)(lambda v: jnp.sum(jnp.sqrt(v) * v))
    got = _grad(K)(x)
    expected = _grad(lambda x: kmap_reference_vectorized(x, lambda v: jnp.sum(jnp.sqrt(v) * v), **kw))(x)
    assert np.all(np.isfinite(np.asarray(got)))
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-6)


# ----------------------------------------------------------------------------- kscan


def _conflict(case, lead):
    """Brute force over every window's cells: does some window read the anchor of an earlier window in
    its group ('parallel': all windows, lead 0; 'rows': its row, lead 1)? A refusal needs one."""
    kernel, strides, pads, out_shape = resolve(
        case["shape"], case["kernel_size"], case["strides"], case["padding"], case["dilation"]
    )
    dilation = case["dilation"] if isinstance(case["dilation"], (tuple, list)) else (case["dilation"],) * len(kernel)
    coord = lambda p, j, a: p * strides[a] - pads[a][0] + j * dilation[a]  # noqa: E731
    positions = list(np.ndindex(*out_shape))
    anchors = {tuple(coord(p[a], (kernel[a] - 1) // 2, a) for a in range(len(p))): p for p in positions}
    for p in positions:
        for j in np.ndindex(*kernel):
            other = anchors.get(tuple(coord(p[a], j[a], a) for a in range(len(p))))
            if other is not None and other < p and other[:lead] == p[:lead]:
                return True
    return False


@given(
    case=dilated_geometries(),
    relative=st.booleans(),
    dtype=st.sampled_from([np.float32, np.int32]),
    name=st.sampled_from(["max", "median", "cells", "mixed", "mean"]),
    seed=st.integers(0, 99),
)
@property_settings(32)
def test_property_kscan_every_schedule(case, relative, dtype, name, seed):
    """Each schedule matches the sequential model, or is refused with the documented error, and only
    when a window reads an earlier write of its group ('sequential', 'wavefront', 'auto' never are)."""
    kw = _args(case, relative)
    kernel = _kernel(case)
    f = kscan_functions(kernel, relative, dtype)[name]
    x, w = random_array(seed, case["shape"], dtype), random_array(seed + 1, kernel, np.float32)
    expected = kscan_reference(x, f, args=(w,), **kw)
    for schedule in SCHEDULES:
        F = kernex.kscan(**kw, schedule=schedule)(f)
        try:
            got = F(x, w)
        except ValueError as error:
            assert schedule in ("parallel", "rows") and REFUSED in str(error), (schedule, error)
            assert _conflict(case, 0 if schedule == "parallel" else 1), (schedule, error)
            continue
        assert got.dtype == expected.dtype
        np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-4, atol=1e-5, err_msg=schedule)


@given(
    case=dilated_geometries(),
    relative=st.booleans(),
    name=st.sampled_from(["half_max", "cells", "weighted", "mixed"]),
    schedule=st.sampled_from(["auto", "wavefront"]),
    seed=st.integers(0, 99),
)
@property_settings(32)
def test_property_kscan_gradients(case, relative, name, schedule, seed):
    """grad of 0.5 * sum(out ** 2) w.r.t. the input and the weights (a block schedule or the wavefront)."""
    kw = _args(case, relative)
    kernel = _kernel(case)
    f = kscan_functions(kernel, relative, np.float32)[name]
    x, w = random_array(seed, case["shape"], np.float32), random_array(seed + 1, kernel, np.float32)
    expected = _grad(lambda x, w: kscan_reference(x, f, args=(w,), xp=jnp, **kw), (0, 1))(x, w)
    got = _grad(lambda x, w: kernex.kscan(**kw, schedule=schedule)(f)(x, w), (0, 1))(x, w)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=1e-4, atol=1e-5, err_msg=schedule)


def test_kscan_reads_scale_with_dilation():
    """A read one window cell back is d cells back: with strides = d it is the previous anchor ('rows'
    is refused, naming the offset in window and input cells); with strides 3 it is no anchor at all
    (-2 / 3 is not a whole step), so even 'parallel' is exact."""
    x = random_array(9, (3, 10), np.float32)
    f = lambda v: 0.5 * v[0, 0] + 0.25 * v[0, 1]  # noqa: E731
    kw = dict(kernel_size=(1, 3), padding=(0, "same"), dilation=2)
    with pytest.raises(
        ValueError, match=re.escape("offset (0, -1) (window cells, dilation (2, 2): (0, -2) input cells away)")
    ):
        kernex.kscan(**kw, strides=(1, 2), schedule="rows")(f)(x)
    for strides in [(1, 3), (1, 2)]:
        expected = kscan_reference(x, f, strides=strides, **kw)
        for schedule in ["parallel", "sequential", "wavefront"] if strides == (1, 3) else ["sequential", "wavefront"]:
            got = kernex.kscan(**kw, strides=strides, schedule=schedule)(f)(x)
            np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-6, err_msg=f"{strides} {schedule}")


@pytest.mark.parametrize("schedule", ["sequential", "wavefront"])
def test_kscan_large_dilated_window(schedule):
    """17x17 windows dilated along axis 1: the block schedule's box plans and the wavefront's gathers."""
    x = random_array(10, (17, 18), np.float32)
    f = lambda v: jnp.sum(v) / v.size  # noqa: E731
    kw = dict(kernel_size=17, padding="same", dilation=(1, 2))  # 289 cells: box plans (block schedules)
    got = kernex.kscan(**kw, schedule=schedule)(f)(x)
    np.testing.assert_allclose(np.asarray(got), kscan_reference(x, f, **kw), rtol=1e-5, atol=1e-6)


def test_x64_values_and_gradients():
    """float64 kmap and kscan values and gradients at float64 tolerances."""
    with jax.enable_x64(True):
        x = random_array(11, (6, 7), np.float64)
        w = random_array(12, (3, 2), np.float64)
        f = lambda v: 0.25 * jnp.sum(v * w) + 0.5 * jnp.max(v)  # noqa: E731
        kw = dict(kernel_size=(3, 2), strides=(1, 2), padding="same", dilation=(2, 3))
        for kernel, ref in [(kernex.kmap, kmap_reference), (kernex.kscan, kscan_reference)]:
            K = kernel(**kw)(f)
            got = K(x)
            assert got.dtype == np.float64
            np.testing.assert_allclose(np.asarray(got), ref(x, f, **kw), rtol=1e-12, atol=1e-12)
            grad, expected = _grad(K)(x), _grad(functools.partial(ref, fns=f, xp=jnp, **kw))(x)
            assert grad.dtype == np.float64
            np.testing.assert_allclose(np.asarray(grad), np.asarray(expected), rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- arguments


@pytest.mark.parametrize("kernel", [kernex.kmap, kernex.kscan])
@pytest.mark.parametrize(
    "dilation, exc, match",
    [
        (0, ValueError, r"`dilation` entries must be >= 1 .* got dilation=0\. Use 1 for contiguous"),
        (-2, ValueError, r"got dilation=-2"),
        ((1, 0), ValueError, r"got dilation=\(1, 0\)"),
        (1.5, TypeError, r"`dilation` must be a positive int or a tuple/list of positive ints.*got 1\.5 of type float"),
        (True, TypeError, r"got True of type bool"),
        ([2, 2.0], TypeError, r"got \[2, 2\.0\] of type list"),
        ("2", TypeError, r"got '2' of type str"),
        (None, TypeError, r"got None of type NoneType"),
    ],
    ids=["zero", "negative", "zero-entry", "float", "bool", "float-entry", "str", "none"],
)
def test_bad_dilation_at_construction(kernel, dilation, exc, match):
    with pytest.raises(exc, match=match):
        kernel(3, dilation=dilation)


@pytest.mark.parametrize("kernel", [kernex.kmap, kernex.kscan])
def test_dilation_entries_checked_against_the_rank_at_call_time(kernel):
    K = kernel(3, dilation=(1, 2, 3))(jnp.max)  # fine until called
    with pytest.raises(
        ValueError,
        match=r"`dilation` must have one entry per input axis: .* \(rank 2\) but dilation=\(1, 2, 3\) has 3 entries",
    ):
        K(jnp.ones((5, 5)))
    with pytest.raises(ValueError, match=r"no window fits.*dilation \(3, 3\) \(windows spanning \(7, 7\) cells\)"):
        kernel(3, dilation=3)(jnp.max)(jnp.ones((5, 5)))


def test_repr_shows_dilation_only_when_not_one():
    assert (
        repr(kernex.kmap(3, dilation=2))
        == "kmap(kernel_size=3, strides=1, padding=0, relative=False, named_axis=None, dilation=2)"
    )
    assert repr(kernex.kscan(3, dilation=(1, 2))).endswith("named_axis=None, dilation=(1, 2), schedule='auto')")
    for kernel in (kernex.kmap, kernex.kscan):
        assert "dilation" not in repr(kernel(3)) and "dilation" not in repr(kernel(3, dilation=(1, 1)))
