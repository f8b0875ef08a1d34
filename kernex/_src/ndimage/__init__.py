"""scipy.ndimage's filters built on ``kmap`` (public names: ``kernex.ndimage``)."""
