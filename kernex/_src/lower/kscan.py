"""kscan's lowering: trace the functions, prove a schedule, run it.

The semantics is sequential (``docs/semantics.md``); the execution is not:
``reads.py`` finds the cells the functions read, ``plan.py`` proves which
groups of windows may run together, and ``block.py`` / ``wavefront.py`` run
them with the same interpreter as kmap.
"""

from __future__ import annotations

import jax
import numpy as np

from kernex._src.interp.bind import match_varying
from kernex._src.lower.block import run_block
from kernex._src.lower.cases import Cases, covers, index_grid, owners, partly_owned
from kernex._src.lower.plan import Plan, block_conflict, choose_plan
from kernex._src.lower.reads import read_offsets
from kernex._src.lower.trace import patch_spec, trace_tree_branches
from kernex._src.lower.wavefront import run_wavefront
from kernex._src.window.boundary import Boundary
from kernex._src.window.frame import resolve_frame
from kernex._src.window.geometry import Geometry

__all__ = ["kscan_lower"]


def kscan_lower(
    x, geometry: Geometry, branches, relative: bool, schedule: str, args: tuple, kwargs: dict, boundary: Boundary,
    shard=None,
):  # fmt: skip
    """Trace the functions, prove a schedule, run it (reads through ``boundary`` see the live state).

    ``x`` is one array or a pytree of equally shaped fields updated together: the functions get the
    same structure of windows and return the same structure of scalars, one per field's anchor.

    ``shard`` (``None`` on one device; inside ``jax.shard_map``, ``kernex._src.shard.kscan``): ``x`` is one
    shard's block of a split state; the schedule is proved on the whole state (``geometry``), then
    ``shard.prepare`` refuses one that scans a split axis and gives the block's geometry and frame.
    """
    fields, tree = jax.tree_util.tree_flatten(x)
    spec = patch_spec(x, geometry)
    jaxprs, out_tree, shapes, _ = trace_tree_branches(branches, spec, args, kwargs, "kscan")
    if out_tree != tree or any(shape != () for shape in shapes):
        name = repr(getattr(branches[0].fn, "__name__", branches[0].fn))
        if len(fields) == 1:
            got = f"shape {shapes[0]}" if out_tree == tree else f"{out_tree} with leaf shapes {shapes}"
            raise ValueError(
                f"kscan writes each result into one cell, so window functions must return a scalar; {name} "
                f"returned {got}. (A pytree of fields as the state takes one scalar per field.)"
            )
        raise ValueError(
            f"kscan updates the fields {tree} together, so window functions must return the same structure with "
            f"a scalar per field (each written into that field's anchor cell); {name} returned {out_tree} with "
            f"leaf shapes {shapes}."
        )
    # inside shard_map the state varies wherever what the functions close over does (a loop carry's type)
    consts = [c for closed in jaxprs for c in closed.consts]
    fields = [match_varying([field, *consts])[0] for field in fields]
    frame = resolve_frame(geometry, boundary)
    reads = read_offsets(jaxprs, geometry, relative, [field.dtype for field in fields])
    plan = choose_plan(geometry, reads, schedule, frame)
    if plan.kind == "wavefront" and shard is not None and schedule == "auto":  # never across split axes
        lead = next(m for m in range(geometry.ndim + 1) if block_conflict(geometry, reads, m, frame) is None)
        plan = Plan("block", geometry.ndim, lead)
    if plan.kind == "wavefront" and _partly_owned(geometry, branches, jaxprs):
        if schedule == "wavefront":
            raise ValueError(
                "kscan schedule='wavefront' cannot restrict a function assigned by index to the windows it owns "
                "(a hyperplane gathers windows of every region), and a function whose derivative may be infinite "
                "(sqrt, log, division, ...) must not run where it is not selected, or gradients turn NaN. Use "
                "schedule='auto' or a block schedule ('sequential', 'rows')."
            )
        lead = next(m for m in range(geometry.ndim + 1) if block_conflict(geometry, reads, m, frame) is None)
        plan = Plan("block", geometry.ndim, lead)  # 'auto': the cheapest exact block schedule instead
    if shard is not None:  # the block with its halos; the halos follow every written row
        local, local_frame, shard = shard.prepare(plan, schedule, reads)
        return jax.tree_util.tree_unflatten(
            tree, run_block(fields, local, plan, branches, jaxprs, relative, local_frame, shard=shard)
        )
    run = run_wavefront if plan.kind == "wavefront" else run_block
    return jax.tree_util.tree_unflatten(tree, run(fields, geometry, plan, branches, jaxprs, relative, frame))


def _partly_owned(geometry: Geometry, branches, jaxprs) -> list[int]:
    """The functions by index that must run on their own windows only (``cases.partly_owned``)."""
    positions = index_grid(geometry.out_shape)
    cover = np.stack([covers(b, positions, range(geometry.ndim)) for b in branches])
    return partly_owned(Cases(owners(cover)), jaxprs, branches)
