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


def read_offsets(jaxprs: Sequence, geometry: Geometry, relative: bool, dtypes) -> set[tuple[int, ...]]:
    """Window-cell offsets that reach an output of any of the traced functions (of any field: one
    dtype per field in ``dtypes``, or a single dtype)."""
    reads: set[tuple[int, ...]] = set()
    layout = Layout((0,) * geometry.ndim, (1,) * geometry.ndim, (1,) * geometry.ndim)
    dtypes = list(dtypes) if isinstance(dtypes, (list, tuple)) else [dtypes]

    def probe(windows):
        patches = [window_grid(window, geometry, relative) for window in windows]
        for closed in jaxprs:
            ctx = SliceContext(layout, unroll_limit=np.iinfo(np.int32).max)
            for out in evaluate(closed.jaxpr, closed.consts, patches, ctx):
                ctx.dense(out)  # an output that is a cell itself is only read when materialised
            reads.update(ctx.reads)
        return 0

    jax.eval_shape(probe, [jax.ShapeDtypeStruct(geometry.kernel, dtype) for dtype in dtypes])
    return reads
