"""kernex: differentiable stencil computations in JAX.

Public API (everything else lives in ``kernex._src`` and may change):

* :class:`kmap` - apply a function to every window of an array.
* :class:`kscan` - sequential, in-place windowed update in row-major order.
"""

from kernex._src.kmap import kmap as kmap
from kernex._src.kscan import kscan as kscan

__version__ = "0.1.0"
