"""kmap over a device mesh: each shard exchanges the halo its windows need, then runs the single-device lowering.

* ``mesh.py`` - how the input is split: its type (Explicit axes) or ``sharding=``;
* ``halo.py`` - the halo exchange and the boundary on the global edges;
* ``positions.py`` - one shard's windows as global positions (``F[idx]`` regions);
* ``kmap.py`` - the ``jax.shard_map`` around it all.

See ``docs/sharding.md``.
"""
