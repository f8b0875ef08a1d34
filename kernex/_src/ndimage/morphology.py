"""scipy.ndimage's grey-scale morphology in JAX: erosion, dilation, opening, closing and the morphological gradient.

Invariants: erosion is the minimum filter and dilation the maximum filter of
``rank.min_or_max_filter`` (separable passes for a full ``size`` box, footprint
windows otherwise), with ``structure`` subtracted (erosion) or added (dilation)
cell by cell in the input's dtype, as scipy's C code does. Dilation reflects
``footprint`` and ``structure`` and negates the origin (minus one more on
even-sized axes), exactly as ``scipy.ndimage.grey_dilation``, so its numbers
match scipy's for every shape, origin and mode. Openings and closings chain
the two (the inner result in the input's dtype); the gradient is dilation minus
erosion in the input's dtype, then converted to ``output``.
"""

from __future__ import annotations

import numbers

import numpy as np

from kernex._src.ndimage import args as A
from kernex._src.ndimage import dtypes
from kernex._src.ndimage.entry import entry
from kernex._src.ndimage.filters import as_input
from kernex._src.ndimage.rank import min_or_max_filter

__all__ = ["grey_erosion", "grey_dilation", "grey_opening", "grey_closing", "morphological_gradient"]


def _need_one(size, footprint, structure) -> None:
    if size is None and footprint is None and structure is None:
        raise ValueError("give `size=`, `footprint=` or `structure=` (the structuring element); got none of them.")


@entry
def grey_erosion(input, size=None, footprint=None, structure=None, output=None, mode="reflect", cval=0.0, origin=0, *,
                 axes=None):  # fmt: skip
    """Grey-scale erosion: ``min(input - structure)`` over the footprint (``scipy.ndimage.grey_erosion``).

    >>> import jax.numpy as jnp
    >>> import kernex.ndimage as ndi
    >>> a = jnp.zeros((5, 5), int).at[1:4, 1:4].set(3).at[2, 2].set(1)
    >>> ndi.grey_erosion(a, size=(3, 3)).tolist()[2]
    [0, 0, 1, 0, 0]
    """
    _need_one(size, footprint, structure)
    return min_or_max_filter(input, size, footprint, structure, output, mode, cval, origin, True, axes)


def _flip(a):
    a = A.concrete_array(a, "structure")
    return a[(slice(None, None, -1),) * a.ndim]


@entry
def grey_dilation(input, size=None, footprint=None, structure=None, output=None, mode="reflect", cval=0.0, origin=0, *,
                  axes=None):  # fmt: skip
    """Grey-scale dilation: ``max(input + structure)`` over the reflected footprint (``scipy.ndimage.grey_dilation``).

    >>> import jax.numpy as jnp
    >>> import kernex.ndimage as ndi
    >>> a = jnp.zeros((5, 5), int).at[2, 2].set(3).at[3, 3].set(2)
    >>> ndi.grey_dilation(a, size=(2, 2)).tolist()[2:4]
    [[0, 3, 3, 2, 0], [0, 0, 2, 2, 0]]
    """
    _need_one(size, footprint, structure)
    structure = None if structure is None else _flip(structure)
    footprint = None if footprint is None else _flip(footprint)
    x = as_input(input, complex_ok=False)
    ax = A.check_axes(axes, x.ndim)
    origins = [A.as_int(o, "origin") for o in A.per_axis(origin, len(ax), "origin")]
    for i in range(len(origins)):
        origins[i] = -origins[i]
        if footprint is not None:
            sz = footprint.shape[i] if i < footprint.ndim else 1
        elif structure is not None:
            sz = structure.shape[i] if i < structure.ndim else 1
        elif isinstance(size, (numbers.Integral, np.integer)):
            sz = size
        else:
            sz = A.per_axis(size, len(ax), "size")[i]
        if not A.as_int(sz, "size") & 1:
            origins[i] -= 1
    return min_or_max_filter(x, size, footprint, structure, output, mode, cval, origins, False, axes)


@entry
def grey_opening(input, size=None, footprint=None, structure=None, output=None, mode="reflect", cval=0.0, origin=0, *,
                 axes=None):  # fmt: skip
    """Erosion then dilation (``scipy.ndimage.grey_opening``): removes bright details smaller than the element.

    >>> import jax.numpy as jnp
    >>> import kernex.ndimage as ndi
    >>> ndi.grey_opening(jnp.array([1, 1, 9, 1, 1, 5, 5, 5]), size=3).tolist()
    [1, 1, 1, 1, 1, 5, 5, 5]
    """
    A.warn_size_ignored(size, footprint, stacklevel=2)
    tmp = grey_erosion(input, size, footprint, structure, None, mode, cval, origin, axes=axes)
    return grey_dilation(tmp, size, footprint, structure, output, mode, cval, origin, axes=axes)


@entry
def grey_closing(input, size=None, footprint=None, structure=None, output=None, mode="reflect", cval=0.0, origin=0, *,
                 axes=None):  # fmt: skip
    """Dilation then erosion (``scipy.ndimage.grey_closing``): fills dark details smaller than the element.

    >>> import jax.numpy as jnp
    >>> import kernex.ndimage as ndi
    >>> ndi.grey_closing(jnp.array([5, 5, 0, 5, 5, 1, 1, 1]), size=3).tolist()
    [5, 5, 5, 5, 5, 1, 1, 1]
    """
    A.warn_size_ignored(size, footprint, stacklevel=2)
    tmp = grey_dilation(input, size, footprint, structure, None, mode, cval, origin, axes=axes)
    return grey_erosion(tmp, size, footprint, structure, output, mode, cval, origin, axes=axes)


@entry
def morphological_gradient(input, size=None, footprint=None, structure=None, output=None, mode="reflect", cval=0.0,
                           origin=0, *, axes=None):  # fmt: skip
    """Dilation minus erosion (``scipy.ndimage.morphological_gradient``), in the input's dtype, then ``output``.

    >>> import jax.numpy as jnp
    >>> import kernex.ndimage as ndi
    >>> ndi.morphological_gradient(jnp.array([0, 0, 4, 4, 4, 1, 1]), size=3).tolist()
    [0, 4, 4, 0, 3, 3, 0]
    """
    dil = grey_dilation(input, size, footprint, structure, None, mode, cval, origin, axes=axes)
    ero = grey_erosion(input, size, footprint, structure, None, mode, cval, origin, axes=axes)
    out = dtypes.output_dtype(output, dil.dtype)
    return dtypes.c_cast(dil - ero if dil.dtype != np.bool_ else dil & ~ero, out)
