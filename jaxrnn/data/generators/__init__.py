"""Data sets this repository generates (the loaders are one level up, in ``jaxrnn.data``):
the emotions texts (``synthetic``), the held-out compositional sentences
(``compositional``), the entity-tagging sentences (``entities``).
"""
