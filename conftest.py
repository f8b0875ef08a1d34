"""Test configuration shared by tests/ and the doctests in kernex/."""

import os

# The suite checks values, not speed: XLA's backend optimisations cost a third of its time in
# compilation. `make bench` and users keep the default level.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()

import jax  # noqa: E402
import pytest  # noqa: E402

# Implicit rank promotion hides shape bugs in stencil code; make it an error in tests.
jax.config.update("jax_numpy_rank_promotion", "raise")


def pytest_collection_modifyitems(config, items):
    """Tests marked ``long`` run in ``make test-long`` (``KERNEX_LONG=1``) only: ``make test`` stays
    within its time budget on a 2-core machine."""
    if os.environ.get("KERNEX_LONG") == "1":
        return
    skip = pytest.mark.skip(reason="long variant: run `make test-long` (KERNEX_LONG=1)")
    for item in items:
        if "long" in item.keywords:
            item.add_marker(skip)
