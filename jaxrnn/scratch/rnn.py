"""The study's scratch RNN in NumPy, with hand-written backpropagation through time.

Model (one sentence at a time, no batching, no padding)::

    x_t  = one_hot(token_ids[t], V)                        # [V]
    h_t  = tanh(w_xh @ x_t + w_hh @ h_{t-1} + b_h)          # [H], h_0 = 0
    y    = w_hy @ h_T + b_y                                 # [C] logits
    loss = -log softmax(y)[label]

Parameters (a dict of float arrays, the same names and shapes as the JAX model
``jaxrnn.nn.models.study_rnn``)::

    w_xh [H, V]   w_hh [H, H]   b_h [H]   w_hy [C, H]   b_y [C]

Backward, with ``delta_t = (1 - h_t**2) * dh_t``::

    dy     = softmax(y) - one_hot(label)
    dw_hy  = dy h_T^T,   db_y = dy,   dh_T = w_hy^T dy
    dw_hh += delta_t h_{t-1}^T,   dw_xh[:, x_t] += delta_t,   db_h += delta_t
    dh_{t-1} = w_hh^T delta_t          (bptt="exact": the chain rule)
    dh_{t-1} = w_hh   delta_t          (bptt="study": what the study's code did)

This module imports no JAX: it is the independent reference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from jaxrnn.data.orders import shuffle_orders
from jaxrnn.weights.init import study_rnn_params as init_params  # noqa: F401 (the study's API)

PARAM_NAMES = ("w_xh", "w_hh", "b_h", "w_hy", "b_y")




def _log_softmax(y: np.ndarray) -> np.ndarray:
    z = y - y.max()
    return z - np.log(np.exp(z).sum())


def forward(params: dict, token_ids: Sequence[int]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Logits ``[C]`` and the hidden states ``[h_0, h_1, ..., h_T]`` (each ``[H]``)."""
    w_xh, w_hh, b_h = params["w_xh"], params["w_hh"], params["b_h"]
    hs = [np.zeros(w_hh.shape[0], w_hh.dtype)]
    for tok in token_ids:
        # w_xh @ one_hot(tok) is column tok of w_xh.
        hs.append(np.tanh(w_xh[:, tok] + w_hh @ hs[-1] + b_h))
    return params["w_hy"] @ hs[-1] + params["b_y"], hs


def loss_and_grads(
    params: dict, token_ids: Sequence[int], label: int, bptt: str = "exact"
) -> tuple[float, dict[str, np.ndarray]]:
    """Cross-entropy loss of one sentence and its gradients by hand-written BPTT.

    Args:
      params: see the module docstring.
      token_ids: ``[T]`` word indices ``0..V-1`` (one-hot inside); T may be 0.
      label: the class index.
      bptt: ``"exact"`` (true gradient) or ``"study"`` (the study's ``w_hh @ delta``).

    Returns:
      ``(loss, grads)`` with ``grads`` keyed and shaped like ``params``.
    """
    if bptt not in ("exact", "study"):
        raise ValueError(f"bptt must be 'exact' or 'study', got {bptt!r}")
    token_ids = np.asarray(token_ids, dtype=np.int64).reshape(-1)
    y, hs = forward(params, token_ids)
    logp = _log_softmax(y)
    loss = -logp[label]

    dy = np.exp(logp)
    dy[label] -= 1.0
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    grads["w_hy"] = np.outer(dy, hs[-1])
    grads["b_y"] = dy
    w_hh = params["w_hh"]
    w_back = w_hh.T if bptt == "exact" else w_hh
    dh = params["w_hy"].T @ dy
    for t in range(len(token_ids), 0, -1):
        delta = (1.0 - hs[t] ** 2) * dh  # through tanh
        grads["b_h"] += delta
        grads["w_hh"] += np.outer(delta, hs[t - 1])
        grads["w_xh"][:, token_ids[t - 1]] += delta
        dh = w_back @ delta
    return float(loss), grads


def evaluate(
    params: dict, seqs: Sequence[Sequence[int]], labels: Sequence[int]
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over a list of sentences."""
    losses, correct = [], 0
    for seq, label in zip(seqs, labels, strict=True):
        y, _ = forward(params, seq)
        losses.append(-_log_softmax(y)[label])
        correct += int(np.argmax(y) == label)
    return float(np.mean(losses)), correct / max(len(labels), 1)




def train(
    params: dict,
    train_seqs: Sequence[Sequence[int]],
    train_labels: Sequence[int],
    test_seqs: Sequence[Sequence[int]] = (),
    test_labels: Sequence[int] = (),
    *,
    epochs: int = 500,
    lr: float = 2e-2,
    clip: float | None = 1.0,
    bptt: str = "exact",
    seed: int = 0,
    orders: np.ndarray | None = None,
    on_epoch: Callable[[dict], None] | None = None,
) -> tuple[dict, list[dict]]:
    """The study's training loop: per-sample SGD, element-wise gradient clipping.

    Each epoch visits the training sentences in a fresh random order (or
    ``orders[epoch]`` when given, ``[epochs, N]``), and for each sentence does
    ``p -= lr * clip(grad, -clip, clip)``. After each epoch it evaluates loss and
    accuracy on both splits.

    Returns:
      ``(params, history)``, history a list of dicts with ``epoch``,
      ``train_loss``, ``train_acc``, ``test_loss``, ``test_acc``. ``params`` is a copy.
    """
    params = {k: np.array(v, copy=True) for k, v in params.items()}
    seqs = [np.asarray(s, dtype=np.int64) for s in train_seqs]
    if orders is None:
        orders = shuffle_orders(len(seqs), epochs, seed)
    history = []
    for epoch in range(epochs):
        for i in orders[epoch]:
            _, grads = loss_and_grads(params, seqs[i], train_labels[i], bptt)
            for k, g in grads.items():
                if clip is not None:
                    np.clip(g, -clip, clip, out=g)
                params[k] -= lr * g
        tr_loss, tr_acc = evaluate(params, seqs, train_labels)
        te_loss, te_acc = (
            evaluate(params, test_seqs, test_labels)
            if len(test_labels)
            else (
                float("nan"),
                float("nan"),
            )
        )
        rec = {
            "epoch": epoch + 1,
            "train_loss": tr_loss,
            "train_acc": tr_acc,
            "test_loss": te_loss,
            "test_acc": te_acc,
        }
        history.append(rec)
        if on_epoch is not None:
            on_epoch(rec)
    return params, history
