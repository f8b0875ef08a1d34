"""``kmap``: apply a function to every window of an array, independently.

The public class only; its lowering is ``kernex._src.lower.kmap``.
"""

from __future__ import annotations

import jax

from kernex._src.kernel import Kernel
from kernex._src.lower import kmap as kmap_lower
from kernex._src.shard import kmap as shard_kmap
from kernex._src.shard import mesh as shard_mesh
from kernex._src.window import boundary as bnd

__all__ = ["kmap"]


class kmap(Kernel):
    """Map a function over every window of an array (a stencil ``vmap``).

    Args:
        kernel_size: window size, an int (same on every axis) or one int per axis;
            ``-1`` means the whole axis.
        strides: step between windows, an int or one int per axis.
        padding: ``'same'``, ``'valid'`` (any case), an int, or one entry per axis, each
            an int, a ``(lo, hi)`` pair or ``'same'``/``'valid'``. Negative values crop.
            The default ``0`` is ``'valid'``.
        relative: if True, index 0 of the patch is the anchor (the window's centre
            cell, left-of-centre for even sizes) and ``x[-1]`` is the cell before it.
        named_axis: ``{axis: name}``; the function then receives a mapping indexed by
            anchor-relative labels such as ``x['i-1', 'j']``.
        dilation: spacing of window cells, an int or one int per axis (each >= 1; default 1):
            cell ``j`` of a window sits ``j * dilation`` input cells after its first cell.
            Indices, offsets and labels still count window cells (``x[1]`` is the next
            window cell); ``'same'`` padding and the output length account for the
            dilated extent ``(kernel_size - 1) * dilation + 1``.
        boundary: what cells outside the input read (``docs/boundaries.md``), with
            ``jnp.pad``'s mode names: ``'constant'`` (``fill_value``; the default),
            ``'edge'``, ``'reflect'``, ``'symmetric'`` (``scipy.ndimage``'s
            ``'reflect'``) or ``'wrap'`` (periodic). One mode, one per axis, or a
            ``(lo, hi)`` pair per axis, as for ``padding``.
        fill_value: the value of cells read through a ``'constant'`` side: a scalar,
            one per axis, or a ``(lo, hi)`` pair per axis. Default ``0``.
        sharding: how the input is split over a device mesh (``docs/sharding.md``):
            ``None`` (default) reads Explicit mesh axes from the input's type; a
            ``NamedSharding`` or a ``PartitionSpec`` (of the ``jax.set_mesh`` mesh) states it,
            for Auto axes. A split input runs as one ``jax.shard_map``: each shard exchanges
            only its windows' halo with its neighbours, and the result is split alike.

    Use it as a decorator, ``kmap(...)(f)(array, *args)``, or register functions by
    the anchor positions they own, ``F[idx] = f``, and call ``F(array, *args)``;
    positions owned by no function are zero. The result has shape
    ``out_shape + f_output_shape``.

    >>> import jax.numpy as jnp
    >>> import kernex
    >>> @kernex.kmap(kernel_size=3, padding="same")
    ... def window_sum(x):
    ...     return jnp.sum(x)
    >>> window_sum(jnp.array([1, 2, 3, 4, 5])).tolist()
    [3, 6, 9, 12, 9]
    >>> periodic = kernex.kmap(kernel_size=3, padding="same", boundary="wrap")(jnp.sum)
    >>> periodic(jnp.array([1, 2, 3, 4, 5])).tolist()
    [8, 6, 9, 12, 10]
    >>> F = kernex.kmap(kernel_size=1)
    >>> F[0] = lambda x: x[0] ** 2
    >>> F[1:] = lambda x: x[0] ** 3
    >>> F(jnp.arange(1.0, 5.0)).tolist()
    [1.0, 8.0, 27.0, 64.0]
    """

    _name = "kmap"

    def __init__(
        self, kernel_size=1, strides=1, padding=0, relative=False, named_axis=None, *,
        dilation=1, boundary="constant", fill_value=0, sharding=None,
    ):  # fmt: skip
        super().__init__(kernel_size, strides, padding, relative, named_axis, dilation=dilation)
        bnd.check_boundary(boundary)
        bnd.check_fill_value(fill_value)
        shard_mesh.check_sharding(sharding)
        self.boundary = boundary
        self.fill_value = fill_value
        self.sharding = sharding

    def _extra_config(self) -> dict:
        sharding = {} if self.sharding is None else {"sharding": self.sharding}
        return bnd.boundary_config(self.boundary, self.fill_value) | sharding

    def _lower(self, array, geometry, branches, args, kwargs):
        boundary = bnd.resolve_boundary(geometry.shape, self.boundary, self.fill_value)
        split = shard_mesh.find_split(jax.tree_util.tree_leaves(array), self.sharding)
        if split is not None:  # split over a mesh: one shard_map, halos exchanged (kernex._src.shard)
            return shard_kmap.kmap_sharded(array, geometry, branches, self.relative, args, kwargs, boundary, split)
        return kmap_lower.kmap_fused(array, geometry, branches, self.relative, args, kwargs, boundary)
