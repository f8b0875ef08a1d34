"""Fixtures shared by the tests of the lowering internals."""

import pytest

from kernex._src.interp import evaluate as interpreter


@pytest.fixture
def fallback_log(monkeypatch):
    """Names of the primitives the stencil interpreter evaluates with its vmap fallback (in order)."""
    log: list[str] = []
    original = interpreter.fallback

    def spy(ctx, eqn, values):
        log.append(eqn.primitive.name)
        return original(ctx, eqn, values)

    monkeypatch.setattr(interpreter, "fallback", spy)
    return log
