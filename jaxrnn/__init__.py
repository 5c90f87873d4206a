"""jaxrnn: recurrent networks as pure JAX functions on lax.scan.

    import jaxrnn
    layer = jaxrnn.lstm(128, num_layers=2, bidirectional=True)
    params = layer.init(jax.random.key(0), input_size=16)
    outputs, final = layer.apply(params, x, lengths)   # x [B, T, 16] -> [B, T, 256]

    step = jaxrnn.train_step(model, optimizer, jaxrnn.classification())  # your own loop
    result = jaxrnn.fit(jaxrnn.TrainConfig(model="gru"))                 # or ours

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
    # training: the public step, evaluation, tasks (your own loop), and fit (ours)
    "Task": "jaxrnn.tasks",
    "Batch": "jaxrnn.tasks",
    "classification": "jaxrnn.tasks",
    "TrainState": "jaxrnn.loop",
    "train_step": "jaxrnn.loop",
    "evaluate": "jaxrnn.loop",
    "init_state": "jaxrnn.loop",
    "TrainConfig": "jaxrnn.config",
    "fit": "jaxrnn.train",
    "RunResult": "jaxrnn.results",
    "Predictor": "jaxrnn.predict",
    # submodules
    "tasks": "jaxrnn.tasks",
    "data": "jaxrnn.data",
    "scratch": "jaxrnn.scratch",
}

__all__ = sorted(_EXPORTS)


def __dir__() -> list[str]:
    return [*__all__, "__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        module = importlib.import_module(_EXPORTS[name])
        return module if module.__name__ == f"jaxrnn.{name}" else getattr(module, name)
    raise AttributeError(f"module 'jaxrnn' has no attribute {name!r}")
