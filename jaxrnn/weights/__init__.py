"""What both backends share about weights, with no JAX import: the layout and gate order
of every cell (``layout``, with ``CellParams``) and the NumPy initialisers (``init``) that
the JAX models and the NumPy reference draw the same numbers from.
"""
