"""kscan's lowering: trace the functions, prove a schedule, run it.

The semantics is sequential (``docs/semantics.md``); the execution is not:
``reads.py`` finds the cells the functions read, ``plan.py`` proves which
groups of windows may run together, and ``block.py`` / ``wavefront.py`` run
them with the same interpreter as kmap.
"""

from __future__ import annotations

import jax

from kernex._src.interp.bind import match_varying
from kernex._src.lower.block import run_block
from kernex._src.lower.plan import choose_plan
from kernex._src.lower.reads import read_offsets
from kernex._src.lower.trace import patch_spec, trace_branches
from kernex._src.lower.wavefront import run_wavefront
from kernex._src.window.boundary import Boundary
from kernex._src.window.frame import resolve_frame
from kernex._src.window.geometry import Geometry

__all__ = ["kscan_lower"]


def kscan_lower(x, geometry: Geometry, branches, relative: bool, schedule: str, args: tuple, kwargs: dict, boundary: Boundary):
    """Trace the functions, prove a schedule, run it (reads through ``boundary`` see the live state)."""
    if not isinstance(x, jax.Array):
        raise TypeError(
            f"kscan updates one array in place; got a {type(x).__name__} of arrays. Several coupled fields "
            f"in one kscan are not supported yet: stack them on a leading axis, or use kmap, which takes a "
            f"pytree of fields."
        )
    spec = patch_spec(x, geometry)
    jaxprs, shape, _ = trace_branches(branches, spec, args, kwargs, "kscan")
    if shape != ():
        raise ValueError(
            f"kscan writes each result into one cell, so window functions must return a scalar; got shape {shape}."
        )
    # inside shard_map the state varies wherever what the functions close over does (a loop carry's type)
    x = match_varying([x, *(c for closed in jaxprs for c in closed.consts)])[0]
    frame = resolve_frame(geometry, boundary)
    plan = choose_plan(geometry, read_offsets(jaxprs, geometry, relative, x.dtype), schedule, frame)
    run = run_wavefront if plan.kind == "wavefront" else run_block
    return run(x, geometry, plan, branches, jaxprs, relative, frame)
