"""jaxrnn.nn.interop against real PyTorch and Keras 3 layers, on padded batches, float32.

Every conversion is checked by running both sides on the same random padded batch:
torch through ``pack_padded_sequence(enforce_sorted=False)`` / ``pad_packed_sequence``,
Keras with a boolean ``mask`` and ``return_sequences=True, return_state=True``.
Tolerance 1e-5 (float32 throughout; conftest enables x64, so arrays are explicit).
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

os.environ["KERAS_BACKEND"] = "jax"  # before keras is imported anywhere in this process

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from jaxrnn.nn import interop  # noqa: E402
from jaxrnn.nn.cells import CellParams, LSTMState  # noqa: E402
from jaxrnn.nn.interop import from_keras, from_torch, to_keras, to_torch  # noqa: E402
from jaxrnn.nn.sequence import RecurrentLayer  # noqa: E402
from jaxrnn.weights.cellspec import cell_names  # noqa: E402
from jaxrnn.weights.layout import num_gates  # noqa: E402

try:
    import torch
except ImportError:  # CI installs both; locally, each half runs when its library is there
    torch = None
try:
    import keras
except ImportError:
    keras = None
needs_torch = pytest.mark.skipif(torch is None, reason="needs torch: pip install torch")
needs_keras = pytest.mark.skipif(keras is None, reason="needs keras: pip install keras")

B, T, D, H = 4, 5, 3, 4
# Interop covers only the registered cells PyTorch and Keras have, not every registered cell
# (another one is refused: tests/test_cell_registry.py); the cases below cover each of these.
INTEROP_CELLS = ("rnn", "rnn_relu", "lstm", "gru")
LENGTHS = np.array([5, 2, 3, 1], dtype=np.int64)  # unsorted, one full, one of length 1
TOL = dict(rtol=1e-5, atol=1e-5)


def _batch(seed: int = 0) -> np.ndarray:
    """Random ``[B, T, D]`` float32 batch with garbage (not zeros) in the padding."""
    return np.random.default_rng(seed).normal(size=(B, T, D)).astype(np.float32)


def _valid() -> np.ndarray:
    return np.arange(T)[None, :] < LENGTHS[:, None]  # [B, T]


def _ours(layer: RecurrentLayer, params, x: np.ndarray):
    out, final = jax.jit(layer.apply)(params, jnp.asarray(x), jnp.asarray(LENGTHS))
    assert out.dtype == jnp.float32
    return np.asarray(out), jax.tree.map(np.asarray, final)


def _random_params(layer: RecurrentLayer, seed: int):
    """Seeded float32 noise in our layout, biases included (NumPy: no JAX compiles)."""
    rng = np.random.default_rng(seed)
    gh = num_gates(layer.cell) * layer.hidden_size

    def arr(*shape):
        return jnp.asarray(rng.normal(scale=0.4, size=shape).astype(np.float32))

    return tuple(
        tuple(
            CellParams(
                arr(gh, D if k == 0 else layer.output_size),
                arr(gh, layer.hidden_size),
                arr(gh) if layer.bias else None,
                arr(gh) if layer.bias else None,
            )
            for _ in range(layer.num_directions)
        )
        for k in range(layer.num_layers)
    )


def _assert_params_equal(a, b) -> None:
    la, ta = jax.tree.flatten(a, is_leaf=lambda v: v is None)
    lb, tb = jax.tree.flatten(b, is_leaf=lambda v: v is None)
    assert ta == tb
    for x, y in zip(la, lb, strict=True):
        if x is None or y is None:
            assert x is None and y is None
        else:
            assert x.dtype == y.dtype == jnp.float32
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


# ------------------------------------------------------------------------------ PyTorch

TORCH_CASES = [
    # (kind, num_layers, bidirectional, batch_first, bias)
    ("rnn", 1, False, True, True),
    ("rnn_relu", 2, True, False, True),
    ("rnn", 2, False, True, False),
    ("lstm", 1, True, True, True),
    ("lstm", 2, True, False, False),
    ("lstm", 2, False, True, True),
    ("gru", 1, False, False, False),
    ("gru", 2, True, True, True),
]
TORCH_IDS = [
    f"{k}-L{n}-{'bi' if b else 'uni'}-{'bf' if f else 'tf'}-{'b' if s else 'nob'}"
    for k, n, b, f, s in TORCH_CASES
]


def _torch_module(kind, num_layers, bidirectional, batch_first, bias, seed=0):
    torch.manual_seed(seed)
    kw = dict(
        num_layers=num_layers,
        bidirectional=bidirectional,
        batch_first=batch_first,
        bias=bias,
        dropout=0.25 if num_layers > 1 else 0.0,
    )
    if kind.startswith("rnn"):
        kw["nonlinearity"] = "relu" if kind == "rnn_relu" else "tanh"
    cls = {
        "rnn": torch.nn.RNN,
        "rnn_relu": torch.nn.RNN,
        "lstm": torch.nn.LSTM,
        "gru": torch.nn.GRU,
    }[kind]
    return cls(D, H, **kw).eval()


def _run_torch(module, x: np.ndarray):
    """Packed run of ``x [B, T, D]``; returns ``(outputs [B, T, dirs*H], h_n[, c_n])``."""
    pack = torch.nn.utils.rnn
    xt = torch.from_numpy(x)
    if not module.batch_first:
        xt = xt.transpose(0, 1)
    packed = pack.pack_padded_sequence(
        xt, torch.from_numpy(LENGTHS), batch_first=module.batch_first, enforce_sorted=False
    )
    with torch.no_grad():
        out, state = module(packed)
    out, _ = pack.pad_packed_sequence(out, batch_first=module.batch_first, total_length=T)
    if not module.batch_first:
        out = out.transpose(0, 1)
    state = tuple(s.numpy() for s in state) if isinstance(state, tuple) else (state.numpy(),)
    return out.numpy(), state


def _compare_torch(layer, params, module, x):
    t_out, t_state = _run_torch(module, x)
    out, final = _ours(layer, params, x)
    assert out.shape == t_out.shape == (B, T, layer.output_size)
    np.testing.assert_allclose(out, t_out, **TOL)
    assert not out[~_valid()].any()  # both sides: zeros past each length
    ours = (final.h, final.c) if isinstance(final, LSTMState) else (final,)
    assert len(ours) == len(t_state)
    for a, b in zip(ours, t_state, strict=True):
        assert a.shape == b.shape == (layer.num_layers * layer.num_directions, B, H)
        np.testing.assert_allclose(a, b, **TOL)


@needs_torch
@pytest.mark.parametrize("case", TORCH_CASES, ids=TORCH_IDS)
def test_from_torch_matches_packed_torch(case):
    module = _torch_module(*case)
    layer, params = from_torch(module)
    kind, num_layers, bidirectional, _, bias = case
    assert layer == RecurrentLayer(kind, H, num_layers, bidirectional, module.dropout, bias)
    _compare_torch(layer, params, module, _batch(1))


@needs_torch
@pytest.mark.parametrize("case", TORCH_CASES, ids=TORCH_IDS)
def test_to_torch_matches_and_round_trips(case):
    kind, num_layers, bidirectional, batch_first, bias = case
    layer = RecurrentLayer(kind, H, num_layers, bidirectional, 0.0, bias)
    params = _random_params(layer, seed=2)
    module = to_torch(layer, params, batch_first=batch_first).eval()
    assert module.batch_first == batch_first and module.bias == bias
    assert all(p.dtype == torch.float32 for p in module.parameters())
    _compare_torch(layer, params, module, _batch(3))
    # ours -> torch -> ours is exact, and torch -> ours -> torch too.
    layer2, params2 = from_torch(module)
    assert layer2 == layer
    _assert_params_equal(params2, params)
    src = _torch_module(*case, seed=4)
    back = to_torch(*from_torch(src), batch_first=batch_first)
    assert back.state_dict().keys() == src.state_dict().keys()
    for name, w in src.state_dict().items():
        assert torch.equal(back.state_dict()[name], w), name
    assert (back.dropout, back.batch_first) == (src.dropout, src.batch_first)


@needs_torch
def test_from_torch_copies_dropout_and_refuses_what_we_cannot_represent():
    layer, _ = from_torch(torch.nn.GRU(D, H, num_layers=3, dropout=0.3))
    assert (layer.dropout, layer.num_layers) == (0.3, 3)
    one = RecurrentLayer("gru", H, dropout=0.5)  # torch would warn "dropout ... num_layers"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert to_torch(one, _random_params(one, 0)).dropout == 0.5
    with pytest.raises(ValueError, match="proj_size=2"):
        from_torch(torch.nn.LSTM(D, H, proj_size=2))
    with pytest.raises(ValueError, match="not the cell LSTMCell"):
        from_torch(torch.nn.LSTMCell(D, H))
    with pytest.raises(ValueError, match="got Linear"):
        from_torch(torch.nn.Linear(D, H))


@needs_torch
def test_to_torch_checks_params():
    layer = RecurrentLayer("lstm", H, 2, True)
    params = _random_params(layer, seed=0)
    with pytest.raises(ValueError, match="params has 1 layers"):
        to_torch(layer, params[:1])
    with pytest.raises(ValueError, match="bias=False"):
        to_torch(RecurrentLayer("lstm", H, 2, True, bias=False), params)
    with pytest.raises(ValueError, match=r"expected \(12, 3\)"):
        to_torch(RecurrentLayer("gru", H, 2, True), params)


# ------------------------------------------------------------------------------ Keras

KERAS_CASES = [
    # (layer class name, kwargs, bidirectional, our cell)
    ("SimpleRNN", {}, False, "rnn"),
    ("SimpleRNN", {"activation": "relu", "use_bias": False}, True, "rnn_relu"),
    ("LSTM", {}, False, "lstm"),
    ("LSTM", {"use_bias": False}, True, "lstm"),
    ("LSTM", {}, True, "lstm"),
    ("GRU", {}, False, "gru"),
    ("GRU", {}, True, "gru"),
    ("GRU", {"use_bias": False}, False, "gru"),
]
KERAS_IDS = [
    f"{c}-{'bi' if b else 'uni'}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'default'}"
    for c, kw, b, _ in KERAS_CASES
]


def _keras_layer(cls_name, kwargs, bidirectional, seed=0):
    init = dict.fromkeys(
        ["kernel_initializer", "recurrent_initializer", "bias_initializer"], "zeros"
    )
    base = getattr(keras.layers, cls_name)(
        H, return_sequences=True, return_state=True, **init, **kwargs
    )  # zeros: fast to build; every weight is overwritten with seeded noise below
    layer = keras.layers.Bidirectional(base) if bidirectional else base
    layer.build((None, None, D))
    rng = np.random.default_rng(seed)
    for w in layer.weights:
        w.assign(rng.normal(scale=0.5, size=w.shape).astype(np.float32))
    return layer


def _run_keras(klayer, x: np.ndarray):
    """``klayer(x, mask)`` -> ``(outputs [B, T, dirs*H], [h_fw, (c_fw), (h_bw, (c_bw))])``."""
    res = klayer(x, mask=_valid())
    res = [np.asarray(keras.ops.convert_to_numpy(r)) for r in res]
    return res[0], res[1:]


def _compare_keras(layer, params, klayer, x):
    k_out, k_states = _run_keras(klayer, x)
    out, final = _ours(layer, params, x)
    assert out.shape == k_out.shape == (B, T, layer.output_size)
    valid = _valid()
    np.testing.assert_allclose(out[valid], k_out[valid], **TOL)  # padding: see below
    # Keras states: per direction h (and c for LSTM); ours: [dirs, B, H] stacked.
    per_dir = 2 if layer.cell == "lstm" else 1
    assert len(k_states) == per_dir * layer.num_directions
    for d in range(layer.num_directions):
        ks = k_states[d * per_dir : (d + 1) * per_dir]
        ours = (final.h[d], final.c[d]) if layer.cell == "lstm" else (final[d],)
        for a, b in zip(ours, ks, strict=True):
            np.testing.assert_allclose(a, b, **TOL)
    return k_out, k_states


@needs_keras
@pytest.mark.parametrize("case", KERAS_CASES, ids=KERAS_IDS)
def test_from_keras_matches_masked_keras(case):
    cls_name, kwargs, bidirectional, cell = case
    klayer = _keras_layer(cls_name, kwargs, bidirectional)
    layer, params = from_keras(klayer)
    bias = kwargs.get("use_bias", True)
    assert layer == RecurrentLayer(cell, H, 1, bidirectional, 0.0, bias)
    _compare_keras(layer, params, klayer, _batch(5))


@needs_keras
@pytest.mark.parametrize("case", KERAS_CASES, ids=KERAS_IDS)
def test_to_keras_matches_and_round_trips(case):
    cls_name, kwargs, bidirectional, cell = case
    layer = RecurrentLayer(cell, H, 1, bidirectional, 0.0, kwargs.get("use_bias", True))
    params = _random_params(layer, seed=6)  # b_hh nonzero: folded into Keras' single bias
    klayer = to_keras(layer, params)
    assert klayer.built
    inner = klayer.forward_layer if bidirectional else klayer
    assert type(inner).__name__ == cls_name
    cfg = inner.get_config()  # Keras' default initializers, as if built by hand
    assert cfg["kernel_initializer"]["class_name"] == "GlorotUniform"
    assert cfg["recurrent_initializer"]["class_name"] == "Orthogonal"
    _compare_keras(layer, params, klayer, _batch(7))
    # ours -> keras -> ours: exact for GRU; SimpleRNN/LSTM come back with b_ih + b_hh, b_hh = 0.
    layer2, params2 = from_keras(klayer)
    assert layer2 == layer
    if layer.bias and cell != "gru":
        params = jax.tree.map(
            lambda p: CellParams(p.w_ih, p.w_hh, p.b_ih + p.b_hh, jnp.zeros_like(p.b_hh)),
            params,
            is_leaf=lambda v: isinstance(v, CellParams),
        )
    _assert_params_equal(params2, params)
    # keras -> ours -> keras: exact.
    src = _keras_layer(cls_name, kwargs, bidirectional, seed=8)
    back = to_keras(*from_keras(src))
    assert [w.shape for w in back.weights] == [w.shape for w in src.weights]
    for a, b in zip(back.weights, src.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a.value), np.asarray(b.value))


@needs_keras
def test_keras_padding_outputs_differ_from_ours():
    """Masked Keras outputs at padded steps: a single layer repeats the last valid output,
    Bidirectional (which forces ``zero_output_for_mask``) gives zeros, like ours."""
    x = _batch(9)
    pad = ~_valid()
    klayer = _keras_layer("GRU", {}, False)
    k_out, (k_h,) = _run_keras(klayer, x)
    np.testing.assert_allclose(k_out[pad], np.broadcast_to(k_h[:, None], k_out.shape)[pad], **TOL)
    out, _ = _ours(*from_keras(klayer), x)
    assert not out[pad].any()
    k_out, _ = _run_keras(_keras_layer("GRU", {}, True), x)
    assert not k_out[pad].any()


@needs_keras
def test_from_keras_refuses_what_we_cannot_represent():
    L = keras.layers
    # Refusals come before the built check, so these layers need no (slow) build.
    with pytest.raises(ValueError, match="reset_after=False"):
        from_keras(L.GRU(H, reset_after=False))
    with pytest.raises(ValueError, match="activations \\('relu', 'sigmoid'\\)"):
        from_keras(L.LSTM(H, activation="relu"))
    with pytest.raises(ValueError, match="'tanh', 'hard_sigmoid'"):
        from_keras(L.GRU(H, recurrent_activation="hard_sigmoid"))
    with pytest.raises(ValueError, match="activation 'linear'"):
        from_keras(L.SimpleRNN(H, activation=None))
    with pytest.raises(ValueError, match="merge_mode='sum'"):
        from_keras(L.Bidirectional(L.LSTM(H), merge_mode="sum"))
    with pytest.raises(ValueError, match="go_backwards=True"):
        from_keras(L.LSTM(H, go_backwards=True))
    with pytest.raises(ValueError, match="got Dense"):
        from_keras(L.Dense(H))
    with pytest.raises(ValueError, match="stacked cells"):
        from_keras(L.RNN([L.LSTMCell(H), L.LSTMCell(H)]))
    with pytest.raises(ValueError, match="not built"):
        from_keras(L.LSTM(H))

    zeros = dict.fromkeys(["kernel_initializer", "recurrent_initializer"], "zeros")
    lstm = L.LSTM(H, dropout=0.2, **zeros)
    lstm.build((None, None, D))
    with pytest.warns(UserWarning, match="dropout=0.2"):
        layer, _ = from_keras(lstm)
    assert layer == RecurrentLayer("lstm", H)  # dropout=0.0: Keras' per-step dropout is dropped
    # keras.layers.RNN around a supported cell is the same as the layer class.
    rnn = L.RNN(L.GRUCell(H, **zeros))
    rnn.build((None, None, D))
    assert from_keras(rnn)[0] == RecurrentLayer("gru", H)


@needs_keras
def test_to_keras_refuses_stacks():
    layer = RecurrentLayer("lstm", H, 2)
    with pytest.raises(ValueError, match="num_layers=2"):
        to_keras(layer, _random_params(layer, 0))


# ------------------------------------------------------------------------------ imports


def test_import_needs_neither_torch_nor_keras():
    code = (
        "import sys, jaxrnn.nn.interop; "
        "assert 'torch' not in sys.modules and 'keras' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    ("fn", "missing", "pip"),
    [
        (from_torch, "torch", "pip install torch"),
        (to_keras, "keras", "pip install keras"),
    ],
)
def test_missing_library_is_one_clear_import_error(monkeypatch, fn, missing, pip):
    monkeypatch.setitem(sys.modules, missing, None)  # makes `import <missing>` fail
    with pytest.raises(ImportError, match=pip) as info:
        fn(None, None) if fn is to_keras else fn(None)
    assert "\n" not in str(info.value)


def test_interop_covers_the_cells_torch_and_keras_have():
    assert interop.INTEROP_CELLS == INTEROP_CELLS
    assert set(INTEROP_CELLS) <= set(cell_names())
    assert {case[0] for case in TORCH_CASES} == set(INTEROP_CELLS)
    assert {case[3] for case in KERAS_CASES} == set(INTEROP_CELLS)


@pytest.mark.parametrize("cell", ["mingru", "minlstm", "lru"])
def test_parallel_cells_have_no_counterpart_one_line_error(cell):
    """PyTorch and Keras have no minGRU, minLSTM or LRU: refused before any library loads."""
    from jaxrnn.nn.sequence import RecurrentLayer

    layer = RecurrentLayer(cell, 3)
    params = layer.init(jax.random.key(0), 2)
    with pytest.raises(ValueError, match="has no PyTorch or Keras counterpart") as info:
        interop._check_params(layer, params)
    assert "\n" not in str(info.value)
