"""Window geometry, regions, the views a window function receives, and the state around the input.

Plain shape arithmetic (NumPy and Python ints) plus the few ``lax.slice``/``lax.pad``
calls that turn it into arrays; nothing here knows about jaxprs or schedules.
"""
