"""Sharded kmap (``kernex/_src/shard/``): halo exchange over a mesh, equal to kmap on the whole array.

The checks need 4 devices, so they run in ONE subprocess
(``tests/shard_script.py``, ``--xla_force_host_platform_device_count=4``; the
rest of the suite keeps its single device), each reported by its own test here:

* values and ``jax.grad`` equal to the same kmap on the unsharded array (and,
  for the boundary modes, to ``scipy.ndimage.correlate``): Laplacian, 3×3 conv
  with a weight argument, max-pools with stride 2, ``F[idx]`` (masked, guarded
  ``sqrt``/``log`` branches, regions every shard shares), pytree fields,
  dilation, every boundary mode; Explicit and Auto (``sharding=``) axes on a
  1-D mesh (4) and a 2×2 mesh;
* the output (and the gradient) sharded like the input;
* the compiled forward program: no all-gather, all-reduce or all-to-all, at
  most 2 collective-permutes per split axis;
* ``jax.vmap``, a ``fori_loop`` heat loop, the other ways to state a split, and
  the error paths (``ValueError`` naming the axis, the sizes and the fix).

* sharded kscan (``tests/shard_kscan_cases.py``, in the same subprocess): linear
  convection, a 2-D heat step, ``F[idx]``, fields, boundary modes, ``'parallel'``;
  values, gradients, output sharding, and at most 2 collective-permutes per split
  axis inside the ``lax.scan`` body; the schedules that would serialise the
  devices are refused;
* two processes on 127.0.0.1 (``tests/multiprocess_script.py``, ``jax.distributed``
  with gloo CPU collectives): sharded kmap and kscan on a global array.

``make test`` runs a spread of the cases (``shard_script.QUICK``); the rest of
the cross product is marked ``long``. Cheap single-device checks (argument
types, the unchanged single-device program) run in this process.
"""

import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

import kernex
from kernex._src.shard import mesh as shard_mesh

sys.path.insert(0, os.path.dirname(__file__))
import shard_kscan_cases  # noqa: E402
import shard_script  # noqa: E402
import subprocesses  # noqa: E402

SCRIPT = os.path.join(os.path.dirname(__file__), "shard_script.py")


def _argv_env(*flags: str):
    flags_env = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
    return [sys.executable, SCRIPT, *flags], {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": flags_env.strip()}


def _run_script(*flags: str) -> dict:
    """The script's results: run once per session, shared by the xdist workers (``subprocesses.py``)."""
    start = time.perf_counter()
    rc, output = subprocesses.result("shard" + "".join(flags), *_argv_env(*flags), timeout=600)
    lines = [line for line in output.splitlines() if line.startswith("RESULTS")]
    assert rc == 0 and lines, output[-4000:]
    results = json.loads(lines[-1][len("RESULTS") :])
    results["wall_seconds"] = time.perf_counter() - start
    return results


MULTIPROCESS = [sys.executable, os.path.join(os.path.dirname(__file__), "multiprocess_script.py")]

# the quick run and the two-process run start in the background as soon as this module is collected
subprocesses.start("shard", *_argv_env())
subprocesses.start("shard-multiprocess", MULTIPROCESS, {**os.environ, "JAX_PLATFORMS": "cpu"})


@pytest.fixture(scope="module")
def quick():
    return _run_script()


@pytest.fixture(scope="module")
def long_results():
    return _run_script("--long")


def _check_case(result: dict) -> None:
    assert "error" not in result, result.get("error")
    assert result["value"] is True
    assert result["gradient"] is True
    assert result["reference_finite"] is True and result["gradient_finite"] is True  # no NaN / inf anywhere
    assert result["scipy"] in (None, True)
    assert result["sharding"] is True and result["gradient_sharding"] is True
    counts = result["collectives"]
    assert counts["all-gather"] == counts["all-reduce"] == counts["all-to-all"] == 0, counts
    assert counts["collective-permute"] <= 2 * result["split_axes"], counts


def _name(case) -> str:
    return "-".join(case)


@pytest.mark.parametrize("case", shard_script.QUICK, ids=_name)
def test_sharded_equals_unsharded(quick, case):
    _check_case(quick[_name(case)])


@pytest.mark.long
@pytest.mark.parametrize("case", shard_script.LONG, ids=_name)
def test_sharded_equals_unsharded_long(long_results, case):
    _check_case(long_results[_name(case)])


def test_halo_messages_per_case(quick):
    # the exact counts behind the bound: one message per side and split axis where both halos are non-empty,
    # one side only for a stride-2 'same' pool (halo (1, 0)), none for a 2x2/2 pool (whole windows per shard)
    assert quick["laplacian-1d-explicit"]["collectives"]["collective-permute"] == 2
    assert quick["laplacian-2d-explicit"]["collectives"]["collective-permute"] == 4
    assert quick["maxpool3_stride2_same-2d-explicit"]["collectives"]["collective-permute"] == 2
    assert quick["maxpool_stride2-2d-auto"]["collectives"]["collective-permute"] == 0
    assert quick["by_index_sqrt-1d-explicit"]["collectives"]["collective-permute"] == 0  # 3x3 window, 1x1 reads


@pytest.mark.parametrize("name", ["eager", "vmap", "partition_spec_keyword", "two_mesh_axes_on_one_axis"])
def test_other_calls(quick, name):
    result = quick[name]
    assert "error" not in result, result.get("error")
    assert result["value"] is True and result["sharding"] is True
    if "collectives" in result:
        assert result["collectives"]["collective-permute"] <= 2 * result["split_axes"]
        assert result["collectives"]["all-gather"] == result["collectives"]["all-reduce"] == 0


def test_heat_loop(quick):
    result = quick["heat_loop"]
    assert result["value"] is True
    assert result["collectives"]["collective-permute"] <= 2 and result["collectives"]["all-reduce"] == 0


def test_auto_axes_without_keyword_keep_the_single_device_program(quick):
    assert quick["auto_without_keyword"]["value"] is True


def test_fields_of_two_dtypes_send_one_message_per_dtype(quick):
    result = quick["fields_of_two_dtypes"]
    assert result["value"] is True
    assert result["collectives"] == 2 * 2 * 2  # 2 sides x 2 split axes x 2 dtypes


@pytest.mark.parametrize("name", ["by_index_sqrt_argument_gradient", "traced_fill_value_gradient"])
def test_gradients_of_arguments(quick, name):
    result = quick[name]
    assert result["gradient"] is True
    assert result.get("gradient_finite", True) is True


ERRORS = {
    "valid_padding": ["axis 0", "length 16", "'x' (4)", "n / stride = 16", "gives 14", "padding='same'"],
    "halo_too_wide": ["axis 0", "blocks of 4", "5 cells", "at most 2 shards"],
    "stride_not_dividing_block": ["axis 0", "blocks of 4", "strides[0] = 3", "multiple of 12"],
    "reflect_too_wide": ["axis 0", "'reflect'", "5 cells", "holds 4", "at most 2 shards"],
    "shape_not_dividing": ["axis 0", "length 18", "'x' (4)", "16 or 20"],
    "keyword_disagrees_with_type": ["disagrees", "P('x', None)", "reshard"],
    "keyword_on_unsplit_explicit_input": ["disagrees", "sharding P()", "reshard"],
    "spec_without_mesh": ["no ambient mesh", "jax.set_mesh", "NamedSharding"],
    "unknown_mesh_axis": ["'z'", "('x',)"],
    "fields_split_differently": ["field 1", "P(None, 'x')", "reshard"],
    "keyword_inside_shard_map": ["'x' is Manual", "inside a shard_map", "drop `sharding=`"],
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_error_messages(quick, name):
    message = quick["errors"][name]
    assert message.startswith("ValueError: kmap"), message
    for needle in ERRORS[name]:
        assert needle in message, (needle, message)


def test_subprocess_runtime_is_reported(quick):
    # the budget is 40 s on an idle 2-core machine; assert only a generous bound (shared CI machines are loaded)
    assert quick["seconds"] < 300, quick["seconds"]
    print(f"\nshard subprocess: {quick['wall_seconds']:.1f} s wall ({quick['seconds']:.1f} s after start-up)")


# --- single device, in this process ------------------------------------------------------------


def _laplacian(**kw):
    return kernex.kmap(kernel_size=(3, 3), padding="same", relative=True, **kw)(
        lambda u: u[1, 0] + u[-1, 0] + u[0, 1] + u[0, -1] - 4 * u[0, 0]
    )


def _primitives(jaxpr) -> set:
    names = set()
    for eqn in jaxpr.eqns:
        names.add(eqn.primitive.name)
        for value in eqn.params.values():
            inner = getattr(value, "jaxpr", None)
            if inner is not None and hasattr(inner, "eqns"):
                names |= _primitives(inner)
    return names


def test_unsharded_input_takes_the_single_device_program():
    x = jnp.arange(36.0).reshape(6, 6)
    closed = jax.make_jaxpr(_laplacian())(x)
    names = _primitives(closed.jaxpr)
    assert not names & {"shard_map", "ppermute", "axis_index"}, names
    expected = np.pad(np.asarray(x), 1)
    expected = expected[2:, 1:-1] + expected[:-2, 1:-1] + expected[1:-1, 2:] + expected[1:-1, :-2] - 4 * np.asarray(x)
    np.testing.assert_allclose(_laplacian()(x), expected)
    assert shard_mesh.find_split([x], None) is None


def test_sharding_argument_types():
    with pytest.raises(TypeError, match="`sharding` must be None"):
        kernex.kmap(kernel_size=3, sharding="x")
    with pytest.raises(TypeError, match="PartitionSpec"):
        kernex.kmap(kernel_size=3, sharding=("x", None))
    spec = P("x", None)
    assert "sharding=P('x', None)" in repr(kernex.kmap(kernel_size=3, sharding=spec))
    assert "sharding" not in repr(kernex.kmap(kernel_size=3))


def test_partition_spec_without_a_mesh_is_refused():
    with pytest.raises(ValueError, match="no ambient mesh"):
        _laplacian(sharding=P("x"))(jnp.ones((8, 8)))


def test_spec_longer_than_the_input_is_refused():
    mesh = jax.sharding.AbstractMesh((1,), ("x",))
    with pytest.raises(ValueError, match="3 entries but the input has shape"):
        _laplacian(sharding=jax.sharding.NamedSharding(mesh, P("x", None, None)))(jnp.ones((8, 8)))


def test_split_over_a_size_one_mesh_axis_is_the_single_device_program():
    mesh = jax.make_mesh((1,), ("x",))
    x = jax.device_put(jnp.arange(36.0).reshape(6, 6), jax.sharding.NamedSharding(mesh, P("x", None)))
    names = _primitives(jax.make_jaxpr(_laplacian())(x).jaxpr)
    assert "shard_map" not in names
    np.testing.assert_allclose(_laplacian()(x), _laplacian()(np.asarray(x)))


# --- sharded kscan (same subprocess) -------------------------------------------------------------


def _check_kscan(result: dict) -> None:
    assert "error" not in result, result.get("error")
    assert result["value"] is True and result["gradient"] is True and result["gradient_finite"] is True
    assert result["sharding"] is True and result["gradient_sharding"] is True
    counts, split = result["collectives"], result["split_axes"]
    assert counts["all-gather"] == counts["all-reduce"] == counts["all-to-all"] == 0, counts
    if result["schedule"] == "rows":  # one halo exchange per step, inside the scan body; one more before it
        assert len(result["loop_permutes"]) == 1 and 1 <= result["loop_permutes"][0] <= 2 * split, result
        assert counts["collective-permute"] <= 4 * split, counts
    else:  # 'parallel': one exchange, no loop
        assert result["loop_permutes"] == [] and counts["collective-permute"] <= 2 * split, result


@pytest.mark.parametrize("case", shard_kscan_cases.QUICK, ids=_name)
def test_sharded_kscan_equals_unsharded(quick, case):
    _check_kscan(quick["kscan"][_name(case)])


@pytest.mark.long
@pytest.mark.parametrize("case", shard_kscan_cases.LONG, ids=_name)
def test_sharded_kscan_equals_unsharded_long(long_results, case):
    _check_kscan(long_results["kscan"][_name(case)])


def test_sharded_kscan_sends_only_the_cells_read(quick):
    # the upwind scheme reads only its left neighbour: one message per step, not two
    assert quick["kscan"]["convection-1d-explicit"]["loop_permutes"] == [1]
    assert quick["kscan"]["heat3d-2d-explicit"]["loop_permutes"] == [4]  # 2 split axes, both sides


@pytest.mark.parametrize("name", ["vmap", "argument_gradient", "inside_shard_map"])
def test_sharded_kscan_other_calls(quick, name):
    result = quick["kscan"][name]
    assert "error" not in result, result.get("error")
    assert all(value is True for value in result.values()), result


def test_sharded_kscan_auto_takes_the_block_schedule_where_one_device_would_take_a_wavefront(quick):
    result = quick["kscan"]["auto_keeps_to_blocks_on_accelerators"]
    assert "error" not in result, result.get("error")
    assert result["picked"] == "wavefront"  # one device, on an accelerator
    assert result["value"] is True and result["loop_permutes"] == [1]  # sharded: block(2), a halo per step


KSCAN_ERRORS = {
    "rows_over_split_axis_0": ["'rows'", "axis 0 is split", "serialised", "P(None, 'x')"],
    "sequential": ["'sequential'", "axis 1 is split", "serialised", "scans every axis", "replicated"],
    "wavefront": ["'wavefront'", "serialised", "'rows' with axis 0 whole"],
    "anchor_outside_block": ["axis 1", "padding (2, 0)", "another shard's block", "padding='same'"],
    "shape_not_dividing": ["kscan: input axis 1", "length 18", "16 or 20"],
}


@pytest.mark.parametrize("name", sorted(KSCAN_ERRORS))
def test_sharded_kscan_error_messages(quick, name):
    message = quick["kscan"]["errors"][name]
    assert message.startswith("ValueError: kscan"), message
    for needle in KSCAN_ERRORS[name]:
        assert needle in message, (needle, message)


def test_kscan_sharding_argument():
    with pytest.raises(TypeError, match="`sharding` must be None"):
        kernex.kscan(kernel_size=3, sharding="x")
    assert "sharding=P(None, 'x')" in repr(kernex.kscan(kernel_size=3, sharding=P(None, "x")))
    with pytest.raises(ValueError, match="no ambient mesh"):
        kernex.kscan(kernel_size=3, padding="same", sharding=P("x"))(jnp.sum)(jnp.ones(8))


def test_unsharded_kscan_takes_the_single_device_program():
    F = kernex.kscan(kernel_size=3, padding="same")(jnp.sum)
    x = jnp.arange(1.0, 6.0)
    assert not _primitives(jax.make_jaxpr(F)(x).jaxpr) & {"shard_map", "ppermute", "axis_index"}
    np.testing.assert_allclose(F(x), [3, 8, 15, 24, 29])


def test_parallel_kscan_by_index_with_a_partly_owned_sqrt():
    # owners of a 2-D 'parallel' block are read per trailing position (lower/block.fully_owned); this raised
    # IndexError ("too many indices") before
    F = kernex.kscan(kernel_size=(3, 3), padding="same", schedule="parallel")
    F[0] = lambda u: jnp.sqrt(u[1, 1])
    F[1:] = lambda u: u[1, 1] * 2
    x = jnp.arange(16.0).reshape(4, 4) + 1
    expected = np.asarray(x) * 2
    expected[0] = np.sqrt(np.asarray(x[0]))
    np.testing.assert_allclose(F(x), expected, rtol=1e-6)
    grad = np.full((4, 4), 2.0)
    grad[0] = 0.5 / np.sqrt(np.asarray(x[0]))
    np.testing.assert_allclose(jax.grad(lambda v: F(v).sum())(x), grad, rtol=1e-6)


# --- two processes ---------------------------------------------------------------------------------


def test_two_processes_on_localhost():
    rc, output = subprocesses.result(
        "shard-multiprocess", MULTIPROCESS, {**os.environ, "JAX_PLATFORMS": "cpu"}, timeout=120
    )
    lines = [line for line in output.splitlines() if line.startswith("RESULTS")]
    assert rc == 0 and lines, output[-4000:]
    results = json.loads(lines[-1][len("RESULTS") :])
    for process in ("0", "1"):
        result = results[process]
        assert "error" not in result, result.get("error")
        assert result["process"] == int(process) and result["devices"] == 4 and result["local"] == 2
        assert result["kmap"] is True and result["kscan"] is True and result["kscan_gradient"] is True
