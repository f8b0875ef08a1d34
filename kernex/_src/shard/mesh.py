"""Finding how kmap's (or kscan's) input is split over a device mesh: from its type (Explicit axes) or ``sharding=``.

Invariants: :func:`find_split` returns ``None`` exactly when kmap must take its
single-device path (no mesh axis splits the input: unsharded arrays, Auto axes
without ``sharding=``, and values inside a user's ``shard_map``, whose axes are
Manual); otherwise a :class:`Split` naming, per input axis, the mesh axes it is
divided over (``None`` for a whole axis). Every field of a pytree input has the
same split. A ``sharding=`` keyword never contradicts an Explicit type: a
mismatch is a ``ValueError`` (reshard first), never a silent reshard. Nothing
here builds arrays; it reads types and the ambient mesh only
(``docs/sharding.md``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
from jax.sharding import AxisType, NamedSharding, PartitionSpec

__all__ = ["Split", "check_sharding", "find_split"]


def check_sharding(sharding: Any) -> None:
    """Type check of ``kmap(..., sharding=...)`` at construction time.

    >>> check_sharding(PartitionSpec("x", None))
    >>> try:
    ...     check_sharding("x")
    ... except TypeError as e:
    ...     print(str(e)[:55])
    `sharding` must be None (read Explicit shardings from t
    """
    if sharding is None or isinstance(sharding, (NamedSharding, PartitionSpec)):
        return
    raise TypeError(
        "`sharding` must be None (read Explicit shardings from the input's type), a jax.sharding.NamedSharding "
        "(mesh and spec, e.g. NamedSharding(mesh, PartitionSpec('x', None))) or a jax.sharding.PartitionSpec "
        f"(with the mesh of `jax.set_mesh`); got {sharding!r} of type {type(sharding).__name__}."
    )


@dataclasses.dataclass(frozen=True)
class Split:
    """Per input axis, the mesh axes it is divided over (``None``: not divided), and the mesh.

    ``mesh`` is what ``jax.shard_map`` runs over (a ``Mesh`` or an ``AbstractMesh``).
    """

    mesh: Any
    axes: tuple[tuple[str, ...] | None, ...]

    def shards(self, axis: int) -> int:
        """Number of blocks input axis ``axis`` is cut into (1 when it is whole)."""
        names = self.axes[axis]
        return 1 if names is None else math.prod(self.mesh.shape[name] for name in names)

    @property
    def divides(self) -> bool:
        """True when some input axis is cut into more than one block."""
        return any(self.shards(axis) > 1 for axis in range(len(self.axes)))

    @property
    def spec(self) -> PartitionSpec:
        """The ``PartitionSpec`` of the input (and of the output's window axes)."""
        entries = (None if names is None else names[0] if len(names) == 1 else names for names in self.axes)
        return PartitionSpec(*entries)

    def describe(self, axis: int) -> str:
        names = self.axes[axis]
        return "mesh axis " + " x ".join(f"{n!r} ({self.mesh.shape[n]})" for n in names)


def _entries(spec: PartitionSpec, ndim: int) -> list[tuple[str, ...] | None]:
    entries: list = []
    for entry in tuple(spec):
        if entry is None or entry == ():
            entries.append(None)
        elif isinstance(entry, str):
            entries.append((entry,))
        else:
            entries.append(tuple(entry))
    return entries + [None] * (ndim - len(entries))


def _axis_types(mesh: Any) -> dict[str, Any]:
    return dict(zip(mesh.axis_names, mesh.axis_types))


def _from_type(leaf: Any) -> Split | None:
    """The Explicit mesh axes in ``leaf``'s type (``None`` when there are none)."""
    try:
        sharding = jax.typeof(leaf).sharding
    except (TypeError, AttributeError):
        return None
    if not isinstance(sharding, NamedSharding):
        return None
    types = _axis_types(sharding.mesh)
    axes = []
    for names in _entries(sharding.spec, leaf.ndim):
        kept = tuple(n for n in names or () if types.get(n) == AxisType.Explicit)
        axes.append(kept or None)
    split = Split(sharding.mesh, tuple(axes))
    return split if split.divides else None


def _from_keyword(sharding: Any, ndim: int, shape: tuple[int, ...], name: str) -> Split:
    if isinstance(sharding, NamedSharding):
        mesh, spec = sharding.mesh, sharding.spec
    else:
        mesh, spec = jax.sharding.get_abstract_mesh(), sharding
        if not mesh.axis_names:
            raise ValueError(
                f"{name}: sharding={spec!r} is a PartitionSpec but there is no ambient mesh to read it against. "
                f"Call under `with jax.set_mesh(mesh):`, or pass `sharding=NamedSharding(mesh, {spec!r})`."
            )
    if len(tuple(spec)) > ndim:
        raise ValueError(
            f"{name}: sharding spec {spec!r} has {len(tuple(spec))} entries but the input has shape {shape} "
            f"(rank {ndim}); give at most one entry per input axis (missing trailing entries mean 'not split')."
        )
    types = _axis_types(mesh)
    axes = []
    for axis, names in enumerate(_entries(spec, ndim)):
        for n in names or ():
            if n not in types:
                raise ValueError(
                    f"{name}: sharding spec {spec!r} names mesh axis {n!r} for input axis {axis}, but the mesh has "
                    f"axes {tuple(mesh.axis_names)}; use one of those."
                )
            if types[n] == AxisType.Manual:
                raise ValueError(
                    f"{name}: mesh axis {n!r} is Manual here ({name} is called inside a shard_map), so the input is "
                    f"already one block per device and {name} applies to that block; drop `sharding=` there."
                )
        axes.append(names)
    return Split(mesh, tuple(axes))


def find_split(leaves: list, sharding: Any, name: str = "kmap") -> Split | None:
    """How the windowed argument's fields (``leaves``, equally shaped) are split over a mesh, or ``None``.

    With ``sharding=None`` the split is read from the fields' types (Explicit mesh
    axes only); every field must be split alike. With a ``NamedSharding`` or
    ``PartitionSpec`` the keyword says it; a field whose type is split differently
    (Explicit axes) is an error.
    """
    shape, ndim = tuple(leaves[0].shape), leaves[0].ndim
    typed = [_from_type(leaf) for leaf in leaves]
    for i, split in enumerate(typed[1:], 1):
        if (split and split.axes) != (typed[0] and typed[0].axes):
            raise ValueError(
                f"{name}: every field of the windowed argument must be sharded alike; field 0 has spec "
                f"{typed[0].spec if typed[0] else PartitionSpec()} but field {i} has "
                f"{split.spec if split else PartitionSpec()}. Reshard them to one spec first "
                f"(`jax.sharding.reshard(field, spec)`)."
            )
    if sharding is None:
        return typed[0]
    split = _from_keyword(sharding, ndim, shape, name)
    types = _axis_types(split.mesh)
    explicit = any(types[n] == AxisType.Explicit for names in split.axes for n in names or ())
    typed_axes = typed[0].axes if typed[0] is not None else (None,) * ndim
    if (typed[0] is not None or explicit) and typed_axes != split.axes:
        raise ValueError(
            f"{name}: sharding={sharding!r} disagrees with the input's Explicit sharding "
            f"{typed[0].spec if typed[0] is not None else PartitionSpec()} (from its type). Drop `sharding=` (the "
            f"type is read), or reshard the input first (`jax.sharding.reshard(x, spec)`)."
        )
    return split if split.divides else None
