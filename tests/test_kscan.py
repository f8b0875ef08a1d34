"""``kscan``: exact values of the decorator form and of functions by index, the seed's examples, JAX
transformations, errors, every schedule, and property tests against the literal sequential model in
``reference.py`` (the rules are in docs/semantics.md, the schedules in docs/kscan_schedules.md)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reference import (
    by_index,
    case_table,
    cell_indices,
    check,
    check_transformations,
    geometries,
    indices,
    kscan_functions,
    kscan_reference,
    mat,
    named_cases,
    property_settings,
    random_array,
    resolve,
    upwind_reference,
)

from demo.stencils import linear_convection
from kernex import kscan
from kernex._src.lower import kscan as kscan_lowering
from kernex._src.lower import plan as kscan_plan

S = jnp.sum
NEIGHBOURS = lambda x: x[-1] + x[0] + x[1]  # noqa: E731

DECORATED_CASES = [
    # id, kscan kwargs, f, input, expected
    ("k3-sum-valid", dict(kernel_size=(3,)), S, jnp.array([1, 2, 3, 4, 5]), [6, 13, 22]),
    *[
        (f"k3-neighbours-padding-{p!r}", dict(kernel_size=(3,), relative=True, padding=p), NEIGHBOURS, mat(5), e)
        for p, e in [
            ("same", [3, 8, 15, 24, 29]),
            (((1, 1),), [3, 8, 15, 24, 29]),
            ("valid", [6, 13, 22]),
            (((0, 1),), [6, 13, 22, 27]),
            (((1, 0),), [3, 8, 15, 24]),
            (((-1, 0),), [9, 18]),
            (((0, -1),), [6, 13]),
            (((-1, -1),), [9]),
            (2, [1, 4, 9, 16, 25, 30, 30]),
            (((2, 2),), [1, 4, 9, 16, 25, 30, 30]),
        ]
    ],
    ("k3-sum-same", dict(kernel_size=(3,), padding="same"), S, mat(5), [3, 8, 15, 24, 29]),
    ("k2-sum-same", dict(kernel_size=(2,), padding="same"), S, mat(5), [3, 5, 7, 9, 5]),
    ("k2-sum-valid", dict(kernel_size=(2,), padding="valid"), S, mat(5), [3, 5, 7, 9]),
    ("k2-pad-(1,0)", dict(kernel_size=(2,), padding=((1, 0),)), lambda v: v[0] + v[1], mat(5), [1, 3, 5, 7, 9]),
    ("k3-stride2-sum-same", dict(kernel_size=(3,), strides=2, padding="same"), S, mat(5), [3, 9, 9]),
    ("k3-stride2-sum-valid", dict(kernel_size=(3,), strides=2), S, mat(7), [6, 12, 18]),
    (
        "3x3-sum-same",
        dict(kernel_size=(3, 3), padding="same"),
        S,
        jnp.ones((3, 3)),
        [[4, 9, 12], [17, 47, 71], [66, 203, 322]],
    ),
    (
        "3x3-relative-west-north-anchor",
        dict(kernel_size=(3, 3), padding="same", relative=True),
        lambda v: v[0, -1] + v[-1, 0] + v[0, 0],
        jnp.ones((3, 3)),
        [[1, 2, 3], [2, 5, 9], [3, 9, 19]],
    ),
    (
        "named-axis-prefix-sum",
        dict(kernel_size=(3,), named_axis={0: "i"}, relative=True, padding="same"),
        lambda u: u["i-1"] + u["i"],
        mat(5),
        [1, 3, 6, 10, 15],
    ),
]

@case_table("kw, f, x, expected", DECORATED_CASES)
def test_decorated_cases(kw, f, x, expected):
    """Exact values of the decorator form; later windows see earlier writes and the result has the input
    dtype (docs/semantics.md, "kscan" and "Output")."""
    check(kscan(**kw)(f)(x), expected, x.dtype)

@pytest.mark.parametrize(
    "x, expected", [(mat(5), [1, 2, 3, 4, 3]), (mat(5).astype(float), [1.0, 2.0, 3.0, 4.0, 3.0])], ids=["int", "float"]
)
def test_mean_is_cast_to_input_dtype(x, expected):
    check(kscan(kernel_size=(3,), padding="same")(jnp.mean)(x), expected, x.dtype)

def test_extra_args_are_passed_to_every_window():
    h = kscan(kernel_size=(3,), padding="same", relative=True)(lambda v, a: v[-1] * a + v[0])
    check(h(mat(5), 2), [1, 4, 11, 26, 57], jnp.int32)
    check(h(mat(5), a=2), [1, 4, 11, 26, 57], jnp.int32)

def test_jit_vmap_grad():
    h = kscan(kernel_size=(3,), padding="same", relative=True)(lambda v: v[-1] + v[0])
    check(h(mat(5)), [1, 3, 6, 10, 15])
    check(jax.jit(h)(mat(5)), [1, 3, 6, 10, 15])
    check(jax.vmap(h)(jnp.stack([mat(5), 2 * mat(5)])), [[1, 3, 6, 10, 15], [2, 6, 12, 20, 30]])
    check(jax.grad(lambda a: h(a).sum())(jnp.arange(1.0, 6.0)), [5, 4, 3, 2, 1])

BY_INDEX_CASES = [
    # id, kscan kwargs, [(index, f), ...], input, expected
    (
        "k1-one-index-times-10",
        dict(kernel_size=(1,)),
        [(2, lambda v: v[0] * 10)],
        jnp.arange(1.0, 11.0),
        [1, 2, 30, 4, 5, 6, 7, 8, 9, 10],
    ),
    (
        "first-cell-constant-then-prefix-sum",
        dict(kernel_size=(3,), padding="same", relative=True),
        [(0, lambda v: 100), (slice(1, None), lambda v: v[-1] + v[0])],
        mat(5),
        [100, 102, 105, 109, 114],
    ),
    (
        "float-constant-cast-to-int",
        dict(kernel_size=(1,)),
        [(0, lambda v: 1.5), (slice(1, None), lambda v: v[0] * 2)],
        mat(4),
        [1, 4, 6, 8],
    ),
    (
        "no-function-keeps-and-records-the-cell",
        dict(kernel_size=(3,), padding="same", relative=True),
        [(slice(None, None, 2), lambda v: v[-1] + v[1])],
        mat(5),
        [2, 2, 6, 4, 4],
    ),
    (
        "anchor-in-padding-gets-no-function",
        dict(kernel_size=(3,), padding=2, relative=True),
        [(Ellipsis, NEIGHBOURS)],
        mat(5),
        [0, 3, 8, 15, 24, 29, 0],
    ),
]

@case_table("kw, assignments, x, expected", BY_INDEX_CASES)
def test_by_index_cases(kw, assignments, x, expected):
    """Unmatched anchors and anchors in the padding get no function and keep their value; the result has
    the input dtype (docs/semantics.md, "Functions by index")."""
    F = by_index(kscan, assignments, **kw)
    check(F(x), expected, x.dtype)
    check(F(x), expected, x.dtype)  # calls are pure

def test_non_scalar_output_is_an_error():
    with pytest.raises((ValueError, TypeError), match="scalar"):
        kscan(kernel_size=(3,), padding="same")(lambda v: v)(mat(5))
    F = by_index(kscan, [(0, lambda v: v[0]), (slice(1, None), lambda v: v)], kernel_size=(3,), padding="same")
    with pytest.raises((ValueError, TypeError)):
        F(mat(5))

# ----------------------------------------------------------------------------- seed linear convection
# ``demo.stencils.linear_convection`` is the seed's kscan code verbatim (rows = time n, columns = space i).

def test_linear_convection_tiny_table():
    expected = [
        [1, 1, 1, 2, 1, 1, 1, 1, 1],
        [1, 1, 1, 1.5, 1.5, 1, 1, 1, 1],
        [1, 1, 1, 1.25, 1.5, 1.25, 1, 1, 1],
        [1, 1, 1, 1.125, 1.375, 1.375, 1.125, 1, 1],
    ]
    check(linear_convection(4, 9, 1.5, 2.0, 0.25), expected, jnp.float32)

def test_seed_linear_convection():
    result = linear_convection(151, 51, 0.5, 2.0, 0.5)
    assert result.shape == (151, 51) and result.dtype == jnp.float32
    row0 = np.ones(51)
    row0[13:25] = 2
    check(result[0], row0)
    np.testing.assert_allclose(np.asarray(result), upwind_reference(151, 51, 0.5, 2.0, 0.5), atol=1e-3)
    np.testing.assert_allclose(float(result[-1].sum()), 63.0, rtol=1e-5)

def test_runge_kutta_example():
    """RK4 with functions by index, the first cell set to y(0): dy/dt = y, y(0) = 1 on t = linspace(0, 1, 5)."""
    t = jnp.linspace(0, 1, 5)
    x = jnp.stack([jnp.zeros(5), t])  # row 0 = y, row 1 = t
    dt = t[1] - t[0]
    f = lambda tn, yn: yn  # noqa: E731

    def rk4(x):
        yn, tn = x[0, -1], x[1, -1]  # previous y and t
        k1 = dt * f(tn, yn)
        k2 = dt * f(tn + dt / 2, yn + k1 / 2)
        k3 = dt * f(tn + dt / 2, yn + k2 / 2)
        k4 = dt * f(tn + dt, yn + k3)
        return yn + (k1 + 2 * k2 + 2 * k3 + k4) / 6

    F = kscan(kernel_size=(2, 3), relative=True, padding=(0, 1))
    F[0:1, 1:] = rk4
    F[0, 0] = lambda x: 1.0
    out = jax.jit(F.__call__)(x)
    assert out.shape == (1, 5)
    np.testing.assert_allclose(np.asarray(out[0]), [1.0, 1.284017, 1.6486995, 2.1169581, 2.7182102], atol=1e-4)
    check(jax.jit(F)(x), np.asarray(out))

# ----------------------------------------------------------------------------- transformations, purity, inputs

def test_kernel_object_jit_grad_vmap_wrt_array_and_args():
    """kscan under JAX transformations (docs/semantics.md, end of "What the function receives"): jit(K),
    jit(K.__call__), grad w.r.t. the array and the extra arguments, vmap."""
    fns = [(lambda v, a, b=1.0: v[-1] * a + v[0] * b), (lambda v, a, b=1.0: jnp.sin(v[1]) * a - b)]
    assignments = [(slice(None, 3), fns[0]), (slice(3, None), fns[1])]
    kw = dict(kernel_size=(3,), padding="same", relative=True)
    F = by_index(kscan, assignments, **kw)
    reference = functools.partial(kscan_reference, fns=assignments, **kw)
    check_transformations(F, reference, jnp.linspace(-1.0, 1.0, 6), jnp.float32(0.7), 1.3)

def test_pure_across_shapes_and_numpy_input():
    g = kscan(kernel_size=(3, -1), padding=("same", 0))(lambda v: v.max() - v.min())
    a, b = mat(4, 3), mat(6, 5) * 2
    first = g(a)
    g(b)
    check(g(np.asarray(a)), first)
    check(first, kscan_reference(a, lambda v: v.max() - v.min(), kernel_size=(3, -1), padding=("same", 0)))
    check(g(b), kscan_reference(b, lambda v: v.max() - v.min(), kernel_size=(3, -1), padding=("same", 0)))
    F = by_index(kscan, [(slice(1, None), lambda v: v[0] * 2)], kernel_size=(1,))
    check(F(np.arange(1, 5)), [1, 4, 6, 8])

@pytest.mark.parametrize(
    "thunk, exc, match",
    [
        (lambda: kscan(kernel_size=(3,))(S)(mat(4, 4)), ValueError, "kernel_size"),
        (lambda: kscan(kernel_size=(3,), padding=(0, 1))(S)(mat(5)), ValueError, "padding"),
        (lambda: kscan(kernel_size=(1,), strides=0)(S)(mat(5)), ValueError, "strides"),
        (lambda: kscan(kernel_size=1)(mat(5)), ValueError, "regist"),
        (lambda: kscan(kernel_size=1)(3), ValueError, "kscan"),
        (lambda: kscan(kernel_size=1)(S)(jnp.array(1)), ValueError, "rank"),
    ],
    ids=["kernel-rank", "pair-on-1d", "strides-0", "no-registered-function", "first-arg-int", "rank-0"],
)
def test_errors(thunk, exc, match):
    with pytest.raises(exc, match=match):
        thunk()

def test_errors_name_the_window_function_and_repr_shows_the_schedule():
    def two_values(v):
        return v[0], v[1]

    with pytest.raises(ValueError, match=r"must return a scalar; 'two_values' returned PyTreeDef\(\(\*, \*\)\)"):
        kscan(kernel_size=3)(two_values)(mat(5))
    assert repr(kscan(kernel_size=3, schedule="sequential")) == (
        "kscan(kernel_size=3, strides=1, padding=0, relative=False, named_axis=None, schedule='sequential')"
    )

# ----------------------------------------------------------------------------- property tests

def _setup(case, relative, dtype, seed):
    kernel, _, _, _ = resolve(case["shape"], case["kernel_size"], case["strides"], case["padding"])
    x = random_array(seed, case["shape"], dtype)
    w = random_array(seed + 1, kernel, np.float32)
    kw = dict(kernel_size=case["kernel_size"], strides=case["strides"], padding=case["padding"], relative=relative)
    b = 0.25 if np.dtype(dtype).kind == "f" else 1
    return kernel, x, w, b, kw

def _compare(got, expected):
    assert got.shape == expected.shape and got.dtype == expected.dtype, (got.shape, got.dtype, expected.dtype)
    if np.dtype(expected.dtype).kind == "f":
        np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-4, atol=1e-5)
    else:
        np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))

@st.composite
def scan_functions(draw, shape, pool):
    """Either one function (decorator form) or 1-3 ``(index, name)`` assignments."""
    if draw(st.booleans()):
        return draw(st.sampled_from(pool))
    return [(draw(indices(shape)), draw(st.sampled_from(pool))) for _ in range(draw(st.integers(1, 3)))]

def _build(spec, pool, kw):
    """``(kernex callable, reference fns)`` from a drawn spec."""
    if isinstance(spec, str):
        return kscan(**kw)(pool[spec]), pool[spec]
    assignments = [(index, pool[name]) for index, name in spec]
    return by_index(kscan, assignments, **kw), assignments

@given(
    case=geometries(),
    relative=st.booleans(),
    dtype=st.sampled_from([np.float32, np.int32]),
    seed=st.integers(0, 2**31 - 1),
    use_jit=st.booleans(),
    data=st.data(),
)
@property_settings(80)
def test_property_matches_sequential_reference(case, relative, dtype, seed, use_jit, data):
    """Values (cast to the input dtype) equal the literal sequential in-place model (docs/semantics.md, "kscan")."""
    kernel, x, w, b, kw = _setup(case, relative, dtype, seed)
    pool = kscan_functions(kernel, relative, dtype)
    apply, fns = _build(data.draw(scan_functions(case["shape"], sorted(pool))), pool, kw)
    got = (jax.jit(apply) if use_jit else apply)(x, w, b=b)
    _compare(got, kscan_reference(x, fns, **kw, args=(w,), kwargs={"b": b}))

@given(case=geometries(), relative=st.booleans(), seed=st.integers(0, 2**31 - 1), data=st.data())
@property_settings(25)
def test_property_gradients_match_sequential_reference(case, relative, seed, data):
    """grad of sum(out * cotangent) w.r.t. the input, a positional and a keyword argument (under jit)."""
    kernel, x, w, b, kw = _setup(case, relative, np.float32, seed)
    pool = kscan_functions(kernel, relative, np.float32)
    apply, fns = _build(data.draw(scan_functions(case["shape"], sorted(pool))), pool, kw)
    ref = functools.partial(kscan_reference, fns=fns, **kw, xp=jnp)
    out_shape = resolve(case["shape"], case["kernel_size"], case["strides"], case["padding"])[3]
    ct = random_array(seed + 2, out_shape, np.float32)

    def grad(fn):
        return jax.jit(jax.grad(lambda x, w, b: jnp.sum(fn(x, w, b) * ct), argnums=(0, 1, 2)))

    got = grad(lambda x, w, b: apply(x, w, b=b))(x, w, b)
    expected = grad(lambda x, w, b: ref(x, args=(w,), kwargs={"b": b}))(x, w, b)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=1e-4, atol=1e-4)

@given(data=named_cases(), relative=st.booleans(), seed=st.integers(0, 2**31 - 1))
@property_settings(30)
def test_property_named_axis_matches_sequential_reference(data, relative, seed):
    case, named_axis, f = data
    x = random_array(seed, case["shape"], np.int32)
    kw = dict(kernel_size=case["kernel_size"], strides=case["strides"], padding=case["padding"], relative=relative)
    _compare(kscan(**kw, named_axis=named_axis)(f)(x), kscan_reference(x, f, **kw, named_axis=named_axis))

# ----------------------------------------------------------------------------- F[idx]: no NaN from unselected functions

NAN_CASES = [
    # id, kscan kwargs, assignments, input: sqrt/log have infinite derivatives at 0 where they are not selected
    ("issue-example", dict(kernel_size=1), [(0, lambda w: jnp.sqrt(w[0])), (slice(1, None), lambda w: w[0])],
     [1.0, 0.0, 2.0, 4.0]),
    ("sequential-steps", dict(kernel_size=3, padding="same", relative=True),
     [(0, lambda w: jnp.sqrt(w[0]) + w[1]), (slice(1, None), lambda w: 0.5 * (w[-1] + w[0]))], [4.0, 0.0, 0.0, 1.0]),
    ("rows-2d", dict(kernel_size=3, padding="same", relative=True),
     [((slice(None), 0), lambda w: jnp.log(w[0, 0])), ((slice(1, None), slice(1, None)), lambda w: w[-1, 0] * w[0, -1])],
     [[1.0, 0.0, 0.5], [2.0, 0.0, 1.5], [0.5, 1.0, 0.0]]),
    ("later-overlap", dict(kernel_size=3, padding="same", relative=True),  # latest wins inside log's region
     [(slice(None), lambda w: jnp.log(w[0]) + w[1]), (0, lambda w: w[0]), (2, lambda w: w[-1])], [0.0, 1.0, 0.0, 2.0]),
]


@case_table("kw, assignments, x", NAN_CASES)
def test_by_index_gradients_are_not_nan_where_a_function_is_not_selected(kw, assignments, x):
    x = jnp.asarray(x, jnp.float32)
    F = by_index(kscan, assignments, **kw)
    got = jax.grad(lambda x: jnp.sum(F(x) ** 2))(x)
    expected = jax.grad(lambda x: jnp.sum(kscan_reference(x, assignments, xp=jnp, **kw) ** 2))(x)
    assert not np.any(np.isnan(np.asarray(got)))
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=1e-6)


def test_wavefront_refuses_functions_by_index_that_must_run_on_their_windows_only():
    F = by_index(kscan, NAN_CASES[2][2], **NAN_CASES[2][1], schedule="wavefront")
    with pytest.raises(ValueError, match="schedule='wavefront' cannot restrict a function assigned by index"):
        F(jnp.ones((3, 3)))


# ----------------------------------------------------------------------------- several fields as the state


def _coupled(kernel, relative):
    """Two coupled fields: each update reads both fields' live values (contractive, so rounding stays small)."""
    first, mid, last = cell_indices(kernel, relative)
    return lambda s: {
        "u": 0.5 * s["u"][first] + 0.25 * s["v"][last] + 0.25 * jnp.tanh(s["v"][mid]),
        "v": 0.5 * jnp.mean(s["u"]) - 0.25 * s["v"][first],
    }


@given(case=geometries(max_rank=2), relative=st.booleans(), seed=st.integers(0, 2**31 - 1), by_idx=st.booleans())
@property_settings(30)
def test_property_fields_match_sequential_reference(case, relative, seed, by_idx):
    """A dict of two fields updated together: values equal the sequential model's (gradients: below)."""
    kernel, x, _, _, kw = _setup(case, relative, np.float32, seed)
    fields = {"u": x, "v": random_array(seed + 3, case["shape"], np.float32)}
    f = _coupled(kernel, relative)
    fns = [((slice(None),) * len(kernel), f), ((0,) * len(kernel), lambda s: {"u": 1.0, "v": 2.0})]
    fns = fns if by_idx else f
    apply = by_index(kscan, fns, **kw) if by_idx else kscan(**kw)(f)
    got, expected = apply(fields), kscan_reference(fields, fns, **kw)
    for name in ("u", "v"):
        _compare(got[name], expected[name])


def test_fields_with_boundary_and_wavefront():
    """Periodic coupled fields on every schedule that is exact (2-D, wavefront included)."""
    x = {"u": random_array(1, (4, 5), np.float32), "v": random_array(2, (4, 5), np.float32)}
    kw = dict(kernel_size=3, padding="same", relative=True, boundary="wrap")
    f = _coupled((3, 3), True)
    expected = kscan_reference(x, f, **kw)
    for schedule in ("sequential", "wavefront"):
        got = kscan(schedule=schedule, **kw)(f)(x)
        for name in ("u", "v"):
            _compare(got[name], expected[name])
    small = {name: leaf[:3, :3] for name, leaf in x.items()}
    loss = lambda out: jnp.sum(out["u"] ** 2) + jnp.sum(jnp.sin(out["v"]))  # noqa: E731
    g = jax.grad(lambda s: loss(kscan(**kw)(f)(s)))(small)
    e = jax.jit(jax.grad(lambda s: loss(kscan_reference(s, f, xp=jnp, **kw))))(small)
    for name in ("u", "v"):
        assert np.any(np.asarray(e[name]) != 0)
        np.testing.assert_allclose(np.asarray(g[name]), np.asarray(e[name]), rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------- schedules x ranks x window sizes
# Every schedule on small (3 per axis) and large windows (over ``config.UNROLL_LIMIT`` cells: the box plans,
# which need regions) for a plain sum and functions only the vmap fallback evaluates (sort, lax.cond, argmin),
# against the sequential model. The wavefront's gather context has no regions, so it must fall back there.

# rank: (input shape for small windows, large window, input shape for it); a window must fit in the input
SCHEDULE_SHAPES = {1: ((6,), 300, (301,)), 2: ((4, 5), 17, (17, 18)), 3: ((3, 3, 4), 7, (7, 7, 8))}

# name: (window function, the same in NumPy for the reference); all contractive, so rounding stays small
SCHEDULE_FUNCTIONS = {
    "sum": (lambda v: jnp.sum(v) / v.size, lambda v: np.sum(np.asarray(v)) / v.size),
    "sort": (lambda v: jnp.sort(v.ravel())[v.size // 2], lambda v: np.sort(np.asarray(v).ravel())[v.size // 2]),
    "cond": (
        lambda v: jax.lax.cond(jnp.sum(v) > 0, lambda u: 0.5 * u.max(), lambda u: 0.5 * u.min(), v),
        lambda v: 0.5 * (np.max(v) if np.sum(v) > 0 else np.min(v)),
    ),
    "argmin": (
        lambda v: 0.5 * v.ravel()[jnp.argmin(v.ravel())] + 0.25 * jnp.argmin(v.ravel()) / v.size,
        lambda v: 0.5 * np.asarray(v).min() + 0.25 * np.argmin(np.asarray(v)) / v.size,
    ),
}

def _plan_of(F, x):
    """The plan kscan chooses for ``F(x)``, found by tracing (nothing is compiled)."""
    chosen = []

    def choose(*args):
        chosen.append(kscan_plan.choose_plan(*args))
        return chosen[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kscan_lowering, "choose_plan", choose)
        jax.eval_shape(F, x)
    return chosen[0]

def _check_schedules(fn, kw, x, expected, refused):
    """Every schedule name is refused (those in ``refused``) or matches ``expected``; a name whose plan
    equals one already checked ('auto' on CPU is a block schedule) compiles the same program, so it is
    not run twice."""
    checked = set()
    for schedule in kscan_plan.SCHEDULES:
        F = kscan(schedule=schedule, **kw)(fn)
        if schedule in refused:
            with pytest.raises(ValueError, match=f"schedule={schedule!r} would change the result"):
                _plan_of(F, x)
            continue
        plan = _plan_of(F, x)
        if plan in checked:
            continue
        got = jax.jit(F)(x)
        assert got.dtype == np.float32, (schedule, got.dtype)
        np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-6, err_msg=schedule)
        checked.add(plan)
    assert {p.kind for p in checked} == {"block", "wavefront"}

@pytest.mark.parametrize("name", SCHEDULE_FUNCTIONS)
@pytest.mark.parametrize("size", ["small", "large"])
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_every_schedule_every_rank_small_and_large_windows(rank, size, name):
    small, side, large = SCHEDULE_SHAPES[rank]
    shape = small if size == "small" else large
    kw = dict(kernel_size=3 if size == "small" else side, padding="same")
    fn, np_fn = SCHEDULE_FUNCTIONS[name]
    x = random_array(rank, shape, np.float32)
    expected = kscan_reference(x, np_fn, **kw)
    refused = {"parallel"} | ({"rows"} if rank > 1 else set())  # every window reads earlier anchors of its row
    _check_schedules(fn, kw, x, expected, refused)

@pytest.mark.parametrize("rank, name", [(1, "sort"), (2, "sum"), (3, "sort")])
def test_windows_that_miss_each_others_anchors_run_every_schedule(rank, name):
    """Strides of 3 on 3-cell windows: no window reads another's anchor, so 'parallel' and 'rows' run too."""
    kw = dict(kernel_size=3, strides=3, padding="same")
    fn, np_fn = SCHEDULE_FUNCTIONS[name]
    x = random_array(rank, SCHEDULE_SHAPES[rank][0], np.float32)
    expected = kscan_reference(x, np_fn, **kw)
    _check_schedules(fn, kw, x, expected, refused=set())

def _schedule_grads(F, x, ct):
    return jax.jit(jax.grad(lambda x: jnp.sum(F(x) * ct)))(x)

@pytest.mark.parametrize("name", ["sort", "cond"])
def test_every_schedule_gradients_match_the_sequential_model(name):
    """grad of sum(out * cotangent) of a fallback primitive on 3-cell windows, each schedule vs the reference."""
    fn, _ = SCHEDULE_FUNCTIONS[name]
    kw = dict(kernel_size=3, padding="same")
    x, ct = random_array(5, (7,), np.float32), random_array(6, (7,), np.float32)
    expected = _schedule_grads(lambda x: kscan_reference(x, fn, xp=jnp, **kw), x, ct)
    for schedule in ["sequential", "wavefront"]:  # ('auto' is 'sequential' here: see _check_schedules)
        got = _schedule_grads(kscan(schedule=schedule, **kw)(fn), x, ct)
        np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=1e-6, err_msg=schedule)

def test_large_window_gradients_agree_across_schedules():
    """17x17 windows: the block schedule's box plans (regions) and the wavefront's gathered boxes, same gradient."""
    fn, _ = SCHEDULE_FUNCTIONS["sum"]
    kw = dict(kernel_size=17, padding="same")
    x, ct = random_array(7, (17, 18), np.float32), random_array(8, (17, 18), np.float32)
    sequential = _schedule_grads(kscan(schedule="sequential", **kw)(fn), x, ct)
    wavefront = _schedule_grads(kscan(schedule="wavefront", **kw)(fn), x, ct)
    assert np.any(np.asarray(sequential) != 0)
    np.testing.assert_allclose(np.asarray(wavefront), np.asarray(sequential), rtol=1e-5, atol=1e-6)
