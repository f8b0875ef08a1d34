"""scipy.ndimage's filters for JAX: same arguments, same numbers, differentiable (built on ``kernex.kmap``).

Every function takes scipy 1.17's arguments (``mode`` names included) and
returns a JAX array; it works under ``jax.jit``, ``jax.grad`` and ``jax.vmap``.
``output`` may name a dtype (not an array: nothing is written in place).
See ``docs/ndimage.md`` for what is supported and the few differences.

>>> import jax.numpy as jnp
>>> import kernex.ndimage as ndi
>>> ndi.uniform_filter1d(jnp.array([2, 8, 0, 4, 1, 9, 9, 0]), size=3).tolist()
[4, 3, 4, 1, 4, 6, 6, 3]
"""

from kernex._src.ndimage.args import MODES as MODES
from kernex._src.ndimage.derivatives import gaussian_gradient_magnitude as gaussian_gradient_magnitude
from kernex._src.ndimage.derivatives import gaussian_laplace as gaussian_laplace
from kernex._src.ndimage.derivatives import generic_gradient_magnitude as generic_gradient_magnitude
from kernex._src.ndimage.derivatives import generic_laplace as generic_laplace
from kernex._src.ndimage.derivatives import laplace as laplace
from kernex._src.ndimage.derivatives import prewitt as prewitt
from kernex._src.ndimage.derivatives import sobel as sobel
from kernex._src.ndimage.filters import convolve as convolve
from kernex._src.ndimage.filters import convolve1d as convolve1d
from kernex._src.ndimage.filters import correlate as correlate
from kernex._src.ndimage.filters import correlate1d as correlate1d
from kernex._src.ndimage.filters import gaussian_filter as gaussian_filter
from kernex._src.ndimage.filters import gaussian_filter1d as gaussian_filter1d
from kernex._src.ndimage.filters import uniform_filter as uniform_filter
from kernex._src.ndimage.filters import uniform_filter1d as uniform_filter1d
from kernex._src.ndimage.morphology import grey_closing as grey_closing
from kernex._src.ndimage.morphology import grey_dilation as grey_dilation
from kernex._src.ndimage.morphology import grey_erosion as grey_erosion
from kernex._src.ndimage.morphology import grey_opening as grey_opening
from kernex._src.ndimage.morphology import morphological_gradient as morphological_gradient
from kernex._src.ndimage.rank import generic_filter as generic_filter
from kernex._src.ndimage.rank import maximum_filter as maximum_filter
from kernex._src.ndimage.rank import maximum_filter1d as maximum_filter1d
from kernex._src.ndimage.rank import median_filter as median_filter
from kernex._src.ndimage.rank import minimum_filter as minimum_filter
from kernex._src.ndimage.rank import minimum_filter1d as minimum_filter1d
from kernex._src.ndimage.rank import percentile_filter as percentile_filter
from kernex._src.ndimage.rank import rank_filter as rank_filter
