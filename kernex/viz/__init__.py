"""Keras-like introspection of ``@treeclass`` models: text by default, images via Graphviz or matplotlib.

* :func:`summary` - table of layers with parameter counts, sizes, config and
  (with ``array``) output shapes, then totals split into inexact/other;
* :func:`tree_box` - nested boxes with each layer's Input/Output shapes;
* :func:`tree_diagram` - text tree of all fields;
* :func:`tree_mermaid` / :func:`save_viz` - Mermaid chart, files;
* :func:`plot_model` - Graphviz DOT source, written as ``.png``/``.svg``/``.pdf``
  (rendered by Graphviz's ``dot`` when installed, else drawn with matplotlib).

Shapes are found with ``jax.eval_shape`` (nothing is computed) by recording
each child's actual call while ``model(array)`` runs.
"""

from kernex._src.viz.plot import plot_model as plot_model
from kernex._src.viz.summary import summary as summary
from kernex._src.viz.tree_box import tree_box as tree_box
from kernex._src.viz.tree_text import save_viz as save_viz
from kernex._src.viz.tree_text import tree_diagram as tree_diagram
from kernex._src.viz.tree_text import tree_mermaid as tree_mermaid

__all__ = ["plot_model", "save_viz", "summary", "tree_box", "tree_diagram", "tree_mermaid"]
