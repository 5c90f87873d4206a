"""Text classifiers: token ids -> embedding (or one-hot) -> recurrent stack -> readout.

Every model has the same two pure functions::

    params = model.init(key)
    logits = model.apply(params, ids, lengths, key=None)   # ids [B, T] int, lengths [B]
    # logits [B, K]: K = 1 means one sigmoid unit (binary), K > 1 a softmax over K classes

Token ids follow ``jaxrnn.data.Tokenizer``: 0 is padding, words are ``1..V``.

``StudyRNN`` is the study's scratch RNN: one-hot inputs over the ``V`` words
(column ``j`` of ``w_xh`` is word id ``j + 1``), params named exactly as in
``jaxrnn.scratch`` so one params dict runs in both. ``Classifier`` is the
general model built from ``jaxrnn.nn.sequence`` layers.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrnn.nn.cells import CellParams
from jaxrnn.nn.chars import CharEncoder
from jaxrnn.nn.sequence import DEFAULT_IMPL, RecurrentLayer, _check_impl, dropout, unroll
from jaxrnn.weights.init import keras_params

Array = jax.Array
Params = Any


@dataclass(frozen=True)
class StudyRNN:
    """The study's RNN: ``h_t = tanh(w_xh x_t + w_hh h_{t-1} + b_h)``, logits ``w_hy h_T + b_y``.

    ``h_T`` is the state after each sequence's last valid token (``lengths``).
    Params: ``w_xh [H, V]``, ``w_hh [H, H]``, ``b_h [H]``, ``w_hy [C, H]``, ``b_y [C]``.
    ``impl`` picks the backward pass, as ``jaxrnn.nn.sequence.unroll``'s: ``"custom_vjp"``
    (default, ``jaxrnn.nn.bptt``'s hand-written one; ``"bptt"`` is accepted for it) or
    ``"autodiff"`` (``jax.grad`` of the plain masked ``lax.scan``: the reference the tests
    check the hand-written passes against).
    """

    vocab_size: int  # V: real words, padding excluded
    hidden_size: int = 128
    num_classes: int = 2
    impl: str = DEFAULT_IMPL

    def __post_init__(self) -> None:
        object.__setattr__(self, "impl", _check_impl(self.impl))

    @property
    def num_outputs(self) -> int:
        return self.num_classes

    def init(self, key: Array, dtype=jnp.float32) -> dict[str, Array]:
        """The study's init: weights N(0, 1) / 1000, biases zero."""
        k1, k2, k3 = jax.random.split(key, 3)
        h, v, c = self.hidden_size, self.vocab_size, self.num_classes
        return {
            "w_xh": jax.random.normal(k1, (h, v), dtype) / 1000,
            "w_hh": jax.random.normal(k2, (h, h), dtype) / 1000,
            "b_h": jnp.zeros((h,), dtype),
            "w_hy": jax.random.normal(k3, (c, h), dtype) / 1000,
            "b_y": jnp.zeros((c,), dtype),
        }

    def hidden_states(self, params: dict, ids: Array, lengths: Array) -> tuple[Array, Array]:
        """``(h_t for every step [B, T, H] (zero past the end), h_T [B, H])``."""
        # w_xh @ one_hot(id - 1) is a column gather; padding (id 0) is masked anyway.
        xp = params["w_xh"].T[jnp.maximum(ids - 1, 0)] + params["b_h"]  # [B, T, H]
        cell = CellParams(params["w_xh"], params["w_hh"], params["b_h"], None)
        h0 = jnp.zeros((ids.shape[0], self.hidden_size), xp.dtype)
        return unroll("rnn", cell, xp, lengths, h0, impl=self.impl)

    def apply(self, params: dict, ids: Array, lengths: Array, *, key: Array | None = None) -> Array:
        """``ids [B, T]``, ``lengths [B]`` -> logits ``[B, C]``. ``key`` is unused (no dropout)."""
        _, h = self.hidden_states(params, ids, lengths)
        return h @ params["w_hy"].T + params["b_y"]


class _ClassReadout:
    """What both classifiers' readouts share: the checks of ``num_classes`` and
    ``binary_readout``, and the readout's width."""

    num_classes: int
    binary_readout: str

    def __post_init__(self) -> None:
        if self.binary_readout not in ("softmax", "sigmoid"):
            raise ValueError(
                f"binary_readout must be 'softmax' or 'sigmoid', got {self.binary_readout!r}"
            )
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {self.num_classes}")

    @property
    def num_outputs(self) -> int:
        """K, the readout's width: 1 for two classes with ``binary_readout="sigmoid"``."""
        sigmoid = self.num_classes == 2 and self.binary_readout == "sigmoid"
        return 1 if sigmoid else self.num_classes


def word_dropout(key: Array, ids: Array, rate: float, unk_id: int = 1) -> Array:
    """Word dropout: each real token of ``ids [B, T]`` (not padding, id 0) replaced by
    ``unk_id`` with probability ``rate``, so that the unknown word's embedding row is trained
    (it is never seen otherwise: every training word is in the vocabulary). ``[B, T]``."""
    hit = jax.random.bernoulli(key, rate, ids.shape) & (ids != 0)
    return jnp.where(hit, jnp.asarray(unk_id, ids.dtype), ids)


def _drop_words(key: Array | None, ids: Array, rate: float, unk_id: int) -> Array:
    """``word_dropout`` with a key of its own (``fold_in``, so that the other dropout masks
    of a key stay what they were without it); training only (``key`` given)."""
    if key is None or not isinstance(rate, int | float) or rate <= 0.0:
        return ids
    return word_dropout(jax.random.fold_in(key, 0x5D0), ids, rate, unk_id)


@dataclass(frozen=True)
class Classifier(_ClassReadout):
    """Embedding (or one-hot) -> ``RecurrentLayer`` -> dropout -> dense.

    The readout is the final state of the last layer: the forward direction's
    state after the last valid token, concatenated for a bidirectional layer
    with the backward direction's final state (after reading the first token).
    With ``mask=False`` the padding is fed to the cell like real tokens, as a
    Keras layer without ``mask_zero`` does; the readout is then the state
    after step ``T``.

    Params: ``{"embed": [V, E]`` (absent for one-hot), ``"rnn": LayerParams``,
    ``"w_out": [K, F]``, ``"b_out": [K]}`` with ``F = num_directions * H``.

    The readout has ``K = num_classes`` logits, to be read with softmax
    cross-entropy, also for two classes. ``binary_readout="sigmoid"`` (what the
    study's Keras models had: ``Dense(1, sigmoid)``, and what ``jaxrnn.runs``
    builds for two classes) gives two classes one logit ``[B, 1]`` instead, read
    with sigmoid binary cross-entropy. ``jaxrnn.training.tasks.losses`` and
    ``jaxrnn.training.tasks.probabilities`` pick the right form from the logits' width, so
    use them rather than choosing a loss by hand.
    """

    layer: RecurrentLayer
    vocab_size: int  # ids 0..vocab_size-1, padding (0) included
    embed_dim: int | None = 16  # None: one-hot inputs over vocab_size
    num_classes: int = 2
    dropout: float = 0.0  # before the dense readout
    mask: bool = True
    binary_readout: str = "softmax"  # 2 classes: "softmax" (2 logits) or "sigmoid" (1 logit)
    word_dropout: float = 0.0  # training only: ids -> unk_id with this probability
    unk_id: int = 1  # the tokenizer's OOV index

    def init(self, key: Array, dtype=jnp.float32) -> dict[str, Any]:
        """Parameters drawn with JAX (Keras' initialisers: embedding uniform(-0.05, 0.05),
        the layer's as ``RecurrentLayer.init``, Glorot-uniform readout, zero bias); see the
        class docstring for the structure. ``init_params_numpy`` draws the same
        distributions on the host."""
        k_emb, k_rnn, k_out = jax.random.split(key, 3)
        params: dict[str, Any] = {}
        if self.embed_dim is not None:
            # Keras' Embedding default: uniform(-0.05, 0.05).
            params["embed"] = jax.random.uniform(
                k_emb, (self.vocab_size, self.embed_dim), dtype, -0.05, 0.05
            )
            d_in = self.embed_dim
        else:
            d_in = self.vocab_size
        params["rnn"] = self.layer.init(k_rnn, d_in, dtype)
        f, k = self.layer.output_size, self.num_outputs
        limit = (6.0 / (f + k)) ** 0.5  # Glorot uniform, as Keras' Dense
        params["w_out"] = jax.random.uniform(k_out, (k, f), dtype, -limit, limit)
        params["b_out"] = jnp.zeros((k,), dtype)
        return params

    def features(
        self, params: dict, ids: Array, lengths: Array, *, key: Array | None = None
    ) -> Array:
        """The readout features ``[B, F]`` (before dropout and the dense layer)."""
        if "embed" in params:
            x = params["embed"][ids]  # [B, T, E]
        else:
            x = jax.nn.one_hot(ids, self.vocab_size, dtype=params["w_out"].dtype)
        lengths = lengths if self.mask else None
        outs, final = self.layer.apply(params["rnn"], x, lengths, key=key)
        return _readout_features(self.layer, final, outs, lengths)

    def apply(self, params: dict, ids: Array, lengths: Array, *, key: Array | None = None) -> Array:
        """``ids [B, T]``, ``lengths [B]`` -> logits ``[B, K]``; dropout only with a ``key``."""
        k_rnn = k_out = None
        if key is not None:
            k_rnn, k_out = jax.random.split(key)
        ids = _drop_words(key, ids, self.word_dropout, self.unk_id)
        feats = self.features(params, ids, lengths, key=k_rnn)
        # A traced rate (``jaxrnn.cli.sweep`` vmaps over it) always takes the dropout path.
        traced = not isinstance(self.dropout, int | float)
        if k_out is not None and (traced or self.dropout > 0.0):
            feats = dropout(k_out, feats, self.dropout)
        return feats @ params["w_out"].T + params["b_out"]


def count_params(params: Params) -> int:
    """Number of scalar parameters in a pytree."""
    return int(sum(x.size for x in jax.tree.leaves(params)))


def init_params_numpy(model: StudyRNN | Classifier, seed: int, dtype=np.float32) -> dict:
    """``model``'s parameters drawn with NumPy (``np.random.default_rng(seed)``).

    Same structure, shapes and distributions as ``model.init`` (Keras-style: Glorot
    uniform input weights, orthogonal recurrent blocks, zero biases, LSTM forget bias
    1, uniform(-0.05, 0.05) embedding), but no JAX program to compile: the trainer
    uses it so that a short run does not spend a second compiling its initialiser.
    ``StudyRNN`` gets the study's ``jaxrnn.weights.init.study_rnn_params(seed)``.
    """
    if hasattr(model, "init_numpy"):  # a model that draws its own (jaxrnn.nn.lm.LanguageModel)
        return model.init_numpy(seed, dtype)
    if isinstance(model, StudyRNN):
        from jaxrnn.weights.init import study_rnn_params

        p = study_rnn_params(model.vocab_size, model.hidden_size, model.num_classes, seed)
        return {k: v.astype(dtype) for k, v in p.items()}
    layer = model.layer  # the same draws as the NumPy backend's (no JAX there)
    # layer 0's input width D: the features of a float-input model, else the vocabulary
    floats = isinstance(model, Regressor | NumericClassifier)
    width = model.input_size if floats else model.vocab_size
    params = keras_params(cell=layer.cell, hidden=layer.hidden_size, num_layers=layer.num_layers,
                          bidirectional=layer.bidirectional, vocab_size=width,
                          embed_dim=model.embed_dim, num_outputs=model.num_outputs, seed=seed,
                          bias=layer.bias,
                          extra_inputs=getattr(model, "char_features", 0))  # fmt: skip
    if layer.parallel is None:  # a parallel cell's params keep their own NamedTuple type
        params["rnn"] = tuple(tuple(CellParams(*c) for c in cells) for cells in params["rnn"])
    if layer.block:  # residual blocks: the layer's own draw (parallel_init.residual_layers)
        d_in = (model.embed_dim or width) + getattr(model, "char_features", 0)
        params["rnn"] = layer.init_numpy(np.random.default_rng(seed), d_in)
    add_char_params(model, params, seed)
    return jax.tree.map(lambda a: np.asarray(a, dtype), params)


def add_char_params(model: Any, params: dict, seed: int) -> dict:
    """With a ``char_encoder`` (``SequenceTagger``), ``params["chars"]`` drawn with NumPy
    (``jaxrnn.weights.init.char_encoder_params``, a random stream of its own), in place;
    ``params``."""
    enc = getattr(model, "char_encoder", None)
    if enc is not None:
        from jaxrnn.weights.init import char_encoder_params

        p = char_encoder_params(num_chars=enc.num_chars, char_dim=enc.char_dim,
                                hidden=enc.layer.hidden_size, seed=seed)  # fmt: skip
        p["rnn"] = tuple(tuple(CellParams(*c) for c in cells) for cells in p["rnn"])
        params["chars"] = jax.tree.map(lambda a: np.asarray(a, params["w_out"].dtype), p)
    return params


# ----------------------------------------------------------------------------- sequence models
#
# ``SequenceTagger`` and ``Regressor`` keep the params layout of ``Classifier`` and of the
# NumPy reference ``jaxrnn.scratch.seq`` (``embed``, ``rnn``, ``w_out``, ``b_out``), so one
# params dict runs in both, and ``init_params_numpy`` draws them (it reads ``layer``,
# ``vocab_size`` (``Regressor``: ``input_size``), ``embed_dim`` and ``num_outputs``).


def _readout_features(model_layer: RecurrentLayer, final: Any, outs: Array,
                      lengths: Array | None) -> Array:  # fmt: skip
    """The last layer's final states, forward then backward: ``[B, num_directions * H]``.

    With residual blocks (``model_layer.block``) the carry is the cell's state, which the
    last block's projection and MLP come after: the features are then the last layer's
    outputs ``outs [B, T, dirs * H]`` at the same steps (the forward direction's at each
    sequence's last valid step, the backward direction's at its first)."""
    nd = model_layer.num_directions
    if model_layer.block:
        hid, steps = model_layer.hidden_size, outs.shape[1]
        last = (jnp.full(outs.shape[:1], steps - 1) if lengths is None
                else jnp.maximum(jnp.asarray(lengths) - 1, 0))  # fmt: skip
        fwd = jnp.take_along_axis(outs[..., :hid], last[:, None, None], axis=1)[:, 0]
        return fwd if nd == 1 else jnp.concatenate([fwd, outs[:, 0, hid:]], axis=-1)
    h = final.h if hasattr(final, "h") else final  # [L * dirs, B, H]
    return jnp.concatenate([h[-nd + d] for d in range(nd)], axis=-1)


@dataclass(frozen=True)
class SequenceTagger:
    """A tag at every token: embedding -> ``RecurrentLayer`` -> dropout -> dense, per step.

    ``apply(params, ids [B, T], lengths [B]) -> logits [B, T, K]``: the readout reads the
    last layer's output at each step (forward and backward concatenated for a
    bidirectional layer, so each token sees its left and right context). Past each
    sequence's end the outputs are zero and the logits are just ``b_out``: the loss must be
    masked (``jaxrnn.training.tasks.tagging`` weighs padding 0).

    Params: ``{"embed": [V, E]`` (absent for one-hot), ``"rnn"``, ``"w_out": [K, F]``,
    ``"b_out": [K]}`` with ``F = num_directions * H``: ``jaxrnn.scratch.seq``'s
    ``tag_loss_and_grads`` layout.

    With a ``char_encoder`` (``jaxrnn.nn.chars.CharEncoder``, Lample et al. 2016's character
    BiLSTM) each token's characters ``chars [B, T, W]`` (0 = padding) are read too and their
    encoding ``[B, T, Fc]`` concatenated after the word's embedding, so layer 0 reads
    ``E + Fc`` features; params gain ``"chars": {"embed", "rnn"}``.
    """

    layer: RecurrentLayer
    vocab_size: int  # ids 0..vocab_size-1: 0 = padding, 1 = OOV (jaxrnn.data.conll)
    num_tags: int
    embed_dim: int | None = 32  # None: one-hot inputs over vocab_size
    dropout: float = 0.0  # on the features before the readout (training only)
    word_dropout: float = 0.0  # training only: ids -> 1 (OOV) with this probability
    char_encoder: CharEncoder | None = None  # None: words only

    @property
    def num_outputs(self) -> int:
        """K, the readout's width: one logit per tag."""
        return self.num_tags

    @property
    def char_features(self) -> int:
        """``Fc``, the width of a token's character encoding (0 without a ``char_encoder``)."""
        return 0 if self.char_encoder is None else self.char_encoder.output_size

    def init(self, key: Array, dtype=jnp.float32) -> dict[str, Any]:
        """Keras-style initial params (as ``Classifier.init``); ``init_params_numpy`` draws the
        same distributions on the host."""
        k_emb, k_rnn, k_out = jax.random.split(key, 3)
        params: dict[str, Any] = {}
        d_in = self.vocab_size
        if self.embed_dim is not None:
            params["embed"] = jax.random.uniform(
                k_emb, (self.vocab_size, self.embed_dim), dtype, -0.05, 0.05
            )
            d_in = self.embed_dim
        params["rnn"] = self.layer.init(k_rnn, d_in + self.char_features, dtype)
        f, k = self.layer.output_size, self.num_tags
        limit = (6.0 / (f + k)) ** 0.5
        params["w_out"] = jax.random.uniform(k_out, (k, f), dtype, -limit, limit)
        params["b_out"] = jnp.zeros((k,), dtype)
        if self.char_encoder is not None:  # a key of its own: the other draws stay as they were
            params["chars"] = self.char_encoder.init(jax.random.fold_in(key, 0xC4A2), dtype)
        return params

    def char_encodings(self, params: dict, chars: Array) -> Array:
        """``chars [B, T, W]`` (character ids, 0 = padding) -> ``[B, T, Fc]``: each token's
        encoding by ``char_encoder`` (a position past a sentence's end reads no character)."""
        b, t, w = chars.shape
        flat = chars.reshape(b * t, w).astype(jnp.int32)
        lengths = jnp.sum(flat != 0, axis=-1)  # characters are left-aligned, ids >= 1
        return self.char_encoder.apply(params["chars"], flat, lengths).reshape(b, t, -1)

    def apply(self, params: dict, ids: Array, lengths: Array, *, key: Array | None = None,
              chars: Array | None = None) -> Array:  # fmt: skip
        """``ids [B, T]``, ``lengths [B]`` (and with a ``char_encoder`` ``chars [B, T, W]``) ->
        logits ``[B, T, K]``; dropout only with a ``key``."""
        k_rnn = k_out = None
        if key is not None:
            k_rnn, k_out = jax.random.split(key)
        ids = _drop_words(key, ids, self.word_dropout, 1)
        if "embed" in params:
            x = params["embed"][ids]  # [B, T, E]
        else:
            x = jax.nn.one_hot(ids, self.vocab_size, dtype=params["w_out"].dtype)
        if self.char_encoder is not None:
            if chars is None:
                raise ValueError("this tagger reads each token's characters: pass chars "
                                 "[B, T, W]")  # fmt: skip
            x = jnp.concatenate([x, self.char_encodings(params, chars).astype(x.dtype)], -1)
        outs, _ = self.layer.apply(params["rnn"], x, lengths, key=k_rnn)  # [B, T, F]
        if k_out is not None and self.dropout > 0.0:
            outs = dropout(k_out, outs, self.dropout)
        return outs @ params["w_out"].T + params["b_out"]


@dataclass(frozen=True, init=False)
class Regressor:
    """Real-valued forecasts from a window of features: ``RecurrentLayer`` -> dense.

    ``apply(params, x [B, T, D], lengths=None) -> [B, H]`` from the last layer's final
    states (forward, then backward: ``Classifier``'s readout), or with ``per_step``
    ``[B, T, H]`` from the output at every step. A bidirectional layer reads the
    whole window, so per-step forecasts would see the values they forecast:
    ``per_step`` needs a forward-only layer (``ValueError``).

    Params: ``{"rnn", "w_out": [H, F], "b_out": [H]}``, ``jaxrnn.scratch.seq``'s
    ``regress_loss_and_grads`` layout. ``input_size`` is the input width ``D``; its earlier
    name ``vocab_size`` still works, deprecated (constructor keyword and attribute).
    """

    layer: RecurrentLayer
    input_size: int  # D, features per step
    horizon: int = 1  # H, values forecast
    per_step: bool = False

    def __init__(self, layer: RecurrentLayer, input_size: int | None = None, horizon: int = 1,
                 per_step: bool = False, *, vocab_size: int | None = None) -> None:  # fmt: skip
        if vocab_size is not None:
            warnings.warn("Regressor(vocab_size=...) is deprecated: it is the input width, "
                          "input_size", DeprecationWarning, stacklevel=2)  # fmt: skip
            if input_size is not None and input_size != vocab_size:
                raise ValueError(f"Regressor: input_size={input_size} and its deprecated "
                                 f"name vocab_size={vocab_size} disagree")  # fmt: skip
            input_size = vocab_size
        if input_size is None:
            raise TypeError("Regressor() missing required argument: 'input_size'")
        for name, value in (("layer", layer), ("input_size", input_size), ("horizon", horizon),
                            ("per_step", per_step)):  # fmt: skip
            object.__setattr__(self, name, value)
        if self.per_step and self.layer.bidirectional:
            raise ValueError("per-step forecasts need a forward-only layer: a bidirectional "
                             "one would read the values it forecasts")  # fmt: skip

    embed_dim = None  # no embedding: the features go to the layer as they are

    @property
    def vocab_size(self) -> int:
        """Deprecated name of ``input_size``, the layer's input width ``D``."""
        warnings.warn("Regressor.vocab_size is deprecated: use input_size", DeprecationWarning,
                      stacklevel=2)  # fmt: skip
        return self.input_size

    @property
    def num_outputs(self) -> int:
        return self.horizon

    def init(self, key: Array, dtype=jnp.float32) -> dict[str, Any]:
        """The layer's init and a Glorot-uniform readout with zero bias."""
        k_rnn, k_out = jax.random.split(key)
        f, k = self.layer.output_size, self.horizon
        limit = (6.0 / (f + k)) ** 0.5
        return {
            "rnn": self.layer.init(k_rnn, self.input_size, dtype),
            "w_out": jax.random.uniform(k_out, (k, f), dtype, -limit, limit),
            "b_out": jnp.zeros((k,), dtype),
        }

    def apply(
        self, params: dict, x: Array, lengths: Array | None = None, *, key: Array | None = None
    ) -> Array:
        """``x [B, T, D]`` -> ``[B, H]`` (or ``[B, T, H]`` per step); ``key``: layer dropout."""
        outs, final = self.layer.apply(params["rnn"], x, lengths, key=key)
        feats = outs if self.per_step else _readout_features(self.layer, final, outs, lengths)
        return feats @ params["w_out"].T + params["b_out"]


@dataclass(frozen=True)
class NumericClassifier(_ClassReadout):
    """A label per numeric sequence: features ``[B, T, F]`` -> ``RecurrentLayer`` -> dropout ->
    dense, for sensor readings, ECG, motion (``jaxrnn.data.numeric``).

    ``Classifier`` without the embedding: the standardised features go straight into the
    recurrent stack (``input_size = F``), always masked by ``lengths`` (steps past a row's
    length are padding and change nothing), and the readout is ``Classifier``'s: the last
    layer's final states, forward then backward. Two classes get one sigmoid logit with
    ``binary_readout="sigmoid"``, as ``Classifier``.

    Params: ``{"rnn", "w_out": [K, F_out], "b_out": [K]}`` (``Regressor``'s layout).
    """

    layer: RecurrentLayer
    input_size: int  # F, features per step
    num_classes: int = 2
    dropout: float = 0.0  # before the dense readout
    binary_readout: str = "softmax"  # 2 classes: "softmax" (2 logits) or "sigmoid" (1 logit)

    embed_dim = None  # no embedding

    def init(self, key: Array, dtype=jnp.float32) -> dict[str, Any]:
        """The layer's init and a Glorot-uniform readout with zero bias."""
        k_rnn, k_out = jax.random.split(key)
        f, k = self.layer.output_size, self.num_outputs
        limit = (6.0 / (f + k)) ** 0.5
        return {
            "rnn": self.layer.init(k_rnn, self.input_size, dtype),
            "w_out": jax.random.uniform(k_out, (k, f), dtype, -limit, limit),
            "b_out": jnp.zeros((k,), dtype),
        }

    def apply(self, params: dict, x: Array, lengths: Array, *, key: Array | None = None) -> Array:
        """``x [B, T, F]``, ``lengths [B]`` -> logits ``[B, K]``; dropout only with a ``key``."""
        k_rnn = k_out = None
        if key is not None:
            k_rnn, k_out = jax.random.split(key)
        x = x.astype(params["w_out"].dtype)
        outs, final = self.layer.apply(params["rnn"], x, lengths, key=k_rnn)
        feats = _readout_features(self.layer, final, outs, lengths)
        traced = not isinstance(self.dropout, int | float)
        if k_out is not None and (traced or self.dropout > 0.0):
            feats = dropout(k_out, feats, self.dropout)
        return feats @ params["w_out"].T + params["b_out"]
