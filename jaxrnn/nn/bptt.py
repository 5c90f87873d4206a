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

The per-cell pieces (the step with its residuals, the reverse step, how many residuals)
belong to each registered cell (``jaxrnn.nn.cells.CellVJP``); this module runs them and
never names a cell. Backward equations of the built-in cells, per valid step ``t`` going
backwards, with ``dh`` (and ``dc``) the carried gradient and ``dy_t`` the output cotangent.
``s' = s (1 - s)`` for a sigmoid output ``s``; ``u' = 1 - u^2`` for a tanh output ``u``::

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

Layout in memory (what made it fast on XLA:CPU, measured in ``benchmarks/vs_peers.py
--variants`` and the notes there):

* both loops are ``lax.fori_loop`` writing into preallocated ``[T, B, .]`` buffers, each
  with its own fill value (``lax.scan`` stacks outputs into one shared zero buffer that
  XLA then copies once per output);
* forward residuals are per-gate ``[T, B, H]`` buffers (lstm: i, f, g, o, c; gru: r, z,
  n, hn): reading a gate block out of a row of a stacked ``[T, B, G*H]`` buffer compiles
  to slow fused loops (about 2x the whole backward elementwise time);
* ``dz`` is written into the buffer of the hoisted projection (dead by then), so the
  backward allocates nothing ``[T, B, G*H]``-sized;
* activations are computed on whole ``[B, G*H]`` rows and sliced afterwards;
* weight gradients ``(inp.T @ dz).T`` over ``T * B`` rows: neither operand copied;
* with nothing differentiated (evaluation, prediction) the forward steps with the cell's
  ``CellVJP.infer``, its activations materialised behind an optimisation barrier (1.3-1.9x
  faster there, ``benchmarks/infer_step.py``; slower when residuals are kept).

Options (all give the same numbers):

* ``hoist``: project the inputs for all steps in one matmul before the loop (default)
  or inside it;
* ``fused``: one ``[H, G*H]`` recurrent matmul per step (default) or ``G`` per-gate
  ``[H, H]`` matmuls;
* ``unroll``: ``fori_loop``'s ``unroll`` for both loops (default 1);
* ``batch_groups``: independent loops over batch slices (default: 2 for ``B >= 64``);
* ``transpose_dz``: weight gradients from a transposed copy of ``dz`` (default: when small);
* ``feature_major``: each step's recurrent matmul as ``(w_hh @ h.T).T`` instead of
  ``h @ w_hh.T`` (and ``(w_hh.T @ dz.T).T`` going back), the same products in the layout
  XLA:CPU's faster kernel takes (``_blocks.feature_major``); default: for a hidden size of
  at least ``FEATURE_MAJOR_MIN_HIDDEN`` and at most ``FEATURE_MAJOR_MAX_BATCH`` rows per loop.
"""

from __future__ import annotations

from functools import cache, partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from jaxrnn.nn._blocks import cat as _cat
from jaxrnn.nn._blocks import feature_major, mixed, mm, rows_last
from jaxrnn.nn._blocks import index as _index
from jaxrnn.nn._vma import sum_to_primal_type, vary_like
from jaxrnn.nn.cells import BackStep, CellParams, CellVJP, LSTMState, get_cell, hidden

Array = jax.Array
Carry = Any  # Array [B, H] or LSTMState



class Options(NamedTuple):
    """Static choices of the custom-VJP scan (hashable)."""

    cell: str
    fused: bool = True
    unroll: int = 1
    hoist: bool = True
    transpose_dz: bool | None = None
    chunk: int = 0
    feature_major: bool = False
    lookup: bool = False  # ``w_ih`` is a ``[V, G*H]`` table, ``xs`` token ids (layer_lookup)


# ``feature_major=None`` (auto): where the feature-major step matmul measured faster. One
# core, AMD EPYC (Zen 3, AVX2), a train step of one layer at B16 T64 H256: 1.15x (LSTM) and
# 1.16x (GRU) (``docs/benchmarks/vs_peers_variants_lm16.txt``). In throwaway timings: at
# H = 128 no difference (0.97-1.03x), at B = 256 a loss (0.92-0.96x), at B = 1-4 (a language
# model's test text as one stream) within 5% either way; the matmul alone 1.4-2x at
# H = 256-512 and B = 8-32 (``profile_step.py`` part 2).
FEATURE_MAJOR_MIN_HIDDEN = 256
FEATURE_MAJOR_MAX_BATCH = 32


@cache
def _avx512() -> bool:
    """Whether this (Linux) CPU has AVX-512 (``avx512f`` in ``/proc/cpuinfo``; False where
    that cannot be read)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            return any(line.startswith("flags") and " avx512f" in line for line in f)
    except OSError:
        return False


def _feature_major(flag: bool | None, batch: int, hsize: int, low: bool = False) -> bool:
    """``Options.feature_major`` for a loop over ``batch`` rows of width ``hsize``; ``low``:
    bfloat16 weights (mixed precision). The feature-major product won on an AVX2 CPU (Zen 3,
    above) and lost on an AVX-512 one (AMD EPYC Zen 4, jax 0.10.2, whose dots go to
    YNNPACK): there the LM's train step (B16 T64 H256, one core) took 1.2-1.4x as long in
    bfloat16, its forward loop 1.4x, and ``benchmarks/lm.py``'s float32 pass on 2 devices
    ran 2-4% slower (better in 11 of 15 alternating passes without it). So: on CPUs without
    AVX-512, in float32."""
    if flag is not None:
        return bool(flag)
    if low or _avx512():
        return False
    return hsize >= FEATURE_MAJOR_MIN_HIDDEN and batch <= FEATURE_MAJOR_MAX_BATCH


def _vjp(cell: str) -> CellVJP:
    """The hand-written VJP pieces of ``cell`` (ValueError if it has none: use autodiff)."""
    vjp = get_cell(cell).vjp
    if vjp is None:
        raise ValueError(f"cell {cell!r} has no hand-written VJP; use impl='autodiff'")
    return vjp


def _num_gates(cell: str) -> int:
    return get_cell(cell).gates


def _parts(cell: str, a: Array) -> tuple[Array, ...]:
    """Split ``[.., G*H]`` into the blocks kept in separate buffers: the whole row, or for a
    cell with ``split_last`` (the GRU) ``(all but the last block, the last block)``, whose
    last block is used apart (reading a block out of a row of a stacked buffer is slow on
    XLA:CPU, a whole row is not)."""
    if not _vjp(cell).split_last:
        return (a,)
    h = a.shape[-1] // _num_gates(cell)
    return a[..., : -h], a[..., -h :]


def _rec(h: Array, w_t: Array, g: int, fused: bool, w: Array | None = None) -> Array:
    """``h [B, K] @ w_t [K, G*H]``: one matmul, or one per gate block (then concatenated).
    ``w_t = w_hh.T`` is made by the caller before its loop: a transpose inside the loop body
    is copied on every step by XLA:CPU (why: ``cells.Transposed``). ``w``: ``w_hh`` itself,
    given when the fused product runs feature-major (``_blocks.feature_major``)."""
    if w is not None and (fused or g == 1):
        return feature_major(w, h)
    if fused or g == 1:
        return mm(h, w_t)
    return _cat(tuple(mm(h, wk) for wk in jnp.split(w_t, g, axis=1)))


# ``transpose_dz=None`` (auto): below this many elements in a gate gradient ``dz``
# (T * B * G*H), the weight gradients first copy ``dz`` to ``[G*H, T*B]``. XLA:CPU sends
# ``dz^T @ inp`` (both operands contracted on their major axis) to Eigen, which is slow at
# these sizes, and the plain ``[G*H, N] @ [N, K]`` product after the copy to YNNPACK:
# without the copy the train step takes 1.04-1.18x as long at B32 T15 and B64 T50
# (``vs_peers.py --variants``). At B256 T100 H512 (52M elements) the direct product is
# faster (``profile_step.py``: 258-277 vs 175-184 GFLOP/s).
TRANSPOSE_DZ_MAX = 1 << 22


def _wgrad_lhs(dz: Array, transpose: bool | None, low: bool = False) -> tuple[Array, bool]:
    """The left operand of the weight gradients for ``dz [T, B, G*H]``: ``([N, G*H], False)``
    (N = T * B), or a transposed copy, ``([G*H, N], True)``; ``transpose=None``: the copy
    for small ``dz`` (see above). ``low``: in bfloat16 (mixed precision, ``mm``)."""
    if low:
        dz = dz.astype(jnp.bfloat16)
    if transpose is None:
        transpose = dz.size <= TRANSPOSE_DZ_MAX
    if not transpose:
        return dz.reshape(-1, dz.shape[-1]), False
    # ``rows_last``, not ``.T`` of the ``[N, G*H]`` matrix: that kept the bfloat16 weight
    # gradients off YNNPACK's bfloat16 dot (1.85x as long at B16 T64 H256, Zen 4); float32
    # products take either form alike.
    return rows_last(dz), True


def _wgrad(inp: Array, lhs: tuple[Array, bool]) -> Array:
    """``sum_{t,b} dz^T inp`` -> ``[G*H, K]`` for ``inp [T, B, K]`` and ``lhs`` from
    ``_wgrad_lhs``: one matmul over all ``T * B`` rows (untransposed: written so that XLA
    copies neither operand)."""
    d, transposed = lhs
    a = inp.reshape(-1, inp.shape[-1])
    return mm(d, a) if transposed else mm(a.T, d).T


def _fwd_step(
    cell: str,
    carry: Carry,
    xp: tuple[Array, ...],
    hh: Array,
    b_ih: Array | None,
    b_hh: Array | None,
    infer: bool = False,
) -> tuple[Carry, Array, tuple[Array, ...]]:
    """One step from ``xp`` (input part, ``_parts`` of ``[B, G*H]``) and ``hh = h @ w_hh.T``
    (recurrent part, ``[B, G*H]``). Returns ``(new_carry, h, residuals)``, the residuals
    ``[B, H]`` each: the cell's ``CellVJP.forward`` after the biases (``infer``: its
    ``CellVJP.infer``, no residuals needed).
    """
    if b_ih is not None:
        xp = tuple(x + b for x, b in zip(xp, _parts(cell, b_ih), strict=True))
    if b_hh is not None:
        hh = hh + b_hh
    vjp = _vjp(cell)
    forward = vjp.infer if infer and vjp.infer is not None else vjp.forward
    return forward(carry, xp, hh)


def _put(buf: Array, x: Array, t: Array) -> Array:
    return lax.dynamic_update_index_in_dim(buf, x, t, 0)


def _buffers(n: int, shape: tuple[int, ...], dtype) -> tuple[Array, ...]:
    """``n`` fresh ``[T, B, H]`` output buffers. Each gets its own fill value, so XLA does
    not merge them into one broadcast and then copy it for every loop output."""
    return tuple(jnp.full(shape, k + 1, dtype) for k in range(n))


def _past_end(new: Carry, y: Array, carry: Carry, lengths: Array | None, t: Array
              ) -> tuple[Carry, Array]:  # fmt: skip
    """A forward step at time ``t`` past a sequence's end: the carry frozen, the output 0."""
    if lengths is None:
        return new, y
    m = t < lengths[:, None]
    new = jax.tree.map(lambda n, o: jnp.where(m, n, o), new, carry)
    return new, jnp.where(m, y, jnp.zeros_like(y))


def _forward(
    opts: Options,
    w_ih: Array | None,
    b_ih: Array | None,
    w_hh: Array,
    b_hh: Array | None,
    xs: Array,
    carry0: Carry,
    lengths: Array | None,
    save: bool,
) -> tuple[Array, Carry, tuple[Array, ...], tuple[Array, ...]]:
    """Forward loop. ``xs``: raw inputs ``[T, B, D]`` (``w_ih`` given) or projected inputs
    ``[T, B, G*H]`` (``w_ih`` None), or with ``opts.lookup`` token ids ``[T, B]`` into the
    table ``w_ih [V, G*H]`` (``layer_lookup``). Returns ``(ys [T, B, H], carry, xp, residuals)``;
    ``xp`` is the hoisted projection, ``_parts`` of ``[T, B, G*H]`` (kept: backward
    reuses its buffers for ``dz``)."""
    cell = opts.cell
    h0 = hidden(carry0)
    steps, (batch, hsize) = xs.shape[0], h0.shape
    in_loop = w_ih is not None and not opts.hoist and not opts.lookup
    g = _num_gates(cell)
    if opts.lookup and not save:  # nothing to keep
        xp = ()
    elif in_loop or opts.lookup:  # dz buffers for backward
        xp = _parts(cell, jnp.full((steps, batch, g * hsize), -1, h0.dtype))
    else:  # [T, B, G*H]: one matmul (then split for the GRU)
        xp = _parts(cell, xs if w_ih is None else mm(xs, w_ih.T))
    nres = _vjp(cell).num_res if save else 0
    bufs = _buffers(nres + 1, (steps, batch, hsize), h0.dtype)  # residuals, then outputs
    w_t = w_hh.T  # before the loop (_rec)
    w_fm = w_hh if opts.feature_major else None
    w_ih_t = w_ih.T if in_loop else None

    def body(t, state):
        carry, xp, bufs = state
        if opts.lookup:  # the step's rows of the projected-embedding table
            x = _parts(cell, jnp.take(w_ih, _index(xs, t), axis=0))
        elif in_loop:
            x = _parts(cell, mm(_index(xs, t), w_ih_t))
        else:
            x = tuple(_index(a, t) for a in xp)
        hh = _rec(hidden(carry), w_t, g, opts.fused, w_fm)
        new, y, res = _fwd_step(cell, carry, x, hh, b_ih, b_hh, not save)
        new, y = _past_end(new, y, carry, lengths, t)
        bufs = tuple(_put(b, v, t) for b, v in zip(bufs, (*res[:nres], y), strict=True))
        return new, xp, bufs

    init = vary_like((carry0, xp, bufs), xs, w_ih, b_ih, w_hh, b_hh, carry0, lengths)
    carry, xp, bufs = lax.fori_loop(0, steps, body, init, unroll=opts.unroll)
    return bufs[-1], carry, xp, bufs[:-1]


@partial(jax.custom_vjp, nondiff_argnums=(0,))
def _scan(
    opts: Options,
    w_ih: Array | None,
    b_ih: Array | None,
    w_hh: Array,
    b_hh: Array | None,
    xs: Array,
    carry0: Carry,
    lengths: Array | None,
) -> tuple[Array, Carry]:
    """``(ys [T, B, H], final carry)`` of one cell over time-major ``xs``; custom VJP."""
    if opts.chunk:
        ys, carry, _ = _forward_chunked(opts, w_ih, b_ih, w_hh, b_hh, xs, carry0, lengths, False)
        return ys, carry
    ys, carry, _, _ = _forward(opts, w_ih, b_ih, w_hh, b_hh, xs, carry0, lengths, save=False)
    return ys, carry


def _scan_fwd(opts: Options, w_ih, b_ih, w_hh, b_hh, xs, carry0, lengths):
    if opts.chunk:
        ys, carry, res = _forward_chunked(opts, w_ih, b_ih, w_hh, b_hh, xs, carry0, lengths, True)
        return (ys, carry), (w_ih, b_ih, w_hh, b_hh, xs, carry0, lengths, res)
    ys, carry, xp, res = _forward(opts, w_ih, b_ih, w_hh, b_hh, xs, carry0, lengths, save=True)
    return (ys, carry), (w_ih, b_ih, w_hh, b_hh, xs, xp, carry0, lengths, ys, res)


def _shift(first: Array, seq: Array) -> Array:
    """``[first, seq[0], ..., seq[T-2]]``: the value before each step."""
    return jnp.concatenate([first[None], seq[:-1]], axis=0)


def _bwd_step(opts: Options, w_hh: Array, w_hh_t: Array | None, carry0: Carry, ys: Array,
              res: tuple[Array, ...], lengths: Array | None, dcarry: Any, dy: Array, t: Array
              ) -> tuple[Any, tuple[Array, ...], Array | None]:  # fmt: skip
    """One step of the reverse loop at time ``t`` (equations in the module docstring), reading
    the forward's outputs ``ys`` and residuals ``res`` (``[T, B, H]`` buffers) at ``t``.
    ``dcarry``: the carried ``dh`` (``(dh, dc)`` for the LSTM); ``dy [B, H]`` the output
    cotangent at ``t``; ``w_hh_t``: ``w_hh.T`` made before the loop when the step's matmul
    runs feature-major (``Options.feature_major``), else None. Returns ``(new dcarry, dxp
    parts ([B, .] each, as ``_parts``), dhn [B, H] (the last block's recurrent gradient of a
    ``split_last`` cell, the GRU's n block, else None))``. The cell's own equations: its
    ``CellVJP.backward``."""
    cell = opts.cell
    vjp = _vjp(cell)
    m = None if lengths is None else t < lengths[:, None]

    def keep(x):  # a masked step has no gradient ...
        return x if m is None else jnp.where(m, x, jnp.zeros_like(x))

    def pass_on(new, old):  # ... and passes the carry gradient on unchanged
        return new if m is None else jnp.where(m, new, old)

    dh_in = dcarry[0] if isinstance(dcarry, tuple) else dcarry
    step = BackStep(w_hh, opts.fused, carry0, ys, res, t, dcarry, dh_in + dy, keep, pass_on,
                    w_hh_t)
    new, dxp, dhn = vjp.backward(step)
    dxp_parts = (_cat(dxp[:-1]), dxp[-1]) if vjp.split_last else (_cat(dxp),)
    return new, dxp_parts, dhn


def _grads_after(opts: Options, w_ih: Array | None, dz: tuple[Array, ...], dhn: Array | None,
                 hprev: Array, xs: Array, low: bool = False) -> tuple:  # fmt: skip
    """``(dw_ih, db_ih, dw_hh, db_hh, dxs)`` from the gate gradients of ``T`` steps (``dz``:
    the ``_parts`` of ``[T, B, G*H]``, w.r.t. the input part of the pre-activations; the
    recurrent part's is the same except the GRU's n block, ``dhn [T, B, H]``), the states
    before each step ``hprev [T, B, H]`` and the inputs ``xs [T, B, D]`` (projected ones,
    ``[T, B, G*H]``, when ``w_ih`` is None: then ``dw_ih`` is None and ``dxs = dz``):
    one matmul or reduction over all ``T * B`` rows each; ``low``: the weight gradients'
    matmuls in bfloat16 with float32 accumulation (bfloat16 weights, ``mm``)."""
    split_last = _vjp(opts.cell).split_last
    dhh = (dz[0], dhn) if split_last else dz
    lhs = tuple(_wgrad_lhs(d, opts.transpose_dz, low) for d in dz)  # shared by dw_hh, dw_ih
    lhs_hh = (lhs[0], _wgrad_lhs(dhn, opts.transpose_dz, low)) if split_last else lhs
    dw_hh = jnp.concatenate([_wgrad(hprev, d) for d in lhs_hh], axis=0)
    db_hh = jnp.concatenate([jnp.sum(d, axis=(0, 1)) for d in dhh])
    db_ih = jnp.concatenate([jnp.sum(d, axis=(0, 1)) for d in dz])
    if w_ih is None:  # xs were the projected inputs
        return None, db_ih, dw_hh, db_hh, _cat(dz)
    dw_ih = jnp.concatenate([_wgrad(xs, d) for d in lhs], axis=0)
    w_parts = _parts(opts.cell, w_ih.T)  # [D, .] column blocks of w_ih.T
    dxs = sum((mm(d, w.T) for d, w in zip(dz[1:], w_parts[1:], strict=True)),
              mm(dz[0], w_parts[0].T))
    return dw_ih, db_ih, dw_hh, db_hh, dxs


def _scan_bwd(opts: Options, saved: tuple, cts: tuple[Array, Carry]) -> tuple:
    """The reverse loop and the post-loop matmuls (equations in the module docstring)."""
    if opts.chunk:
        return _scan_bwd_chunked(opts, saved, cts)
    w_ih, b_ih, w_hh, b_hh, xs, xp, carry0, lengths, ys, res = saved
    dys, dcarry = cts
    cell = opts.cell
    hc, split_last = isinstance(carry0, LSTMState), _vjp(cell).split_last
    h0 = hidden(carry0)
    steps = xs.shape[0]
    # dxp is written step by step into the buffers of the projection (dead by now), in
    # the dtype the loop computed in (ys'): wider than xp's when a float64 initial state
    # meets float32 inputs and params (x64 on), in which case this is a cast copy.
    dz_buf = tuple(b.astype(ys.dtype) for b in xp)
    dhn_buf = _buffers(1, ys.shape, ys.dtype)[0] if split_last else None
    w_hh_t = w_hh.T if opts.feature_major else None  # before the loop (_bwd_step)

    def body(j, state):
        t = steps - 1 - j
        dcarry, dz_buf, dhn_buf, dtab = state
        new, dxp_parts, dhn = _bwd_step(opts, w_hh, w_hh_t, carry0, ys, res, lengths, dcarry,
                                        _index(dys, t), t)  # fmt: skip
        if split_last:
            dhn_buf = _put(dhn_buf, dhn, t)
        if opts.lookup:  # the table's gradient: each step's dz added to its tokens' rows
            dtab = dtab.at[_index(xs, t)].add(_cat(dxp_parts), mode="promise_in_bounds")
        return (new, tuple(_put(b, d, t) for b, d in zip(dz_buf, dxp_parts, strict=True)),
                dhn_buf, dtab)  # fmt: skip

    dtab = jnp.zeros(w_ih.shape, ys.dtype) if opts.lookup else None
    init = ((dcarry.h, dcarry.c) if hc else dcarry, dz_buf, dhn_buf, dtab)
    init = vary_like(init, saved, cts)
    dcarry, dz, dhn, dtab = lax.fori_loop(0, steps, body, init, unroll=opts.unroll)
    dcarry0 = LSTMState(*dcarry) if hc else dcarry

    # After the loop: every weight, bias and input gradient is one matmul / reduction
    # over all T * B rows (one per part for a split_last cell, the GRU).
    if opts.lookup:  # the table's gradient was summed in the loop (dtab)
        _, db_ih, dw_hh, db_hh, _ = _grads_after(opts, None, dz, dhn, _shift(h0, ys), xs,
                                                   mixed(w_ih, w_hh))  # fmt: skip
        grads = (dtab, db_ih, dw_hh, db_hh, None)
    else:
        grads = _grads_after(opts, w_ih, dz, dhn, _shift(h0, ys), xs, mixed(w_ih, w_hh))
    return _cotangents(grads, dcarry0, w_ih, b_ih, w_hh, b_hh, xs, carry0)


def _cotangents(grads: tuple, dcarry0: Carry, w_ih, b_ih, w_hh, b_hh, xs, carry0) -> tuple:
    """The VJP's output from ``grads = (dw_ih, db_ih, dw_hh, db_hh, dxs)`` and the initial
    carry's gradient: None for absent biases and for ``lengths``, each in its primal's dtype
    and summed over the mesh axes its primal does not vary over."""
    dw_ih, db_ih, dw_hh, db_hh, dxs = grads
    grads = (dw_ih, None if b_ih is None else db_ih, dw_hh, None if b_hh is None else db_hh,
             dxs, dcarry0)  # fmt: skip
    primals = (w_ih, b_ih, w_hh, b_hh, xs, carry0)
    grads = jax.tree.map(_as_primal, grads, primals, is_leaf=lambda x: x is None)
    return (*sum_to_primal_type(grads, primals), None)


def _as_primal(g: Array | None, p: Array | None) -> Array | None:
    """A cotangent in its primal's dtype (as ``jax.grad`` of a plain scan returns it): the
    loop computes in the promoted dtype, e.g. float64 gradients of float32 params when the
    initial state is float64."""
    if g is None:
        return None
    if g.shape != p.shape:
        raise AssertionError(f"cotangent shape {g.shape} != primal shape {p.shape}")
    return g.astype(p.dtype)


# ----------------------------------------------------------------------------- chunked
#
# ``Options.chunk = C > 0``: time is cut into chunks of C steps and both loops run over only
# as many chunks as the batch's longest sequence needs (a runtime trip count,
# ``ceil(max(lengths) / C)``), each chunk projecting its C steps' inputs in one matmul
# before its C-step loop and, going back, adding its weight gradients in one matmul after.
# One compiled program then serves batches of any length up to ``T`` at about the cost of
# their own length: what length bucketing needs without a program per bucket. Chunks past
# the longest sequence are not run: their outputs are zero and their gradients would be
# (every step there is masked).


def _num_chunks(lengths: Array | None, steps: int, chunk: int) -> Array | int:
    """Chunks of ``chunk`` steps that cover the longest of ``lengths`` (all ``steps`` if None)."""
    total = -(-steps // chunk)
    if lengths is None:
        return total
    n = (jnp.max(lengths).astype(jnp.int32) + chunk - 1) // chunk
    return jnp.clip(n, 0, total)


def _pad_time(x: Array, steps: int) -> Array:
    """``x [T, ...]`` padded with zeros to ``steps`` rows."""
    extra = steps - x.shape[0]
    return x if extra == 0 else jnp.pad(x, [(0, extra)] + [(0, 0)] * (x.ndim - 1))


def _chunk_lengths(xs: Array, lengths: Array | None, chunk: int) -> Array | None:
    """The lengths the chunked loops mask with: ``lengths``, or every sequence ``T`` long when
    ``T`` is not a multiple of ``chunk`` (the steps padded on must not run)."""
    if lengths is None and xs.shape[0] % chunk:
        return jnp.full((xs.shape[1],), xs.shape[0], jnp.int32)
    return lengths


def _forward_chunked(
    opts: Options,
    w_ih: Array | None,
    b_ih: Array | None,
    w_hh: Array,
    b_hh: Array | None,
    xs: Array,
    carry0: Carry,
    lengths: Array | None,
    save: bool,
) -> tuple[Array, Carry, tuple[Array, ...]]:
    """The forward loop in chunks (see above): ``(ys [T, B, H], carry, residuals)``, the
    residuals ``[T', B, H]`` each (``T'``: ``T`` rounded up to a multiple of the chunk)."""
    cell, size = opts.cell, opts.chunk
    h0 = hidden(carry0)
    steps, (batch, hsize) = xs.shape[0], h0.shape
    lengths = _chunk_lengths(xs, lengths, size)
    total = -(-steps // size) * size
    xs_p = _pad_time(xs, total)
    g = _num_gates(cell)
    nres = _vjp(cell).num_res if save else 0
    res = _buffers(nres, (total, batch, hsize), h0.dtype)
    ys = jnp.zeros((total, batch, hsize), h0.dtype)  # zero where no chunk runs
    w_t = w_hh.T  # before the loops (_rec)
    w_fm = w_hh if opts.feature_major else None
    w_ih_t = None if w_ih is None else w_ih.T

    def chunk_body(k, state):
        x = lax.dynamic_slice_in_dim(xs_p, k * size, size, 0)
        xp = _parts(cell, x if w_ih is None else mm(x, w_ih_t))  # [C, B, G*H] in one matmul

        def body(i, state):
            carry, bufs = state
            t = k * size + i
            new, y, r = _fwd_step(cell, carry, tuple(_index(a, i) for a in xp),
                                  _rec(hidden(carry), w_t, g, opts.fused, w_fm), b_ih,
                                  b_hh, not save)  # fmt: skip
            new, y = _past_end(new, y, carry, lengths, t)
            return new, tuple(_put(b, v, t) for b, v in zip(bufs, (*r[:nres], y), strict=True))

        return lax.fori_loop(0, size, body, state, unroll=opts.unroll)

    init = vary_like((carry0, (*res, ys)), xs, w_ih, b_ih, w_hh, b_hh, carry0, lengths)
    carry, bufs = lax.fori_loop(0, _num_chunks(lengths, steps, size), chunk_body, init)
    return bufs[-1][:steps], carry, bufs


def _scan_bwd_chunked(opts: Options, saved: tuple, cts: tuple[Array, Carry]) -> tuple:
    """The reverse loop in chunks, last chunk first: each chunk's C-step reverse loop, then
    its weight, bias and input gradients in one matmul each (``_grads_after``), summed."""
    w_ih, b_ih, w_hh, b_hh, xs, carry0, lengths, bufs = saved
    dys, dcarry = cts
    cell, size = opts.cell, opts.chunk
    hc, split_last = isinstance(carry0, LSTMState), _vjp(cell).split_last
    h0 = hidden(carry0)
    steps, batch = xs.shape[0], xs.shape[1]
    lengths = _chunk_lengths(xs, lengths, size)
    ys_p, res = bufs[-1], bufs[:-1]
    total, dtype = ys_p.shape[0], ys_p.dtype
    hsize = ys_p.shape[-1]
    xs_p, dys_p = _pad_time(xs, total), _pad_time(dys.astype(dtype), total)
    hprev = _shift(h0.astype(dtype), ys_p)  # h_{t-1} at every valid t
    gh = _num_gates(cell) * hsize
    # dw_ih (None for projected inputs), db_ih, dw_hh, db_hh: summed over the chunks
    acc = (None if w_ih is None else jnp.zeros(w_ih.shape, dtype), jnp.zeros(gh, dtype),
           jnp.zeros(w_hh.shape, dtype), jnp.zeros(gh, dtype))  # fmt: skip
    dxs = jnp.zeros((total, batch, xs.shape[-1]), dtype)
    n = _num_chunks(lengths, steps, size)
    w_hh_t = w_hh.T if opts.feature_major else None  # before the loops (_bwd_step)

    def chunk_body(j, state):
        k = n - 1 - j
        dcarry, acc, dxs = state
        dz = _parts(cell, jnp.full((size, batch, gh), -1, dtype))  # this chunk's gate gradients
        dhn = jnp.full((size, batch, hsize), 7, dtype) if split_last else None

        def body(i, inner):
            dcarry, dz, dhn = inner
            loc = size - 1 - i
            t = k * size + loc
            new, parts, dhn_t = _bwd_step(opts, w_hh, w_hh_t, carry0, ys_p, res, lengths,
                                          dcarry, _index(dys_p, t), t)  # fmt: skip
            if split_last:
                dhn = _put(dhn, dhn_t, loc)
            return new, tuple(_put(b, d, loc) for b, d in zip(dz, parts, strict=True)), dhn

        inner = vary_like((dcarry, dz, dhn), saved, cts)
        dcarry, dz, dhn = lax.fori_loop(0, size, body, inner, unroll=opts.unroll)
        sl = partial(lax.dynamic_slice_in_dim, start_index=k * size, slice_size=size, axis=0)
        grads = _grads_after(opts, w_ih, dz, dhn, sl(hprev), sl(xs_p), mixed(w_ih, w_hh))
        d_w_ih, d_b_ih, d_w_hh, d_b_hh, dx = grads
        acc = tuple(None if a is None else a + d for a, d in
                    zip(acc, (d_w_ih, d_b_ih, d_w_hh, d_b_hh), strict=True))  # fmt: skip
        return dcarry, acc, lax.dynamic_update_slice_in_dim(dxs, dx.astype(dtype), k * size, 0)

    init = ((dcarry.h, dcarry.c) if hc else dcarry, acc, dxs)
    init = vary_like(init, saved, cts)
    dcarry, (dw_ih, db_ih, dw_hh, db_hh), dxs = lax.fori_loop(0, n, chunk_body, init)
    return _cotangents((dw_ih, db_ih, dw_hh, db_hh, dxs[:steps]),
                       LSTMState(*dcarry) if hc else dcarry, w_ih, b_ih, w_hh, b_hh, xs,
                       carry0)  # fmt: skip


_scan.defvjp(_scan_fwd, _scan_bwd)


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
    feature_major: bool | None = None,
) -> tuple[Array, Carry]:
    """Run one cell over projected inputs with the hand-written VJP.

    Args:
      cell: a registered cell with a hand-written VJP (``rnn``, ``rnn_relu``, ``lstm``,
        ``gru``; ``jaxrnn.nn.cells``).
      w_hh: ``[G*H, H]``; b_hh: ``[G*H]`` or None.
      xp: ``[B, T, G*H]`` (``[T, B, G*H]`` if ``time_major``): ``x @ w_ih.T + b_ih``.
      lengths: ``[B]`` or None (every sequence full length).
      carry: initial ``h [B, H]`` (``LSTMState`` for lstm).
      feature_major: each step's recurrent matmul in feature-major form (None: by
        ``FEATURE_MAJOR_MIN_HIDDEN`` and ``FEATURE_MAJOR_MAX_BATCH``; same numbers).

    Returns:
      ``(outputs [B, T, H] (time-major if asked), final carry)``.
    """
    _check(cell)
    xs = xp if time_major else jnp.swapaxes(xp, 0, 1)
    if xs.shape[0] == 0:
        return _empty(xs, carry, time_major)
    fm = _feature_major(feature_major, xs.shape[1], w_hh.shape[1], mixed(w_hh))
    opts = Options(cell, fused, unroll, feature_major=fm)
    ys, carry = _scan(opts, None, None, w_hh, b_hh, xs, carry, lengths)
    return (ys if time_major else jnp.swapaxes(ys, 0, 1)), carry


def lookup_pays(vocab: int, batch: int, steps: int) -> bool:
    """Whether ``layer_lookup`` is the cheaper first layer for ``vocab`` token types in a
    ``[batch, steps]`` batch: a table of at most as many rows as tokens (its product costs
    no more than projecting each token), and one loop over the whole batch (``layer`` splits
    a batch of 64 or more into ``batch_groups`` loops, which the lookup does not)."""
    return 0 < vocab <= batch * steps and _batch_groups(batch, None) == 1


def layer_lookup(cell: str, params: CellParams, embed: Array, ids: Array,
                 lengths: Array | None, carry: Carry) -> tuple[Array, Carry]:  # fmt: skip
    """``layer(cell, params, embed[ids], lengths, carry, time_major=True)`` for token ids
    ``ids [T, B]`` (in range) and an embedding table ``embed [V, D]``, the input projection
    made once per token type: ``table = embed @ w_ih.T + b_ih`` (``[V, G*H]``); each forward
    step reads its tokens' rows, each backward step adds its gate gradients ``dz [B, G*H]``
    into theirs (the table's gradient, carried by the loop), so no ``[T*B, D] @ [D, G*H]``
    product runs, nor its two gradients. Same numbers up to rounding. Returns
    ``(outputs [T, B, H], final carry)``."""
    _check(cell)
    if ids.shape[0] == 0:
        return _empty(ids, carry, True)
    table = mm(embed, params.w_ih.T)
    if params.b_ih is not None:
        table = table + params.b_ih
    fm = _feature_major(None, ids.shape[1], params.w_hh.shape[1], mixed(params.w_hh))
    opts = Options(cell, feature_major=fm, lookup=True)
    return _scan(opts, table, None, params.w_hh, params.b_hh, ids, carry, lengths)


def _batch_groups(batch: int, batch_groups: int | None) -> int:
    """How many loops ``layer`` runs over batch slices: ``batch_groups`` (None: 2 for
    ``B >= 64``, else 1), and 1 unless it divides ``batch``."""
    if batch_groups is None:
        batch_groups = 2 if batch >= 64 else 1
    return 1 if batch_groups <= 1 or batch % batch_groups else batch_groups


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
    batch_groups: int | None = None,
    transpose_dz: bool | None = None,
    chunk: int = 0,
    time_major: bool = False,
    feature_major: bool | None = None,
) -> tuple[Array, Carry]:
    """One direction of a recurrent layer over raw inputs, hand-written VJP.

    Args:
      cell: a registered cell with a hand-written VJP (``rnn``, ``rnn_relu``, ``lstm``,
        ``gru``; ``jaxrnn.nn.cells``).
      params: ``CellParams`` (``w_ih [G*H, D]``, ``w_hh [G*H, H]``, biases ``[G*H]`` or None).
      x: ``[B, T, D]`` (``[T, B, D]`` if ``time_major``).
      lengths: ``[B]`` or None.
      carry: initial ``h [B, H]`` (``LSTMState(h, c)`` for lstm).
      hoist: project all inputs before the loop (one matmul) instead of per step.
      fused: one ``G*H``-wide recurrent matmul per step instead of ``G`` per gate.
      unroll: ``lax.scan`` unroll factor of both loops.
      batch_groups: run this many independent loops over equal batch slices (ignored
        unless it divides ``B``); their weight gradients are summed. None: 2 for
        ``B >= 64``, else 1.
      transpose_dz: copy the gate gradients to ``[G*H, T*B]`` before the weight-gradient
        matmuls (None: when they have at most ``TRANSPOSE_DZ_MAX`` elements).
      chunk: C > 0 runs both loops in chunks of C steps, only as many as the longest of
        ``lengths`` needs (a runtime count: a batch of short sequences padded to a long
        ``T`` costs about its own length); 0 runs all ``T`` steps.
      feature_major: each step's recurrent matmul as ``(w_hh @ h.T).T`` (None: for a hidden
        size of at least ``FEATURE_MAJOR_MIN_HIDDEN`` and at most ``FEATURE_MAJOR_MAX_BATCH``
        rows per loop, where it measured faster; same numbers up to rounding).

    Returns:
      ``(outputs [B, T, H] (time-major if asked), final carry)``.
    """
    _check(cell)
    xs = x if time_major else jnp.swapaxes(x, 0, 1)  # [T, B, D]: transpose the narrow side
    if xs.shape[0] == 0:
        return _empty(xs, carry, time_major)
    p = params
    batch = xs.shape[1]
    batch_groups = _batch_groups(batch, batch_groups)
    fm = _feature_major(feature_major, batch // batch_groups, p.w_hh.shape[1], mixed(p.w_hh))
    opts = Options(cell, fused, unroll, hoist, transpose_dz, chunk, fm)
    if batch_groups == 1:
        ys, carry = _scan(opts, p.w_ih, p.b_ih, p.w_hh, p.b_hh, xs, carry, lengths)
    else:  # independent loops over batch slices. XLA:CPU (jax 0.10) runs them one after
        # the other (their buffers share memory, so they depend on each other), yet at
        # B = 64 the two half-batch loops measured 0.91x the time of one whole-batch loop.
        outs = []
        for k in range(batch_groups):
            sl = slice(k * batch // batch_groups, (k + 1) * batch // batch_groups)
            c = jax.tree.map(lambda a, sl=sl: a[sl], carry)
            n = None if lengths is None else lengths[sl]
            outs.append(_scan(opts, p.w_ih, p.b_ih, p.w_hh, p.b_hh, xs[:, sl], c, n))
        ys = jnp.concatenate([o[0] for o in outs], axis=1)
        carry = jax.tree.map(lambda *a: jnp.concatenate(a, axis=0), *[o[1] for o in outs])
    return (ys if time_major else jnp.swapaxes(ys, 0, 1)), carry


def _empty(xs: Array, carry: Carry, time_major: bool) -> tuple[Array, Carry]:
    """``T = 0``: no outputs, the carry unchanged."""
    h = carry.h if isinstance(carry, LSTMState) else carry
    ys = jnp.zeros((0, *h.shape), h.dtype)
    return (ys if time_major else jnp.swapaxes(ys, 0, 1)), carry


def _check(cell: str) -> None:
    """ValueError for an unknown cell or one without a hand-written VJP."""
    _vjp(cell)
