"""Cells whose gates see only the input, run step by step or in parallel over time.

Each cell's state update is linear in the state, ``h_t = a_t * h_{t-1} + b_t`` with
``(a_t, b_t)`` functions of ``x_t`` alone, so all ``T`` states come from one scan of
``jaxrnn.nn.linear_scan`` in ``O(log T)`` dependent steps (``apply``), while ``step`` is
the same update for one time step (the sequential reference, streaming and sampling).
``x [B, T, D]``, states ``[B, H]``; ``lengths [B]`` masks padding (padded steps hold the
last valid state) and ``reverse=True`` runs each sequence from its own last valid step
back (``linear_scan``'s conventions).

minGRU (Feng et al. 2024, "Were RNNs All We Needed?", arXiv:2410.01201, section 3.1)::

    z_t  = sigmoid(W_z x_t + b_z)
    h~_t = g(W_h x_t + b_h),     g(k) = k + 1/2 if k >= 0 else sigmoid(k)   (positive)
    h_t  = (1 - z_t) * h_{t-1} + z_t * h~_t

minLSTM (same paper, section 3.2, with its normalised gates)::

    f_t = sigmoid(W_f x_t + b_f),  i_t = sigmoid(W_i x_t + b_i),  h~_t = g(W_h x_t + b_h)
    f'_t = f_t / (f_t + i_t),      i'_t = i_t / (f_t + i_t)
    h_t = f'_t * h_{t-1} + i'_t * h~_t

Both run in log space, as the paper trains them (``log_linear_scan``; by default its
associative form, which float32 keeps accurate at any length, rather than the paper's
cumsum form, whose error grows with T; see ``jaxrnn.nn.linear_scan``): every term is
positive, with ``log z = -softplus(-k_z)``, ``log(1 - z) = -softplus(k_z)``,
``log g(k) = log(k + 1/2) if k >= 0 else -softplus(-k)``; for minLSTM
``f' = 1 / (1 + i/f) = sigmoid(log f - log i)``, so with
``d = log i - log f = softplus(-k_f) - softplus(-k_i)``:
``log f' = -softplus(d)`` and ``log i' = -softplus(-d)``.
On CPU the default (``method="auto"`` -> ``linear_scan.default_method()``) is instead
``"scan"``: the real-space coefficients (``mingru_coeffs``, ``minlstm_coeffs``) on one
time-major ``lax.scan`` with a hand-written VJP. A sequential scan of a convex combination
needs no log space to stay stable, and the associative scan's ``log T`` passes, not the
arithmetic, set a CPU's time (``jaxrnn.nn.linear_scan`` says more). The same numbers:
``tests/test_parallel_cells.py`` checks every method against the step at 1e-10.
``h_0``: the paper's code (BorealisAI/minRNNs, ``models/minRNNs.py``) starts from
``h_0 = 0`` unless it learns an initial state (then ``g`` of a parameter); ``h0=None``
here is that zero state, a positive ``h0 [B, H]`` may be passed instead.

LRU (Orvieto et al. 2023, "Resurrecting Recurrent Neural Networks for Long Range
Sequences", arXiv:2303.06349, section 3 and appendix A), state ``x_t [B, N]`` complex::

    lambda = exp(-exp(nu_log) + i exp(theta_log))          (|lambda| < 1 always)
    gamma  = exp(gamma_log)                                  (initially sqrt(1 - |lambda|^2))
    x_t    = lambda * x_{t-1} + gamma * ((B_re + i B_im) u_t)
    y_t    = Re((C_re + i C_im) x_t) + d * u_t               ([B, D], D = input size)

For the LRU ``apply`` returns the outputs ``y`` (a padded step repeats the output of the
last step taken) and the complex final state.

Blocks (for stacking, ``block_apply``/``stack_apply``), following the papers' code:

* minGRU/minLSTM (the minRNN code's ``Model``, without its optional convolution)::

      x = x + W_out cell(rms_norm(x)) + b_out
      x = x + W_2 gelu(W_1 rms_norm(x) + b_1) + b_2

* LRU (the paper's figure 1 / appendix: norm -> LRU -> GELU -> GLU -> skip)::

      y = gelu(lru(rms_norm(x)));  x = x + (W_a y + b_a) * sigmoid(W_g y + b_g)

  (RMSNorm stands in for the paper's batch/layer norm.) ``stack_apply`` runs blocks with
  dropout between them (not after the last), when a key is given.

Parameters are the NamedTuples of ``jaxrnn.weights.parallel_init`` (NumPy-initialised;
convert with ``to_jax``). Every function is pure; ``CELLS`` maps a name to its
``ParallelCell`` (params type, initialiser, ``step``, ``output``, ``apply``).

As layer cells (``LayerForm``, registered in ``jaxrnn.nn.cells`` under the same names, so
``jaxrnn.nn.sequence.RecurrentLayer`` and every task run them; ``--model mingru``,
``minlstm``, ``lru`` and ``bimingru``, ``biminlstm``, ``bilru`` for both directions): a layer
of hidden width ``H`` maps ``[B, T, D]`` to ``[B, T, H]``, stacked and bidirectional like
the other cells, outputs zero past each sequence's end, differentiated by autodiff of the
parallel form (no hand-written VJP; the NumPy twin in ``jaxrnn.scratch.parallel_cells`` has a
hand-written BPTT). minGRU/minLSTM: carry ``h [.., H]`` (non-negative; a zero initial state
is exact in log space). LRU: state size ``N = H``, readout ``C [H, N]`` and, since the
layer's input width ``D`` differs from ``H`` in general, a dense feedthrough ``d [H, D]``
(``y = Re(C x) + d @ u``; the paper's diagonal ``d [D]`` when ``D = H``); carry
``LRUState(h, x)``: ``h [.., H]`` the real output at the last step taken (what the
classifier's readout reads, like ``LSTMState.h``), ``x [.., N]`` the complex state (what a
language model carries from chunk to chunk). Parameter counts per layer and direction:
minGRU ``2 H (D + 1)``, minLSTM ``3 H (D + 1)``, LRU ``3 N + 2 N D + 2 H N + H D``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxrnn.nn.linear_scan import (
    LOG_ZERO,
    hold_last,
    linear_scan,
    log_linear_scan,
    resolve_method,
)
from jaxrnn.nn.sequence import dropout, reverse_padded, time_mask
from jaxrnn.weights import parallel_init as pinit
from jaxrnn.weights.parallel_init import (
    LRUBlockParams,
    LRUParams,
    MinBlockParams,
    MinGRUParams,
    MinLSTMParams,
    ResidualParams,
)

Array = jax.Array

__all__ = [
    "CELLS",
    "BlockForm",
    "LRUBlockParams",
    "LRUParams",
    "LRUState",
    "LayerForm",
    "MinBlockParams",
    "MinGRUParams",
    "MinLSTMParams",
    "ParallelCell",
    "ResidualParams",
    "block_apply",
    "g",
    "log_g",
    "scan_steps",
    "stack_apply",
    "to_jax",
]


def to_jax(params: Any) -> Any:
    """NumPy parameters (any pytree of arrays) as JAX arrays, same structure."""
    return jax.tree.map(jnp.asarray, params)


def g(k: Array) -> Array:
    """The minRNN paper's positive activation: ``k + 1/2`` for ``k >= 0``, else ``sigmoid(k)``."""
    return jnp.where(k >= 0, k + 0.5, jax.nn.sigmoid(k))


def log_g(k: Array) -> Array:
    """``log g(k)``, stably (both branches finite everywhere, so ``where``'s gradient is)."""
    return jnp.where(k >= 0, jnp.log(jax.nn.relu(k) + 0.5), -jax.nn.softplus(-k))


def _lin(x: Array, w: Array, b: Array) -> Array:
    """``x [..., D] @ w.T [D, H] + b [H]``."""
    return x @ w.T + b


# ---------------------------------------------------------------------------- minGRU


def mingru_step(p: MinGRUParams, h: Array, x_t: Array) -> Array:
    """One minGRU step: ``h [B, H]``, ``x_t [B, D]`` -> ``h [B, H]``."""
    z = jax.nn.sigmoid(_lin(x_t, p.w_z, p.b_z))
    return (1.0 - z) * h + z * g(_lin(x_t, p.w_h, p.b_h))


def mingru_log_coeffs(p: MinGRUParams, x: Array) -> tuple[Array, Array]:
    """``(log a, log b) [B, T, H]`` of minGRU's ``h_t = a_t h_{t-1} + b_t``: ``a = 1 - z``,
    ``b = z g(k_h)``."""
    k_z = _lin(x, p.w_z, p.b_z)
    return -jax.nn.softplus(k_z), -jax.nn.softplus(-k_z) + log_g(_lin(x, p.w_h, p.b_h))


# ---------------------------------------------------------------------------- minLSTM


def minlstm_step(p: MinLSTMParams, h: Array, x_t: Array) -> Array:
    """One minLSTM step (normalised gates): ``h [B, H]``, ``x_t [B, D]`` -> ``h [B, H]``."""
    f = jax.nn.sigmoid(_lin(x_t, p.w_f, p.b_f))
    i = jax.nn.sigmoid(_lin(x_t, p.w_i, p.b_i))
    s = f + i
    return (f / s) * h + (i / s) * g(_lin(x_t, p.w_h, p.b_h))


def mingru_coeffs(p: MinGRUParams, x: Array) -> tuple[Array, Array]:
    """``(a, b) [B, T, H]`` of minGRU in real space (``method="scan"``): ``a = 1 - z``,
    ``b = z g(k_h)``."""
    k_z = _lin(x, p.w_z, p.b_z)
    return jax.nn.sigmoid(-k_z), jax.nn.sigmoid(k_z) * g(_lin(x, p.w_h, p.b_h))


def minlstm_coeffs(p: MinLSTMParams, x: Array) -> tuple[Array, Array]:
    """``(a, b) [B, T, H]`` of minLSTM in real space: ``a = f / (f + i)``,
    ``b = i / (f + i) g(k_h)``."""
    f = jax.nn.sigmoid(_lin(x, p.w_f, p.b_f))
    i = jax.nn.sigmoid(_lin(x, p.w_i, p.b_i))
    s = f + i
    return f / s, (i / s) * g(_lin(x, p.w_h, p.b_h))


def minlstm_log_coeffs(p: MinLSTMParams, x: Array) -> tuple[Array, Array]:
    """``(log a, log b) [B, T, H]`` of minLSTM: ``a = f'``, ``b = i' g(k_h)``."""
    # log i - log f, with log sigmoid(k) = -softplus(-k).
    diff = jax.nn.softplus(-_lin(x, p.w_f, p.b_f)) - jax.nn.softplus(-_lin(x, p.w_i, p.b_i))
    log_b = -jax.nn.softplus(-diff) + log_g(_lin(x, p.w_h, p.b_h))
    return -jax.nn.softplus(diff), log_b


def _safe_log(h: Array) -> Array:
    """``log h`` for ``h >= 0``, with ``log 0 = LOG_ZERO`` (finite: a zero state, e.g. a language
    model's first chunk, must not put ``-inf`` into ``logaddexp``'s gradient)."""
    pos = h > 0
    return jnp.where(pos, jnp.log(jnp.where(pos, h, 1.0)), LOG_ZERO)


def _min_apply(
    coeffs: Callable[[Any, Array], tuple[Array, Array]],
    real_coeffs: Callable[[Any, Array], tuple[Array, Array]],
):
    def apply(
        params: Any,
        x: Array,
        lengths: Array | None = None,
        reverse: bool = False,
        h0: Array | None = None,
        method: str = "auto",
    ) -> tuple[Array, Array]:
        method = resolve_method(method)
        if method == "scan":  # real space: a sequential scan of a convex combination is stable
            a, b = real_coeffs(params, x)
            return linear_scan(a, b, 0.0 if h0 is None else h0, lengths, reverse, "scan")
        log_a, log_b = coeffs(params, x)
        log_h0 = None if h0 is None else _safe_log(h0)
        log_hs, log_last = log_linear_scan(log_a, log_b, log_h0, lengths, reverse, method)
        return jnp.exp(log_hs), jnp.exp(log_last)

    apply.__doc__ = f"""All states in parallel, in log space (``{coeffs.__name__}``), or with
    ``method="scan"`` in real space (``{real_coeffs.__name__}``, one scan each way).

    Args:
      params: the cell's weights (JAX arrays).
      x: ``[B, T, D]`` inputs.
      lengths: ``[B]`` valid steps (None: all).
      reverse: run each sequence from its last valid step backwards.
      h0: ``[B, H]`` non-negative initial state; None: zero (the paper's code).
      method: ``log_linear_scan``'s: ``"associative"`` (stable in float32), ``"cumsum"``
        (the paper's ``a* + logcumsumexp``), ``"sequential"``; or ``"scan"`` (the CPU fast
        path, ``linear_scan``'s); ``"auto"``: ``linear_scan.default_method()``.

    Returns:
      ``(hs [B, T, H], h_T [B, H])``; padded steps hold the last valid state.
    """
    return apply


mingru_apply = _min_apply(mingru_log_coeffs, mingru_coeffs)
minlstm_apply = _min_apply(minlstm_log_coeffs, minlstm_coeffs)


def _identity_output(params: Any, h: Array, x_t: Array) -> Array:
    """minGRU/minLSTM output the state itself."""
    del params, x_t
    return h


def _real_zero_state(params: Any, batch: int) -> Array:
    return jnp.zeros((batch, params.b_h.shape[0]), params.w_h.dtype)


# ---------------------------------------------------------------------------- LRU


def lru_lambda(p: LRUParams) -> Array:
    """The diagonal ``lambda [N]`` (complex): ``exp(-exp(nu_log) + i exp(theta_log))``."""
    return jnp.exp(lax.complex(-jnp.exp(p.nu_log), jnp.exp(p.theta_log)))


def lru_inputs(p: LRUParams, u: Array) -> Array:
    """``gamma * (B u)``, ``[..., N]`` complex, for real ``u [..., D]``."""
    b = lax.complex(u @ p.b_re.T, u @ p.b_im.T)
    return jnp.exp(p.gamma_log) * b


def lru_step(p: LRUParams, x: Array, u_t: Array) -> Array:
    """One LRU step: complex state ``x [B, N]``, input ``u_t [B, D]`` -> ``x [B, N]``."""
    return lru_lambda(p) * x + lru_inputs(p, u_t)


def lru_output(p: LRUParams, x: Array, u: Array) -> Array:
    """``y = Re(C x) + d * u``: ``x [..., N]`` complex, ``u [..., D]`` -> ``[..., O]`` (``O = D``
    for the paper's diagonal ``d [D]``; a dense ``d [O, D]`` adds ``u @ d.T``)."""
    skip = u @ p.d.T if p.d.ndim == 2 else p.d * u
    return jnp.real(x) @ p.c_re.T - jnp.imag(x) @ p.c_im.T + skip


def lru_apply(
    params: LRUParams,
    u: Array,
    lengths: Array | None = None,
    reverse: bool = False,
    h0: Array | None = None,
    method: str = "auto",
) -> tuple[Array, Array]:
    """The LRU over a sequence in parallel (``linear_scan``, complex).

    Args:
      params: ``LRUParams`` (JAX arrays).
      u: ``[B, T, D]`` real inputs.
      lengths: ``[B]`` valid steps (None: all).
      reverse: run each sequence from its last valid step backwards.
      h0: ``[B, N]`` complex initial state; None: zero.
      method: ``linear_scan``'s (``"associative"``, ``"sequential"``, ``"scan"`` or ``"auto"``).

    Returns:
      ``(ys [B, T, D], x_T [B, N] complex)``; a padded step's output repeats the output of
      the last step taken.
    """
    lam = lru_lambda(params)
    xs, x_last = linear_scan(
        lam, lru_inputs(params, u), 0.0 if h0 is None else h0, lengths, reverse, method
    )
    return lru_output(params, xs, hold_last(u, lengths, reverse)), x_last


def _lru_zero_state(params: LRUParams, batch: int) -> Array:
    dtype = jnp.result_type(params.b_re.dtype, jnp.complex64)
    return jnp.zeros((batch, params.nu_log.shape[0]), dtype)


# ---------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class ParallelCell:
    """One cell's functions (see the module docstring for shapes).

    ``init_params(rng, input_size, hidden_size)`` -> NumPy params; ``step(params, h, x_t)``
    -> ``h``; ``output(params, h, x_t)`` -> ``y`` (the state for minGRU/minLSTM);
    ``apply(params, x, lengths, reverse, h0)`` -> ``(ys [B, T, *], h_T [B, H])``;
    ``zero_state(params, batch)`` -> ``[B, H]``.
    """

    name: str
    params_type: type
    init_params: Callable[..., Any]
    step: Callable[[Any, Array, Array], Array]
    output: Callable[[Any, Array, Array], Array]
    apply: Callable[..., tuple[Array, Array]]
    zero_state: Callable[[Any, int], Array]


CELLS: dict[str, ParallelCell] = {
    "mingru": ParallelCell("mingru", MinGRUParams, pinit.mingru_params, mingru_step,
                           _identity_output, mingru_apply, _real_zero_state),
    "minlstm": ParallelCell("minlstm", MinLSTMParams, pinit.minlstm_params, minlstm_step,
                            _identity_output, minlstm_apply, _real_zero_state),
    "lru": ParallelCell("lru", LRUParams, pinit.lru_params, lru_step, lru_output, lru_apply,
                        _lru_zero_state),
}  # fmt: skip


def get_cell(name: str) -> ParallelCell:
    """The ``ParallelCell`` called ``name``; ValueError (one line) if there is none."""
    return CELLS[pinit.check_cell(name)]


def scan_steps(
    cell: str,
    params: Any,
    x: Array,
    lengths: Array | None = None,
    reverse: bool = False,
    h0: Array | None = None,
) -> tuple[Array, Array]:
    """The sequential form: ``lax.scan`` of the cell's ``step``, same contract as ``apply``.

    ``x [B, T, D]`` -> ``(ys [B, T, *], h_T [B, H])``; padded steps keep the state and
    repeat the last step's output; ``reverse`` runs each sequence from its last valid step.
    """
    c = get_cell(cell)
    xr = reverse_padded(x, lengths) if reverse else x
    x_held = hold_last(xr, lengths)  # what a padded step's output reads (forward order)
    h = c.zero_state(params, x.shape[0]) if h0 is None else jnp.asarray(h0)
    valid = (
        jnp.ones(x.shape[:2], bool) if lengths is None else time_mask(jnp.asarray(lengths),
                                                                      x.shape[1])
    )  # fmt: skip

    def body(h, inp):
        x_t, xh_t, m = inp
        h = jnp.where(m[:, None], c.step(params, h, x_t), h)
        return h, c.output(params, h, xh_t)

    tm = (jnp.swapaxes(xr, 0, 1), jnp.swapaxes(x_held, 0, 1), jnp.swapaxes(valid, 0, 1))
    h_last, ys = lax.scan(body, h, tm)
    ys = jnp.swapaxes(ys, 0, 1)
    if reverse:
        ys = reverse_padded(ys, lengths)
    return ys, h_last


# ---------------------------------------------------------------------------- blocks


def rms_norm(x: Array, scale: Array, eps: float = 1e-6) -> Array:
    """``x / rms(x) * scale`` over the last axis: ``x [..., D]``, ``scale [D]``."""
    return x * lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + eps) * scale


def _cell_run(cell: str, params: Any, x: Array, lengths, reverse: bool, method: str):
    if method == "parallel":
        return get_cell(cell).apply(params, x, lengths, reverse)
    if method == "sequential":
        return scan_steps(cell, params, x, lengths, reverse)
    raise ValueError(f"method must be 'parallel' or 'sequential', got {method!r}")


def block_apply(
    cell: str,
    params: MinBlockParams | LRUBlockParams,
    x: Array,
    lengths: Array | None = None,
    reverse: bool = False,
    method: str = "parallel",
) -> tuple[Array, Array]:
    """One residual block (module docstring): ``x [B, T, D]`` -> ``(y [B, T, D], h_T)``.

    ``method="parallel"`` runs the cell with ``apply``, ``"sequential"`` with ``scan_steps``
    (the same numbers).
    """
    if cell == "lru":
        y, h_last = _cell_run(cell, params.cell, rms_norm(x, params.norm), lengths, reverse,
                              method)  # fmt: skip
        z = _lin(jax.nn.gelu(y), params.w_glu, params.b_glu)
        a, gate = jnp.split(z, 2, axis=-1)
        return x + a * jax.nn.sigmoid(gate), h_last
    h, h_last = _cell_run(cell, params.cell, rms_norm(x, params.norm1), lengths, reverse, method)
    x = x + _lin(h, params.w_out, params.b_out)
    ff = _lin(jax.nn.gelu(_lin(rms_norm(x, params.norm2), params.w1, params.b1)), params.w2,
              params.b2)  # fmt: skip
    return x + ff, h_last


def stack_apply(
    cell: str,
    params: tuple,
    x: Array,
    lengths: Array | None = None,
    *,
    key: Array | None = None,
    rate: float = 0.0,
    reverse: bool = False,
    method: str = "parallel",
) -> tuple[Array, tuple[Array, ...]]:
    """``len(params)`` blocks in turn, dropout ``rate`` between them when ``key`` is given.

    ``x [B, T, D]`` -> ``(y [B, T, D], final states, one per block)``. ``reverse`` runs every
    block's cell backwards (a bidirectional stack would pair two such stacks).
    ``rate`` is a Python float (static under ``jax.jit``).
    """
    finals = []
    for i, p in enumerate(params):
        if i > 0 and key is not None and rate > 0.0:
            key, sub = jax.random.split(key)
            x = dropout(sub, x, rate)
        x, h_last = block_apply(cell, p, x, lengths, reverse, method)
        finals.append(h_last)
    return x, tuple(finals)


# ---------------------------------------------------------------------------- as layer cells
#
# The three cells in the cell registry (``jaxrnn.nn.cells.register_cell``), so that
# ``jaxrnn.nn.sequence.RecurrentLayer`` stacks them, runs them in both directions and masks
# them like the other cells. ``Cell.parallel`` holds the ``LayerForm`` below; the layer
# dispatches on "the cell has a parallel form", never on a name.


class LRUState(NamedTuple):
    """The LRU layer's carry: ``h [.., H]`` its (real) output at the last step taken, what a
    readout reads (as ``LSTMState.h``); ``x [.., N]`` its complex state, what carries on."""

    h: Array
    x: Array


@dataclass(frozen=True)
class LayerForm:
    """A parallel cell as a layer cell (``Cell.parallel``): in a ``RecurrentLayer`` of hidden
    width ``H`` it maps ``[B, T, D]`` to ``[B, T, H]``.

    minGRU/minLSTM: hidden size ``H``, carry ``h [.., H]`` (non-negative). LRU: state size
    ``N = H`` and output width ``H`` (``C [H, N]`` and a dense feedthrough ``d [H, D]``,
    ``jaxrnn.weights.parallel_init.lru_params(output_size=H)``), carry ``LRUState(h, x)``.
    """

    cell: ParallelCell
    has_lru_state: bool = False  # the carry is LRUState(h, x) rather than h

    def init(self, rng: np.random.Generator, input_size: int, hidden_size: int,
             dtype=np.float64) -> Any:  # fmt: skip
        """NumPy params of one layer and direction (``jaxrnn.weights.parallel_init``)."""
        return pinit.layer_params(rng, self.cell.name, input_size, hidden_size, dtype)

    def zero_carry(self, batch_shape: tuple[int, ...], hidden_size: int, dtype=jnp.float32):
        """Zeros ``[*batch_shape, H]`` (the LRU: ``LRUState`` of a real and a complex one)."""
        z = jnp.zeros((*batch_shape, hidden_size), dtype)
        if not self.has_lru_state:
            return z
        return LRUState(z, jnp.zeros(z.shape, jnp.result_type(dtype, jnp.complex64)))

    def step(self, params: Any, carry: Any, x_t: Array) -> tuple[Any, Array]:
        """One step on the raw input ``x_t [B, D]``: ``(carry, y [B, H])``."""
        c = self.cell
        if not self.has_lru_state:
            h = c.step(params, carry, x_t)
            return h, h
        x = c.step(params, carry.x, x_t)
        y = c.output(params, x, x_t)
        return LRUState(y, x), y

    def run(
        self,
        params: Any,
        x: Array,
        lengths: Array | None,
        reverse: bool,
        carry0: Any,
        sequential: bool = False,
    ) -> tuple[Array, Any]:
        """One direction over ``x [B, T, D]`` from ``carry0``: ``(ys [B, T, H], final carry)``.

        ``sequential=False``: the cell's parallel ``apply``; True: ``scan_steps`` (``lax.scan``
        of ``step``), the same numbers. Outputs past each sequence's end are zero (the layer's
        convention); the final carry is the state after the last step taken.
        """
        h0 = carry0.x if self.has_lru_state else carry0
        if sequential:
            ys, h_last = scan_steps(self.cell.name, params, x, lengths, reverse, h0)
        else:
            ys, h_last = self.cell.apply(params, x, lengths, reverse, h0)
        if self.has_lru_state:  # a padded step repeats the last step's output
            h_last = LRUState(ys[:, 0] if reverse else ys[:, -1], h_last)
        if lengths is not None:
            ys = jnp.where(time_mask(jnp.asarray(lengths), x.shape[1])[..., None], ys,
                           jnp.zeros_like(ys))  # fmt: skip
        return ys, h_last


@dataclass(frozen=True)
class BlockForm:
    """A parallel cell inside its paper's residual block (``block_apply``; module docstring),
    as a layer cell: what ``RecurrentLayer(..., block=True)`` stacks (``--block residual``).

    A layer of hidden width ``H`` maps ``[B, T, D]`` to ``[B, T, H]``: inputs of another
    width are first projected onto ``H`` (``ResidualParams.proj``), then the block runs at
    width ``H`` with the cell at width (LRU: state size) ``H`` and, for minGRU/minLSTM, an MLP
    of width ``ff_mult * H``. The carry is the cell's (``LayerForm``), so a stack's state is
    ``[L, B, H]`` as without blocks, and ``step`` is the same block one token at a time.
    Outputs past each sequence's end are zero."""

    form: LayerForm
    ff_mult: int = 4

    @property
    def cell(self) -> ParallelCell:
        return self.form.cell

    @property
    def has_lru_state(self) -> bool:
        return self.form.has_lru_state

    def init(self, rng: np.random.Generator, input_size: int, hidden_size: int,
             dtype=np.float64) -> ResidualParams:  # fmt: skip
        """NumPy params of one layer and direction: the projection (if ``input_size !=
        hidden_size``; PyTorch ``nn.Linear``'s draw) then ``block_params``."""
        return pinit.residual_params(rng, self.cell.name, input_size, hidden_size,
                                     self.ff_mult, dtype)  # fmt: skip

    def zero_carry(self, batch_shape: tuple[int, ...], hidden_size: int, dtype=jnp.float32):
        """The cell's zero carry (``LayerForm.zero_carry``)."""
        return self.form.zero_carry(batch_shape, hidden_size, dtype)

    @staticmethod
    def _project(params: ResidualParams, x: Array) -> Array:
        return _lin(x, *params.proj) if params.proj else x

    def _around(self, b: Any, x: Array, cell_out: Array) -> Array:
        """The block's output from its input ``x`` and its cell's output (any leading axes)."""
        if self.has_lru_state:  # norm -> LRU -> GELU -> GLU -> skip
            a, gate = jnp.split(_lin(jax.nn.gelu(cell_out), b.w_glu, b.b_glu), 2, axis=-1)
            return x + a * jax.nn.sigmoid(gate)
        x = x + _lin(cell_out, b.w_out, b.b_out)  # norm -> cell -> out; norm -> MLP
        return x + _lin(jax.nn.gelu(_lin(rms_norm(x, b.norm2), b.w1, b.b1)), b.w2, b.b2)

    def _normed(self, b: Any, x: Array) -> Array:
        return rms_norm(x, b.norm if self.has_lru_state else b.norm1)

    def step(self, params: ResidualParams, carry: Any, x_t: Array) -> tuple[Any, Array]:
        """One step on ``x_t [B, D]``: ``(carry, y [B, H])``."""
        x, b = self._project(params, x_t), params.block
        carry, y = self.form.step(b.cell, carry, self._normed(b, x))
        return carry, self._around(b, x, y)

    def run(self, params: ResidualParams, x: Array, lengths: Array | None, reverse: bool,
            carry0: Any, sequential: bool = False) -> tuple[Array, Any]:  # fmt: skip
        """One direction over ``x [B, T, D]`` from ``carry0``: ``(ys [B, T, H], final carry)``
        (``LayerForm.run``'s conventions)."""
        x, b = self._project(params, x), params.block
        ys, carry = self.form.run(b.cell, self._normed(b, x), lengths, reverse, carry0,
                                  sequential)  # fmt: skip
        ys = self._around(b, x, ys)
        if lengths is not None:
            ys = jnp.where(time_mask(jnp.asarray(lengths), x.shape[1])[..., None], ys,
                           jnp.zeros_like(ys))  # fmt: skip
        return ys, carry


def _register() -> None:
    from jaxrnn.nn.cells import register_cell
    from jaxrnn.weights.cellspec import get_spec

    for name, cell in CELLS.items():
        form = LayerForm(cell, has_lru_state=get_spec(name).carry == "hx")
        register_cell(name, form.step, parallel=form)


_register()
