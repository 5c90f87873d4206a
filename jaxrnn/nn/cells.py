"""Recurrent cells as pure step functions: simple RNN, LSTM, GRU (and, registered by
``jaxrnn.nn.parallel_cells``, the parallel-in-time minGRU, minLSTM and LRU).

Weight layout and gate order are defined in ``jaxrnn.weights.layout`` (JAX-free, shared
with the NumPy reference). They follow PyTorch, so ``torch.nn.LSTM`` weights map
without any reordering::

    w_ih [G*H, D]   w_hh [G*H, H]   b_ih [G*H]   b_hh [G*H]     (biases may be None)

    cell   G  gate blocks of w_ih / w_hh rows, in order
    rnn    1  -
    lstm   4  i (input), f (forget), g (cell candidate), o (output)
    gru    3  r (reset), z (update), n (new)

A step works on the *projected* input ``xp = x @ w_ih.T + b_ih`` so that the
projection can be done for all time steps in one matmul (hoisted) or inside
the loop; see ``project_inputs``. With ``a = xp + h @ w_hh.T + b_hh``::

    rnn:  h' = tanh(a)                      (or relu)
    lstm: i, f, g, o = split(a, 4)
          c' = sigmoid(f) * c + sigmoid(i) * tanh(g)
          h' = sigmoid(o) * tanh(c')
    gru:  r = sigmoid(xp_r + hh_r),  z = sigmoid(xp_z + hh_z)   with hh = h @ w_hh.T + b_hh
          n = tanh(xp_n + r * hh_n)          (reset applied to (W_hn h + b_hn), as PyTorch)
          h' = (1 - z) * n + z * h

Every step has the signature of a ``lax.scan`` body once its params are bound:
``step(params, carry, xp) -> (carry, h)``, where ``carry`` is ``h [.., H]`` for
rnn/gru and ``LSTMState(h, c)`` for lstm, with any leading batch shape.

The cells are a registry (``CELLS``, ``get_cell``, ``register_cell``): each is one ``Cell``
holding its step, its spec (``jaxrnn.weights.cellspec``: gates, carry, init rule), its
zero carry and, optionally, its pieces of the hand-written VJP (``CellVJP``, run by
``jaxrnn.nn.bptt``). ``jaxrnn.nn.sequence`` and ``bptt`` dispatch through the ``Cell``,
never by name. How to add a cell: ``jaxrnn.weights.cellspec``'s docstring.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxrnn.nn._blocks import before, cat, index, mm, rec_back, split
from jaxrnn.weights.cellspec import (
    CellSpec,
    bias_init_blocks,
    get_spec,
    register_spec,
    unregister_spec,
)
from jaxrnn.weights.layout import CellParams

Array = jax.Array
Carry = Any  # Array [.., H] or LSTMState


class LSTMState(NamedTuple):
    """LSTM carry: hidden and cell state, each ``[.., H]``."""

    h: Array
    c: Array


def project_inputs(p: CellParams, x: Array) -> Array:
    """``x [.., D] -> x @ w_ih.T + b_ih  [.., G*H]``."""
    xp = mm(x, p.w_ih.T)
    return xp if p.b_ih is None else xp + p.b_ih


def _hidden_proj(p: CellParams, h: Array) -> Array:
    hh = mm(h, p.w_hh.T)
    return hh if p.b_hh is None else hh + p.b_hh


def rnn_step(p: CellParams, h: Array, xp: Array, nonlinearity: str = "tanh") -> tuple[Array, Array]:
    """Elman RNN step. ``h [.., H]``, ``xp [.., H]`` -> ``(h', h')``."""
    a = xp + _hidden_proj(p, h)
    h = jnp.tanh(a) if nonlinearity == "tanh" else jax.nn.relu(a)
    return h, h


def lstm_step(p: CellParams, carry: LSTMState, xp: Array) -> tuple[LSTMState, Array]:
    """LSTM step, gates i, f, g, o. ``xp [.., 4H]`` -> ``(LSTMState(h', c'), h')``."""
    a = xp + _hidden_proj(p, carry.h)
    i, f, g, o = jnp.split(a, 4, axis=-1)
    c = jax.nn.sigmoid(f) * carry.c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    return LSTMState(h, c), h


def gru_step(p: CellParams, h: Array, xp: Array) -> tuple[Array, Array]:
    """GRU step, gates r, z, n (PyTorch convention). ``xp [.., 3H]`` -> ``(h', h')``."""
    hh = _hidden_proj(p, h)
    xr, xz, xn = jnp.split(xp, 3, axis=-1)
    hr, hz, hn = jnp.split(hh, 3, axis=-1)
    r = jax.nn.sigmoid(xr + hr)
    z = jax.nn.sigmoid(xz + hz)
    n = jnp.tanh(xn + r * hn)
    h = (1.0 - z) * n + z * h
    return h, h


class CellVJP(NamedTuple):
    """A cell's pieces of ``jaxrnn.nn.bptt``'s hand-written VJP (equations in its docstring).

    ``num_res``: how many ``[T, B, H]`` residual buffers the forward saves per step.
    ``forward(carry, xp, hh) -> (new_carry, h, residuals)``: one step from the projected
    input ``xp`` (a tuple of blocks, see ``split_last``; biases already added) and the
    recurrent pre-activation ``hh = h @ w_hh.T + b_hh [B, G*H]``; ``residuals``: ``num_res``
    arrays ``[B, H]``. ``backward(s: BackStep) -> (new_dcarry, dxp, dhh_last)``: one reverse
    step; ``dxp`` the gate gradients (blocks ``[B, .]``) w.r.t. the input pre-activation,
    ``dhh_last`` the last block's gradient w.r.t. ``hh`` when it differs (``split_last``),
    else None. ``split_last``: keep the last gate block in its own buffer because its
    recurrent gradient differs from its input one (the GRU's n block, reset inside).
    ``infer``: ``forward`` as run when nothing is differentiated (no residuals kept), giving
    the same numbers but written for speed there; None: ``forward``.
    """

    num_res: int
    forward: Callable[[Carry, tuple[Array, ...], Array], tuple[Carry, Array, tuple[Array, ...]]]
    backward: Callable[[BackStep], tuple[Any, tuple[Array, ...], Array | None]]
    split_last: bool = False
    infer: Callable[[Carry, tuple[Array, ...], Array], tuple[Carry, Array, tuple]] | None = None


class BackStep(NamedTuple):
    """What a cell's hand-written backward step reads at time ``t`` (``CellVJP.backward``).

    ``ys``, ``res``: the forward's outputs and residuals, ``[T, B, H]`` buffers; ``carry0`` the
    initial carry; ``dcarry`` the carried gradient (``(dh, dc)`` for an ``(h, c)`` carry);
    ``dh = dh_in + dy_t`` the hidden gradient at ``t``; ``keep(x)`` zeroes the rows past
    each sequence's end and ``pass_on(new, old)`` keeps ``old`` there (masking).
    ``w_hh_t``: see ``rec_back`` (None: the batch-major product).
    """

    w_hh: Array
    fused: bool
    carry0: Carry
    ys: Array
    res: tuple[Array, ...]
    t: Array
    dcarry: Any
    dh: Array
    keep: Callable[[Array], Array]
    pass_on: Callable[[Array, Array], Array]
    w_hh_t: Array | None = None  # w_hh.T, made before the loop when the step's matmul runs
    # feature-major (``jaxrnn.nn.bptt``'s ``feature_major``): pass it on to ``rec_back``


class Cell(NamedTuple):
    """A registered cell's JAX side: what the sequence code runs (``register_cell``).

    ``gates``: G, its row blocks in ``w_ih`` / ``w_hh``. ``step(params, carry, xp) ->
    (carry, h)``: one step, the ``lax.scan`` body that ``impl="autodiff"`` differentiates.
    ``spec``: its ``jaxrnn.weights.cellspec.CellSpec``. ``vjp``: its hand-written VJP pieces
    (``CellVJP``) for ``impl="custom_vjp"``, or None (then the layer uses autodiff).
    ``parallel``: the cell's parallel form (a ``jaxrnn.nn.parallel_cells.LayerForm``: its
    NumPy initialiser, zero carry, ``step`` and ``run(params, x [B, T, D], lengths, reverse,
    carry0, sequential) -> (ys [B, T, H], final carry)``, all ``T`` states in one linear scan)
    for cells whose gates read the input only (minGRU, minLSTM, LRU; spec ``parallel=True``);
    then ``step`` takes the raw input ``x_t [.., D]`` (no ``w_ih`` projection) and the params
    are the cell's own NamedTuple. None: a recurrent cell, run by the sequential scan.
    ``reads_transposed``: ``step`` reads ``w_ih`` and ``w_hh`` only as ``w.T`` (through
    ``project_inputs`` and ``_hidden_proj``, as the built-in cells do), so a loop may hand it
    the matrices transposed once before the loop (``loop_params``).
    """

    name: str
    gates: int  # G: row blocks in w_ih / w_hh
    step: Callable[[CellParams, Carry, Array], tuple[Carry, Array]]
    spec: CellSpec | None = None
    vjp: CellVJP | None = None
    parallel: Callable | None = None
    reads_transposed: bool = False  # step reads w_ih, w_hh only as .T: see loop_params

    def zero_carry(self, batch_shape: tuple[int, ...], hidden_size: int, dtype=jnp.float32
                   ) -> Carry:  # fmt: skip
        """Zeros ``[*batch_shape, H]`` (an ``LSTMState`` of two for an ``(h, c)`` carry; a
        parallel cell's own zero carry)."""
        if self.parallel is not None:
            return self.parallel.zero_carry(batch_shape, hidden_size, dtype)
        z = jnp.zeros((*batch_shape, hidden_size), dtype)
        return LSTMState(z, z) if self.spec is not None and self.spec.has_cell_state else z


class Transposed(NamedTuple):
    """A weight matrix ``w [N, K]`` held as its transpose ``t = w.T [K, N]``, made once
    before a loop: ``.T`` hands ``t`` back, so a step's ``x @ w.T`` reads a matrix already
    laid out for the product. Why: XLA:CPU (jax 0.10) keeps a ``w.T`` written inside a loop
    body there and copies the transposed matrix on every step; at batch 1 that copy was
    most of the step (sampling, and a language model's test text read as one stream:
    ``benchmarks/batch1.py``, greedy decoding 4.9x faster without it)."""

    t: Array

    @property
    def T(self) -> Array:  # noqa: N802 (the array attribute it stands in for)
        return self.t


def loop_params(cell: Cell, p: CellParams) -> CellParams:
    """``p`` for a loop of ``cell.step``: with ``w_ih`` and ``w_hh`` as ``Transposed`` (the
    transposes made here, outside the loop) when the cell ``reads_transposed``, else ``p``
    itself. Same numbers; one transpose per call instead of one per step."""
    if not cell.reads_transposed:
        return p
    return p._replace(w_ih=Transposed(p.w_ih.T), w_hh=Transposed(p.w_hh.T))


def hidden(carry: Carry) -> Array:
    """The hidden state ``h`` of a carry (``h`` itself, or ``LSTMState.h``)."""
    return carry.h if isinstance(carry, LSTMState) else carry


CELLS: dict[str, Cell] = {}  # the JAX side of jaxrnn.weights.cellspec's registry
_BUILTIN = ("rnn", "rnn_relu", "lstm", "gru")


def register_cell(
    spec: CellSpec | str,
    step: Callable[[CellParams, Carry, Array], tuple[Carry, Array]],
    *,
    vjp: CellVJP | None = None,
    parallel: Callable | None = None,
    reads_transposed: bool = False,
) -> Cell:
    """Register a cell's JAX side under its spec's name (registering ``spec`` too when it is a
    ``CellSpec``; a name must already have one). ``vjp`` must be given exactly when
    ``spec.custom_vjp`` is True. ``reads_transposed``: ``step`` reads ``w_ih`` / ``w_hh``
    only as ``w.T`` (``Cell``; loops then hand it ``Transposed`` matrices). Returns the
    ``Cell``; ValueError if the name is taken by another cell. How to add a cell:
    ``jaxrnn.weights.cellspec``."""
    spec = get_spec(spec) if isinstance(spec, str) else spec
    if spec.custom_vjp != (vjp is not None):
        raise ValueError(f"cell {spec.name!r}: spec.custom_vjp={spec.custom_vjp} but vjp is "
                         f"{'given' if vjp is not None else 'None'}")  # fmt: skip
    cell = Cell(spec.name, spec.num_gates, step, spec, vjp, parallel, reads_transposed)
    old = CELLS.get(spec.name)
    if old is not None and old != cell:
        raise ValueError(f"cell {spec.name!r} is already registered")
    register_spec(spec)
    CELLS[spec.name] = cell
    return cell


def unregister_cell(name: str) -> None:
    """Remove a registered cell (its JAX side and its spec); for tests that register their own.
    The built-in cells stay."""
    if name in _BUILTIN:
        raise ValueError(f"cannot unregister the built-in cell {name!r}")
    CELLS.pop(name, None)
    unregister_spec(name)


def get_cell(name: str) -> Cell:
    """Look up a registered cell by name (``rnn``, ``rnn_relu``, ``lstm``, ``gru``, ...)."""
    try:
        return CELLS[name]
    except (KeyError, TypeError):
        get_spec(name)  # ValueError naming the registered cells
        raise ValueError(f"cell {name!r} has a spec but no JAX step (register_cell)") from None


def zero_carry(
    cell: str, batch_shape: tuple[int, ...], hidden_size: int, dtype=jnp.float32
) -> Carry:
    """The zero initial carry for ``cell`` with leading ``batch_shape``."""
    return get_cell(cell).zero_carry(batch_shape, hidden_size, dtype)


def init_cell_params(
    key: Array,
    cell: str,
    input_size: int,
    hidden_size: int,
    bias: bool = True,
    dtype=jnp.float32,
) -> CellParams:
    """Keras-style initialisation (what the study's Keras models used).

    ``w_ih``: Glorot uniform over the whole ``[D, G*H]`` kernel; ``w_hh``: orthogonal
    per gate block; biases zero, except the ``b_ih`` blocks the cell's spec starts elsewhere
    (``CellSpec.bias_init``: the LSTM forget gate's is one, Keras' ``unit_forget_bias``).
    """
    spec = get_cell(cell).spec
    g = spec.num_gates
    h = hidden_size
    k_ih, k_hh = jax.random.split(key)
    limit = (6.0 / (input_size + g * h)) ** 0.5
    w_ih = jax.random.uniform(k_ih, (g * h, input_size), dtype, -limit, limit)
    ortho = jax.nn.initializers.orthogonal()
    w_hh = jnp.concatenate([ortho(k, (h, h), dtype) for k in jax.random.split(k_hh, g)], axis=0)
    if not bias:
        return CellParams(w_ih, w_hh, None, None)
    b_ih = jnp.zeros((g * h,), dtype)
    for rows, value in bias_init_blocks(spec, h):  # lstm: Keras' unit_forget_bias
        b_ih = b_ih.at[rows].set(value)
    return CellParams(w_ih, w_hh, b_ih, jnp.zeros((g * h,), dtype))


# ----------------------------------------------------------------------------- hand-written VJP
#
# The built-in cells' pieces of jaxrnn.nn.bptt's custom VJP (equations in its docstring).
# Activations are computed on whole [B, G*H] rows and sliced afterwards; residuals are
# per-gate [B, H] arrays (both measured faster on XLA:CPU, see bptt).


def _relu_step(p: CellParams, h: Array, xp: Array) -> tuple[Array, Array]:
    return rnn_step(p, h, xp, "relu")


def _rnn_forward(act: Callable[[Array], Array]):
    def forward(carry: Array, xp: tuple[Array, ...], hh: Array):
        h = act(xp[0] + hh)
        return h, h, ()

    return forward


def _rnn_backward(relu: bool):
    def backward(s: BackStep):
        h = index(s.ys, s.t)
        da = jnp.where(h > 0, s.dh, jnp.zeros_like(s.dh)) if relu else s.dh * (1.0 - h * h)
        dxp = (s.keep(da),)
        return s.pass_on(rec_back(dxp, s.w_hh, s.fused, s.w_hh_t), s.dcarry), dxp, None

    return backward


@cache
def _lstm_gate_scale(hsize: int) -> np.ndarray:
    """``[4H]``: 0.5 on the sigmoid gates' columns (i, f, o), 1 on the tanh gate's (g)."""
    s = np.full(4 * hsize, 0.5, np.float32)
    s[2 * hsize : 3 * hsize] = 1.0
    return s


def _lstm_forward(carry: LSTMState, xp: tuple[Array, ...], hh: Array, barrier: bool = False):
    hsize = carry.h.shape[-1]
    a = xp[0] + hh
    # All four gates in one elementwise kernel over [B, 4H]: sigmoid(x) = 0.5 tanh(x / 2) +
    # 0.5 and tanh(x) are both s * tanh(s * x) + (1 - s), with s per column. As three
    # kernels (logistic, tanh, logistic: XLA:CPU's logistic divides) the mixed-precision
    # LM step was 4% slower (in-process A/B, 18 of 23 passes; Zen 4, B16 T64 H256).
    s = jnp.asarray(_lstm_gate_scale(hsize), a.dtype)
    acts = s * jnp.tanh(s * a) + (1.0 - s)
    if barrier:  # inference: see _lstm_infer
        acts = lax.optimization_barrier(acts)
    i, f, g, o = split(acts, 4)
    c = f * carry.c + i * g
    h = o * jnp.tanh(c)
    return LSTMState(h, c), h, (i, f, g, o, c)


def _lstm_infer(carry: LSTMState, xp: tuple[Array, ...], hh: Array):
    """``_lstm_forward`` with the gate activations materialised once. Without residuals to
    store, XLA:CPU fuses the activations into the cell update and the output, and that
    kernel was slower than the whole step should be: the forward alone took 1.77 -> 1.15 ms
    (B32 T15 H128), 12.5 -> 8.9 (B64 T50 H128), 21.3 -> 16.3 (B32 T64 H256), in
    ``docs/benchmarks/infer_step.txt``. With residuals (training) the barrier measured
    slower, so ``forward`` has none."""
    return _lstm_forward(carry, xp, hh, barrier=True)


def _lstm_backward(s: BackStep):
    dh_in, dc_in = s.dcarry
    i, f, g, o, c = (index(r, s.t) for r in s.res)
    tc = jnp.tanh(c)
    cp = before(s.res[4], s.carry0.c, s.t)
    dc = dc_in + s.dh * o * (1.0 - tc * tc)
    keep = s.keep
    dz = (
        keep(dc * g * i * (1.0 - i)),
        keep(dc * cp * f * (1.0 - f)),
        keep(dc * i * (1.0 - g * g)),
        keep(s.dh * tc * o * (1.0 - o)),
    )
    dh_new = s.pass_on(rec_back(dz, s.w_hh, s.fused, s.w_hh_t), dh_in)
    return (dh_new, s.pass_on(dc * f, dc_in)), dz, None


def _gru_forward(carry: Array, xp: tuple[Array, ...], hh: Array, barrier: bool = False):
    # the reset gate multiplies hn = w_hn h + b_hn
    hsize = carry.shape[-1]
    x_rz, xn = xp
    rz, hn = jax.nn.sigmoid(x_rz + hh[..., : 2 * hsize]), hh[..., 2 * hsize :]
    if barrier:  # inference: see _gru_infer
        both = lax.optimization_barrier(cat((rz, hn)))
        rz, hn = both[..., : 2 * hsize], both[..., 2 * hsize :]
    r, z = split(rz, 2)
    n = jnp.tanh(xn + r * hn)
    h = (1.0 - z) * n + z * carry
    return h, h, (r, z, n, hn)


def _gru_infer(carry: Array, xp: tuple[Array, ...], hh: Array):
    """``_gru_forward`` with the gates ``r, z`` and ``hn`` materialised once, in one row (a
    barrier on ``r, z`` alone is dropped by XLA). Fused into the update they were slow (as
    ``_lstm_infer``): the forward alone took 1.88 -> 0.98 ms (B32 T15 H128), 17.8 -> 10.3
    (B32 T64 H256), in ``docs/benchmarks/infer_step.txt``."""
    return _gru_forward(carry, xp, hh, barrier=True)


def _gru_backward(s: BackStep):
    r, z, n, hn = (index(x, s.t) for x in s.res)
    hp = before(s.ys, s.carry0, s.t)
    dh, keep = s.dh, s.keep
    dan = keep(dh * (1.0 - z) * (1.0 - n * n))
    dr = keep(dan * hn * r * (1.0 - r))
    dzz = keep(dh * (hp - n) * z * (1.0 - z))
    dhn = dan * r
    new = s.pass_on(dh * z + rec_back((dr, dzz, dhn), s.w_hh, s.fused, s.w_hh_t), s.dcarry)
    return new, (dr, dzz, dan), dhn


# The built-in cells (their specs: jaxrnn.weights.cellspec); one line registers a cell.
register_cell("rnn", rnn_step, vjp=CellVJP(0, _rnn_forward(jnp.tanh), _rnn_backward(False)),
              reads_transposed=True)  # fmt: skip
register_cell("rnn_relu", _relu_step,
              vjp=CellVJP(0, _rnn_forward(jax.nn.relu), _rnn_backward(True)),
              reads_transposed=True)  # fmt: skip
register_cell("lstm", lstm_step, vjp=CellVJP(5, _lstm_forward, _lstm_backward, infer=_lstm_infer),
              reads_transposed=True)  # fmt: skip
register_cell("gru", gru_step, vjp=CellVJP(4, _gru_forward, _gru_backward, split_last=True,
                                          infer=_gru_infer),
              reads_transposed=True)  # fmt: skip
