"""Sequence layers: masked ``lax.scan`` unrolling, reversal, bidirectional, stacking.

The public layer factories (``rnn``, ``lstm``, ``gru``) return a
``RecurrentLayer`` with two pure functions, optax-style::

    layer = jaxrnn.lstm(128, num_layers=2, bidirectional=True, dropout=0.1)
    params = layer.init(key, input_size)                      # pytree
    outputs, final = layer.apply(params, x, lengths, key=dropout_key)
    # x [B, T, D] -> outputs [B, T, num_directions * H]
    # final: h [L * num_directions, B, H] (LSTMState(h, c) for LSTM), PyTorch's order:
    #        layer 0 forward, layer 0 backward, layer 1 forward, ...

Masking by ``lengths [B]`` (None: every sequence is full length):

* past a sequence's end the carry is frozen, so the final state is the state
  after its last valid step, and the outputs there are zero;
* the backward direction reverses only the valid part of each sequence
  (``reverse_padded``), so it starts on the last real token, never on padding;
* layers are stacked with dropout between them (not after the last), applied
  only when a ``key`` is passed (training).

Two implementations give the same numbers (``impl=``):

* ``"bptt"`` (default): ``jaxrnn.bptt``'s hand-written backward pass as a
  ``jax.custom_vjp`` (reverse scan carrying only ``dh``/``dc``, weight and input
  gradients as single large matmuls after the loop), run time-major through the
  whole stack. Faster on CPU; see ``benchmarks/vs_peers.py``.
* ``"autodiff"``: ``jax.grad`` of the plain masked ``lax.scan`` (the reference the
  tests check the other against).

``params`` is a tuple over layers of tuples over directions of ``CellParams``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from jaxrnn import bptt
from jaxrnn._vma import vary_like
from jaxrnn.cells import Carry, CellParams, LSTMState, get_cell, init_cell_params, project_inputs

Array = jax.Array
LayerParams = tuple[tuple[CellParams, ...], ...]

IMPLS = ("bptt", "autodiff")
DEFAULT_IMPL = "bptt"  # measured faster on CPU at every benchmarked shape (benchmarks/vs_peers.py)


def _check_impl(impl: str) -> None:
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")


def time_mask(lengths: Array, max_len: int) -> Array:
    """``[B]`` lengths -> ``[B, T]`` bool mask, True on valid steps."""
    return jnp.arange(max_len)[None, :] < lengths[:, None]


def reverse_padded(x: Array, lengths: Array | None) -> Array:
    """Reverse each sequence of ``x [B, T, ...]`` within its valid length.

    ``[a, b, c, pad, pad]`` with length 3 becomes ``[c, b, a, pad, pad]``. Applying
    it twice gives back ``x``. With ``lengths=None`` it is a plain flip of axis 1.
    """
    if lengths is None:
        return jnp.flip(x, axis=1)
    t = jnp.arange(x.shape[1])[None, :]
    src = jnp.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)  # [B, T]
    src = src.reshape(src.shape + (1,) * (x.ndim - 2))
    return jnp.take_along_axis(x, src, axis=1)


def _reverse_padded_tm(x: Array, lengths: Array | None) -> Array:
    """``reverse_padded`` for time-major ``x [T, B, ...]``."""
    if lengths is None:
        return jnp.flip(x, axis=0)
    t = jnp.arange(x.shape[0])[:, None]
    src = jnp.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)  # [T, B]
    src = src.reshape(src.shape + (1,) * (x.ndim - 2))
    return jnp.take_along_axis(x, src, axis=0)


def unroll(
    cell: str,
    params: CellParams,
    xp: Array,
    lengths: Array | None,
    carry: Carry,
    *,
    use_scan: bool = True,
    unroll_steps: int = 1,
    impl: str = DEFAULT_IMPL,
) -> tuple[Array, Carry]:
    """Run one cell over projected inputs ``xp [B, T, G*H]`` (see ``project_inputs``).

    Returns ``(outputs [B, T, H], final_carry)``. With ``lengths``, the carry is
    frozen past each sequence's end and outputs there are zero. ``use_scan=False``
    runs the same body in a Python loop (a check on the scan, and for debugging).
    ``impl="bptt"`` differentiates with ``jaxrnn.bptt``'s hand-written VJP,
    ``"autodiff"`` with ``jax.grad`` of the scan; same numbers (``params.w_ih`` and
    ``params.b_ih`` are not used: they are already in ``xp``).
    """
    _check_impl(impl)
    if impl == "bptt" and use_scan:
        return bptt.scan_projected(
            get_cell(cell).name, params.w_hh, params.b_hh, xp, lengths, carry, unroll=unroll_steps
        )
    step = get_cell(cell).step
    xs = jnp.swapaxes(xp, 0, 1)  # [T, B, G*H]: scan runs over the leading axis
    if lengths is None:

        def body(c, x):
            return step(params, c, x)

        inputs: Any = xs
    else:
        mask = jnp.swapaxes(time_mask(lengths, xp.shape[1]), 0, 1)[..., None]  # [T, B, 1]

        def body(c, inp):
            x, m = inp
            new, h = step(params, c, x)
            c = jax.tree.map(lambda n, o: jnp.where(m, n, o), new, c)
            return c, jnp.where(m, h, jnp.zeros_like(h))

        inputs = (xs, mask)

    if use_scan:
        carry = vary_like(carry, params, inputs)  # inside shard_map (see jaxrnn._vma)
        carry, ys = lax.scan(body, carry, inputs, unroll=unroll_steps)
    else:
        outs = []
        for t in range(xs.shape[0]):
            carry, y = body(carry, jax.tree.map(lambda a, t=t: a[t], inputs))
            outs.append(y)
        ys = jnp.stack(outs)
    return jnp.swapaxes(ys, 0, 1), carry


def _dropout(key: Array, x: Array, rate: float) -> Array:
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), jnp.zeros_like(x))


def _dropout_tm(key: Array, x: Array, rate: float) -> Array:
    """``_dropout`` of time-major ``x [T, B, F]`` with the batch-major mask (same numbers)."""
    shape = (x.shape[1], x.shape[0], *x.shape[2:])
    keep = jnp.swapaxes(jax.random.bernoulli(key, 1.0 - rate, shape), 0, 1)
    return jnp.where(keep, x / (1.0 - rate), jnp.zeros_like(x))


@dataclass(frozen=True)
class RecurrentLayer:
    """A (possibly stacked, possibly bidirectional) recurrent layer. Use the factories.

    Hashable, so it can be a static argument of ``jax.jit``. ``impl`` picks the
    backward pass (``"bptt"``: hand-written custom VJP, ``"autodiff"``: ``jax.grad``
    of the scan); both give the same numbers. ``stack_directions`` (``impl="bptt"``
    only) runs both directions of a bidirectional layer in one loop, vmapped over
    the direction (batched matmuls), instead of two loops; same numbers.
    """

    cell: str
    hidden_size: int
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0
    bias: bool = True
    impl: str = DEFAULT_IMPL
    stack_directions: bool = False

    def __post_init__(self) -> None:
        _check_impl(self.impl)

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def output_size(self) -> int:
        return self.num_directions * self.hidden_size

    def init(self, key: Array, input_size: int, dtype=jnp.float32) -> LayerParams:
        """Params: a tuple over layers of tuples over directions of ``CellParams``."""
        keys = jax.random.split(key, self.num_layers * self.num_directions)
        layers = []
        for layer in range(self.num_layers):
            d_in = input_size if layer == 0 else self.output_size
            layers.append(
                tuple(
                    init_cell_params(
                        keys[layer * self.num_directions + d],
                        self.cell,
                        d_in,
                        self.hidden_size,
                        self.bias,
                        dtype,
                    )
                    for d in range(self.num_directions)
                )
            )
        return tuple(layers)

    def zero_state(self, batch_size: int, dtype=jnp.float32) -> Carry:
        """Zero initial state ``[L * num_directions, B, H]`` (``LSTMState`` for LSTM)."""
        z = jnp.zeros((self.num_layers * self.num_directions, batch_size, self.hidden_size), dtype)
        return LSTMState(z, z) if self.cell == "lstm" else z

    def apply(
        self,
        params: LayerParams,
        x: Array,
        lengths: Array | None = None,
        *,
        key: Array | None = None,
        initial_state: Carry | None = None,
        use_scan: bool = True,
    ) -> tuple[Array, Carry]:
        """Run the stack over ``x [B, T, D]``.

        Args:
          params: from ``init``.
          x: batch-major inputs ``[B, T, D]``.
          lengths: ``[B]`` valid lengths, or None for all ``T``.
          key: PRNG key for dropout between layers; None disables dropout.
          initial_state: ``[L * num_directions, B, H]`` (``LSTMState`` for LSTM),
            zeros if None.
          use_scan: False unrolls in a Python loop (same numbers; for tests).

        Returns:
          ``(outputs [B, T, num_directions * H], final_state)``, final state shaped
          like ``initial_state``.
        """
        if initial_state is None:
            initial_state = self.zero_state(x.shape[0], x.dtype)
        if self.impl == "bptt" and use_scan:
            return self._apply_bptt(params, x, lengths, key, initial_state)
        finals = []
        for layer, layer_params in enumerate(params):
            outs = []
            for d, p in enumerate(layer_params):
                idx = layer * self.num_directions + d
                carry0 = jax.tree.map(lambda s, idx=idx: s[idx], initial_state)
                inp = x if d == 0 else reverse_padded(x, lengths)
                ys, carry = unroll(
                    self.cell,
                    p,
                    project_inputs(p, inp),
                    lengths,
                    carry0,
                    use_scan=use_scan,
                    impl="autodiff",
                )
                outs.append(ys if d == 0 else reverse_padded(ys, lengths))
                finals.append(carry)
            x = outs[0] if len(outs) == 1 else jnp.concatenate(outs, axis=-1)
            if key is not None and self.dropout > 0.0 and layer < self.num_layers - 1:
                key, sub = jax.random.split(key)
                x = _dropout(sub, x, self.dropout)
        final = jax.tree.map(lambda *s: jnp.stack(s), *finals)
        return x, final

    def _apply_bptt(
        self,
        params: LayerParams,
        x: Array,
        lengths: Array | None,
        key: Array | None,
        initial_state: Carry,
    ) -> tuple[Array, Carry]:
        """``apply`` with ``jaxrnn.bptt``, time-major from the first layer to the last."""
        cell = get_cell(self.cell).name
        xt = jnp.swapaxes(x, 0, 1)  # [T, B, D]
        finals = []
        for layer, layer_params in enumerate(params):
            nd = len(layer_params)
            idx = slice(layer * nd, (layer + 1) * nd)
            carry0 = jax.tree.map(lambda s, idx=idx: s[idx], initial_state)  # [dirs, B, H]
            inps = [xt] if nd == 1 else [xt, _reverse_padded_tm(xt, lengths)]
            if self.stack_directions and nd == 2:  # both directions in one (batched) loop
                stacked = jax.tree.map(lambda *a: jnp.stack(a), *layer_params)

                def run(p, x, c):
                    return bptt.layer(cell, p, x, lengths, c, time_major=True)

                ys2, c2 = jax.vmap(run)(stacked, jnp.stack(inps), carry0)
                results = [(ys2[d], jax.tree.map(lambda a, d=d: a[d], c2)) for d in range(2)]
            else:
                results = [
                    bptt.layer(
                        cell, p, inp, lengths, jax.tree.map(lambda a, d=d: a[d], carry0),
                        time_major=True,
                    )
                    for d, (p, inp) in enumerate(zip(layer_params, inps, strict=True))
                ]  # fmt: skip
            outs = []
            for d, (ys, carry) in enumerate(results):
                outs.append(ys if d == 0 else _reverse_padded_tm(ys, lengths))
                finals.append(carry)
            xt = outs[0] if len(outs) == 1 else jnp.concatenate(outs, axis=-1)
            if key is not None and self.dropout > 0.0 and layer < self.num_layers - 1:
                key, sub = jax.random.split(key)
                xt = _dropout_tm(sub, xt, self.dropout)
        final = jax.tree.map(lambda *s: jnp.stack(s), *finals)
        return jnp.swapaxes(xt, 0, 1), final


def rnn(
    hidden_size: int,
    num_layers: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.0,
    nonlinearity: str = "tanh",
    bias: bool = True,
    impl: str = DEFAULT_IMPL,
) -> RecurrentLayer:
    """An Elman RNN layer (``h' = tanh(W_ih x + b_ih + W_hh h + b_hh)``)."""
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    cell = "rnn" if nonlinearity == "tanh" else "rnn_relu"
    return RecurrentLayer(cell, hidden_size, num_layers, bidirectional, dropout, bias, impl)


def lstm(
    hidden_size: int,
    num_layers: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.0,
    bias: bool = True,
    impl: str = DEFAULT_IMPL,
) -> RecurrentLayer:
    """An LSTM layer (gates i, f, g, o; see ``jaxrnn.cells``)."""
    return RecurrentLayer("lstm", hidden_size, num_layers, bidirectional, dropout, bias, impl)


def gru(
    hidden_size: int,
    num_layers: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.0,
    bias: bool = True,
    impl: str = DEFAULT_IMPL,
) -> RecurrentLayer:
    """A GRU layer (gates r, z, n, PyTorch convention; see ``jaxrnn.cells``)."""
    return RecurrentLayer("gru", hidden_size, num_layers, bidirectional, dropout, bias, impl)
