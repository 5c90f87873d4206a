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

from jaxrnn import _aliases

__version__ = "0.1.0"

_aliases.install()  # old flat paths (jaxrnn.loop, python -m jaxrnn.predict, ...) keep working

_EXPORTS = {
    "rnn": "jaxrnn.nn.sequence",
    "lstm": "jaxrnn.nn.sequence",
    "gru": "jaxrnn.nn.sequence",
    # parallel-in-time cells (jaxrnn.nn.parallel_cells) as layers
    "mingru": "jaxrnn.nn.sequence",
    "minlstm": "jaxrnn.nn.sequence",
    "lru": "jaxrnn.nn.sequence",
    "RecurrentLayer": "jaxrnn.nn.sequence",
    "reverse_padded": "jaxrnn.nn.sequence",
    "unroll": "jaxrnn.nn.sequence",
    "CellParams": "jaxrnn.nn.cells",
    "LSTMState": "jaxrnn.nn.cells",
    "rnn_step": "jaxrnn.nn.cells",
    "lstm_step": "jaxrnn.nn.cells",
    "gru_step": "jaxrnn.nn.cells",
    # the cell registry: a new cell's spec and its one registration call
    "CellSpec": "jaxrnn.weights.cellspec",
    "register_cell": "jaxrnn.nn.cells",
    "StudyRNN": "jaxrnn.nn.models",
    "Classifier": "jaxrnn.nn.models",
    # training: the public step, evaluation, tasks (your own loop), and fit (ours)
    "Task": "jaxrnn.training.tasks",
    "Batch": "jaxrnn.training.tasks",
    "classification": "jaxrnn.training.tasks",
    "TrainState": "jaxrnn.training.loop",
    "train_step": "jaxrnn.training.loop",
    "evaluate": "jaxrnn.training.loop",
    "init_state": "jaxrnn.training.loop",
    "TrainConfig": "jaxrnn.runs.config",
    "fit": "jaxrnn.runs",
    "RunResult": "jaxrnn.runs.results",
    "Predictor": "jaxrnn.runs.predictor",
    # submodules
    "tasks": "jaxrnn.training.tasks",
    "data": "jaxrnn.data",
    "scratch": "jaxrnn.scratch",
}

__all__ = sorted(_EXPORTS)


def __dir__() -> list[str]:
    return [*__all__, "__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        module = importlib.import_module(_EXPORTS[name])
        return module if module.__name__.rsplit(".", 1)[-1] == name else getattr(module, name)
    raise AttributeError(f"module 'jaxrnn' has no attribute {name!r}")
