"""Tuning constants of the stencil lowering, in one place.

They change how fast code is and how big programs get, never what is computed:
every path they select between gives the same values and gradients (the tests
run with ``UNROLL_LIMIT = 2`` to force the large-window paths on small inputs).
Modules read them as ``config.NAME`` at call time, so a test can monkeypatch
them here.
"""

# Windows (or intermediate per-window arrays) with more elements than this are not
# unrolled entry by entry: reductions over them use the box plans of
# ``interp/large_windows.py`` and other primitives the vmap fallback.
UNROLL_LIMIT = 256

# A separable pass along one axis is a tree of strided slices up to this many taps,
# ``lax.reduce_window`` (or a 1-D convolution for varying taps) beyond.
TAPS_UNROLL = 64

# On accelerators kscan's 'auto' prefers the wavefront schedule to a block schedule
# only when it needs this many times fewer sequential steps (a wavefront step gathers
# and scatters its windows; a block step slices).
WAVEFRONT_ADVANTAGE = 4
