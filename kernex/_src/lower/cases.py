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

__all__ = ["Cases", "covers", "owners", "index_grid"]


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

    def select(self, ctx: Context, patches: list, jaxprs, which, dtypes: list) -> list:
        """Evaluate the branches that occur on the patches (one per field) and pick each position's
        values: one array per field, in its dtype."""
        cases = []
        if self.keep:
            cases.append([ctx.cell(Cell(p.entries.flat[0].source, tuple((k - 1) // 2 for k in p.shape))) for p in patches])
        for b in self.branches:
            outs = evaluate(jaxprs[b].jaxpr, jaxprs[b].consts, patches, ctx)
            cases.append([ctx.dense(out, dtype) for out, dtype in zip(outs, dtypes)])
        if len(cases) == 1:
            return cases[0]
        return [lax.select_n(jnp.reshape(which, column[0].shape), *column) for column in zip(*cases)]


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
