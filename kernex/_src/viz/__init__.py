"""Implementation of :mod:`kernex.viz` (behaviour: docs/viz.md), one concept per module.

* ``model_walk`` - argument checks and walking a treeclass model (fields, layers, labels);
* ``call_shapes`` - per-child input/output shapes, recorded under ``jax.eval_shape``;
* ``summary`` - the box table and the parameter/size summary;
* ``tree_box`` - the nested Keras-like box view;
* ``tree_text`` - ``tree_diagram``, ``tree_mermaid`` and ``save_viz``;
* ``plot`` - ``plot_model``: Graphviz DOT source and rendered images.
"""
