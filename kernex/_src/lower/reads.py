"""kscan's read analysis: which window cells each registered function actually reads.

Every function is replayed by the stencil interpreter on a probe context with
one window (``Layout`` of one position) and no unroll limit; the context records
every window offset whose data reaches an output (dead code is skipped, and an
output that is a cell itself counts once it is materialised). This is sound
because every read of window data goes through the context (``interp/context.py``).

Offsets are window cells (``0 .. k-1`` per axis), whatever the dilation: the
probe window is the ``k`` cells themselves, side by side, and ``plan.py``
turns a read of cell ``j`` into ``(j - center) * dilation`` input cells from
the anchor.
"""

from __future__ import annotations

from typing import Sequence

import jax
import numpy as np

from kernex._src.interp.context import SliceContext
from kernex._src.interp.evaluate import evaluate
from kernex._src.interp.values import window_grid
from kernex._src.window.geometry import Geometry, Layout

__all__ = ["read_offsets"]


def read_offsets(jaxprs: Sequence, geometry: Geometry, relative: bool, dtype) -> set[tuple[int, ...]]:
    """Window-cell offsets that reach the output of any of the traced functions."""
    reads: set[tuple[int, ...]] = set()
    layout = Layout((0,) * geometry.ndim, (1,) * geometry.ndim, (1,) * geometry.ndim)

    def probe(window):
        patch = window_grid(window, geometry, relative)
        for closed in jaxprs:
            ctx = SliceContext(layout, unroll_limit=np.iinfo(np.int32).max)
            (out,) = evaluate(closed.jaxpr, closed.consts, [patch], ctx)
            ctx.dense(out)  # an output that is a cell itself is only read when materialised
            reads.update(ctx.reads)
        return 0

    jax.eval_shape(probe, jax.ShapeDtypeStruct(geometry.kernel, dtype))
    return reads
