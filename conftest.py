"""Test configuration shared by tests/ and the doctests in kernex/."""

import jax

# Implicit rank promotion hides shape bugs in stencil code; make it an error in tests.
jax.config.update("jax_numpy_rank_promotion", "raise")
