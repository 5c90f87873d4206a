"""NumPy reference implementations with hand-written backpropagation through time.

Nothing under ``jaxrnn.scratch`` imports JAX: these are the independent
references the JAX code is checked against.

The study's RNN (``init_params``, ``loss_and_grads``, ``train``) lives in
``jaxrnn.scratch.rnn`` and is re-exported here. ``jaxrnn.scratch.layers``: the
recurrent layers and the ``Classifier`` twin; ``jaxrnn.scratch.optim``: optax's
optimizers in NumPy; ``jaxrnn.scratch.classifier_train``: the Classifier's
training loop (``jaxrnn.training.loop``'s batching) on those. (Not ``scratch.train``: that
name is the study's trainer, re-exported below.)
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

# Stacked / bidirectional RNN, LSTM, GRU layers and the Classifier, with hand-written
# BPTT: the reference for jaxrnn.nn.sequence and jaxrnn.nn.models.Classifier.
from jaxrnn.scratch.layers import (  # noqa: E402
    CellParams,
    LSTMState,
    classifier_logits,
    classifier_loss_and_grads,
    layer_backward,
    layer_forward,
    step_backward,
    step_forward,
    unroll_backward,
    unroll_forward,
)

__all__ += [
    "CellParams",
    "LSTMState",
    "classifier_logits",
    "classifier_loss_and_grads",
    "layer_backward",
    "layer_forward",
    "step_backward",
    "step_forward",
    "unroll_backward",
    "unroll_forward",
]

# Losses at every time step (language model, tagging, regression) and min-char-rnn,
# on top of the layers above: the reference for sequence-to-sequence training.
from jaxrnn.scratch import seq as _seq  # noqa: E402
from jaxrnn.scratch.seq import *  # noqa: E402, F403

__all__ += _seq.__all__
