"""Execution orders that reproduce ``kscan``'s sequential semantics exactly.

``kscan`` is defined cell by cell in row-major order (``docs/semantics.md``): each window
reads the current state and writes its anchor cell. Evaluating *groups* of
windows one after another, each group at once from the state the previous
groups left, gives the same result iff every cell a window reads that an
earlier window (in row-major order) writes is written by an earlier group, and
every cell it reads that a later window writes is written by the same or a
later group. Both follow from the window offsets the functions actually read:

* ``lower/reads.py`` replays every registered function and records which
  window cells reach its output (dead code removed);
* a read of window cell ``j`` from the window at position ``p`` hits the
  anchor of position ``p + q`` where ``q = (j - center) * dilation / strides``
  (the read cell is ``(j - center) * dilation`` input cells from the anchor;
  it is an anchor when that division is exact and ``p + q`` exists).

Schedules, all exact:

* ``block(m)``: scan over the first ``m`` output axes, all positions of the
  remaining axes at once. ``m = 0`` is ``'parallel'`` (one pass),
  ``m = 1`` is ``'rows'`` (the seed's explicit time stepping), ``m = ndim`` is
  ``'sequential'`` (one window per step, always valid).
* ``wavefront(pi)``: positions grouped by the hyperplane ``pi · p``; valid when
  every write a window must see lies on an earlier hyperplane and every write
  it must not see lies on the same or a later one (Gauss-Seidel sweeps).
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Sequence

import jax
import numpy as np

from kernex._src import config
from kernex._src.window.frame import Frame
from kernex._src.window.geometry import Geometry

__all__ = ["SCHEDULES", "Plan", "block_conflict", "wavefront", "choose_plan"]

SCHEDULES = ("auto", "parallel", "rows", "wavefront", "sequential")


@dataclasses.dataclass(frozen=True)
class Plan:
    """A chosen schedule: ``'block'`` scanning the first ``lead`` of ``ndim`` output axes, or ``'wavefront'``."""

    kind: str
    ndim: int
    lead: int = 0
    pi: tuple[int, ...] = ()

    @property
    def name(self) -> str:
        if self.kind == "wavefront":
            return "wavefront"
        if self.lead == self.ndim:
            return "sequential"
        return {0: "parallel", 1: "rows"}.get(self.lead, f"scan over the first {self.lead} axes")


def _axis_steps(geometry: Geometry, axis: int, displacement: int, frame: Frame | None) -> list[int]:
    """Every ``w - p`` along ``axis`` where the window at ``p`` reads, ``displacement`` state cells from
    its anchor, the cell stored at the anchor of position ``w`` (a virtual cell is the input cell it copies)."""
    s, n_out = geometry.strides[axis], geometry.out_shape[axis]
    p = np.arange(n_out)
    anchors = geometry.first_anchor[axis] + p * s
    shift = 0 if frame is None else frame.shift[axis]
    read = anchors + displacement
    if frame is not None and frame.mapped[axis]:
        read = frame.tables[axis][read]
    else:
        read = read - shift
    rel = read - (geometry.first_anchor[axis] - shift)
    w = rel // s
    ok = (rel % s == 0) & (w >= 0) & (w < n_out)
    return sorted({int(q) for q in (w - p)[ok]})


def _position_steps(geometry: Geometry, reads, frame: Frame | None = None) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """``(q, offset)`` for every read window-cell ``offset`` from the anchor (nonzero) whose cell is
    the anchor of position ``p + q`` for the window at some ``p``: one ``q`` per read away from the
    boundary, more where a ``frame`` maps reads through a boundary onto input cells (a wrapped read
    at the end of a row hits the row's first anchor)."""
    steps = []
    for j in sorted(reads):
        offset = tuple(a - c for a, c in zip(j, geometry.center))
        per_axis = [
            _axis_steps(geometry, axis, t * d, frame) for axis, (t, d) in enumerate(zip(offset, geometry.dilation))
        ]
        steps.extend((q, offset) for q in itertools.product(*per_axis) if any(q))
    return steps


def _lex_negative(q: Sequence[int]) -> bool:
    for qk in q:
        if qk:
            return qk < 0
    return False


def block_conflict(geometry: Geometry, reads, lead: int, frame: Frame | None = None) -> tuple[int, ...] | None:
    """A read window-cell offset (relative to the anchor) that breaks ``block(lead)``, or None if it is exact."""
    for q, offset in _position_steps(geometry, reads, frame):
        if not any(q[:lead]) and _lex_negative(q[lead:]):
            return offset
    return None


def wavefront(geometry: Geometry, reads, frame: Frame | None = None) -> tuple[int, ...]:
    """The valid hyperplane normal with the fewest steps.

    Searched: normals with entries in [-2, 2] (0..2 beyond 3-D), and the
    lexicographic normal ``pi[-1] = 1``, ``pi[d] = 1 + sum(pi[e] * max|q[e]|
    for e > d)``, which is always valid (its first nonzero term outweighs the
    rest), so a wavefront always exists; it is sequential-like when nothing
    better is.
    """
    steps = [q for q, _ in _position_steps(geometry, reads, frame)]
    ndim = geometry.ndim
    lex = [1] * ndim
    for d in range(ndim - 2, -1, -1):
        lex[d] = 1 + sum(lex[e] * max((abs(q[e]) for q in steps), default=0) for e in range(d + 1, ndim))
    values = range(-2, 3) if ndim <= 3 else range(0, 3)
    best, best_count = None, None
    for pi in itertools.chain(itertools.product(values, repeat=ndim), [tuple(lex)]):
        if not any(pi):
            continue
        ok = all((np.dot(pi, q) <= -1) if _lex_negative(q) else (np.dot(pi, q) >= 0) for q in steps)
        # fewest steps; among equals prefer normals without negative entries
        count = (_wavefront_steps(geometry, pi), sum(p < 0 for p in pi))
        if ok and (best_count is None or count < best_count):
            best, best_count = pi, count
    return best


def _wavefront_steps(geometry: Geometry, pi: Sequence[int]) -> int:
    return sum(abs(p) * (n - 1) for p, n in zip(pi, geometry.out_shape)) + 1


def _steps(geometry: Geometry, plan: Plan) -> int:
    if plan.kind == "wavefront":
        return _wavefront_steps(geometry, plan.pi)
    return int(np.prod(geometry.out_shape[: plan.lead]))


def choose_plan(geometry: Geometry, reads, requested: str, frame: Frame | None = None) -> Plan:
    """The schedule for ``requested`` (one of :data:`SCHEDULES`); raises if it would change the result.

    ``frame`` (kscan's stored state under boundary modes) maps reads through a boundary onto the
    input cells they copy, so every schedule also sees wrapped and mirrored reads."""
    ndim = geometry.ndim
    if requested == "sequential":
        return Plan("block", ndim, ndim)
    if requested in ("parallel", "rows"):
        lead = 0 if requested == "parallel" else min(1, ndim)
        bad = block_conflict(geometry, reads, lead, frame)
        if bad is not None:
            scope = "an earlier window" if lead == 0 else "an earlier window of the same row"
            cells = "" if set(geometry.dilation) == {1} else (
                f" (window cells, dilation {geometry.dilation}: "
                f"{tuple(t * d for t, d in zip(bad, geometry.dilation))} input cells away)"
            )
            raise ValueError(
                f"kscan schedule={requested!r} would change the result: a window function reads the cell at "
                f"offset {bad}{cells} from its anchor, which {scope} has already written (the sequential order makes "
                f"later windows see earlier writes). Use schedule='auto' (here: "
                f"{choose_plan(geometry, reads, 'auto', frame).name!r}) or schedule='sequential'."
            )
        return Plan("block", ndim, lead)
    if requested == "wavefront":
        return Plan("wavefront", ndim, pi=wavefront(geometry, reads, frame))
    lead = next(m for m in range(ndim + 1) if block_conflict(geometry, reads, m, frame) is None)
    block = Plan("block", ndim, lead)
    if lead <= 1 or jax.default_backend() == "cpu":
        # on CPU a scan step costs a few nanoseconds, while a wavefront step gathers and
        # scatters its windows: the cell-by-cell block schedule is faster (measured 3-6x)
        return block
    candidate = Plan("wavefront", ndim, pi=wavefront(geometry, reads, frame))
    if config.WAVEFRONT_ADVANTAGE * _steps(geometry, candidate) < _steps(geometry, block):
        return candidate
    return block
