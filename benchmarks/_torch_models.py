"""The PyTorch models the benchmarks compare against, written once.

* ``CharLM``: ``nn.Embedding`` -> ``nn.LSTM``/``nn.GRU`` -> ``nn.Linear`` at every step, the
  state passed in and out (``lm.py``, ``lm_batches.py``, ``real_data.py``); ``stream_pass``
  trains one pass over ``[K, B, T]`` chunks with the state carried (``--lm-batches
  streams``), ``stream_bpc`` scores a text read as one stream.
* ``Tagger``: ``nn.Embedding`` (row 0 = padding) -> ``pack_padded_sequence`` ->
  ``nn.LSTM``/``nn.GRU`` (one or both directions, stacked) -> dropout -> ``nn.Linear`` per
  token (``tagging.py``, ``real_data.py``); ``tag_loss`` is
  ``jaxrnn.training.tasks.tagging``'s loss, ``predict_tags`` its predictions.
* ``optimizer_step``: ``jaxrnn.runs.build.make_optimizer``'s order (element-wise clip, clip
  by global norm, then the optimizer) on a PyTorch optimizer.

Both models take PyTorch's own initialisation, or (``from_ours``) a jaxrnn model's
parameters through ``jaxrnn.nn.interop.to_torch``: then they are the same function, which
the tests check (tests/test_real_data_benchmark.py, tests/test_tagging_benchmark.py).
This module imports torch at the top: import it where PyTorch is wanted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

RNNS = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}


def _copy(dst: torch.Tensor, src: Any) -> None:
    with torch.no_grad():
        dst.copy_(torch.from_numpy(np.asarray(src, np.float32)))


class CharLM(torch.nn.Module):
    """``forward(x [B, T] int64, state) -> (logits [B, T, V], state)``: embedding ->
    recurrent layer -> readout at every step (a character or word language model)."""

    def __init__(self, vocab_size: int, embed_dim: int, hidden: int, cell: str = "lstm",
                 num_layers: int = 1, rnn: torch.nn.Module | None = None):  # fmt: skip
        super().__init__()
        self.embed = torch.nn.Embedding(vocab_size, embed_dim)
        self.rnn = rnn if rnn is not None else RNNS[cell](embed_dim, hidden, num_layers,
                                                          batch_first=True)  # fmt: skip
        self.out = torch.nn.Linear(self.rnn.hidden_size, vocab_size)

    @classmethod
    def from_ours(cls, model: Any, params: Any) -> CharLM:
        """The same function as ``jaxrnn.nn.lm.LanguageModel`` ``model`` at ``params``
        (float32 copies of the weights)."""
        from jaxrnn.nn.interop import to_torch

        emb = np.asarray(params["embed"])
        net = cls(emb.shape[0], emb.shape[1], model.layer.hidden_size,
                  rnn=to_torch(model.layer, params["rnn"], batch_first=True))  # fmt: skip
        _copy(net.embed.weight, emb)
        _copy(net.out.weight, params["w_out"])
        _copy(net.out.bias, params["b_out"])
        return net

    def forward(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        y, state = self.rnn(self.embed(x), state)
        return self.out(y), state


def _detach(state: Any) -> Any:
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def stream_pass(net: CharLM, opt: torch.optim.Optimizer, inputs: torch.Tensor,
                targets: torch.Tensor, clip: float = 0.0, clip_norm: float = 0.0
                ) -> list[float]:  # fmt: skip
    """One pass over the chunks ``inputs``/``targets`` ``[K, B, T]`` (int64): a step per chunk
    on the mean cross-entropy of its ``B * T`` tokens, the state carried from chunk to chunk
    (detached: truncated BPTT) and zero at the start, as ``--lm-batches streams``. Returns
    the chunks' losses (nats per token, before each step)."""
    state, losses = None, []
    v = net.out.out_features
    for k in range(inputs.shape[0]):
        logits, state = net(inputs[k], state)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, v), targets[k].reshape(-1))
        optimizer_step(opt, net.parameters(), loss, clip, clip_norm)
        state = _detach(state)
        losses.append(loss.item())
    return losses


def stream_bpc(net: CharLM, rows: Any) -> float:
    """Bits per token of a text laid out as one stream (``jaxrnn.runs.prepare_lm.
    one_stream_rows``: ``inputs``, ``targets``, ``mask`` ``[K, 1, T]``), the state carried
    from chunk to chunk; tokens where ``mask`` is 0 (padding) are not counted."""
    x = torch.from_numpy(np.asarray(rows.inputs)[:, 0]).long()
    y = torch.from_numpy(np.asarray(rows.targets)[:, 0]).long()
    m = torch.from_numpy(np.asarray(rows.mask)[:, 0]).double()
    was = net.training
    net.eval()
    state, total = None, 0.0
    with torch.no_grad():
        for k in range(x.shape[0]):
            logits, state = net(x[k : k + 1], state)
            nll = torch.nn.functional.cross_entropy(logits[0], y[k], reduction="none")
            total += float((nll.double() * m[k]).sum())
    net.train(was)
    return total / float(m.sum()) / math.log(2)


class Tagger(torch.nn.Module):
    """``forward(ids [B, T] int64, lengths [B]) -> logits [B, max(lengths), K]``: embedding
    (row 0 = padding, id 1 = the unknown word) -> recurrent stack over each sentence's own
    length (packed) -> dropout -> readout per token. ``word_dropout``: while training, each
    word id (not padding) becomes 1 with this probability, as ``--word-dropout``."""

    def __init__(self, vocab_size: int, num_tags: int, embed_dim: int, hidden: int,
                 cell: str = "lstm", num_layers: int = 1, bidirectional: bool = True,
                 dropout: float = 0.0, layer_dropout: float = 0.0, word_dropout: float = 0.0,
                 rnn: torch.nn.Module | None = None):  # fmt: skip
        super().__init__()
        self.embed = torch.nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        if rnn is None:
            rnn = RNNS[cell](embed_dim, hidden, num_layers, batch_first=True,
                             bidirectional=bidirectional,
                             dropout=layer_dropout if num_layers > 1 else 0.0)  # fmt: skip
        self.rnn = rnn
        self.drop = torch.nn.Dropout(dropout)
        self.word_dropout = word_dropout
        width = rnn.hidden_size * (2 if rnn.bidirectional else 1)
        self.out = torch.nn.Linear(width, num_tags)

    @classmethod
    def from_ours(cls, model: Any, params: Any) -> Tagger:
        """The same function as ``jaxrnn.nn.models.SequenceTagger`` ``model`` at ``params``
        (float32 copies of the weights; its dropout and word dropout rates too)."""
        from jaxrnn.nn.interop import to_torch

        emb = np.asarray(params["embed"])
        net = cls(emb.shape[0], model.num_tags, emb.shape[1], model.layer.hidden_size,
                  dropout=model.dropout, word_dropout=model.word_dropout,
                  rnn=to_torch(model.layer, params["rnn"], batch_first=True))  # fmt: skip
        _copy(net.embed.weight, emb)
        _copy(net.out.weight, params["w_out"])
        _copy(net.out.bias, params["b_out"])
        return net

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        ids = ids[:, : int(lengths.max())]  # no column past the longest sentence
        if self.training and self.word_dropout > 0:
            hit = (torch.rand(ids.shape) < self.word_dropout) & (ids > 0)
            ids = ids.masked_fill(hit, 1)
        packed = pack_padded_sequence(self.embed(ids), lengths.cpu(), batch_first=True,
                                      enforce_sorted=False)  # fmt: skip
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        return self.out(self.drop(out))


def tag_loss(net: Tagger, ids: torch.Tensor, lengths: torch.Tensor,
             tags: torch.Tensor) -> torch.Tensor:  # fmt: skip
    """Softmax cross-entropy at every real token, averaged over the real tokens of the batch
    (``ids``, ``tags`` ``[B, T]``, ``lengths`` ``[B]``; what lies past a length weighs 0):
    ``jaxrnn.training.tasks.tagging``'s loss."""
    logits = net(ids, lengths)  # [B, T', K]
    real = torch.arange(logits.shape[1])[None, :] < lengths[:, None]
    return torch.nn.functional.cross_entropy(logits[real], tags[:, : logits.shape[1]][real])


def predict_tags(net: Tagger, ids: np.ndarray, lengths: np.ndarray,
                 batch_size: int = 256) -> np.ndarray:  # fmt: skip
    """The arg-max tag id of every token, ``[N, T]`` as ``ids`` (0 past each length), dropout
    off."""
    was = net.training
    net.eval()
    out = np.zeros(np.shape(ids), np.int64)
    with torch.no_grad():
        for i in range(0, len(ids), batch_size):
            x = torch.from_numpy(np.asarray(ids[i : i + batch_size], np.int64))
            n = torch.from_numpy(np.asarray(lengths[i : i + batch_size], np.int64))
            p = net(x, n).argmax(-1).numpy()
            out[i : i + len(p), : p.shape[1]] = p * (np.arange(p.shape[1]) < n.numpy()[:, None])
    net.train(was)
    return out


def optimizer_step(opt: torch.optim.Optimizer, params: Iterable[torch.nn.Parameter],
                   loss: torch.Tensor, clip: float = 0.0,
                   clip_norm: float = 0.0) -> None:  # fmt: skip
    """Backward and one step of ``opt``: gradients clipped element-wise to ``[-clip, clip]``,
    then by global norm ``clip_norm`` (each when > 0), as ``make_optimizer`` orders them."""
    params = list(params)
    opt.zero_grad()
    loss.backward()
    if clip > 0:
        torch.nn.utils.clip_grad_value_(params, clip)
    if clip_norm > 0:
        torch.nn.utils.clip_grad_norm_(params, clip_norm)
    opt.step()
