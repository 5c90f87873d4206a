"""NumPy twins of ``jaxrnn.nn.parallel_cells`` (minGRU, minLSTM, LRU) with hand-written BPTT.

Sequential, CS231n-style: ``step_forward(params, h, x_t) -> (h, cache)`` and
``step_backward(dh, cache) -> (dh_prev, grads, dx_t)`` per cell, and ``forward`` /
``backward`` over a padded batch ``x [B, T, D]`` with ``lengths [B]``, in either
direction (``reverse``: each sequence from its own last valid step back), with the JAX
module's conventions: padded steps hold the state, a padded step's output repeats the
last step's output. The equations are in ``jaxrnn.nn.parallel_cells``'s docstring;
the tests check every gradient here against ``jax.grad`` of the JAX parallel form.

Backward per step (``dh`` the gradient reaching ``h_t``)::

    minGRU:  h = (1 - z) h_prev + z h~
        dz = dh (h~ - h_prev),  dk_z = dz z (1 - z),  dk_h = dh z g'(k_h),  dh_prev = dh (1 - z)
        g'(k) = 1 for k >= 0 else sigmoid(k) (1 - sigmoid(k))
    minLSTM: h = f' h_prev + i' h~,  f' = f / s,  i' = i / s,  s = f + i
        df' = dh h_prev,  di' = dh h~,  dh~ = dh i',  dh_prev = dh f'
        df = i (df' - di') / s^2,  di = f (di' - df') / s^2   (then through the sigmoids)
    (weights: dW = dk^T x_t, db = sum_b dk, dx_t = dk W, summed over the gates)

LRU, complex: a gradient of the real loss w.r.t. a complex ``w`` is kept as
``G_w = dL/dRe(w) + i dL/dIm(w)``. For ``w = alpha z`` (complex product)
``G_z = conj(alpha) G_w`` and ``G_alpha = conj(z) G_w``; for a real ``r`` in
``w = r v``, ``dL/dr = Re(conj(v) G_w)``. So, with ``x_t = lambda x_{t-1} + gamma v_t``,
``v_t = (B_re + i B_im) u_t`` and ``y_t = Re(C x_t) + d u_t``::

    G_x_t     += dy_t conj(C)          (= dy_t (C_re - i C_im))
    dC_re      = sum dy_t Re(x_t)^T,   dC_im = -sum dy_t Im(x_t)^T,   dd = sum dy_t u_t
    G_x_{t-1}  = conj(lambda) G_x_t
    G_lambda   = sum conj(x_{t-1}) G_x_t,   dgamma = sum Re(conj(v_t) G_x_t)
    G_v_t      = gamma G_x_t:  dB_re = Re(G_v)^T u,  dB_im = Im(G_v)^T u,
                               du_t = Re(G_v) B_re + Im(G_v) B_im
    lambda = exp(s), s = -exp(nu_log) + i exp(theta_log):  G_s = conj(lambda) G_lambda,
    dnu_log = -exp(nu_log) Re(G_s),  dtheta_log = exp(theta_log) Im(G_s),
    dgamma_log = gamma dgamma

``backward``'s ``dh_T`` follows the same convention for the LRU's complex final state.
This module imports no JAX.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jaxrnn.scratch.layers import (
    LRUState,
    register_numpy_cell,
    reverse_padded,
    sigmoid,
    time_mask,
)
from jaxrnn.weights.parallel_init import LRUParams, MinGRUParams, MinLSTMParams

Params = MinGRUParams | MinLSTMParams | LRUParams


def g(k: np.ndarray) -> np.ndarray:
    """The minRNN activation: ``k + 1/2`` for ``k >= 0``, else ``sigmoid(k)``."""
    return np.where(k >= 0, k + 0.5, sigmoid(k))


def g_prime(k: np.ndarray) -> np.ndarray:
    """``g'(k)``: 1 for ``k >= 0``, else ``sigmoid(k) (1 - sigmoid(k))``."""
    s = sigmoid(k)
    return np.where(k >= 0, 1.0, s * (1.0 - s))


def _lin(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    return x @ w.T + b


def _dlin(dk: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(dW, db)`` of ``k = x W^T + b`` for ``dk [B, H]``, ``x [B, D]``."""
    return dk.T @ x, dk.sum(axis=0)


# ---------------------------------------------------------------------------- minGRU


def mingru_step_forward(
    p: MinGRUParams, h: np.ndarray, x_t: np.ndarray
) -> tuple[np.ndarray, tuple]:
    """``h [B, H]``, ``x_t [B, D]`` -> ``(h [B, H], cache)``."""
    z = sigmoid(_lin(x_t, p.w_z, p.b_z))
    k_h = _lin(x_t, p.w_h, p.b_h)
    h_tilde = g(k_h)
    return (1.0 - z) * h + z * h_tilde, (p, h, x_t, z, k_h, h_tilde)


def mingru_step_backward(
    dh: np.ndarray, cache: tuple
) -> tuple[np.ndarray, MinGRUParams, np.ndarray]:
    """``dh [B, H]`` -> ``(dh_prev [B, H], grads, dx_t [B, D])``."""
    p, h, x_t, z, k_h, h_tilde = cache
    dk_z = dh * (h_tilde - h) * z * (1.0 - z)
    dk_h = dh * z * g_prime(k_h)
    dw_z, db_z = _dlin(dk_z, x_t)
    dw_h, db_h = _dlin(dk_h, x_t)
    dx = dk_z @ p.w_z + dk_h @ p.w_h
    return dh * (1.0 - z), MinGRUParams(dw_z, db_z, dw_h, db_h), dx


# ---------------------------------------------------------------------------- minLSTM


def minlstm_step_forward(
    p: MinLSTMParams, h: np.ndarray, x_t: np.ndarray
) -> tuple[np.ndarray, tuple]:
    """``h [B, H]``, ``x_t [B, D]`` -> ``(h [B, H], cache)``."""
    f = sigmoid(_lin(x_t, p.w_f, p.b_f))
    i = sigmoid(_lin(x_t, p.w_i, p.b_i))
    k_h = _lin(x_t, p.w_h, p.b_h)
    h_tilde = g(k_h)
    s = f + i
    return (f / s) * h + (i / s) * h_tilde, (p, h, x_t, f, i, k_h, h_tilde)


def minlstm_step_backward(
    dh: np.ndarray, cache: tuple
) -> tuple[np.ndarray, MinLSTMParams, np.ndarray]:
    """``dh [B, H]`` -> ``(dh_prev [B, H], grads, dx_t [B, D])``."""
    p, h, x_t, f, i, k_h, h_tilde = cache
    s = f + i
    df_n, di_n = dh * h, dh * h_tilde  # w.r.t. f' and i'
    dk_f = i * (df_n - di_n) / s**2 * f * (1.0 - f)
    dk_i = f * (di_n - df_n) / s**2 * i * (1.0 - i)
    dk_h = dh * (i / s) * g_prime(k_h)
    dw_f, db_f = _dlin(dk_f, x_t)
    dw_i, db_i = _dlin(dk_i, x_t)
    dw_h, db_h = _dlin(dk_h, x_t)
    dx = dk_f @ p.w_f + dk_i @ p.w_i + dk_h @ p.w_h
    return dh * (f / s), MinLSTMParams(dw_f, db_f, dw_i, db_i, dw_h, db_h), dx


# ---------------------------------------------------------------------------- LRU


def lru_lambda(p: LRUParams) -> np.ndarray:
    """``lambda [N]`` complex."""
    return np.exp(-np.exp(p.nu_log) + 1j * np.exp(p.theta_log))


def lru_step_forward(p: LRUParams, x: np.ndarray, u_t: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Complex state ``x [B, N]``, input ``u_t [B, D]`` -> ``(x [B, N], cache)``."""
    lam, gamma = lru_lambda(p), np.exp(p.gamma_log)
    v = u_t @ p.b_re.T + 1j * (u_t @ p.b_im.T)
    return lam * x + gamma * v, (p, x, u_t, v, lam, gamma)


def lru_step_backward(gx: np.ndarray, cache: tuple) -> tuple[np.ndarray, LRUParams, np.ndarray]:
    """``gx = dL/dRe(x_t) + i dL/dIm(x_t)`` ``[B, N]`` -> ``(gx_prev, grads, du_t [B, D])``;
    ``grads.c_re``, ``c_im`` and ``d`` are zero here (the output's, see ``backward``)."""
    p, x, u_t, v, lam, gamma = cache
    g_s = np.conj(lam) * (np.conj(x) * gx).sum(axis=0)  # through lambda = exp(s)
    g_v = gamma * gx
    grads = LRUParams(
        nu_log=-np.exp(p.nu_log) * g_s.real,
        theta_log=np.exp(p.theta_log) * g_s.imag,
        gamma_log=gamma * (np.conj(v) * gx).real.sum(axis=0),
        b_re=g_v.real.T @ u_t,
        b_im=g_v.imag.T @ u_t,
        c_re=np.zeros_like(p.c_re),
        c_im=np.zeros_like(p.c_im),
        d=np.zeros_like(p.d),
    )
    du = g_v.real @ p.b_re + g_v.imag @ p.b_im
    return np.conj(lam) * gx, grads, du


def lru_output(p: LRUParams, x: np.ndarray, u: np.ndarray) -> np.ndarray:
    """``y = Re(C x) + d u``: ``x [..., N]`` complex, ``u [..., D]`` -> ``[..., O]`` (a dense
    ``d [O, D]`` when the output width differs from ``D``: ``u @ d.T``)."""
    skip = u @ p.d.T if p.d.ndim == 2 else p.d * u
    return x.real @ p.c_re.T - x.imag @ p.c_im.T + skip


# ---------------------------------------------------------------------------- sequences

_STEPS = {
    MinGRUParams: (mingru_step_forward, mingru_step_backward),
    MinLSTMParams: (minlstm_step_forward, minlstm_step_backward),
    LRUParams: (lru_step_forward, lru_step_backward),
}


def _steps(params: Params):
    try:
        return _STEPS[type(params)]
    except KeyError:
        raise TypeError(f"not parallel-cell params: {type(params).__name__}") from None


def _held_index(lengths: np.ndarray | None, batch: int, max_len: int) -> np.ndarray:
    """``[B, T]``: the step a (forward-order) position's output reads: itself while valid,
    else the last valid step (0 for an empty sequence, then masked out)."""
    t = np.broadcast_to(np.arange(max_len)[None, :], (batch, max_len))
    if lengths is None:
        return t
    n = np.asarray(lengths)[:, None]
    return np.where(t < n, t, np.maximum(n - 1, 0))


@dataclass
class Cache:
    """What ``backward`` needs; ``h_T`` is the final state ``[B, H]`` (complex for the LRU)."""

    params: Params
    step_caches: list
    states: np.ndarray  # [B, T, H] in the order run (reversed when reverse)
    x_run: np.ndarray  # [B, T, D] in the order run
    mask: np.ndarray  # [B, T] bool, order run (padding stays at the end)
    lengths: np.ndarray | None
    reverse: bool
    h_T: np.ndarray


def zero_state(params: Params, batch: int) -> np.ndarray:
    """The zero state ``[B, H]`` (complex for the LRU)."""
    if isinstance(params, LRUParams):
        return np.zeros((batch, params.nu_log.shape[0]), np.result_type(params.b_re, 1j))
    return np.zeros((batch, params.b_h.shape[0]), params.w_h.dtype)


def forward(
    params: Params,
    x: np.ndarray,
    lengths: np.ndarray | None = None,
    reverse: bool = False,
    h0: np.ndarray | None = None,
) -> tuple[np.ndarray, Cache]:
    """One layer over ``x [B, T, D]``, step by step.

    Returns ``(hs, cache)``: ``hs [B, T, H]`` (the LRU: outputs ``[B, T, D]``) in the input's
    time order; padded steps hold the state (repeat the last step's output);
    ``cache.h_T`` is the final state ``[B, H]``. ``h0 [B, H]``: initial state (None: 0).
    """
    step_forward, _ = _steps(params)
    batch, max_len, _ = x.shape
    x_run = reverse_padded(x, lengths) if reverse else x
    mask = np.ones((batch, max_len), bool) if lengths is None else time_mask(lengths, max_len)
    h = zero_state(params, batch) if h0 is None else np.asarray(h0)
    states, caches = [], []
    for t in range(max_len):
        h_new, c = step_forward(params, h, x_run[:, t])
        h = np.where(mask[:, t, None], h_new, h)
        states.append(h)
        caches.append(c)
    states_arr = np.stack(states, axis=1)
    if isinstance(params, LRUParams):
        src = _held_index(lengths, batch, max_len)
        u_held = np.take_along_axis(x_run, src[..., None], axis=1)
        if lengths is not None:
            u_held = u_held * (np.asarray(lengths) > 0)[:, None, None]
        hs = lru_output(params, states_arr, u_held)
    else:
        hs = states_arr
    if reverse:
        hs = reverse_padded(hs, lengths)
    cache = Cache(params, caches, states_arr, x_run, mask, lengths, reverse, h)
    return hs, cache


def backward(dhs: np.ndarray, dh_T: np.ndarray | None, cache: Cache, *,
             with_dh0: bool = False) -> tuple:  # fmt: skip
    """Hand-written BPTT through ``forward``.

    Args:
      dhs: ``[B, T, H]`` (the LRU: ``[B, T, D]``) gradient of the loss w.r.t. ``hs``.
      dh_T: ``[B, H]`` gradient w.r.t. ``cache.h_T`` (the LRU: ``dL/dRe + i dL/dIm``), or None.
      cache: from ``forward``.

    Returns:
      ``(grads, dx)``: grads shaped like the params, ``dx [B, T, D]``; with ``with_dh0`` also
      the gradient w.r.t. ``h0`` ``[B, H]`` (the LRU's in the complex convention).
    """
    p = cache.params
    _, step_backward = _steps(p)
    lengths = cache.lengths
    d_run = reverse_padded(dhs, lengths) if cache.reverse else dhs
    batch, max_len, _ = cache.x_run.shape
    grads = [np.zeros_like(a) for a in p]
    dx_run = np.zeros_like(cache.x_run)
    if isinstance(p, LRUParams):
        src = _held_index(lengths, batch, max_len)
        keep = (
            np.ones((batch, 1, 1)) if lengths is None else (np.asarray(lengths) > 0)[:, None, None]
        )
        u_held = np.take_along_axis(cache.x_run, src[..., None], axis=1) * keep
        s = cache.states
        grads[p._fields.index("c_re")] = np.einsum("btd,btn->dn", d_run, s.real)
        grads[p._fields.index("c_im")] = -np.einsum("btd,btn->dn", d_run, s.imag)
        if p.d.ndim == 2:  # dense feedthrough d [O, D]
            grads[p._fields.index("d")] = np.einsum("bto,btd->od", d_run, u_held)
            d_u = (d_run @ p.d) * keep
        else:
            grads[p._fields.index("d")] = (d_run * u_held).sum(axis=(0, 1))
            d_u = d_run * p.d * keep
        # u_held gathers x_run at src: its adjoint scatters back.
        np.add.at(dx_run, (np.arange(batch)[:, None], src), d_u)
        d_states = d_run @ (p.c_re - 1j * p.c_im)
    else:
        d_states = d_run
    dh = np.zeros_like(cache.h_T) if dh_T is None else np.asarray(dh_T, cache.h_T.dtype)
    for t in reversed(range(max_len)):
        dh = dh + d_states[:, t]
        m = cache.mask[:, t, None]
        # A padded row passes dh straight through and contributes nothing: feed it zeros.
        dh_prev, step_grads, dx_t = step_backward(np.where(m, dh, 0.0), cache.step_caches[t])
        grads = [a + b for a, b in zip(grads, step_grads, strict=True)]
        dx_run[:, t] += dx_t
        dh = np.where(m, dh_prev, dh)
    dx = reverse_padded(dx_run, lengths) if cache.reverse else dx_run
    return (type(p)(*grads), dx, dh) if with_dh0 else (type(p)(*grads), dx)


# ---------------------------------------------------------------------------- as layer cells
#
# The twins of ``jaxrnn.nn.parallel_cells.LayerForm``: one direction of a layer of
# ``jaxrnn.scratch.layers`` (which reverses the backward direction's input itself), with that
# module's conventions: outputs zero past each sequence's end, the final carry the state after
# the last step taken (the LRU: ``LRUState(h, x)``, ``h`` its output then).


def unroll_forward(p: Params, x: np.ndarray, lengths: np.ndarray | None, carry) -> tuple:
    """``x [B, T, D]`` from ``carry`` -> ``(outputs [B, T, H], final carry, cache)``."""
    lru = isinstance(p, LRUParams)
    batch, steps, _ = x.shape
    if carry is None:
        h0 = None
    else:
        h0 = carry[1] if lru else np.asarray(carry)
    hs, cache = forward(p, x, lengths, False, h0)
    mask = np.ones((batch, steps), bool) if lengths is None else time_mask(lengths, steps)
    ys = np.where(mask[..., None], hs, 0.0)
    final = LRUState(hs[:, -1], cache.h_T) if lru else cache.h_T  # hs holds the last output
    return ys, final, (cache, mask)


def unroll_backward(p: Params, ucache: tuple, d_ys: np.ndarray | None, d_carry) -> tuple:
    """Backward of ``unroll_forward``: ``(grads, dx [B, T, D], d_initial_carry)``."""
    cache, mask = ucache
    lru = isinstance(p, LRUParams)
    out_width = p.c_re.shape[0] if lru else cache.states.shape[-1]
    d_hs = np.zeros(mask.shape + (out_width,))
    if d_ys is not None:
        d_hs = np.where(mask[..., None], d_ys, 0.0)
    if lru:
        dh, dx_T = (None, None) if d_carry is None else d_carry
        if dh is not None:  # the final output is the held output at the last position
            d_hs[:, -1] += dh
        dh_T = dx_T
    else:
        dh_T = d_carry
    grads, dx, dh0 = backward(d_hs, dh_T, cache, with_dh0=True)
    if lru:
        dh0 = LRUState(np.zeros(dh0.shape, d_hs.dtype), dh0)
    return grads, dx, dh0


def _sizes(p: Params) -> tuple[int, int]:
    """``(D, H)`` of one layer cell's params."""
    if isinstance(p, LRUParams):
        return p.b_re.shape[1], p.c_re.shape[0]
    return p.w_h.shape[1], p.w_h.shape[0]


for _name, _pair in (("mingru", (mingru_step_forward, mingru_step_backward)),
                     ("minlstm", (minlstm_step_forward, minlstm_step_backward)),
                     ("lru", (lru_step_forward, lru_step_backward))):  # fmt: skip
    register_numpy_cell(_name, *_pair, unroll=(unroll_forward, unroll_backward), sizes=_sizes)
del _name, _pair
