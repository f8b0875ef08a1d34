"""kmap on an input split over a mesh: one ``jax.shard_map`` whose body is the single-device lowering on a haloed block.

:func:`kmap_sharded` runs, per shard: the halo exchange and the global-edge
boundary (``halo.extend``), then ``lower.kmap.kmap_fused`` on the extended
block with the local geometry (``halo.plan_halos``) and the shard's global
positions (``positions.Block``). The collectives are the halo messages only:
at most two ``collective-permute`` per split axis in the forward pass (one per
side; one per side and dtype for fields of several dtypes), no all-gather,
all-reduce or all-to-all.

Invariants: the result equals single-device kmap on the whole input, values
and gradients (the windows, their cells and their regions are the same), and
each output leaf is split like the input along the window axes (its trailing
per-window axes whole). Extra arguments that are JAX arrays enter the
``shard_map`` replicated (``P()``); everything else (Python numbers, NumPy
arrays, functions) is closed over unchanged, so values known at trace time
stay static exactly as on one device.
"""

from __future__ import annotations

from typing import Any

import jax
from jax.sharding import AxisType, NamedSharding, PartitionSpec

from kernex._src.lower.kmap import kmap_fused
from kernex._src.shard.halo import extend, plan_halos
from kernex._src.shard.mesh import Split
from kernex._src.shard.positions import Block
from kernex._src.window.boundary import Boundary
from kernex._src.window.geometry import Geometry

__all__ = ["kmap_sharded"]


def _replicated(value: jax.Array) -> jax.Array:
    """``value`` with no Explicit mesh axis in its type (resharded when it had one): what ``P()`` expects."""
    try:
        sharding = jax.typeof(value).sharding
    except (TypeError, AttributeError):
        return value
    if not isinstance(sharding, NamedSharding):
        return value
    types = dict(zip(sharding.mesh.axis_names, sharding.mesh.axis_types))
    explicit = [n for entry in tuple(sharding.spec) if entry for n in ((entry,) if isinstance(entry, str) else entry)]
    if any(types.get(n) == AxisType.Explicit for n in explicit):
        return jax.sharding.reshard(value, NamedSharding(sharding.mesh, PartitionSpec()))
    return value


def kmap_sharded(
    x: Any, geometry: Geometry, branches: list, relative: bool, args: tuple, kwargs: dict,
    boundary: Boundary | None, split: Split, name: str = "kmap",
) -> Any:  # fmt: skip
    """Evaluate ``branches`` over every window of ``x`` (an array or pytree of fields split as ``split``
    says) with one ``jax.shard_map``; the result is split like ``x`` along its window axes."""
    local, halos = plan_halos(geometry, split, boundary, name)
    leaves, treedef = jax.tree_util.tree_flatten(x)
    extras, extras_tree = jax.tree_util.tree_flatten((args, kwargs))
    passed = [i for i, leaf in enumerate(extras) if isinstance(leaf, jax.Array)]

    def body(blocks: list, arrays: list) -> Any:
        values = list(extras)
        for i, array in zip(passed, arrays):
            values[i] = array
        inner_args, inner_kwargs = jax.tree_util.tree_unflatten(extras_tree, values)
        states = extend(blocks, local, halos, boundary)
        block = Block(states, local, halos, tuple(geometry.out_shape))
        return kmap_fused(
            jax.tree_util.tree_unflatten(treedef, blocks), geometry, branches, relative, inner_args, inner_kwargs,
            boundary, block=block,
        )  # fmt: skip

    spec = split.spec
    mapped = jax.shard_map(
        body,
        mesh=split.mesh,
        in_specs=([spec] * len(leaves), [PartitionSpec()] * len(passed)),
        out_specs=spec,
    )
    return mapped(leaves, [_replicated(extras[i]) for i in passed])
