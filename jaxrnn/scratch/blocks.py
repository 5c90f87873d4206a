"""NumPy twin of ``jaxrnn.nn.parallel_cells.BlockForm`` (``--block residual``) with a
hand-written backward pass: one direction of one layer, its cell run step by step by
``jaxrnn.scratch.parallel_cells`` (whose BPTT is written out there).

Forward, for an input ``x [B, T, D]`` (``proj`` when ``D != H``; ``rms(x, s) = x r s`` with
``r = 1 / sqrt(mean(x^2) + eps)`` over the last axis)::

    minGRU/minLSTM:  u = proj(x);  h = cell(rms(u, norm1));  v = u + W_out h + b_out
                     y = v + W_2 gelu(W_1 rms(v, norm2) + b_1) + b_2
    LRU:             u = proj(x);  o = lru(rms(u, norm));  [a, g] = W_glu gelu(o) + b_glu
                     y = u + a * sigmoid(g)

then ``y`` is zero past each sequence's end. ``gelu`` is the tanh form (``jax.nn.gelu``'s
default): ``gelu(a) = a/2 (1 + tanh(c (a + 0.044715 a^3)))``, ``c = sqrt(2 / pi)``.

Backward, the pieces (``dy`` the gradient reaching each output)::

    linear  k = x W^T + b:    dW = dk^T x,  db = sum dk,  dx = dk W
    rms     y = x r s:        ds = sum dy x r,  dx = r (s dy) - x r^3 mean(s dy x)
    gelu:   gelu'(a) = (1 + t) / 2 + a (1 - t^2) c (1 + 3 0.044715 a^2) / 2,  t = tanh(..)
    GLU     y = a sigmoid(g): da = dy sigmoid(g),  dg = dy a sigmoid(g) (1 - sigmoid(g))
    skip    y = u + f(u):     du = dy + (df/du)^T dy

``reverse=True`` runs each sequence from its own last valid step back: every piece but the
cell acts per position, so the block of the reversed input, reversed again, is the
backward direction. The tests check everything here against ``jax.grad`` of the JAX block.
This module imports no JAX.
"""

from __future__ import annotations

import math

import numpy as np

from jaxrnn.scratch import parallel_cells as spc
from jaxrnn.scratch.layers import reverse_padded, sigmoid, time_mask
from jaxrnn.weights.parallel_init import LRUBlockParams, LRUParams, MinBlockParams

__all__ = ["block_backward", "block_forward"]

EPS = 1e-6  # jaxrnn.nn.parallel_cells.rms_norm's
_C = math.sqrt(2.0 / math.pi)


def _lin(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    return x @ w.T + b


def _dlin(dk: np.ndarray, x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, ...]:
    """``(dW, db, dx)`` of ``k = x @ w.T + b`` over any leading axes."""
    k2, x2 = dk.reshape(-1, dk.shape[-1]), x.reshape(-1, x.shape[-1])
    return k2.T @ x2, k2.sum(axis=0), dk @ w


def _rms(x: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r = 1.0 / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + EPS)
    return x * r * s, r


def _drms(dy: np.ndarray, x: np.ndarray, r: np.ndarray, s: np.ndarray):
    """``(ds, dx)`` of ``y = x r s``."""
    g = dy * s
    ds = (dy * x * r).reshape(-1, x.shape[-1]).sum(axis=0)
    return ds, r * g - x * r**3 * np.mean(g * x, axis=-1, keepdims=True)


def _gelu(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(gelu(a), gelu'(a))``, the tanh form."""
    t = np.tanh(_C * (a + 0.044715 * a**3))
    d = 0.5 * (1 + t) + 0.5 * a * (1 - t * t) * _C * (1 + 3 * 0.044715 * a * a)
    return 0.5 * a * (1 + t), d


def block_forward(params, x: np.ndarray, lengths: np.ndarray | None = None,
                  reverse: bool = False, carry=None) -> tuple:  # fmt: skip
    """One direction of a ``ResidualParams`` layer over ``x [B, T, D]`` from ``carry`` (the
    cell's; None: zeros). Returns ``(y [B, T, H], final carry, cache)``, as
    ``BlockForm.run``."""
    if reverse:
        x = reverse_padded(x, lengths)
    b = params.block
    lru = isinstance(b, LRUBlockParams)
    u = _lin(x, *params.proj) if params.proj else x
    n, r1 = _rms(u, b.norm if lru else b.norm1)
    o, final, ccache = spc.unroll_forward(b.cell, n, lengths, carry)
    if lru:
        go, dgo = _gelu(o)
        a, g = np.split(_lin(go, b.w_glu, b.b_glu), 2, axis=-1)
        sg = sigmoid(g)
        y = u + a * sg
        inner = (go, dgo, a, sg)
    else:
        v = u + _lin(o, b.w_out, b.b_out)
        n2, r2 = _rms(v, b.norm2)
        k1 = _lin(n2, b.w1, b.b1)
        m, dm = _gelu(k1)
        y = v + _lin(m, b.w2, b.b2)
        inner = (v, n2, r2, m, dm)
    mask = np.ones(x.shape[:2], bool) if lengths is None else time_mask(lengths, x.shape[1])
    y = np.where(mask[..., None], y, 0.0)
    if reverse:
        y = reverse_padded(y, lengths)
    return y, final, (params, x, u, n, r1, o, ccache, inner, mask, lengths, reverse)


def block_backward(dy: np.ndarray | None, d_carry, cache: tuple) -> tuple:
    """Backward of ``block_forward``: ``(grads, dx [B, T, D], d_initial_carry)``, grads
    shaped like the params (``ResidualParams``)."""
    params, x, u, n, r1, o, ccache, inner, mask, lengths, reverse = cache
    b = params.block
    lru = isinstance(b, LRUBlockParams)
    if dy is None:
        dy = np.zeros(u.shape)
    elif reverse:
        dy = reverse_padded(dy, lengths)
    dy = np.where(mask[..., None], dy, 0.0)
    if lru:
        go, dgo, a, sg = inner
        dk = np.concatenate([dy * sg, dy * a * sg * (1 - sg)], axis=-1)
        dw_glu, db_glu, dgo_in = _dlin(dk, go, b.w_glu)
        do = dgo_in * dgo
        du = dy.copy()
    else:
        v, n2, r2, m, dm = inner
        dw2, db2, d_m = _dlin(dy, m, b.w2)
        dk1 = d_m * dm
        dw1, db1, dn2 = _dlin(dk1, n2, b.w1)
        dnorm2, dv_rms = _drms(dn2, v, r2, b.norm2)
        dv = dy + dv_rms
        dw_out, db_out, do = _dlin(dv, o, b.w_out)
        du = dv.copy()
    dcell, dn, d_carry0 = spc.unroll_backward(b.cell, ccache, do, d_carry)
    dnorm1, du_rms = _drms(dn, u, r1, b.norm if lru else b.norm1)
    du = du + du_rms
    if params.proj:
        dw_in, db_in, dx = _dlin(du, x, params.proj[0])
        dproj = (dw_in, db_in)
    else:
        dproj, dx = (), du
    if reverse:
        dx = reverse_padded(dx, lengths)
    if lru:
        grads = LRUBlockParams(dnorm1, LRUParams(*dcell), dw_glu, db_glu)
    else:
        grads = MinBlockParams(dnorm1, type(b.cell)(*dcell), dw_out, db_out, dnorm2, dw1, db1,
                               dw2, db2)  # fmt: skip
    return type(params)(dproj, grads), dx, d_carry0
