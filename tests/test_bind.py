"""Rebinding equations (``interp/bind.py``): source locations and ``shard_map`` varying axes.

* Replayed equations carry the window function's source location and name
  stack, so lowered jaxprs (and HLO metadata, errors) point at the user's line.
* Inside ``jax.shard_map`` (``check_vma=True``) kmap and kscan apply per shard:
  the result equals the same kmap/kscan applied to each block on its own (no
  halo exchange), values and gradients. These checks need 4 devices, so they
  run in one subprocess with ``--xla_force_host_platform_device_count=4`` (the
  rest of the suite keeps its single device); each check reports separately.
* Outside ``shard_map`` no cast is emitted.
"""

import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import pytest
from jax.extend import core as jex
from jax.extend import source_info_util

from kernex import kmap, kscan


def _equations(jaxpr):
    """Every equation of ``jaxpr`` and of its sub-jaxprs (loop bodies, branches, calls)."""
    for eqn in jaxpr.eqns:
        yield eqn
        for value in eqn.params.values():
            for item in value if isinstance(value, (tuple, list)) else (value,):
                if isinstance(item, jex.ClosedJaxpr):
                    yield from _equations(item.jaxpr)
                elif isinstance(item, jex.Jaxpr):
                    yield from _equations(item)


def _user_line(eqn) -> str:
    return source_info_util.summarize(eqn.source_info)


def _stencil(p):
    return jnp.sin(p[0]) * 3.0 - p[2]  # the line the replayed sin/mul/sub must point at


_STENCIL_LINE = _stencil.__code__.co_firstlineno + 1
_HERE = os.path.basename(__file__)


@pytest.mark.parametrize("transform", [kmap, kscan], ids=["kmap", "kscan"])
def test_replayed_equations_point_at_the_window_function(transform):
    closed = jax.make_jaxpr(transform(kernel_size=(3,), padding="same")(_stencil))(jnp.arange(8.0))
    located = {
        eqn.primitive.name: _user_line(eqn)
        for eqn in _equations(closed.jaxpr)
        if eqn.primitive.name in ("sin", "mul", "sub")
    }
    assert set(located) == {"sin", "mul", "sub"}
    for name, where in located.items():
        assert f"{_HERE}:{_STENCIL_LINE}" in where, (name, where)
        assert "_stencil" in where, (name, where)


def test_replayed_equations_keep_the_name_stack():
    def f(p):
        with jax.named_scope("my_stencil"):
            return jnp.cos(p[1]) + p[0]

    closed = jax.make_jaxpr(kmap(kernel_size=(3,), padding="same")(f))(jnp.arange(8.0))
    stacks = [str(eqn.source_info.name_stack) for eqn in _equations(closed.jaxpr) if eqn.primitive.name == "cos"]
    assert stacks and all("my_stencil" in s for s in stacks), stacks


def test_fallback_equations_point_at_the_window_function(fallback_log):
    # `sort` runs through the vmap fallback: its neighbours in the user's line still point there
    def f(p):
        return jnp.sort(p)[1] * 2.0

    line = f.__code__.co_firstlineno + 1
    closed = jax.make_jaxpr(kmap(kernel_size=(3,), padding="same")(f))(jnp.arange(8.0))
    assert "sort" in fallback_log
    muls = [_user_line(eqn) for eqn in _equations(closed.jaxpr) if eqn.primitive.name == "mul"]
    assert muls and all(f"{_HERE}:{line}" in where for where in muls), muls


@pytest.mark.parametrize("transform", [kmap, kscan], ids=["kmap", "kscan"])
def test_no_cast_outside_shard_map(transform):
    w = jnp.array([1.0, -2.0, 1.0])
    f = transform(kernel_size=(3,), padding="same")(lambda p: jnp.sum(w * p) + 0.5 * jnp.max(p))
    x = jnp.arange(8.0)
    for closed in (jax.make_jaxpr(f)(x), jax.make_jaxpr(jax.grad(lambda v: f(v).sum()))(x)):
        names = {eqn.primitive.name for eqn in _equations(closed.jaxpr)}
        assert not names & {"pvary", "pcast"}, names


# --- inside shard_map: one subprocess, 4 CPU devices ------------------------------------------

_SHARD_SCRIPT = textwrap.dedent(
    """
    import os
    os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
    import json
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import NamedSharding, PartitionSpec as P
    from kernex import kmap, kscan

    mesh = jax.make_mesh((4,), ("x",))
    W = jnp.array([1.0, -2.0, 1.0])
    K3 = dict(kernel_size=(3,), padding="same")
    K33 = dict(kernel_size=(3, 3), padding="same")

    def indexed():
        F = kmap(**K3)
        F[0] = lambda p: p[1] * 10.0
        F[1:] = lambda p: p[0] + 1.0
        return F

    def per_shard_mean(b):  # closes over a per-shard (varying) value
        m = jnp.mean(b)
        return kmap(**K3)(lambda p: p[1] - m + p[0] * W[0])(b)

    def loop(p):
        return jax.lax.fori_loop(0, 3, lambda i, c: c + p[i] * W[i], jnp.zeros_like(p[0]))

    CHECKS = {
        "kmap_laplacian": kmap(**K3)(lambda p: p[0] - 2.0 * p[1] + p[2]),
        "kmap_closed_over_constant": kmap(**K3)(lambda p: jnp.sum(W * p) + 0.5),
        "kmap_max": kmap(**K3)(jnp.max),
        "kmap_sort_fallback": kmap(**K3)(lambda p: jnp.sort(p)[1] * W[0]),
        "kmap_custom_jvp": kmap(**K3)(lambda p: jax.nn.relu(p[1] - 2.0) + jax.nn.softplus(p[0])),
        "kmap_cond": kmap(**K3)(lambda p: jax.lax.cond(p[1] > 2.0, lambda q: q[0] * 2.0, lambda q: q[2] - 1.0, p)),
        "kmap_fori_loop": kmap(**K3)(loop),
        "kmap_large_window": kmap(kernel_size=(7,), padding="same")(lambda p: jnp.sum(p * jnp.arange(7.0))),
        "kmap_strided": kmap(kernel_size=(3,), strides=(2,), padding="same")(jnp.mean),
        "kmap_by_index": indexed(),
        "kmap_varying_closure": per_shard_mean,
        "kscan": kscan(**K3)(lambda p: p[0] + p[1] * 0.5 + p[2]),
        "kscan_fori_loop": kscan(**K3)(loop),
        "kmap_2d": kmap(**K33)(lambda p: p[0, 1] + p[2, 1] + p[1, 0] + p[1, 2] - 4.0 * p[1, 1]),
        "kscan_2d_wavefront": kscan(**K33, schedule="wavefront")(lambda p: 0.25 * (p[0, 1] + p[1, 0]) + p[1, 1]),
    }
    GRADIENTS = {"kmap_laplacian", "kmap_custom_jvp", "kmap_cond", "kmap_large_window", "kscan", "kscan_fori_loop"}

    def run(name, f, x):
        sharded = jax.device_put(x, NamedSharding(mesh, P("x")))
        apply = jax.shard_map(f, mesh=mesh, in_specs=P("x"), out_specs=P("x"))
        blocks = [jnp.asarray(b) for b in np.split(x, 4)]
        per_block = jax.jit(f)  # one compilation for the 4 blocks
        result = {"value": bool(np.allclose(jax.jit(apply)(sharded), np.concatenate([per_block(b) for b in blocks]), atol=1e-5))}
        if name in GRADIENTS:
            grad = jax.jit(jax.grad(lambda v: apply(v).sum()))(sharded)
            per_block = jax.jit(jax.grad(lambda v: f(v).sum()))
            expected = np.concatenate([per_block(b) for b in blocks])
            result["gradient"] = bool(np.allclose(grad, expected, atol=1e-5))
        return result

    x1 = np.arange(32.0, dtype=np.float32) ** 0.5
    x2 = (np.arange(64.0, dtype=np.float32) ** 0.5).reshape(16, 4)
    results = {}
    for name, f in CHECKS.items():
        try:
            results[name] = run(name, f, x2 if name.endswith(("_2d", "_2d_wavefront")) else x1)
        except Exception as e:  # reported per check by the test
            results[name] = {"error": f"{type(e).__name__}: {e}"[:2000]}

    # a replicated input and a per-shard one in the same shard_map
    lap, scan = CHECKS["kmap_laplacian"], CHECKS["kscan"]
    y = jnp.arange(8.0)
    try:
        both = jax.shard_map(lambda a, b: (lap(a) + b, scan(a)), mesh=mesh, in_specs=(P(), P("x")), out_specs=(P("x"), P()))
        out = jax.jit(both)(y, jax.device_put(x1, NamedSharding(mesh, P("x"))))
        results["replicated_input"] = {
            "value": bool(np.allclose(out[0], np.tile(lap(y), 4) + x1) and np.allclose(out[1], scan(y)))
        }
    except Exception as e:
        results["replicated_input"] = {"error": f"{type(e).__name__}: {e}"[:2000]}
    print("RESULTS" + json.dumps(results))
    """
)

SHARD_CHECKS = [
    "kmap_laplacian",
    "kmap_closed_over_constant",
    "kmap_max",
    "kmap_sort_fallback",
    "kmap_custom_jvp",
    "kmap_cond",
    "kmap_fori_loop",
    "kmap_large_window",
    "kmap_strided",
    "kmap_by_index",
    "kmap_varying_closure",
    "kscan",
    "kscan_fori_loop",
    "kmap_2d",
    "kscan_2d_wavefront",
    "replicated_input",
]


@pytest.fixture(scope="module")
def shard_results():
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [sys.executable, "-c", _SHARD_SCRIPT], check=False, capture_output=True, text=True, timeout=120, env=env
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULTS")]
    assert done.returncode == 0 and lines, done.stderr[-4000:]
    return json.loads(lines[-1][len("RESULTS") :])


@pytest.mark.parametrize("name", SHARD_CHECKS)
def test_inside_shard_map_equals_per_block(shard_results, name):
    result = shard_results[name]
    assert "error" not in result, result.get("error")
    assert result["value"] is True
    assert result.get("gradient", True) is True
