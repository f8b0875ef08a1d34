"""Per-primitive rules of the stencil interpreter, one module per family.

:data:`RULES` maps each :class:`jax.extend.core.Primitive` with a rule to it;
primitives without one go to the ``vmap`` fallback of ``interp/evaluate.py``.

* ``elementwise.py`` - maths on whole ``out_shape`` arrays (and the source-level
  and lazy-weight shortcuts for large windows);
* ``structural.py`` - slicing, reshapes, padding, static gathers: entries move, no code;
* ``reductions.py`` - sums/max/min/... over window elements, cumulative ops;
* ``contractions.py`` - ``dot_general``;
* ``custom.py`` - ``custom_jvp_call``/``custom_vjp_call``: the primal replayed on
  slices, wrapped so that the function's own derivative rule is kept.
"""

from kernex._src.interp.rules import contractions, custom, elementwise, reductions, structural

__all__ = ["RULES"]

RULES = {**elementwise.RULES, **structural.RULES, **reductions.RULES, **contractions.RULES, **custom.RULES}
