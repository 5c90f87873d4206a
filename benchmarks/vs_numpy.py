"""JAX against the NumPy reference, same math.

Three measurements, each side in the same process run (alternating):

1. **The study's training run** (hidden 128, per-sample SGD at lr 2e-2 with
   element-wise clipping, 500 epochs, bundled data, evaluation of both splits
   after every epoch): ``jaxrnn.scratch.train`` (NumPy, float64 as the study
   ran it) against ``jaxrnn.training.per_sample_sgd`` (JAX, float32). Reported: the whole
   training call including compile, the compile time apart, and the time per
   epoch once compiled (median over repeated compiled calls).
2. **Whole processes**: ``python -m jaxrnn.train --backend numpy`` against
   ``python -m jaxrnn.train`` (everything: interpreter start, imports, data,
   compile, 500 epochs), the JAX one with an empty compilation cache (cold)
   and with a filled one (warm), alternating, median of ``--process-reps``.
3. **Per batch**: forward, and forward + backward, of one tanh RNN layer
   (``jaxrnn.scratch.layers`` with its hand-written BPTT against the jitted
   JAX layer and its ``custom_vjp``) across hidden sizes 32-512 and lengths
   5-200, batch 32, input 32.

4. **Every preset** (``rnn``, ``rnn2``, ``simple_rnn``, ``lstm``, ``gru``, ``bilstm``):
   the NumPy backend (``jaxrnn.runs.numpy_run``: hand-written BPTT and optimizer,
   float64) against the JAX backend (float32, as users run it), per epoch once compiled
   (the same epoch: every training step, then both splits evaluated; JAX: the compiled
   epoch runner ``JaxRun.runner`` at ``--compile full``, median over calls of a chunk of
   epochs; NumPy: median over runs of a few epochs from the same params), and as whole
   ``python -m jaxrnn.train --model M [--backend numpy]`` processes (JAX with an empty
   compilation cache), with each process's final test accuracy (seed 0).

Run: ``python benchmarks/vs_numpy.py [--json PATH] [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# first: the script runs again under the allocator's tunable (_common) before the imports
import _common  # noqa: E402, F401, I001
import numpy as np  # noqa: E402
from _common import QuietCheck  # noqa: E402
from _timing import bench, machine_info, print_table, write_json  # noqa: E402


def study_training(epochs: int, reps: int, quick: bool = False) -> dict:
    """NumPy vs JAX for the study's per-sample SGD run. ``quick``: the per-epoch timing
    runs NumPy one epoch per call, 2 timed calls (else up to 10 epochs, at least 5 calls)."""
    import jax
    import jax.numpy as jnp

    from jaxrnn import runs as T
    from jaxrnn import scratch
    from jaxrnn.training import loop
    from jaxrnn.training import per_sample_sgd as study_sgd

    cfg = T.resolve_config(T.TrainConfig(epochs=epochs))
    data = T.prepare_data(cfg)

    def seqs(a):
        return [a.ids[i, : a.lengths[i]] - 1 for i in range(len(a.lengths))]

    tr, te = seqs(data.train), seqs(data.test)

    def numpy_run():
        p = scratch.init_params(18, 128, 2, 0)
        return scratch.train(p, tr, data.train.labels.tolist(), te, data.test.labels.tolist(),
                             epochs=epochs, lr=cfg.lr, clip=cfg.clip, seed=0)  # fmt: skip

    def jax_run():  # the CLI's path, compile included (no persistent cache in-process)
        return T.fit(cfg)

    # Whole training calls, alternating.
    np_times, jax_times, compile_times = [], [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        _, np_hist = numpy_run()
        np_times.append(time.perf_counter() - t0)
        jax.clear_caches()
        res = jax_run()
        jax_times.append(res.wall_s)
        compile_times.append(res.compile_s)

    # Per epoch once compiled: the same compiled program, called repeatedly.
    chunk = 50 if epochs % 50 == 0 else epochs
    model = T.build_model(cfg, data.tokenizer.vocab_size, 2)
    params = jax.tree.map(lambda a: a[0], T.initial_params(model, cfg, [0]))
    state = loop.init_state(model, T.make_optimizer(cfg), 0, jnp.float32, params)
    run = jax.jit(study_sgd.make_run_epochs(model, cfg.lr, cfg.clip, chunk,
                                            data.train.lengths, data.test.lengths))  # fmt: skip
    train = loop.Arrays(*map(jnp.asarray, data.train))
    test = loop.Arrays(*map(jnp.asarray, data.test))
    orders = jnp.asarray(scratch.shuffle_orders(58, chunk, 0).astype(np.int32))
    compiled = run.lower(state, train, test, orders).compile()
    p = scratch.init_params(18, 128, 2, 0)
    np_epochs = 1 if quick else max(1, min(10, epochs))

    def numpy_epochs():
        scratch.train(p, tr, data.train.labels.tolist(), te, data.test.labels.tolist(),
                      epochs=np_epochs, lr=cfg.lr, clip=cfg.clip, seed=0)  # fmt: skip

    stats = bench({"numpy": numpy_epochs,
                   "jax": lambda: jax.block_until_ready(compiled(state, train, test, orders))},
                  reps=2 if quick else max(5, reps), warmup=1)  # fmt: skip
    np_epoch_ms = stats["numpy"].median_ms / np_epochs
    jax_epoch_ms = stats["jax"].median_ms / chunk
    return {
        "epochs": epochs,
        "numpy_run_s": statistics.median(np_times),
        "jax_run_s": statistics.median(jax_times),
        "jax_compile_s": statistics.median(compile_times),
        "numpy_ms_per_epoch": np_epoch_ms,
        "jax_ms_per_epoch": jax_epoch_ms,
        "speedup_per_epoch": np_epoch_ms / jax_epoch_ms,
        "speedup_whole_run": statistics.median(np_times) / statistics.median(jax_times),
        "numpy_final": np_hist[-1],
        "jax_final": res.final,
    }


def processes(reps: int, epochs: int | None, fill_first: bool = True) -> dict:
    """Whole ``python -m jaxrnn.train`` processes: NumPy vs JAX (cold and warm compile cache).
    ``fill_first`` False (``--quick``): no untimed run fills the warm cache first; the first
    cold run does, in the warm cache's directory (empty until then)."""
    extra = [] if epochs is None else ["--epochs", str(epochs)]
    base = [sys.executable, "-m", "jaxrnn.train", "--quiet", *extra]
    times: dict[str, list[float]] = {"numpy": [], "jax_cold": [], "jax_warm": []}
    with tempfile.TemporaryDirectory() as warm_dir:
        env_warm = dict(os.environ, JAXRNN_CACHE_DIR=warm_dir)
        if fill_first:
            subprocess.run(base, env=env_warm, check=True)  # fill the warm cache
        for _ in range(reps):
            for name in times:
                with tempfile.TemporaryDirectory() as cold_dir:
                    env = dict(os.environ, JAXRNN_CACHE_DIR=cold_dir)
                    cmd = base + (["--backend", "numpy"] if name == "numpy" else [])
                    if name == "jax_warm" or (name == "jax_cold" and not fill_first
                                              and not times["jax_cold"]):  # fmt: skip
                        env = env_warm
                    t0 = time.perf_counter()
                    subprocess.run(cmd, env=env, check=True)
                    times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "reps": reps,
        "seconds": times,
        "median_s": med,
        "speedup_cold": med["numpy"] / med["jax_cold"],
        "speedup_warm": med["numpy"] / med["jax_warm"],
    }


def _bench_layer(h: int, t: int, batch: int, d_in: int, reps: int, rng) -> dict:
    """One (H, T) point of ``per_batch``."""
    import jax
    import jax.numpy as jnp

    import jaxrnn
    from jaxrnn.scratch import layers as sl

    layer = jaxrnn.rnn(h)
    params = layer.init(jax.random.key(0), d_in)
    np_params = jax.tree.map(np.asarray, params)
    x = rng.normal(size=(batch, t, d_in)).astype(np.float32)
    lens = rng.integers(1, t + 1, size=batch).astype(np.int32)
    xj, lj = jnp.asarray(x), jnp.asarray(lens)
    fwd = jax.jit(lambda p, x, n: layer.apply(p, x, n)[0])
    grad = jax.jit(jax.grad(lambda p, x, n: jnp.sum(layer.apply(p, x, n)[0]), (0, 1)))
    ones = np.ones((batch, t, h), np.float32)

    def np_fwd():
        return sl.layer_forward("rnn", np_params, x, lens)

    def np_fwd_bwd():
        _, _, cache = sl.layer_forward("rnn", np_params, x, lens)
        return sl.layer_backward("rnn", np_params, cache, ones, None)

    s = bench({
        "numpy_fwd": np_fwd,
        "jax_fwd": lambda: jax.block_until_ready(fwd(params, xj, lj)),
        "numpy_fwd_bwd": np_fwd_bwd,
        "jax_fwd_bwd": lambda: jax.block_until_ready(grad(params, xj, lj)),
    }, reps=reps, warmup=2)  # fmt: skip
    med = {k: v.median_ms for k, v in s.items()}
    return {
        "H": h, "T": t,
        "numpy_fwd_ms": med["numpy_fwd"], "jax_fwd_ms": med["jax_fwd"],
        "fwd_speedup": med["numpy_fwd"] / med["jax_fwd"],
        "numpy_fwd_bwd_ms": med["numpy_fwd_bwd"], "jax_fwd_bwd_ms": med["jax_fwd_bwd"],
        "fwd_bwd_speedup": med["numpy_fwd_bwd"] / med["jax_fwd_bwd"],
    }  # fmt: skip


def per_batch(hiddens: list[int], lengths: list[int], reps: int) -> list[dict]:
    """One tanh RNN layer, forward and forward+backward, NumPy reference vs jitted JAX."""
    rng = np.random.default_rng(0)
    return [_bench_layer(h, t, 32, 32, reps, rng) for h in hiddens for t in lengths]


PRESET_MODELS = ("rnn", "rnn2", "simple_rnn", "lstm", "gru", "bilstm")
# Epochs per NumPy timing run and per compiled JAX call: a few seconds of work each.
NUMPY_EPOCHS = {"rnn": 10, "rnn2": 3, "simple_rnn": 10, "lstm": 10, "gru": 10, "bilstm": 2}
JAX_CHUNK = {"rnn": 50, "rnn2": 20, "simple_rnn": 10, "lstm": 10, "gru": 10, "bilstm": 10}


def preset_epochs(model: str, reps: int, quick: bool) -> dict:
    """One preset: NumPy vs JAX ms per epoch once compiled (same data, params, orders)."""
    import dataclasses

    import jax

    from jaxrnn.runs import TrainConfig, compile_with, compiler_options, prepare_data
    from jaxrnn.runs import resolve_config as resolve
    from jaxrnn.runs.jax_run import JaxRun
    from jaxrnn.runs.numpy_run import initial_params, train_seed

    cfg = resolve(TrainConfig(model=model, compile_mode="full"))
    data = prepare_data(cfg)
    k = 1 if quick else NUMPY_EPOCHS[model]
    cfg_np = dataclasses.replace(cfg, backend="numpy", epochs=k)
    params = initial_params(cfg_np, data, 0)
    chunk = 1 if quick else JAX_CHUNK[model]
    run = JaxRun(dataclasses.replace(cfg, epochs=chunk), data, [0])
    fn = jax.jit(run.runner(chunk))
    args = (run.state, run.train_arrays, run.test_arrays, run.orders(chunk))
    tc = time.perf_counter()
    compiled, _ = compile_with(fn.lower(*args), compiler_options(run.cfg, data))
    compile_s = time.perf_counter() - tc
    stats = bench({"numpy": lambda: train_seed(cfg_np, data, 0, params=params),
                   "jax": lambda: jax.block_until_ready(compiled(*args))},
                  reps=reps, warmup=1)  # fmt: skip
    np_ms, jax_ms = stats["numpy"].median_ms / k, stats["jax"].median_ms / chunk
    return {"model": model, "numpy_ms_per_epoch": np_ms, "jax_ms_per_epoch": jax_ms,
            "speedup_per_epoch": np_ms / jax_ms, "jax_compile_s": compile_s,
            "numpy_epochs_timed": k, "jax_epochs_per_call": chunk}  # fmt: skip


def preset_processes(model: str, epochs: int | None) -> dict:
    """Whole processes of one preset, NumPy then JAX (empty compile cache): seconds and the
    final test accuracy each reports (seed 0)."""
    import json

    out: dict = {"model": model}
    extra = [] if epochs is None else ["--epochs", str(epochs)]
    for backend in ("numpy", "jax"):
        with tempfile.TemporaryDirectory() as tmp:
            env = dict(os.environ, JAXRNN_CACHE_DIR=os.path.join(tmp, "cache"))
            path = os.path.join(tmp, "r.json")
            cmd = [sys.executable, "-m", "jaxrnn.train", "--model", model, "--backend", backend,
                   "--quiet", "--json", path, *extra]  # fmt: skip
            t0 = time.perf_counter()
            subprocess.run(cmd, env=env, check=True)
            out[f"{backend}_process_s"] = time.perf_counter() - t0
            with open(path) as f:
                r = json.load(f)
            out[f"{backend}_test_acc"] = r["final"]["test_acc"]
            out[f"{backend}_wall_s"] = r["wall_s"]
    out["speedup_process"] = out["numpy_process_s"] / out["jax_process_s"]
    return out


def study_rnn_parts(args: argparse.Namespace, quick: bool, epochs: int) -> tuple:
    """Parts 1-3: the study RNN's run, its processes, one layer per batch."""
    print(f"1. the study's training run: {epochs} epochs, per-sample SGD, hidden 128")
    study = study_training(epochs, reps=1 if quick else 3, quick=quick)
    cols = ["numpy_run_s", "jax_run_s", "jax_compile_s", "speedup_whole_run",
            "numpy_ms_per_epoch", "jax_ms_per_epoch", "speedup_per_epoch"]  # fmt: skip
    print_table([study], cols)
    print(f"   final test acc: numpy {study['numpy_final']['test_acc']:.3f}, "
          f"jax {study['jax_final']['test_acc']:.3f}")  # fmt: skip

    print("\n2. whole `python -m jaxrnn.train` processes (median seconds)")
    procs = processes(1 if quick else args.process_reps, 10 if quick else None, not quick)
    print_table([{**procs["median_s"], "speedup_cold": procs["speedup_cold"],
                  "speedup_warm": procs["speedup_warm"]}],
                ["numpy", "jax_cold", "jax_warm", "speedup_cold", "speedup_warm"])  # fmt: skip

    print("\n3. one tanh RNN layer per batch (B=32, D=32), median ms")
    rows = per_batch([32] if quick else [32, 128, 512], [5] if quick else [5, 50, 200],
                     reps=3 if quick else 10)  # fmt: skip
    print_table(rows, ["H", "T", "numpy_fwd_ms", "jax_fwd_ms", "fwd_speedup",
                       "numpy_fwd_bwd_ms", "jax_fwd_bwd_ms", "fwd_bwd_speedup"])  # fmt: skip
    return study, procs, rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", metavar="PATH", help="write all numbers and machine info here")
    ap.add_argument("--quick", action="store_true", help="tiny sizes and few reps (smoke test)")
    ap.add_argument("--process-reps", type=int, default=3, help="whole-process repetitions")
    ap.add_argument("--presets", default=",".join(PRESET_MODELS),
                    help="comma-separated presets for part 4 (default: all)")
    ap.add_argument("--only-presets", action="store_true", help="run part 4 only")
    args = ap.parse_args(argv)
    quick = args.quick
    epochs = 10 if quick else 500
    check = QuietCheck()
    t_start = time.perf_counter()

    study = procs = rows = None
    if not args.only_presets:
        study, procs, rows = study_rnn_parts(args, quick, epochs)
    # --quick: one preset, the cheapest to compile (every preset takes the same path here)
    models = ["rnn"] if quick else args.presets.split(",")
    print("\n4. every preset: NumPy (float64) vs JAX (float32), ms per epoch once compiled")
    preset_rows = [preset_epochs(m, reps=2 if quick else 5, quick=quick) for m in models]
    print_table(preset_rows, ["model", "numpy_ms_per_epoch", "jax_ms_per_epoch",
                              "speedup_per_epoch", "jax_compile_s"])  # fmt: skip
    print("\n   whole `python -m jaxrnn.train --model M [--backend numpy]` processes, seed 0")
    proc_rows = [preset_processes(m, 1 if quick else None) for m in models]
    print_table(proc_rows, ["model", "numpy_process_s", "jax_process_s", "speedup_process",
                            "numpy_test_acc", "jax_test_acc"])  # fmt: skip
    payload = check.stamp({"machine": machine_info(), "study_training": study,
                           "processes": procs, "per_batch": rows, "quick": quick,
                           "presets": {"per_epoch": preset_rows, "processes": proc_rows},
                           "script_wall_s": time.perf_counter() - t_start})  # fmt: skip
    if args.json:
        write_json(args.json, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
