"""Token language models: the model and sampling as one compiled ``lax.scan``; its
``Task`` (a loss at every step, state carried from chunk to chunk) is
``jaxrnn.training.tasks.lm_task``.

::

    model = LanguageModel(jaxrnn.lstm(256), vocab_size=V, embed_dim=32)
    params = model.init(jax.random.key(0))
    logits, state = model.apply(params, ids, state)      # ids [B, T] -> logits [B, T, V]
    task = tasks.lm_task(model, streams=B)               # for jaxrnn.train_step / evaluate
    ids = sample(model, params, prime_ids, length=200, seed=0, temperature=0.8, top_k=10)

Training reads a text as ``B`` parallel streams cut into chunks of ``T`` tokens
(``jaxrnn.data.text.stream_batches``): a row of the data is one chunk of all
``B`` streams, ``LMRows(inputs [K, B, T], targets [K, B, T], mask [K, B, T])``,
and a step takes one row. The task's carry is the streams' recurrent state
``[L, B, H]`` (``LSTMState`` for LSTM, ``LRUState`` for the LRU): each chunk starts from
the state the previous chunk ended in, passed as a constant (``lax.stop_gradient``: truncated
BPTT, as min-char-rnn's ``hprev`` and Keras' ``stateful=True``). ``apply`` on
several rows runs them one after another, carrying the state (evaluation of a
whole split); a row of weight 0 (padding) leaves the state as it was. A split
laid out with fewer streams than the carry holds (the test text, one stream) uses
the carry's first rows.

With a parallel cell (``jaxrnn.lstm`` replaced by ``jaxrnn.nn.sequence.mingru``, ``minlstm``,
``lru``; ``--model mingru``) a chunk runs in parallel over time from the carried state (the
linear scan takes ``h0``) and ``sample`` steps one token at a time with the cell's step.

Params (the layout of ``jaxrnn.scratch.seq.lm_loss_and_grads``, so one params
dict runs in both): ``embed [V, E]`` (absent: one-hot inputs), ``rnn`` (layers of
one direction, ``CellParams``), ``w_out [V, H]``, ``b_out [V]``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrnn.errors import ConfigError  # a ValueError that the commands print in one line
from jaxrnn.nn.cells import CellParams, Transposed
from jaxrnn.nn.sequence import RecurrentLayer, dropout

Array = jax.Array

__all__ = ["LanguageModel", "sample"]

INIT_STYLES = ("keras", "torch", "min_char")

# The next-token task and its rows are training-side (``jaxrnn.training.tasks``); the
# old names ``jaxrnn.lm.lm_task``, ``LMRows``, ``LMOut``, ``word_level`` still resolve.
_MOVED = {"lm_task", "word_level", "LMRows", "LMOut"}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module("jaxrnn.training.tasks"), name)
    raise AttributeError(f"module 'jaxrnn.nn.lm' has no attribute {name!r}")


@dataclass(frozen=True)
class LanguageModel:
    """Embedding (or one-hot) -> unidirectional ``RecurrentLayer`` -> dense at every step.

    ``init_style="min_char"`` is min-char-rnn's model (one tanh layer, one-hot inputs,
    one hidden bias, weights ``N(0, 1) * 0.01``: ``jaxrnn.scratch.seq.min_char_init``);
    ``"keras"`` the initialisers of ``jaxrnn.nn.models.Classifier`` (embedding uniform(-0.05,
    0.05), Glorot-uniform inputs, orthogonal recurrent blocks, forget bias 1); ``"torch"``
    PyTorch's defaults (embedding N(0, 1), every LSTM weight and bias and the readout
    uniform(-1/sqrt(H), 1/sqrt(H)): ``jaxrnn.weights.init.torch_params``), what ``--task lm``
    starts from (``--init auto``; ``--init orthogonal``: ``"keras"``).
    """

    layer: RecurrentLayer
    vocab_size: int  # V: ids 0..V-1 (no padding id)
    embed_dim: int | None = 32  # None: one-hot inputs over V
    dropout: float = 0.0  # before the readout, training only
    init_style: str = "keras"

    def __post_init__(self) -> None:
        if self.layer.bidirectional:
            raise ValueError("a language model reads left to right: the layer must be "
                             "unidirectional")  # fmt: skip
        if self.init_style not in INIT_STYLES:
            raise ValueError(f"init_style must be one of {', '.join(map(repr, INIT_STYLES))}, "
                             f"got {self.init_style!r}")  # fmt: skip

    @property
    def num_outputs(self) -> int:
        return self.vocab_size

    def _classifier(self):
        from jaxrnn.nn.models import Classifier

        return Classifier(self.layer, self.vocab_size, self.embed_dim, self.vocab_size)

    def init(self, key: Array, dtype=jnp.float32) -> dict[str, Any]:
        """Params drawn with JAX (``init_numpy`` draws the same distributions on the host)."""
        if self.init_style == "min_char":
            return jax.tree.map(lambda a: jnp.asarray(a, dtype), self.init_numpy(0, dtype))
        if self.init_style == "torch":
            return self._torch_init(key, dtype)
        return self._classifier().init(key, dtype)

    def _torch_init(self, key: Array, dtype) -> dict[str, Any]:
        """PyTorch's defaults drawn with JAX (``torch_params``' distributions; a parallel
        cell keeps its own, ``RecurrentLayer.init``)."""
        k_emb, k_rnn, k_w, k_b = jax.random.split(key, 4)
        h = self.layer.hidden_size
        params: dict[str, Any] = {}
        if self.embed_dim is not None:
            params["embed"] = jax.random.normal(k_emb, (self.vocab_size, self.embed_dim), dtype)
        d_in = self.embed_dim or self.vocab_size
        if self.layer.parallel is not None:
            params["rnn"] = self.layer.init(k_rnn, d_in, dtype)
        else:
            k = 1.0 / h**0.5
            # the structure and shapes only (nothing drawn)
            template = jax.eval_shape(lambda: self.layer.init(k_rnn, d_in, dtype))
            leaves, tree = jax.tree.flatten(template)
            keys = jax.random.split(k_rnn, len(leaves))
            params["rnn"] = jax.tree.unflatten(tree, [
                jax.random.uniform(kk, a.shape, dtype, -k, k)
                for kk, a in zip(keys, leaves, strict=True)])  # fmt: skip
        bound = 1.0 / h**0.5  # nn.Linear(H, V): fan-in H
        params["w_out"] = jax.random.uniform(k_w, (self.vocab_size, h), dtype, -bound, bound)
        params["b_out"] = jax.random.uniform(k_b, (self.vocab_size,), dtype, -bound, bound)
        return params

    def init_numpy(self, seed: int, dtype=np.float32) -> dict[str, Any]:
        """Params drawn with NumPy from ``seed`` (what ``jaxrnn.runs`` starts from)."""
        if self.init_style == "min_char":
            from jaxrnn.weights.init import min_char_init

            p = min_char_init(self.vocab_size, self.layer.hidden_size, seed)
            cell = CellParams(*p["rnn"][0][0])
            p = {"rnn": ((cell,),), "w_out": p["w_out"], "b_out": p["b_out"]}
            return jax.tree.map(lambda a: np.asarray(a, dtype), p)
        if self.init_style == "torch":
            from jaxrnn.weights.init import torch_params

            layer = self.layer
            p = torch_params(cell=layer.cell, hidden=layer.hidden_size, num_layers=layer.num_layers,
                             bidirectional=False, vocab_size=self.vocab_size,
                             embed_dim=self.embed_dim, num_outputs=self.vocab_size, seed=seed,
                             bias=layer.bias)  # fmt: skip
            if layer.parallel is None:  # a parallel cell's params keep their NamedTuple type
                p["rnn"] = tuple(tuple(CellParams(*c) for c in cells) for cells in p["rnn"])
            if layer.block:  # residual blocks: the layer's own draw (parallel_init.residual_layers)
                p["rnn"] = layer.init_numpy(np.random.default_rng(seed),
                                            self.embed_dim or self.vocab_size)  # fmt: skip
            return jax.tree.map(lambda a: np.asarray(a, dtype), p)
        from jaxrnn.nn.models import init_params_numpy

        return init_params_numpy(self._classifier(), seed, dtype)

    def zero_state(self, batch_size: int, dtype=jnp.float32) -> Any:
        """Zero state ``[L, B, H]`` (``LSTMState`` for LSTM)."""
        return self.layer.zero_state(batch_size, dtype)

    def _inputs(self, params: dict, ids: Array) -> Array:
        if "embed" in params:
            return params["embed"][ids]  # [.., E]
        # b_out's dtype: w_out may be a Transposed (step_params)
        return jax.nn.one_hot(ids, self.vocab_size, dtype=params["b_out"].dtype)

    def apply(
        self, params: dict, ids: Array, state: Any = None, *, key: Array | None = None
    ) -> tuple[Array, Any]:
        """``ids [B, T]``, ``state [L, B, H]`` (None: zeros) -> ``(logits [B, T, V], final
        state [L, B, H])``. Dropout (between layers, before the readout) only with ``key``."""
        k_rnn = k_out = None
        if key is not None:
            k_rnn, k_out = jax.random.split(key)
        if "embed" in params:  # the first layer may look its projected inputs up (apply_ids)
            h, state = self.layer.apply_ids(params["rnn"], params["embed"], ids, key=k_rnn,
                                            initial_state=state)  # fmt: skip
        else:
            h, state = self.layer.apply(params["rnn"], self._inputs(params, ids), key=k_rnn,
                                        initial_state=state)  # fmt: skip
        if k_out is not None and self.dropout > 0.0:
            h = dropout(k_out, h, self.dropout)
        return self.layer.dense(h, params["w_out"], params["b_out"]), state

    def step_params(self, params: dict) -> dict:
        """``params`` with the recurrent layer's prepared for a loop of ``step`` calls
        (``RecurrentLayer.step_params``: no transpose left in the loop body); same numbers."""
        return {**params, "rnn": self.layer.step_params(params["rnn"]),
                "w_out": Transposed(params["w_out"].T)}  # the readout's too

    def step(self, params: dict, state: Any, ids: Array) -> tuple[Array, Any]:
        """One token per stream: ``ids [B]``, ``state [L, B, H]`` -> ``(logits [B, V], state)``.

        The cells' step functions directly (no scan of length 1; ``RecurrentLayer.step``, the
        sequential step for a parallel cell too): what sampling runs. In a loop, pass
        ``step_params(params)``, made before it.
        """
        state, x = self.layer.step(params["rnn"], state, self._inputs(params, ids))
        return self.layer.dense(x, params["w_out"], params["b_out"]), state


# ----------------------------------------------------------------------------- sampling


@functools.partial(jax.jit, static_argnames=("model", "length", "top_k"))
def _sample(model, params, prime: Array, key: Array, temperature: Array, length: int,
            top_k: int) -> Array:  # fmt: skip
    """``prime [M, P]`` (P >= 1) -> ``[M, length]`` sampled ids (see ``sample``)."""
    m = prime.shape[0]
    state = model.zero_state(m, params["w_out"].dtype)
    if prime.shape[1] > 1:  # warm the state on all but the last prime token
        _, state = model.apply(params, prime[:, :-1], state)
    looped = model.step_params(params)  # the transposes once, not per token

    def body(carry, k):
        state, tok = carry
        logits, state = model.step(looped, state, tok)  # [M, V]
        logits = logits / temperature
        if 0 < top_k < logits.shape[-1]:
            kth = jax.lax.top_k(logits, top_k)[0][:, -1:]
            logits = jnp.where(logits < kth, -jnp.inf, logits)
        tok = jax.random.categorical(k, logits, axis=-1).astype(jnp.int32)
        return (state, tok), tok

    _, toks = jax.lax.scan(body, (state, prime[:, -1]), jax.random.split(key, length))
    return toks.T


def sample(
    model: LanguageModel,
    params: dict,
    prime_ids: Any,
    length: int,
    *,
    seed: int = 0,
    temperature: float = 1.0,
    top_k: int = 0,
    num_samples: int = 1,
) -> np.ndarray:
    """Draw ``num_samples`` continuations of ``length`` tokens: ``[num_samples, length]``.

    The prime ``prime_ids [P]`` (P >= 1) warms the state (its tokens are read, none is
    drawn); each next token is drawn from ``softmax(logits / temperature)``, restricted to
    the ``top_k`` most likely (0: all). One compiled ``lax.scan`` over the tokens, all
    samples in one batch; same seed, same tokens.
    """
    prime = np.asarray(prime_ids, np.int32).reshape(-1)
    if prime.size < 1:
        raise ConfigError("the prime needs at least one token")
    if length < 1 or num_samples < 1:
        raise ConfigError(f"length and num_samples must be >= 1, got {length}, {num_samples}")
    if not temperature > 0:
        raise ConfigError(f"temperature must be > 0, got {temperature}")
    primes = jnp.asarray(np.broadcast_to(prime, (num_samples, prime.size)))
    dtype = params["w_out"].dtype
    toks = _sample(model, params, primes, jax.random.key(seed), jnp.asarray(temperature, dtype),
                   int(length), int(top_k))  # fmt: skip
    return np.asarray(toks)
