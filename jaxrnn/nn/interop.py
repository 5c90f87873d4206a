"""Convert recurrent layers to and from PyTorch and Keras 3, weights included.

::

    layer, params = from_torch(torch.nn.LSTM(16, 32, num_layers=2, bidirectional=True))
    outputs, (h, c) = layer.apply(params, x, lengths)       # x [B, T, 16], batch-major always
    module = to_torch(layer, params, batch_first=True)       # and back

    layer, params = from_keras(keras.layers.Bidirectional(keras.layers.GRU(32)))
    klayer = to_keras(layer, params)                          # built, weights set

``torch`` and ``keras`` are imported only inside the functions that need them, so
``import jaxrnn.nn.interop`` works without either. Converted layers compute the same
numbers as the originals on padded batches: our ``lengths`` semantics (carry frozen
past each end, backward direction over the valid part only) are exactly PyTorch's
``pack_padded_sequence`` and Keras' boolean ``mask`` for right-padded batches.
Both sides are float32 in practice; ``from_*`` keeps the source dtype. Only the cells
PyTorch and Keras have convert (``INTEROP_CELLS``: rnn, rnn_relu, lstm, gru); another
registered cell (``jaxrnn.nn.cells``) is refused with a ValueError.

Our layout (``jaxrnn.weights.layout``) is PyTorch's, per layer ``k`` and direction ``d``
(``params[k][d]``, ``d = 0`` forward, ``1`` backward), gate rows in blocks of ``H``:

PyTorch (``nn.RNN`` tanh -> ``rnn``, relu -> ``rnn_relu``; ``nn.LSTM`` -> ``lstm``;
``nn.GRU`` -> ``gru``), ``sfx = "_reverse"`` for ``d = 1`` else ``""``::

    torch name            shape       ours                      transform
    weight_ih_l{k}{sfx}   [G*H, D_k]  params[k][d].w_ih         none
    weight_hh_l{k}{sfx}   [G*H, H]    params[k][d].w_hh         none
    bias_ih_l{k}{sfx}     [G*H]       params[k][d].b_ih         none (None if bias=False)
    bias_hh_l{k}{sfx}     [G*H]       params[k][d].b_hh         none (None if bias=False)
    gate order            lstm i,f,g,o; gru r,z,n                identical
    dropout, num_layers, bidirectional, bias                     copied
    batch_first           -- ours is always [B, T, D]; to_torch takes it as an argument
    proj_size > 0         refused (no projection in our LSTM)

Keras 3 (``SimpleRNN`` tanh -> ``rnn``, relu -> ``rnn_relu``; ``LSTM`` -> ``lstm``;
``GRU(reset_after=True)`` -> ``gru``; also ``keras.layers.RNN`` around one of their
cells), one layer only (``num_layers = 1``); ``Bidirectional(merge_mode="concat")``
gives ``d = 0`` from ``forward_layer`` and ``d = 1`` from ``backward_layer``::

    keras weight          shape       ours
    kernel                [D, G*H]    w_ih = kernel.T                 (column blocks -> row blocks)
    recurrent_kernel      [H, G*H]    w_hh = recurrent_kernel.T
    bias (SimpleRNN/LSTM) [G*H]       b_ih = bias, b_hh = 0;  back: bias = b_ih + b_hh
    bias (GRU)            [2, 3H]     b_ih = bias[0], b_hh = bias[1]
    gate order            lstm i,f,c,o = i,f,g,o (identical);
                          gru z,r,h -> r,z,n (swap the first two blocks, everywhere)
    use_bias=False        bias=False (b_ih = b_hh = None)

Refused (``ValueError``, one line): non-default activations (LSTM/GRU: tanh and
sigmoid; SimpleRNN: tanh or relu), ``GRU(reset_after=False)``, ``go_backwards=True``
outside ``Bidirectional``, merge modes other than ``"concat"``, stacked cells,
unbuilt layers, ``to_keras`` of ``num_layers > 1``. Keras' per-step ``dropout`` and
``recurrent_dropout`` have no counterpart here (our dropout sits between stacked
layers); they are dropped with a ``UserWarning`` (inference numbers are unaffected).
"""

from __future__ import annotations

import warnings
from typing import Any

import jax.numpy as jnp
import numpy as np

from jaxrnn.nn.cells import CellParams
from jaxrnn.nn.sequence import LayerParams, RecurrentLayer
from jaxrnn.weights.layout import num_gates

__all__ = ["INTEROP_CELLS", "from_keras", "from_torch", "to_keras", "to_torch"]

# The registered cells that PyTorch and Keras have: interop covers these only (any other
# cell of jaxrnn.nn.cells gets a one-line ValueError). Ours -> (class name, its arguments).
INTEROP_CELLS = ("rnn", "rnn_relu", "lstm", "gru")
_TORCH_MODULES: dict[str, tuple[str, dict[str, Any]]] = {
    "rnn": ("RNN", {"nonlinearity": "tanh"}),
    "rnn_relu": ("RNN", {"nonlinearity": "relu"}),
    "lstm": ("LSTM", {}),
    "gru": ("GRU", {}),
}
_KERAS_LAYERS: dict[str, tuple[str, dict[str, Any]]] = {
    "rnn": ("SimpleRNN", {"activation": "tanh"}),
    "rnn_relu": ("SimpleRNN", {"activation": "relu"}),
    "lstm": ("LSTM", {}),
    "gru": ("GRU", {"reset_after": True}),
}
_TORCH_MODES = {"RNN_TANH": "rnn", "RNN_RELU": "rnn_relu", "LSTM": "lstm", "GRU": "gru"}
_KERAS_GRU_PERM = (1, 0, 2)  # keras z, r, h <-> ours r, z, n (a swap: its own inverse)
# Keras' gate order where it differs from ours, and the cells whose Keras bias is
# [2, G*H] (b_ih, b_hh) instead of one summed vector.
_KERAS_PERMS = {"gru": _KERAS_GRU_PERM}
_KERAS_TWO_BIASES = ("gru",)


def _keras_perm(cell: str) -> tuple[int, ...]:
    return _KERAS_PERMS.get(cell, tuple(range(num_gates(cell))))


# --------------------------------------------------------------------------- helpers


def _require_torch(fn: str) -> Any:
    try:
        import torch
    except ImportError as e:
        if e.name not in (None, "torch"):  # torch is there but one of its own imports failed
            raise
        raise ImportError(
            f"jaxrnn.nn.interop.{fn} needs PyTorch: pip install 'jaxrnn[torch]'"
            " (or pip install torch)"
        ) from None
    return torch


def _require_keras(fn: str) -> Any:
    try:
        import keras
    except ImportError as e:
        if e.name not in (None, "keras"):  # keras is there but one of its own imports failed
            raise
        raise ImportError(
            f"jaxrnn.nn.interop.{fn} needs Keras 3: pip install 'jaxrnn[keras]'"
            " (or pip install keras)"
        ) from None
    return keras


def _check_params(layer: RecurrentLayer, params: LayerParams) -> int:
    """Check ``params`` fits ``layer`` (structure, biases, shapes); return the input size D."""
    if not isinstance(layer, RecurrentLayer):
        raise ValueError(f"expected a jaxrnn RecurrentLayer, got {type(layer).__name__}")
    if layer.parallel is not None:  # minGRU, minLSTM, LRU: neither library has them
        raise ValueError(f"cell {layer.cell!r} has no PyTorch or Keras counterpart; interop "
                         f"covers {', '.join(INTEROP_CELLS)}")  # fmt: skip
    g, h, dirs = num_gates(layer.cell), layer.hidden_size, layer.num_directions
    if len(params) != layer.num_layers:
        raise ValueError(f"params has {len(params)} layers, the layer has {layer.num_layers}")
    d_in = None
    for k, layer_params in enumerate(params):
        if len(layer_params) != dirs:
            raise ValueError(f"params[{k}] has {len(layer_params)} directions, expected {dirs}")
        for d, p in enumerate(layer_params):
            where = f"params[{k}][{d}]"
            if k == 0 and d == 0:
                d_in = int(p.w_ih.shape[1])
            want_in = d_in if k == 0 else layer.output_size
            if tuple(p.w_ih.shape) != (g * h, want_in) or tuple(p.w_hh.shape) != (g * h, h):
                raise ValueError(
                    f"{where}: w_ih {tuple(p.w_ih.shape)} / w_hh {tuple(p.w_hh.shape)}, expected"
                    f" {(g * h, want_in)} / {(g * h, h)} for {layer.cell} with hidden_size {h}"
                )
            for name, b in (("b_ih", p.b_ih), ("b_hh", p.b_hh)):
                if (b is None) == layer.bias:
                    raise ValueError(
                        f"{where}.{name} is {'None' if b is None else 'set'}"
                        f" but the layer has bias={layer.bias}"
                    )
                if b is not None and tuple(b.shape) != (g * h,):
                    raise ValueError(
                        f"{where}.{name} has shape {tuple(b.shape)}, expected {(g * h,)}"
                    )
    if d_in is None:
        raise ValueError("params is empty: expected at least one layer")
    return d_in


def _blocks(a: np.ndarray, perm: tuple[int, ...], axis: int) -> np.ndarray:
    """Reorder the gate blocks of ``a`` along ``axis``."""
    parts = np.split(a, len(perm), axis=axis)
    return np.concatenate([parts[i] for i in perm], axis=axis)


# --------------------------------------------------------------------------- PyTorch


def _torch_numpy(t: Any) -> np.ndarray:
    t = t.detach().cpu()
    if str(t.dtype) not in ("torch.float32", "torch.float64"):
        t = t.float()
    return t.numpy()


def from_torch(module: Any) -> tuple[RecurrentLayer, LayerParams]:
    """Convert ``torch.nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` to ``(layer, params)``.

    Any ``num_layers``, ``bidirectional``, ``bias`` and ``dropout`` (copied);
    ``batch_first`` is dropped because ``layer.apply`` always takes batch-major
    ``x [B, T, D]`` and returns ``(outputs [B, T, dirs*H], final)`` with ``final``
    ``[num_layers*dirs, B, H]`` (``LSTMState(h, c)`` for LSTM) like torch's ``h_n``.
    Weights are copied (float32 stays float32). Raises ``ValueError`` for what we
    cannot represent (``proj_size > 0``, cells, other modules).
    """
    torch = _require_torch("from_torch")
    nn = torch.nn
    if isinstance(module, nn.RNNCellBase):
        raise ValueError(
            f"from_torch converts sequence modules (nn.RNN/LSTM/GRU), not the cell"
            f" {type(module).__name__}"
        )
    if not isinstance(module, nn.RNNBase):
        raise ValueError(
            f"from_torch expects nn.RNN, nn.LSTM or nn.GRU, got {type(module).__name__}"
        )
    cell = _TORCH_MODES.get(module.mode)
    if cell is None:
        raise ValueError(f"from_torch: unsupported torch RNN mode {module.mode!r}")
    if getattr(module, "proj_size", 0) > 0:
        raise ValueError(
            f"from_torch: LSTM with proj_size={module.proj_size} has no equivalent here"
            " (our LSTM has no output projection)"
        )
    layer = RecurrentLayer(
        cell,
        int(module.hidden_size),
        int(module.num_layers),
        bool(module.bidirectional),
        float(module.dropout),
        bool(module.bias),
    )
    params = []
    for k in range(layer.num_layers):
        dirs = []
        for sfx in ("", "_reverse")[: layer.num_directions]:

            def get(name: str, k: int = k, sfx: str = sfx) -> jnp.ndarray | None:
                if not layer.bias and name.startswith("bias"):
                    return None
                return jnp.asarray(_torch_numpy(getattr(module, f"{name}_l{k}{sfx}")))

            dirs.append(
                CellParams(get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh"))
            )
        params.append(tuple(dirs))
    return layer, tuple(params)


def to_torch(layer: RecurrentLayer, params: LayerParams, batch_first: bool = True) -> Any:
    """Build the ``torch.nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` equal to ``(layer, params)``.

    The inverse of ``from_torch``: same ``num_layers``, ``bidirectional``, ``bias``,
    ``dropout`` and nonlinearity, weights copied as float32. With ``batch_first``
    (default True) the module takes ``[B, T, D]`` like ``layer.apply``; with False,
    ``[T, B, D]``. The module is returned in torch's default (training) mode: call
    ``.eval()`` before comparing numbers if ``dropout > 0``.
    """
    torch = _require_torch("to_torch")
    d_in = _check_params(layer, params)
    kwargs: dict[str, Any] = dict(
        input_size=d_in,
        hidden_size=layer.hidden_size,
        num_layers=layer.num_layers,
        bias=layer.bias,
        batch_first=batch_first,
        dropout=layer.dropout,
        bidirectional=layer.bidirectional,
    )
    if layer.cell not in _TORCH_MODULES:
        raise ValueError(f"to_torch: no torch module for cell {layer.cell!r} "
                         f"(PyTorch has {list(_TORCH_MODULES)})")  # fmt: skip
    cls_name, extra = _TORCH_MODULES[layer.cell]
    cls = getattr(torch.nn, cls_name)
    kwargs.update(extra)
    with warnings.catch_warnings():
        # torch warns that dropout does nothing with num_layers=1; we keep the value anyway.
        warnings.filterwarnings("ignore", message=".*dropout option adds dropout")
        module = cls(**kwargs)
    with torch.no_grad():
        for k, layer_params in enumerate(params):
            for d, p in enumerate(layer_params):
                sfx = "_reverse" if d == 1 else ""
                for name, arr in (
                    ("weight_ih", p.w_ih),
                    ("weight_hh", p.w_hh),
                    ("bias_ih", p.b_ih),
                    ("bias_hh", p.b_hh),
                ):
                    if arr is not None:
                        src = torch.from_numpy(np.array(arr, dtype=np.float32))
                        getattr(module, f"{name}_l{k}{sfx}").copy_(src)
    return module


# --------------------------------------------------------------------------- Keras


def _keras_cell_kind(keras: Any, rnn: Any) -> str:
    """Our cell name for one Keras recurrent layer (refuse what we cannot represent)."""
    L = keras.layers
    name = type(rnn).__name__
    if not isinstance(rnn, L.RNN):
        raise ValueError(
            f"from_keras expects SimpleRNN, LSTM, GRU or Bidirectional around one, got {name}"
        )
    cell = rnn.cell
    if not isinstance(cell, (L.SimpleRNNCell, L.LSTMCell, L.GRUCell)):
        raise ValueError(
            f"from_keras: {name} with cell {type(cell).__name__} is unsupported"
            " (SimpleRNNCell, LSTMCell or GRUCell only; no stacked cells)"
        )
    act = keras.activations.serialize(cell.activation)
    if isinstance(cell, L.SimpleRNNCell):
        if act not in ("tanh", "relu"):
            raise ValueError(f"from_keras: {name} activation {act!r} unsupported (tanh or relu)")
        return "rnn" if act == "tanh" else "rnn_relu"
    rec = keras.activations.serialize(cell.recurrent_activation)
    if (act, rec) != ("tanh", "sigmoid"):
        raise ValueError(
            f"from_keras: {name} activations ({act!r}, {rec!r}) unsupported;"
            " only the defaults ('tanh', 'sigmoid') map to our cells"
        )
    if isinstance(cell, L.GRUCell):
        if not cell.reset_after:
            raise ValueError(
                f"from_keras: {name} with reset_after=False has no equivalent here"
                " (ours applies the reset gate after the matmul, reset_after=True)"
            )
        return "gru"
    return "lstm"


def _keras_np(keras: Any, v: Any) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(v.value))


def from_keras(layer: Any) -> tuple[RecurrentLayer, LayerParams]:
    """Convert a built Keras 3 ``SimpleRNN`` / ``LSTM`` / ``GRU`` (or ``Bidirectional``
    around one, ``merge_mode="concat"``) to ``(layer, params)``.

    ``kernel [D, G*H]`` and ``recurrent_kernel [H, G*H]`` are transposed to our
    ``w_ih [G*H, D]`` / ``w_hh [G*H, H]``; GRU gate blocks z, r, h become r, z, n and
    its ``bias [2, 3H]`` splits into ``b_ih``, ``b_hh``; the single SimpleRNN/LSTM bias
    becomes ``b_ih`` with ``b_hh`` zeros. ``layer.apply(params, x [B, T, D], lengths)``
    then returns Keras' ``return_sequences=True, return_state=True`` numbers at valid
    steps: ``(outputs [B, T, dirs*H], final [dirs, B, H])`` (``LSTMState`` for LSTM).
    Raises ``ValueError`` for what we cannot represent (see the module docstring).
    """
    keras = _require_keras("from_keras")
    L = keras.layers
    if isinstance(layer, L.Bidirectional):
        if layer.merge_mode != "concat":
            raise ValueError(
                f"from_keras: Bidirectional merge_mode={layer.merge_mode!r} unsupported"
                " (ours concatenates: use 'concat')"
            )
        parts = [layer.forward_layer, layer.backward_layer]
        if parts[0].go_backwards or not parts[1].go_backwards:
            raise ValueError("from_keras: Bidirectional needs a forward and a go_backwards layer")
    else:
        parts = [layer]
        if getattr(layer, "go_backwards", False):
            raise ValueError(
                "from_keras: go_backwards=True alone is unsupported"
                " (it returns reversed outputs); wrap the layer in Bidirectional instead"
            )
    kinds = [_keras_cell_kind(keras, p) for p in parts]
    units = [int(p.cell.units) for p in parts]
    biases = [bool(p.cell.use_bias) for p in parts]
    if len(set(kinds)) > 1 or len(set(units)) > 1 or len(set(biases)) > 1:
        raise ValueError(
            "from_keras: Bidirectional forward and backward layers differ"
            f" (cells {kinds}, units {units}, use_bias {biases}); ours must match"
        )
    if not all(p.built and p.cell.built for p in parts):
        raise ValueError(
            f"from_keras: {type(layer).__name__} is not built; call it on an input or"
            " layer.build((None, None, input_size)) first"
        )
    dropped = [
        f"{a}={getattr(p.cell, a)}"
        for p in parts[:1]
        for a in ("dropout", "recurrent_dropout")
        if getattr(p.cell, a, 0.0)
    ]
    if dropped:
        warnings.warn(
            f"from_keras: Keras {', '.join(dropped)} not carried over (no per-step dropout"
            " here); inference outputs are unaffected",
            UserWarning,
            stacklevel=2,
        )
    cell, bias = kinds[0], biases[0]
    perm = _keras_perm(cell)
    dirs = []
    for p in parts:
        c = p.cell
        w_ih = _blocks(_keras_np(keras, c.kernel), perm, axis=1).T
        w_hh = _blocks(_keras_np(keras, c.recurrent_kernel), perm, axis=1).T
        if not bias:
            b_ih = b_hh = None
        elif cell in _KERAS_TWO_BIASES:
            b = _blocks(_keras_np(keras, c.bias), perm, axis=1)
            b_ih, b_hh = jnp.asarray(b[0]), jnp.asarray(b[1])
        else:
            b = _keras_np(keras, c.bias)
            b_ih, b_hh = jnp.asarray(b), jnp.zeros_like(jnp.asarray(b))
        dirs.append(
            CellParams(
                jnp.asarray(np.ascontiguousarray(w_ih)),
                jnp.asarray(np.ascontiguousarray(w_hh)),
                b_ih,
                b_hh,
            )
        )
    ours = RecurrentLayer(cell, units[0], 1, len(parts) == 2, 0.0, bias)
    return ours, (tuple(dirs),)


def to_keras(
    layer: RecurrentLayer,
    params: LayerParams,
    *,
    return_sequences: bool = True,
    return_state: bool = True,
) -> Any:
    """Build the Keras 3 layer equal to ``(layer, params)``: built, weights set.

    ``rnn`` -> ``SimpleRNN`` (tanh), ``rnn_relu`` -> ``SimpleRNN(activation="relu")``,
    ``lstm`` -> ``LSTM``, ``gru`` -> ``GRU(reset_after=True)``, wrapped in
    ``Bidirectional(merge_mode="concat")`` if bidirectional. Call it as
    ``klayer(x [B, T, D], mask=[B, T] bool)``; with the defaults it returns
    ``[outputs [B, T, dirs*H], h_fw, (c_fw,) (h_bw, (c_bw))]``. SimpleRNN/LSTM get
    the single ``bias = b_ih + b_hh``. Only ``num_layers == 1`` (a Keras layer is one
    layer; convert each of ours separately). Weights take Keras' variable dtype
    (floatx, float32 by default).
    """
    keras = _require_keras("to_keras")
    d_in = _check_params(layer, params)
    if layer.num_layers != 1:
        raise ValueError(
            f"to_keras: num_layers={layer.num_layers} unsupported; a Keras recurrent layer is"
            " one layer (convert each layer's params separately)"
        )
    L = keras.layers
    # Every weight is overwritten below, so build with cheap zeros (Keras' default
    # orthogonal init runs a QR per layer) and restore the defaults in the config after.
    zeros = ("kernel_initializer", "recurrent_initializer", "bias_initializer")
    common: dict[str, Any] = dict(
        units=layer.hidden_size,
        use_bias=layer.bias,
        return_sequences=return_sequences,
        return_state=return_state,
        **dict.fromkeys(zeros, "zeros"),
    )
    if layer.cell not in _KERAS_LAYERS:
        raise ValueError(f"to_keras: no Keras layer for cell {layer.cell!r} "
                         f"(Keras has {list(_KERAS_LAYERS)})")  # fmt: skip
    cls_name, extra = _KERAS_LAYERS[layer.cell]
    base = getattr(L, cls_name)(**extra, **common)
    out = L.Bidirectional(base, merge_mode="concat") if layer.bidirectional else base
    out.build((None, None, d_in))
    parts = [out.forward_layer, out.backward_layer] if layer.bidirectional else [out]
    perm = _keras_perm(layer.cell)

    def assign(var: Any, value: np.ndarray) -> None:
        var.assign(np.ascontiguousarray(value, dtype=np.dtype(str(var.dtype))))

    for klayer, p in zip(parts, params[0], strict=True):
        c = klayer.cell
        for attr, init in zip(zeros, ("glorot_uniform", "orthogonal", "zeros"), strict=True):
            setattr(c, attr, keras.initializers.get(init))
        assign(c.kernel, _blocks(np.asarray(p.w_ih).T, perm, axis=1))
        assign(c.recurrent_kernel, _blocks(np.asarray(p.w_hh).T, perm, axis=1))
        if layer.bias:
            b_ih, b_hh = np.asarray(p.b_ih), np.asarray(p.b_hh)
            if layer.cell in _KERAS_TWO_BIASES:
                assign(c.bias, _blocks(np.stack([b_ih, b_hh]), perm, axis=1))
            else:
                assign(c.bias, b_ih + b_hh)
    return out
