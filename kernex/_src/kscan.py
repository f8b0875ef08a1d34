"""``kscan``: visit windows in row-major order and write each result into its anchor cell.

The semantics is sequential (SPEC §2.1); the execution is not: ``schedule.py``
proves which groups of windows may be evaluated together, and each group is
evaluated with the same fused interpreter as ``kmap``:

* ``block`` schedules ``lax.scan`` over the leading output axes; one step
  slices the slab of the state its windows read and evaluates all of them as
  strided shifted slices, then writes the anchor row back;
* ``wavefront`` schedules ``lax.scan`` over hyperplanes; one step gathers its
  windows' cells and scatters the results into their anchors.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from kernex._src import interpreter, lowering
from kernex._src.geometry import Geometry, Layout
from kernex._src.kernel import Kernel
from kernex._src.schedule import SCHEDULES, Plan, choose_plan, read_offsets
from kernex._src.stencil_values import Cell, Context, window_grid

__all__ = ["kscan"]


class _Cases:
    """Which function (or "keep the anchor") owns each position, as ``lax.select_n`` case indices.

    ``owners`` holds branch indices (``-1`` = no function); they are renumbered
    to cases over the branches that occur (plus case 0 = keep, if needed).
    """

    def __init__(self, owners: np.ndarray):
        present = np.unique(owners)
        self.keep = bool(present[0] == -1)
        self.branches = [int(b) for b in present if b >= 0]
        lookup = np.zeros(max(self.branches, default=0) + 2, dtype=np.int32)
        for case, b in enumerate(self.branches, start=int(self.keep)):
            lookup[b + 1] = case
        self.table = lookup[owners + 1]

    def select(self, ctx: Context, patch, jaxprs, which, dtype):
        """Evaluate the branches that occur and pick each position's value."""
        cases = []
        if self.keep:
            source = patch.entries.flat[0].source
            cases.append(ctx.cell(Cell(source, tuple((k - 1) // 2 for k in patch.shape))))
        for b in self.branches:
            (out,) = interpreter.evaluate(jaxprs[b].jaxpr, jaxprs[b].consts, [patch], ctx)
            cases.append(ctx.dense(out, dtype))
        if len(cases) == 1:
            return cases[0]
        return lax.select_n(jnp.reshape(which, cases[0].shape), *cases)


def _covers(branch, positions: np.ndarray, axes) -> np.ndarray:
    """Whether ``branch``'s region contains each of ``positions`` (rows of output indices along ``axes``)."""
    mask = np.ones(len(positions), dtype=bool)
    if branch.region is not None:
        for column, axis in enumerate(axes):
            mask &= branch.region[axis].contains(positions[:, column])
    return mask


def _owners(covers: np.ndarray) -> np.ndarray:
    """Latest branch covering each position (``covers`` is branches x positions); -1 = none."""
    owners = np.full(covers.shape[1:], -1, dtype=np.int32)
    for b, mask in enumerate(covers):
        owners[mask] = b
    return owners


def _index_grid(shape) -> np.ndarray:
    """All indices of ``shape`` in row-major order, as rows."""
    return np.indices(shape).reshape(len(shape), int(np.prod(shape))).T


def _recorded(state, geometry: Geometry):
    """The values written, read back from the final state.

    Every anchor is written exactly once, by its own window, and never again,
    so the recorded outputs are the final state's anchor cells. (Returning them
    as ``lax.scan`` outputs instead makes XLA copy the whole state every step.)
    """
    start = geometry.first_anchor
    limit = [st + (n - 1) * s + 1 for st, n, s in zip(start, geometry.out_shape, geometry.strides)]
    return lax.slice(state, start, limit, geometry.strides)


def _run_block(x, geometry: Geometry, plan: Plan, branches, jaxprs, relative):
    g, m = geometry, plan.lead
    ndim = g.ndim
    lead_out, trail_out = g.out_shape[:m], g.out_shape[m:]
    slab_shape = g.kernel[:m] + g.state_shape[m:]
    layout = Layout((0,) * m + g.origin[m:], (1,) * m + trail_out, (1,) * m + g.strides[m:])
    row_shape = (1,) * m + g.state_shape[m:]
    first_anchor = g.first_anchor[m:]
    placement = [(0, 0, 0)] * m + [
        (a, n - a - ((k - 1) * s + 1), s - 1) for a, n, k, s in zip(first_anchor, g.state_shape[m:], trail_out, g.strides[m:])
    ]
    anchor_row = np.zeros(row_shape, dtype=bool)
    anchor_row[(0,) * m + tuple(slice(a, a + (k - 1) * s + 1, s) for a, k, s in zip(first_anchor, trail_out, g.strides[m:]))] = True
    # owners factor into (which branches cover the leading position) x (trailing positions)
    lead, trail = _index_grid(lead_out), _index_grid(trail_out)
    lead_cover = np.stack([_covers(b, lead, range(m)) for b in branches], axis=1)
    patterns, step_pattern = np.unique(lead_cover, axis=0, return_inverse=True)
    trail_cover = np.stack([_covers(b, trail, range(m, ndim)) for b in branches])
    cases = _Cases(np.stack([_owners(trail_cover & pattern[:, None]) for pattern in patterns]))
    table = jnp.asarray(cases.table.reshape((len(patterns),) + (1,) * m + trail_out))
    starts = np.asarray(g.origin[:m], np.int32) + lead.astype(np.int32) * np.asarray(g.strides[:m], np.int32)
    zero = jnp.zeros((), x.dtype)
    contiguous = all(s == 1 for s in g.strides[m:])

    def step(state, xs):
        start, pattern = xs
        corner = tuple(start) + (0,) * (ndim - m)
        slab = lax.dynamic_slice(state, corner, slab_shape) if m else state
        ctx = Context(layout, lowering.UNROLL_LIMIT)
        which = table[0] if len(patterns) == 1 else lax.dynamic_index_in_dim(table, pattern, keepdims=False)
        value = cases.select(ctx, window_grid(slab, g, relative), jaxprs, which, x.dtype)
        anchor = tuple(s + c for s, c in zip(start, g.center[:m]))
        if contiguous:  # the anchors of a block form a box: write the values straight in
            return lax.dynamic_update_slice(state, value, anchor + tuple(first_anchor)), None
        row = lax.dynamic_slice(state, anchor + (0,) * (ndim - m), row_shape) if m else state
        new_row = jnp.where(anchor_row, lax.pad(value, zero, placement), row)
        return (lax.dynamic_update_slice(state, new_row, anchor + (0,) * (ndim - m)) if m else new_row), None

    state = lowering.pad_state(x, g)
    if m == 0:
        state, _ = step(state, ((), 0))
    else:
        xs = (jnp.asarray(starts), jnp.asarray(step_pattern.reshape(-1).astype(np.int32)))
        state, _ = lax.scan(step, state, xs)
    return _recorded(state, g)


class _GatherContext(Context):
    """Windows at arbitrary (traced) state positions: cells are gathered, not sliced."""

    def __init__(self, starts: jax.Array, ndim: int):
        width = starts.shape[0]
        super().__init__(Layout((0,) * ndim, (width,), (1,) * ndim), lowering.UNROLL_LIMIT)
        self._starts = starts

    def cell(self, cell: Cell) -> jax.Array:
        key = (id(cell.source), cell.offset)
        if key not in self._slices:
            self.reads.add(cell.offset)
            offset = np.asarray(cell.offset) - np.asarray(cell.source.shift)
            index = self._starts + jnp.asarray(offset, self._starts.dtype)[None, :]
            gathered = cell.source.base[tuple(index[:, d] for d in range(index.shape[1]))]
            self._slices[key] = (cell.source.read(gathered), cell.source)
        return self._slices[key][0]

    def region(self, source, corner, shape):
        return None  # large-window plans need slices; they fall back to per-window evaluation

    def materialize(self, source, transform, corner, shape):
        return None  # windows are scattered: evaluate per window instead


def _run_wavefront(x, geometry: Geometry, plan: Plan, branches, jaxprs, relative):
    g = geometry
    positions = _index_grid(g.out_shape)
    level = positions @ np.asarray(plan.pi, np.int64)
    level -= level.min()
    order = np.argsort(level, kind="stable")
    counts = np.bincount(level)
    width = int(counts.max())
    slot = np.empty(len(positions), dtype=np.int64)
    slot[order] = np.arange(len(positions)) - np.repeat(np.cumsum(counts) - counts, counts)
    table = np.zeros((len(counts), width), dtype=np.int64)
    valid = np.zeros((len(counts), width), dtype=bool)
    table[level, slot], valid[level, slot] = np.arange(len(positions)), True
    pos = positions[table]
    starts = (np.asarray(g.origin) + pos * np.asarray(g.strides)).astype(np.int32)
    anchors = np.where(valid[..., None], starts + np.asarray(g.center), np.asarray(g.state_shape)).astype(np.int32)
    covers = np.stack([_covers(b, pos.reshape(-1, g.ndim), range(g.ndim)).reshape(valid.shape) & valid for b in branches])
    cases = _Cases(_owners(covers))

    def step(state, xs):
        start, anchor, which = xs
        ctx = _GatherContext(start, g.ndim)
        value = cases.select(ctx, window_grid(state, g, relative), jaxprs, which, x.dtype)
        return state.at[tuple(anchor[:, d] for d in range(g.ndim))].set(value, mode="drop"), None

    xs = (jnp.asarray(starts), jnp.asarray(anchors), jnp.asarray(cases.table))
    state, _ = lax.scan(step, lowering.pad_state(x, g), xs)
    return _recorded(state, g)


def kscan_lower(x, geometry: Geometry, branches, relative: bool, schedule: str, args: tuple, kwargs: dict):
    """Trace the functions, prove a schedule, run it."""
    spec = lowering.patch_spec(x, geometry)
    jaxprs, shape, _ = lowering.trace_branches(branches, spec, args, kwargs, "kscan")
    if shape != ():
        raise ValueError(
            f"kscan writes each result into one cell, so window functions must return a scalar; got shape {shape}."
        )
    plan = choose_plan(geometry, read_offsets(jaxprs, geometry, relative, x.dtype), schedule)
    run = _run_wavefront if plan.kind == "wavefront" else _run_block
    return run(x, geometry, plan, branches, jaxprs, relative)


class kscan(Kernel):
    """Sequential, in-place windowed update (a stencil ``lax.scan``).

    Takes the same arguments and calling conventions as :class:`kmap`. Windows
    are visited one at a time in row-major order; each function value is cast
    to the input dtype, written into the window's anchor cell of a zero-padded
    copy of the input, and recorded, so later windows see earlier writes.
    Positions owned by no function keep their current value. The result has
    the output shape of :class:`kmap` and the input dtype.

    Args:
        schedule: how the sequential semantics is executed, always with the same
            result: ``'auto'`` (default) picks the cheapest exact one;
            ``'parallel'`` (all windows at once, when no window reads an earlier
            write), ``'rows'`` (one ``lax.scan`` step per row of the first axis,
            e.g. explicit time stepping), ``'wavefront'`` (diagonal hyperplanes,
            e.g. Gauss-Seidel sweeps), ``'sequential'`` (one window per step,
            always exact). Asking for a schedule that would change the result
            raises ``ValueError``.

    >>> import jax.numpy as jnp
    >>> import kernex
    >>> @kernex.kscan(kernel_size=3, padding="same")
    ... def running(x):
    ...     return jnp.sum(x)
    >>> running(jnp.array([1, 2, 3, 4, 5])).tolist()
    [3, 8, 15, 24, 29]
    """

    _name = "kscan"

    def __init__(self, kernel_size=1, strides=1, padding=0, relative=False, named_axis=None, schedule="auto"):
        super().__init__(kernel_size, strides, padding, relative, named_axis)
        if schedule not in SCHEDULES:
            raise ValueError(f"`schedule` must be one of {SCHEDULES}; got {schedule!r}.")
        self.schedule = schedule

    def _extra_config(self) -> dict:
        return {"schedule": self.schedule}

    def _lower(self, array, geometry, branches, args, kwargs):
        return kscan_lower(array, geometry, branches, self.relative, self.schedule, args, kwargs)
