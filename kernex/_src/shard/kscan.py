"""kscan on a state split over a mesh: the whole scan inside one ``jax.shard_map``, one halo exchange per step.

:func:`kscan_sharded` runs, per shard, kscan's own lowering (``lower/kscan.py``:
read analysis, schedule proof on the *whole* state, ``lower/block.py``) on the
shard's block extended by its halos, with a :class:`ScanShard` that the block
schedule calls at three points: it builds the initial local states (the block,
its constant sides, the neighbours' cells), reads the owner table in global
positions, and after every ``lax.scan`` step refreshes the halo of the row just
written (one ``ppermute`` per side and split axis, for the cells the windows
read there; ``docs/sharding.md``, "kscan").

Invariants:

* only block schedules whose scanned axes are whole run sharded: ``'parallel'``
  (any axis split; one exchange in all) and ``'rows'`` / block(m) with input axes
  ``0 .. m-1`` unsplit. A schedule that scans a split axis (``'rows'`` with axis 0
  split, ``'sequential'``, ``'wavefront'``) would serialise the devices and is a
  ``ValueError`` naming the axis and the fix;
* every shard writes only anchors in its own block (``padding`` no wider than
  ``'same'`` on split axes, checked), so the stored halo cells are copies: of the
  neighbours' current cells, or on the global edges of the boundary's cells
  (``'wrap'``: the cyclic message; ``'edge'``/``'reflect'``/``'symmetric'``: the
  edge shard's own current cells, the live state of ``docs/boundaries.md``;
  ``'constant'``: cells no window writes, kept as built). After each step they
  equal the single-device state's cells, so values and gradients equal kscan on
  the whole state, and the result is split like the input.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import PartitionSpec

from kernex._src.lower.block import _restricted, fully_owned
from kernex._src.lower.kscan import kscan_lower
from kernex._src.shard.halo import AxisHalo, _send, plan_halos
from kernex._src.shard.kmap import _replicated
from kernex._src.shard.mesh import Split
from kernex._src.shard.positions import Block
from kernex._src.window import boundary as bnd
from kernex._src.window.frame import Frame, physical_state, resolve_frame
from kernex._src.window.geometry import Geometry
from kernex._src.window.regions import Progression

__all__ = ["ScanShard", "kscan_sharded"]


def _check_anchors(geometry: Geometry, split: Split, halos: tuple[AxisHalo, ...]) -> None:
    """Every shard's windows must have their anchors in its own block (their writes are its own cells)."""
    for halo in halos:
        a = halo.axis
        shift, s = geometry.anchor_shift[a] - geometry.padding[a][0], geometry.strides[a]
        if not 0 <= shift < s:
            raise ValueError(
                f"kscan: input axis {a} (length {geometry.shape[a]}) is split over {split.describe(a)}, but with "
                f"padding {geometry.padding[a]} (kernel_size {geometry.kernel[a]}, dilation {geometry.dilation[a]}) "
                f"window o's anchor is input cell {s}*o{shift:+d}, so a shard's windows would write cells of "
                f"another shard's block. Use padding='same' on this axis, or leave it unsplit."
            )


def _refused(plan, schedule: str, split: Split, axis: int) -> ValueError:
    picked = f"schedule={schedule!r}" if schedule == plan.name else f"schedule={schedule!r} (here: {plan.name!r})"
    if plan.kind == "wavefront":
        how = "its hyperplanes cross the split axis, so each step's windows lie on a few shards"
        fix = "Use a block schedule that scans only whole axes ('rows' with axis 0 whole, 'parallel')"
    else:
        scanned = "axis 0" if plan.lead == 1 else f"axes 0..{plan.lead - 1}"
        how = f"it runs output {scanned} one position per lax.scan step, so each step's windows lie on one shard"
        if plan.lead >= plan.ndim:  # every axis is scanned: no split can work
            fix = "This schedule scans every axis, so no split helps here"
        else:
            example = ", e.g. `jax.sharding.reshard(x, P(None, 'x'))`" if plan.lead == 1 else ""
            fix = f"Split an axis the schedule does not scan instead (axes {plan.lead}.. here{example})"
    return ValueError(
        f"kscan {picked} cannot run on a state whose input axis {axis} is split over {split.describe(axis)}: "
        f"{how}, and the devices would take turns (serialised) instead of working together. {fix}, or reshard "
        f"the state to replicated (P()) before the kscan."
    )


def _read_widths(geometry: Geometry, reads, halo: AxisHalo) -> tuple[int, int]:
    """Cells the shard's windows actually read beyond its block along ``halo.axis`` (before, after):
    at most the halo's widths, fewer when the functions read only part of the window (``reads``: the
    window-cell offsets of ``lower/reads.py``).

    >>> from kernex._src.window.geometry import resolve_geometry
    >>> geometry = resolve_geometry((8, 16), 3, 1, "same")
    >>> halo = AxisHalo(1, ("x",), 4, 4, 1, 1)
    >>> _read_widths(geometry, {(0, 0), (0, 1)}, halo)  # u[-1, -1] and u[-1, 0]: the left neighbour only
    (1, 0)
    >>> _read_widths(geometry, {(0, 1), (2, 2)}, halo)
    (0, 1)
    """
    a = halo.axis
    cells = [j[a] for j in reads]
    if not cells:
        return 0, 0
    d, s, lo = geometry.dilation[a], geometry.strides[a], geometry.padding[a][0]
    before = lo - min(cells) * d
    after = max(cells) * d + 1 - s - lo
    return max(0, min(before, halo.lo)), max(0, min(after, halo.hi))


@dataclasses.dataclass(frozen=True)
class ScanShard:
    """One shard's share of a sharded kscan (built inside ``jax.shard_map``); what ``run_block`` calls.

    ``geometry``: the block with its halos (``halo.plan_halos``); ``halos``: the split axes;
    ``whole``: the whole state's geometry; ``boundary``: the whole state's boundary.
    :meth:`prepare` adds the local ``frame``, the scanned ``lead`` axes and the ``widths`` exchanged.
    """

    geometry: Geometry
    halos: tuple[AxisHalo, ...]
    whole: Geometry
    boundary: bnd.Boundary
    split: Split
    frame: Frame | None = None
    lead: int = 0
    widths: tuple[tuple[int, int], ...] = ()

    def prepare(self, plan, schedule: str, reads) -> tuple[Geometry, Frame, ScanShard]:
        """``(geometry, frame, shard)`` to run ``plan`` on the block; a ``ValueError`` if it scans a split axis."""
        for halo in self.halos:
            if plan.kind == "wavefront" or halo.axis < plan.lead:
                raise _refused(plan, schedule, self.split, halo.axis)
        modes, fills = list(self.boundary.modes), list(self.boundary.fills)
        for halo in self.halos:  # the halo cells are stored: constant sides locally (copies are refreshed)
            a = halo.axis
            fills[a] = tuple(f if mode == "constant" else 0 for mode, f in zip(modes[a], fills[a]))
            modes[a] = ("constant", "constant")
        frame = resolve_frame(self.geometry, bnd.Boundary(tuple(modes), tuple(fills)))
        widths = tuple(_read_widths(self.whole, reads, halo) for halo in self.halos)
        return self.geometry, frame, dataclasses.replace(self, frame=frame, lead=plan.lead, widths=widths)

    @property
    def global_out(self) -> tuple[int, ...]:
        """The whole output shape: owners are read in these positions."""
        return tuple(self.whole.out_shape)

    # --- what run_block calls -----------------------------------------------------------------

    def states(self, fields: list) -> tuple:
        """The initial local states: the blocks with their constant sides, halos from the neighbours."""
        return tuple(self._exchange([physical_state(x, self.geometry, self.frame) for x in fields]))

    def refresh(self, states: tuple, anchor: tuple) -> tuple:
        """``states`` with the halo cells of the row at ``anchor`` (stored coordinates of the scanned
        axes) brought up to date after that row was written."""
        m = self.lead
        starts = tuple(anchor) + (np.int32(0),) * (states[0].ndim - m)
        rows = [lax.dynamic_slice(s, starts, (1,) * m + s.shape[m:]) for s in states]
        rows = self._exchange(rows)
        return tuple(lax.dynamic_update_slice(s, r, starts) for s, r in zip(states, rows))

    def table(self, table: jax.Array) -> jax.Array:
        """This shard's part of the owner table (patterns x global positions)."""
        starts = [np.int32(0)] * table.ndim
        sizes = list(table.shape)
        for halo in self.halos:
            starts[1 + halo.axis] = lax.axis_index(halo.names).astype(np.int32) * np.int32(halo.out)
            sizes[1 + halo.axis] = halo.out
        return lax.dynamic_slice(table, starts, sizes)

    def restricted(self, layout, region, m: int, cases, branch: int):
        """``run_block``'s entry for a function that must not run where it is not selected: on its own
        windows when every shard sees the same local region, else on every window on guarded inputs."""
        whole = region or tuple(Progression(0, 1, n) for n in self.global_out)
        fully = fully_owned(cases, whole, m, branch, self.global_out[m:])
        local = Block([], self.geometry, self.halos, self.global_out).region(whole)
        if local is not None:
            return _restricted(layout, local, m, cases, branch, fully=fully)
        case = cases.case_of(branch)
        return None, None, lambda which: jnp.reshape(which, layout.out_shape) == case

    # --- the exchange -------------------------------------------------------------------------

    def _exchange(self, blocks: list) -> list:
        """``blocks`` (full stored extent on the split axes) with their read halo cells replaced by the
        neighbours' cells (the boundary's on the global edges), axis by axis (corners travel through the
        edge neighbours); the other halo cells are kept."""
        g = self.geometry
        own = [(g.state_padding[h.axis][0], g.state_padding[h.axis][0] + g.shape[h.axis]) for h in self.halos]

        def view(b: jax.Array, k: int, start: int, stop: int) -> jax.Array:
            for j in range(k + 1, len(self.halos)):  # later split axes: own cells only
                b = lax.slice_in_dim(b, own[j][0], own[j][1], axis=self.halos[j].axis)
            return lax.slice_in_dim(b, start, stop, axis=self.halos[k].axis)

        current = list(blocks)
        for k in range(len(self.halos)):  # own cells on every split axis to start with
            current = [lax.slice_in_dim(c, *own[k], axis=self.halos[k].axis) for c in current]
        for k, (halo, (lo, hi)) in enumerate(zip(self.halos, self.widths)):
            a, (first, last), (stored_lo, stored_hi) = halo.axis, own[k], g.state_padding[halo.axis]
            received = {False: None, True: None}
            for hi_side, width in ((False, lo), (True, hi)):
                if width:
                    received[hi_side] = self._side(current, blocks, halo, k, hi_side, width, view, (first, last))
            out = []
            for i, (c, b) in enumerate(zip(current, blocks)):
                pieces = [view(b, k, 0, first - lo)] if stored_lo > lo else []
                pieces += [received[False][i]] if lo else []
                pieces.append(c)
                pieces += [received[True][i]] if hi else []
                pieces += [view(b, k, last + hi, last + stored_hi)] if stored_hi > hi else []
                out.append(lax.concatenate(pieces, a) if len(pieces) > 1 else c)
            current = out
        return current

    def _side(self, current, blocks, halo: AxisHalo, k: int, hi_side: bool, width: int, view, own) -> list:
        """One side's halo of every field: one message (per dtype), the boundary on the global edge."""
        a, shards = halo.axis, halo.shards
        mode = self.boundary.side(a, hi_side)
        cyclic = mode == "wrap"
        n = current[0].shape[a]
        if hi_side:  # the next shard's first cells
            sent = [lax.slice_in_dim(c, 0, width, axis=a) for c in current]
            perm = [(p + 1, p) for p in range(shards - 1)] + ([(0, shards - 1)] if cyclic else [])
        else:  # the previous shard's last cells
            sent = [lax.slice_in_dim(c, n - width, n, axis=a) for c in current]
            perm = [(p, p + 1) for p in range(shards - 1)] + ([(shards - 1, 0)] if cyclic else [])
        received = _send(sent, halo.names, perm)
        if cyclic:
            return received
        index = lax.axis_index(halo.names)
        edge_shard = shards - 1 if hi_side else 0
        first, last = own
        out = []
        for c, b, r in zip(current, blocks, received):
            if mode == "constant":  # never written: the cells as built
                edge = view(b, k, last, last + width) if hi_side else view(b, k, first - width, first)
            else:  # mapped: the edge shard's own current cells
                padded = bnd._pad_axis(c, a, 0 if hi_side else width, width if hi_side else 0, (mode, mode))
                start = padded.shape[a] - width if hi_side else 0
                edge = lax.slice_in_dim(padded, start, start + width, axis=a)
            out.append(jnp.where(index == edge_shard, edge, r))
        return out


def kscan_sharded(
    x: Any, geometry: Geometry, branches: list, relative: bool, schedule: str, args: tuple, kwargs: dict,
    boundary: bnd.Boundary, split: Split,
) -> Any:  # fmt: skip
    """kscan of ``x`` (an array or pytree of fields split as ``split`` says) with one ``jax.shard_map``;
    the result is split like ``x``."""
    local, halos = plan_halos(geometry, split, boundary, "kscan")
    _check_anchors(geometry, split, halos)
    leaves, treedef = jax.tree_util.tree_flatten(x)
    extras, extras_tree = jax.tree_util.tree_flatten((args, kwargs))
    passed = [i for i, leaf in enumerate(extras) if isinstance(leaf, jax.Array)]

    def body(blocks: list, arrays: list) -> Any:
        values = list(extras)
        for i, array in zip(passed, arrays):
            values[i] = array
        inner_args, inner_kwargs = jax.tree_util.tree_unflatten(extras_tree, values)
        shard = ScanShard(local, halos, geometry, boundary, split)
        return kscan_lower(
            jax.tree_util.tree_unflatten(treedef, blocks), geometry, branches, relative, schedule, inner_args,
            inner_kwargs, boundary, shard=shard,
        )  # fmt: skip

    spec = split.spec
    mapped = jax.shard_map(
        body, mesh=split.mesh, in_specs=([spec] * len(leaves), [PartitionSpec()] * len(passed)), out_specs=spec
    )
    return mapped(leaves, [_replicated(extras[i]) for i in passed])
