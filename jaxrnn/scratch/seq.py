"""Losses at every time step in NumPy, with hand-written BPTT (no JAX).

The reference for token language models, per-token tagging and sequence
regression, built on ``jaxrnn.scratch.layers``' ``layer_forward`` /
``layer_backward`` (the recurrent stack and its BPTT are not repeated here; this
module adds the input embedding, the readouts and the losses, and their
gradients). Plus ``min_char_rnn``, Karpathy's min-char-rnn training loop written
on top of ``lm_loss_and_grads``, and the NumPy Adagrad it uses.

Params (a dict, as ``jaxrnn.scratch.layers.classifier_loss_and_grads``)::

    embed  [V, E]      optional; absent: one-hot inputs over V (layer 0's input size)
    rnn    layers x directions of CellParams (w_ih, w_hh, b_ih, b_hh), layers.py's layout
    w_out  [K, F]      readout, F = dirs * H (K = V for the LM, classes for tagging,
    b_out  [K]         H_out for regression)
    chars  {embed, rnn} tagging only, optional: a character BiLSTM over each token
                       (``jaxrnn.scratch.chars``), its encoding after the embedding

Gradients come back as a dict with the same keys and the same nested structure
and types (``None`` biases stay ``None``).

Losses and their normalisation (``N`` = number of terms averaged over)::

    lm:       logits_t = W_out h_t + b_out at every step t of the last layer,
              loss = sum_{b,t} [logsumexp(logits_bt) - logits_bt[target_bt]] / (B*T)
              (reduction="sum": no division)
    tag:      the same at every *valid* step (t < lengths[b]), divided by the number
              of valid tokens sum(lengths); 0 (and zero gradients) if there are none.
              Targets at padding positions are ignored (any integer, e.g. -1).
    regress:  per_step=False: pred = W_out f + b_out, f the last layer's final
              states (forward, then backward), as the Classifier's readout; for a
              unidirectional stack f is the output at the last valid step.
              loss = mean((pred - y)**2) over all B*H_out entries.
              per_step=True: pred_t at every valid step, loss = sum of squared errors
              over valid steps / (number of valid steps * H_out).

MSE is the plain mean of squares (no 1/2). Softmax cross-entropy uses natural
logarithms (nats).

State (``initial_state`` in, ``final_state`` out): ``[L * dirs, B, H]`` in PyTorch's
order (layer 0 forward, layer 0 backward, layer 1, ...), ``LSTMState(h, c)`` for
the LSTM, exactly as ``layer_forward``. Truncated BPTT for the LM: the state of
one chunk is passed as the initial state of the next *as a constant* (no gradient
flows across the chunk boundary); ``lm_loss_and_grads`` still returns the gradient
wrt the initial state (free from ``layer_backward``) for tests. The LSTM state
comes back as ``jaxrnn.scratch.layers.LSTMState``, a NamedTuple type other than
``jaxrnn.nn.cells.LSTMState``: convert (``cells.LSTMState(*state)``) before handing it
to a ``lax.scan`` that expects the latter.

A JAX twin of ``min_char_rnn`` must, to give the same numbers (float64):

* vocabulary ``char_vocab(text)`` (sorted distinct characters), ids ``encode``;
* params ``min_char_init(V, hidden, seed)`` (``jax.tree.map(jnp.asarray, ...)``):
  ``{"rnn": ((CellParams(w_ih [H, V], w_hh [H, H], b_ih [H], b_hh=None),),),
  "w_out" [V, H], "b_out" [V]}``; one hidden bias (``b_ih``), no ``b_hh``;
* step n uses ``(p, reset) = chunk_schedule(len(text), seq_len, steps)[n]``: inputs
  ``ids[p:p+seq_len]``, targets ``ids[p+1:p+seq_len+1]``, as a batch of one
  (``[1, seq_len]``), one-hot inputs; initial state ``[1, 1, H]`` = zeros if
  ``reset`` else the previous step's final state (computed with the weights before
  the previous update, passed as a constant: ``lax.stop_gradient``);
* the gradient is that of the loss *summed* over the chunk's seq_len characters;
  clip each entry to ``[-clip, clip]``; then Adagrad, memory from 0, ``eps=1e-8``
  inside the square root (``optax.adagrad(lr, initial_accumulator_value=0.0,
  eps=1e-8)`` computes the same update), memory accumulating the *clipped* gradient;
* the recorded loss is the summed chunk loss / seq_len, before the update.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from jaxrnn.scratch.chars import char_encoder_backward, char_encoder_forward
from jaxrnn.scratch.layers import (
    Carry,
    _hidden,
    layer_backward,
    layer_forward,
    time_mask,
)
from jaxrnn.weights.cellspec import get_spec
from jaxrnn.weights.init import min_char_init
from jaxrnn.weights.layout import CellParams  # noqa: F401 (re-exported: scratch.seq.CellParams)

Params = dict[str, Any]


# ----------------------------------------------------------------------------- helpers


def _tree_map(fn: Callable[..., np.ndarray], *trees: Any) -> Any:
    """``fn`` leaf-wise over nested dicts / tuples / NamedTuples of arrays; None stays None."""
    first = trees[0]
    if first is None:
        return None
    if isinstance(first, dict):
        return {k: _tree_map(fn, *(t[k] for t in trees)) for k in first}
    if isinstance(first, tuple) and hasattr(first, "_fields"):  # NamedTuple
        return type(first)(*(_tree_map(fn, *leaves) for leaves in zip(*trees, strict=True)))
    if isinstance(first, (tuple, list)):
        return type(first)(_tree_map(fn, *leaves) for leaves in zip(*trees, strict=True))
    return fn(*trees)


def _embed_forward(params: Params, ids: np.ndarray) -> np.ndarray:
    """``ids [B, T]`` -> ``x [B, T, E]`` (embedding rows) or one-hot ``[B, T, V]``."""
    if "embed" in params:
        return params["embed"][ids]
    vocab = params["rnn"][0][0].w_ih.shape[1]
    return np.eye(vocab, dtype=params["w_out"].dtype)[ids]


def _embed_backward(params: Params, ids: np.ndarray, dx: np.ndarray, grads: dict) -> None:
    """Adds ``grads["embed"]`` (rows summed over repeats of a token) when there is one."""
    if "embed" in params:
        d_embed = np.zeros_like(params["embed"])
        np.add.at(d_embed, ids, dx)
        grads["embed"] = d_embed


def _check_rnn(params: Params, dirs: int | None = None) -> int:
    rnn = params["rnn"]
    n = len(rnn[0])
    if dirs is not None and n != dirs:
        raise ValueError(f"params['rnn'] must have {dirs} direction(s) per layer, got {n}")
    return n


def _xent(logits: np.ndarray, targets: np.ndarray, weights: np.ndarray) -> tuple[float, np.ndarray]:
    """Weighted sum of softmax cross-entropies and its gradient.

    ``logits [N, K]``, ``targets [N]`` (read only where ``weights > 0``),
    ``weights [N]`` -> ``(sum_n w_n (logsumexp(y_n) - y_n[t_n]), d_logits [N, K])``.
    """
    targets = np.where(weights > 0, targets, 0)  # junk targets at padding: never indexed
    rows = np.arange(logits.shape[0])
    z = logits - logits.max(axis=-1, keepdims=True)  # exp cannot overflow
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    loss = -np.sum(weights * logp[rows, targets])
    d_logits = np.exp(logp)
    d_logits[rows, targets] -= 1.0
    return float(loss), d_logits * weights[:, None]


def _readout_backward(
    params: Params, feats: np.ndarray, d_pred: np.ndarray, grads: dict
) -> np.ndarray:
    """``pred [.., K] = feats [.., F] @ w_out.T + b_out``: fills grads, returns ``d_feats``."""
    k, f = params["w_out"].shape
    grads["w_out"] = d_pred.reshape(-1, k).T @ feats.reshape(-1, f)
    grads["b_out"] = d_pred.reshape(-1, k).sum(axis=0)
    return d_pred @ params["w_out"]


def _token_xent(
    params: Params,
    ids: np.ndarray,
    targets: np.ndarray,
    lengths: np.ndarray | None,
    initial_state: Carry | None,
    cell: str,
    reduction: str,
    chars: np.ndarray | None = None,
) -> tuple[float, dict, Carry, Carry]:
    """Embedding -> stack -> readout at every step -> cross-entropy, and its BPTT.

    ``ids``, ``targets`` ``[B, T]``; masked by ``lengths [B]`` (None: all valid); ``chars
    [B, T, W]``: each token's characters, encoded by ``params["chars"]``
    (``jaxrnn.scratch.chars``) and concatenated after its embedding.
    Returns ``(loss, grads, final_state, d_initial_state)``.
    """
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    ids, targets = np.asarray(ids), np.asarray(targets)
    if ids.ndim != 2 or targets.shape != ids.shape:
        raise ValueError(f"ids and targets must both be [B, T], got {ids.shape}, {targets.shape}")
    batch, steps = ids.shape
    rnn = params["rnn"]
    x = _embed_forward(params, ids)  # [B, T, E]
    width, char_cache = x.shape[-1], None
    if chars is not None:  # each token's character encoding after its embedding
        flat = np.asarray(chars).reshape(batch * steps, -1).astype(np.int64)
        feats, char_cache = char_encoder_forward(params["chars"], flat, (flat != 0).sum(-1))
        x = np.concatenate([x, feats.reshape(batch, steps, -1)], axis=-1)  # [B, T, E + Fc]
    outs, final, cache = layer_forward(cell, rnn, x, lengths, initial_state)  # [B, T, F]
    logits = outs @ params["w_out"].T + params["b_out"]  # [B, T, K]
    k = logits.shape[-1]
    valid = np.ones((batch, steps), bool) if lengths is None else time_mask(lengths, steps)
    weights = valid.reshape(-1).astype(logits.dtype)
    loss, d_logits = _xent(logits.reshape(-1, k), targets.reshape(-1), weights)
    scale = max(int(valid.sum()), 1) if reduction == "mean" else 1
    loss, d_logits = loss / scale, d_logits.reshape(batch, steps, k) / scale

    grads: dict[str, Any] = {}
    d_outs = _readout_backward(params, outs, d_logits, grads)
    grads["rnn"], dx, d_initial = layer_backward(cell, rnn, cache, d_outs, None)
    if char_cache is not None:
        d_feats = dx[..., width:].reshape(batch * steps, -1)
        grads["chars"] = char_encoder_backward(params["chars"], char_cache, d_feats)
        dx = dx[..., :width]
    _embed_backward(params, ids, dx, grads)
    return loss, {key: grads[key] for key in params}, final, d_initial


# ----------------------------------------------------------------------------- the losses


class LMResult(NamedTuple):
    """What ``lm_loss_and_grads`` returns."""

    loss: float
    grads: Params  # keyed and structured like params
    final_state: Carry  # [L, B, H] (LSTMState for lstm): the next chunk's initial state
    d_initial_state: Carry  # [L, B, H]: d loss / d initial_state (not used by truncated BPTT)


def lm_loss_and_grads(
    params: Params,
    ids: np.ndarray,
    targets: np.ndarray,
    initial_state: Carry | None,
    cell: str,
    *,
    reduction: str = "mean",
) -> LMResult:
    """Token language model on one chunk: cross-entropy at every step, and its BPTT.

    Args:
      params: ``embed [V, E]`` (optional: one-hot inputs without it), ``rnn`` (layers
        of ONE direction each: ``((CellParams,),) * L``), ``w_out [V, H]``, ``b_out [V]``.
      ids: ``[B, T]`` input tokens of the chunk.
      targets: ``[B, T]`` next tokens (usually the ids shifted by one in the stream).
      initial_state: ``[L, B, H]`` (``(h, c)`` for lstm), the previous chunk's
        ``final_state``; None for zeros.
      cell: ``rnn``, ``rnn_relu``, ``lstm`` or ``gru``.
      reduction: ``"mean"`` over the ``B*T`` tokens (default) or ``"sum"``.

    Returns:
      ``LMResult(loss, grads, final_state [L, B, H], d_initial_state [L, B, H])``.
    """
    _check_rnn(params, 1)
    return LMResult(*_token_xent(params, ids, targets, None, initial_state, cell, reduction))


def tag_loss_and_grads(
    params: Params,
    ids: np.ndarray,
    lengths: np.ndarray | None,
    targets: np.ndarray,
    cell: str,
    *,
    initial_state: Carry | None = None,
    chars: np.ndarray | None = None,
) -> tuple[float, Params]:
    """Per-token classification (tagging): cross-entropy at every valid token, and its BPTT.

    Args:
      params: ``embed [V, E]`` (optional), ``rnn`` (uni- or bidirectional, stacked),
        ``w_out [K, dirs * H]``, ``b_out [K]``: the readout reads the concatenated
        forward and backward outputs of the last layer at each step.
      ids: ``[B, T]`` tokens; ids past a sequence's end are ignored (never embedded
        into a used state).
      lengths: ``[B]`` valid lengths in ``[0, T]`` (0 allowed), None for all ``T``.
      targets: ``[B, T]`` labels ``0..K-1``; entries at padding are ignored.
      cell: ``rnn``, ``rnn_relu``, ``lstm`` or ``gru``.
      initial_state: ``[L * dirs, B, H]``, None for zeros.
      chars: ``[B, T, W]`` character ids of each token (0 = padding, left-aligned) for a
        tagger with a character encoder (``params["chars"]``: ``{"embed", "rnn"}``, a
        bidirectional LSTM, ``jaxrnn.scratch.chars``): its encoding ``[B, T, Fc]`` joins
        the embedding, so layer 0 reads ``E + Fc`` features (``SequenceTagger``'s
        ``char_encoder``).

    Returns:
      ``(loss, grads)``: the loss is the sum over valid tokens / ``sum(lengths)``.
    """
    _check_rnn(params)
    if (chars is None) != ("chars" not in params):
        raise ValueError("chars [B, T, W] and params['chars'] go together")
    loss, grads, _, _ = _token_xent(params, ids, targets, lengths, initial_state, cell, "mean",
                                    chars)  # fmt: skip
    return loss, grads


def regress_loss_and_grads(
    params: Params,
    x: np.ndarray,
    targets: np.ndarray,
    cell: str,
    *,
    per_step: bool = False,
    lengths: np.ndarray | None = None,
    initial_state: Carry | None = None,
) -> tuple[float, Params]:
    """Sequence regression on real-valued inputs: MSE of a linear readout, and its BPTT.

    Args:
      params: ``rnn`` (uni- or bidirectional, stacked; no ``embed``),
        ``w_out [H_out, dirs * H]``, ``b_out [H_out]``.
      x: ``[B, T, D]`` inputs.
      targets: ``[B, H_out]`` (``per_step=False``) or ``[B, T, H_out]`` (``per_step=True``).
      cell: ``rnn``, ``rnn_relu``, ``lstm`` or ``gru``.
      per_step: False: read out the last layer's final states (forward then backward;
        for one direction, the output at the last valid step). True: read out the
        last layer's outputs at every valid step.
      lengths: ``[B]`` valid lengths, None for all ``T``.
      initial_state: ``[L * dirs, B, H]``, None for zeros.

    Returns:
      ``(loss, grads)``; loss = mean squared error over the ``B*H_out`` entries
      (``per_step=False``) or over the valid steps' ``n_valid*H_out`` entries.
    """
    if "embed" in params:
        raise ValueError("regression takes real-valued inputs: params must not have 'embed'")
    dirs = _check_rnn(params)
    rnn = params["rnn"]
    x, targets = np.asarray(x), np.asarray(targets)
    batch, steps, _ = x.shape
    outs, final, cache = layer_forward(cell, rnn, x, lengths, initial_state)
    if per_step:
        feats = outs  # [B, T, F]
        valid = np.ones((batch, steps), bool) if lengths is None else time_mask(lengths, steps)
        weights = valid[..., None].astype(outs.dtype)  # [B, T, 1]
    else:
        h = _hidden(final)  # [L * dirs, B, H]
        feats = np.concatenate([h[-dirs + d] for d in range(dirs)], axis=-1)  # [B, F]
        weights = np.ones((batch, 1), outs.dtype)
    pred = feats @ params["w_out"].T + params["b_out"]  # [B, (T,) H_out]
    if targets.shape != pred.shape:
        raise ValueError(f"targets must be {pred.shape} (per_step={per_step}), got {targets.shape}")
    count = max(float(weights.sum()) * pred.shape[-1], 1.0)
    err = np.where(weights > 0, pred - targets, 0.0)  # junk targets at padding are ignored
    loss = float(np.sum(err**2) / count)
    d_pred = 2.0 * err / count

    grads: dict[str, Any] = {}
    d_feats = _readout_backward(params, feats, d_pred, grads)
    if per_step:
        grads["rnn"], _, _ = layer_backward(cell, rnn, cache, d_feats, None)
    else:
        hidden = rnn[0][0].w_hh.shape[1]
        dh = np.zeros(_hidden(final).shape, d_feats.dtype)
        for d in range(dirs):
            dh[-dirs + d] = d_feats[:, d * hidden : (d + 1) * hidden]
        d_final = (dh, None) if get_spec(cell).has_cell_state else dh  # the readout reads h only
        grads["rnn"], _, _ = layer_backward(cell, rnn, cache, None, d_final)
    return loss, {key: grads[key] for key in params}


# ----------------------------------------------------------------------------- Adagrad


def adagrad_init(params: Any, initial_accumulator_value: float = 0.0) -> Any:
    """Adagrad's squared-gradient memory, shaped like ``params`` (None leaves stay None).

    ``initial_accumulator_value=0.0`` is min-char-rnn's ``np.zeros_like``;
    ``optax.adagrad``'s default is 0.1.
    """
    return _tree_map(lambda p: np.full_like(p, initial_accumulator_value), params)


def adagrad_update(
    params: Any, grads: Any, memory: Any, lr: float, eps: float = 1e-8
) -> tuple[Any, Any]:
    """One Adagrad step, leaf-wise: ``m += g*g; p -= lr * g / sqrt(m + eps)``.

    Returns ``(new_params, new_memory)`` (new arrays; the inputs are not changed).
    min-char-rnn: ``adagrad_init(p, 0.0)`` and ``eps=1e-8``. ``optax.adagrad(lr)``:
    ``adagrad_init(p, 0.1)`` and ``eps=1e-7`` (optax's defaults,
    ``initial_accumulator_value=0.1, eps=1e-7``; optax also returns a zero update
    where ``m == 0``, which only happens with ``g == 0``, where this gives 0 too).
    """
    new_memory = _tree_map(lambda m, g: m + g * g, memory, grads)
    new_params = _tree_map(lambda p, g, m: p - lr * g / np.sqrt(m + eps), params, grads, new_memory)
    return new_params, new_memory


# ----------------------------------------------------------------------------- min-char-rnn


def char_vocab(text: str) -> str:
    """The vocabulary of ``text``: its distinct characters, sorted; char ``vocab[i]`` has id i.

    (min-char-rnn uses ``list(set(data))``, whose order changes between Python runs;
    sorted is deterministic.)
    """
    return "".join(sorted(set(text)))


def encode(text: str, vocab: str) -> np.ndarray:
    """``text`` -> ids ``[len(text)]`` (int64) in ``vocab``."""
    index = {ch: i for i, ch in enumerate(vocab)}
    return np.array([index[ch] for ch in text], dtype=np.int64)


def chunk_schedule(text_len: int, seq_len: int, steps: int) -> list[tuple[int, bool]]:
    """min-char-rnn's data schedule: ``(p, reset)`` for each of ``steps`` updates.

    Step n reads inputs ``ids[p : p + seq_len]`` and targets ``ids[p + 1 : p + seq_len + 1]``
    and then ``p += seq_len``. Before reading, if ``n == 0`` or
    ``p + seq_len + 1 >= text_len`` (min-char-rnn's test, ``>=``: the last possible
    full chunk, ending exactly at the text's end, is skipped), then ``p = 0`` and the
    hidden state is reset to zeros (``reset=True``); otherwise the previous chunk's
    final hidden state is carried in (as a constant: truncated BPTT).
    """
    if text_len < seq_len + 2:
        raise ValueError(f"text must have at least seq_len + 2 = {seq_len + 2} characters")
    out, p = [], 0
    for n in range(steps):
        reset = n == 0 or p + seq_len + 1 >= text_len
        if reset:
            p = 0
        out.append((p, reset))
        p += seq_len
    return out




def min_char_rnn(
    text: str,
    hidden: int = 100,
    seq_len: int = 25,
    lr: float = 0.1,
    clip: float | None = 5.0,
    steps: int = 1000,
    seed: int = 0,
    *,
    initial_accumulator_value: float = 0.0,
    eps: float = 1e-8,
    params: Params | None = None,
) -> tuple[np.ndarray, Params]:
    """Karpathy's min-char-rnn: a character-level tanh RNN trained with Adagrad on one stream.

    Each step n (``chunk_schedule(len(text), seq_len, steps)``): take the chunk at
    ``p`` (inputs ``ids[p:p+seq_len]``, targets shifted by one), starting from the
    carried hidden state ``hprev [1, 1, H]`` (zeros on a reset); compute the loss
    *summed* over the chunk and its gradient (``lm_loss_and_grads(...,
    reduction="sum")``, B = 1); clip every gradient entry to ``[-clip, clip]``;
    Adagrad (``adagrad_update``) with the clipped gradients; ``hprev`` = the chunk's
    final state (computed with the weights before the update).

    Args:
      text: the training text (at least ``seq_len + 2`` characters); the vocabulary
        is ``char_vocab(text)`` (sorted distinct characters).
      hidden, seq_len, lr, clip, steps, seed: as min-char-rnn (``clip=None``: no clip).
      initial_accumulator_value, eps: Adagrad's; the defaults are min-char-rnn's
        (``0.0``, ``1e-8``); ``0.1, 1e-7`` match ``optax.adagrad(lr)``.
      params: start from these instead of ``min_char_init(V, hidden, seed)``.

    Returns:
      ``(losses [steps], params)``: ``losses[n]`` is step n's chunk loss in mean nats
      per character (the summed loss / seq_len, computed before the update), so it is
      comparable across ``seq_len``; min-char-rnn prints the summed loss, smoothed.
      Note the gradient is that of the *summed* loss, as in min-char-rnn.
    """
    vocab = char_vocab(text)
    ids = encode(text, vocab)
    if params is None:
        params = min_char_init(len(vocab), hidden, seed)
    memory = adagrad_init(params, initial_accumulator_value)
    losses = np.zeros(steps)
    hprev = None
    for n, (p, reset) in enumerate(chunk_schedule(len(ids), seq_len, steps)):
        if reset:
            hprev = None  # zeros
        chunk = ids[p : p + seq_len + 1]
        loss, grads, hprev, _ = lm_loss_and_grads(
            params, chunk[None, :-1], chunk[None, 1:], hprev, "rnn", reduction="sum"
        )
        losses[n] = loss / seq_len
        if clip is not None:
            grads = _tree_map(lambda g: np.clip(g, -clip, clip), grads)
        params, memory = adagrad_update(params, grads, memory, lr, eps)
    return losses, params


__all__ = [
    "LMResult",
    "adagrad_init",
    "adagrad_update",
    "char_vocab",
    "chunk_schedule",
    "encode",
    "lm_loss_and_grads",
    "min_char_init",
    "min_char_rnn",
    "regress_loss_and_grads",
    "tag_loss_and_grads",
]
