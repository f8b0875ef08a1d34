"""Sharded kmap and kscan across two processes on 127.0.0.1 (``jax.distributed``), run by ``tests/test_shard.py``.

``python tests/multiprocess_script.py`` is the launcher: it picks a free port,
starts two workers (``--worker ID PORT``, 2 forced CPU devices each, so the
mesh has 4 devices in 2 processes; cross-process CPU collectives are gloo's,
jax's default), waits for them with a bounded timeout and prints one line
``RESULTS{json}``: per process, what it checked. Each worker builds the global
array with ``jax.make_array_from_callback``, runs a sharded kmap (5-point
Laplacian) and a sharded kscan (the seed's linear convection, 'rows'; values
and ``jax.grad``), and compares every addressable shard with the same kernel
evaluated on one device in that process. Importing this module runs nothing.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

TIMEOUT_S = 90  # each worker; the whole run stays under the test's 120 s
INIT_TIMEOUT_S = 45


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(process_id: int, port: int) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    import kernex

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{port}", num_processes=2, process_id=process_id,
        initialization_timeout=INIT_TIMEOUT_S,
    )  # fmt: skip
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from shard_kscan_cases import _convection  # the seed's linear convection, 12x16

    mesh = jax.make_mesh((4,), ("x",))  # every device of both processes
    laplacian = kernex.kmap(kernel_size=(3, 3), padding="same", relative=True)(
        lambda u: u[1, 0] + u[-1, 0] + u[0, 1] + u[0, -1] - 4 * u[0, 0]
    )
    convection = _convection()
    x0 = (np.arange(12 * 16, dtype=np.float32).reshape(12, 16) % 7) / 7 + 1
    result = {"process": jax.process_index(), "devices": jax.device_count(), "local": jax.local_device_count()}

    def shards_equal(out, expected) -> bool:
        shards = out.addressable_shards
        return len(shards) == 2 and all(np.allclose(np.asarray(s.data), expected[s.index], atol=1e-5) for s in shards)

    rows = NamedSharding(mesh, P("x", None))
    x = jax.make_array_from_callback(x0.shape, rows, lambda index: x0[index])
    result["kmap"] = shards_equal(jax.jit(laplacian)(x), np.asarray(laplacian(x0)))

    cols = NamedSharding(mesh, P(None, "x"))  # kscan: axis 0 (time) whole
    u = jax.make_array_from_callback(x0.shape, cols, lambda index: x0[index])
    out = jax.jit(convection)(u)
    result["kscan"] = shards_equal(out, np.asarray(convection(x0))) and out.sharding.is_equivalent_to(cols, 2)
    loss = lambda v: jnp.sum(convection(v) ** 2)  # noqa: E731
    with jax.set_mesh(mesh):
        grad = jax.jit(jax.grad(loss))(u)
    result["kscan_gradient"] = shards_equal(grad, np.asarray(jax.grad(loss)(x0)))
    jax.distributed.shutdown()
    return result


def launch() -> dict:
    port = _free_port()
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker", str(i), str(port)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )  # fmt: skip
        for i in range(2)
    ]
    results: dict = {"port": port}
    for i, proc in enumerate(procs):
        try:
            output, _ = proc.communicate(timeout=max(1.0, TIMEOUT_S - (time.perf_counter() - started)))
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            output = f"timed out after {TIMEOUT_S} s"
        lines = [line for line in output.splitlines() if line.startswith("RESULT ")]
        results[str(i)] = json.loads(lines[-1][len("RESULT ") :]) if lines else {"error": output[-3000:]}
    results["seconds"] = time.perf_counter() - started
    return results


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        print("RESULT " + json.dumps(worker(int(sys.argv[2]), int(sys.argv[3]))), flush=True)
    else:
        print("RESULTS" + json.dumps(launch()))
