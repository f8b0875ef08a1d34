"""The jaxpr interpreter (``kernex._src.interp.evaluate``) and the shape of the programs it emits.

* ``live_equations`` drops dead code (also visible as fewer cells read, via
  ``reads.read_offsets``), keeps effects;
* literals, closed-over constants (concrete arrays, tracers of an enclosing
  ``jit``/``grad``), inner calls with several outputs;
* ``fallback`` evaluates one primitive per window on a materialised patch;
* the lowered programs of the seed examples (conv, Laplacian, 2x2 max-pool,
  function by index) and of their gradients contain no ``gather`` and no
  intermediate as large as a k-fold patch tensor; ``jnp.median`` needs the
  whole window, so it goes through the fallback and is still right;
* functions with custom derivatives (``relu``, ``softplus``, ``logaddexp``,
  user ``custom_jvp``/``custom_vjp``) stay on slices, gradients included, and
  keep their own derivative rules.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from reference import (
    case_table,
    kmap_reference,
    kmap_reference_vectorized,
    largest_intermediate,
    mat,
    primitive_names,
    random_array,
    seed_laplacian,
)

import kernex
from demo.models import MaxPool2D
from kernex._src import config
from kernex._src.interp import evaluate as interpreter
from kernex._src.interp.context import SliceContext as Context
from kernex._src.interp.values import Dense, Grid, window_grid
from kernex._src.kernel import Branch
from kernex._src.lower import reads as read_analysis
from kernex._src.lower import trace
from kernex._src.window.boundary import pad_state
from kernex._src.window.geometry import resolve_geometry


def traced(f, kernel, dtype=jnp.float32, args=()):
    """The closed jaxprs of ``f`` traced on an abstract patch, as kmap/kscan trace them."""
    spec = jax.ShapeDtypeStruct(kernel, dtype)
    jaxprs, _, _ = trace.trace_branches([Branch(f, None)], spec, args, {}, "test")
    return jaxprs


def reads(f, kernel, relative=False, dtype=jnp.float32):
    geometry = resolve_geometry(tuple(k + 4 for k in kernel), kernel, 1, "same")
    return read_analysis.read_offsets(traced(f, kernel, dtype), geometry, relative, dtype)


# ----------------------------------------------------------------------------- live_equations


def test_live_equations_drop_dead_code():
    def f(v):
        unused = jnp.sin(v).sum() * jnp.exp(v[0])  # noqa: F841
        also_unused = jnp.cumsum(v)  # noqa: F841
        return v[1] + v[2]

    jaxpr = jax.make_jaxpr(f)(jnp.ones(5)).jaxpr
    live = interpreter.live_equations(jaxpr)
    names = [e.primitive.name for e in live]
    assert not {"sin", "exp", "cumsum", "reduce_sum"} & set(names), names
    assert "add" in names
    assert [e for e in jaxpr.eqns if e in live] == live  # order is kept
    assert reads(f, (5,)) == {(1,), (2,)}


def test_live_equations_keep_effects():
    def f(v):
        jax.debug.print("{}", v[3])
        return v[0] * 2.0

    jaxpr = jax.make_jaxpr(f)(jnp.ones(5)).jaxpr
    names = [e.primitive.name for e in interpreter.live_equations(jaxpr)]
    assert "debug_print" in names or "debug_callback" in names, names


def test_live_equations_of_a_constant_function():
    jaxpr = jax.make_jaxpr(lambda v: 3.0)(jnp.ones(5)).jaxpr
    assert interpreter.live_equations(jaxpr) == []
    assert reads(lambda v: 3.0, (5,)) == set()
    np.testing.assert_array_equal(kernex.kmap(kernel_size=3)(lambda v: 3.0)(jnp.ones(5)), [3.0, 3.0, 3.0])


# ----------------------------------------------------------------------------- literals, constants, inner calls


def _check_kmap(f, x, args=(), **kw):
    got = kernex.kmap(**kw)(f)(x, *args)
    expected = kmap_reference(x, f, args=args, **kw)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-6, atol=1e-6)
    got = jax.jit(kernex.kmap(**kw)(f))(x, *args)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-6, atol=1e-6)


def test_literals():
    x = random_array(0, (6, 5), np.float32)
    _check_kmap(lambda v: v[0, 0] * 2.5 + 1 - jnp.where(v[1, 1] > 0, 3.0, -1.0), x, kernel_size=(2, 2))
    xi = mat(6, 5)
    _check_kmap(lambda v: v[0, 0] * 3 + 7 - (v[1, 1] > 4), xi, kernel_size=(2, 2))


def test_constants_closed_over():
    """Concrete arrays (NumPy and JAX) become uniform constants; a static index derived from one stays static."""
    W = jnp.arange(9.0).reshape(3, 3)
    N = np.array([[1.0, -1.0, 0.5]], np.float32)
    idx = np.array([2, 0, 1])
    x = random_array(1, (6, 7), np.float32)
    f = lambda v: jnp.sum(v * W) + jnp.sum(v[:1] * N) + v.ravel()[idx].sum()  # noqa: E731
    _check_kmap(f, x, kernel_size=(3, 3), padding="same")


def test_tracers_of_an_enclosing_jit_closed_over():
    x = random_array(2, (7,), np.float32)
    a = jnp.array([0.5, -1.0, 2.0])

    @jax.jit
    def outer(x, a):
        return kernex.kmap(kernel_size=(3,), padding="same")(lambda v: jnp.sum(v * a) + a[1] * v[0])(x)

    expected = kmap_reference(x, lambda v: jnp.sum(v * a) + a[1] * v[0], kernel_size=(3,), padding="same")
    np.testing.assert_allclose(np.asarray(outer(x, a)), expected, rtol=1e-6)


def test_gradient_wrt_a_closed_over_value():
    """jax.grad w.r.t. a value the window function closes over (a JVP tracer among the jaxpr's consts)."""
    x = random_array(3, (6, 6), np.float32)
    a = jnp.array(0.7)
    kw = dict(kernel_size=(3, 3), padding="same", strides=(2, 1))

    def loss(a, impl):
        return jnp.sum(impl(x, lambda v: jnp.tanh(a * v).sum() * a + jnp.max(v) * a**2, **kw) ** 2)

    kernex_impl = lambda x, f, **kw: kernex.kmap(**kw)(f)(x)  # noqa: E731
    got = jax.grad(loss)(a, kernex_impl)
    expected = jax.grad(loss)(a, kmap_reference_vectorized)
    np.testing.assert_allclose(float(got), float(expected), rtol=1e-5)
    jitted = jax.jit(jax.grad(loss), static_argnums=1)(a, kernex_impl)
    np.testing.assert_allclose(float(jitted), float(expected), rtol=1e-5)


def test_inner_calls_with_several_outputs():
    def f(v):
        total, top, first, unused = jax.jit(lambda a: (a.sum(), a.max(), a[0, 0], jnp.sin(a)))(v)
        lo, hi = jnp.split(v, [1], axis=1)
        return total * first - top + lo.sum() * hi.max()

    x = random_array(4, (5, 6), np.float32)
    _check_kmap(f, x, kernel_size=(2, 3), strides=(1, 2), padding="same")


def test_dead_outputs_of_an_inner_call_may_count_as_reads():
    """Conservative: an inner call's outputs are evaluated together, so reads made only for an unused
    output of an inner ``jit`` may be counted (never the other way round)."""
    f = lambda v: jnp.tanh(jax.jit(lambda a: (jnp.tanh(a[1]), jnp.tanh(a[3])))(v)[0])  # noqa: E731
    assert {(1,)} <= reads(f, (5,)) <= {(1,), (3,)}


def test_evaluate_and_fallback_directly():
    """Evaluate a traced jaxpr on a patch: cells stay lazy, ``sort`` goes through the fallback (Dense)."""
    x = random_array(5, (9,), np.float32)
    geometry = resolve_geometry(x.shape, (3,), 2, "same")
    ctx = Context(geometry.layout, config.UNROLL_LIMIT)
    patch = window_grid(pad_state(jnp.asarray(x), geometry), geometry, False)
    (closed,) = traced(lambda v: lax.sort(v) * 2.0, (3,))
    (out,) = interpreter.evaluate(closed.jaxpr, closed.consts, [patch], ctx)
    assert isinstance(out, Dense) and out.array.shape == geometry.out_shape + (3,)
    expected = kmap_reference(x, lambda v: jnp.sort(v) * 2.0, kernel_size=(3,), strides=2, padding="same")
    np.testing.assert_allclose(np.asarray(ctx.dense(out)), expected)

    sort_eqn = next(e for e in closed.jaxpr.eqns if e.primitive.name == "sort")
    (dense,) = interpreter.fallback(ctx, sort_eqn, [patch])
    assert isinstance(dense, Dense)
    expected = kmap_reference(x, jnp.sort, kernel_size=(3,), strides=2, padding="same")
    np.testing.assert_allclose(np.asarray(dense.array), expected)

    (closed,) = traced(lambda v: v[0] * 3.0 + v[2], (3,))
    ctx = Context(geometry.layout, config.UNROLL_LIMIT)
    (out,) = interpreter.evaluate(closed.jaxpr, closed.consts, [patch], ctx)
    assert isinstance(out, Grid) and out.shape == ()


def test_uniform_equations_are_evaluated_at_trace_time(fallback_log):
    """Index arithmetic on constants stays concrete, so a gather of the window keeps static indices."""
    x = random_array(6, (8, 8), np.float32)
    f = lambda v: v.ravel()[(jnp.arange(9) * 4) % 9].reshape(3, 3)[::2].sum()  # noqa: E731
    _check_kmap(f, x, kernel_size=(3, 3), padding="same")
    assert fallback_log == []
    assert "gather" not in primitive_names(jax.jit(kernex.kmap(kernel_size=(3, 3))(f)), x)


# ----------------------------------------------------------------------------- structure of the lowered programs


def _seed_conv():
    return kernex.kmap(kernel_size=(3, 3, 3), padding=("valid", "same", "same"))(lambda x, w: jnp.sum(x * w))


def _seed_laplacian():
    return kernex.kmap(kernel_size=(3, 3), padding="valid", relative=True)(seed_laplacian)


def _seed_function_by_index():
    F = kernex.kmap(kernel_size=(1,))
    F[0] = lambda x: x[0] ** 2
    F[1:] = lambda x: x[0] ** 3
    return F


def _grad(fn, argnums=0):
    return jax.grad(lambda *args: jnp.sum(fn(*args) ** 2), argnums=argnums)


H = 16
CONV_X = random_array(7, (3, H, H), np.float32)
CONV_W = random_array(8, (3, 3, 3), np.float32)
IMAGE = random_array(9, (H, H), np.float32)

# name, function of the arrays, arrays, kernel cells, output elements, state (padded input) elements
STRUCTURE_CASES = [
    ("seed-conv", lambda x, w: _seed_conv()(x, w), (CONV_X, CONV_W), 27, H * H, 3 * (H + 2) ** 2),
    ("seed-conv-grad", _grad(_seed_conv(), argnums=(0, 1)), (CONV_X, CONV_W), 27, H * H, 3 * (H + 2) ** 2),
    ("seed-laplacian", lambda x: _seed_laplacian()(x), (IMAGE,), 9, (H - 2) ** 2, H * H),
    ("seed-laplacian-grad", _grad(_seed_laplacian()), (IMAGE,), 9, (H - 2) ** 2, H * H),
    ("maxpool-2x2", lambda x: MaxPool2D()(x), (IMAGE[None, None],), 4, (H // 2) ** 2, H * H),
    ("maxpool-2x2-grad", _grad(MaxPool2D()), (IMAGE[None, None],), 4, (H // 2) ** 2, H * H),
    ("function-by-index", lambda x: _seed_function_by_index()(x), (jnp.arange(1.0, 65.0),), 1, 64, 64),
    ("function-by-index-grad", _grad(_seed_function_by_index()), (jnp.arange(1.0, 65.0),), 1, 64, 64),
]


@case_table("fn, args, cells, outputs, state", STRUCTURE_CASES)
def test_no_gather_and_no_patch_tensor(fn, args, cells, outputs, state):
    """No ``gather``/``scatter`` and no intermediate with more than kernel_cells x outputs / 2 elements.

    Arrays as large as the zero-padded input (and its cotangent) are allowed: for a 2x2 max-pool with
    stride 2 (or a 1-cell kernel) the input itself has kernel_cells x outputs elements.
    """
    jitted = jax.jit(fn)
    text = str(jax.make_jaxpr(jitted)(*args))
    assert "gather" not in text and "scatter" not in text
    assert not primitive_names(jitted, *args) & {"gather", "scatter", "scatter-add", "scatter_add"}
    assert largest_intermediate(jitted, *args) <= max(cells * outputs // 2, state)


def test_structure_cases_compute_the_right_values():
    kw = dict(kernel_size=(3, 3, 3), padding=("valid", "same", "same"))
    expected = kmap_reference(CONV_X, lambda x, w: jnp.sum(x * w), args=(CONV_W,), **kw)
    np.testing.assert_allclose(np.asarray(jax.jit(_seed_conv())(CONV_X, CONV_W)), expected, rtol=1e-5, atol=1e-5)
    lap = _seed_laplacian()
    expected = kmap_reference(IMAGE, seed_laplacian, kernel_size=(3, 3), relative=True)
    np.testing.assert_allclose(np.asarray(jax.jit(lap)(IMAGE)), expected, rtol=1e-5, atol=1e-5)
    pooled = MaxPool2D()(IMAGE[None, None])[0, 0]
    np.testing.assert_array_equal(np.asarray(pooled), IMAGE.reshape(H // 2, 2, H // 2, 2).max(axis=(1, 3)))
    np.testing.assert_array_equal(np.asarray(_seed_function_by_index()(jnp.arange(1.0, 5.0))), [1.0, 8.0, 27.0, 64.0])


def test_median_needs_the_whole_window_and_uses_the_fallback(fallback_log):
    kw = dict(kernel_size=(3, 3), padding="same")
    x = random_array(10, (7, 6), np.float32)
    apply = kernex.kmap(**kw)(jnp.median)
    np.testing.assert_allclose(np.asarray(apply(x)), kmap_reference(x, jnp.median, **kw), rtol=1e-6)
    assert "sort" in fallback_log
    # the fallback materialises the patch: here (and only here) a k-fold tensor is expected
    assert largest_intermediate(jax.jit(apply), x) >= 9 * x.size
    grads = jax.jit(jax.grad(lambda x: jnp.sum(apply(x) ** 2)))(x)
    expected = jax.grad(lambda x: jnp.sum(kmap_reference_vectorized(x, jnp.median, **kw) ** 2))(x)
    np.testing.assert_allclose(np.asarray(grads), np.asarray(expected), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kernel", [(3, 3), (5, 5)])
def test_laplacian_like_stencil_emits_one_slice_per_cell_read(kernel):
    """A 5-point stencil reads 5 cells whatever the kernel size: five slices of the input."""
    f = lambda v: v[0, 1] + v[1, 0] - 4 * v[1, 1] + v[1, 2] + v[2, 1]  # noqa: E731
    x = random_array(11, (12, 12), np.float32)
    eqns = list(jax.make_jaxpr(kernex.kmap(kernel_size=kernel, padding="same")(f))(x).jaxpr.eqns)
    assert sum(e.primitive.name == "slice" for e in eqns) <= 5 + 1  # + at most one slice of the padded state
    expected = kmap_reference(x, f, kernel_size=kernel, padding="same")
    np.testing.assert_allclose(np.asarray(kernex.kmap(kernel_size=kernel, padding="same")(f)(x)), expected, rtol=1e-6)


# ----------------------------------------------------------------------------- custom derivatives stay on slices


@jax.custom_jvp
def _cubed(a):
    return a * a * a


@_cubed.defjvp
def _cubed_jvp(primals, tangents):
    (a,), (t,) = primals, tangents
    return a * a * a, 2.0 * a * t  # deliberately not 3a^2: only the custom rule gives this gradient


@jax.custom_vjp
def _scaled(a, b):
    return a * jnp.sin(b)


def _scaled_fwd(a, b):
    return _scaled(a, b), (a, b)


def _scaled_bwd(res, g):
    a, b = res
    return 0.5 * g, g * a  # deliberately not (g sin b, g a cos b)


_scaled.defvjp(_scaled_fwd, _scaled_bwd)

SAME3 = dict(kernel_size=(3, 3), padding="same")
CUSTOM = {
    "relu": lambda v: jax.nn.relu(v).sum(),
    "gelu": lambda v: jax.nn.gelu(v).sum() + jax.nn.gelu(v[1, 1]),
    "gelu-erf": lambda v: jax.nn.gelu(v, approximate=False).sum(),
    "softplus": lambda v: jax.nn.softplus(v).sum() * v[1, 1],
    "logaddexp": lambda v: jnp.logaddexp(v, v.T).sum() + jnp.logaddexp(v[0, 0], 0.5),
    "custom-jvp": lambda v: jnp.sum(_cubed(v)),
    "custom-vjp": lambda v: jnp.sum(_scaled(v, v.T)) + _scaled(v[1, 1], 2.0),
}


def _brute_force_loss(f, kw):
    return lambda x: 0.5 * jnp.sum(kmap_reference_vectorized(x, f, **kw) ** 2)


@pytest.mark.parametrize("name", list(CUSTOM))
def test_custom_derivatives_stay_on_slices(name, fallback_log):
    """``jax.nn.relu``, ``gelu``, ``softplus``, ``jnp.logaddexp`` and user custom JVP/VJP functions on 3x3
    windows: no vmap fallback, no ``(H, W, 3, 3)`` patch tensor in the program or in its gradient, and the
    values and gradients of ``0.5 * sum(y**2)`` of the brute force (the custom rules, not the primal's)."""
    f = CUSTOM[name]
    x = random_array(21, (8, 8), np.float32)
    x.reshape(-1)[::5] = 0  # relu's kink: its custom rule says 0 where max(x, 0) would say 1/2
    apply = kernex.kmap(**SAME3)(f)
    loss = lambda x: 0.5 * jnp.sum(apply(x) ** 2)  # noqa: E731
    got, grad = jax.jit(apply)(x), jax.jit(jax.grad(loss))(x)
    assert fallback_log == []
    bound = max(9 * x.size // 2, 10 * 10)  # well under a patch tensor; the padded input is allowed
    assert largest_intermediate(jax.jit(apply), x) <= bound
    assert largest_intermediate(jax.jit(jax.grad(loss)), x) <= bound
    np.testing.assert_allclose(np.asarray(got), kmap_reference_vectorized(x, f, **SAME3), rtol=1e-5, atol=1e-5)
    expected = jax.grad(_brute_force_loss(f, SAME3))(x)
    np.testing.assert_allclose(np.asarray(grad), np.asarray(expected), rtol=1e-5, atol=1e-5)


def test_relu_on_slices_keeps_its_gradient_at_zero(fallback_log):
    """Replayed on slices, ``relu`` still has ``jax.grad(jax.nn.relu)(0.) == 0``, its custom rule's value."""
    assert float(jax.grad(jax.nn.relu)(0.0)) == 0.0
    apply = kernex.kmap(kernel_size=(3,), padding="same")(lambda v: jax.nn.relu(v[1]))
    grad = jax.grad(lambda x: apply(x).sum())(jnp.array([1.0, 0.0, -1.0, 0.0, 2.0]))
    assert fallback_log == []
    np.testing.assert_array_equal(np.asarray(grad), [1.0, 0.0, 0.0, 0.0, 1.0])


@pytest.mark.parametrize("name", ["custom-jvp", "logaddexp"])
def test_second_derivatives_of_custom_jvp_functions(name):
    """The wrapper's JVP is itself replayed by the interpreter, so it can be differentiated again."""
    f = CUSTOM[name]
    x = random_array(22, (5, 4), np.float32)
    apply = kernex.kmap(**SAME3)(f)
    second = jax.grad(lambda x: jnp.sum(jax.grad(lambda x: 0.5 * jnp.sum(apply(x) ** 2))(x) ** 2))
    expected = jax.grad(lambda x: jnp.sum(jax.grad(_brute_force_loss(f, SAME3))(x) ** 2))
    np.testing.assert_allclose(np.asarray(jax.jit(second)(x)), np.asarray(expected(x)), rtol=1e-4, atol=1e-4)
