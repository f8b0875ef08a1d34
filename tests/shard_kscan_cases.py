"""The sharded-kscan checks, run inside ``tests/shard_script.py``'s one 4-device subprocess.

:func:`run` returns, per check, what it measured; ``tests/test_shard.py``
asserts on it. Every case compares kscan on a split state with the same kscan
on the unsharded state (values and ``jax.grad`` of ``0.5 * sum(out**2)``), and
reports the output's sharding (equal to the input's) and the collectives of the
compiled forward program: in the whole program, and inside the ``lax.scan``
body (the while loop's body computation and everything it calls), where there
must be at most two collective-permutes per split axis per step.
Importing this module runs nothing.
"""

from __future__ import annotations

import re
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

import kernex

COLLECTIVES = ("collective-permute", "all-gather", "all-reduce", "all-to-all")
NT, NX = 12, 16  # 2-D states: rows are time steps, 16 columns split 4 ways
TMAX, XMAX, C = 0.5, 2.0, 0.5


def _convection(**kw):
    """The seed's linear convection (``demo/stencils.py``): named axes, six index assignments, 'rows'."""
    dt, dx = TMAX / (NT - 1), XMAX / (NX - 1)
    F = kernex.kscan(kernel_size=(3, 3), padding=((1, 1), (1, 1)), named_axis={0: "n", 1: "i"}, relative=True, **kw)
    F[:, 0] = F[:, -1] = lambda u: 1
    F[:, : int((NX - 1) / 4) + 1] = F[:, int((NX - 1) / 2) :] = lambda u: 1
    F[0:1, int((NX - 1) / 4) + 1 : int((NX - 1) / 2)] = lambda u: 2
    F[1:, 1:-1] = lambda u: u["i", "n-1"] - (C * dt / dx) * (u["i", "n-1"] - u["i-1", "n-1"])
    return F


def _heat3d(**kw):
    """A 2-D heat step per row of a (time, x, y) state, wrap in x and edge in y: 'rows', axes 1 and 2 split."""
    boundary = ("constant", "wrap", "edge")
    return kernex.kscan(kernel_size=(3, 3, 3), padding="same", relative=True, boundary=boundary, **kw)(
        lambda u: u[-1, 0, 0] + 0.1 * (u[-1, -1, 0] + u[-1, 1, 0] + u[-1, 0, -1] + u[-1, 0, 1] - 4 * u[-1, 0, 0])
        + 0.02 * u[-1, 1, 1]
    )  # fmt: skip


def _by_index(**kw):
    """sqrt on row 0, log/sqrt on a box that cuts the shards, constant edges: guarded and masked branches."""
    F = kernex.kscan(kernel_size=(3, 3), padding="same", relative=True, **kw)
    F[0] = lambda u: jnp.sqrt(u[0, 0])
    F[1:, 0] = F[1:, -1] = lambda u: 1.0
    F[1:, 1:-1] = lambda u: u[-1, 0] - 0.3 * (u[-1, 0] - u[-1, -1])
    F[3:6, 2:9] = lambda u: jnp.log(u[-1, 0] + 1.0) + jnp.sqrt(u[-1, 1])
    return F


def _fields(**kw):
    """Two coupled fields, periodic in space."""
    return kernex.kscan(kernel_size=(3, 3), padding="same", relative=True, boundary=("constant", "wrap"), **kw)(
        lambda w: {"u": w["u"][-1, 0] - 0.2 * w["v"][-1, -1], "v": w["v"][-1, 0] + 0.1 * w["u"][-1, 1]}
    )


def _boundary(mode):
    def make(**kw):
        return kernex.kscan(
            kernel_size=(3, 3), padding="same", relative=True, boundary=("constant", mode), fill_value=1.5, **kw
        )(lambda u: u[-1, 0] + 0.1 * (u[-1, -1] + u[-1, 1] - 2 * u[-1, 0]) + 0.05 * u[1, 1])  # reads the next row too

    return make


def _parallel(**kw):
    """Windows that read only later writes: schedule='parallel', every axis may be split (one exchange)."""
    return kernex.kscan(
        kernel_size=(3, 3), padding="same", relative=True, schedule="parallel", boundary=("constant", "edge"), **kw
    )(lambda u: u[0, 1] + u[1, 0] + 0.5 * u[1, -1] + u[1, 1])


def _plane(shape=(NT, NX)):
    x = np.random.RandomState(0).rand(*shape).astype(np.float32) + 0.5
    if len(shape) == 2:
        x[5:, 7] = 0.0  # sqrt/log at a zero they do not own (the box's branch reads u[-1, 1])
    return x


CASES = {  # name: (kernel maker, input, {mesh key: spec})
    "convection": (_convection, lambda: np.ones((NT, NX), np.float32), None),
    "heat3d": (_heat3d, lambda: _plane((5, 8, 8)), {"1d": P(None, None, "x"), "2d": P(None, "x", "y")}),
    "by_index": (_by_index, _plane, None),
    "fields": (_fields, lambda: {"u": _plane(), "v": 2 * _plane()}, None),
    "wrap": (_boundary("wrap"), _plane, None),
    "edge": (_boundary("edge"), _plane, None),
    "reflect": (_boundary("reflect"), _plane, None),
    "constant": (_boundary("constant"), _plane, None),
    "parallel": (_parallel, _plane, {"1d": P("x", None), "2d": P("x", "y")}),
}
MESHES = {"1d": ((4,), ("x",)), "2d": ((2, 2), ("x", "y"))}
DEFAULT_SPECS = {"1d": P(None, "x"), "2d": P(None, ("x", "y"))}  # axis 0 (time) whole
MODES = ("explicit", "auto")
QUICK = [
    ("convection", "1d", "explicit"), ("convection", "2d", "auto"), ("heat3d", "2d", "explicit"),
    ("by_index", "1d", "explicit"), ("fields", "2d", "explicit"), ("wrap", "1d", "explicit"),
    ("edge", "2d", "auto"), ("parallel", "2d", "explicit"),
]  # fmt: skip
LONG = [(c, m, mode) for mode in MODES for m in MESHES for c in CASES if (c, m, mode) not in QUICK]


def collectives(text: str) -> dict:
    """Collective ops in compiled HLO text (async ``-start`` halves counted once)."""
    return {name: len(re.findall(rf"\b{name}(?:-start)?\(", text)) for name in COLLECTIVES}


def _computations(text: str) -> dict[str, str]:
    comps, name, lines = {}, None, []
    for line in text.splitlines():
        header = re.match(r"^(?:ENTRY\s+)?%?([\w.\-]+)\s.*\{\s*$", line)
        if name is None and header:
            name, lines = header.group(1), []
        elif name is not None and line.startswith("}"):
            comps[name], name = "\n".join(lines), None
        elif name is not None:
            lines.append(line)
    return comps


def loop_permutes(text: str) -> list[int]:
    """Per while loop of the compiled HLO: the collective-permutes in its body and what the body calls."""
    comps = _computations(text)

    def reach(name: str, seen: set) -> None:
        if name in seen or name not in comps:
            return
        seen.add(name)
        for ref in re.findall(r"(?:calls|to_apply|body|condition|branch_computations)=\{?%?([\w.\-]+)", comps[name]):
            reach(ref, seen)
        for refs in re.findall(r"branch_computations=\{([^}]*)\}", comps[name]):
            for ref in re.findall(r"%?([\w.\-]+)", refs):
                reach(ref, seen)

    counts = []
    for body in re.findall(r"\bwhile\(.*?body=%?([\w.\-]+)", text):
        seen: set = set()
        reach(body, seen)
        counts.append(sum(collectives(comps[c])["collective-permute"] for c in seen))
    return counts


def _loss(f):
    return lambda v: sum(0.5 * jnp.sum(leaf**2) for leaf in jax.tree_util.tree_leaves(f(v)))


def _leaves(tree) -> list[np.ndarray]:
    return [np.asarray(leaf) for leaf in jax.tree_util.tree_leaves(tree)]


def _mesh(key: str, mode: str):
    shape, names = MESHES[key]
    kind = AxisType.Explicit if mode == "explicit" else AxisType.Auto
    return jax.make_mesh(shape, names, axis_types=(kind,) * len(names))


def run_case(case: str, mesh_key: str, mode: str) -> dict:
    make, data, specs = CASES[case]
    spec = (specs or DEFAULT_SPECS)[mesh_key]
    mesh = _mesh(mesh_key, mode)
    sharding = NamedSharding(mesh, spec)
    x0 = data()
    x = jax.tree_util.tree_map(lambda a: jax.device_put(a, sharding), x0)
    f = make() if mode == "explicit" else make(sharding=sharding)
    plain = make()
    want, want_grad = jax.jit(lambda v: (plain(v), jax.grad(_loss(plain))(v)))(x0)
    compiled = jax.jit(f).lower(x).compile()
    out = compiled(x)
    with jax.set_mesh(mesh):
        grad = jax.jit(jax.grad(_loss(f)))(x)
    text = compiled.as_text()
    split_axes = sum(entry is not None for entry in spec)
    return {
        "value": all(np.allclose(a, b, atol=1e-5) for a, b in zip(_leaves(out), _leaves(want))),
        "gradient": all(np.allclose(a, b, atol=1e-4) for a, b in zip(_leaves(grad), _leaves(want_grad))),
        "gradient_finite": all(bool(np.isfinite(g).all()) for g in _leaves(grad) + _leaves(want_grad)),
        "sharding": all(leaf.sharding.is_equivalent_to(sharding, leaf.ndim) for leaf in jax.tree_util.tree_leaves(out)),
        "gradient_sharding": all(
            leaf.sharding.is_equivalent_to(sharding, leaf.ndim) for leaf in jax.tree_util.tree_leaves(grad)
        ),
        "collectives": collectives(text),
        "loop_permutes": loop_permutes(text),
        "split_axes": split_axes,
        "schedule": "parallel" if case == "parallel" else "rows",
    }


def _error(f, x) -> str:
    try:
        jax.jit(f)(x)
    except (ValueError, TypeError) as e:
        return f"{type(e).__name__}: {e}"
    return "no error"


def _auto_on_an_accelerator() -> dict:
    """On an accelerator 'auto' may pick a wavefront (``lower/plan.py``); on a split state it must take the
    exact block schedule instead (here block(2), axis 2 split), which runs sharded."""
    from kernex._src.lower import plan as plan_module
    from kernex._src.window.geometry import resolve_geometry

    F = kernex.kscan(kernel_size=(1, 3, 3), padding="same", relative=True)(lambda u: u[0, 0, 1] + 0.5 * u[0, -1, 0])
    x0 = _plane((8, 8, 16))
    x = jax.device_put(x0, NamedSharding(_mesh("1d", "explicit"), P(None, None, "x")))
    real = plan_module.jax
    plan_module.jax = type("Accelerator", (), {"default_backend": staticmethod(lambda: "gpu")})
    try:
        picked = plan_module.choose_plan(
            resolve_geometry(x0.shape, (1, 3, 3), 1, "same"), {(0, 0, 1), (0, 1, 2)}, "auto"
        ).name  # what one device would run
        text = jax.jit(F).lower(x).compile().as_text()
        got = jax.jit(F)(x)
    finally:
        plan_module.jax = real
    return {"picked": picked, "value": bool(np.allclose(got, F(x0), atol=1e-5)), "loop_permutes": loop_permutes(text)}


def extra_checks() -> dict:
    """vmap, extra arguments, the unsharded paths, and the error paths."""
    mesh = _mesh("1d", "explicit")
    cols, rows = NamedSharding(mesh, P(None, "x")), NamedSharding(mesh, P("x", None))
    heat = _boundary("wrap")()
    x0 = _plane()
    out: dict = {}
    stacked = np.stack([x0, 2 * x0])
    xs = jax.device_put(stacked, NamedSharding(mesh, P(None, None, "x")))
    batched = jax.jit(jax.vmap(heat))(xs)
    out["vmap"] = {
        "value": bool(np.allclose(batched, jax.vmap(heat)(stacked), atol=1e-5)),
        "sharding": batched.sharding.is_equivalent_to(xs.sharding, 3),
    }

    upwind = kernex.kscan(kernel_size=(3, 3), padding="same", relative=True)(
        lambda u, c: u[-1, 0] - c * (u[-1, 0] - u[-1, -1])
    )
    loss = lambda v, c: jnp.sum(upwind(v, c) ** 2)  # noqa: E731
    with jax.set_mesh(mesh):
        got = jax.jit(jax.grad(loss, argnums=(0, 1)))(jax.device_put(x0, cols), jnp.float32(0.3))
    expected = jax.grad(loss, argnums=(0, 1))(x0, jnp.float32(0.3))
    out["argument_gradient"] = {"gradient": all(np.allclose(a, b, rtol=1e-5) for a, b in zip(got, expected))}

    inside = jax.shard_map(heat, mesh=mesh, in_specs=P(None, "x"), out_specs=P(None, "x"))  # Manual: per block
    blocks = np.concatenate([np.asarray(heat(b)) for b in np.split(x0, 4, axis=1)], axis=1)
    out["inside_shard_map"] = {"value": bool(np.allclose(jax.jit(inside)(jax.device_put(x0, cols)), blocks, atol=1e-5))}

    out["auto_keeps_to_blocks_on_accelerators"] = _auto_on_an_accelerator()

    rows_kscan = kernex.kscan(kernel_size=(3, 3), padding="same", relative=True)(lambda u: u[-1, 0] + u[-1, 1])
    out["errors"] = {
        "rows_over_split_axis_0": _error(rows_kscan, jax.device_put(x0, rows)),
        "sequential": _error(
            kernex.kscan(kernel_size=(3, 3), padding="same", relative=True)(lambda u: u[-1, 0] + u[0, -1]),
            jax.device_put(x0, cols),
        ),
        "wavefront": _error(
            kernex.kscan(kernel_size=(3, 3), padding="same", relative=True, schedule="wavefront")(
                lambda u: u[-1, 0] + u[0, -1]
            ),
            jax.device_put(x0, cols),
        ),
        "anchor_outside_block": _error(
            kernex.kscan(kernel_size=(3, 3), padding=((1, 1), (2, 0)), relative=True)(lambda u: u[-1, 0]),
            jax.device_put(x0, cols),
        ),
        "shape_not_dividing": _error(
            kernex.kscan(kernel_size=(3, 3), padding="same", sharding=NamedSharding(_mesh("1d", "auto"), P(None, "x")))(
                lambda u: u[0, 1]
            ),
            np.ones((NT, 18), np.float32),
        ),
    }
    return out


def run(long: bool) -> dict:
    """Every check of the quick (or long) matrix, plus (quick) the extra checks; seconds per check."""
    results: dict = {}
    for case, mesh_key, mode in LONG if long else QUICK:
        name = f"{case}-{mesh_key}-{mode}"
        start = time.perf_counter()
        try:
            results[name] = run_case(case, mesh_key, mode)
        except Exception as e:  # reported per check by the test
            results[name] = {"error": f"{type(e).__name__}: {e}"[:2000]}
        results[name]["seconds"] = time.perf_counter() - start
    if not long:
        start = time.perf_counter()
        try:
            results.update(extra_checks())
        except Exception as e:
            results["extra"] = {"error": f"{type(e).__name__}: {e}"[:2000]}
        results["extra_seconds"] = time.perf_counter() - start
    return results
