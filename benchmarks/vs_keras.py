"""The study's two Keras models end to end: Keras 3 (JAX backend) ``model.fit`` vs ``jaxrnn``.

    python benchmarks/vs_keras.py [--json PATH] [--quick] [--reps N] [--epochs E]
                                  [--models simple_rnn,bilstm] [--no-cache-variant]

Configurations (the study's; see /work/shared/STUDY.md), on the bundled data
(58 training, 20 test sentences), both sides fed the *same* int arrays from
``jaxrnn.runs.prepare_data`` (``Tokenizer(num_words=25)``, post padding to 15):

* ``simple_rnn``: Embedding(25, 16) -> SimpleRNN(32) -> Dropout(0.3) ->
  Dense(1, sigmoid); binary cross-entropy; Adam lr 1e-3 on both sides; batch 8;
  10 epochs; validation on the test split after every epoch. Keras as the study
  ran it, without ``mask_zero``; ours as our preset ships it, unmasked too (the same
  computation: padding fed to the cell). ``ours_masked`` is ours with ``mask=True``.
* ``bilstm``: Embedding(25, 16, mask_zero=True) -> 3 x Bidirectional(LSTM(128))
  -> Dropout(0.3) -> Dense(1, sigmoid); Adam lr 1e-2 and batch 4 on both sides (our
  preset's; at lr 1e-3 or batch 8 it underfits in 10 epochs, see STUDY.md); ours with
  our masking (``lengths``), the equivalent of ``mask_zero``.

What is timed, per repetition, in one process, the sides alternating (rotating
order), after one warm-up run of each side (imports, backend start-up and
JAX's process-wide caches are therefore *not* in the numbers; they are listed
apart as ``import_s``; ``--quick``: simple_rnn only, 2 epochs, 1 rep, no warm-up):

* Keras: build a fresh ``Sequential``, ``compile``, ``fit(..., validation_data=...)``:
  ``wall_s`` from building the model to ``fit`` returning (Keras jits a new
  train and test function per new model, so its compile is included).
  ``first_epoch_s`` (includes that compile) and ``epoch_s`` = median of epochs
  2..E (compiled) come from a callback.
* ours: ``jaxrnn.runs.fit(TrainConfig(model=...), data=...)``: ``wall_s`` around
  the call (a fresh model every time: init, compile, training, test report);
  ``compile_s`` is fit's own figure (lowering + XLA compile of the training
  program). ``epoch_s`` is measured apart: the same program, compiled once,
  called for one epoch >= 10 times (median); it includes evaluating both splits.

``speedup`` = median Keras wall / median ours wall (also from the minima). The
target is >= 5x. Final test accuracies (mean over reps; seed = rep on both
sides) and parameter counts (ours vs Keras' ``count_params()``) are reported.

``--cache-variant`` (default in full runs) repeats the comparison in a child
process with JAX's persistent compilation cache enabled for *both* sides (Keras
runs on JAX, so it can use it too), after one run of each side fills it: the
numbers a second launch of the same script would see.

The machines here are small and shared: read the ratios, not absolute times.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    Program,
    QuietCheck,
    alternate,
    finish,
    header,
    parser,
    sentiment_data,
    summarize,
    table,
    timed_median,
)

MODELS = ("simple_rnn", "bilstm")
KERAS = {  # what the Keras side builds for each of our models
    "simple_rnn": {"mask_zero": False, "lr": 1e-3, "batch": 8, "units": 32, "bidi_layers": 0},
    "bilstm": {"mask_zero": True, "lr": 1e-2, "batch": 4, "units": 128, "bidi_layers": 3},
}
OURS = {  # our sides: name -> TrainConfig overrides (the first is compared with Keras)
    "simple_rnn": {"ours": {}, "ours_masked": {"mask": True}},
    "bilstm": {"ours": {}},
}
TARGET_SPEEDUP = 5.0


def _import_times() -> dict[str, float]:
    t0 = time.perf_counter()
    import jax  # noqa: F401

    import jaxrnn.runs  # noqa: F401

    t1 = time.perf_counter()
    import keras  # noqa: F401

    return {"jax+jaxrnn": t1 - t0, "keras": time.perf_counter() - t1}


def keras_model(model: str):
    """The study's Keras model for ``model`` (built, not compiled)."""
    import keras

    k = KERAS[model]
    layers: list[Any] = [
        keras.Input((15,), dtype="int32"),
        keras.layers.Embedding(25, 16, mask_zero=k["mask_zero"]),
    ]
    if k["bidi_layers"]:
        for i in range(k["bidi_layers"]):
            last = i == k["bidi_layers"] - 1
            layers.append(
                keras.layers.Bidirectional(keras.layers.LSTM(k["units"], return_sequences=not last))
            )
    else:
        layers.append(keras.layers.SimpleRNN(k["units"]))
    layers += [keras.layers.Dropout(0.3), keras.layers.Dense(1, activation="sigmoid")]
    return keras.Sequential(layers)


def keras_side(model: str, data: Any, epochs: int):
    import keras
    import numpy as np

    x, y = data.train.ids, data.train.labels.astype(np.float32)
    xt, yt = data.test.ids, data.test.labels.astype(np.float32)

    class EpochTimes(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.t = [time.perf_counter()]

        def on_epoch_end(self, epoch, logs=None):
            self.t.append(time.perf_counter())

    def run(rep: int) -> dict[str, Any]:
        keras.utils.set_random_seed(max(rep, 0))
        t0 = time.perf_counter()
        m = keras_model(model)
        m.compile(
            optimizer=keras.optimizers.Adam(KERAS[model]["lr"]),
            loss="binary_crossentropy",
            metrics=["accuracy"],
        )
        cb = EpochTimes()
        h = m.fit(x, y, batch_size=KERAS[model]["batch"], epochs=epochs,
                  validation_data=(xt, yt), verbose=0, callbacks=[cb])  # fmt: skip
        wall = time.perf_counter() - t0
        ep = np.diff(cb.t)
        later = float(np.median(ep[1:])) if len(ep) > 1 else None
        return {
            "wall_s": wall,
            "setup_s": cb.t[0] - t0,
            "first_epoch_s": float(ep[0]),
            "epoch_s": later,
            "compile_est_s": float(ep[0]) - later if later is not None else None,
            "test_acc": float(h.history["val_accuracy"][-1]),
            "test_loss": float(h.history["val_loss"][-1]),
            "params": int(m.count_params()),
        }

    return run


def ours_side(model: str, data: Any, epochs: int, overrides: dict[str, Any]):
    from jaxrnn.runs import TrainConfig, fit

    def run(rep: int) -> dict[str, Any]:
        t0 = time.perf_counter()
        r = fit(TrainConfig(model=model, epochs=epochs, seed=max(rep, 0), **overrides), data)
        wall = time.perf_counter() - t0
        return {
            "wall_s": wall,
            "compile_s": r.compile_s,
            "non_compile_s": wall - r.compile_s,
            "test_acc": float(r.final["test_acc"]),
            "test_loss": float(r.final["test_loss"]),
            "params": int(r.num_params),
        }

    return run


def ours_breakdown(model: str, data: Any, overrides: dict[str, Any], reps: int) -> dict[str, Any]:
    """Where ours spends a fresh run, stage by stage, as ``fit`` runs them (one pass), and
    the compiled per-epoch time (median of ``reps`` calls)."""
    from jaxrnn.runs import TrainConfig, compiler_options

    prog = Program(TrainConfig(model=model, **overrides), data)
    options = compiler_options(prog.cfg, data)  # what fit compiles with (--compile auto)
    prog.compile(options)
    prog()  # first call
    epoch_s = timed_median(prog, reps)
    t1 = time.perf_counter()
    pred = prog.test_predictions()
    if pred is not None:  # the training program returned them: no predict program
        prog.session.test_predictions = pred
    prog.session.test_reports()  # older versions: jits and runs a predict program here
    report_s = time.perf_counter() - t1
    return {
        "init_state_s": prog.session_s,  # model, optimizer, initial state, placement
        **prog.times,
        "epoch_s": epoch_s,
        "test_report_s": report_s,
        "predict_program": pred is None,
        "xla_options": options,
    }


def param_check(model: str, data: Any, keras_params: int, ours_params: int) -> dict[str, Any]:
    """Ours vs Keras' count_params(). Our layout is PyTorch's: two bias vectors per cell
    (``b_ih`` and ``b_hh``) where Keras has one, so ours has ``G*H`` more per cell and
    direction; the check is whether the counts agree once that is taken off."""
    import jax

    from jaxrnn import runs as train

    cfg, _ = sentiment_data(model)
    m = train.build_model(cfg, data.tokenizer.vocab_size, max(2, len(data.label_names)))
    shapes = jax.eval_shape(lambda: m.init(jax.random.key(0)))
    b_hh = sum(c.b_hh.size for layer in shapes["rnn"] for c in layer if c.b_hh is not None)
    return {
        "keras": keras_params,
        "ours": ours_params,
        "ours_extra_b_hh": b_hh,
        "equal": ours_params == keras_params,
        "equal_without_b_hh": ours_params - b_hh == keras_params,
    }


def compare(model: str, epochs: int, reps: int, quick: bool, epoch_reps: int) -> dict[str, Any]:
    """All sides of one model, alternating; the first ``OURS`` side is the one compared."""
    cfg, data = sentiment_data(model)
    k = KERAS[model]
    if (cfg.lr, cfg.batch_size, cfg.mask) != (k["lr"], k["batch"], k["mask_zero"]):
        # keep the two sides' configurations equal
        raise SystemExit(f"our {model} preset (lr, batch, mask) differs from the Keras side's")
    sides = {"keras": keras_side(model, data, epochs)}
    ours = OURS[model] if not quick else dict(list(OURS[model].items())[:1])
    for name, ov in ours.items():
        sides[name] = ours_side(model, data, epochs, ov)
    print(f"... {model}: {reps} reps of {', '.join(sides)} ({epochs} epochs each)", flush=True)
    raw = alternate(sides, reps=reps, warmup=0 if quick else 1)
    res = {n: summarize(s) for n, s in raw.items()}
    for n in res:
        res[n]["test_acc_mean"] = sum(s["test_acc"] for s in raw[n]) / len(raw[n])
    first_ours = next(iter(ours))
    bd = ours_breakdown(model, data, ours[first_ours], epoch_reps)
    res[first_ours]["epoch_s"] = bd["epoch_s"]
    kw, ow = res["keras"]["wall_s"], res[first_ours]["wall_s"]
    kmin = min(s["wall_s"] for s in raw["keras"])
    omin = min(s["wall_s"] for s in raw[first_ours])
    return {
        "model": model,
        "epochs": epochs,
        "lr": {"keras": KERAS[model]["lr"], "ours": cfg.lr},
        "keras_mask_zero": KERAS[model]["mask_zero"],
        "ours_overrides": ours,
        "sides": res,
        "ours_breakdown": bd,
        "speedup": kw / ow,
        "speedup_min": kmin / omin,
        "target_speedup": TARGET_SPEEDUP,
        "target_met": kw / ow >= TARGET_SPEEDUP,
        "params": param_check(model, data, res["keras"]["params"], res[first_ours]["params"]),
    }


def _cache_child(args: Any) -> dict[str, Any] | None:
    """Re-run this script in a child with a fresh persistent compilation cache."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "child.json")
        cmd = [sys.executable, os.path.abspath(__file__), "--persistent-cache",
               os.path.join(d, "cache"), "--no-cache-variant", "--json", out,
               "--reps", str(args.reps_used), "--epochs", str(args.epochs),
               "--models", args.models]  # fmt: skip
        print("\n=== the same with JAX's persistent compilation cache (both sides) ===", flush=True)
        p = subprocess.run(cmd, check=False)
        if p.returncode != 0 or not os.path.exists(out):
            print(f"(cache variant failed with exit code {p.returncode})")
            return None
        with open(out) as f:
            return json.load(f)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = parser(__doc__)
    ap.add_argument("--reps", type=int, default=None, help="timed runs per side (default 5)")
    ap.add_argument("--epochs", type=int, default=None, help="default 10 (--quick: 2)")
    ap.add_argument("--models", default=",".join(MODELS), help="of simple_rnn,bilstm")
    ap.add_argument(
        "--cache-variant",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also run with the persistent compilation cache (default: not with --quick)",
    )
    ap.add_argument("--persistent-cache", metavar="DIR", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    check = QuietCheck()
    if args.persistent_cache:
        import jax

        jax.config.update("jax_compilation_cache_dir", args.persistent_cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    imports = _import_times()
    info = header(extra_modules=("keras",), persistent_cache=bool(args.persistent_cache))
    import keras

    info["keras_backend"] = keras.backend.backend()
    models = [m for m in args.models.split(",") if m]
    if args.quick:
        models = models[:1]
    args.reps_used = args.reps or (1 if args.quick else 5)
    args.epochs = args.epochs or (2 if args.quick else 10)
    epoch_reps = 3 if args.quick else 10
    results = [compare(m, args.epochs, args.reps_used, args.quick, epoch_reps) for m in models]

    rows = []
    for r in results:
        for name, s in r["sides"].items():
            rows.append({
                "model": r["model"], "side": name, "wall s": s["wall_s"],
                "compile s": s.get("compile_s", s.get("compile_est_s")),
                "epoch ms": s["epoch_s"] * 1e3 if s.get("epoch_s") else None,
                "test acc": s["test_acc_mean"], "params": s["params"],
                "keras/this": r["sides"]["keras"]["wall_s"] / s["wall_s"],
            })  # fmt: skip
    cache_note = " (persistent compilation cache, filled)" if args.persistent_cache else ""
    table(f"end to end, {args.epochs} epochs, medians of {args.reps_used} fresh runs{cache_note}; "
          "compile s: ours = fit's compile_s, keras = first epoch - later epoch (estimate)",
          rows)  # fmt: skip
    for r in results:
        p = r["params"]
        same = "equal" if p["equal"] else "differ"
        if not p["equal"] and p["equal_without_b_hh"]:
            same += f" by our extra b_hh ({p['ours_extra_b_hh']}), equal without it"
        print(f"{r['model']}: speed-up keras/ours {r['speedup']:.2f}x (from minima "
              f"{r['speedup_min']:.2f}x), target {TARGET_SPEEDUP:g}x "
              f"{'met' if r['target_met'] else 'NOT met'}; params ours {p['ours']} vs keras "
              f"{p['keras']}: {same}")  # fmt: skip
        bd = r["ours_breakdown"]
        print(f"  ours, one fresh run by stage: init state {bd['init_state_s']:.2f} s, trace "
              f"{bd['trace_s']:.2f}, lower {bd['lower_s']:.2f}, XLA compile {bd['compile_s']:.2f} "
              f"({bd['fusions']} fusions), epoch {bd['epoch_s'] * 1e3:.1f} ms, test report "
              f"(predict compile + run) {bd['test_report_s']:.2f} s; XLA options "
              f"{bd['xla_options'] or 'default'}")  # fmt: skip
    payload: dict[str, Any] = {
        "machine": info,
        "import_s": imports,
        "persistent_cache": bool(args.persistent_cache),
        "reps": args.reps_used,
        "epochs": args.epochs,
        "results": results,
    }
    want_cache = args.cache_variant if args.cache_variant is not None else not args.quick
    if want_cache and not args.persistent_cache:
        payload["with_persistent_cache"] = _cache_child(args)
    return finish(args, payload, t0, check)


if __name__ == "__main__":
    main()
