r"""Hand-written backpropagation through time: one ``jax.custom_vjp`` per layer direction.

Autodiff of a ``lax.scan`` accumulates the weight gradients *inside* the reverse
loop (one small ``[B, H]^T @ [B, G*H]`` matmul and an add per step). Here the
reverse loop carries only the hidden (and cell) gradient and emits the gate
gradients ``dz_t``; the weight, bias and input gradients are then single large
matmuls over all ``T * B`` rows at once, after the loop.

Shapes (time-major inside; the wrappers take batch-major ``[B, T, .]``)::

    x   [T, B, D]      inputs              w_ih [G*H, D]   b_ih [G*H]
    xp  [T, B, G*H]    x @ w_ih.T + b      w_hh [G*H, H]   b_hh [G*H]
    h   [T, B, H]      outputs (zero past each sequence's end)
    dz  [T, B, G*H]    gradient w.r.t. the recurrent pre-activation h_{t-1} @ w_hh.T + b_hh
    dxp [T, B, G*H]    gradient w.r.t. xp (equal to dz except for the GRU's n block)

Masking (``lengths``): at a step past a sequence's end the carry is frozen and the
output is zero; in the backward pass such a step has ``dz_t = 0`` and passes the
carry gradient through unchanged. Valid steps are a prefix, so the state before a
valid step ``t > 0`` is the (unmasked) output ``h_{t-1}``.

Backward equations, per valid step ``t`` going backwards, with ``dh`` (and ``dc``)
the carried gradient and ``dy_t`` the output cotangent. ``s' = s (1 - s)`` for a
sigmoid output ``s``; ``u' = 1 - u^2`` for a tanh output ``u``::

    rnn   h_t = tanh(a_t):  dh += dy_t;  dz_t = dh * (1 - h_t^2)   (relu: dh * [h_t > 0])
          dh <- dz_t @ w_hh
    lstm  a_t = [i, f, g, o] pre-activations, c_t = f c_{t-1} + i g, h_t = o tanh(c_t):
          dh += dy_t;  dc += dh * o * (1 - tanh(c_t)^2)
          dz_t = [dc * g * i',  dc * c_{t-1} * f',  dc * i * (1 - g^2),  dh * tanh(c_t) * o']
          dh <- dz_t @ w_hh;  dc <- dc * f
    gru   hh = h_{t-1} @ w_hh.T + b_hh = [hr, hz, hn], n = tanh(xn + r * hn),
          h_t = (1 - z) n + z h_{t-1}:
          dh += dy_t;  dan = dh * (1 - z) * (1 - n^2)
          dz_t = [dan * hn * r',  dh * (h_{t-1} - n) * z',  dan * r]   (w.r.t. hh)
          dxp_t = [dz_t[r], dz_t[z], dan]                              (w.r.t. xp)
          dh <- dh * z + dz_t @ w_hh

and after the loop, with ``hp_t = h_{t-1}`` (``hp_0`` the initial state), sums over
all ``t`` and batch rows at once::

    dw_hh = sum_t dz_t^T hp_t       db_hh = sum_t,b dz_t       d(carry_0) = final (dh, dc)
    dw_ih = sum_t dxp_t^T x_t       db_ih = sum_t,b dxp_t      dx = dxp @ w_ih

Options (all give the same numbers; see ``benchmarks/bptt_variants.py`` for timings):

* ``hoist``: project the inputs for all steps in one matmul before the loop (default)
  or inside it;
* ``fused``: one ``[H, G*H]`` recurrent matmul per step (default) or ``G`` per-gate
  ``[H, H]`` matmuls;
* ``unroll``: ``lax.scan``'s ``unroll`` for both loops.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from jaxrnn.cells import CellParams, LSTMState
from jaxrnn.layout import num_gates

Array = jax.Array
Carry = Any  # Array [B, H] or LSTMState

CELL_KINDS = ("rnn", "rnn_relu", "lstm", "gru")


class Options(NamedTuple):
    """Static choices of the custom-VJP scan (hashable)."""

    cell: str
    fused: bool = True
    unroll: int = 1


def _mm(h: Array, w: Array, gates: int, fused: bool) -> Array:
    """``h [B, K] @ w.T`` for ``w [G*H, K]``: one matmul, or one per gate block."""
    if fused:
        return h @ w.T
    return jnp.concatenate([h @ wk.T for wk in jnp.split(w, gates, axis=0)], axis=-1)


def _mm_back(dz: Array, w: Array, gates: int, fused: bool) -> Array:
    """``dz [B, G*H] @ w [G*H, K]``: one matmul, or a sum of one per gate block."""
    if fused:
        return dz @ w
    dzs = jnp.split(dz, gates, axis=-1)
    ws = jnp.split(w, gates, axis=0)
    out = dzs[0] @ ws[0]
    for d, wk in zip(dzs[1:], ws[1:], strict=True):
        out = out + d @ wk
    return out


def _sig(x: Array) -> Array:
    return jax.nn.sigmoid(x)


def _step_fwd(opts: Options, w_hh: Array, b_hh: Array | None, carry: Carry, xp: Array):
    """One step: ``(new_carry, h, residuals)``; residuals are what backward needs."""
    g = num_gates(opts.cell)
    h = carry.h if opts.cell == "lstm" else carry
    hh = _mm(h, w_hh, g, opts.fused)
    if b_hh is not None:
        hh = hh + b_hh
    if opts.cell in ("rnn", "rnn_relu"):
        a = xp + hh
        hn = jnp.tanh(a) if opts.cell == "rnn" else jax.nn.relu(a)
        return hn, hn, ()
    if opts.cell == "lstm":
        ai, af, ag, ao = jnp.split(xp + hh, 4, axis=-1)
        i, f, gg, o = _sig(ai), _sig(af), jnp.tanh(ag), _sig(ao)
        c = f * carry.c + i * gg
        hn = o * jnp.tanh(c)
        return LSTMState(hn, c), hn, (jnp.concatenate([i, f, gg, o], axis=-1), c)
    # gru
    xr, xz, xn = jnp.split(xp, 3, axis=-1)
    hr, hz, hn_ = jnp.split(hh, 3, axis=-1)
    r = _sig(xr + hr)
    z = _sig(xz + hz)
    n = jnp.tanh(xn + r * hn_)
    hnew = (1.0 - z) * n + z * h
    return hnew, hnew, (jnp.concatenate([r, z, n, hn_], axis=-1),)


def _project(w_ih: Array | None, b_ih: Array | None, x: Array, gates: int, fused: bool) -> Array:
    if w_ih is None:
        return x if b_ih is None else x + b_ih
    xp = _mm(x, w_ih, gates, fused)
    return xp if b_ih is None else xp + b_ih


def _forward(opts, w_ih, b_ih, w_hh, b_hh, xs, carry0, mask, save: bool):
    g = num_gates(opts.cell)

    def body(carry, inp):
        x, m = inp
        xp = _project(w_ih, b_ih, x, g, opts.fused)
        new, h, res = _step_fwd(opts, w_hh, b_hh, carry, xp)
        if m is not None:
            new = jax.tree.map(lambda n, o: jnp.where(m, n, o), new, carry)
            h = jnp.where(m, h, jnp.zeros_like(h))
        return new, (h, res if save else ())

    carry, (ys, res) = lax.scan(body, carry0, (xs, mask), unroll=opts.unroll)
    return ys, carry, res


@partial(jax.custom_vjp, nondiff_argnums=(0,))
def _scan(opts, w_ih, b_ih, w_hh, b_hh, xs, carry0, mask):
    ys, carry, _ = _forward(opts, w_ih, b_ih, w_hh, b_hh, xs, carry0, mask, save=False)
    return ys, carry


def _scan_fwd(opts, w_ih, b_ih, w_hh, b_hh, xs, carry0, mask):
    ys, carry, res = _forward(opts, w_ih, b_ih, w_hh, b_hh, xs, carry0, mask, save=True)
    return (ys, carry), (w_ih, b_ih, w_hh, b_hh, xs, carry0, mask, ys, res)


def _scan_bwd(opts, saved, cts):
    w_ih, b_ih, w_hh, b_hh, xs, carry0, mask, ys, res = saved
    dys, dcarry = cts
    cell, g = opts.cell, num_gates(opts.cell)
    lstm = cell == "lstm"
    h0 = carry0.h if lstm else carry0
    hprev = jnp.concatenate([h0[None], ys[:-1]], axis=0)  # [T, B, H]: h_{t-1} at valid t
    if lstm:
        acts, cs = res
        cprev = jnp.concatenate([carry0.c[None], cs[:-1]], axis=0)
        extra: Any = (acts, cs, cprev)
    elif cell == "gru":
        extra = (res[0], hprev)
    else:
        extra = ys

    def body(carry, inp):
        dy, m, ex = inp
        dh_in = carry[0] if lstm else carry
        dh = dh_in + dy
        if lstm:
            dc_in = carry[1]
            acts, c, cp = ex
            i, f, gg, o = jnp.split(acts, 4, axis=-1)
            tc = jnp.tanh(c)
            dc = dc_in + dh * o * (1.0 - tc * tc)
            dz = jnp.concatenate(
                [
                    dc * gg * i * (1.0 - i),
                    dc * cp * f * (1.0 - f),
                    dc * i * (1.0 - gg * gg),
                    dh * tc * o * (1.0 - o),
                ],
                axis=-1,
            )
            if m is not None:
                dz = jnp.where(m, dz, jnp.zeros_like(dz))
            dh_new = _mm_back(dz, w_hh, g, opts.fused)
            dc_new = dc * f
            if m is not None:
                dh_new = jnp.where(m, dh_new, dh_in)
                dc_new = jnp.where(m, dc_new, dc_in)
            return (dh_new, dc_new), (dz, ())
        if cell == "gru":
            rzn, hp = ex
            r, z, n, hn = jnp.split(rzn, 4, axis=-1)
            dan = dh * (1.0 - z) * (1.0 - n * n)
            dz = jnp.concatenate(
                [dan * hn * r * (1.0 - r), dh * (hp - n) * z * (1.0 - z), dan * r], axis=-1
            )
            if m is not None:
                dz = jnp.where(m, dz, jnp.zeros_like(dz))
                dan = jnp.where(m, dan, jnp.zeros_like(dan))
            dh_new = dh * z + _mm_back(dz, w_hh, g, opts.fused)
            if m is not None:
                dh_new = jnp.where(m, dh_new, dh_in)
            return dh_new, (dz, dan)
        h = ex
        dz = dh * (1.0 - h * h) if cell == "rnn" else jnp.where(h > 0, dh, jnp.zeros_like(dh))
        if m is not None:
            dz = jnp.where(m, dz, jnp.zeros_like(dz))
        dh_new = _mm_back(dz, w_hh, g, opts.fused)
        if m is not None:
            dh_new = jnp.where(m, dh_new, dh_in)
        return dh_new, (dz, ())

    carry_ct = (dcarry.h, dcarry.c) if lstm else dcarry
    carry_ct, (dz, dan) = lax.scan(
        body, carry_ct, (dys, mask, extra), reverse=True, unroll=opts.unroll
    )
    dcarry0 = LSTMState(*carry_ct) if lstm else carry_ct

    # After the loop: every weight, bias and input gradient is one matmul / reduction.
    dw_hh = jnp.einsum("tbg,tbh->gh", dz, hprev)
    db_hh = None if b_hh is None else jnp.sum(dz, axis=(0, 1))
    dxp = dz if cell != "gru" else jnp.concatenate([dz[..., : 2 * dz.shape[-1] // 3], dan], -1)
    db_ih = None if b_ih is None else jnp.sum(dxp, axis=(0, 1))
    if w_ih is None:
        dw_ih, dxs = None, dxp
    else:
        dw_ih = jnp.einsum("tbg,tbd->gd", dxp, xs)
        dxs = dxp @ w_ih
    dmask = None
    return dw_ih, db_ih, dw_hh, db_hh, dxs, dcarry0, dmask


_scan.defvjp(_scan_fwd, _scan_bwd)


def _time_mask(lengths: Array | None, t: int) -> Array | None:
    if lengths is None:
        return None
    return (jnp.arange(t)[:, None] < lengths[None, :])[..., None]  # [T, B, 1]


def scan_projected(
    cell: str,
    w_hh: Array,
    b_hh: Array | None,
    xp: Array,
    lengths: Array | None,
    carry: Carry,
    *,
    fused: bool = True,
    unroll: int = 1,
    time_major: bool = False,
) -> tuple[Array, Carry]:
    """Run one cell over projected inputs with the hand-written VJP.

    Args:
      cell: ``rnn``, ``rnn_relu``, ``lstm`` or ``gru``.
      w_hh: ``[G*H, H]``; b_hh: ``[G*H]`` or None.
      xp: ``[B, T, G*H]`` (``[T, B, G*H]`` if ``time_major``): ``x @ w_ih.T + b_ih``.
      lengths: ``[B]`` or None (every sequence full length).
      carry: initial ``h [B, H]`` (``LSTMState`` for lstm).

    Returns:
      ``(outputs [B, T, H] (time-major if asked), final carry)``.
    """
    _check(cell)
    xs = xp if time_major else jnp.swapaxes(xp, 0, 1)
    mask = _time_mask(lengths, xs.shape[0])
    if cell != "gru" and b_hh is not None:  # fold the recurrent bias into the inputs
        xs, b_hh = xs + b_hh, None
    ys, carry = _scan(Options(cell, fused, unroll), None, None, w_hh, b_hh, xs, carry, mask)
    return (ys if time_major else jnp.swapaxes(ys, 0, 1)), carry


def layer(
    cell: str,
    params: CellParams,
    x: Array,
    lengths: Array | None,
    carry: Carry,
    *,
    hoist: bool = True,
    fused: bool = True,
    unroll: int = 1,
    time_major: bool = False,
) -> tuple[Array, Carry]:
    """One direction of a recurrent layer over raw inputs, hand-written VJP.

    Args:
      cell: ``rnn``, ``rnn_relu``, ``lstm`` or ``gru``.
      params: ``CellParams`` (``w_ih [G*H, D]``, ``w_hh [G*H, H]``, biases ``[G*H]`` or None).
      x: ``[B, T, D]`` (``[T, B, D]`` if ``time_major``).
      lengths: ``[B]`` or None.
      carry: initial ``h [B, H]`` (``LSTMState(h, c)`` for lstm).
      hoist: project all inputs before the loop (one matmul) instead of per step.
      fused: one ``G*H``-wide recurrent matmul per step instead of ``G`` per gate.
      unroll: ``lax.scan`` unroll factor of both loops.

    Returns:
      ``(outputs [B, T, H] (time-major if asked), final carry)``.
    """
    _check(cell)
    xs = x if time_major else jnp.swapaxes(x, 0, 1)  # [T, B, D]: transpose the narrow side
    mask = _time_mask(lengths, xs.shape[0])
    b_ih, b_hh = params.b_ih, params.b_hh
    if cell != "gru" and b_hh is not None:  # rnn/lstm: the two biases are one
        b_ih = b_hh if b_ih is None else b_ih + b_hh
        b_hh = None
    opts = Options(cell, fused, unroll)
    g = num_gates(cell)
    if hoist:
        xp = _project(params.w_ih, b_ih, xs, g, fused)
        ys, carry = _scan(opts, None, None, params.w_hh, b_hh, xp, carry, mask)
    else:
        ys, carry = _scan(opts, params.w_ih, b_ih, params.w_hh, b_hh, xs, carry, mask)
    return (ys if time_major else jnp.swapaxes(ys, 0, 1)), carry


def _check(cell: str) -> None:
    if cell not in CELL_KINDS:
        raise ValueError(f"unknown cell {cell!r}; choose from {list(CELL_KINDS)}")
