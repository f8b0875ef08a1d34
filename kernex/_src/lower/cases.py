"""Which function owns each kscan window, as ``lax.select_n`` cases.

kscan evaluates groups of windows at once; within a group, each position's
function (or "keep the anchor's value", for positions no function owns) is a
case index. Regions are resolved to owners here with the same "latest
assignment wins" rule as kmap (``window/regions.py``).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax

from kernex._src.interp.context import Context
from kernex._src.interp.evaluate import evaluate
from kernex._src.interp.values import Cell
from kernex._src.lower.guard import guard
from kernex._src.lower.kmap import _finite_derivative as finite_derivative

__all__ = ["Cases", "covers", "owners", "index_grid", "partly_owned"]


class Cases:
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

    def case_of(self, branch: int) -> int:
        return int(self.branches.index(branch) + self.keep)

    def owned(self, branch: int, table: np.ndarray) -> bool:
        """Whether ``branch`` owns a position of ``table`` (one pattern's case indices)."""
        return bool(np.any(table == self.case_of(branch)))

    def select(self, ctx: Context, patches: list, jaxprs, which, dtypes: list, only=None, restricted=None) -> list:
        """Evaluate the branches that occur on the patches (one per field) and pick each position's
        values: one array per field, in its dtype.

        ``only``: the branches to evaluate (no position selects the others here: they are zeros);
        ``restricted``: ``{branch: (context, place, owned)}`` for branches that run only on the windows
        their region selects (a ``context()`` of those windows), ``place`` spreading the piece over
        ``ctx``'s positions, ``owned(which)`` the mask of those it owns (None: all), so a function whose
        derivative may be infinite never contributes to a gradient where it is not selected.
        """
        cases = []
        if self.keep:
            cases.append([ctx.cell(Cell(p.entries.flat[0].source, tuple((k - 1) // 2 for k in p.shape))) for p in patches])
        for b in self.branches:
            if only is not None and b not in only:
                cases.append([jnp.zeros(ctx.out_shape, dtype) for dtype in dtypes])
                continue
            sub, place, owned = (restricted or {}).get(b, (None, None, None))
            context = ctx if sub is None else sub()
            inputs, consts = patches, jaxprs[b].consts
            mask = None if owned is None else owned(which)
            if mask is not None:  # a later assignment overwrites part of its region: guarded inputs there
                inputs, consts = guard(context, patches, consts, mask)
            outs = evaluate(jaxprs[b].jaxpr, consts, inputs, context)
            dense = [context.dense(out, dtype) for out, dtype in zip(outs, dtypes)]
            cases.append(dense if place is None else [place(value) for value in dense])
        if len(cases) == 1:
            return cases[0]
        return [lax.select_n(jnp.reshape(which, column[0].shape), *column) for column in zip(*cases)]


def partly_owned(cases: Cases, jaxprs, branches) -> list[int]:
    """Branches that may have an infinite derivative (``kmap.FINITE_DERIVATIVE``) and do not own every
    position: they must not run where they are not selected, or a zero cotangent times an infinite
    derivative turns the gradient NaN there."""
    full = cases.table.size
    return [
        b for b in cases.branches
        if not finite_derivative(jaxprs[b].jaxpr) and int(np.sum(cases.table == cases.case_of(b))) < full
    ]


def covers(branch, positions: np.ndarray, axes) -> np.ndarray:
    """Whether ``branch``'s region contains each of ``positions`` (rows of output indices along ``axes``)."""
    mask = np.ones(len(positions), dtype=bool)
    if branch.region is not None:
        for column, axis in enumerate(axes):
            mask &= branch.region[axis].contains(positions[:, column])
    return mask


def owners(covers: np.ndarray) -> np.ndarray:
    """Latest branch covering each position (``covers`` is branches x positions); -1 = none."""
    owners = np.full(covers.shape[1:], -1, dtype=np.int32)
    for b, mask in enumerate(covers):
        owners[mask] = b
    return owners


def index_grid(shape) -> np.ndarray:
    """All indices of ``shape`` in row-major order, as rows."""
    return np.indices(shape).reshape(len(shape), int(np.prod(shape))).T
