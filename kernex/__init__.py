"""kernex: differentiable stencil computations in JAX.

Public API (everything else lives in ``kernex._src`` and may change):

* :class:`kmap` - apply a function to every window of an array.
* :class:`kscan` - sequential, in-place windowed update in row-major order.
* :func:`treeclass` - dataclass-like, frozen JAX pytree container with leafwise math,
  field/mask selection and ``.at[...]`` updates (:func:`static_field` marks static fields).
* :mod:`kernex.ndimage` - scipy.ndimage's filters on kmap (same arguments and numbers).
* :mod:`kernex.viz` - Keras-like ``summary``, ``tree_box``, ``tree_diagram``, Mermaid charts
  and ``plot_model`` for treeclass models (available after ``import kernex``).
"""

from kernex import ndimage as ndimage
from kernex import viz as viz
from kernex._src.kmap import kmap as kmap
from kernex._src.kscan import kscan as kscan
from kernex._src.tree.treeclass import static_field as static_field
from kernex._src.tree.treeclass import treeclass as treeclass

__version__ = "0.1.0"
