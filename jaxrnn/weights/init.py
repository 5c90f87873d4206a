"""Initial parameters of the ``Classifier`` twin, drawn with NumPy (imports no JAX).

Two schemes, both returning ``Classifier``'s params structure (``embed [V, E]`` unless
one-hot, ``rnn``: layers x directions of ``CellParams``, ``w_out [K, F]``, ``b_out [K]``):

* ``keras_params``: what ``jaxrnn.nn.models.init_params_numpy`` draws for a ``Classifier``
  (same generator, same draws in the same order, so the same numbers; the tests check
  it): Glorot-uniform ``w_ih``, orthogonal ``w_hh`` per gate block, zero biases except
  the blocks the cell's spec starts elsewhere (``CellSpec.bias_init``: LSTM forget-gate
  bias 1), embedding uniform(-0.05, 0.05), Glorot-uniform readout. The NumPy
  backend cannot call the JAX module's function (it imports JAX), hence this twin.
* ``study_params``: the study's scratch initialisation (``jaxrnn.scratch.init_params``)
  for a stack: every weight ``N(0, 1) / 1000``, biases zero. The ``rnn2`` preset (the
  study's second draft, two tanh layers) starts here in both backends.
* ``torch_params``: PyTorch's defaults (``nn.Embedding`` N(0, 1); ``nn.RNN``/``nn.LSTM``/
  ``nn.GRU`` every weight and bias uniform(-1/sqrt(H), 1/sqrt(H)); ``nn.Linear`` readout
  weight and bias uniform(-1/sqrt(F), 1/sqrt(F))), the language model's default
  (``--task lm``, chosen on validation bits/char: ``docs/guides/language-models.md``).
"""

from __future__ import annotations

import numpy as np

from jaxrnn.weights.cellspec import bias_init_blocks, get_spec
from jaxrnn.weights.layout import CellParams
from jaxrnn.weights.parallel_init import layer_params


def orthogonal(rng: np.random.Generator, n: int) -> np.ndarray:
    """A uniformly random ``[n, n]`` orthogonal matrix: Gram-Schmidt (twice, for accuracy)
    on a Gaussian matrix's columns, i.e. the QR factor with a positive diagonal.

    Written out rather than ``np.linalg.qr``: LAPACK's QR may start a BLAS thread pool,
    which on a busy 2-core machine was measured 150x slower (7.5 s for 24 matrices).
    """
    a = rng.standard_normal((n, n))
    q = np.zeros((n, n))
    for j in range(n):
        v = a[:, j]
        for _ in range(2):
            v = v - q[:, :j] @ (q[:, :j].T @ v)
        q[:, j] = v / np.linalg.norm(v)
    return q


def keras_params(
    *,
    cell: str,
    hidden: int,
    num_layers: int,
    bidirectional: bool,
    vocab_size: int,
    embed_dim: int | None,
    num_outputs: int,
    seed: int,
    bias: bool = True,
    dtype=np.float64,
    recurrent: str = "orthogonal",
    extra_inputs: int = 0,
) -> dict:
    """``init_params_numpy(Classifier(...), seed)`` without JAX.

    ``vocab_size`` counts padding (ids ``0..V-1`` index ``embed``'s rows, or the one-hot
    columns when ``embed_dim`` is None); ``num_outputs`` is ``K`` (1: one sigmoid logit).
    ``recurrent="glorot"``: ``w_hh`` Glorot-uniform over ``[G*H, H]`` (fan-in H, fan-out
    G*H) instead of an orthogonal block per gate (the same draws otherwise). A parallel cell
    (spec ``parallel``: minGRU, minLSTM, LRU) draws its own params per layer and direction
    (``jaxrnn.weights.parallel_init.layer_params``) from the same generator, in the same
    place (``recurrent`` does not apply to it). ``extra_inputs``: layer 0 reads that many
    more features after the embedding (or one-hot), e.g. a character encoder's; 0 draws
    exactly what it drew before the option.
    """
    if recurrent not in ("orthogonal", "glorot"):
        raise ValueError(f"recurrent must be 'orthogonal' or 'glorot', got {recurrent!r}")
    rng = np.random.default_rng(seed)
    spec = get_spec(cell)
    gates, h = spec.num_gates, hidden
    dirs = 2 if bidirectional else 1
    params: dict = {}
    if embed_dim is not None:
        params["embed"] = rng.uniform(-0.05, 0.05, (vocab_size, embed_dim))
        d_in = embed_dim
    else:
        d_in = vocab_size
    d_in += extra_inputs
    layers = []
    for i in range(num_layers):
        cells = []
        for _ in range(dirs):
            d = d_in if i == 0 else dirs * h
            if spec.parallel:  # minGRU, minLSTM, LRU: their own initialisers (parallel_init)
                cells.append(layer_params(rng, cell, d, h))
                continue
            limit = (6.0 / (d + gates * h)) ** 0.5
            w_ih = rng.uniform(-limit, limit, (gates * h, d))
            if recurrent == "orthogonal":
                w_hh = np.concatenate([orthogonal(rng, h) for _ in range(gates)])
            else:
                lim_hh = (6.0 / (h + gates * h)) ** 0.5
                w_hh = rng.uniform(-lim_hh, lim_hh, (gates * h, h))
            if not bias:
                cells.append(CellParams(w_ih, w_hh, None, None))
                continue
            b_ih = np.zeros(gates * h)
            for rows, value in bias_init_blocks(spec, h):  # lstm: Keras' unit_forget_bias
                b_ih[rows] = value
            cells.append(CellParams(w_ih, w_hh, b_ih, np.zeros(gates * h)))
        layers.append(tuple(cells))
    params["rnn"] = tuple(layers)
    f = dirs * h
    limit = (6.0 / (f + num_outputs)) ** 0.5
    params["w_out"] = rng.uniform(-limit, limit, (num_outputs, f))
    params["b_out"] = np.zeros(num_outputs)
    return cast(params, dtype)


# The character encoder's draws have a stream of their own (``[seed, CHAR_SALT]``), so that
# the rest of a tagger starts from the numbers it drew without one.
CHAR_SALT = 0xC4A2


def char_encoder_params(*, num_chars: int, char_dim: int, hidden: int, seed: int,
                        dtype=np.float64) -> dict:  # fmt: skip
    """``jaxrnn.nn.chars.CharEncoder``'s params drawn with NumPy (Keras' scheme, as
    ``keras_params``: an embedding ``[num_chars, char_dim]`` uniform(-0.05, 0.05), a
    bidirectional LSTM of ``hidden`` per direction with Glorot-uniform inputs, orthogonal
    recurrent blocks and forget bias 1): ``{"embed", "rnn"}``, from
    ``np.random.default_rng([seed, CHAR_SALT])``."""
    p = keras_params(cell="lstm", hidden=hidden, num_layers=1, bidirectional=True,
                     vocab_size=num_chars, embed_dim=char_dim, num_outputs=1,
                     seed=[seed, CHAR_SALT], dtype=dtype)  # type: ignore[arg-type]  # fmt: skip
    return {"embed": p["embed"], "rnn": p["rnn"]}


def study_params(
    *,
    hidden: int,
    num_layers: int,
    vocab_size: int,
    num_outputs: int,
    seed: int,
    dtype=np.float64,
    cell: str = "rnn",
    bidirectional: bool = False,
    embed_dim: int | None = None,
    extra_inputs: int = 0,
) -> dict:
    """The study's init for a stack (the ``rnn2`` preset): ``N(0, 1) / 1000`` weights, zero
    biases, drawn from ``np.random.default_rng(seed)`` layer by layer and direction by
    direction (``w_ih``, then ``w_hh``), then ``w_out``, then (with ``embed_dim``) the
    embedding, so a one-hot tanh stack draws exactly what the study's second draft did.

    ``vocab_size`` counts padding: one-hot column 0 (or embedding row 0) is the padding id,
    whose weights start at zero (the study's one-hot covers the words only; with masking
    the column is never read). The cells keep both bias vectors (``b_ih``, ``b_hh``).
    ``extra_inputs``: layer 0 reads that many more features (``keras_params``').
    """
    rng = np.random.default_rng(seed)
    gates, dirs = get_spec(cell).num_gates, 2 if bidirectional else 1
    layers = []
    d_in = (vocab_size if embed_dim is None else embed_dim) + extra_inputs
    for i in range(num_layers):
        cells = []
        for _ in range(dirs):
            w_ih = rng.standard_normal((gates * hidden, d_in if i == 0 else dirs * hidden)) / 1000
            if i == 0 and embed_dim is None:
                w_ih[:, 0] = 0.0  # the padding id
            w_hh = rng.standard_normal((gates * hidden, hidden)) / 1000
            zeros = np.zeros(gates * hidden)
            cells.append(CellParams(w_ih, w_hh, zeros, zeros.copy()))
        layers.append(tuple(cells))
    params = {
        "rnn": tuple(layers),
        "w_out": rng.standard_normal((num_outputs, dirs * hidden)) / 1000,
        "b_out": np.zeros(num_outputs),
    }
    if embed_dim is not None:
        embed = rng.standard_normal((vocab_size, embed_dim)) / 1000
        embed[0] = 0.0
        params = {"embed": embed, **params}
    return cast(params, dtype)


def torch_params(
    *,
    cell: str,
    hidden: int,
    num_layers: int,
    bidirectional: bool,
    vocab_size: int,
    embed_dim: int | None,
    num_outputs: int,
    seed: int,
    bias: bool = True,
    dtype=np.float64,
    extra_inputs: int = 0,
) -> dict:
    """PyTorch's default initialisation in ``keras_params``' structure, drawn with NumPy.

    ``nn.Embedding``: ``embed [V, E]`` ~ N(0, 1); ``nn.RNN``/``nn.LSTM``/``nn.GRU``: every
    ``w_ih``, ``w_hh``, ``b_ih``, ``b_hh`` ~ uniform(-k, k), ``k = 1/sqrt(H)`` (no forget-gate
    bias: the LSTM's forget gate starts near 0.5); ``nn.Linear(F, K)``: ``w_out [K, F]`` and
    ``b_out [K]`` ~ uniform(-1/sqrt(F), 1/sqrt(F)) (its ``kaiming_uniform_(a=sqrt(5))``).
    A parallel cell (minGRU, minLSTM, LRU), which PyTorch does not have, draws its own
    (``jaxrnn.weights.parallel_init.layer_params``). Draws in the order embedding, layers
    (direction by direction: ``w_ih``, ``w_hh``, ``b_ih``, ``b_hh``), ``w_out``, ``b_out``.
    ``extra_inputs``: layer 0 reads that many more features (``keras_params``').
    """
    rng = np.random.default_rng(seed)
    spec = get_spec(cell)
    gates, h = spec.num_gates, hidden
    dirs = 2 if bidirectional else 1
    params: dict = {}
    if embed_dim is not None:
        params["embed"] = rng.standard_normal((vocab_size, embed_dim))
    # extra_inputs: layer 0 reads that many more features (a tagger's character encoding)
    d_in = (vocab_size if embed_dim is None else embed_dim) + extra_inputs
    k = 1.0 / h**0.5
    layers = []
    for i in range(num_layers):
        cells = []
        for _ in range(dirs):
            d = d_in if i == 0 else dirs * h
            if spec.parallel:
                cells.append(layer_params(rng, cell, d, h))
                continue
            w_ih = rng.uniform(-k, k, (gates * h, d))
            w_hh = rng.uniform(-k, k, (gates * h, h))
            if not bias:
                cells.append(CellParams(w_ih, w_hh, None, None))
                continue
            b_ih = rng.uniform(-k, k, gates * h)
            cells.append(CellParams(w_ih, w_hh, b_ih, rng.uniform(-k, k, gates * h)))
        layers.append(tuple(cells))
    params["rnn"] = tuple(layers)
    f = dirs * h
    bound = 1.0 / f**0.5
    params["w_out"] = rng.uniform(-bound, bound, (num_outputs, f))
    params["b_out"] = rng.uniform(-bound, bound, num_outputs)
    return cast(params, dtype)


# ``--init``: how a recurrent stack's weights start (``TrainConfig.init``; "auto" is each
# model's own: the study's for ``rnn`` and ``rnn2``, "torch" for the language models,
# "orthogonal" for the others).
INIT_SCHEMES = ("study", "glorot", "orthogonal", "torch")


def scheme_params(scheme: str, *, cell: str, hidden: int, num_layers: int,
                  bidirectional: bool, vocab_size: int, embed_dim: int | None,
                  num_outputs: int, seed: int, bias: bool = True, dtype=np.float64,
                  extra_inputs: int = 0) -> dict:
    """A ``Classifier``-layout params dict drawn by ``scheme`` (one of ``INIT_SCHEMES``):

    * ``study``: ``N(0, 1) / 1000`` everywhere, zero biases (``study_params``);
    * ``glorot``: Glorot-uniform input *and* recurrent weights (``keras_params(recurrent=
      "glorot")``);
    * ``orthogonal``: Glorot-uniform inputs, an orthogonal block per gate of ``w_hh``,
      Keras' default (``keras_params``, what the classifiers, taggers and forecasters start
      from);
    * ``torch``: PyTorch's defaults (``torch_params``, what the language models start from).

    ``extra_inputs``: layer 0 reads that many more features (``keras_params``').
    """
    if scheme == "study":
        if not bias:
            raise ValueError("the study's init keeps both bias vectors (bias=True)")
        return study_params(hidden=hidden, num_layers=num_layers, vocab_size=vocab_size,
                            num_outputs=num_outputs, seed=seed, dtype=dtype, cell=cell,
                            bidirectional=bidirectional, embed_dim=embed_dim,
                            extra_inputs=extra_inputs)  # fmt: skip
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown init {scheme!r}; choose from {', '.join(INIT_SCHEMES)}")
    if scheme == "torch":
        return torch_params(cell=cell, hidden=hidden, num_layers=num_layers,
                            bidirectional=bidirectional, vocab_size=vocab_size,
                            embed_dim=embed_dim, num_outputs=num_outputs, seed=seed, bias=bias,
                            dtype=dtype, extra_inputs=extra_inputs)  # fmt: skip
    return keras_params(cell=cell, hidden=hidden, num_layers=num_layers,
                        bidirectional=bidirectional, vocab_size=vocab_size, embed_dim=embed_dim,
                        num_outputs=num_outputs, seed=seed, bias=bias, dtype=dtype,
                        recurrent=scheme, extra_inputs=extra_inputs)  # fmt: skip


def cast(params: dict, dtype) -> dict:
    """Every array of a Classifier params dict as ``dtype`` (None biases stay None)."""

    def c(a):
        return None if a is None else np.asarray(a, dtype)

    out = {k: c(v) for k, v in params.items() if k != "rnn"}
    # type(p): CellParams, or a parallel cell's own NamedTuple (jaxrnn.weights.parallel_init)
    out["rnn"] = tuple(tuple(type(p)(*(c(a) for a in p)) for p in layer)
                       for layer in params["rnn"])  # fmt: skip
    return {k: out[k] for k in params}


def study_rnn_to_classifier(p: dict) -> dict:
    """The study RNN's params (``w_xh [H, V]``, ``w_hh``, ``b_h``, ``w_hy``, ``b_y``) as the
    Classifier twin's (one-hot over ids ``0..V``, one tanh layer, one bias, softmax readout):
    the same function of the ids, so any optimizer or batch size can train it."""
    w_xh = p["w_xh"]
    w_ih = np.concatenate([np.zeros((w_xh.shape[0], 1), w_xh.dtype), w_xh], axis=1)
    return {"rnn": ((CellParams(w_ih, p["w_hh"], p["b_h"], None),),),
            "w_out": p["w_hy"], "b_out": p["b_y"]}  # fmt: skip


def classifier_to_study_rnn(q: dict) -> dict:
    """Inverse of ``study_rnn_to_classifier``."""
    c = q["rnn"][0][0]
    return {"w_xh": c.w_ih[:, 1:], "w_hh": c.w_hh, "b_h": c.b_ih, "w_hy": q["w_out"],
            "b_y": q["b_out"]}  # fmt: skip


__all__ = [
    "cast",
    "classifier_to_study_rnn",
    "keras_params",
    "orthogonal",
    "study_params",
    "study_rnn_to_classifier",
]

def study_rnn_params(
    vocab_size: int, hidden_size: int, num_classes: int = 2, seed: int = 0, dtype=np.float64
) -> dict[str, np.ndarray]:
    """The study's initialisation: weights ~ N(0, 1) / 1000, biases zero.

    Returns ``{"w_xh": [H, V], "w_hh": [H, H], "b_h": [H], "w_hy": [C, H], "b_y": [C]}``.
    """
    rng = np.random.default_rng(seed)
    h, v, c = hidden_size, vocab_size, num_classes
    return {
        "w_xh": (rng.standard_normal((h, v)) / 1000).astype(dtype),
        "w_hh": (rng.standard_normal((h, h)) / 1000).astype(dtype),
        "b_h": np.zeros(h, dtype),
        "w_hy": (rng.standard_normal((c, h)) / 1000).astype(dtype),
        "b_y": np.zeros(c, dtype),
    }


def min_char_init(vocab_size: int, hidden: int = 100, seed: int = 0) -> dict:
    """min-char-rnn's initial weights, as an LM params dict (one-hot inputs, one tanh layer).

    ``rng = np.random.default_rng(seed)``; drawn in this order::

        w_ih  = Wxh = rng.standard_normal((H, V)) * 0.01
        w_hh  = Whh = rng.standard_normal((H, H)) * 0.01
        w_out = Why = rng.standard_normal((V, H)) * 0.01
        b_ih  = bh  = zeros(H),  b_hh = None (min-char-rnn has one hidden bias),
        b_out = by  = zeros(V)

    Returns ``{"rnn": ((CellParams(w_ih, w_hh, b_ih, None),),), "w_out", "b_out"}``
    (float64), the layout of ``lm_loss_and_grads`` with ``cell="rnn"`` and no embed.
    """
    rng = np.random.default_rng(seed)
    w_ih = rng.standard_normal((hidden, vocab_size)) * 0.01
    w_hh = rng.standard_normal((hidden, hidden)) * 0.01
    w_out = rng.standard_normal((vocab_size, hidden)) * 0.01
    cell = CellParams(w_ih=w_ih, w_hh=w_hh, b_ih=np.zeros(hidden), b_hh=None)
    return {"rnn": ((cell,),), "w_out": w_out, "b_out": np.zeros(vocab_size)}
