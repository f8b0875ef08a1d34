"""Window geometry: shapes, padding, strides, anchors.

Everything here is plain Python/NumPy and is resolved from the *input shape at
call time*; nothing depends on how windows are later evaluated (that is
``kernex._src.lower``). The conventions (``docs/semantics.md``, "Windows"):

* per axis, ``n`` = length, ``k`` = kernel size, ``s`` = stride, ``(lo, hi)``
  = padding (negative values crop), ``c = (k - 1) // 2`` = anchor offset;
* output length ``(n + lo + hi - k) // s + 1``;
* window ``o`` covers input coordinates ``o*s - lo + j`` for ``j < k`` and its
  anchor is ``o*s - lo + c``.

A *state* is the input zero-extended by ``(max(lo, 0), max(hi, 0))`` on every
axis (negative padding removes windows, never cells). In state coordinates
window ``o`` starts at ``origin + o*s`` with ``origin = max(-lo, 0)``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

__all__ = ["Geometry", "Layout", "resolve_geometry", "check_kernel_size", "check_strides", "check_padding", "extent", "is_int"]


def is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def extent(count: int, stride: int, size: int = 1) -> int:
    """Cells spanned by ``count`` windows of ``size`` cells that start every ``stride`` cells.

    >>> extent(3, 2), extent(3, 2, size=3)
    (5, 7)
    """
    return (count - 1) * stride + size


def _per_axis(name: str, value: Any, ndim: int, shape: tuple[int, ...]) -> tuple:
    """Broadcast an int to ``ndim`` entries or check a sequence has ``ndim`` entries."""
    if is_int(value):
        return (int(value),) * ndim
    value = tuple(value)
    if len(value) != ndim:
        raise ValueError(
            f"`{name}` must have one entry per input axis: the input has shape {shape} "
            f"(rank {ndim}) but {name}={value!r} has {len(value)} entries. Pass an int to use "
            f"the same value on every axis, or a tuple of {ndim} entries."
        )
    return value


def _check_ints(name: str, value: Any, accepted: str, minimum: int, allow_minus_one: bool = False) -> None:
    entries = (value,) if is_int(value) else value
    if not isinstance(entries, (tuple, list)) or not all(is_int(v) for v in entries):
        raise TypeError(f"`{name}` must be {accepted}; got {value!r} of type {type(value).__name__}.")
    if any(v < minimum and not (allow_minus_one and v == -1) for v in entries):
        extra = " or -1 (whole axis)" if allow_minus_one else ""
        raise ValueError(f"`{name}` entries must be >= {minimum}{extra}; got {name}={value!r}.")


def check_kernel_size(kernel_size: Any) -> None:
    """Type check at construction time (shape-independent)."""
    _check_ints("kernel_size", kernel_size, "an int or a tuple/list of ints (-1 = whole axis)", 1, True)


def check_strides(strides: Any) -> None:
    _check_ints("strides", strides, "a positive int or a tuple/list of positive ints", 1)


_PAD_WORDS = ("same", "valid")


def _check_pad_word(word: str, padding: Any) -> str:
    if word.lower() not in _PAD_WORDS:
        raise ValueError(
            f"`padding` strings must be 'same' or 'valid' (any case); got {word!r} in padding={padding!r}. "
            f"For explicit padding pass an int, or (lo, hi) pairs per axis."
        )
    return word.lower()


def _check_pad_entry(entry: Any, padding: Any) -> None:
    if isinstance(entry, str):
        _check_pad_word(entry, padding)
    elif is_int(entry):
        return
    elif isinstance(entry, (tuple, list)) and len(entry) == 2 and all(is_int(p) for p in entry):
        return
    else:
        raise TypeError(
            f"each `padding` entry must be an int, a (lo, hi) pair of ints or 'same'/'valid'; "
            f"got {entry!r} in padding={padding!r}."
        )


def check_padding(padding: Any) -> None:
    """Type check at construction time (lengths are checked against the input later)."""
    if isinstance(padding, str):
        _check_pad_word(padding, padding)
    elif is_int(padding):
        return
    elif isinstance(padding, (tuple, list)):
        for entry in padding:
            _check_pad_entry(entry, padding)
    else:
        raise TypeError(
            f"`padding` must be 'same', 'valid', an int, or a tuple/list with one entry per axis "
            f"(int, (lo, hi) pair or 'same'/'valid'); got {padding!r} of type {type(padding).__name__}."
        )


def _resolve_pad(entry: Any, k: int) -> tuple[int, int]:
    if isinstance(entry, str):
        return ((k - 1) // 2, k // 2) if entry.lower() == "same" else (0, 0)
    if is_int(entry):
        return (int(entry), int(entry))
    lo, hi = entry
    return (int(lo), int(hi))


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where windows sit in a source array.

    Window ``o`` (an index into ``out_shape``) starts at ``origin + o * strides``;
    its cell ``j`` is at ``origin + o * strides + j``.
    """

    origin: tuple[int, ...]
    out_shape: tuple[int, ...]
    strides: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class Geometry:
    """Resolved window geometry for one input shape (all tuples have one entry per axis)."""

    shape: tuple[int, ...]
    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def out_shape(self) -> tuple[int, ...]:
        return tuple(
            (n + lo + hi - k) // s + 1
            for n, k, s, (lo, hi) in zip(self.shape, self.kernel, self.strides, self.padding)
        )

    @property
    def center(self) -> tuple[int, ...]:
        """Index of the anchor cell inside a window, per axis: ``(k - 1) // 2``."""
        return tuple((k - 1) // 2 for k in self.kernel)

    @property
    def state_padding(self) -> tuple[tuple[int, int], ...]:
        """Zero cells added before/after each axis to build the state."""
        return tuple((max(lo, 0), max(hi, 0)) for lo, hi in self.padding)

    @property
    def state_shape(self) -> tuple[int, ...]:
        return tuple(n + lo + hi for n, (lo, hi) in zip(self.shape, self.state_padding))

    @property
    def origin(self) -> tuple[int, ...]:
        """State coordinate where the first window starts, per axis."""
        return tuple(max(-lo, 0) for lo, _ in self.padding)

    @property
    def first_anchor(self) -> tuple[int, ...]:
        """State coordinate of the first window's anchor cell, per axis."""
        return tuple(o + c for o, c in zip(self.origin, self.center))

    @property
    def layout(self) -> Layout:
        """The windows' layout in the state."""
        return Layout(self.origin, self.out_shape, self.strides)

    def anchors(self, axis: int) -> np.ndarray:
        """Input coordinate of the anchor of every window along ``axis`` (may be < 0 or >= n)."""
        lo = self.padding[axis][0]
        return self.strides[axis] * np.arange(self.out_shape[axis]) - lo + self.center[axis]

    def patch_cells(self, axis: int, relative: bool) -> tuple[int, ...]:
        """Window cell read by each patch index along ``axis``.

        Absolute indexing reads cell ``j`` at index ``j``; relative indexing is
        the window rolled by ``-center`` so that index 0 is the anchor.
        """
        k, c = self.kernel[axis], self.center[axis]
        return tuple((t + c) % k if relative else t for t in range(k))


def resolve_geometry(shape: Sequence[int], kernel_size: Any, strides: Any, padding: Any) -> Geometry:
    """Resolve the user's arguments against an input shape.

    >>> g = resolve_geometry((5,), 3, 2, "same")
    >>> g.out_shape, g.padding, g.anchors(0).tolist()
    ((3,), ((1, 1),), [0, 2, 4])
    """
    shape = tuple(int(n) for n in shape)
    ndim = len(shape)
    empty = [axis for axis, n in enumerate(shape) if n == 0]
    if empty:
        raise ValueError(
            f"the input array has shape {shape}: axis {empty[0]} is empty (length 0), so no window fits it, "
            f"whatever kernel_size ({kernel_size!r}), strides or padding. Pass an array with at least one cell "
            f"on every axis (handle empty inputs before calling the kernel)."
        )
    kernel = []
    for axis, (k, n) in enumerate(zip(_per_axis("kernel_size", kernel_size, ndim, shape), shape)):
        k = n if k == -1 else int(k)
        if not 1 <= k <= n:
            raise ValueError(
                f"`kernel_size` entry {axis} must be -1 (whole axis) or in [1, {n}] for an input of shape "
                f"{shape}; got kernel_size={kernel_size!r}. A kernel longer than its axis is rejected even "
                f"when padding would make it fit."
            )
        kernel.append(k)
    strides = tuple(int(s) for s in _per_axis("strides", strides, ndim, shape))
    if isinstance(padding, str) or is_int(padding):
        entries = (padding,) * ndim
    else:
        entries = _per_axis("padding", padding, ndim, shape)
    pads = tuple(_resolve_pad(e, k) for e, k in zip(entries, kernel))
    geometry = Geometry(shape, tuple(kernel), strides, pads)
    if any(o < 1 for o in geometry.out_shape):
        raise ValueError(
            f"no window fits: input shape {shape}, kernel_size {tuple(kernel)}, strides {strides} and "
            f"padding {pads} give output shape {geometry.out_shape}. Every axis needs "
            f"n + lo + hi >= kernel size; use less cropping or a smaller kernel."
        )
    return geometry
