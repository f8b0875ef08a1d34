"""``kscan``: visit windows in row-major order and write each result into its anchor cell.

The public class only; its lowering (read analysis, schedules) is ``kernex._src.lower``.
"""

from __future__ import annotations

import jax

from kernex._src.kernel import Kernel
from kernex._src.lower.kscan import kscan_lower
from kernex._src.lower.plan import SCHEDULES
from kernex._src.shard import kscan as shard_kscan
from kernex._src.shard import mesh as shard_mesh
from kernex._src.window import boundary as bnd

__all__ = ["kscan"]


class kscan(Kernel):
    """Sequential, in-place windowed update (a stencil ``lax.scan``).

    Takes the same arguments and calling conventions as :class:`kmap`. Windows
    are visited one at a time in row-major order; each function value is cast
    to the input dtype, written into the window's anchor cell of the state (the
    input, extended beyond its edges as ``boundary`` says), and recorded, so
    later windows see earlier writes.
    Positions owned by no function keep their current value. The result has
    the output shape of :class:`kmap` and the input dtype.

    The state may be a pytree of equally shaped fields (``{'u': u, 'v': v}``): every
    window reads all fields' live values, and the functions return the same
    structure with one scalar per field, written into that field's anchor cell.

    Args:
        schedule: how the sequential semantics is executed, always with the same
            result: ``'auto'`` (default) picks the cheapest exact one;
            ``'parallel'`` (all windows at once, when no window reads an earlier
            write), ``'rows'`` (one ``lax.scan`` step per row of the first axis,
            e.g. explicit time stepping), ``'wavefront'`` (diagonal hyperplanes,
            e.g. Gauss-Seidel sweeps), ``'sequential'`` (one window per step,
            always exact). Asking for a schedule that would change the result
            raises ``ValueError``.
        dilation: spacing of window cells, an int or one int per axis (each >= 1; default 1),
            as for :class:`kmap`: cell ``j`` sits ``j * dilation`` cells after the window's
            first cell. The schedules see reads ``(j - center) * dilation`` cells from the
            anchor, so every schedule stays exact.
        boundary: what reads outside the input see, as for :class:`kmap` (``'constant'``,
            ``'edge'``, ``'reflect'``, ``'symmetric'``, ``'wrap'``; per axis or side). A read
            through an index-mapping side reads the *current* value of the input cell it
            copies (a periodic sweep sees the cells it already updated this sweep), and the
            schedules see those reads. ``'constant'`` cells start at ``fill_value`` and can be
            written by windows anchored there; other modes refuse anchors outside the input.
        fill_value: the value of cells outside a ``'constant'`` side (default ``0``).
        sharding: how the state is split over a device mesh, as for :class:`kmap`
            (``docs/sharding.md``): ``None`` (default) reads Explicit mesh axes from the input's
            type; a ``NamedSharding`` or a ``PartitionSpec`` states it, for Auto axes. A split state
            runs the whole scan in one ``jax.shard_map``, with one halo exchange per ``lax.scan``
            step, when the schedule scans no split axis (``'parallel'``, or ``'rows'`` with axis 0
            whole); a schedule that scans a split axis is a ``ValueError``.

    >>> import jax.numpy as jnp
    >>> import kernex
    >>> @kernex.kscan(kernel_size=3, padding="same")
    ... def running(x):
    ...     return jnp.sum(x)
    >>> running(jnp.array([1, 2, 3, 4, 5])).tolist()
    [3, 8, 15, 24, 29]
    >>> periodic = kernex.kscan(kernel_size=3, padding="same", boundary="wrap")(jnp.sum)
    >>> periodic(jnp.array([1, 2, 3, 4, 5])).tolist()  # the last window reads the updated first cell
    [8, 13, 20, 29, 42]
    """

    _name = "kscan"

    def __init__(
        self, kernel_size=1, strides=1, padding=0, relative=False, named_axis=None, schedule="auto", *,
        dilation=1, boundary="constant", fill_value=0, sharding=None,
    ):  # fmt: skip
        super().__init__(kernel_size, strides, padding, relative, named_axis, dilation=dilation)
        if schedule not in SCHEDULES:
            raise ValueError(f"`schedule` must be one of {SCHEDULES}; got {schedule!r}.")
        self.schedule = schedule
        bnd.check_boundary(boundary)
        bnd.check_fill_value(fill_value)
        shard_mesh.check_sharding(sharding)
        self.boundary = boundary
        self.fill_value = fill_value
        self.sharding = sharding

    def _extra_config(self) -> dict:
        sharding = {} if self.sharding is None else {"sharding": self.sharding}
        return {"schedule": self.schedule, **bnd.boundary_config(self.boundary, self.fill_value), **sharding}

    def _lower(self, array, geometry, branches, args, kwargs):
        boundary = bnd.resolve_boundary(geometry.shape, self.boundary, self.fill_value)
        split = shard_mesh.find_split(jax.tree_util.tree_leaves(array), self.sharding, "kscan")
        if split is not None:  # split over a mesh: the scan in one shard_map, halos refreshed per step
            return shard_kscan.kscan_sharded(
                array, geometry, branches, self.relative, self.schedule, args, kwargs, boundary, split
            )
        return kscan_lower(array, geometry, branches, self.relative, self.schedule, args, kwargs, boundary)
