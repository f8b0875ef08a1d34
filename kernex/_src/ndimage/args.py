"""Argument handling shared by every ``kernex.ndimage`` filter: scipy.ndimage's arguments, checked and normalised.

Invariants: everything here runs in Python at trace time on concrete values
(shapes, mode names, sizes, footprints, origins) and never touches array data.
Mode names are scipy's and map onto ``kmap``'s ``boundary`` names (:data:`MODES`,
checked against scipy 1.17 cell by cell in ``tests/test_ndimage_args.py``).
A window of size ``s`` with origin ``o`` at output cell ``i`` covers the input
cells ``i - (s // 2 + o) + j`` for ``j < s``, and ``o`` must satisfy
``-(s // 2) <= o <= (s - 1) // 2`` (scipy's rule). Where scipy raises a
``RuntimeError`` for a bad argument, these helpers raise a ``ValueError`` or
``TypeError`` that names the argument, what was given and what is accepted.
"""

from __future__ import annotations

import numbers
import operator
import warnings
from collections.abc import Iterable
from typing import Any

import jax
import numpy as np

__all__ = [
    "MODES", "boundary_of", "modes_for", "check_axes", "per_axis", "as_int", "check_size", "check_origin",
    "expand_to_ndim", "footprint_of", "check_cval", "concrete_array", "warn_size_ignored",
]

#: scipy.ndimage's mode names and the ``kmap`` ``boundary`` mode that reads the same cells
MODES = {
    "reflect": "symmetric",  # d c b a | a b c d | d c b a
    "grid-mirror": "symmetric",
    "mirror": "reflect",  # d c b | a b c d | c b a
    "nearest": "edge",  # a a a | a b c d | d d d
    "wrap": "wrap",  # a b c d | a b c d | a b c d
    "grid-wrap": "wrap",
    "constant": "constant",  # cval cval | a b c d | cval cval
    "grid-constant": "constant",
}


def boundary_of(mode: Any, name: str = "mode") -> str:
    """The ``kmap`` boundary mode for one scipy mode name.

    >>> boundary_of("reflect"), boundary_of("mirror"), boundary_of("nearest")
    ('symmetric', 'reflect', 'edge')
    """
    if not isinstance(mode, str):
        raise TypeError(
            f"`{name}` must be a mode name, one of {', '.join(map(repr, MODES))}; got {name}={mode!r} of type "
            f"{type(mode).__name__}."
        )
    if mode not in MODES:
        hint = ""
        if mode in ("edge", "symmetric"):
            hint = " (kernex.kmap's 'edge' is scipy's 'nearest', 'symmetric' is 'reflect')"
        raise ValueError(f"`{name}` must be one of {', '.join(map(repr, MODES))}; got {name}={mode!r}{hint}.")
    return MODES[mode]


def _is_sequence(value: Any) -> bool:
    return not isinstance(value, str) and isinstance(value, Iterable)


def per_axis(value: Any, count: int, name: str) -> list:
    """``value`` repeated ``count`` times, or the sequence itself if it has ``count`` entries."""
    if _is_sequence(value) and not (isinstance(value, (np.ndarray, jax.Array)) and np.ndim(value) == 0):
        values = list(value)
        if len(values) != count:
            raise ValueError(
                f"`{name}` must be one value or one value per filtered axis ({count}); got {name}={value!r} with "
                f"{len(values)} entries."
            )
        return values
    return [value] * count


def modes_for(mode: Any, count: int, *, sequence_ok: bool, name: str = "mode") -> list[str]:
    """One kmap boundary mode per filtered axis; a sequence of modes only where scipy accepts one."""
    if _is_sequence(mode) and not sequence_ok:
        raise ValueError(
            f"`{name}` must be a single mode name for this filter (scipy accepts a sequence of modes only for "
            f"separable filters); got {name}={mode!r}."
        )
    return [boundary_of(m, name) for m in per_axis(mode, count, name)]


def check_axes(axes: Any, ndim: int) -> tuple[int, ...]:
    """The filtered axes, normalised to ``0 .. ndim-1`` (``None``: every axis), as scipy's ``axes``.

    >>> check_axes(None, 3), check_axes(-1, 3), check_axes((2, 0), 3)
    ((0, 1, 2), (2,), (2, 0))
    """
    if axes is None:
        return tuple(range(ndim))
    entries = [axes] if not _is_sequence(axes) else list(axes)
    out = []
    for ax in entries:
        if isinstance(ax, (bool, np.bool_)) or not isinstance(ax, (numbers.Integral, np.integer)):
            raise TypeError(f"`axes` must be None, an int or a sequence of ints; got axes={axes!r}.")
        ax = int(ax)
        if not -ndim <= ax < ndim:
            raise ValueError(
                f"`axes` entries must lie in -{ndim} .. {ndim - 1} for an input of rank {ndim}; got axes={axes!r}."
            )
        out.append(ax % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"`axes` must not repeat an axis; got axes={axes!r} (axes {tuple(out)}).")
    return tuple(out)


def as_int(value: Any, name: str) -> int:
    """A Python int from an int-like value (bools refused), else ``TypeError``."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be an int; got {name}={value!r}.")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"`{name}` must be an int; got {name}={value!r} of type {type(value).__name__}.") from None


def check_size(value: Any, name: str = "size", minimum: int = 1) -> int:
    """A window length: an int >= ``minimum`` (separable filters accept 0, an axis they skip, as scipy)."""
    size = as_int(value, name)
    if size < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}; got {name}={value!r}.")
    return size


def check_origin(origin: Any, size: int, name: str = "origin") -> int:
    """An origin for a window of ``size`` cells: ``-(size // 2) <= origin <= (size - 1) // 2`` (scipy's rule)."""
    o = as_int(origin, name)
    lo, hi = -(size // 2), (size - 1) // 2
    if not lo <= o <= hi:
        raise ValueError(
            f"`{name}` must satisfy -(size // 2) <= origin <= (size - 1) // 2, i.e. {lo} .. {hi} for a window of "
            f"{size} cells; got {name}={origin!r}."
        )
    return o


def expand_to_ndim(values: list, axes: tuple[int, ...], ndim: int, default: Any) -> list:
    """Per-filtered-axis ``values`` spread over all ``ndim`` axes, ``default`` on the others.

    As scipy's ``_expand_origin``/``_expand_mode``: when every axis is filtered the
    values stay in axis order, whatever the order of ``axes``.

    >>> expand_to_ndim([1, 2], (2, 0), 3, 0), expand_to_ndim([1, 2], (1, 0), 2, 0)
    ([2, 0, 1], [1, 2])
    """
    if len(axes) == ndim:
        return list(values)
    full = [default] * ndim
    for v, ax in zip(values, axes):
        full[ax] = v
    return full


def concrete_array(value: Any, name: str, dtype: Any = None) -> np.ndarray:
    """A NumPy array from a concrete array-like; a traced value raises ``TypeError``."""
    try:
        return np.asarray(value, dtype=dtype)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        raise TypeError(
            f"`{name}` must be concrete (a NumPy array, a list, or a JAX array outside jit): it decides the window "
            f"shape; got a traced value. Close over it instead of passing it as a jit argument."
        ) from None


def warn_size_ignored(size: Any, footprint: Any, stacklevel: int = 3) -> None:
    """scipy's warning when both ``size`` and ``footprint`` are given."""
    if size is not None and footprint is not None:
        warnings.warn("ignoring size because footprint is set", UserWarning, stacklevel=stacklevel + 1)


def footprint_of(size: Any, footprint: Any, axes: tuple[int, ...], ndim: int, name: str = "footprint") -> np.ndarray:
    """The boolean footprint over all ``ndim`` axes (size-1 on axes not filtered), from ``size`` or ``footprint``.

    As in scipy, the footprint's (and ``size``'s) entries are laid on the filtered
    axes in increasing axis order, whatever the order of ``axes`` (origins follow ``axes``).

    >>> footprint_of(3, None, (1,), 2).shape
    (1, 3)
    """
    if footprint is None:
        if size is None:
            raise ValueError("give `size=` (window shape) or `footprint=` (boolean mask of the window cells); got neither.")
        sizes = [check_size(s, "size") for s in per_axis(size, len(axes), "size")]
        fp = np.ones(sizes, dtype=bool)
    else:
        fp = concrete_array(footprint, name).astype(bool)
        if fp.ndim != len(axes):
            raise ValueError(
                f"`{name}` must have one axis per filtered axis ({len(axes)}); got {name} of shape {fp.shape}."
            )
        if 0 in fp.shape:
            raise ValueError(f"`{name}` must not have an empty axis; got {name} of shape {fp.shape}.")
        if not fp.any():
            raise ValueError(f"`{name}` must select at least one cell; got an all-False {name} of shape {fp.shape}.")
    if len(axes) < ndim:  # as scipy: the footprint's axes are the filtered axes in increasing order
        fp = np.expand_dims(fp, tuple(ax for ax in range(ndim) if ax not in axes))
    return fp


def check_cval(cval: Any, complex_ok: bool = False) -> Any:
    """``cval``: a real scalar (complex only for complex filters); JAX scalars may be traced (differentiable)."""
    if isinstance(cval, (bool, np.bool_)) or not (
        isinstance(cval, (numbers.Number, np.generic)) or (isinstance(cval, (np.ndarray, jax.Array)) and np.ndim(cval) == 0)
    ):
        raise TypeError(f"`cval` must be a scalar number; got cval={cval!r} of type {type(cval).__name__}.")
    if not complex_ok and np.issubdtype(np.result_type(cval), np.complexfloating):
        raise ValueError(f"`cval` must be real for a real input and real weights; got cval={cval!r}.")
    return cval
