"""Compile time of jaxrnn's programs per model and sequence length, and XLA's optimization level.

    python benchmarks/compile_time.py [--json PATH] [--quick] [--models rnn,simple_rnn,...]
                                      [--lengths 15,50,200] [--reps R] [--level-models ...]

Part 1, per model (``rnn``, ``simple_rnn``, ``lstm``, ``gru``, ``bilstm``, presets) and
padded length T (the bundled data padded to ``--lengths``), two programs as
``jaxrnn.runs.fit`` builds them:

* ``train``: one epoch of training plus the evaluation of both splits
  (``make_run``, what fit compiles; ``rnn`` takes its per-sample SGD fast path);
* ``predict``: forward only, class probabilities for the 20 test sentences
  (the function ``jaxrnn.cli.predict.Predictor`` jits);
and, apart, ``init_state_s``: the wall time of ``jaxrnn.training.loop.init_state`` (params
from the Keras-style initialisers, optimizer state), which fit also runs (built
on the host in NumPy since 39bfd83; before that, one more jitted program).

Each is staged by hand, ``jax.jit(f).trace(...)`` -> ``.lower()`` -> ``.compile()``,
and the three stages are timed apart; medians of ``--reps`` fresh builds (a new
``jax.jit`` each time, JAX's persistent cache switched off, so nothing is reused).
``fusions`` counts the fused kernels of the optimized program: XLA:CPU generates
code for each with LLVM, and its compile time grows with that count.

Part 2, for ``--level-models`` at T = 15: the training program compiled with
``xla_backend_optimization_level`` 0 (and additionally with
``xla_llvm_disable_expensive_passes``), without XLA:CPU's fusion emitters
(``xla_cpu_use_fusion_emitters=False``: the classic loop emitters), and with
both level 0 and no fusion emitters (``fast``: what ``--compile fast`` uses)
against the default, passed per compile
as ``Lowered.compile(compiler_options)``: compile time, the compiled epoch's run
time (alternating, median of >= 10), and what a 10-epoch ``fit`` would spend on
the two together.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    XLA_OPTION_SETS,
    Program,
    QuietCheck,
    count_fusions,
    finish,
    header,
    parser,
    sentiment_data,
    staged_compile,
    table,
)
from _timing import bench  # noqa: E402

MODELS = ("rnn", "simple_rnn", "lstm", "gru", "bilstm")
LENGTHS = (15, 50, 200)
LEVEL_MODELS = ("simple_rnn", "lstm", "bilstm")
STAGES = ("trace_s", "lower_s", "compile_s")


def _predict_fn(model: Any):
    from jaxrnn.training import loop

    def probs(params, ids, lengths):
        return loop.probabilities(model.apply(params, ids, lengths))

    return probs


def _median_stages(samples: list[dict[str, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {k: statistics.median(s[k] for s in samples) for k in STAGES}
    out["total_s"] = sum(out[k] for k in STAGES)
    out["samples"] = samples
    return out


def compile_programs(model: str, t: int, reps: int) -> dict[str, Any]:
    """Stage timings of the train and predict programs of ``model`` at length ``t``, and the
    wall time of ``loop.init_state`` (the initial state as fit builds it)."""
    import jax

    from jaxrnn.training import loop

    cfg, data = sentiment_data(model, max_len=t, devices=1)
    prog = Program(cfg, data)
    params = jax.tree.map(lambda a: a[0], prog.session.state.params)  # seed 0 of [S, ...]
    test = prog.session.test_arrays
    m, opt = prog.session.model, prog.session.optimizer
    builds = {
        "train": lambda: (jax.jit(prog.build()), prog.args),
        "predict": lambda: (jax.jit(_predict_fn(m)), (params, test.ids, test.lengths)),
    }
    out: dict[str, Any] = {"model": model, "T": t, "programs": {}}
    for name, build in builds.items():
        samples = []
        fusions = None
        for _ in range(reps):
            fn, args = build()
            compiled, times = staged_compile(fn, args)
            samples.append(times)
            fusions = count_fusions(compiled)
        out["programs"][name] = {**_median_stages(samples), "fusions": fusions}
    init = []
    for seed in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(loop.init_state(m, opt, seed))
        init.append(time.perf_counter() - t0)
    out["init_state_s"] = statistics.median(init)
    return out


def opt_levels(
    model: str, reps: int, run_reps: int, option_sets: dict[str, dict], epochs: int = 10
) -> dict[str, Any]:
    """The training program at T = 15 under each of ``option_sets`` (``default`` first)."""
    cfg, data = sentiment_data(model, devices=1)
    progs: dict[str, Program] = {}
    res: dict[str, Any] = {}
    for name, opts in option_sets.items():
        times = []
        for _ in range(reps):
            p = Program(cfg, data).compile(opts) if name not in progs else progs[name].compile(opts)
            progs[name] = p
            times.append(p.times["compile_s"])
        p()
        res[name] = {
            "options": opts,
            "compile_s": statistics.median(times),
            "compile_samples_s": times,
            "fusions": p.times["fusions"],
        }
    stats = bench(progs, reps=run_reps, warmup=2)
    for name, s in stats.items():
        res[name]["epoch_s"] = s.median_ms / 1e3
        res[name]["epoch_samples_ms"] = s.samples_ms
        res[name][f"compile_plus_{epochs}_epochs_s"] = res[name]["compile_s"] + epochs * (
            s.median_ms / 1e3
        )
    base = res["default"]
    for r in res.values():
        r["compile_vs_default"] = r["compile_s"] / base["compile_s"]
        r["epoch_vs_default"] = r["epoch_s"] / base["epoch_s"]
        r["break_even_epochs"] = (
            (base["compile_s"] - r["compile_s"]) / (r["epoch_s"] - base["epoch_s"])
            if r["epoch_s"] > base["epoch_s"]
            else None
        )
    return {"model": model, "T": 15, "epochs_for_total": epochs, "options": res}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = parser(__doc__)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--lengths", default=",".join(map(str, LENGTHS)))
    ap.add_argument("--level-models", default=",".join(LEVEL_MODELS))
    ap.add_argument("--reps", type=int, default=None, help="compiles per case (default 3)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    check = QuietCheck()
    info = header()  # also switches JAX's persistent cache off: every compile is real
    models = [m for m in args.models.split(",") if m]
    lengths = [int(x) for x in args.lengths.split(",") if x]
    level_models = [m for m in args.level_models.split(",") if m]
    reps, run_reps = args.reps or 3, 10
    option_sets = dict(XLA_OPTION_SETS)
    if args.quick:  # simple_rnn at T = 15; default vs O0
        models, lengths, level_models = models[1:2], lengths[:1], level_models[:1]
        reps, run_reps = args.reps or 1, 3
        option_sets = {k: XLA_OPTION_SETS[k] for k in ("default", "O0")}

    results = []
    for m in models:
        for t in lengths:
            print(f"... {m} T={t}", flush=True)
            results.append(compile_programs(m, t, reps))
    rows = []
    for r in results:
        for prog, p in r["programs"].items():
            rows.append({
                "model": r["model"], "T": r["T"], "program": prog, "trace s": p["trace_s"],
                "lower s": p["lower_s"], "XLA compile s": p["compile_s"], "total s": p["total_s"],
                "fusions": p["fusions"],
            })  # fmt: skip
        rows.append({"model": r["model"], "T": r["T"], "program": "init_state (wall)",
                     "total s": r["init_state_s"]})  # fmt: skip
    table(f"compile time by stage, medians of {reps} fresh builds", rows)

    levels = []
    for m in level_models:
        print(f"... optimization levels: {m}", flush=True)
        levels.append(opt_levels(m, reps, run_reps, option_sets))
    rows = []
    for r in levels:
        for name, o in r["options"].items():
            rows.append({
                "model": r["model"], "options": name, "compile s": o["compile_s"],
                "epoch ms": o["epoch_s"] * 1e3,
                "compile+10 epochs s": o["compile_plus_10_epochs_s"],
                "compile x": o["compile_vs_default"], "epoch x": o["epoch_vs_default"],
                "break-even epochs": o["break_even_epochs"], "fusions": o["fusions"],
            })  # fmt: skip
    table("training program (T = 15) by XLA options; x = relative to default", rows)
    payload = {
        "machine": info,
        "reps": reps,
        "option_sets": option_sets,
        "programs": results,
        "optimization_levels": levels,
    }
    return finish(args, payload, t0, check)


if __name__ == "__main__":
    main()
