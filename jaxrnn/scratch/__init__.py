"""NumPy reference implementations with hand-written backpropagation through time.

Nothing under ``jaxrnn.scratch`` imports JAX: these are the independent
references the JAX code is checked against.

The study's RNN (``init_params``, ``loss_and_grads``, ``train``) lives in
``jaxrnn.scratch.rnn`` and is re-exported here.
"""

from jaxrnn.scratch.rnn import (
    PARAM_NAMES,
    evaluate,
    forward,
    init_params,
    loss_and_grads,
    shuffle_orders,
    train,
)

__all__ = [
    "PARAM_NAMES",
    "evaluate",
    "forward",
    "init_params",
    "loss_and_grads",
    "shuffle_orders",
    "train",
]
