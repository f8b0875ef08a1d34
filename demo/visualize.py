"""``make demo`` section: Keras-like views of the trained seed model with ``kernex.viz``.

``run(out_dir)`` reuses the regression section's trained ``StackedLinear``
(``demo.regression.train`` caches it), prints ``summary(model)``,
``tree_box(model, array=x)`` and ``tree_diagram(model)``, and draws the model
with ``plot_model`` into ``out_dir / "model.png"`` - rendered by Graphviz's
``dot`` when it is installed (Debian: ``apt-get install graphviz``), else drawn
with matplotlib - and writes its DOT source to ``out_dir / "model.dot"``.
"""

from __future__ import annotations

import pathlib
import shutil

import kernex
from demo.regression import train

__all__ = ["run"]


def run(out_dir: pathlib.Path) -> None:
    model, x, *_ = train()

    print(">>> print(kernex.viz.summary(model))")
    print(kernex.viz.summary(model))
    print()
    print(">>> print(kernex.viz.tree_box(model, array=x))")
    print("# using jax.eval_shape (no-flops operation)")
    print(kernex.viz.tree_box(model, array=x))
    print()
    print(">>> print(kernex.viz.tree_diagram(model))")
    print(kernex.viz.tree_diagram(model))
    print()

    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    renderer = "Graphviz's dot" if shutil.which("dot") else "matplotlib (Graphviz's `dot` is not installed)"
    for path in (out_dir / "model.png", out_dir / "model.dot"):
        kernex.viz.plot_model(model, to_file=path, array=x)
        print(f"visualize: wrote {path}" + (f", drawn with {renderer}" if path.suffix == ".png" else ""))


if __name__ == "__main__":
    run(pathlib.Path("out"))
