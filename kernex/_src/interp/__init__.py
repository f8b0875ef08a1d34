"""The stencil interpreter: a window function's jaxpr replayed on all windows at once.

* ``values.py`` - what a jaxpr variable is bound to (Uniform, Grid of lazy cells, Dense);
* ``context.py`` - the ``Context`` contract, the only door to window data;
* ``evaluate.py`` - the evaluation loop and the ``vmap`` fallback;
* ``bind.py`` - applying an equation's primitive to new inputs;
* ``primitives.py`` - the ``Primitive`` objects the rule tables are keyed by;
* ``rules/`` - per-primitive rules, one module per family;
* ``large_windows.py`` - plans for reductions over windows too large to unroll.
"""
