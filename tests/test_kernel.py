"""The kernel front end (``kernex._src.kernel``): a pytree of fields as the windowed argument and pytree
outputs, against a brute-force reference built field by field (values and gradients), and its errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import kernex
from kernex import kmap, kscan
from reference import by_index, geometries, kmap_reference, property_settings, random_array, resolve

SEEDS = st.integers(0, 2**31 - 1)


def fields_reference(fields, fn, *, xp=np, **kw):
    """kmap over a pytree of fields by brute force: each field's windows from the one-array reference
    (identity window function), then ``fn`` on the same structure of windows at every position."""
    leaves, tree = jax.tree_util.tree_flatten(fields)
    windows = [kmap_reference(leaf, lambda w: w, xp=xp, **kw) for leaf in leaves]  # out_shape + kernel
    out_shape = windows[0].shape[: leaves[0].ndim]
    flat = [jnp.asarray(w).reshape((-1,) + w.shape[len(out_shape):]) for w in windows]
    out = jax.vmap(lambda *ws: fn(tree.unflatten(list(ws))))(*flat)
    return jax.tree_util.tree_map(lambda o: o.reshape(out_shape + o.shape[1:]), out)


def _structure(draw, leaves):
    kind = draw(st.sampled_from(["dict", "tuple", "list"]))
    if kind == "dict":
        return {f"f{i}": leaf for i, leaf in enumerate(leaves)}
    return tuple(leaves) if kind == "tuple" else list(leaves)


def _function(kernel, relative, n_fields, pytree_out):
    """Couples every field: a weighted sum of one, the anchor of another times a third's max."""
    centre = (0,) * len(kernel) if relative else tuple((k - 1) // 2 for k in kernel)

    def f(w):
        ws = jax.tree_util.tree_leaves(w)
        a, b, c = ws[0], ws[-1], ws[len(ws) // 2]
        value = jnp.sum(a * jnp.arange(a.size, dtype=a.dtype).reshape(a.shape)) + jnp.sin(b[centre]) * jnp.max(c)
        return (value, jnp.stack([a[centre], b.mean()])) if pytree_out else value

    return f


@given(case=geometries(max_rank=2, max_pad=2), relative=st.booleans(), n_fields=st.integers(1, 3),
       pytree_out=st.booleans(), seed=SEEDS, data=st.data())
@property_settings(60)
def test_property_fields_match_reference(case, relative, n_fields, pytree_out, seed, data):
    leaves = [random_array(seed + i, case["shape"], np.float32) for i in range(n_fields)]
    fields = _structure(data.draw, leaves)
    kernel = resolve(case["shape"], case["kernel_size"], case["strides"], case["padding"])[0]
    kw = dict(kernel_size=case["kernel_size"], strides=case["strides"], padding=case["padding"], relative=relative)
    f = _function(kernel, relative, n_fields, pytree_out)
    got = kmap(**kw)(f)(fields)
    expected = fields_reference(fields, f, **kw)
    assert jax.tree_util.tree_structure(got) == jax.tree_util.tree_structure(expected)
    for g, e in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(expected)):
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=1e-5, atol=1e-5)


@given(case=geometries(max_rank=2, max_pad=2), relative=st.booleans(), n_fields=st.integers(2, 3), seed=SEEDS,
       data=st.data())
@property_settings(30)
def test_property_field_gradients_match_reference(case, relative, n_fields, seed, data):
    leaves = [random_array(seed + i, case["shape"], np.float32) for i in range(n_fields)]
    fields = _structure(data.draw, leaves)
    kernel = resolve(case["shape"], case["kernel_size"], case["strides"], case["padding"])[0]
    kw = dict(kernel_size=case["kernel_size"], strides=case["strides"], padding=case["padding"], relative=relative)
    f = _function(kernel, relative, n_fields, pytree_out=True)

    def loss(apply):
        return jax.jit(jax.grad(lambda fs: sum(0.5 * jnp.sum(o ** 2) for o in jax.tree_util.tree_leaves(apply(fs)))))

    got = loss(lambda fs: kmap(**kw)(f)(fs))(fields)
    expected = loss(lambda fs: fields_reference(fs, f, xp=jnp, **kw))(fields)
    for g, e in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(expected)):
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=1e-4, atol=1e-4)


def test_burgers_step_reads_each_field_on_its_own_slices():
    """Two coupled fields, relative indexing: no stacking (no concatenate), each field padded once."""
    nu, dt, dx = 0.01, 1e-3, 0.1

    @kernex.kmap(kernel_size=3, padding="same", relative=True, boundary="wrap")
    def step(w):
        u, v = w["u"], w["v"]
        lap = lambda q: q[1, 0] + q[-1, 0] + q[0, 1] + q[0, -1] - 4 * q[0, 0]  # noqa: E731
        du = -u[0, 0] * (u[0, 0] - u[0, -1]) / dx - v[0, 0] * (u[0, 0] - u[-1, 0]) / dx + nu * lap(u) / dx**2
        dv = -u[0, 0] * (v[0, 0] - v[0, -1]) / dx - v[0, 0] * (v[0, 0] - v[-1, 0]) / dx + nu * lap(v) / dx**2
        return {"u": u[0, 0] + dt * du, "v": v[0, 0] + dt * dv}

    rng = np.random.default_rng(0)
    u, v = (jnp.asarray(rng.standard_normal((6, 7)), jnp.float32) for _ in range(2))
    out = step({"u": u, "v": v})
    r = lambda q, s, a: jnp.roll(q, s, a)  # noqa: E731  q[i+s] along a is roll by -s
    lap = lambda q: r(q, -1, 0) + r(q, 1, 0) + r(q, -1, 1) + r(q, 1, 1) - 4 * q  # noqa: E731
    du = -u * (u - r(u, 1, 1)) / dx - v * (u - r(u, 1, 0)) / dx + nu * lap(u) / dx**2
    dv = -u * (v - r(v, 1, 1)) / dx - v * (v - r(v, 1, 0)) / dx + nu * lap(v) / dx**2
    np.testing.assert_allclose(out["u"], u + dt * du, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["v"], v + dt * dv, rtol=1e-5, atol=1e-6)
    names = {e.primitive.name for e in jax.make_jaxpr(step)({"u": u, "v": v}).jaxpr.eqns}
    assert "concatenate" not in names and "gather" not in names


def test_by_index_with_fields_and_named_axes():
    u, v = jnp.arange(20.0).reshape(4, 5), jnp.full((4, 5), 2.0)
    F = by_index(kmap, [(..., lambda w: (0.0, 0.0)), ((slice(1, -1), slice(1, -1)),
                 lambda w: (w[0]["i", "j+1"] * 2, w[1]["i", "j"] + w[0]["i-1", "j-1"]))],
                 kernel_size=3, padding="same", named_axis={0: "i", 1: "j"})
    a, b = F((u, v))
    ua, ub = np.zeros((4, 5)), np.zeros((4, 5))
    un = np.asarray(u)
    ua[1:-1, 1:-1] = un[1:-1, 2:] * 2
    ub[1:-1, 1:-1] = 2.0 + un[:-2, :-2]
    np.testing.assert_array_equal(a, ua)
    np.testing.assert_array_equal(b, ub)


def test_fields_keep_their_dtypes_and_a_treeclass_works_as_fields():
    @kernex.treeclass
    class State:
        p: jax.Array
        n: jax.Array

    s = State(jnp.arange(5.0), jnp.arange(5))
    out = kmap(kernel_size=3, padding="same")(lambda w: (w.p.sum(), w.n.max()))(s)
    assert out[0].dtype == jnp.float32 and out[1].dtype == jnp.int32
    assert out[0].tolist() == [1.0, 3.0, 6.0, 9.0, 7.0] and out[1].tolist() == [1, 2, 3, 4, 4]


def test_fields_of_different_shapes_name_both():
    with pytest.raises(ValueError, match=r"field \['a'\] has shape \(4, 5\) but field \['b'\] has shape \(3,\)"):
        kmap(kernel_size=3)(jnp.sum)({"a": jnp.ones((4, 5)), "b": jnp.ones(3)})


@pytest.mark.parametrize("bad", [{"a": jnp.ones(3), "b": 1.0}, {}, "abc"], ids=["scalar-leaf", "empty", "str"])
def test_non_fields_are_refused(bad):
    with pytest.raises(TypeError, match="pytree of equally shaped arrays"):
        kmap(kernel_size=1)(lambda w: w)(bad)


def test_by_index_functions_must_return_the_same_structure():
    F = by_index(kmap, [(0, lambda w: w[0]), (1, lambda w: (w[0], w[0]))], kernel_size=1)
    with pytest.raises(ValueError, match="must return the same structure"):
        F(jnp.ones(3))


def test_kscan_fields_take_one_scalar_per_field():
    def total(w):
        return jnp.sum(w[0]) + jnp.sum(w[1])

    with pytest.raises(ValueError, match=r"kscan updates the fields PyTreeDef\(\(\*, \*\)\) together.*'total' returned"):
        kscan(kernel_size=3)(total)((jnp.ones(5), jnp.ones(5)))
    with pytest.raises(ValueError, match="must have the same shape"):
        kscan(kernel_size=3)(lambda w: w)((jnp.ones(5), jnp.ones(4)))
