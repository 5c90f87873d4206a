"""The first-order linear recurrence ``h_t = a_t * h_{t-1} + b_t``, sequential and parallel.

When the gates of a recurrent cell depend on the input only (minGRU, minLSTM, LRU; see
``jaxrnn.nn.parallel_cells``), its state update is linear in ``h`` and elementwise, so
all ``T`` states follow from ``(a, b) [B, T, H]`` (real or complex) alone. Pairs compose
associatively: running step 1 then step 2 is the single step ::

    (a1, b1) . (a2, b2) = (a1 a2,  a2 b1 + b2)

so ``lax.associative_scan`` computes every prefix in ``O(log T)`` dependent steps
(``method="associative"``); ``method="sequential"`` is the same recurrence on
``lax.scan`` (the reference, and the streaming step).

Padding (``lengths [B]``): a padded step is the operator's identity ``(a, b) = (1, 0)``,
so the state is held past a sequence's end: the outputs there, and the final state
``h_T = hs[:, -1]``, equal the state after the last valid step. ``reverse=True`` runs
each sequence from its own last valid step back to step 0 (the backward direction of
a bidirectional layer; padding never starts it) by ``jaxrnn.nn.sequence.reverse_padded``
before and after the forward scan; its final state is the state after step 0.

``log_linear_scan`` is the same recurrence for positive ``a, b, h`` in log space, as the
minGRU paper trains (Feng et al. 2024, arXiv:2410.01201, section 3 and appendix):
``log h_t = a*_t + logcumsumexp_{s<=t}(log b_s - a*_s)`` with ``a*_t = sum_{s<=t} log a_s``
(``method="cumsum"``, the paper's), or an associative scan of the log-space operator
``(la1, lb1) . (la2, lb2) = (la1 + la2, logaddexp(la2 + lb1, lb2))`` (``"associative"``).
Numerically (float32 against float64; ``tests/test_parallel_cells.py`` checks it): the
cumsum form subtracts ``a*_t``, which grows like ``t``, so its absolute error in
``log h`` grows like ``eps * |a*_T|``: with ``log a ~ U(-1.2, -0.2)`` it was 1e-5 at
T = 100, 2e-4 at T = 2,000 and 2e-3 at T = 20,000, while the associative and sequential
log-space forms (and ``linear_scan`` itself) stayed below 7e-7 at every length. Both are
exact in float64 to the tests' 1e-10. On accelerators the cells (``jaxrnn.nn.parallel_cells``)
therefore default to ``"associative"``; ``"cumsum"`` is kept as the paper's.

``method="scan"`` is the fast path for CPUs: one time-major ``lax.scan`` of
``h = a * h + b`` (one multiply-add per element, ``unroll=SCAN_UNROLL`` steps per loop
iteration, since XLA:CPU's per-iteration overhead, not the arithmetic, sets a short
loop's time), with a hand-written VJP that is itself one reverse scan of the same form:
``dh_t = g_t + a_{t+1} dh_{t+1}``, ``da_t = dh_t h_{t-1}``, ``db_t = dh_t`` (for complex
values too: JAX's cotangents are transposes, not conjugates). Autodiff of the
associative scan instead keeps every level's slices and concatenations as residuals,
and autodiff of a plain ``lax.scan`` stacks per-step residuals; here the only residuals
are ``a`` and the states. A sequential scan of the real-space recurrence is stable (a
convex combination for minGRU/minLSTM), so the cells use it without the log-space form.
``default_method()`` is the one place that picks a backend's default (CPU: ``"scan"``;
accelerators: ``"associative"``, whose ``O(log T)`` depth is what a wide device wants);
the lead measures the speeds (``benchmarks/parallel.py``).
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
from jax import lax

from jaxrnn.nn._vma import sum_to_primal_type
from jaxrnn.nn.sequence import reverse_padded, time_mask

Array = jax.Array
Method = Literal["associative", "sequential", "scan"]
LogMethod = Literal["cumsum", "associative", "sequential"]

METHODS = ("associative", "sequential", "scan")
LOG_METHODS = ("cumsum", "associative", "sequential")

# log(0) for padded steps' log b. Finite on purpose: logaddexp's derivative at -inf is
# nan, and in the cumsum form the nan would reach log_a through ``log_b - a*``.
LOG_ZERO = -1e30


def combine(x: tuple[Array, Array], y: tuple[Array, Array]) -> tuple[Array, Array]:
    """The associative operator: ``x`` (earlier steps) then ``y`` (later), both ``(a, b)``."""
    a1, b1 = x
    a2, b2 = y
    return a1 * a2, a2 * b1 + b2


def log_combine(x: tuple[Array, Array], y: tuple[Array, Array]) -> tuple[Array, Array]:
    """``combine`` in log space, for positive ``a, b``: ``(log a, log b)`` pairs."""
    la1, lb1 = x
    la2, lb2 = y
    return la1 + la2, jnp.logaddexp(la2 + lb1, lb2)


def logcumsumexp(x: Array, axis: int = 1) -> Array:
    """``log(cumsum(exp(x)))`` along ``axis``, stably, as an associative scan of logaddexp."""
    return lax.associative_scan(jnp.logaddexp, x, axis=axis)


SCAN_UNROLL = 2  # time steps per loop iteration of method="scan" (forward and backward)


def default_method() -> str:
    """The backend's default scan: ``"scan"`` on CPU, ``"associative"`` on accelerators."""
    return "scan" if jax.default_backend() == "cpu" else "associative"


def resolve_method(method: str) -> str:
    """``"auto"`` -> ``default_method()``; any other name is returned as given."""
    return default_method() if method == "auto" else method


def _tm_scan(a: Array, b: Array, reverse: bool = False) -> Array:
    """States of ``h_t = a_t h_{t-1} + b_t`` from ``h = 0``, time-major ``[T, B, H]``."""

    def body(h, ab):
        h = ab[0] * h + ab[1]
        return h, h

    _, hs = lax.scan(body, jnp.zeros_like(b[0]), (a, b), reverse=reverse, unroll=SCAN_UNROLL)
    return hs


@jax.custom_vjp
def scan_tm(a: Array, b: Array) -> Array:
    """``method="scan"``'s core: all states ``[T, B, H]`` of ``h_t = a_t h_{t-1} + b_t`` from
    ``h_{-1} = 0``, for time-major ``a, b [T, B, H]`` (same shape), with a one-scan VJP."""
    return _tm_scan(a, b)


def _scan_tm_fwd(a: Array, b: Array) -> tuple[Array, tuple[Array, Array, Array]]:
    hs = _tm_scan(a, b)
    # b[:0]: no data, only b's type (the shard_map axes it varies over) for the backward
    return hs, (a, hs, b[:0])


def _scan_tm_bwd(res: tuple[Array, Array, Array], g: Array) -> tuple[Array, Array]:
    a, hs, b_type = res
    # dh_t = g_t + a_{t+1} dh_{t+1}: the same recurrence, run backwards in time.
    a_next = jnp.concatenate([a[1:], jnp.zeros_like(a[:1])], axis=0)
    dh = _tm_scan(a_next, g, reverse=True)
    h_prev = jnp.concatenate([jnp.zeros_like(hs[:1]), hs[:-1]], axis=0)
    # inside shard_map an ``a`` made from replicated weights alone (an LRU without padding)
    # does not vary over the devices while ``dh`` does: its gradient is the devices' sum
    return sum_to_primal_type((dh * h_prev, dh), (a, b_type))


scan_tm.defvjp(_scan_tm_fwd, _scan_tm_bwd)


def _check(method: str, allowed: tuple[str, ...]) -> None:
    if method not in allowed:
        raise ValueError(f"method must be one of {allowed}, got {method!r}")


def _mask(lengths: Array | None, shape: tuple[int, ...]) -> Array | None:
    """``[B, T, 1]`` bool, True on valid steps (None: all valid)."""
    if lengths is None:
        return None
    return time_mask(jnp.asarray(lengths), shape[1])[..., None]


def _seq_scan(op, a: Array, b: Array) -> Array:
    """Prefix combination of ``(a, b) [B, T, H]`` by ``op`` on ``lax.scan``: the ``b`` part."""

    def body(carry, ab):
        carry = op(carry, ab)
        return carry, carry[1]

    a_tm, b_tm = jnp.swapaxes(a, 0, 1), jnp.swapaxes(b, 0, 1)
    _, hs = lax.scan(body, (a_tm[0], b_tm[0]), (a_tm[1:], b_tm[1:]))
    return jnp.swapaxes(jnp.concatenate([b_tm[:1], hs], axis=0), 0, 1)


def linear_scan(
    a: Array,
    b: Array,
    h0: Array | float = 0.0,
    lengths: Array | None = None,
    reverse: bool = False,
    method: Method = "associative",
) -> tuple[Array, Array]:
    """All states of ``h_t = a_t * h_{t-1} + b_t``.

    Args:
      a, b: ``[B, T, H]``, real or complex (``a`` may broadcast against ``b``, e.g. ``[H]``).
      h0: the state before step 0, ``[B, H]`` (or anything broadcasting to it).
      lengths: ``[B]`` valid steps per sequence (None: all ``T``).
      reverse: run each sequence from its last valid step backwards.
      method: ``"associative"`` (``lax.associative_scan``), ``"sequential"`` (``lax.scan``
        of the associative operator, the reference) or ``"scan"`` (the CPU fast path:
        ``scan_tm``, one time-major scan each way with a custom VJP); ``"auto"``:
        ``default_method()``.

    Returns:
      ``(hs [B, T, H], h_T [B, H])``: ``hs[:, t]`` is the state after step ``t`` (in the
      original time order when ``reverse``); padded steps hold the last valid state, and
      ``h_T`` is the state after the last step taken.
    """
    method = resolve_method(method)
    _check(method, METHODS)
    a, b = jnp.broadcast_arrays(a, b)
    if reverse:
        a, b = reverse_padded(a, lengths), reverse_padded(b, lengths)
    mask = _mask(lengths, b.shape)
    if mask is not None:  # padded steps are the identity (1, 0): the state is held
        a = jnp.where(mask, a, jnp.ones_like(a))
        b = jnp.where(mask, b, jnp.zeros_like(b))
    # Fold h0 into step 0, so the scan needs no initial element.
    b = b.at[:, 0].add(a[:, 0] * h0)
    if method == "associative":
        hs = lax.associative_scan(combine, (a, b), axis=1)[1]
    elif method == "scan":  # one dtype for the carry (e.g. complex a with real b)
        a, b = (v.astype(jnp.result_type(a, b)) for v in (a, b))
        hs = jnp.swapaxes(scan_tm(jnp.swapaxes(a, 0, 1), jnp.swapaxes(b, 0, 1)), 0, 1)
    else:
        hs = _seq_scan(combine, a, b)
    h_last = hs[:, -1]
    if reverse:
        hs = reverse_padded(hs, lengths)
    return hs, h_last


def log_linear_scan(
    log_a: Array,
    log_b: Array,
    log_h0: Array | None = None,
    lengths: Array | None = None,
    reverse: bool = False,
    method: LogMethod = "cumsum",
) -> tuple[Array, Array]:
    """``linear_scan`` for positive ``a, b, h``, in log space: returns logs of the states.

    Args:
      log_a, log_b: ``[B, T, H]`` real (``log_a <= 0`` keeps the state bounded).
      log_h0: ``[B, H]`` log of the state before step 0; None: the state is 0 (the minGRU
        code's default, ``log h_0 = -inf``).
      lengths, reverse: as ``linear_scan`` (padded steps: ``log a = 0``, ``log b = -inf``).
      method: ``"cumsum"`` (the paper's ``a* + logcumsumexp(log b - a*)``),
        ``"associative"`` (the log-space operator on ``lax.associative_scan``), or
        ``"sequential"`` (that operator on ``lax.scan``).

    Returns:
      ``(log_hs [B, T, H], log_h_T [B, H])``, laid out as ``linear_scan``'s.
    """
    _check(method, LOG_METHODS)
    log_a, log_b = jnp.broadcast_arrays(log_a, log_b)
    if reverse:
        log_a, log_b = reverse_padded(log_a, lengths), reverse_padded(log_b, lengths)
    mask = _mask(lengths, log_b.shape)
    if mask is not None:
        log_a = jnp.where(mask, log_a, jnp.zeros_like(log_a))
        log_b = jnp.where(mask, log_b, jnp.full_like(log_b, LOG_ZERO))
    if log_h0 is not None:
        log_b = log_b.at[:, 0].set(jnp.logaddexp(log_a[:, 0] + log_h0, log_b[:, 0]))
    if method == "cumsum":
        a_star = jnp.cumsum(log_a, axis=1)
        log_hs = a_star + logcumsumexp(log_b - a_star, axis=1)
    elif method == "associative":
        log_hs = lax.associative_scan(log_combine, (log_a, log_b), axis=1)[1]
    else:
        log_hs = _seq_scan(log_combine, log_a, log_b)
    log_last = log_hs[:, -1]
    if reverse:
        log_hs = reverse_padded(log_hs, lengths)
    return log_hs, log_last


def hold_last(x: Array, lengths: Array | None, reverse: bool = False) -> Array:
    """``x [B, T, ...]`` with each padded step replaced by the sequence's last step taken.

    Forward: step ``lengths - 1``; ``reverse``: step 0 (the backward run ends there).
    Zero for a sequence of length 0. Identity when ``lengths`` is None.
    """
    if lengths is None:
        return x
    lengths = jnp.asarray(lengths)
    t = jnp.arange(x.shape[1])[None, :]
    last = jnp.zeros_like(lengths) if reverse else jnp.maximum(lengths - 1, 0)
    src = jnp.where(t < lengths[:, None], t, last[:, None])  # [B, T]
    src = src.reshape(src.shape + (1,) * (x.ndim - 2))
    held = jnp.take_along_axis(x, src, axis=1)
    keep = (lengths > 0).reshape((-1,) + (1,) * (x.ndim - 1))
    return jnp.where(keep, held, jnp.zeros_like(held))
