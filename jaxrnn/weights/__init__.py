"""What both backends share about weights, with no JAX import: the cell registry
(``cellspec``: one ``CellSpec`` per cell, and how to add one), the layout and gate order
of every cell (``layout``, with ``CellParams``) and the NumPy initialisers (``init``) that
the JAX models and the NumPy reference draw the same numbers from.
"""
