"""The seed's regression example: fit ``y = x**3 + noise`` with a treeclass MLP and plain ``model - lr * grads``.

``run(out_dir)`` trains ``StackedLinear`` (1 -> 128 -> 128 -> 1) for 2000
jitted steps of gradient descent written as tree arithmetic, prints the
initial and final loss, and writes ``out_dir / "regression.png"`` (prediction
vs data).
"""

from __future__ import annotations

import functools
import pathlib

import jax
import jax.numpy as jnp

from demo.models import StackedLinear

__all__ = ["run"]

STEPS = 2000
LEARNING_RATE = 1e-3


def loss_func(model: StackedLinear, x: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean((model(x) - y) ** 2)


@jax.jit
def update(model: StackedLinear, x: jax.Array, y: jax.Array) -> tuple[jax.Array, StackedLinear]:
    value, grads = jax.value_and_grad(loss_func)(model, x, y)
    # no jax.tree_util.tree_map needed: treeclass instances support arithmetic
    return value, model - LEARNING_RATE * grads


@functools.lru_cache(maxsize=None)
def train(steps: int = STEPS) -> tuple[StackedLinear, jax.Array, jax.Array, float, float]:
    """Returns ``(model, x, y, initial_loss, final_loss)`` for the seed's data (cached: the demo trains once)."""
    x = jnp.linspace(0, 1, 100)[:, None]
    y = x**3 + jax.random.uniform(jax.random.PRNGKey(0), (100, 1)) * 0.01
    model = StackedLinear(in_dim=1, out_dim=1, key=jax.random.PRNGKey(0))
    initial = float(loss_func(model, x, y))
    for _ in range(steps):
        _, model = update(model, x, y)
    return model, x, y, initial, float(loss_func(model, x, y))


def run(out_dir: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model, x, y, initial, final = train()
    print(f"regression: loss {initial:.4g} -> {final:.4g} after {STEPS} steps of `model - {LEARNING_RATE} * grads`")

    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "regression.png"
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(x[:, 0], model(x)[:, 0], color="r", s=12, label="Prediction")
    ax.scatter(x[:, 0], y[:, 0], color="k", s=12, label="True")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(f"StackedLinear fit of x³ + noise (MSE {final:.2e})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"regression: wrote {path}")


if __name__ == "__main__":
    run(pathlib.Path("out"))
