"""Run a test subprocess once per session, shared by every pytest-xdist worker.

Tests that need several devices run them in a separate process (so the suite keeps one device). Under
xdist every worker would start the same process; instead the first worker to import the test module
starts it in the background at collection time (an exclusive lock file in a directory named by the
run's ``PYTEST_XDIST_TESTRUNUID``) and any worker reads its output when a test needs it. Without xdist
the process runs when first needed. Outputs never outlive the run that made them (the directory is
keyed by the run id).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

_WRAPPER = (
    "import subprocess, sys\n"
    "with open(sys.argv[1], 'w') as out:\n"
    "    rc = subprocess.run(sys.argv[3:], stdout=out, stderr=subprocess.STDOUT).returncode\n"
    "open(sys.argv[2] + '.tmp', 'w').write(str(rc))\n"
    "import os; os.replace(sys.argv[2] + '.tmp', sys.argv[2])\n"
)
_LOCAL: dict[str, tuple[int, str]] = {}


def _paths(name: str):
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not run:
        return None
    root = os.path.join(tempfile.gettempdir(), f"kernex-tests-{run}")
    os.makedirs(root, exist_ok=True)
    base = os.path.join(root, name)
    return base + ".lock", base + ".out", base + ".rc"


def start(name: str, argv: list[str], env: dict) -> None:
    """Start ``argv`` in the background once per xdist run (no-op without xdist or if already started)."""
    paths = _paths(name)
    if paths is None:
        return
    lock, out, rc = paths
    try:
        os.close(os.open(lock, os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return
    subprocess.Popen([sys.executable, "-c", _WRAPPER, out, rc, *argv], env=env, start_new_session=True)


def result(name: str, argv: list[str], env: dict, timeout: float) -> tuple[int, str]:
    """``(returncode, output)`` of the process ``start`` began (or of a run made now, without xdist)."""
    paths = _paths(name)
    if paths is None:
        if name not in _LOCAL:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
            _LOCAL[name] = (done.returncode, done.stdout + done.stderr)
        return _LOCAL[name]
    start(name, argv, env)
    _, out, rc = paths
    deadline = time.monotonic() + timeout
    while not os.path.exists(rc):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the shared test subprocess {name!r} did not finish within {timeout} s")
        time.sleep(0.2)
    with open(rc) as f, open(out) as g:
        return int(f.read()), g.read()
