"""``make demo``: runs the seed's examples end to end and writes figures into ``out/``."""
