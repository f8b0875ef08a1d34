"""scipy.ndimage's order-statistic filters in JAX: minimum, maximum, rank, median, percentile and generic filters.

Invariants: same arguments, defaults and dispatch as scipy 1.17. A minimum or
maximum with a ``size`` (or an all-True ``footprint``) runs one 1-D pass per
axis, each stored in the output dtype; other footprints (and any ``structure``)
take the window's footprint cells at once. A rank filter whose rank is the
first or last cell is that minimum or maximum (as in scipy); otherwise it is
``jnp.sort`` of the footprint cells (C order) indexed by the rank, inside
``kmap`` (the lowering of ``sort`` is ``kmap``'s business). ``median`` is the
cell at index ``n // 2`` of the sorted window (not a mean for even ``n``).
NaN: minima and maxima propagate it (``lax.min``/``lax.max``); sorts put NaN
last, as ``np.sort`` (scipy leaves NaN undefined for these filters). Cells
outside an integer input read ``cval`` converted to the input's dtype as
scipy's C code converts it (``dtypes.fill_value``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from kernex._src.ndimage import args as A
from kernex._src.ndimage import dtypes
from kernex._src.ndimage.entry import entry
from kernex._src.ndimage.filters import as_input, run_passes
from kernex._src.ndimage.windows import line_windows, windows

__all__ = [
    "minimum_filter1d", "maximum_filter1d", "minimum_filter", "maximum_filter", "min_or_max_filter",
    "rank_filter", "median_filter", "percentile_filter", "generic_filter",
]


def _extreme(minimum: bool):
    return jnp.min if minimum else jnp.max


def _extreme_pass(x, size, axis, mode, cval, origin, minimum, store):
    """One 1-D minimum/maximum, in a dtype holding both the data and the stored result.

    scipy's 1-D passes compare in double, so an integer pass must treat a ``cval``
    outside the data's range as that double: one that cannot win (``inf`` for a
    minimum) becomes the range's end, one that wins wherever a window meets the
    border becomes a sentinel just outside the data, replaced by ``cval``
    converted to the output.
    """
    if x.size == 0:
        return jnp.zeros(x.shape, store)
    vdt = dtypes.output_dtype(jnp.promote_types(x.dtype, store), x.dtype)
    line = lambda v, fill: line_windows(v, _extreme(minimum), size, axis, mode, fill, origin)  # noqa: E731
    if vdt.kind in "biu" and vdt != np.bool_ and mode == "constant":
        try:
            c = float(np.real(cval))
        except TypeError:  # traced: converted like scipy's N-D filters
            c = None
        info = np.iinfo(vdt)
        if c is not None and not (c != c or info.min <= np.trunc(c) <= info.max):
            if (c > info.max) == minimum:  # never wins: the end of the range it lies beyond
                return dtypes.c_cast(line(x.astype(vdt), vdt.type(info.max if minimum else info.min)), store)
            wide = vdt if vdt.itemsize >= 4 else np.dtype(np.int32)
            sentinel = (info.min - 1 if minimum else info.max + 1) if wide != vdt else (info.min if minimum else info.max)
            r = line(x.astype(wide), wide.type(sentinel))
            return jnp.where(r == sentinel, dtypes.fill_value(c, store), dtypes.c_cast(r, store))
    return dtypes.c_cast(line(x.astype(vdt), dtypes.fill_value(cval, vdt)), store)


def _filter1d(input, size, axis, output, mode, cval, origin, minimum):
    x = as_input(input, complex_ok=False)
    ax = A.check_axes(A.as_int(axis, "axis"), x.ndim)[0]
    size = A.check_size(size)
    o = A.check_origin(origin, size)
    out = dtypes.output_dtype(output, x.dtype)
    cval = A.check_cval(cval)
    return run_passes(x, out, [lambda v, st: _extreme_pass(v, size, ax, A.boundary_of(mode), cval, o, minimum, st)])


@entry
def minimum_filter1d(input, size, axis=-1, output=None, mode="reflect", cval=0.0, origin=0):
    """1-D minimum of ``size`` cells along ``axis`` (``scipy.ndimage.minimum_filter1d``).

    >>> import kernex.ndimage as ndi
    >>> ndi.minimum_filter1d(jnp.array([2, 8, 0, 4, 1, 9, 9, 0]), size=3).tolist()
    [2, 0, 0, 0, 1, 1, 0, 0]
    """
    return _filter1d(input, size, axis, output, mode, cval, origin, True)


@entry
def maximum_filter1d(input, size, axis=-1, output=None, mode="reflect", cval=0.0, origin=0):
    """1-D maximum of ``size`` cells along ``axis`` (``scipy.ndimage.maximum_filter1d``).

    >>> import kernex.ndimage as ndi
    >>> ndi.maximum_filter1d(jnp.array([2, 8, 0, 4, 1, 9, 9, 0]), size=3).tolist()
    [8, 8, 8, 4, 9, 9, 9, 9]
    """
    return _filter1d(input, size, axis, output, mode, cval, origin, False)


def _cells(footprint: np.ndarray) -> np.ndarray:
    return np.flatnonzero(footprint)


def _structured(v, s, dtype, minimum):
    """``v + s`` (``v - s`` for a minimum) per cell, in a dtype wide enough for every value.

    As scipy's C code: every cell but the first is stored back into the input's
    ``dtype`` (integers wrap), the first cell keeps its exact value.
    """
    s = -s if minimum else s
    acc = None
    if dtype.kind in "biu" and np.all(s == np.round(s)) and np.abs(s).max() < 2**31 and dtype.itemsize <= 4:
        acc = np.dtype(np.int64) if dtypes.x64() else np.dtype(np.int32)
        if dtype == np.uint32 and acc == np.int32:
            acc = None
    acc = acc or dtypes.compute_dtype(dtype, dtype)
    w = v.astype(acc) + s.astype(acc)
    stored = dtypes.c_cast(w, dtype).astype(acc)
    return jnp.concatenate([w[:1], stored[1:]])


def _footprint_pass(x, footprint, structure, modes, cval, origins, minimum, store):
    """A minimum/maximum over the footprint cells (plus ``structure``), values in the input's dtype."""
    if x.size == 0:
        return jnp.zeros(x.shape, store)
    cells = _cells(footprint)
    s = None if structure is None else np.asarray(structure, np.float64).reshape(-1)[cells]

    def fn(p):
        v = p.reshape(-1)[cells]
        if s is not None:
            v = _structured(v, s, x.dtype, minimum)
        return _extreme(minimum)(v)

    out = windows(x, fn, footprint.shape, modes, dtypes.fill_value(cval, x.dtype), origins)
    return dtypes.c_cast(out, store)


def min_or_max_filter(input, size, footprint, structure, output, mode, cval, origin, minimum, axes=None):
    """scipy's ``_min_or_max_filter``: separable passes for full boxes, footprint windows otherwise."""
    A.warn_size_ignored(size, footprint, stacklevel=3)
    x = as_input(input, complex_ok=False)
    ax = A.check_axes(axes, x.ndim)
    n = len(ax)
    out = dtypes.output_dtype(output, x.dtype)
    cval = A.check_cval(cval)
    if structure is None:
        if footprint is None:
            if size is None:
                raise ValueError("give `size=`, `footprint=` or `structure=`; got none of them.")
            separable = True
        else:
            footprint = A.concrete_array(footprint, "footprint").astype(bool)
            if not footprint.any():
                raise ValueError(f"`footprint` must select at least one cell; got an all-False footprint of shape "
                                 f"{footprint.shape}.")
            separable = bool(footprint.all())
            if separable:
                size, footprint = footprint.shape, None
    else:
        structure = A.concrete_array(structure, "structure", np.float64)
        separable = False
        if structure.ndim != n:
            raise ValueError(f"`structure` must have one axis per filtered axis ({n}); got shape {structure.shape}.")
        if footprint is None:
            footprint = np.ones(structure.shape, bool)
        footprint = A.concrete_array(footprint, "footprint").astype(bool)
        if footprint.shape != structure.shape:
            raise ValueError(f"`footprint` and `structure` must have the same shape; got {footprint.shape} and "
                             f"{structure.shape}.")
    if separable:
        sizes = [A.check_size(s, minimum=0) for s in A.per_axis(size, n, "size")]
        origins = A.per_axis(origin, n, "origin")
        modes = A.modes_for(mode, n, sequence_ok=True)
        passes = []
        for a, s, o, m in zip(ax, sizes, origins, modes):
            if s > 1:
                o = A.check_origin(o, s)
                passes.append(lambda v, st, a=a, s=s, o=o, m=m: _extreme_pass(v, s, a, m, cval, o, minimum, st))
        return run_passes(x, out, passes)
    fp = A.footprint_of(None, footprint, ax, x.ndim)
    origins = A.expand_to_ndim(A.per_axis(origin, n, "origin"), ax, x.ndim, 0)
    origins = [A.check_origin(o, s) for o, s in zip(origins, fp.shape)]
    if structure is not None and n < x.ndim:
        structure = np.expand_dims(structure, tuple(a for a in range(x.ndim) if a not in ax))
    modes = A.modes_for(mode, 1, sequence_ok=False) * x.ndim
    r = _footprint_pass(x, fp, structure, modes, cval, origins, minimum, dtypes.storage_dtype(out))
    return dtypes.finish(r, out)


@entry
def minimum_filter(input, size=None, footprint=None, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None):
    """N-D minimum over ``size`` or ``footprint`` (``scipy.ndimage.minimum_filter``).

    >>> import kernex.ndimage as ndi
    >>> ndi.minimum_filter(jnp.array([[3, 1, 2], [5, 4, 0], [7, 8, 6]]), size=2).tolist()
    [[3, 1, 1], [3, 1, 0], [5, 4, 0]]
    """
    return min_or_max_filter(input, size, footprint, None, output, mode, cval, origin, True, axes)


@entry
def maximum_filter(input, size=None, footprint=None, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None):
    """N-D maximum over ``size`` or ``footprint`` (``scipy.ndimage.maximum_filter``).

    >>> import kernex.ndimage as ndi
    >>> ndi.maximum_filter(jnp.array([[3, 1, 2], [5, 4, 0], [7, 8, 6]]), size=2).tolist()
    [[3, 3, 2], [5, 5, 4], [7, 8, 8]]
    """
    return min_or_max_filter(input, size, footprint, None, output, mode, cval, origin, False, axes)


def _rank_setup(input, size, footprint, origin, mode, axes):
    A.warn_size_ignored(size, footprint, stacklevel=4)
    x = as_input(input, complex_ok=False)
    ax = A.check_axes(axes, x.ndim)
    fp = A.footprint_of(size, footprint, ax, x.ndim)
    origins = A.expand_to_ndim(A.per_axis(origin, len(ax), "origin"), ax, x.ndim, 0)
    origins = [A.check_origin(o, s) for o, s in zip(origins, fp.shape)]
    if isinstance(mode, str):
        A.boundary_of(mode)
        modes = mode
    else:  # a sequence: 'constant' on the axes not filtered, as scipy's _expand_mode
        modes = A.expand_to_ndim(A.per_axis(mode, len(ax), "mode"), ax, x.ndim, "constant")
    return x, fp, origins, modes


def _rank(x, fp, rank, output, modes, cval, origins):
    n = int(fp.sum())
    given = rank
    if rank < 0:
        rank += n
    if not 0 <= rank < n:
        raise ValueError(f"`rank` must lie in -{n} .. {n - 1} for a footprint of {n} cells; got rank={given}.")
    if rank == 0 or rank == n - 1:
        return min_or_max_filter(x, None, fp, None, output, modes, cval, origins, rank == 0, None)
    out = dtypes.output_dtype(output, x.dtype)
    cval = A.check_cval(cval)
    bmodes = A.modes_for(modes, 1, sequence_ok=False) * x.ndim
    if x.size == 0:
        return jnp.zeros(x.shape, out)
    cells = _cells(fp)
    fill = dtypes.fill_value(cval, x.dtype)
    r = windows(x, lambda p: jnp.sort(p.reshape(-1)[cells])[rank], fp.shape, bmodes, fill, origins)
    return dtypes.finish(dtypes.c_cast(r, dtypes.storage_dtype(out)), out)


@entry
def rank_filter(input, rank, size=None, footprint=None, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None):
    """The ``rank``-th smallest footprint cell (``rank=-1`` the largest) (``scipy.ndimage.rank_filter``).

    >>> import kernex.ndimage as ndi
    >>> ndi.rank_filter(jnp.array([3.0, 1.0, 2.0, 5.0, 4.0]), 1, size=3).tolist()
    [3.0, 2.0, 2.0, 4.0, 4.0]
    """
    rank = A.as_int(rank, "rank")
    x, fp, origins, modes = _rank_setup(input, size, footprint, origin, mode, axes)
    return _rank(x, fp, rank, output, modes, cval, origins)


@entry
def median_filter(input, size=None, footprint=None, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None):
    """The median (sorted index ``n // 2``) of the footprint cells (``scipy.ndimage.median_filter``).

    >>> import kernex.ndimage as ndi
    >>> ndi.median_filter(jnp.array([3.0, 1.0, 2.0, 5.0, 4.0]), size=3).tolist()
    [3.0, 2.0, 2.0, 4.0, 4.0]
    """
    x, fp, origins, modes = _rank_setup(input, size, footprint, origin, mode, axes)
    return _rank(x, fp, int(fp.sum()) // 2, output, modes, cval, origins)


@entry
def percentile_filter(input, percentile, size=None, footprint=None, output=None, mode="reflect", cval=0.0, origin=0,
                      *, axes=None):  # fmt: skip
    """The ``percentile`` (``-20`` is ``80``) of the footprint cells (``scipy.ndimage.percentile_filter``).

    The rank is ``int(n * percentile / 100)`` (``n - 1`` for 100), as in scipy.

    >>> import kernex.ndimage as ndi
    >>> ndi.percentile_filter(jnp.array([3.0, 1.0, 2.0, 5.0, 4.0]), 50, size=3).tolist()
    [3.0, 2.0, 2.0, 4.0, 4.0]
    """
    try:
        p = float(percentile)
    except (TypeError, ValueError):
        raise TypeError(f"`percentile` must be a real number; got percentile={percentile!r}.") from None
    x, fp, origins, modes = _rank_setup(input, size, footprint, origin, mode, axes)
    n = int(fp.sum())
    q = p + 100.0 if p < 0 else p
    if not 0 <= q <= 100:
        raise ValueError(f"`percentile` must lie in -100 .. 100; got percentile={percentile!r}.")
    rank = n - 1 if q == 100.0 else int(float(n) * q / 100.0)
    return _rank(x, fp, rank, output, modes, cval, origins)


@entry
def generic_filter(input, function, size=None, footprint=None, output=None, mode="reflect", cval=0.0, origin=0,
                   extra_arguments=(), extra_keywords=None, *, axes=None):  # fmt: skip
    """``function(cells, *extra_arguments, **extra_keywords)`` at every cell (``scipy.ndimage.generic_filter``).

    ``function`` is a JAX function of the 1-D array of the footprint's cells (C
    order, as floats, like scipy's double buffer) returning a scalar; it is traced
    once and lowered by ``kmap`` (no Python callback), so it must be traceable.

    >>> import kernex.ndimage as ndi
    >>> ndi.generic_filter(jnp.arange(5.0), lambda v: v.max() - v.min(), size=3).tolist()
    [1.0, 2.0, 2.0, 2.0, 1.0]
    """
    if not callable(function):
        raise TypeError(f"`function` must be a callable of the window cells; got {function!r}.")
    A.warn_size_ignored(size, footprint, stacklevel=3)
    x = as_input(input, complex_ok=False)
    ax = A.check_axes(axes, x.ndim)
    fp = A.footprint_of(size, footprint, ax, x.ndim)
    origins = A.expand_to_ndim(A.per_axis(origin, len(ax), "origin"), ax, x.ndim, 0)
    origins = [A.check_origin(o, s) for o, s in zip(origins, fp.shape)]
    modes = A.modes_for(mode, 1, sequence_ok=False) * x.ndim
    out = dtypes.output_dtype(output, x.dtype)
    cval = A.check_cval(cval)
    cdt = dtypes.compute_dtype(x.dtype, out)
    cells = _cells(fp)
    extra = tuple(extra_arguments) if isinstance(extra_arguments, (tuple, list)) else (extra_arguments,)
    kw = dict(extra_keywords or {})
    shape = jax.eval_shape(lambda v: function(v, *extra, **kw), jax.ShapeDtypeStruct((cells.size,), cdt)).shape
    if shape != ():
        raise ValueError(f"`function` must return a scalar per window; it returns shape {shape} for {cells.size} cells.")
    if x.size == 0:
        return jnp.zeros(x.shape, out)

    def fn(p, *a, **k):
        return function(p.reshape(-1)[cells], *a, **k)

    r = windows(x.astype(cdt), fn, fp.shape, modes, cval, origins, extra, kw)
    return dtypes.finish(dtypes.c_cast(jnp.asarray(r), dtypes.storage_dtype(out)), out)
