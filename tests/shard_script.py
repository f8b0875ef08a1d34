"""The sharded-kmap (and, via ``shard_kscan_cases.py``, sharded-kscan) checks, run by ``tests/test_shard.py`` in ONE subprocess with 4 forced CPU devices.

``python tests/shard_script.py [--long]`` (with
``XLA_FLAGS=--xla_force_host_platform_device_count=4``) prints one line
``RESULTS{json}``: per check, what it measured. Importing this module (pytest's
doctest collection does) runs nothing.

Every check compares the sharded kmap with an independent reference on a
16×16 input: the same kmap on the unsharded array (values and ``jax.grad`` of
``0.5 * sum(out**2)``), and, for the boundary modes, ``scipy.ndimage.correlate``
with the matching mode. It also reports the output's sharding (equal to the
input's) and the collectives of the compiled forward program (``all-gather``,
``all-reduce``, ``all-to-all``, ``collective-permute``).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

import kernex

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shard_kscan_cases  # noqa: E402

N = 16
W = np.arange(1.0, 10.0, dtype=np.float32).reshape(3, 3) / 10  # asymmetric: corners and sides matter
SCIPY_MODES = {"constant": "constant", "edge": "nearest", "reflect": "mirror", "symmetric": "reflect", "wrap": "wrap"}
COLLECTIVES = ("collective-permute", "all-gather", "all-reduce", "all-to-all")


def _input() -> np.ndarray:
    """Positive on row 0 (owned by the ``sqrt`` branches), zeros and negatives where they do not own a window."""
    x = (np.arange(N * N, dtype=np.float32).reshape(N, N) ** 0.5) / 4
    x[0] += 1.0
    x[5:9:2, 2] = 0.0
    x[11, 3:6] = -1.0
    return x


def _laplacian(**kw):
    return kernex.kmap(kernel_size=(3, 3), padding="same", relative=True, **kw)(
        lambda u: u[1, 0] + u[-1, 0] + u[0, 1] + u[0, -1] - 4 * u[0, 0]
    )


def _conv(**kw):
    conv = kernex.kmap(kernel_size=(3, 3), padding="same", **kw)(lambda p, w: jnp.sum(p * w))
    return lambda x: conv(x, jnp.asarray(W))  # a traced weight argument under jit


def _pool(**kw):
    return kernex.kmap(kernel_size=(2, 2), strides=2, **kw)(jnp.max)


def _pool3(**kw):
    return kernex.kmap(kernel_size=(3, 3), strides=2, padding="same", **kw)(jnp.max)


def _diffusion_by_index(**kw):
    F = kernex.kmap(kernel_size=(3, 3), padding="same", relative=True, **kw)
    F[...] = lambda u: 0.0
    F[1:-1, 1:-1] = lambda u: u[0, 0] + 0.1 * (u[1, 0] + u[-1, 0] + u[0, 1] + u[0, -1] - 4 * u[0, 0])
    return F


def _sqrt_by_index(**kw):  # sqrt's derivative is infinite at 0: rows >= 1 hold zeros it does not own
    F = kernex.kmap(kernel_size=(3, 3), padding="same", **kw)
    F[0] = lambda u: jnp.sqrt(u[1, 1])
    F[1:] = lambda u: u[1, 1] * 2
    return F


def _sqrt_box(**kw):  # after an everywhere constant, a box of positions; log(0) at a window it does not own
    F = kernex.kmap(kernel_size=(3, 3), padding="same", **kw)
    F[...] = lambda u: 1.0
    F[2:9, 3:] = lambda u: jnp.sqrt(jnp.abs(u[1, 1]) + 1.0) + jnp.log(u[0, 0] + 1.0)
    return F


def _strided_by_index(**kw):  # every other row: the same local region on every shard
    F = kernex.kmap(kernel_size=(1, 1), **kw)
    F[::2] = lambda u: jnp.sqrt(u[0, 0])
    F[1::2] = lambda u: u[0, 0] ** 2
    return F


def _fields(**kw):
    pair = kernex.kmap(kernel_size=(3, 3), padding="same", relative=True, **kw)(
        lambda w: (w["u"][0, 1] * w["v"][1, 0], w["u"][0, 0] - w["v"][-1, -1])
    )
    return lambda x: pair({"u": x, "v": x * 2 + 1})


def _dilated(**kw):
    return kernex.kmap(kernel_size=(3, 3), padding="same", dilation=(1, 2), **kw)(lambda p: jnp.sum(p * W))


def _boundary(mode, fill):
    return lambda **kw: kernex.kmap(kernel_size=(3, 3), padding="same", boundary=mode, fill_value=fill, **kw)(
        lambda p: jnp.sum(p * W)
    )


CASES = {
    "laplacian": _laplacian,
    "conv_weight": _conv,
    "maxpool_stride2": _pool,
    "maxpool3_stride2_same": _pool3,
    "by_index_diffusion": _diffusion_by_index,
    "by_index_sqrt": _sqrt_by_index,
    "by_index_sqrt_box": _sqrt_box,
    "by_index_strided": _strided_by_index,
    "fields": _fields,
    "dilation": _dilated,
    "mixed_boundary": _boundary((("edge", "constant"), ("wrap", "reflect")), ((0.0, 2.0), 0.0)),
    **{f"boundary_{mode}": _boundary(mode, 1.5 if mode == "constant" else 0.0) for mode in SCIPY_MODES},
}
MESHES = {"1d": ((4,), ("x",), P("x", None)), "2d": ((2, 2), ("x", "y"), P("x", "y"))}
MODES = ("explicit", "auto")

# the quick matrix (make test): each case at least once, every boundary mode on the 1-D mesh, the by-index
# paths (masked, guarded, local region) and fields on both meshes, Auto axes on a spread of them
QUICK = [
    (case, mesh, mode)
    for (mesh, mode), cases in {
        ("1d", "explicit"): ("laplacian", "conv_weight", "by_index_diffusion", "by_index_sqrt",
                             "fields", "mixed_boundary", *(f"boundary_{m}" for m in SCIPY_MODES)),
        ("2d", "explicit"): ("laplacian", "maxpool3_stride2_same", "by_index_sqrt_box", "by_index_strided",
                             "dilation", "mixed_boundary", "boundary_wrap", "fields"),
        ("1d", "auto"): ("conv_weight", "boundary_symmetric", "by_index_sqrt"),
        ("2d", "auto"): ("laplacian", "fields", "boundary_edge", "maxpool_stride2"),
    }.items()
    for case in cases
]  # fmt: skip
LONG = [(case, mesh, mode) for mode in MODES for mesh in MESHES for case in CASES if (case, mesh, mode) not in QUICK]


def collectives(compiled) -> dict:
    """Collective ops in a compiled program's HLO (async ``-start`` halves counted once)."""
    text = compiled.as_text()
    return {name: len(re.findall(rf"\b{name}(?:-start)?\(", text)) for name in COLLECTIVES}


def _loss(f):
    return lambda v: sum(0.5 * jnp.sum(leaf.astype(jnp.float32) ** 2) for leaf in jax.tree_util.tree_leaves(f(v)))


def _leaves(tree) -> list[np.ndarray]:
    return [np.asarray(leaf) for leaf in jax.tree_util.tree_leaves(tree)]


def _mesh(key: str, mode: str):
    shape, names, spec = MESHES[key]
    kind = AxisType.Explicit if mode == "explicit" else AxisType.Auto
    return jax.make_mesh(shape, names, axis_types=(kind,) * len(names)), spec


def _scipy_reference(case: str, x: np.ndarray):
    """``scipy.ndimage.correlate`` of ``x`` with ``W``, for the single-mode boundary cases (else None)."""
    import scipy.ndimage as ndimage

    mode = case[len("boundary_") :] if case.startswith("boundary_") else None
    if mode not in SCIPY_MODES:
        return None
    return ndimage.correlate(x.astype(np.float64), W.astype(np.float64), mode=SCIPY_MODES[mode], cval=1.5)


def run_case(case: str, mesh_key: str, mode: str, x0: np.ndarray, references: dict) -> dict:
    mesh, spec = _mesh(mesh_key, mode)
    sharding = NamedSharding(mesh, spec)
    x = jax.device_put(x0, sharding)
    f = CASES[case]() if mode == "explicit" else CASES[case](sharding=sharding)
    if case not in references:  # one program for the unsharded values and gradient
        plain = CASES[case]()
        value, gradient = jax.jit(lambda v: (plain(v), jax.grad(_loss(plain))(v)))(x0)
        references[case] = (_leaves(value), np.asarray(gradient))
    want, want_grad = references[case]
    compiled = jax.jit(f).lower(x).compile()
    out = compiled(x)
    with jax.set_mesh(mesh):
        grad = jax.jit(jax.grad(_loss(f)))(x)
    scipy_ref = _scipy_reference(case, x0)
    return {
        "value": all(np.allclose(a, b, atol=1e-5) for a, b in zip(_leaves(out), want)),
        "gradient": bool(np.allclose(grad, want_grad, atol=1e-4)),
        "gradient_finite": bool(np.isfinite(np.asarray(grad)).all()),
        "reference_finite": bool(np.isfinite(want_grad).all()),
        "scipy": None if scipy_ref is None else bool(np.allclose(_leaves(out)[0], scipy_ref, atol=1e-4)),
        "sharding": all(leaf.sharding.is_equivalent_to(sharding, leaf.ndim) for leaf in jax.tree_util.tree_leaves(out)),
        "gradient_sharding": grad.sharding.is_equivalent_to(sharding, grad.ndim),
        "collectives": collectives(compiled),
        "split_axes": sum(entry is not None for entry in spec),
    }


def _same(got, expected) -> bool:
    return all(bool(np.allclose(a, b, rtol=1e-5)) for a, b in zip(got, expected))


def _error(f, x, mesh=None) -> str:
    """The error ``jax.jit(f)(x)`` raises (under ``jax.set_mesh(mesh)`` if given), or ``'no error'``."""
    try:
        if mesh is None:
            jax.jit(f)(x)
        else:
            with jax.set_mesh(mesh):
                jax.jit(f)(x)
    except (ValueError, TypeError) as e:
        return f"{type(e).__name__}: {e}"
    return "no error"


def extra_checks(x0: np.ndarray) -> dict:
    """Transformations, other ways to give the split, and the error paths."""
    mesh, spec = _mesh("1d", "explicit")
    x = jax.device_put(x0, NamedSharding(mesh, spec))
    lap = _laplacian()
    want = np.asarray(jax.jit(lap)(x0))
    out: dict = {}
    out["eager"] = {"value": bool(np.allclose(lap(x), want, atol=1e-5)), "sharding": lap(x).sharding.spec == spec}

    stacked = np.stack([x0, 2 * x0])
    xs = jax.device_put(stacked, NamedSharding(mesh, P(None, "x", None)))
    batched = jax.jit(jax.vmap(lap))(xs)
    out["vmap"] = {
        "value": bool(np.allclose(batched, jax.vmap(lap)(stacked), atol=1e-5)),
        "sharding": batched.sharding.is_equivalent_to(xs.sharding, 3),
    }

    def heat(u):
        return jax.lax.fori_loop(0, 10, lambda i, v: v + 0.1 * lap(v), u)

    compiled = jax.jit(heat).lower(x).compile()
    out["heat_loop"] = {
        "value": bool(np.allclose(compiled(x), jax.jit(heat)(x0), atol=1e-4)),
        "collectives": collectives(compiled),
        "split_axes": 1,
    }

    auto, _ = _mesh("1d", "auto")
    with jax.set_mesh(auto):  # a PartitionSpec read against the ambient mesh
        xa = jax.device_put(x0, NamedSharding(auto, spec))
        compiled = jax.jit(_laplacian(sharding=P("x"))).lower(xa).compile()
        result = compiled(xa)
        out["partition_spec_keyword"] = {
            "value": bool(np.allclose(result, want, atol=1e-5)),
            "sharding": result.sharding.is_equivalent_to(xa.sharding, 2),
            "collectives": collectives(compiled),
            "split_axes": 1,
        }
    xa = jax.device_put(x0, NamedSharding(auto, spec))  # Auto axes, no keyword: the single-device program
    out["auto_without_keyword"] = {"value": bool(np.allclose(jax.jit(lap)(xa), want, atol=1e-5))}

    mesh2, _ = _mesh("2d", "explicit")
    xt = jax.device_put(x0, NamedSharding(mesh2, P(("x", "y"), None)))  # one input axis over two mesh axes
    compiled = jax.jit(lap).lower(xt).compile()
    result = compiled(xt)
    out["two_mesh_axes_on_one_axis"] = {
        "value": bool(np.allclose(result, want, atol=1e-5)),
        "sharding": result.sharding.is_equivalent_to(xt.sharding, 2),
        "collectives": collectives(compiled),
        "split_axes": 1,
    }

    ints = np.arange(N * N, dtype=np.int32).reshape(N, N)
    mixed = kernex.kmap(kernel_size=(3, 3), padding="same")(  # every neighbour of both fields: 4 halos each
        lambda w: jnp.sum(w["a"] * W) + jnp.sum(w["b"]).astype(jnp.float32)
    )
    s2 = NamedSharding(mesh2, P("x", "y"))
    a2, b2 = jax.device_put(x0, s2), jax.device_put(ints, s2)
    compiled = jax.jit(lambda a, b: mixed({"a": a, "b": b})).lower(a2, b2).compile()
    out["fields_of_two_dtypes"] = {
        "value": bool(np.allclose(compiled(a2, b2), mixed({"a": x0, "b": ints}))),
        "collectives": compiled.as_text().count("collective-permute("),
    }

    def sqrt_arg_loss(v, w):
        F = kernex.kmap(kernel_size=(3, 3), padding="same")
        F[0] = lambda u, w: jnp.sqrt(u[1, 1] * w[1])
        F[1:] = lambda u, w: u[1, 1] * w[0]
        return jnp.sum(F(v, w) ** 2)

    w = jnp.array([2.0, 3.0])
    with jax.set_mesh(mesh):
        got = jax.jit(jax.grad(sqrt_arg_loss, argnums=(0, 1)))(x, w)
    expected = jax.jit(jax.grad(sqrt_arg_loss, argnums=(0, 1)))(x0, w)
    out["by_index_sqrt_argument_gradient"] = {
        "gradient": _same(got, expected),
        "gradient_finite": all(bool(np.isfinite(np.asarray(g)).all()) for g in got),
    }

    def fill_loss(v, c):
        return jnp.sum(kernex.kmap(kernel_size=(3, 3), padding="same", fill_value=c)(jnp.sum)(v) ** 2)

    with jax.set_mesh(mesh):
        got = jax.jit(jax.grad(fill_loss, argnums=(0, 1)))(x, 1.5)
    expected = jax.jit(jax.grad(fill_loss, argnums=(0, 1)))(x0, 1.5)
    out["traced_fill_value_gradient"] = {"gradient": _same(got, expected)}

    pair = kernex.kmap(kernel_size=(3, 3), padding="same")(lambda w: w["a"][1, 1] + w["b"][1, 1])
    auto_sharding = NamedSharding(auto, spec)
    out["errors"] = {
        "valid_padding": _error(kernex.kmap(kernel_size=(3, 3), relative=True)(jnp.sum), x),
        "halo_too_wide": _error(kernex.kmap(kernel_size=(11, 1), padding="same")(jnp.sum), x),
        "stride_not_dividing_block": _error(kernex.kmap(kernel_size=(3, 1), strides=3, padding="same")(jnp.sum), x),
        "reflect_too_wide": _error(kernex.kmap(kernel_size=(9, 1), padding="same", boundary="reflect")(jnp.sum), x),
        "shape_not_dividing": _error(
            kernex.kmap(kernel_size=(3, 3), padding="same", sharding=auto_sharding)(jnp.sum), np.ones((18, 4), "float32")
        ),
        "keyword_disagrees_with_type": _error(
            kernex.kmap(kernel_size=(3, 3), padding="same", sharding=NamedSharding(mesh, P(None, "x")))(jnp.sum), x
        ),
        "keyword_on_unsplit_explicit_input": _error(
            kernex.kmap(kernel_size=(3, 3), padding="same", sharding=NamedSharding(mesh, spec))(jnp.sum), x0
        ),
        "spec_without_mesh": _error(kernex.kmap(kernel_size=(3, 3), padding="same", sharding=P("x"))(jnp.sum), x0),
        "unknown_mesh_axis": _error(
            kernex.kmap(kernel_size=(3, 3), padding="same", sharding=P("z"))(jnp.sum), x0, mesh=auto
        ),
        "keyword_inside_shard_map": _error(
            jax.shard_map(
                lambda b: kernex.kmap(kernel_size=(3, 3), padding="same", sharding=P("x"))(jnp.sum)(b),
                mesh=mesh, in_specs=spec, out_specs=spec,
            ),
            x,
        ),
        "fields_split_differently": _error(
            lambda a: pair({"a": a, "b": jax.sharding.reshard(a, NamedSharding(mesh, P(None, "x")))}), x
        ),
    }
    return out


def main(argv: list[str]) -> None:
    started = time.perf_counter()
    jax.config.update("jax_numpy_rank_promotion", "raise")
    x0 = _input()
    matrix = LONG if "--long" in argv else QUICK
    references: dict = {}
    results: dict = {}
    for case, mesh_key, mode in matrix:
        name = f"{case}-{mesh_key}-{mode}"
        start = time.perf_counter()
        try:
            results[name] = run_case(case, mesh_key, mode, x0, references)
        except Exception as e:  # reported per check by the test
            results[name] = {"error": f"{type(e).__name__}: {e}"[:2000]}
        results[name]["seconds"] = time.perf_counter() - start
    if "--long" not in argv:
        start = time.perf_counter()
        try:
            results.update(extra_checks(x0))
        except Exception as e:
            results["extra"] = {"error": f"{type(e).__name__}: {e}"[:2000]}
        results["extra_seconds"] = time.perf_counter() - start
    start = time.perf_counter()
    results["kscan"] = shard_kscan_cases.run("--long" in argv)  # sharded kscan, in this same process
    results["kscan_seconds"] = time.perf_counter() - start
    results["seconds"] = time.perf_counter() - started
    print("RESULTS" + json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1:])
