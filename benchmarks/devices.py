"""Data-parallel training: time per step against the number of devices (batch and seed axes).

    python benchmarks/devices.py [--json PATH] [--quick] [--models simple_rnn,lstm,bilstm]
                                 [--devices 1,2,4,8] [--seeds S] [--host-devices 8]

``jaxrnn.runs`` spreads training over a 1-D mesh of devices (``TrainConfig(devices=N)``,
``plan_parallel``): one model with each batch split over the devices (``batch``
axis; XLA all-reduces the gradients), or several seeds split over them
(``seed`` axis). For each model (presets, bundled data, batch 8) and N in
``--devices`` (capped at what JAX sees):

* ``batch``: one seed, ``devices=N`` (XLA partitions the step: ``--data-parallel xla``);
* ``batch_shard_map``: the same with ``--data-parallel shard_map`` (each device runs the
  step on its slice of the batch);
* ``seed``: ``--seeds`` seeds (default 8; a multiple of every N), ``devices=N``.

``--batch-size`` and ``--max-len`` override the preset (e.g. 64 and 50 for a larger
step than the presets' 4-32 sentences of 15 tokens).

Each case compiles the program ``fit`` runs (one epoch per call: the training
steps, then the evaluation of both splits) and times calls of it, all device
counts of a model and axis alternating in one process, median of ``--reps``
after warm-up; ``step ms`` = epoch time / steps per epoch (so it carries the
evaluation too). Compile time is reported apart.

On CPU the script asks XLA for ``--host-devices`` (default 8) *simulated*
devices (``XLA_FLAGS=--xla_force_host_platform_device_count``, set before JAX
is imported unless XLA_FLAGS already sets it). They share the machine's cores,
so on CPU this measures the overhead of partitioning and collectives, not a
speed-up. Asking for simulated devices slows even a 1-device program, so full
runs repeat the 1-device cases in a child process with one CPU device
(``plain_process_1_device``; ``--no-baseline`` skips it). On a machine with
several GPUs the same command uses them (the flag only affects the CPU
platform) and the numbers are real scaling.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    FLAG,
    Program,
    QuietCheck,
    finish,
    force_host_devices,
    header,
    parser,
    sentiment_data,
    table,
)
from _timing import bench  # noqa: E402

MODELS = ("simple_rnn", "lstm", "bilstm")
DEVICES = (1, 2, 4, 8)


AXES = ("batch", "batch_shard_map", "seed")


def run_case(
    model: str, axis: str, ns: list[int], seeds: int, reps: int, overrides: dict[str, Any],
    shared: dict | None = None,
) -> dict[str, Any]:
    """``shared`` (``--quick``): programs by configuration, reused across axes (the
    ``batch_shard_map`` axis's 1-device program is the ``batch`` axis's: no split)."""
    progs: dict[str, Program] = {}
    info: dict[str, dict[str, Any]] = {}
    one_model = axis != "seed"
    for n in ns:
        split = {"data_parallel": "shard_map"} if axis == "batch_shard_map" and n > 1 else {}
        num_seeds = 1 if one_model else seeds
        conf = (model, n, tuple(split.items()), num_seeds)
        if shared is not None and conf in shared:
            p = shared[conf]
        else:
            cfg, data = sentiment_data(model, devices=n, **overrides, **split)
            p = Program(cfg, data, num_seeds=num_seeds).compile()
            p()
            if shared is not None:
                shared[conf] = p
        key = f"{n}"
        progs[key] = p
        info[key] = {
            "devices": p.devices,
            "parallel": p.parallel_axis,
            "compile_s": p.times["compile_s"],
            "lower_s": p.times["lower_s"],
            "fusions": p.times["fusions"],
            "steps_per_epoch": p.steps_per_epoch(),
        }
    stats = bench(progs, reps=reps, warmup=2)
    base = stats[str(ns[0])].median_ms
    rows = []
    for key, s in stats.items():
        d = info[key]
        rows.append({
            "model": model, "axis": axis, "devices": d["devices"], "parallel": d["parallel"],
            "seeds": 1 if one_model else seeds, "epoch_ms": s.median_ms,
            "step_ms": s.median_ms / d["steps_per_epoch"], "vs_1_device": s.median_ms / base,
            "compile_s": d["compile_s"], "fusions": d["fusions"], "epoch_samples_ms": s.samples_ms,
        })  # fmt: skip
    return {"model": model, "axis": axis, "rows": rows}


def _plain_baseline(args: Any, models: list[str], reps: int) -> list[dict[str, Any]] | None:
    """The 1-device cases again in a child process with one CPU device (no simulated ones):
    asking XLA for 8 host devices slows a 1-device program by itself (~20% seen)."""
    import json
    import subprocess
    import tempfile

    print("\n=== 1 device in a process without simulated devices (baseline) ===", flush=True)
    env = dict(os.environ)
    env["XLA_FLAGS"] = " ".join(
        f for f in env.get("XLA_FLAGS", "").split() if FLAG not in f
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "plain.json")
        cmd = [sys.executable, os.path.abspath(__file__), "--host-devices", "1", "--devices", "1",
               "--models", ",".join(models), "--seeds", str(args.seeds), "--reps", str(reps),
               "--no-baseline", "--json", out]  # fmt: skip
        if subprocess.run(cmd, env=env, check=False).returncode != 0 or not os.path.exists(out):
            return None
        with open(out) as f:
            return [row for r in json.load(f)["results"] for row in r["rows"]]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = parser(__doc__)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--devices", default=",".join(map(str, DEVICES)), help="device counts N")
    ap.add_argument("--seeds", type=int, default=8, help="seeds for the seed axis")
    ap.add_argument("--host-devices", type=int, default=8, help="simulated CPU devices")
    ap.add_argument("--reps", type=int, default=None, help="timed calls per case (default 10)")
    ap.add_argument("--axes", default=",".join(AXES), help="of " + ",".join(AXES))
    ap.add_argument("--batch-size", type=int, default=None, help="override the preset's batch")
    ap.add_argument("--max-len", type=int, default=None, help="pad the texts to this length")
    ap.add_argument("--no-baseline", action="store_true",
                    help="no 1-device baseline in a process without simulated devices")  # fmt: skip
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    check = QuietCheck()
    force_host_devices(args.host_devices)
    import jax

    info = header()
    platform = jax.devices()[0].platform
    available = len(jax.devices())
    info["platform"] = platform
    info["device_count"] = available
    models = [m for m in args.models.split(",") if m]
    ns = sorted({int(x) for x in args.devices.split(",") if int(x) <= available} | {1})
    seeds, reps = args.seeds, args.reps or 10
    if args.quick:
        models, ns, seeds, reps = models[:1], [n for n in ns if n <= 2], 2, args.reps or 3
    ns = [n for n in ns if seeds % n == 0] if ns else [1]
    simulated = platform == "cpu" and available > 1
    note = (
        f"NOTE: {available} simulated CPU devices sharing {os.cpu_count()} cores: this shows "
        "the overhead of splitting, not a speed-up."
        if simulated
        else f"{available} {platform} device(s)."
    )
    print(note, flush=True)
    results = []
    axes = [a for a in args.axes.split(",") if a]
    overrides: dict[str, Any] = {}
    if args.batch_size:
        overrides["batch_size"] = args.batch_size
    if args.max_len:
        overrides["max_len"] = args.max_len
    shared: dict | None = {} if args.quick else None  # --quick: one program per configuration
    for m in models:
        for axis in axes:
            print(f"... {m}, {axis} axis, devices {ns}", flush=True)
            results.append(run_case(m, axis, ns, seeds, reps, overrides, shared))
    rows = [r for res in results for r in res["rows"]]
    table(
        f"one epoch per call, medians of {reps}; step = epoch / steps (includes evaluation). "
        + ("Simulated devices: overhead, not speed-up." if simulated else ""),
        rows,
        ["model", "axis", "devices", "seeds", "epoch_ms", "step_ms", "vs_1_device", "compile_s"],
    )
    plain = None
    if simulated and not args.quick and not args.no_baseline:
        plain = _plain_baseline(args, models, reps)
    payload = {
        "machine": info,
        "plain_process_1_device": plain,
        "simulated_devices": simulated,
        "note": note,
        "reps": reps,
        "seeds": seeds,
        "device_counts": ns,
        "overrides": overrides,
        "results": results,
    }
    return finish(args, payload, t0, check)


if __name__ == "__main__":
    main()
