"""Run planning: compile options, seed groups, the device plan, and how epochs are chunked.

Everything here decides *how* a run is compiled and laid out; none of it changes what
is computed (the tests check that every choice gives the same numbers).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxrnn.errors import ConfigError
from jaxrnn.runs.config import MODEL_CELLS, TrainConfig
from jaxrnn.runs.prepare import Prepared
from jaxrnn.runs.registry import task_info
from jaxrnn.weights.layout import num_gates

# Multiply-adds per second that a 2-core CPU sustains on these small recurrent programs,
# forward and backward together (measured 2-8e9 on the presets; the low end, so that
# "auto" compiles fast only when the run is surely short).
_CPU_MACS_PER_S = 2e9
_FAST_COMPILE_BELOW_S = 0.25

# ``--compile fast``: XLA backend optimisation level 0 and, on CPU, the classic loop
# emitters instead of XLA:CPU's MLIR fusion emitters. `benchmarks/compile_time.py` (training
# program, T 15, 2 cores): level 0 alone compiles in 0.60-0.74x the default's time, both
# together in 0.28-0.31x for the one-layer presets (LSTM 1.48 -> 0.41 s, SimpleRNN 1.02 ->
# 0.32 s) and 0.61x for the 3-layer BiLSTM; epochs run 2.6-3.7x slower.
FAST_COMPILE_OPTIONS: dict[str, Any] = {
    "xla_backend_optimization_level": 0,
    "xla_cpu_use_fusion_emitters": False,
}

# Multiply-adds per training step above which, on CPU, one seed keeps the cores busy and
# vmapping seeds only adds batched-matmul and select overhead (measured: 128 LSTM seeds
# vmapped took 1.65x as long as one after another; the per-sample RNN 5.8x).
_SEQUENTIAL_SEEDS_ABOVE_MACS = 5e4


def on_cpu() -> bool:
    """Whether JAX's default devices are CPUs."""
    return jax.devices()[0].platform == "cpu"


def macs_per_token(cfg: TrainConfig) -> int:
    """Forward multiply-adds of the recurrent and input matmuls for one token of one
    example: ``sum over layers of directions * gates * H * (D_in + H)``."""
    cell, bidirectional = MODEL_CELLS[cfg.model]
    gates, dirs = num_gates(cell), 2 if bidirectional else 1
    d = cfg.embed_dim if cfg.model != "rnn" else 0  # one-hot inputs: a column gather
    per_token = 0
    for layer in range(cfg.layers):
        d_in = d if layer == 0 else dirs * cfg.hidden
        per_token += dirs * gates * cfg.hidden * (d_in + cfg.hidden)
    return per_token


def training_macs(cfg: TrainConfig, data: Prepared, seeds: int = 1) -> float:
    """Rough multiply-adds of the forward passes of a whole training run (all seeds):
    ``epochs * tokens * macs_per_token`` (tokens: the size of the training split's first
    array, ``ids [N, T]`` for text)."""
    tokens = np.asarray(data.train[0]).size
    return float(cfg.epochs) * tokens * macs_per_token(cfg) * seeds


def compiler_options(
    cfg: TrainConfig, data: Prepared, seeds: int = 1, checkpointed: bool = False
) -> dict[str, Any]:
    """XLA options for the training program: ``FAST_COMPILE_OPTIONS`` for ``fast`` (and
    ``auto`` for a short run on CPU that writes no checkpoint: compile time dominates it),
    none for ``full``.

    ``checkpointed``: the run saves checkpoints (or is a resumed one). ``auto`` then compiles
    in full whatever the run's length: a checkpoint may be resumed into a longer run, and
    the resumed run must compute the bits of the uninterrupted one, which a differently
    optimised program does not do in float32."""
    mode = cfg.compile_mode
    if mode == "auto":
        short = training_macs(cfg, data, seeds) / _CPU_MACS_PER_S < _FAST_COMPILE_BELOW_S
        short = short and not checkpointed
        mode = "fast" if short and on_cpu() else "full"
    if mode != "fast":
        return {}
    if not on_cpu():
        return {"xla_backend_optimization_level": 0}
    return dict(FAST_COMPILE_OPTIONS)


def compile_with(lowered: Any, options: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """``lowered.compile(options)``; an option this jaxlib does not know ("No such compile
    option") is dropped and the compile retried. Returns ``(compiled, options used)``."""
    while True:
        try:
            return lowered.compile(options or None), options
        except Exception as e:  # JaxRuntimeError: INVALID_ARGUMENT
            unknown = [k for k in options if f"No such compile option: '{k}'" in str(e)]
            if not unknown:
                raise
            options = {k: v for k, v in options.items() if k not in unknown}


def uses_fast_loop(cfg: TrainConfig) -> bool:
    """The study RNN with per-sample SGD runs ``jaxrnn.training.per_sample_sgd`` unless
    ``loop="generic"`` (or a validation split or weight decay asks for what only the generic
    loop does)."""
    return (task_info(cfg).fast_loop and cfg.loop == "auto" and cfg.model == "rnn"
            and cfg.optimizer == "sgd" and cfg.batch_size == 1 and not cfg.val_fraction
            and not cfg.weight_decay)  # fmt: skip


class Parallel(NamedTuple):
    """How a run uses several devices: a 1-D mesh named ``"data"``."""

    mesh: Any  # jax.sharding.Mesh
    axis: str  # "batch": split each batch (one model); "seed": split the seeds
    sharded: Any  # NamedSharding(mesh, P("data")): leading axis split over devices
    replicated: Any  # NamedSharding(mesh, P()): a full copy on every device

    @property
    def size(self) -> int:
        return self.mesh.size


def seed_group(cfg: TrainConfig, num_seeds: int, parallel: Parallel | None = None) -> int:
    """How many seeds one vmapped group trains (``num_seeds`` = all at once)."""
    if cfg.seed_group:
        return min(cfg.seed_group, num_seeds)
    if parallel is not None or not on_cpu():
        return num_seeds  # seeds sharded over devices / an accelerator: vmap them all
    if uses_fast_loop(cfg):  # per-sample loops of data-dependent length: vmap runs the longest
        return 1
    per_step = cfg.batch_size * macs_per_token(cfg)
    return 1 if per_step >= _SEQUENTIAL_SEEDS_ABOVE_MACS else num_seeds


def _split_evenly(devices: list, n: int, all_devices: bool, refusal: str) -> list:
    """The devices among which ``n`` seeds or streams split evenly: with ``--devices 0``
    (``all_devices``) as many as divide ``n``; else all of them, or ``ConfigError``
    (``refusal`` with ``{n}`` and ``{k}``, the device count) where they do not."""
    if all_devices:
        return devices[: max(d for d in range(1, len(devices) + 1) if n % d == 0)]
    if n % len(devices):
        raise ConfigError(refusal.format(n=n, k=len(devices)))
    return devices


def plan_parallel(cfg: TrainConfig, num_seeds: int) -> Parallel | None:
    """Pick the devices and what to split: seeds if several, else the batch. None: one device.

    A single study-RNN run with per-sample SGD cannot be split (one example per step)
    and stays on one device. A language model's streams split evenly: with ``--devices 0``
    (all), as many devices as divide them.
    """
    available = jax.devices()
    if cfg.devices > len(available):
        raise ConfigError(f"--devices {cfg.devices} asked for, but JAX sees {len(available)}")
    devices = available[: cfg.devices or None]
    if num_seeds > 1:
        axis = "seed"
        devices = _split_evenly(devices, num_seeds, not cfg.devices,
                                "--seeds {n} does not split over {k} devices: use a multiple "
                                "of {k} or --devices")  # fmt: skip
    elif uses_fast_loop(cfg):
        return None
    else:
        axis = "batch"
        if task_info(cfg).streams:  # a language model's streams split evenly
            devices = _split_evenly(devices, cfg.batch_size, not cfg.devices,
                                    "--batch-size {n}: the streams do not split evenly over "
                                    "{k} devices; use a multiple of {k}, or --devices")  # fmt: skip
    if len(devices) == 1:
        return None
    mesh = Mesh(np.array(devices), ("data",))
    return Parallel(mesh, axis, NamedSharding(mesh, PartitionSpec("data")),
                    NamedSharding(mesh, PartitionSpec()))  # fmt: skip


# ``--buckets auto``: at most this many buckets; what compiling for buckets costs: the
# chunked loops of every model but the study RNN serve all buckets in one program (a fixed
# cost, set high), the study RNN compiles a training step and an evaluation per bucket (4
# buckets compiled in 10.3 s against 9.6 s for one, 3x128 BiLSTM on the 2-core CPU); and the
# multiply-adds per second the time saved is counted at (the same BiLSTM, batch 32, ran an
# epoch of 12,960 texts x 100 tokens, with its evaluation, at about 6.7e10).
MAX_AUTO_BUCKETS = 8
_COMPILE_S_BUCKETS = 1.0
_COMPILE_S_PER_BUCKET = 1.0
_BUCKET_MACS_PER_S = 5e10


def plan_buckets(cfg: TrainConfig, data: Prepared, group: int = 1,
                 parallel: Parallel | None = None) -> list[int] | None:  # fmt: skip
    """The bucket lengths of a run (``jaxrnn.data.buckets``), or None for one padded length.

    ``--buckets N`` (N >= 2) asks for N; ``auto`` picks 2..``MAX_AUTO_BUCKETS`` where the
    estimated time saved over the run (padded tokens not computed, in the training steps and
    the training split's evaluation) most exceeds what compiling for them costs (once for a
    chunked model, ``_COMPILE_S_PER_BUCKET`` per extra bucket for the study RNN), and
    not with vmapped seeds (per-seed schedules turn the bucket switch into a select that runs
    every bucket). Tasks whose ``TaskInfo.buckets`` is set bucket (``--task classify`` on the
    generic loop, ``--task tag``). The
    last bound is the longest text of any split (the splits share the buckets)."""
    from jaxrnn.data.buckets import bucket_bounds, padded_tokens

    if not task_info(cfg).buckets or uses_fast_loop(cfg) or cfg.buckets in (0, 1):
        return None
    lengths = np.asarray(data.train.lengths)
    if cfg.buckets > 1:
        bounds = bucket_bounds(lengths, cfg.buckets)
    else:
        if group > 1 or (parallel is not None and parallel.axis == "seed"):
            return None
        one = padded_tokens(lengths, [int(np.asarray(data.train.ids).shape[1])])
        per_token_s = 4.0 * macs_per_token(cfg) / _BUCKET_MACS_PER_S  # fwd + bwd, and evaluation
        best, bounds = 0.0, None
        for k in range(2, MAX_AUTO_BUCKETS + 1):
            b = bucket_bounds(lengths, k)
            gain = cfg.epochs * (one - padded_tokens(lengths, b)) * per_token_s
            per_bucket = _COMPILE_S_PER_BUCKET if cfg.model == "rnn" else 0.0
            gain -= _COMPILE_S_BUCKETS + (len(b) - 1) * per_bucket
            if gain > best:
                best, bounds = gain, b
        if bounds is None:
            return None
    if len(bounds) < 2:
        return None
    splits = [a for a in (data.train, data.test, data.val) if a is not None]
    bounds[-1] = max(max(int(np.max(a.lengths, initial=1)) for a in splits), bounds[-1])
    return bounds


# Epochs one call of the training program can run (its buffers' rows); the call's number of
# epochs, at most this, is a runtime argument. A constant, not a function of the run's
# length or logging interval: a different capacity is a different program, and with
# `--compile fast` XLA compiled a capacity of 1 into different float32 arithmetic than 3.
EPOCHS_PER_CALL = 16


def chunk_stops(start: int, epochs: int, log_every: int, save_every: int | None = None,
                capacity: int = EPOCHS_PER_CALL) -> list[int]:  # fmt: skip
    """The epochs after which a chunk of training ends, in order: every multiple of
    ``log_every`` and of ``save_every`` after ``start``, ``epochs``, and more where two
    stops would be more than ``capacity`` apart."""
    every = [log_every] + ([save_every] if save_every else [])
    stops, last = [], start
    for e in range(start + 1, epochs + 1):
        if e == epochs or e - last == capacity or any(e % k == 0 for k in every):
            stops.append(e)
            last = e
    return stops


def uses_shard_map(cfg: TrainConfig, parallel: Parallel | None) -> bool:
    """Whether a batch split over devices (``parallel.axis == "batch"``) goes through
    ``jax.shard_map``: ``--data-parallel shard_map``, or ``auto`` with at least
    the task's ``shard_map_rows`` rows (a language model: streams) per device."""
    if parallel is None or parallel.axis != "batch":
        return False
    if cfg.data_parallel == "auto":
        return cfg.batch_size >= task_info(cfg).shard_map_rows * parallel.size
    return cfg.data_parallel == "shard_map"
