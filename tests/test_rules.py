"""Every rule family of the stencil interpreter (``kernex._src.interp.rules``) through ``kernex.kmap``.

Each case is a window function ``f(v, w)`` (``w`` is an extra argument with the
kernel's shape) compared with the brute-force ``kmap_reference``:

* values eagerly (``w`` is then a *concrete* uniform: static fast paths such as
  separable weights are taken) and under ``jax.jit`` (``w`` is a tracer);
* gradients (VJP with a random cotangent) w.r.t. the input and ``w``, under
  ``jax.jit``;
* under ``jax.vmap`` over the input.

The whole matrix runs twice: with the default ``UNROLL_LIMIT`` and with
``UNROLL_LIMIT = 2`` so that every large-window path (source-level ops, Scaled
products, box reductions, correlations, dense fallback) runs on small inputs.
At the default limit, the cases of the rule families also assert which
primitives went through the ``vmap`` fallback (so a rule silently turning into
the fallback is noticed).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from reference import kmap_reference, kmap_reference_vectorized, random_array

import kernex
from kernex._src import config

SAME3 = dict(kernel_size=(3, 3), padding="same")
DEFAULT_LIMIT = config.UNROLL_LIMIT


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    f: Callable
    kw: dict = dataclasses.field(default_factory=lambda: dict(SAME3))
    shape: tuple = (5, 4)
    dtype: type = np.float32
    # primitives allowed to use the vmap fallback at the default unroll limit (None: don't check)
    fallback: frozenset | None = frozenset()
    zeros: bool = False  # put exact zeros in the input (kinks of relu & co.)
    ties: bool = False  # round the input: many equal values (max/min split the gradient among ties)
    # batch/gradient references from the vectorised reference (False: from the loop reference)
    vectorized: bool = True


# ----------------------------------------------------------------------------- custom derivatives used below


@jax.custom_jvp
def odd_square(a):
    return a * a


@odd_square.defjvp
def _odd_square_jvp(primals, tangents):
    (a,), (t,) = primals, tangents
    return a * a, 3.0 * a * t  # deliberately not 2a: only the custom rule gives this gradient


@jax.custom_vjp
def half_grad(a):
    return jnp.sin(a)


def _half_grad_fwd(a):
    return jnp.sin(a), a


def _half_grad_bwd(a, g):
    return (0.5 * g,)  # deliberately not cos(a) * g


half_grad.defvjp(_half_grad_fwd, _half_grad_bwd)


@jax.custom_jvp
def times_count(a, n):
    return a * n


@times_count.defjvp
def _times_count_jvp(primals, tangents):
    (a, n), (t, _) = primals, tangents
    return a * n, 2.0 * t * n  # deliberately not n * t


@jax.custom_vjp
def weighted(a, b):
    return a * b


def _weighted_fwd(a, b):
    return a * b, (a, b)


def _weighted_bwd(res, g):
    a, b = res
    return 0.5 * g * b, 2.0 * g * a  # deliberately not (g * b, g * a)


weighted.defvjp(_weighted_fwd, _weighted_bwd)


def _split(v, w):
    a, b = jnp.split(v, [1], axis=0)
    return a.sum() * b.max() + jnp.split(v, 3, axis=1)[2].sum()


CASES = [
    # ---------------------------------------------------------------- elementwise
    Case("unary-source-level", lambda v, w: jnp.sum(jnp.tanh(v)) + jnp.exp(-v * v).max(),
         kw=dict(kernel_size=(3, 3), strides=(2, 1), padding=((1, 2), (0, 1)))),
    Case("unary-cells", lambda v, w: jnp.sin(v[0, 0]) * jnp.cos(v[2, 1]) + jnp.log1p(jnp.abs(v[1, 2]))
         + jnp.sqrt(v[1, 1] ** 2 + 1) + lax.rsqrt(v[0, 2] ** 2 + 1) + jax.nn.sigmoid(v[2, 2]) + jnp.floor(v[2, 0])),
    Case("unary-weighted", lambda v, w: jnp.sum(jnp.exp(-v * v) * w)),
    Case("binary-cells", lambda v, w: v[0, 0] * w[0, 0] + v[1, 1] / (1 + v[2, 2] ** 2)
         - jnp.maximum(v[0, 1], v[1, 0]) + jnp.minimum(v[2, 0], w[1, 1]) + jnp.arctan2(v[0, 2], 1 + v[1, 1] ** 2)),
    Case("binary-grids", lambda v, w: jnp.sum(jnp.maximum(v, v[::-1]) * (v - v.T))),
    Case("binary-source-level", lambda v, w: jnp.sum(v * jnp.tanh(v) - v / 2.0) * w[0, 0]),
    Case("pow", lambda v, w: jnp.sum(v ** 3 * w) + v[1, 1] ** 2 + jnp.abs(v[0, 0]) ** 1.5 + jnp.square(v[2, 2])),
    Case("select-cells", lambda v, w: jnp.where(v > 0, v, 0.1 * v).sum()
         + jnp.where(v[0, 0] > v[1, 1], w[0, 0] * v[0, 1], v[2, 2])),
    Case("select-window-predicate", lambda v, w: jnp.where(v.sum() > 0, v * w, -v).sum()),
    Case("select-n-three-way", lambda v, w: lax.select_n(
        (v > 0).astype(jnp.int32) + (v > 1).astype(jnp.int32), v, 2 * v, w * v).sum()),
    Case("clamp", lambda v, w: jnp.sum(lax.clamp(-0.5, v, 0.5) * w) + lax.clamp(w[0, 0] - 1, v[1, 1], w[0, 0] + 1)
         + jnp.sum(lax.clamp(w - 1, v, w + 1)),
         vectorized=False),  # JAX bug: grad of vmap(clamp(a, batched, b)) with scalar a, b raises in _clamp_batch_rule
    Case("convert-int-to-float", lambda v, w: jnp.sum(v.astype(jnp.float32) * w) + v[1, 1].astype(jnp.float32) / 3,
         dtype=np.int32),
    Case("convert-float-to-int", lambda v, w: jnp.sum((3 * v).astype(jnp.int32) * w) + (5 * v[0, 0]).astype(jnp.int8)),
    Case("int-arithmetic", lambda v, w: jnp.sum(v * v) - v[0, 0] // 2 + v[2, 2] % 3 + (v[1, 1] << 1)
         + jnp.sum(v & 3) - jnp.max(jnp.abs(v)), dtype=np.int32),
    Case("softmax", lambda v, w: jax.nn.softmax(v)),
    Case("softmax-axis", lambda v, w: jax.nn.softmax(v * w, axis=0)[1] + jax.nn.logsumexp(v, axis=1)),
    Case("stop-gradient", lambda v, w: jnp.sum(v * lax.stop_gradient(v)) + lax.stop_gradient(v[0, 0]) * v[1, 1]),
    Case("negative-integer-pow", lambda v, w: jnp.sum((1 + v * v) ** -2 * w) + (2 + v[1, 1]) ** -1),
    Case("iota-weights", lambda v, w: jnp.sum(v * lax.broadcasted_iota(jnp.float32, (3, 3), 1))
         + jnp.sum(v * lax.broadcasted_iota(jnp.float32, (3, 3), 0) * lax.broadcasted_iota(jnp.float32, (3, 3), 1))),
    Case("uniform-output", lambda v, w: w[0] * 2 + jnp.sum(w)),
    Case("keepdims-broadcast", lambda v, w: v - v.mean(axis=1, keepdims=True) + w[:1]),
    # ---------------------------------------------------------------- structural
    Case("reshape-ravel", lambda v, w: v.reshape(-1)[3] * v.reshape(9, 1)[5, 0] + v.ravel()[::4].sum()),
    Case("transpose", lambda v, w: jnp.sum(v.T * w) + v.T[0, 2]),
    Case("transpose-3d", lambda v, w: jnp.transpose(v, (2, 0, 1))[1] * w[0, :2],
         kw=dict(kernel_size=(2, 3, 3), padding=("valid", "same", "same")), shape=(3, 4, 4)),
    Case("squeeze-expand-dims", lambda v, w: jnp.expand_dims(v, 0)[0, 1, :] * jnp.squeeze(v[1:2, :], 0)),
    Case("slice-steps", lambda v, w: lax.slice(v, (0, 0), (3, 3), (2, 2)) * v[::-2, 1::2]),
    Case("rev", lambda v, w: jnp.sum(jnp.flip(v) * w) + jnp.flip(v, 1)[0, 0] + v[::-1, ::-1][0, 2]),
    Case("concatenate", lambda v, w: jnp.concatenate([v.ravel(), w.ravel(), jnp.ones(2)]) * 2
         + jnp.concatenate([v, w], axis=0).sum(axis=0).sum()),
    Case("pad", lambda v, w: lax.pad(v, 0.5, [(1, -1, 1), (-1, 2, 0)]) + lax.pad(v, w[0, 0], [(0, 2, 0), (1, 0, 0)])),
    Case("pad-interior-negative", lambda v, w: lax.pad(v, w[1, 1], [(-2, 1, 2), (2, -3, 1)])),
    Case("dynamic-slice", lambda v, w: lax.dynamic_slice(v, (1, 0), (2, 2)).sum()
         * lax.dynamic_slice(v, (-1, 5), (2, 2))[0, 1]),
    Case("dynamic-update-slice", lambda v, w: lax.dynamic_update_slice(v, w[:1, :2], (2, 2))
         + lax.dynamic_update_slice(v, v[:2, :1], (0, 2))),
    Case("split", _split),
    # ---------------------------------------------------------------- gather with static indices
    Case("gather-advanced", lambda v, w: v[jnp.array([0, -1, -1]), jnp.array([1, 0, -1])] * w[0],
         kw=dict(SAME3, relative=True)),
    Case("gather-rows", lambda v, w: v[jnp.array([2, 0])] * w[:2]),
    Case("gather-fill", lambda v, w: jnp.take(v.ravel(), jnp.array([0, 12, 4]), mode="fill", fill_value=-1.0)),
    Case("gather-clip", lambda v, w: jnp.take(v.ravel(), jnp.array([0, 12, -20]), mode="clip")),
    Case("gather-default-fill-nan", lambda v, w: v.ravel().at[jnp.array([3, 20])].get(mode="fill")),
    Case("gather-default-fill-int", lambda v, w: v.ravel().at[jnp.array([3, 20])].get(mode="fill"), dtype=np.int32),
    Case("gather-indices-from-arg", lambda v, w: v.ravel()[jnp.argsort(w.ravel())[:3]], fallback=None),
    Case("dynamic-slice-start-from-arg", lambda v, w: lax.dynamic_slice(v, ((w[0, 0] > 0).astype(int), 1), (2, 2)),
         fallback=None),
    # ---------------------------------------------------------------- reductions
    Case("box-reductions-cropped", lambda v, w: jnp.max(jnp.abs(v)) + jnp.sum(v) - jnp.min(v) * w[0, 0],
         kw=dict(kernel_size=(3, 2), strides=(1, 2), padding=((-1, 0), (2, 1)), relative=True), shape=(6, 5)),
    Case("sum-axes", lambda v, w: v.sum(axis=0) * w[0] + v.sum()),
    Case("max-min-axes", lambda v, w: v.max(axis=1) - v.min(axis=0) + v.max() + v.min()),
    Case("prod", lambda v, w: jnp.prod(v, axis=0) + jnp.prod(v[:2, :2])),
    Case("any-all", lambda v, w: jnp.any(v > 0.5, axis=1) | jnp.all(v > -1.0)),
    Case("reductions-int", lambda v, w: jnp.mean(v) + jnp.max(v, axis=0) + jnp.min(v, axis=1) + jnp.sum(v),
         dtype=np.int32),
    Case("reductions-3d", lambda v, w: v.sum(axis=(0, 2)) + v.max(axis=(1, 2)).sum() + v.min(),
         kw=dict(kernel_size=(2, 3, 3), padding=("valid", "same", "same")), shape=(3, 4, 4)),
    # ---------------------------------------------------------------- cumulative
    Case("cumsum", lambda v, w: jnp.cumsum(v, axis=1) + lax.cumsum(v, axis=0, reverse=True)),
    Case("cumprod-cummax-cummin", lambda v, w: jnp.cumprod(v.ravel()[:4]).sum() + lax.cummax(v, axis=0)[2].sum()
         + lax.cummin(v, axis=1, reverse=True)[:, 0].sum()),
    # ---------------------------------------------------------------- dot_general
    Case("dot-ravel", lambda v, w: v.ravel() @ w.ravel()),
    Case("matmul-w-v", lambda v, w: w @ v),
    Case("einsum-batched", lambda v, w: jnp.einsum("ij,ij->i", v, w)),
    Case("einsum-3d", lambda v, w: jnp.einsum("bij,bjk->bik", v, w),
         kw=dict(kernel_size=(2, 3, 3), padding=("valid", "same", "same")), shape=(3, 4, 4)),
    Case("dot-int", lambda v, w: v.ravel() @ jnp.arange(9), dtype=np.int32),
    # ---------------------------------------------------------------- vmap fallback
    Case("sort", lambda v, w: jnp.sort(v.ravel())[4] * w[0, 0], fallback=None),
    Case("sort-dynamic-index", lambda v, w: jnp.sort(v.ravel())[jnp.argmax(v)] + jnp.sort(v.ravel())[jnp.int32(4)]
         + lax.dynamic_slice(jnp.sort(v, axis=0), (jnp.argmin(v[0]), 0), (1, 3)).sum() * w[0, 0]
         + lax.dynamic_update_slice(jnp.sort(v, axis=1), w[:1, :2], (jnp.argmax(v[1]), 1))[1, 2], fallback=None),
    Case("dot-bool", lambda v, w: ((v > 0).T @ (v > 0)).astype(jnp.float32) * w, fallback=None),
    Case("empty-slices", lambda v, w: v[:0].sum() + v[0, 0] * w[0, 0] + jnp.max(v[:, :0], initial=-1.0)
         + jnp.sort(v[:0].ravel()).sum(), fallback=None),
    Case("max-min-ties", lambda v, w: jnp.max(v) + jnp.min(v, axis=0) * w[0] + jnp.max(v[1:, :2]), ties=True),
    Case("argmax", lambda v, w: v.ravel()[jnp.argmax(v)] + jnp.argmin(v), fallback=None),
    Case("median", lambda v, w: jnp.median(v), fallback=None),
    Case("cond", lambda v, w: lax.cond(v[1, 1] > 0, lambda: jnp.sum(v * w), lambda: jnp.max(v)), fallback=None),
    Case("dynamic-index", lambda v, w: w[jnp.clip(2 * v[1, 1], -3, 2).astype(int)], fallback=None),
    Case("dynamic-index-1d", lambda v, w: w[v[0].astype(int)] * v[1], kw=dict(kernel_size=(3,), padding="same"),
         shape=(7,), fallback=None),
    Case("fori-loop", lambda v, w: lax.fori_loop(0, 3, lambda i, acc: acc * 0.5 + v[i, i] * w[i, 2 - i], 0.0),
         fallback=None),
    Case("scatter", lambda v, w: v.at[1].set(w[0]).sum(axis=0) + v.at[0, 0].add(1.0)[0], fallback=None),
    Case("argsort-top-k", lambda v, w: v.ravel()[jnp.argsort(v.ravel())[:2]] + lax.top_k(v.ravel() * w[0, 0], 2)[0],
         fallback=None),
    Case("while-loop-int", lambda v, w: lax.while_loop(lambda a: a < 10, lambda a: a * 2 + 1,
                                                       (jnp.abs(v[1, 1]) * 3).astype(int)), fallback=None),
    Case("dense-predicate", lambda v, w: jnp.where(jnp.sort(v.ravel())[4] > 0, v[0, 0], v[1, 1] * w[1, 1]),
         fallback=None),
    # ---------------------------------------------------------------- inlined calls
    Case("jit-inside", lambda v, w: jax.jit(lambda a, b: jnp.sum(a * b))(v, w) + jax.jit(jnp.max)(v)),
    Case("checkpoint", lambda v, w: jax.checkpoint(lambda a: jnp.sin(a).sum() * a[0, 0])(v)),
    # ---------------------------------------------------------------- custom derivatives
    Case("relu", lambda v, w: jnp.sum(jax.nn.relu(v) * w) + jax.nn.relu(v[1, 1]), zeros=True),
    Case("softplus", lambda v, w: jnp.sum(jax.nn.softplus(v)) + jax.nn.softplus(v[0, 0]) * w[1, 1]),
    Case("logaddexp-uniform", lambda v, w: jnp.sum(jnp.logaddexp(v, w)) + jnp.logaddexp(v[0, 0], v[2, 2])),
    Case("custom-jvp", lambda v, w: jnp.sum(odd_square(v) * w) + odd_square(v[1, 1])),
    Case("custom-vjp", lambda v, w: jnp.sum(half_grad(v) * w) + half_grad(v[0, 2])),
    Case("custom-vjp-uniform", lambda v, w: jnp.sum(weighted(v, w)) + weighted(v[1, 1], w[0, 0])),
    # an integer input has no tangent to wrap: the vmap fallback, still with the custom rule
    Case("custom-jvp-int-input", lambda v, w: jnp.sum(times_count(v * w, (v > 0).astype(jnp.int32))),
         fallback=frozenset({"custom_jvp_call", "reduce_sum"})),
]
CASE_IDS = [c.name for c in CASES]
assert len(set(CASE_IDS)) == len(CASE_IDS)


# ----------------------------------------------------------------------------- harness


def kernel_shape(case: Case) -> tuple:
    return tuple(case.kw["kernel_size"])


def inputs(case: Case, seed: int = 0):
    x = random_array(seed, case.shape, case.dtype)
    if case.zeros:
        x.reshape(-1)[::2] = 0
    if case.ties:
        x = np.round(x)
    w = jnp.asarray(random_array(seed + 100, kernel_shape(case), np.float32))
    return x, w


def _is_float(dtype) -> bool:
    return jnp.issubdtype(dtype, jnp.inexact)


def vjp_runner(apply, case: Case):
    """A jitted ``(x, w, ct) -> (out, grads)``; grads w.r.t. the float arguments only."""
    argnums = (0, 1) if _is_float(case.dtype) else (1,)

    def run(x, w, ct):
        args = [x, w]

        def partial(*diff):
            full = list(args)
            for i, a in zip(argnums, diff):
                full[i] = a
            return apply(*full)

        out, vjp = jax.vjp(partial, *(args[i] for i in argnums))
        return out, vjp(ct.astype(out.dtype))

    return jax.jit(run)


_REFERENCE_CACHE: dict = {}


def reference(case: Case):
    """``(x, w, x2, ct, expected, expected_batch, expected_grads)`` for a case, computed once per session.

    ``expected`` comes from the loop reference; the batch (``x`` and ``x2``) and the
    gradients from the vectorised reference, which is checked against the loop first.
    """
    if case.name not in _REFERENCE_CACHE:
        x, w = inputs(case)
        x2, _ = inputs(case, seed=7)
        expected = kmap_reference(x, case.f, args=(w,), **case.kw)
        reference_fn = kmap_reference_vectorized if case.vectorized else functools.partial(kmap_reference, xp=jnp)
        apply = lambda x, w: reference_fn(x, case.f, args=(w,), **case.kw)  # noqa: E731
        expected_batch = jax.jit(jax.vmap(apply, in_axes=(0, None)))(np.stack([x, x2]), w)
        assert_close(expected_batch[0], expected)
        ct = random_array(3, expected.shape, np.float32)
        grads = vjp_runner(apply, case)(x, w, ct)[1] if _is_float(expected.dtype) else None
        _REFERENCE_CACHE[case.name] = (x, w, x2, ct, expected, expected_batch, grads)
    return _REFERENCE_CACHE[case.name]


def assert_close(got, expected):
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
    if _is_float(expected.dtype):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    else:
        np.testing.assert_array_equal(got, expected)


@pytest.fixture(params=["default-limit", pytest.param("limit-2", marks=pytest.mark.long)])
def unroll_limit(request, monkeypatch):
    """Run with the default UNROLL_LIMIT, and with 2 so that every large-window path is taken
    (``make test-long``; the large-window paths also have their own tests in ``test_large_windows.py``)."""
    if request.param == "limit-2":
        monkeypatch.setattr(config, "UNROLL_LIMIT", 2)
    return config.UNROLL_LIMIT


# ----------------------------------------------------------------------------- the matrix


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_values_and_gradients(case, unroll_limit, fallback_log):
    """Values under jit(vmap) with a concrete ``w``, values and VJPs under jit with a traced ``w``."""
    x, w, x2, ct, expected, expected_batch, expected_grads = reference(case)
    apply = kernex.kmap(**case.kw)(case.f)

    # w closed over: a concrete uniform (static fast paths, e.g. separable weights); vmap over the input
    batched = jax.jit(jax.vmap(lambda x: apply(x, w)))(np.stack([x, x2]))
    if case.fallback is not None and unroll_limit == DEFAULT_LIMIT:
        assert set(fallback_log) <= case.fallback, f"unexpected vmap fallback for {sorted(set(fallback_log))}"
    assert_close(batched, expected_batch)

    out, grads = vjp_runner(apply, case)(x, w, ct)  # w an argument: a tracer
    assert_close(out, expected)
    # large-window max/min (box passes, reduce_window) split a tie's gradient per pass, not equally (docs/lowering.md)
    if expected_grads is not None and not (case.ties and unroll_limit != DEFAULT_LIMIT):
        for g, e in zip(grads, expected_grads):
            assert_close(g, e)


@pytest.mark.parametrize("limit", [DEFAULT_LIMIT, 2])
def test_eager_values(monkeypatch, limit):
    """Without any transformation (concrete input and weights) on a few families."""
    monkeypatch.setattr(config, "UNROLL_LIMIT", limit)
    for name in ["unary-weighted", "gather-fill", "max-min-axes", "convert-int-to-float"]:
        case = CASES[CASE_IDS.index(name)]
        x, w, _, _, expected, _, _ = reference(case)
        assert_close(kernex.kmap(**case.kw)(case.f)(x, w), expected)


# ----------------------------------------------------------------------------- custom rules at a kink


@pytest.mark.parametrize("relative", [False, True])
def test_relu_gradient_at_zero_uses_the_custom_rule(unroll_limit, relative):
    """d/dx relu at exactly 0 is the custom rule's value (``jax.grad(jax.nn.relu)(0.)``), per window.

    A lowering that differentiated ``max(x, 0)`` instead would give 0.5 at ties.
    """
    x = jnp.array([0.0, 1.0, 0.0, -1.0, 0.0, 2.0])
    centre = 0 if relative else 1
    f = kernex.kmap(kernel_size=(3,), padding="same", relative=relative)(
        lambda v: jax.nn.relu(v[centre]) + jnp.sum(jax.nn.relu(v))
    )
    grad = jax.grad(lambda x: f(x).sum())(x)
    # each cell is the anchor of one window and a member of 3 windows ('same', k=3, no edge loss for
    # the sum at interior cells; edge cells are in 2 windows): grad = relu'(x) * (1 + windows containing x)
    member = np.array([2, 3, 3, 3, 3, 2])
    at_zero = float(jax.grad(jax.nn.relu)(0.0))
    slope = np.where(np.asarray(x) > 0, 1.0, np.where(np.asarray(x) < 0, 0.0, at_zero))
    np.testing.assert_allclose(np.asarray(grad), slope * (1 + member))
    np.testing.assert_allclose(np.asarray(jax.jit(jax.grad(lambda x: f(x).sum()))(x)), slope * (1 + member))


# ----------------------------------------------------------------------------- cells no window reads


@pytest.mark.parametrize(
    "kw, x",
    [
        (dict(kernel_size=(3,), padding=((-1, -1),)), [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 0.0]),  # cropped cells
        (dict(kernel_size=(3,), strides=2), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 0.0]),  # last cell after the windows
        (dict(kernel_size=(3, 3), strides=2), np.pad(np.arange(1.0, 26.0).reshape(5, 5), ((0, 1), (0, 1)))),
    ],
    ids=["negative-padding", "strided-valid", "strided-valid-2d"],
)
@pytest.mark.parametrize("name", ["sqrt", "log", "reciprocal"])
def test_gradient_is_zero_on_cells_no_window_reads(kw, x, name):
    """Input cells outside every window get a zero gradient, even where the window function's derivative
    is infinite (sqrt, log, 1/x at 0): an elementwise op evaluated on the whole input must not leak
    ``0 * inf = nan`` into them."""
    g = {"sqrt": jnp.sqrt, "log": jnp.log, "reciprocal": lambda t: 1.0 / t}[name]
    f = lambda v: jnp.sum(g(v))  # noqa: E731
    x = jnp.asarray(x, jnp.float32)
    got = jax.grad(lambda x: kernex.kmap(**kw)(f)(x).sum())(x)
    expected = jax.grad(lambda x: kmap_reference_vectorized(x, f, **kw).sum())(x)
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-6)

