"""Many seeds at once: N seeds ``vmap``-ed in one program vs N runs one after another.

    python benchmarks/seeds.py [--json PATH] [--quick] [--models simple_rnn,lstm,rnn]
                               [--seeds 1,8,32,128] [--rnn-epochs E] [--reps R]

For each model (presets on the bundled data: ``simple_rnn`` and ``lstm`` 10
epochs of Adam at batch 8; the study RNN ``rnn`` with per-sample SGD, its fast
path ``jaxrnn.training.per_sample_sgd``, for ``--rnn-epochs`` (default 10, *not* its preset's
500, to keep 128 seeds affordable; the time per epoch is what matters) and N in
``--seeds``, on one device (``devices=1``):

* ``vmapped``: ``make_run`` over all epochs, ``jax.vmap``-ed over the seed axis of
  the state and the sample orders, one call for the whole run (what ``fit(cfg,
  seeds=N)`` compiles with ``seed_group >= N``). N = 1 is the plain single-seed
  program (what ``fit(seeds=1)`` runs, no ``vmap``).
* ``fit``: the program ``fit(cfg, seeds=N)`` compiles by default, when its
  ``seed_group`` (``jaxrnn.runs.seed_group``: on CPU 1 for the per-sample RNN
  and the LSTM/GRU presets) is below N: groups of seeds in a ``lax.map`` inside
  the one program (column ``fit group``); else it is ``vmapped``.
* ``sequential``: the single-seed program, compiled *once*, called N times in
  a Python loop on each seed's own initial state and sample order (blocking on
  each result): the fair sequential baseline, which pays one compile, not N.
* ``rnn`` only, ``vmapped_shared_order``: the vmapped program with one sample
  order for all seeds (``in_axes=None`` on the orders), a diagnostic: with a
  common order every seed's per-sample loop has the same trip count.

Timed in one process, alternating, after warm-up; medians of ``--reps`` calls
(fewer for calls over ~2 s). Compile times (XLA, from ``lower().compile()``) are
reported apart. Columns: ``vmapped/1`` = time(N vmapped) / time(1 seed) (target:
<= 3 at N = 128), ``seq/vmapped`` = the speed-up of vmapping over the loop.

An arithmetic block per model gives the matmul FLOPs of one seed's run, the
achieved GFLOP/s at each N and the per-seed training-state bytes (params,
gradients, optimizer state) against the 2 MiB L2 cache per core: on CPU the
seeds add work that the cores must do, so a ratio near 1 is possible only
where one seed leaves the cores idle (per-step overhead), not where one seed
already keeps them busy.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# first: the script runs again under the allocator's tunable (_common) before the imports
import _common  # noqa: E402, F401, I001

import numpy as np  # noqa: E402
from _common import (  # noqa: E402
    Program,
    QuietCheck,
    finish,
    header,
    parser,
    sentiment_data,
    table,
)
from _timing import bench  # noqa: E402

MODELS = ("simple_rnn", "lstm", "rnn")
SEEDS = (1, 8, 32, 128)
TARGET_RATIO = 3.0


def matmul_flops_per_seed(cfg: Any, data: Any) -> float:
    """Matmul FLOPs of one seed's run (training and per-epoch evaluation), from the shapes.

    Generic loop (``simple_rnn``/``lstm``/...): per step and layer/direction
    ``6 * T * B * (D_in + H) * G * H`` (forward + backward; the masked scan runs all
    ``T`` padded steps), per epoch ``ceil(N / B)`` steps, plus the evaluation's
    forward ``2 * T * (N + N_test) * (D_in + H) * G * H``. Study RNN (per-sample
    SGD, loops run each sentence's own length ``L``): forward ``(L - 1)`` and
    backward ``(L - 1)`` mat-vecs of ``2 H^2``, ``dW_hh`` ``2 (L - 1) H^2``; evaluation
    ``(L - 1)`` mat-vecs per sentence. Embedding lookups, elementwise work, the
    readout and the optimizer update are not counted.
    """
    from jaxrnn.weights.layout import num_gates

    h, e = cfg.hidden, cfg.epochs
    tr_len = np.asarray(data.train.lengths)
    te_len = np.asarray(data.test.lengths)
    if cfg.model == "rnn":
        steps = np.maximum(tr_len - 1, 0).sum()
        ev = np.maximum(np.concatenate([tr_len, te_len]) - 1, 0).sum()
        return float(e * (3 * steps * 2 * h * h + ev * 2 * h * h))
    cell = {"simple_rnn": "rnn", "bilstm": "lstm"}.get(cfg.model, cfg.model)
    g = num_gates(cell)
    t = data.train.ids.shape[1]
    n, n_all = len(tr_len), len(tr_len) + len(te_len)
    nb = -(-n // cfg.batch_size)
    dirs = 2 if cfg.model == "bilstm" else 1
    d_in0 = cfg.embed_dim or data.tokenizer.vocab_size
    per_step = per_eval = 0.0
    for layer in range(cfg.layers):
        d_in = d_in0 if layer == 0 else dirs * h
        per_step += dirs * 6 * t * cfg.batch_size * (d_in + h) * g * h
        per_eval += dirs * 2 * t * n_all * (d_in + h) * g * h
    return float(e * (nb * per_step + per_eval))


def state_bytes_per_seed(prog: Program) -> int:
    """Bytes of one seed's params + optimizer state, plus one gradient (= params)."""
    import jax

    st = prog.session.state
    leaves = jax.tree.leaves((st.params, st.opt_state))
    total = sum(x.size * x.dtype.itemsize for x in leaves)
    params = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(st.params))
    return int((total + params) // prog.num_seeds)


class _Sequential:
    """N calls of the compiled single-seed program on the seeds' own states and orders."""

    def __init__(self, single: Program, stacked: Program):
        import jax

        st, tr, te, orders = stacked.args
        n = stacked.num_seeds
        self.compiled = single.compiled
        # One seed is a run of S = 1: its state and orders keep a leading axis of 1.
        self.calls = [(jax.tree.map(lambda a, i=i: a[i : i + 1], st), tr, te, orders[i : i + 1])
                      for i in range(n)]  # fmt: skip

    def __call__(self) -> None:
        import jax

        for args in self.calls:
            jax.block_until_ready(self.compiled(*args))


class _SharedOrder:
    """The vmapped program with one sample order for every seed (``in_axes=None``)."""

    def __init__(self, stacked: Program):
        import jax
        from _common import staged_compile

        st, tr, te, orders = stacked.args
        self.args = (st, tr, te, orders[0])
        fn = jax.jit(stacked.build(shared_order=True))
        self.compiled, self.times = staged_compile(fn, self.args)

    def __call__(self) -> None:
        import jax

        jax.block_until_ready(self.compiled(*self.args))


def run_model(model: str, ns: list[int], epochs: int, reps: int) -> dict[str, Any]:
    cfg, data = sentiment_data(model, epochs=epochs, devices=1)
    epochs = cfg.epochs  # None: the preset's
    print(f"... {model}: {epochs} epochs, seeds {ns}", flush=True)
    single = Program(cfg, data, 1, epochs).compile()
    single()
    flops = matmul_flops_per_seed(cfg, data)
    rows = []
    for n in ns:
        fns: dict[str, Any] = {}
        compile_s: dict[str, float] = {"single": single.times["compile_s"]}
        if n == 1:
            fns["vmapped"] = single
            fns["sequential"] = single
            bytes_per_seed = state_bytes_per_seed(single)
        else:
            stacked = Program(cfg, data, n, epochs).compile()
            stacked()
            compile_s["vmapped"] = stacked.times["compile_s"]
            fns["vmapped"] = stacked
            fns["sequential"] = _Sequential(single, stacked)
            fit = Program(cfg, data, n, epochs, group="fit")
            if fit.group < n:  # fit does not vmap them all: time its program too
                fit.compile()
                fit()
                compile_s["fit"] = fit.times["compile_s"]
                fns["fit"] = fit
            if model == "rnn":
                shared = _SharedOrder(stacked)
                shared()
                compile_s["vmapped_shared_order"] = shared.times["compile_s"]
                fns["vmapped_shared_order"] = shared
            bytes_per_seed = state_bytes_per_seed(stacked)
        # One probe call sizes the repetitions: long calls get fewer.
        t = time.perf_counter()
        fns["vmapped"]()
        probe = time.perf_counter() - t
        r = reps if probe < 2.0 else max(3, min(reps, 3))
        stats = bench({"vmapped": fns["vmapped"]} if n == 1 else fns, reps=r, warmup=1)
        vm = stats["vmapped"].median_ms / 1e3
        row: dict[str, Any] = {"model": model, "seeds": n, "epochs": epochs, "reps": r}
        row["vmapped_s"] = vm
        row["sequential_s"] = stats["sequential"].median_ms / 1e3 if n > 1 else vm
        row["fit_seed_group"] = fit.group if n > 1 else 1
        row["fit_s"] = stats["fit"].median_ms / 1e3 if "fit" in stats else vm
        if "vmapped_shared_order" in stats:
            row["vmapped_shared_order_s"] = stats["vmapped_shared_order"].median_ms / 1e3
        row["compile_s"] = compile_s
        row["gflops_vmapped"] = flops * n / vm / 1e9
        row["state_mib_all_seeds"] = bytes_per_seed * n / 2**20
        row["samples_ms"] = {k: s.samples_ms for k, s in stats.items()}
        rows.append(row)
        print(
            f"  N={n}: vmapped {vm:.3f} s, sequential {row['sequential_s']:.3f} s, "
            f"fit (groups of {row['fit_seed_group']}) {row['fit_s']:.3f} s",
            flush=True,
        )
    t1 = rows[0]["vmapped_s"]
    for row in rows:
        row["ratio_vs_1"] = row["vmapped_s"] / t1
        row["seq_over_vmapped"] = row["sequential_s"] / row["vmapped_s"]
        row["fit_ratio_vs_1"] = row["fit_s"] / t1
        if "vmapped_shared_order_s" in row:
            row["shared_order_ratio_vs_1"] = row["vmapped_shared_order_s"] / t1
    last = rows[-1]
    nmax = last["seeds"]
    g1 = rows[0]["gflops_vmapped"]
    best = max(r["gflops_vmapped"] for r in rows)
    arithmetic = {
        "matmul_flops_per_seed_run": flops,
        "gflops_at_1": g1,
        "gflops_best": best,
        "state_bytes_per_seed": bytes_per_seed,
        "l2_bytes_per_core": 2 * 2**20,
        # What N seeds cost at the best rate seen, relative to one seed:
        "ratio_at_best_rate": nmax * g1 / best,
        # The rate N seeds would need for the target ratio:
        "gflops_needed_for_target": flops * nmax / (TARGET_RATIO * t1) / 1e9,
    }
    return {
        "model": model,
        "epochs": epochs,
        "config": {k: getattr(cfg, k) for k in ("optimizer", "lr", "batch_size", "hidden")},
        "rows": rows,
        "arithmetic": arithmetic,
        "target_ratio": TARGET_RATIO,
        "target_met": last["ratio_vs_1"] <= TARGET_RATIO if nmax >= 128 else None,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = parser(__doc__)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--seeds", default=",".join(map(str, SEEDS)), help="seed counts N")
    ap.add_argument("--epochs", type=int, default=None, help="simple_rnn/lstm (default preset 10)")
    ap.add_argument("--rnn-epochs", type=int, default=10, help="study RNN epochs (preset: 500)")
    ap.add_argument("--reps", type=int, default=None, help="timed calls per side (default 10)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    check = QuietCheck()
    info = header()
    models = [m for m in args.models.split(",") if m]
    ns = sorted({int(s) for s in args.seeds.split(",")} | {1})
    reps = args.reps or 10
    if args.quick:
        models, ns, reps = models[:1], [1, 4], args.reps or 3
        args.epochs = args.epochs or 2
    results = []
    for m in models:
        epochs = args.rnn_epochs if m == "rnn" else args.epochs
        results.append(run_model(m, ns, epochs, reps))

    rows = []
    for r in results:
        for row in r["rows"]:
            rows.append({
                "model": r["model"], "N": row["seeds"], "epochs": row["epochs"],
                "vmapped s": row["vmapped_s"], "sequential s": row["sequential_s"],
                "vmapped/1": row["ratio_vs_1"], "seq/vmapped": row["seq_over_vmapped"],
                "fit group": row["fit_seed_group"], "fit s": row["fit_s"],
                "fit/1": row["fit_ratio_vs_1"],
                "shared-order/1": row.get("shared_order_ratio_vs_1"),
                "GFLOP/s": row["gflops_vmapped"], "state MiB": row["state_mib_all_seeds"],
                "compile s": row["compile_s"].get("vmapped", row["compile_s"]["single"]),
            })  # fmt: skip
    table(f"one run of every seed, medians; target vmapped/1 <= {TARGET_RATIO:g} at N = 128", rows)
    for r in results:
        a = r["arithmetic"]
        n = r["rows"][-1]["seeds"]
        print(f"{r['model']}: {a['matmul_flops_per_seed_run'] / 1e6:.1f} MFLOP (matmul) per seed "
              f"run; {a['gflops_at_1']:.1f} GFLOP/s at 1 seed, best {a['gflops_best']:.1f}; at the "
              f"best rate {n} seeds cost {a['ratio_at_best_rate']:.0f}x one seed; ratio "
              f"{TARGET_RATIO:g} would need {a['gflops_needed_for_target']:.0f} GFLOP/s; "
              f"state {a['state_bytes_per_seed'] / 1024:.0f} KiB per seed "
              "(L2 2048 KiB per core)")  # fmt: skip
    payload = {"machine": info, "reps": reps, "results": results}
    return finish(args, payload, t0, check)


if __name__ == "__main__":
    main()
