"""Brute-force references for ``kmap`` / ``kscan``, written from docs/semantics.md only.

Nothing here imports kernex. Every output position is visited in a Python
loop; the window is built cell by cell from the definition of 'Windows'
(coordinate ``c = o*s - lo + j``, value ``x[c]`` inside the array and ``0``
outside), rolled by ``-c_k`` for ``relative=True``, wrapped in a small
named-axis view when asked ('What the function receives'), and handed to the
user's function.

Two flavours share the code:

* ``xp=np`` (default): windows are NumPy arrays (converted to ``jnp`` only to
  call the user's function) and kscan's state is a NumPy array updated in
  place - the literal model of 'kscan'.
* ``xp=jnp``: the same loop with ``jnp`` gathers and functional updates, so
  ``jax.grad`` of the reference works (small sizes only).

The module also holds the hypothesis strategies and window-function pools
shared by the property tests of ``test_kmap.py``/``test_kscan.py``.
"""

from __future__ import annotations

import math
import os
from typing import Any, Sequence

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st


def mat(*shape):
    """The test input ``jnp.arange(1, prod(shape) + 1).reshape(shape)`` (int32)."""
    return jnp.arange(1, math.prod(shape) + 1).reshape(shape)


#: ``make test`` runs the property tests at this fraction of their example counts (at least
#: :data:`MIN_EXAMPLES` each); ``make test-long`` sets ``KERNEX_PROPERTY_SCALE=1`` (or more).
PROPERTY_SCALE = float(os.environ.get("KERNEX_PROPERTY_SCALE", "0.15"))
MIN_EXAMPLES = 4


def property_settings(max_examples: int):
    """Reproducible hypothesis settings for the (slow, JAX-compiling) property tests.

    ``max_examples`` is the full count, run by ``make test-long``; the quick suite runs
    ``PROPERTY_SCALE`` of it.
    """
    return settings(
        max_examples=max(MIN_EXAMPLES, round(max_examples * PROPERTY_SCALE)),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


def case_table(argnames: str, cases):
    """``pytest.mark.parametrize`` over ``(id, *values)`` rows."""
    return pytest.mark.parametrize(argnames, [case[1:] for case in cases], ids=[case[0] for case in cases])


def check(got, expected, dtype=None, exact=True, **tol):
    """Compare a kernex result with an expected value (shape, values, optionally dtype)."""
    expected = np.asarray(expected)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    if dtype is not None:
        assert got.dtype == np.dtype(dtype), got.dtype
    if exact:
        np.testing.assert_array_equal(np.asarray(got), expected)
    else:
        np.testing.assert_allclose(np.asarray(got), expected, **({"rtol": 1e-6} | tol))


def by_index(kernel, assignments, **kw):
    """A kernel object ``kernel(**kw)`` with ``F[idx] = f`` applied in order."""
    F = kernel(**kw)
    for index, fn in assignments:
        F[index] = fn
    return F


# ---------------------------------------------------------------------------
# Argument resolution (docs/semantics.md, 'Arguments' and 'Windows')


def _per_axis(value: Any, ndim: int) -> list:
    if isinstance(value, (int, str)):
        return [value] * ndim
    value = list(value)
    assert len(value) == ndim, (value, ndim)
    return value


def resolve(shape: Sequence[int], kernel_size: Any = 1, strides: Any = 1, padding: Any = 0, dilation: Any = 1):
    """Return ``(kernel, strides, pads, out_shape)`` as per-axis tuples (valid arguments only).

    With ``dilation`` ``d`` a window spans ``(k - 1) * d + 1`` cells and 'same' pads
    ``((k-1)//2 * d, (k-1)*d - (k-1)//2 * d)`` (docs/semantics.md, 'Dilation')."""
    ndim = len(shape)
    kernel = tuple(n if k == -1 else k for k, n in zip(_per_axis(kernel_size, ndim), shape))
    assert all(1 <= k <= n for k, n in zip(kernel, shape)), (kernel, shape)
    strides = tuple(_per_axis(strides, ndim))
    dilation = tuple(_per_axis(dilation, ndim))
    spans = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilation))
    pads = []
    for entry, k, d in zip(_per_axis(padding, ndim), kernel, dilation):
        if isinstance(entry, str):
            pads.append(((k - 1) // 2 * d, (k - 1) * d - (k - 1) // 2 * d) if entry.lower() == "same" else (0, 0))
        elif isinstance(entry, int):
            pads.append((entry, entry))
        else:
            lo, hi = entry
            pads.append((lo, hi))
    out_shape = tuple((n + lo + hi - w) // s + 1 for n, w, s, (lo, hi) in zip(shape, spans, strides, pads))
    assert all(o >= 1 for o in out_shape), out_shape
    return kernel, strides, tuple(pads), out_shape


def _positions(shape, kernel, strides, pads, out_shape, dilation=None):
    """Yield ``(output index, per-axis window coordinates, anchor)`` in row-major order.

    Window cell ``j`` of window ``o`` is at coordinate ``o*s - lo + j*d``."""
    dilation = dilation or (1,) * len(shape)
    for o in np.ndindex(*out_shape):
        coords = [np.arange(k) * d + oi * s - lo for oi, k, s, d, (lo, _) in zip(o, kernel, strides, dilation, pads)]
        anchor = tuple(int(c[(k - 1) // 2]) for c, k in zip(coords, kernel))
        yield o, coords, anchor


def _sides(value, ndim, is_leaf):
    """``boundary``/``fill_value`` as one ``(lo, hi)`` pair per axis (valid arguments only)."""
    if is_leaf(value):
        return [(value, value)] * ndim
    assert len(value) == ndim, (value, ndim)
    return [(e, e) if is_leaf(e) else tuple(e) for e in value]


def _image(c: int, n: int, mode: str):
    """Input cell that coordinate ``c`` of an axis of length ``n`` reads (None: the fill value).

    Written from the modes' definitions, one coordinate at a time (docs/boundaries.md)."""
    if 0 <= c < n:
        return c
    if mode == "constant":
        return None
    if mode == "edge":
        return 0 if c < 0 else n - 1
    if mode == "wrap":
        return c % n
    if mode == "symmetric":  # mirror repeating the edge: ... 1 0 | 0 1 2 | 2 1 ...
        t = c % (2 * n)
        return t if t < n else 2 * n - 1 - t
    assert mode == "reflect", mode  # mirror without the edge: ... 2 1 | 0 1 2 | 1 0 ...
    if n == 1:
        return 0
    t = c % (2 * n - 2)
    return t if t < n else 2 * n - 2 - t


def _window(x, coords, xp, boundary="constant", fill_value=0):
    """Cells ``coords`` of ``x`` (a Cartesian product); outside the array, what ``boundary`` says:
    an image cell, or ``fill_value`` where any axis reads a constant side (the later axis's fill
    where several do)."""
    modes = _sides(boundary, x.ndim, lambda v: isinstance(v, str))
    fills = _sides(fill_value, x.ndim, lambda v: np.ndim(v) == 0 and not isinstance(v, (tuple, list)))
    index, fill_at = [], []
    for c, n, (lo_mode, hi_mode) in zip(coords, x.shape, modes):
        images = [_image(int(ci), n, lo_mode if ci < 0 else hi_mode) for ci in c]
        index.append(np.array([0 if i is None else i for i in images], dtype=np.int64))
        fill_at.append([None if i is not None else int(ci >= n) for i, ci in zip(images, c)])
    window = x[np.ix_(*index)]
    for axis, (sides, pair) in enumerate(zip(fill_at, fills)):
        for j, side in enumerate(sides):
            if side is not None:
                sel = (slice(None),) * axis + (j,)
                value = xp.asarray(pair[side], dtype=x.dtype)
                window = window.at[sel].set(value) if xp is jnp else _set(window, sel, value)
    return window


def _set(window, sel, value):
    window = np.array(window)
    window[sel] = value
    return window


# ---------------------------------------------------------------------------
# Named axes: labels are always anchor-relative, whatever ``relative`` says


class NamedView:
    """Minimal reference mapping from labels to cells of an anchor-rolled patch."""

    def __init__(self, rolled, names: dict):
        self.rolled, self.names = rolled, names
        self.kernel = rolled.shape
        self.labels = {}
        for axis, name in names.items():
            k = self.kernel[axis]
            for t in range(-((k - 1) // 2), k - (k - 1) // 2):
                label = name if t == 0 else f"{name}{'+' if t > 0 else '-'}{abs(t)}"
                self.labels[label] = (axis, t)

    def __getitem__(self, key):
        parts = key if isinstance(key, tuple) else (key,)
        ndim = len(self.kernel)
        if len(parts) != ndim:
            raise KeyError(key)
        offsets = [None] * ndim
        all_named = len(self.names) == ndim
        for position, part in enumerate(parts):
            if isinstance(part, str):
                if part not in self.labels:
                    raise KeyError(key)
                axis, t = self.labels[part]
                if not all_named and axis != position:
                    raise KeyError(key)
            else:
                axis, t = position, part
                k = self.kernel[axis]
                if all_named or axis in self.names or not -((k - 1) // 2) <= t <= k - 1 - (k - 1) // 2:
                    raise KeyError(key)
            if offsets[axis] is not None:
                raise KeyError(key)
            offsets[axis] = t
        return self.rolled[tuple(offsets)]  # negative offsets index the rolled patch cyclically


def _view(window, kernel, relative, named_axis, xp):
    rolled = xp.roll(window, [-((k - 1) // 2) for k in kernel], axis=tuple(range(len(kernel))))
    if named_axis is not None:
        return NamedView(jnp.asarray(rolled), named_axis)
    return jnp.asarray(rolled if relative else window)


# ---------------------------------------------------------------------------
# Functions by index (docs/semantics.md, 'Functions by index')


def _owners(fns, shape):
    """A ``pick(anchor)`` returning the function applied at an anchor (None = no function)."""
    if callable(fns):  # decorator form: one function everywhere
        return lambda anchor: fns
    selections = []
    for index, fn in fns:
        selected = np.zeros(shape, dtype=bool)
        selected[index] = True  # NumPy basic indexing = Python semantics on the input shape
        selections.append((selected, fn))

    def pick(anchor):
        if not all(0 <= a < n for a, n in zip(anchor, shape)):
            return None  # anchors in the padding region are never matched
        for selected, fn in reversed(selections):  # latest assignment wins
            if selected[anchor]:
                return fn
        return None

    return pick


def _all_functions(fns):
    return [fns] if callable(fns) else [fn for _, fn in fns]


def _prepare(x, fns, xp, kernel_size=1, strides=1, padding=0, relative=False, named_axis=None, dilation=1):
    """Resolve the kernel arguments of ``kmap``/``kscan`` (same names and defaults) for ``x``."""
    x = xp.asarray(x)
    kernel, strides, pads, out_shape = resolve(x.shape, kernel_size, strides, padding, dilation)
    positions = list(_positions(x.shape, kernel, strides, pads, out_shape, tuple(_per_axis(dilation, x.ndim))))

    def view(window):
        return _view(window, kernel, relative, named_axis, xp)

    return x, pads, out_shape, positions, _owners(fns, x.shape), view


def kmap_reference(x, fns, *, args=(), kwargs=None, xp=np, **kernel_args):
    """``kmap(**kernel_args)`` by brute force.

    ``fns`` is either a function (decorator form) or a list of ``(index, f)``
    assignments in order (function by index: latest wins, zeros where none
    applies). With ``xp=jnp`` the result is differentiable.
    """
    kwargs = kwargs or {}
    boundary = kernel_args.pop("boundary", "constant")
    fill_value = kernel_args.pop("fill_value", 0)
    x, _, out_shape, positions, pick, view = _prepare(x, fns, xp, **kernel_args)

    def call(fn, coords):
        return jnp.asarray(fn(view(_window(x, coords, xp, boundary, fill_value)), *args, **kwargs))

    # common output shape / promoted dtype of every registered function, from any window
    probes = [call(fn, positions[0][1]) for fn in _all_functions(fns)]
    assert len({p.shape for p in probes}) == 1, [p.shape for p in probes]
    out_item_shape, dtype = probes[0].shape, jnp.result_type(*probes)

    values = []
    for _, coords, anchor in positions:
        fn = pick(anchor)
        value = jnp.zeros(out_item_shape, dtype) if fn is None else call(fn, coords).astype(dtype)
        values.append(value if xp is jnp else np.asarray(value))
    return xp.stack(values).reshape(out_shape + out_item_shape)


def kmap_reference_vectorized(x, fn, *, args=(), kwargs=None, **kernel_args):
    """:func:`kmap_reference` for one function (decorator form), vectorised.

    The same windows (same coordinates, zeros outside, relative roll) are
    gathered at once with NumPy index arrays and ``fn`` is ``jax.vmap``-ed over
    them: differentiable and traced once, so ``jax.jit``/``jax.vjp`` of it stay
    cheap. Tests that use it cross-check it against the loop of
    :func:`kmap_reference`.
    """
    assert callable(fn), "the vectorised reference takes one function (decorator form)"
    kwargs = kwargs or {}
    x, _, out_shape, positions, _, view = _prepare(x, fn, jnp, **kernel_args)
    index, inside = [], np.ones((), dtype=bool)
    for axis, n in enumerate(x.shape):
        coords = np.stack([c[axis] for _, c, _ in positions])  # (windows, k_axis)
        shape = [len(positions)] + [1] * x.ndim
        shape[1 + axis] = coords.shape[1]
        coords = coords.reshape(shape)
        inside = inside & (coords >= 0) & (coords < n)
        index.append(np.clip(coords, 0, n - 1))
    windows = jnp.where(inside, x[tuple(index)], jnp.zeros((), x.dtype))
    out = jax.vmap(lambda window: jnp.asarray(fn(view(window), *args, **kwargs)))(windows)
    return out.reshape(out_shape + out.shape[1:])


def _stored(c: int, n: int, lo_width: int, modes) -> int:
    """Where kscan stores state coordinate ``c`` of an axis (input coordinates, the input at
    ``lo_width ..``): a constant side's cells are stored; an index-mapping side reads its image."""
    mode = modes[0] if c < 0 else modes[1]
    if 0 <= c < n or mode == "constant":
        return c + lo_width
    return _image(c, n, mode) + lo_width


def kscan_reference(x, fns, *, args=(), kwargs=None, xp=np, boundary="constant", fill_value=0, **kernel_args):
    """``kscan(**kernel_args)`` by the literal sequential model of docs/semantics.md, 'kscan'.

    State = input extended by ``(max(lo,0), max(hi,0))`` on its ``'constant'`` sides
    (``fill_value``, axis by axis); positions in row-major order; read the window
    from the current state (a cell beyond an index-mapping side is its image cell,
    read now), call the function, cast to the input dtype, write into the anchor
    cell, record. No function at an anchor: the cell keeps (and records) its value.
    ``fns`` as for :func:`kmap_reference`. ``x`` may be a pytree of equally shaped
    fields: the functions get the same structure of windows and return one scalar
    per field, written into that field's anchor.
    """
    kwargs = kwargs or {}
    leaves, tree = jax.tree_util.tree_flatten(x)
    leaves = [xp.asarray(leaf) for leaf in leaves]
    _, pads, out_shape, positions, pick, view = _prepare(leaves[0], fns, xp, **kernel_args)
    ndim = leaves[0].ndim
    modes = _sides(boundary, ndim, lambda v: isinstance(v, str))
    fills = _sides(fill_value, ndim, lambda v: np.ndim(v) == 0 and not isinstance(v, (tuple, list)))
    stored = [
        tuple(max(w, 0) if m == "constant" else 0 for w, m in zip(pair, side)) for pair, side in zip(pads, modes)
    ]
    states = []
    for state in leaves:
        for axis, ((lo, hi), (flo, fhi)) in enumerate(zip(stored, fills)):
            for width, side, fill in ((lo, 0, flo), (hi, 1, fhi)):
                widths = [(0, 0)] * ndim
                widths[axis] = (width, 0) if side == 0 else (0, width)
                state = xp.pad(state, widths, constant_values=xp.asarray(fill, state.dtype))
        states.append(state.copy() if xp is np else state)
    values = []
    for _, coords, anchor in positions:
        cells = [
            np.array([_stored(int(c), n, e, m) for c in axis_coords])
            for axis_coords, n, (e, _), m in zip(coords, leaves[0].shape, stored, modes)
        ]
        for a, n, m in zip(anchor, leaves[0].shape, modes):
            assert 0 <= a < n or m[int(a >= n)] == "constant", "anchor beyond an index-mapping side"
        where = tuple(a + e for a, (e, _) in zip(anchor, stored))
        fn = pick(anchor)
        if fn is None:
            values.append([state[where] for state in states])
            continue
        windows = tree.unflatten([view(state[np.ix_(*cells)]) for state in states])
        outs = jax.tree_util.tree_leaves(fn(windows, *args, **kwargs))
        assert len(outs) == len(states), "one scalar per field"
        row = []
        for i, (out, leaf) in enumerate(zip(outs, leaves)):
            out = jnp.asarray(out)
            assert out.shape == (), f"kscan functions must return scalars, got {out.shape}"
            value = out.astype(leaf.dtype)
            if xp is np:
                value = np.asarray(value)
                states[i][where] = value
            else:
                states[i] = states[i].at[where].set(value)
            row.append(value)
        values.append(row)
    results = [xp.stack([row[i] for row in values]).reshape(out_shape).astype(leaf.dtype) for i, leaf in enumerate(leaves)]
    return tree.unflatten(results)


def check_transformations(F, reference, x, arg, b):
    """``F(x, arg, b=b)`` (a kernel object) against ``reference(x, args=, kwargs=, xp=)``
    eagerly, under ``jax.jit(F)`` / ``jax.jit(F.__call__)``, through ``value_and_grad``
    w.r.t. the array, a positional and a keyword argument (eager and jitted), and
    under ``vmap`` over the array and over the argument."""
    expected = reference(x, args=(arg,), kwargs={"b": b})
    for fn in [F, jax.jit(F), jax.jit(F.__call__)]:
        check(fn(x, arg, b=b), expected, expected.dtype, exact=False, rtol=1e-6)

    loss = lambda x, a, b: jnp.sum(F(x, a, b=b) ** 2)  # noqa: E731
    ref_loss = lambda x, a, b: jnp.sum(reference(x, args=(a,), kwargs={"b": b}, xp=jnp) ** 2)  # noqa: E731
    value, grads = jax.value_and_grad(loss, argnums=(0, 1, 2))(x, arg, b)
    ref_value, ref_grads = jax.value_and_grad(ref_loss, argnums=(0, 1, 2))(x, arg, b)
    np.testing.assert_allclose(value, ref_value, rtol=1e-5)
    jit_grads = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))(x, arg, b)
    for g, jg, r in zip(grads, jit_grads, ref_grads):
        np.testing.assert_allclose(np.asarray(g), np.asarray(r), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(jg), np.asarray(r), rtol=1e-5, atol=1e-6)

    xs, args = jnp.stack([x, 2 * x, -x]), jnp.stack([arg, 2 * arg - 1])
    batched = jax.vmap(F, in_axes=(0, None))(xs, arg)
    for i in range(len(xs)):
        np.testing.assert_allclose(np.asarray(batched[i]), np.asarray(F(xs[i], arg)), rtol=1e-6)
    batched = jax.jit(jax.vmap(lambda a: F(x, a, b=b)))(args)
    for i in range(len(args)):
        np.testing.assert_allclose(np.asarray(batched[i]), np.asarray(F(x, args[i], b=b)), rtol=1e-6)


def seed_laplacian(x):
    """The seed's Laplacian window function (``relative=True``; zero-weight corners included)."""
    return (
        0 * x[1, -1] + 1 * x[1, 0] + 0 * x[1, 1]
        + 1 * x[0, -1] + -4 * x[0, 0] + 1 * x[0, 1]
        + 0 * x[-1, -1] + 1 * x[-1, 0] + 0 * x[-1, 1]
    )  # fmt: skip


def jaxpr_equations(jaxpr):
    """Every equation of a (closed) jaxpr and of the jaxprs nested in its equations (jit, scan, cond, ...)."""
    jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
    for eqn in jaxpr.eqns:
        yield eqn
        for value in eqn.params.values():
            for sub in value if isinstance(value, (tuple, list)) else (value,):
                if isinstance(sub, (jax.extend.core.Jaxpr, jax.extend.core.ClosedJaxpr)):
                    yield from jaxpr_equations(sub)


def primitive_names(fn, *args) -> set:
    """Names of the primitives in ``jax.make_jaxpr(fn)(*args)``, nested jaxprs included."""
    return {eqn.primitive.name for eqn in jaxpr_equations(jax.make_jaxpr(fn)(*args))}


def largest_intermediate(fn, *args) -> int:
    """Element count of the largest array produced by an equation of ``jax.make_jaxpr(fn)(*args)``."""
    jaxpr = jax.make_jaxpr(fn)(*args)
    return max((math.prod(getattr(v.aval, "shape", ())) for e in jaxpr_equations(jaxpr) for v in e.outvars), default=0)


# ---------------------------------------------------------------------------
# Hypothesis strategies shared by the property tests

MAX_LEN = {1: 7, 2: 5, 3: 3}  # per-axis length bound by rank (keeps compiles and loops small)
PAD_WORDS = ["same", "SAME", "Same", "valid", "VALID", "Valid"]


def _spell(draw, entries, scalar_ok):
    """An int/str when every axis agrees and the draw says so, else a tuple or list."""
    if scalar_ok and len(set(map(repr, entries))) == 1 and draw(st.booleans()):
        return entries[0]
    return draw(st.sampled_from([tuple, list]))(entries)


@st.composite
def geometries(draw, max_rank=3, max_stride=3, max_pad=3):
    """Random valid ``(shape, kernel_size, strides, padding)`` spelled in every accepted form.

    Kernel entries may be ``-1``; padding may be a word (any case), an int or a
    per-axis tuple/list of words, ints and ``(lo, hi)`` pairs, with negative
    (cropping) values; every axis has at least one window.
    """
    rank = draw(st.integers(1, max_rank))
    shape = tuple(draw(st.integers(1, MAX_LEN[rank])) for _ in range(rank))
    kernel = [draw(st.integers(1, n)) for n in shape]
    spelled_kernel = [draw(st.sampled_from([k, -1])) if k == n else k for k, n in zip(kernel, shape)]
    kernel_size = _spell(draw, spelled_kernel, scalar_ok=True)
    strides = _spell(draw, [draw(st.integers(1, max_stride)) for _ in shape], scalar_ok=True)
    # smallest symmetric pad (>= -2) keeping a window on every axis: n + 2p >= k
    p_min = [max(-2, -((n - k) // 2)) for n, k in zip(shape, kernel)]
    mode = draw(st.sampled_from(["word", "int", "axes"]))
    if mode == "word":
        padding = draw(st.sampled_from(PAD_WORDS))
    elif mode == "int":
        padding = draw(st.integers(max(p_min), max_pad))
    else:
        entries = []
        for n, k, pm in zip(shape, kernel, p_min):
            kind = draw(st.sampled_from(["word", "int", "pair"]))
            if kind == "word":
                entries.append(draw(st.sampled_from(PAD_WORDS)))
            elif kind == "int":
                entries.append(draw(st.integers(pm, max_pad)))
            else:
                lo = draw(st.integers(max(-2, k - n - max_pad), max_pad))
                hi = draw(st.integers(max(-2, k - n - lo), max_pad))
                entries.append(draw(st.sampled_from([tuple, list]))((lo, hi)))
        padding = draw(st.sampled_from([tuple, list]))(entries)
    return dict(shape=shape, kernel_size=kernel_size, strides=strides, padding=padding)


def _index_entry(n):
    bound = st.one_of(st.none(), st.integers(-n - 2, n + 2))
    step = st.one_of(st.none(), st.sampled_from([-3, -2, -1, 1, 2, 3]))
    return st.one_of(
        st.integers(-n, n - 1),
        st.builds(slice, bound, bound, step),
    )


@st.composite
def indices(draw, shape):
    """A random ``F[idx]`` key: int, slice (with steps, negative), Ellipsis, or a tuple of these.

    Entries before an Ellipsis address the leading axes, entries after it the
    trailing ones; without one, missing trailing axes mean "whole axis".
    """
    rank = len(shape)
    count = draw(st.integers(0, rank))
    if draw(st.booleans()):  # with an Ellipsis at position p
        p = draw(st.integers(0, count))
        axes = [*range(p), *range(rank - (count - p), rank)]
        entries = [draw(_index_entry(shape[a])) for a in axes]
        entries.insert(p, Ellipsis)
    else:
        entries = [draw(_index_entry(n)) for n in shape[:count]]
    if len(entries) == 1 and draw(st.booleans()):
        return entries[0]
    return tuple(entries)


@st.composite
def named_cases(draw, max_rank=3):
    """``(geometry case, named_axis, f)`` where ``f`` reads 1-3 random named keys.

    All-named keys list one label per axis in a random order (a bare label in
    1-D); partially named keys are tuples in axis order with integer offsets on
    unnamed axes.
    """
    case = draw(geometries(max_rank))
    kernel, _, _, _ = resolve(case["shape"], case["kernel_size"], case["strides"], case["padding"])
    rank = len(kernel)
    axes = sorted(draw(st.sets(st.integers(0, rank - 1), min_size=1)))
    names = dict(zip(axes, draw(st.permutations(["i", "j", "n"]))))
    keys = []
    for _ in range(draw(st.integers(1, 3))):
        offsets = [draw(st.integers(-((k - 1) // 2), k - 1 - (k - 1) // 2)) for k in kernel]
        parts = [(names[a] if t == 0 else f"{names[a]}{t:+d}") if a in names else t for a, t in enumerate(offsets)]
        if len(names) == rank:
            parts = draw(st.permutations(parts))
        keys.append(parts[0] if rank == 1 else tuple(parts))

    def f(u):
        return sum(10**i * u[key] for i, key in enumerate(keys))

    return case, names, f


def random_array(seed, shape, dtype):
    """Normal floats (no exact ties or zeros) or small ints."""
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    return rng.integers(-5, 6, size=shape).astype(dtype)


# ---------------------------------------------------------------------------
# Window-function pools


def cell_indices(kernel, relative):
    """Three cells of the window (first, anchor, last) spelled for absolute or relative indexing."""
    centre = tuple((k - 1) // 2 for k in kernel)
    if relative:
        return tuple(-c for c in centre), (0,) * len(kernel), tuple(k - 1 - c for k, c in zip(kernel, centre))
    return (0,) * len(kernel), centre, tuple(k - 1 for k in kernel)


def kmap_functions(kernel, relative):
    """Name -> window function of ``(v, w, b=...)``; ``w`` has the kernel's shape.

    Every function accepts the weight ``w`` and keyword ``b`` so any of them can
    be registered by index next to the others.
    """
    first, mid, last = cell_indices(kernel, relative)
    size = math.prod(kernel)
    return {
        "sum": lambda v, w, b=0.0: jnp.sum(v),
        "max": lambda v, w, b=0.0: jnp.max(v),
        "mean": lambda v, w, b=0.0: jnp.mean(v),
        "weighted": lambda v, w, b=0.0: jnp.sum(v * w) + b,
        "nonlinear": lambda v, w, b=0.0: jnp.sin(v).sum() * v.ravel()[0],
        "identity": lambda v, w, b=0.0: v,
        "cells": lambda v, w, b=0.0: 2 * v[first] - v[last] + v[mid] * b,
        "median": lambda v, w, b=0.0: jnp.sort(v.ravel())[size // 2],
        "mixed": lambda v, w, b=0.0: jnp.sort(v.ravel())[-1] * v[mid] - jnp.mean(v) * w[first],
        "vector": lambda v, w, b=0.0: jnp.stack([v.max(), v.min() * b, v[last] * w[mid]]),
        "const": lambda v, w, b=0.0: 7,
        "const_float": lambda v, w, b=0.0: 1.5,
    }


SCALAR_KMAP = ["sum", "max", "mean", "weighted", "nonlinear", "cells", "median", "mixed", "const", "const_float"]


def kscan_functions(kernel, relative, dtype):
    """Name -> scalar window function ``(v, w, b=...)`` that keeps values bounded for kscan.

    Float pools are contractive (the sequence of in-place updates must not blow
    up rounding differences); int pools use exact integer arithmetic.
    """
    first, mid, last = cell_indices(kernel, relative)
    size = math.prod(kernel)
    common = {
        "max": lambda v, w, b=0: jnp.max(v),
        "median": lambda v, w, b=0: jnp.sort(v.ravel())[size // 2],
        "const": lambda v, w, b=0: 3,
        "const_float": lambda v, w, b=0: 1.5,
    }
    if np.dtype(dtype).kind == "f":
        return common | {
            "mean": lambda v, w, b=0.0: jnp.mean(v),
            "half_max": lambda v, w, b=0.0: 0.5 * jnp.max(v),
            "weighted": lambda v, w, b=0.0: jnp.sum(v * w) / size + b,
            "nonlinear": lambda v, w, b=0.0: jnp.sin(v).mean() * v[mid],
            "cells": lambda v, w, b=0.0: 0.5 * v[first] - 0.25 * v[last] + 0.25 * v[mid] * w[mid],
            "mixed": lambda v, w, b=0.0: 0.5 * jnp.sort(v.ravel())[-1] - 0.25 * v[mid] + b,
        }
    return common | {
        "sum": lambda v, w, b=0: jnp.sum(v),
        "cells": lambda v, w, b=0: 2 * v[first] - v[last] + v[mid] + b,
        "mixed": lambda v, w, b=0: jnp.sort(v.ravel())[-1] - v[mid],
        "mean": lambda v, w, b=0: jnp.mean(v),
    }


def upwind_reference(nt, nx, tmax, xmax, c):
    """The seed's linear convection (upwind scheme) as a NumPy float64 double loop: rows are time."""
    dt, dx = tmax / (nt - 1), xmax / (nx - 1)
    u = np.ones([nt, nx])
    u[0, int((nx - 1) / 4) + 1 : int((nx - 1) / 2)] = 2
    for n in range(1, nt):
        for i in range(1, nx - 1):
            u[n, i] = u[n - 1, i] - c * dt / dx * (u[n - 1, i] - u[n - 1, i - 1])
    return u
