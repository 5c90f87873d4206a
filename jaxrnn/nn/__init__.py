"""The network, as pure JAX functions: cells, layers, models.

The weight layout, the cell registry's specs and the initialisers live in
``jaxrnn.weights``, shared with the NumPy reference. ``cells`` (one step of each cell, the
registered ``Cell`` objects and ``register_cell``), ``sequence`` (the layer: scan,
masking, reversal, bidirectional, stacking), ``bptt`` (the hand-written backward pass as
a ``custom_vjp``), ``models`` (embedding + recurrent stack + readout), ``lm`` (the
language model and its sampler), ``interop`` (PyTorch and Keras weights in and out).
Nothing here imports ``jaxrnn.scratch``.
"""

# Registers the parallel-in-time cells (minGRU, minLSTM, LRU) whenever jaxrnn.nn loads.
from jaxrnn.nn import parallel_cells as _parallel_cells  # noqa: E402, F401
