"""jaxrnn: recurrent networks as pure JAX functions on lax.scan.

    import jaxrnn
    layer = jaxrnn.lstm(128, num_layers=2, bidirectional=True)
    params = layer.init(jax.random.key(0), input_size=16)
    outputs, final = layer.apply(params, x, lengths)   # x [B, T, 16] -> [B, T, 256]

Attributes are imported lazily, so ``import jaxrnn.scratch`` (the NumPy
reference) does not import JAX.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "rnn": "jaxrnn.sequence",
    "lstm": "jaxrnn.sequence",
    "gru": "jaxrnn.sequence",
    "RecurrentLayer": "jaxrnn.sequence",
    "reverse_padded": "jaxrnn.sequence",
    "unroll": "jaxrnn.sequence",
    "CellParams": "jaxrnn.cells",
    "LSTMState": "jaxrnn.cells",
    "rnn_step": "jaxrnn.cells",
    "lstm_step": "jaxrnn.cells",
    "gru_step": "jaxrnn.cells",
    "StudyRNN": "jaxrnn.models",
    "Classifier": "jaxrnn.models",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'jaxrnn' has no attribute {name!r}")
