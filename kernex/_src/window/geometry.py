"""Window geometry: shapes, padding, strides, anchors.

Everything here is plain Python/NumPy and is resolved from the *input shape at
call time*; nothing depends on how windows are later evaluated (that is
``kernex._src.lower``). The conventions (``docs/semantics.md``, "Windows"):

* per axis, ``n`` = length, ``k`` = kernel size (window cells), ``s`` =
  stride, ``d`` = dilation, ``(lo, hi)`` = padding (negative values crop),
  ``c = (k - 1) // 2`` = anchor cell, ``span = (k - 1)*d + 1`` = input cells
  from a window's first cell to its last;
* output length ``(n + lo + hi - span) // s + 1``;
* window ``o`` covers input coordinates ``o*s - lo + j*d`` for ``j < k`` and its
  anchor is ``o*s - lo + c*d``.

Window cells are counted in cells, never in input coordinates: offsets,
centres and patch indices run over ``0 .. k-1`` whatever ``d``; only the
conversion to coordinates multiplies by ``d`` (``window/taps.py``).

A *state* is the input zero-extended by ``(max(lo, 0), max(hi, 0))`` on every
axis (negative padding removes windows, never cells). In state coordinates
window ``o`` starts at ``origin + o*s`` with ``origin = max(-lo, 0)``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

__all__ = [
    "Geometry", "Layout", "resolve_geometry", "check_kernel_size", "check_strides", "check_dilation", "check_padding",
    "extent", "span", "is_int",
]


def is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def extent(count: int, stride: int, size: int = 1) -> int:
    """Cells spanned by ``count`` windows of ``size`` cells that start every ``stride`` cells.

    >>> extent(3, 2), extent(3, 2, size=3)
    (5, 7)
    """
    return (count - 1) * stride + size


def span(size: int, dilation: int = 1) -> int:
    """Input cells from the first to the last of ``size`` window cells ``dilation`` apart.

    >>> span(3), span(3, 2), span(1, 5)
    (3, 5, 1)
    """
    return (size - 1) * dilation + 1


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


def _check_ints(name: str, value: Any, accepted: str, minimum: int | None, allow_minus_one: bool = False) -> None:
    """Raise unless ``value`` is an int or a tuple/list of ints (each ``>= minimum`` unless that is None)."""
    entries = (value,) if is_int(value) else value
    if not isinstance(entries, (tuple, list)) or not all(is_int(v) for v in entries):
        raise TypeError(f"`{name}` must be {accepted}; got {value!r} of type {type(value).__name__}.")
    if minimum is not None and any(v < minimum and not (allow_minus_one and v == -1) for v in entries):
        extra = " or -1 (whole axis)" if allow_minus_one else ""
        raise ValueError(f"`{name}` entries must be >= {minimum}{extra}; got {name}={value!r}.")


def check_kernel_size(kernel_size: Any) -> None:
    """Type check at construction time (shape-independent)."""
    _check_ints("kernel_size", kernel_size, "an int or a tuple/list of ints (-1 = whole axis)", 1, True)


def check_strides(strides: Any) -> None:
    _check_ints("strides", strides, "a positive int or a tuple/list of positive ints", 1)


def check_dilation(dilation: Any) -> None:
    """Type and range check at construction time (the number of entries is checked against the input later)."""
    accepted = "a positive int or a tuple/list of positive ints, one per axis (1 = contiguous window cells)"
    _check_ints("dilation", dilation, accepted, minimum=None)  # types only; the range is checked below
    entries = (dilation,) if is_int(dilation) else dilation
    if any(d < 1 for d in entries):
        raise ValueError(
            f"`dilation` entries must be >= 1 (window cell j sits j * dilation cells after the window's first "
            f"cell); got dilation={dilation!r}. Use 1 for contiguous windows, e.g. dilation=2 to read every "
            f"other cell."
        )


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


def _resolve_pad(entry: Any, k: int, d: int = 1) -> tuple[int, int]:
    if isinstance(entry, str):  # 'same': the anchor cell over the input cell of the same index
        return ((k - 1) // 2 * d, (k - 1) * d - (k - 1) // 2 * d) if entry.lower() == "same" else (0, 0)
    if is_int(entry):
        return (int(entry), int(entry))
    lo, hi = entry
    return (int(lo), int(hi))


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where windows sit in a source array.

    Window ``o`` (an index into ``out_shape``) starts at ``origin + o * strides``;
    its cell ``j`` is at ``origin + o * strides + j * dilation``. ``dilation``
    defaults to 1 on every axis (contiguous windows).
    """

    origin: tuple[int, ...]
    out_shape: tuple[int, ...]
    strides: tuple[int, ...]
    dilation: tuple[int, ...] | None = None

    def __post_init__(self):
        if self.dilation is None:
            object.__setattr__(self, "dilation", (1,) * len(self.origin))


@dataclasses.dataclass(frozen=True)
class Geometry:
    """Resolved window geometry for one input shape (all tuples have one entry per axis)."""

    shape: tuple[int, ...]
    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]
    dilation: tuple[int, ...] | None = None  # None: 1 on every axis

    def __post_init__(self):
        if self.dilation is None:
            object.__setattr__(self, "dilation", (1,) * len(self.shape))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def spans(self) -> tuple[int, ...]:
        """Input cells from a window's first cell to its last, per axis: ``(k - 1) * d + 1``."""
        return tuple(span(k, d) for k, d in zip(self.kernel, self.dilation))

    @property
    def out_shape(self) -> tuple[int, ...]:
        return tuple(
            (n + lo + hi - w) // s + 1
            for n, w, s, (lo, hi) in zip(self.shape, self.spans, self.strides, self.padding)
        )

    @property
    def center(self) -> tuple[int, ...]:
        """Index of the anchor cell inside a window, per axis: ``(k - 1) // 2`` (in window cells)."""
        return tuple((k - 1) // 2 for k in self.kernel)

    @property
    def anchor_shift(self) -> tuple[int, ...]:
        """Input cells from a window's first cell to its anchor, per axis: ``center * dilation``."""
        return tuple(c * d for c, d in zip(self.center, self.dilation))

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
        return tuple(o + c for o, c in zip(self.origin, self.anchor_shift))

    @property
    def layout(self) -> Layout:
        """The windows' layout in the state."""
        return Layout(self.origin, self.out_shape, self.strides, self.dilation)

    def anchors(self, axis: int) -> np.ndarray:
        """Input coordinate of the anchor of every window along ``axis`` (may be < 0 or >= n)."""
        lo = self.padding[axis][0]
        return self.strides[axis] * np.arange(self.out_shape[axis]) - lo + self.anchor_shift[axis]

    def patch_cells(self, axis: int, relative: bool) -> tuple[int, ...]:
        """Window cell read by each patch index along ``axis``.

        Absolute indexing reads cell ``j`` at index ``j``; relative indexing is
        the window rolled by ``-center`` so that index 0 is the anchor.
        """
        k, c = self.kernel[axis], self.center[axis]
        return tuple((t + c) % k if relative else t for t in range(k))


def resolve_geometry(shape: Sequence[int], kernel_size: Any, strides: Any, padding: Any, dilation: Any = 1) -> Geometry:
    """Resolve the user's arguments against an input shape.

    >>> g = resolve_geometry((5,), 3, 2, "same")
    >>> g.out_shape, g.padding, g.anchors(0).tolist()
    ((3,), ((1, 1),), [0, 2, 4])
    >>> g = resolve_geometry((7,), 3, 1, "same", dilation=2)  # cells 2 apart: x[o-2], x[o], x[o+2]
    >>> g.out_shape, g.padding, g.anchors(0).tolist()
    ((7,), ((2, 2),), [0, 1, 2, 3, 4, 5, 6])
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
    dilation = tuple(int(d) for d in _per_axis("dilation", dilation, ndim, shape))
    if isinstance(padding, str) or is_int(padding):
        entries = (padding,) * ndim
    else:
        entries = _per_axis("padding", padding, ndim, shape)
    pads = tuple(_resolve_pad(e, k, d) for e, k, d in zip(entries, kernel, dilation))
    geometry = Geometry(shape, tuple(kernel), strides, pads, dilation)
    if any(o < 1 for o in geometry.out_shape):
        dilated = "" if set(dilation) == {1} else f", dilation {dilation} (windows spanning {geometry.spans} cells)"
        need = "kernel size" if not dilated else "(kernel size - 1) * dilation + 1"
        raise ValueError(
            f"no window fits: input shape {shape}, kernel_size {tuple(kernel)}, strides {strides}{dilated} and "
            f"padding {pads} give output shape {geometry.out_shape}. Every axis needs "
            f"n + lo + hi >= {need}; use less cropping or a smaller kernel{' or dilation' if dilated else ''}."
        )
    return geometry
