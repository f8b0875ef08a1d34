"""Static reads outside the window: found in the traced jaxprs, raised as ``IndexError``.

One job: before anything runs, tell a window function that indexes its patch
outside the window (``docs/semantics.md``, "What the function receives"). JAX
itself would not: an out-of-bounds static index is clamped, and on a
``relative=True`` patch ``x[2]`` and ``x[-1]`` of a 3-cell axis are the same
``slice`` (the offset wraps around to another cell).

How reads are found. :func:`patch_reads` walks a jaxpr from its first input
(the patch) through *views* of it - slices, squeezes, transposes, reversals,
elementwise maths, ``jit``/``checkpoint``/custom-derivative calls - and records
every single-cell read along a patch axis: a width-1 ``slice``, or a size-1
``dynamic_slice``/``gather`` whose index is known at trace time (literals and
values folded from them, as ``jnp`` indexing builds them). A read of a whole
axis, a wider slice, a reshape or a reduction of the patch is not a cell read.

Invariants:

* a read whose index is only known at run time (computed from data or from a
  traced argument) is never checked: it keeps JAX's indexing rules;
* an in-window read never raises. An absolute patch has no ambiguity: a read
  is out of the window exactly when JAX would clamp it. A relative patch is
  also traced, twice, on enlarged *probe* patches (axis length ``2m + 1`` with
  ``m = k`` and ``m = k + 1``) where every offset in ``-k .. k`` has its own
  cell; the offsets read there are checked only when both probes read the same
  offsets (so reads that depend on the patch's shape, e.g. a loop over
  ``range(x.shape[0])``, are not mistaken for offsets), and not at all when a
  probe fails to trace (e.g. the function multiplies by a kernel-shaped
  weight). Named-axis views check their labels themselves (``window/views.py``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import jax
import numpy as np
from jax.extend import core as jex

from kernex._src.interp import primitives
from kernex._src.interp.bind import bind_equation
from kernex._src.interp.evaluate import INLINE, live_equations
from kernex._src.interp.rules.elementwise import ELEMENTWISE

__all__ = ["patch_reads", "check_reads"]

# constants folded to find static indices are small (index arithmetic), never whole arrays
_FOLD_LIMIT = 4096
_CALLS = frozenset(INLINE) | frozenset(primitives.lookup(["custom_jvp_call", "custom_vjp_call"]))
_ELEMENTWISE = frozenset(primitives.lookup(ELEMENTWISE))
_SLICE, _DYNAMIC_SLICE, _GATHER, _SQUEEZE, _TRANSPOSE, _REV = primitives.lookup(
    ["slice", "dynamic_slice", "gather", "squeeze", "transpose", "rev"]
)


@dataclasses.dataclass(frozen=True)
class _Dim:
    """One dimension of a view: patch ``axis`` positions ``base + stride * i`` for ``i < width``."""

    axis: int
    base: int
    stride: int
    width: int


@dataclasses.dataclass(frozen=True)
class _View:
    """A value whose elements are patch elements, dimension by dimension."""

    dims: tuple[_Dim, ...]
    whole: tuple[bool, ...]  # per dim: it is the patch's whole axis (indices are the user's indices)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(d.width for d in self.dims)


def _whole_patch(shape: Sequence[int]) -> _View:
    return _View(tuple(_Dim(a, 0, 1, k) for a, k in enumerate(shape)), (True,) * len(shape))


def _cut(view: _View, i: int, start: int, width: int, step: int, reads: set, record: bool = True) -> tuple[_Dim, bool]:
    """Dimension ``i`` of ``view`` restricted to ``width`` positions from ``start`` every ``step``."""
    d = view.dims[i]
    new = _Dim(d.axis, d.base + d.stride * start, d.stride * step, width)
    if record and width == 1 and d.width > 1:
        reads.add((d.axis, new.base))
    return new, False


def _slice(eqn, ins, reads):
    view = ins[0]
    p = eqn.params
    steps = p["strides"] or (1,) * len(view.dims)
    dims = []
    for i, (lo, hi, st) in enumerate(zip(p["start_indices"], p["limit_indices"], steps)):
        if (lo, hi, st) == (0, view.dims[i].width, 1):
            dims.append((view.dims[i], view.whole[i]))
        else:
            dims.append(_cut(view, i, lo, len(range(lo, hi, st)), st, reads))
    return _View(tuple(d for d, _ in dims), tuple(w for _, w in dims))


def _dynamic_slice(eqn, ins, reads):
    view, *starts = ins
    if not all(isinstance(s, np.ndarray) and s.shape == () for s in starts):
        return None  # a run-time index: JAX's rules apply
    dims = []
    for i, (s, size) in enumerate(zip(starts, eqn.params["slice_sizes"])):
        d, s = view.dims[i], int(s)
        clamped = min(max(s, 0), d.width - size)
        outside = size == 1 and view.whole[i] and s != clamped
        if outside:
            reads.add((d.axis, s))  # out of the patch: recorded as the (normalised) index asked for
        dims.append(_cut(view, i, clamped, size, 1, reads, not outside) if size < d.width else (d, view.whole[i]))
    return _View(tuple(d for d, _ in dims), tuple(w for _, w in dims))


def _gather(eqn, ins, reads):
    view, indices = ins
    dn, sizes = eqn.params["dimension_numbers"], eqn.params["slice_sizes"]
    if not isinstance(indices, np.ndarray) or dn.operand_batching_dims:
        return None
    for j, i in enumerate(dn.start_index_map):
        d = view.dims[i]
        if sizes[i] != 1 or d.width == 1:
            continue
        for s in np.unique(indices[..., j]).tolist():
            inside = min(max(s, 0), d.width - 1)
            reads.add((d.axis, s if view.whole[i] and s != inside else d.base + d.stride * inside))
    return None


def _squeeze(eqn, ins, reads):
    view, drop = ins[0], set(eqn.params["dimensions"])
    keep = [i for i in range(len(view.dims)) if i not in drop]
    return _View(tuple(view.dims[i] for i in keep), tuple(view.whole[i] for i in keep))


def _transpose(eqn, ins, reads):
    view, perm = ins[0], eqn.params["permutation"]
    return _View(tuple(view.dims[i] for i in perm), tuple(view.whole[i] for i in perm))


def _rev(eqn, ins, reads):
    view, flip = ins[0], set(eqn.params["dimensions"])
    dims = [
        _Dim(d.axis, d.base + d.stride * (d.width - 1), -d.stride, d.width) if i in flip else d
        for i, d in enumerate(view.dims)
    ]
    return _View(tuple(dims), tuple(w and i not in flip for i, w in enumerate(view.whole)))


_VIEW_RULES: dict[Any, Callable] = {
    _SLICE: _slice,
    _DYNAMIC_SLICE: _dynamic_slice,
    _GATHER: _gather,
    _SQUEEZE: _squeeze,
    _TRANSPOSE: _transpose,
    _REV: _rev,
}


def _known(value: Any) -> np.ndarray | None:
    """A trace-time constant as NumPy data, or None."""
    if isinstance(value, jax.core.Tracer) or np.size(value) > _FOLD_LIMIT:
        return None
    try:
        return np.asarray(value)
    except Exception:  # not array data (e.g. an opaque constant)
        return None


def _fold(eqn, ins) -> list:
    """Evaluate a first-order equation of small trace-time constants (index arithmetic), or give up (None)."""
    n = len(eqn.outvars)
    if eqn.effects or any(v is None or isinstance(v, _View) for v in ins):
        return [None] * n
    if any(isinstance(v, (jex.Jaxpr, jex.ClosedJaxpr)) for v in eqn.params.values()):
        return [None] * n  # control flow and custom rules: never run at trace time here
    if sum(int(np.prod(v.aval.shape)) for v in eqn.outvars) > _FOLD_LIMIT:
        return [None] * n
    try:
        with jax.ensure_compile_time_eval():
            return [_known(o) for o in bind_equation(eqn, ins)]
    except Exception:  # a primitive that cannot run eagerly here: its result is unknown
        return [None] * n


def _inner(eqn):
    inner = eqn.params.get("jaxpr", eqn.params.get("call_jaxpr"))
    if isinstance(inner, jex.ClosedJaxpr):
        return inner.jaxpr, [_known(c) for c in inner.consts]
    return inner, []


def _step(eqn, ins, reads) -> list:
    views = [v for v in ins if isinstance(v, _View)]
    n = len(eqn.outvars)
    if eqn.primitive in _CALLS:  # jit, checkpoint, custom derivatives: walk the function inside
        inner, consts = _inner(eqn)
        if isinstance(inner, jex.Jaxpr) and len(inner.invars) == len(ins):
            return _walk(inner, consts, ins, reads)
        return [None] * n
    if not views:
        return _fold(eqn, ins)
    rule = _VIEW_RULES.get(eqn.primitive)
    if rule is not None and isinstance(ins[0], _View) and len(views) == 1:
        return [rule(eqn, ins, reads)]
    if eqn.primitive in _ELEMENTWISE and len({(v.dims, v.whole) for v in views}) == 1:
        if tuple(eqn.outvars[0].aval.shape) == views[0].shape:
            return [views[0]]  # the same patch elements, transformed elementwise
    return [None] * n


def _walk(jaxpr, consts: Sequence[Any], args: Sequence[Any], reads: set) -> list:
    env: dict = {}

    def read(var):
        if isinstance(var, jex.Literal):
            return _known(var.val)
        return env.get(var)

    env.update(zip(jaxpr.constvars, consts))
    env.update(zip(jaxpr.invars, args))
    for eqn in live_equations(jaxpr):
        for var, out in zip(eqn.outvars, _step(eqn, [read(v) for v in eqn.invars], reads)):
            if not isinstance(var, jex.DropVar):
                env[var] = out
    return [read(v) for v in jaxpr.outvars]


def patch_reads(closed: jex.ClosedJaxpr, shape: Sequence[int], position: int = 0) -> set[tuple[int, int]]:
    """``(axis, s)`` for every single-cell read of the patch (the jaxpr's input ``position``) of ``shape``.

    ``s`` is the patch position read when ``0 <= s < shape[axis]``; otherwise
    the read is out of the patch and ``s`` is the index asked for, normalised
    as ``jnp`` does (a negative index plus the axis length).

    >>> import jax, jax.numpy as jnp
    >>> closed = jax.make_jaxpr(lambda x: x[1, -1] + x[5, 0])(jnp.zeros((3, 3)))
    >>> sorted(patch_reads(closed, (3, 3)))
    [(0, 1), (0, 5), (1, 0), (1, 2)]
    """
    args = [None] * len(closed.jaxpr.invars)
    args[position] = _whole_patch(shape)
    reads: set = set()
    _walk(closed.jaxpr, [_known(c) for c in closed.consts], args, reads)
    return reads


def _index(s: int, n: int, half: int) -> int:
    """The index the user wrote for read ``s`` of an axis of ``n`` cells (``half``: largest positive one)."""
    return s if 0 <= s <= half or s >= n else s - n


def _probe(fn: Callable, spec, margin: int, args: tuple, kwargs: dict) -> list[set] | None:
    """Per patch (one per field), the anchor offsets ``fn`` reads on relative probe patches (axis ``k``
    grown to ``2 (k + margin) + 1``)."""
    leaves, tree = jax.tree_util.tree_flatten(spec)
    half = [k + margin for k in leaves[0].shape]
    shape = tuple(2 * m + 1 for m in half)
    probe = tree.unflatten([leaf.update(shape=shape) for leaf in leaves])
    try:
        closed = jax.make_jaxpr(lambda p: fn(p, *args, **kwargs))(probe)
        reads = [patch_reads(closed, shape, i) for i in range(len(leaves))]
    except Exception:  # the function needs the real patch shape: no check
        return None
    return [{(a, _index(s, shape[a], half[a])) for a, s in field} for field in reads]


def _fail(name: str, fn: Callable, shape: tuple, axis: int, bad: list[int], relative: bool) -> IndexError:
    k = shape[axis]
    c = (k - 1) // 2
    word = "offset" if relative else "index"
    what = f"{word if len(bad) == 1 else word + ('s' if relative else 'es')} {', '.join(map(str, bad))}"
    head = (
        f"{name}: window function {getattr(fn, '__name__', fn)!r} reads {what} on axis {axis} of its "
        f"{shape} patch, outside the window."
    )
    if relative:
        return IndexError(
            f"{head} With relative=True the patch is indexed by offsets from the anchor: axis {axis} has "
            f"{k} cells, offsets {-c}..{k - 1 - c} (x[0] is the anchor, x[-1] the cell before it); other "
            f"offsets would wrap around to another cell. Use an offset in {-c}..{k - 1 - c} or a larger "
            f"kernel_size; to index cells from the window's first one (0..{k - 1}), e.g. fields stacked "
            f"along a kernel_size=-1 axis, use relative=False."
        )
    return IndexError(
        f"{head} Axis {axis} has {k} cells, indices 0..{k - 1} (or {-k}..-1 from the end); JAX would "
        f"silently clamp the index to the nearest cell. Use an index in that range or a larger kernel_size."
    )


def _raise_first(name: str, fn: Callable, shape: tuple, bad: set, relative: bool) -> None:
    """Raise for the first axis with an out-of-window read in ``bad`` (``(axis, index)`` pairs)."""
    for axis in range(len(shape)):
        on_axis = sorted(t for a, t in bad if a == axis)
        if on_axis:
            raise _fail(name, fn, shape, axis, on_axis, relative)


def check_reads(fn: Callable, closed: jex.ClosedJaxpr, spec, relative: bool, args: tuple, kwargs: dict, name: str) -> None:
    """Raise ``IndexError`` if ``fn`` (traced as ``closed`` on ``spec``) reads outside its window."""
    leaves = jax.tree_util.tree_leaves(spec)  # one patch per field, all of the window's shape
    shape = tuple(leaves[0].shape)
    bad = set()
    for position in range(len(leaves)):
        reads = patch_reads(closed, shape, position)
        bad |= {(a, s if s >= shape[a] else s - shape[a]) for a, s in reads if not 0 <= s < shape[a]}
    if relative:
        first = _probe(fn, spec, 0, args, kwargs)
        if first is not None and first == _probe(fn, spec, 1, args, kwargs):
            centre = [(k - 1) // 2 for k in shape]
            bad |= {(a, t) for field in first for a, t in field if not -centre[a] <= t <= shape[a] - 1 - centre[a]}
    _raise_first(name, fn, shape, bad, relative)
