"""A run's peak memory, estimated before anything is compiled, and the check that it fits.

The training program's memory is dominated by what the backward pass keeps of one batch
(per token, per layer and direction, about ``(G + 4) * H`` floats: the gates, the cell and
hidden states, the layer's output) and by the largest evaluation batch (per token about
``4 * directions * H`` floats: one layer's buffers, reused by the next), plus the encoded
splits and the per-epoch sample orders. Fitted to XLA's own ``memory_analysis`` of the
compiled program (2-core CPU, BiLSTM 3x128 and 1x64, GRU 1x128 and 1x8, LSTM 1x64, T 50-200,
batch 32-64: the activation estimate was 0.8-1.6x XLA's temporaries); ``tests/test_scale.py``
keeps it within 2x.

A run that does not fit stops before compiling with one line that says how much it needs,
how much there is and the flag to change (``jaxrnn.errors.OutOfMemory``, exit code 2).
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import numpy as np

from jaxrnn.errors import OutOfMemory
from jaxrnn.runs.config import MODEL_CELLS, TrainConfig
from jaxrnn.util.allocator import (  # noqa: F401  (they lived here: still importable)
    ALLOCATOR_ENV,
    ALLOCATOR_POLICIES,
    HUGE_PAGES_TUNABLE,
    allocator_policy,
    huge_pages_env,
    thp_mode,
    use_huge_pages,
)
from jaxrnn.weights.layout import num_gates

# What the process holds besides the program: Python, JAX/XLA's runtime, the texts.
BASE_BYTES = 400e6
# Use at most this share of the memory that is available.
USABLE = 0.9
# The environment variable that sets the available memory in bytes (tests; a shared machine).
LIMIT_ENV = "JAXRNN_MEMORY_LIMIT"


class Estimate(NamedTuple):
    """Bytes of a run's peak memory by part; ``total`` is their sum."""

    train_batch: float  # the backward pass's activations of one training step (all seeds vmapped)
    eval_batch: float  # one evaluation batch's activations
    data: float  # the encoded splits (host and device copies) and the sample orders
    state: float  # params, gradients and optimizer state of every seed
    base: float = BASE_BYTES

    @property
    def total(self) -> float:
        return max(self.train_batch, self.eval_batch) + self.data + self.state + self.base


def _per_token_floats(cfg: TrainConfig) -> tuple[int, int]:
    """``(training, evaluation)`` floats kept per token of one example."""
    cell, bidirectional = MODEL_CELLS[cfg.model]
    g, dirs = num_gates(cell), 2 if bidirectional else 1
    train = cfg.layers * dirs * (g + 4) * cfg.hidden + cfg.embed_dim
    evaluation = 4 * dirs * cfg.hidden + g * cfg.hidden + cfg.embed_dim
    return train, evaluation


def estimate(cfg: TrainConfig, rows: dict[str, int], max_len: int, seeds: int = 1,
             group: int = 1, devices: int = 1, num_params: int = 0) -> Estimate:  # fmt: skip
    """The peak memory of training ``cfg`` on splits of ``rows`` texts (``{"train": N, ...}``)
    padded to ``max_len`` tokens, ``seeds`` seeds of which ``group`` run vmapped at once, each
    batch split over ``devices`` (the per-device figure for the activations)."""
    size = np.dtype(cfg.param_dtype).itemsize
    t = max(1, int(max_len))
    train_f, eval_f = _per_token_floats(cfg)
    batch = -(-cfg.batch_size // devices)
    ev = -(-min(cfg.eval_batch_size, max(rows.values())) // devices)
    n = sum(rows.values())
    # ids twice (NumPy and device copies) + lengths and labels; orders [S, E + 16, N] int32
    data = 2 * 4.0 * n * (t + 2) + 4.0 * seeds * (cfg.epochs + 16) * rows["train"]
    return Estimate(train_batch=float(group) * batch * t * train_f * size,
                    eval_batch=float(group) * ev * t * eval_f * size, data=data,
                    state=6.0 * seeds * num_params * size)  # fmt: skip


def limit_arenas(count: int = 2) -> None:
    """At most ``count`` glibc malloc arenas for the threads started from now on (nothing
    elsewhere). glibc gives each thread that allocates concurrently an arena of its own and
    keeps what is freed in it; XLA's compiler and runtime threads would hold hundreds of MB
    that way. ``python -m jaxrnn.train`` calls this before JAX starts."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-8, int(count))  # -8: M_ARENA_MAX
    except (OSError, AttributeError):  # not glibc
        pass


def release_freed() -> None:
    """Hand the C heap's freed pages back to the system (glibc's ``malloc_trim``; nothing
    elsewhere). Called after compiling: XLA's compiler frees hundreds of MB that glibc
    otherwise keeps in its per-thread arenas for the rest of the process (measured: a
    3x128 BiLSTM's program, 560 MB resident after compiling, 380 MB after the trim)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def available_bytes() -> float | None:
    """Memory this run may use: ``$JAXRNN_MEMORY_LIMIT`` if set, else an accelerator's limit,
    else the host's available memory (``MemAvailable``); None when unknown."""
    if os.environ.get(LIMIT_ENV):
        return float(os.environ[LIMIT_ENV])
    try:
        import jax

        dev = jax.devices()[0]
        if dev.platform != "cpu":
            stats = dev.memory_stats() or {}
            if "bytes_limit" in stats:
                return float(stats["bytes_limit"])
    except Exception:  # no stats on this backend: fall back to the host
        pass
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _gb(x: float) -> str:
    return f"{x / 1e9:.1f} GB" if x >= 1e9 else f"{x / 1e6:.0f} MB"


def _longest_that_fits(cfg: TrainConfig, rows: dict[str, int], max_len: int, budget: float,
                       **kw: Any) -> int:
    """The largest length below ``max_len`` whose estimate is within ``budget`` (0: none).
    A search, not a proportion: the state and the sample orders do not grow with the length
    (a proportion of the total over-promised by the state's share)."""
    lo, hi = 0, max(1, int(max_len)) - 1  # estimate(lo) fits (lo = 0: nothing yet)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if estimate(cfg, rows, mid, **kw).total <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def check(cfg: TrainConfig, rows: dict[str, int], max_len: int, **kw: Any) -> Estimate:
    """``estimate`` and raise ``OutOfMemory`` (one line: what it needs, what there is, and the
    ``--max-len`` or ``--batch-size`` that fits) when it exceeds ``USABLE`` of
    ``available_bytes()``. Returns the estimate."""
    est = estimate(cfg, rows, max_len, **kw)
    have = available_bytes()
    if have is None or est.total <= USABLE * have:
        return est
    budget = USABLE * have
    fits = _longest_that_fits(cfg, rows, max_len, budget, **kw)
    what = (f"training batch {cfg.batch_size} x {max_len} tokens {_gb(est.train_batch)}, "
            f"evaluation batch {_gb(est.eval_batch)}, data {_gb(est.data)}")  # fmt: skip
    # the larger activation term is the one to lower; equal, lowering one alone changes nothing
    if est.eval_batch > est.train_batch:
        batch = "--eval-batch-size"
    elif est.eval_batch < est.train_batch:
        batch = "--batch-size"
    else:
        batch = "--batch-size and --eval-batch-size"
    if fits >= 1:
        fix = f"lower --max-len (--max-len {fits} fits) or {batch}"
    else:
        fix = "lower --batch-size or --eval-batch-size, or use fewer texts"
    raise OutOfMemory(f"this run needs about {_gb(est.total)} of memory ({what}) but "
                      f"{_gb(have)} is available: {fix}")  # fmt: skip
