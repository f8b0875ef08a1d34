"""kscan's block schedules: ``lax.scan`` over the leading output axes, the rest at once.

``block(m)`` scans over the first ``m`` output axes (``m = 0`` is 'parallel',
``1`` is 'rows', ``ndim`` is 'sequential'). One step slices the slab of the
state its windows read, evaluates all of them with the stencil interpreter on a
:class:`~kernex._src.interp.context.SliceContext` (strided shifted slices, like
kmap), and writes the anchor row back. ``lower/plan.py`` proves the schedule
exact before it runs.

**Invariant:** every start index of a dynamic slice or update is an
``int32`` (:data:`INDEX_DTYPE`), traced or not. Python ints would become
``int64`` under ``jax_enable_x64`` and ``lax.dynamic_slice`` rejects index
tuples of mixed integer types.
"""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np
from jax import lax

from kernex._src import config
from kernex._src.interp.context import SliceContext
from kernex._src.interp.values import window_grid
from kernex._src.lower.cases import Cases, covers, index_grid, owners, partly_owned
from kernex._src.lower.kmap import place, region_layout
from kernex._src.lower.plan import Plan
from kernex._src.window.regions import Progression
from kernex._src.window.frame import Frame, extend_axis, physical_state, take_rows
from kernex._src.window.geometry import Geometry, Layout, extent

__all__ = ["run_block", "recorded", "fully_owned", "INDEX_DTYPE"]

# the one integer type of every index this schedule computes (x64 or not)
INDEX_DTYPE = np.int32


def _indices(values) -> tuple:
    """Static start indices as ``INDEX_DTYPE`` scalars, so they match traced ``int32`` ones under x64."""
    return tuple(INDEX_DTYPE(v) for v in values)


def recorded(state, geometry: Geometry, frame: Frame):
    """The values written, read back from the final (stored) state.

    Every anchor is written exactly once, by its own window, and never again,
    so the recorded outputs are the final state's anchor cells. (Returning them
    as ``lax.scan`` outputs instead makes XLA copy the whole state every step.)
    """
    start = [a - c for a, c in zip(geometry.first_anchor, frame.shift)]
    limit = [st + extent(n, s) for st, n, s in zip(start, geometry.out_shape, geometry.strides)]
    return lax.slice(state, start, limit, geometry.strides)


def _slab(state, start, geometry: Geometry, frame: Frame, m: int):
    """What the windows of one block read: a window's extent on the ``m`` scanned axes (from ``start``,
    state coordinates), every state coordinate on the others; virtual cells read their input cells now."""
    if not any(frame.mapped):
        shape = geometry.spans[:m] + geometry.state_shape[m:]  # dilated cells
        return lax.dynamic_slice(state, tuple(start) + _indices((0,) * (geometry.ndim - m)), shape) if m else state
    for axis in range(m):
        state = take_rows(state, axis, frame, start[axis], geometry.spans[axis])
    for axis in range(m, geometry.ndim):
        state = extend_axis(state, axis, frame)
    return state


def _select_pattern(cases: Cases, only: set, ctx, patches, jaxprs, which, dtypes, restricted):
    return cases.select(ctx, patches, jaxprs, which, dtypes, only=only, restricted=restricted)


def fully_owned(cases: Cases, region, m: int, branch: int, trail_shape: tuple[int, ...]) -> bool:
    """Whether ``branch`` owns every position of ``region`` on the trailing axes ``m..`` (the leading
    ones are ignored) in every step whose pattern selects it; ``cases.table`` holds, per pattern, the
    trailing positions of ``trail_shape`` flattened."""
    trailing = tuple(slice(p.first, p.first + p.step * (p.count - 1) + 1, p.step) for p in region[m:])
    case = cases.case_of(branch)
    table = cases.table.reshape((len(cases.table),) + tuple(trail_shape))
    selected_steps = np.any((cases.table == case).reshape(len(table), -1), axis=1)
    return bool(np.all(table[(slice(None),) + trailing][selected_steps] == case))


def _restricted(layout: Layout, region, m: int, cases: Cases, branch: int, fully: bool | None = None):
    """``(context, place, owned)`` evaluating a function on the windows of a block its region selects;
    ``owned(which)`` masks those it owns there (None when it owns all of them in every step: a later
    assignment overlapping its region makes the rest run on guarded inputs, ``lower/guard.py``).
    ``fully`` overrides that test (a sharded kscan decides it over the whole state)."""
    out_shape = layout.out_shape
    if region is None:
        region = tuple(Progression(0, 1, n) for n in out_shape)
    region = (Progression(0, 1, 1),) * m + tuple(region[m:])
    sub = region_layout(layout, region)
    starts = [p.first for p in region]
    limits = [p.first + p.step * (p.count - 1) + 1 for p in region]
    steps = [p.step for p in region]
    case = cases.case_of(branch)
    fully = fully_owned(cases, region, m, branch, out_shape[m:]) if fully is None else fully

    def owned(which):
        return None if fully else lax.slice(jnp.reshape(which, out_shape), starts, limits, steps) == case

    return (
        lambda: SliceContext(sub, config.UNROLL_LIMIT),
        lambda piece: place(jnp.zeros(out_shape + piece.shape[len(out_shape):], piece.dtype), piece, region, out_shape),
        owned,
    )


def run_block(
    fields: list, geometry: Geometry, plan: Plan, branches, jaxprs, relative, frame: Frame, shard=None
) -> list:  # fmt: skip
    """Run ``block(plan.lead)`` on the fields (equally shaped arrays updated together); the recorded
    outputs, one array per field.

    ``shard`` (``None`` on one device) is one shard's share of a sharded kscan
    (``kernex._src.shard.kscan.ScanShard``): ``fields`` are then the shard's blocks, ``geometry`` and
    ``frame`` those of the block with its halos, owners are read in global positions
    (``shard.global_out``, ``shard.table``, ``shard.restricted``), ``shard.states`` builds the initial
    local states and ``shard.refresh`` brings the halo of every written row up to date.
    """
    g, m = geometry, plan.lead
    ndim = g.ndim
    lead_out, trail_out = g.out_shape[:m], g.out_shape[m:]
    layout = Layout((0,) * m + g.origin[m:], (1,) * m + trail_out, (1,) * m + g.strides[m:], g.dilation)
    row_shape = (1,) * m + frame.shape[m:]  # stored cells
    first_anchor = tuple(a - c for a, c in zip(g.first_anchor[m:], frame.shift[m:]))
    lead_shift = np.asarray(g.anchor_shift[:m], INDEX_DTYPE) - np.asarray(frame.shift[:m], INDEX_DTYPE)
    placement = [(0, 0, 0)] * m + [
        (a, n - a - extent(k, s), s - 1) for a, n, k, s in zip(first_anchor, frame.shape[m:], trail_out, g.strides[m:])
    ]
    anchor_row = np.zeros(row_shape, dtype=bool)
    anchor_row[(0,) * m + tuple(slice(a, a + extent(k, s), s) for a, k, s in zip(first_anchor, trail_out, g.strides[m:]))] = True
    # owners factor into (which branches cover the leading position) x (trailing positions)
    trail_owned = trail_out if shard is None else tuple(shard.global_out[m:])  # owners in global positions
    lead, trail = index_grid(lead_out), index_grid(trail_owned)
    lead_cover = np.stack([covers(b, lead, range(m)) for b in branches], axis=1)
    patterns, step_pattern = np.unique(lead_cover, axis=0, return_inverse=True)
    trail_cover = np.stack([covers(b, trail, range(m, ndim)) for b in branches])
    cases = Cases(np.stack([owners(trail_cover & pattern[:, None]) for pattern in patterns]))
    table = jnp.asarray(cases.table.reshape((len(patterns),) + (1,) * m + trail_owned))
    if shard is not None:
        table = shard.table(table)  # this shard's positions
    starts = np.asarray(g.origin[:m], INDEX_DTYPE) + lead.astype(INDEX_DTYPE) * np.asarray(g.strides[:m], INDEX_DTYPE)
    trail_zeros, trail_anchor = _indices((0,) * (ndim - m)), _indices(first_anchor)
    contiguous = all(s == 1 for s in g.strides[m:])

    def write(state, value, anchor):
        if contiguous:  # the anchors of a block form a box: write the values straight in
            return lax.dynamic_update_slice(state, value, anchor + trail_anchor)
        row = lax.dynamic_slice(state, anchor + trail_zeros, row_shape) if m else state
        new_row = jnp.where(anchor_row, lax.pad(value, jnp.zeros((), state.dtype), placement), row)
        return lax.dynamic_update_slice(state, new_row, anchor + trail_zeros) if m else new_row

    restrict = _restricted if shard is None else shard.restricted
    restricted = {b: restrict(layout, branches[b].region, m, cases, b) for b in partly_owned(cases, jaxprs, branches)}
    if restricted and len(patterns) > 1:  # each step evaluates only the functions its pattern selects
        selects = [
            functools.partial(_select_pattern, cases, {b for b in cases.branches if cases.owned(b, cases.table[k])})
            for k in range(len(patterns))
        ]
    else:
        selects = None

    def step(states, xs):
        start, pattern = xs
        patches = [window_grid(_slab(state, start, g, frame, m), g, relative) for state in states]
        ctx = SliceContext(layout, config.UNROLL_LIMIT)
        which = table[0] if len(patterns) == 1 else lax.dynamic_index_in_dim(table, pattern, keepdims=False)
        dtypes = [state.dtype for state in states]
        if selects is None:
            values = cases.select(ctx, patches, jaxprs, which, dtypes, restricted=restricted)
        else:
            # a context per case: its cached slices belong to that case's trace
            run = [
                lambda which, f=f: f(SliceContext(layout, config.UNROLL_LIMIT), patches, jaxprs, which, dtypes, restricted)
                for f in selects
            ]
            values = lax.switch(pattern, run, which)
        anchor = tuple(s + c for s, c in zip(start, lead_shift))  # stored coordinates
        states = tuple(write(state, value, anchor) for state, value in zip(states, values))
        if shard is not None and m:  # the neighbours' copies of the row just written
            states = shard.refresh(states, anchor)
        return states, None

    states = tuple(physical_state(x, g, frame) for x in fields) if shard is None else shard.states(fields)
    if m == 0:
        states, _ = step(states, ((), 0))
    else:
        xs = (jnp.asarray(starts), jnp.asarray(step_pattern.reshape(-1).astype(INDEX_DTYPE)))
        states, _ = lax.scan(step, states, xs)
    return [recorded(state, g, frame) for state in states]
