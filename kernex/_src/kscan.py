"""``kscan``: visit windows in row-major order and write each result into its anchor cell."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from kernex._src import lowering
from kernex._src.kernel import Kernel

__all__ = ["kscan"]


def _branch_ids(geometry, branches) -> np.ndarray:
    """Index (into ``branches``) of the function owning each output position; -1 for none."""
    ids = np.full(geometry.out_shape, -1, dtype=np.int32)
    for i, branch in enumerate(branches):
        if branch.region is None:
            ids[...] = i
        else:
            ids[lowering.region_mask(branch.region, 0)] = i
    return ids


def _roll_to_anchor(window, geometry, relative):
    if not relative:
        return window
    return jnp.roll(window, tuple(-c for c in geometry.center), axis=tuple(range(geometry.ndim)))


def kscan_cells(x, geometry, branches, relative, args, kwargs):
    """The literal sequential definition (SPEC §2.1): one ``lax.scan`` step per window."""
    _, shape, _ = lowering.trace_branches(branches, lowering.patch_spec(x, geometry), args, kwargs, "kscan")
    if shape != ():
        raise ValueError(
            f"kscan writes each result into one cell, so window functions must return a scalar; got shape {shape}."
        )
    dtype = x.dtype
    state = lowering.pad_state(x, geometry)
    grids = np.meshgrid(*[geometry.window_starts(a) for a in range(geometry.ndim)], indexing="ij")
    starts = np.stack([g.ravel() for g in grids], axis=-1).astype(np.int32)
    anchors = starts + np.asarray(geometry.center, dtype=np.int32)
    ids = _branch_ids(geometry, branches).ravel()

    def run(fn, window):
        return jnp.asarray(fn(_roll_to_anchor(window, geometry, relative), *args, **kwargs)).astype(dtype)

    def step(state, xs):
        start, anchor, branch = xs
        window = lax.dynamic_slice(state, tuple(start), geometry.kernel)
        if len(branches) == 1 and branches[0].region is None:
            value = run(branches[0].fn, window)
        else:
            keep = lambda w: lax.dynamic_slice(state, tuple(anchor), (1,) * geometry.ndim).reshape(())
            fns = [keep] + [lambda w, b=b: run(b.fn, w) for b in branches]
            value = lax.switch(branch + 1, fns, window)
        state = lax.dynamic_update_slice(state, value.reshape((1,) * geometry.ndim), tuple(anchor))
        return state, value

    _, values = lax.scan(step, state, (jnp.asarray(starts), jnp.asarray(anchors), jnp.asarray(ids)))
    return values.reshape(geometry.out_shape)


class kscan(Kernel):
    """Sequential, in-place windowed update (a stencil ``lax.scan``).

    Takes the same arguments and calling conventions as :class:`kmap`. Windows
    are visited one at a time in row-major order; each function value is cast
    to the input dtype, written into the window's anchor cell of a zero-padded
    copy of the input, and recorded, so later windows see earlier writes.
    Positions owned by no function keep their current value. The result has
    the output shape of :class:`kmap` and the input dtype.

    >>> import jax.numpy as jnp
    >>> import kernex
    >>> @kernex.kscan(kernel_size=3, padding="same")
    ... def running(x):
    ...     return jnp.sum(x)
    >>> running(jnp.array([1, 2, 3, 4, 5])).tolist()
    [3, 8, 15, 24, 29]
    """

    _name = "kscan"

    def _lower(self, array, geometry, branches, args, kwargs):
        return kscan_cells(array, geometry, branches, self.relative, args, kwargs)
