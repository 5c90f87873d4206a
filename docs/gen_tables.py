"""Markdown tables rendered from the committed benchmark JSON in ``docs/benchmarks/``.

The documentation pages hold a marker line ``<!-- table: NAME -->`` where a table goes;
``docs/hooks.py`` (an mkdocs hook) replaces it at build time with ``render(NAME)``, so every
number in these tables is read from the JSON the benchmark scripts wrote, never retyped.

    python docs/gen_tables.py              # every table, printed (a check by eye)
    python docs/gen_tables.py lm           # one table
    python docs/gen_tables.py --readme     # refill the README's copied tables

The README is read on GitHub, where no hook runs: a table it shows sits between
``<!-- NAME -->`` and ``<!-- /NAME -->`` lines, written there by ``--readme``
(``fill_readme``), and ``tests/test_real_data_benchmark.py`` checks it is the JSON's.
"""

from __future__ import annotations

import json
import math
import pathlib
import re
import statistics
import sys
from collections.abc import Callable

BENCHMARKS = pathlib.Path(__file__).resolve().parent / "benchmarks"
MARKER = re.compile(r"^<!-- table: ([a-z0-9_]+) -->$", re.M)
README_BLOCK = re.compile(r"^<!-- ([a-z0-9_]+) -->\n.*?^<!-- /\1 -->$", re.M | re.S)
README = BENCHMARKS.parent.parent / "README.md"


def load(name: str) -> dict:
    """``docs/benchmarks/<name>.json``."""
    return json.loads((BENCHMARKS / f"{name}.json").read_text())


def sig(x: float, n: int = 3, max_decimals: int | None = None) -> str:
    """``x`` to ``n`` significant figures, thousands separated (4305.6 -> ``4,310``)."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    decimals = n - 1 - math.floor(math.log10(abs(x)))
    if max_decimals is not None:
        decimals = min(decimals, max_decimals)
    if decimals <= 0:
        return f"{round(x, decimals):,.0f}"
    return f"{x:,.{decimals}f}"


def fixed(x: float, decimals: int = 2) -> str:
    return f"{x:,.{decimals}f}"


def table(header: list[str], rows: list[list[str]], align: str | None = None) -> str:
    """A markdown table; ``align`` has one letter per column: ``l`` or ``r``."""
    align = align or "l" + "r" * (len(header) - 1)
    rule = ["--" if a == "l" else "--:" for a in align]
    lines = [header, rule, *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def machine(d: dict) -> str:
    """One line naming the machine and versions the JSON records."""
    m = d.get("machine", d)  # some scripts write the header at the top level
    versions = ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items() if v)
    load_avg = m.get("loadavg")
    load_txt = f", load average {load_avg[0]:.1f} at the start" if load_avg else ""
    head = (m.get("git") or {}).get("head")
    at = f"; jaxrnn at {head[:7]}" if head else ""
    cpus = m.get("cpu_count")
    return f"{m.get('cpu_model', '?')}, {cpus} CPUs{load_txt}; {versions}{at}"


def source(name: str) -> str:
    d = load(name)
    return f"\n\n*From `docs/benchmarks/{name}.json` ({machine(d)}).*"


def vs_numpy_presets_epoch() -> str:
    rows = [
        [f"`{r['model']}`", sig(r["numpy_ms_per_epoch"]), sig(r["jax_ms_per_epoch"]),
         sig(r["speedup_per_epoch"]) + "x", fixed(r["jax_compile_s"])]
        for r in load("vs_numpy")["presets"]["per_epoch"]
    ]  # fmt: skip
    header = ["preset", "NumPy ms/epoch", "JAX ms/epoch", "JAX speed-up per epoch",
              "JAX compile s"]  # fmt: skip
    return table(header, rows) + source("vs_numpy")


def vs_numpy_presets_process() -> str:
    rows = [
        [f"`{r['model']}`", sig(r["numpy_process_s"], max_decimals=2),
         sig(r["jax_process_s"], max_decimals=2), sig(r["speedup_process"], max_decimals=2) + "x",
         fixed(r["numpy_test_acc"]), fixed(r["jax_test_acc"])]
        for r in load("vs_numpy")["presets"]["processes"]
    ]  # fmt: skip
    header = ["preset", "NumPy process s", "JAX process s", "speed-up", "NumPy test acc",
              "JAX test acc"]  # fmt: skip
    return table(header, rows) + source("vs_numpy")


def vs_numpy_study() -> str:
    d = load("vs_numpy")
    s, p = d["study_training"], d["processes"]
    rows = [
        ["per epoch once compiled (ms)", sig(s["numpy_ms_per_epoch"]), sig(s["jax_ms_per_epoch"]),
         sig(s["speedup_per_epoch"]) + "x"],
        [f"whole run, {s['epochs']} epochs (s)", sig(s["numpy_run_s"]), sig(s["jax_run_s"]),
         sig(s["speedup_whole_run"]) + "x"],
        ["`python -m jaxrnn.train` process, compile cache empty (s, median)",
         sig(p["median_s"]["numpy"]), sig(p["median_s"]["jax_cold"]), sig(p["speedup_cold"]) + "x"],
        ["the same, compile cache filled (s, median)", sig(p["median_s"]["numpy"]),
         sig(p["median_s"]["jax_warm"]), sig(p["speedup_warm"]) + "x"],
    ]  # fmt: skip
    return table(["study RNN", "NumPy", "JAX", "JAX speed-up"], rows) + source("vs_numpy")


def _scale_rows(name: str) -> str:
    d = load(name)
    ours = next(r for r in d["rows"] if r["name"] == "ours")
    rows = []
    for r in d["rows"]:
        peer = r is not ours
        rows.append([
            f"{r['texts']:,}", r["name"], str(r.get("threads", "")), fixed(r["epoch_s"]),
            fixed(r["train_s"]) if "train_s" in r else "", fixed(r["compile_s"]),
            f"{r['peak_rss_mb']:,.0f}", fixed(r["test_acc"], 3),
            sig(r["epoch_s"] / ours["epoch_s"]) + "x" if peer else "",
            fixed(ours["peak_rss_mb"] / r["peak_rss_mb"]) + "x" if peer else "",
        ])  # fmt: skip
    header = ["texts", "side", "threads", "epoch s", "train s", "compile s", "peak RSS MB",
              "test acc", "ours' epoch faster by", "ours' peak RSS / theirs"]  # fmt: skip
    return table(header, rows, "rlrrrrrrrr") + source(name)


def scale() -> str:
    return _scale_rows("scale")


def scale_200k() -> str:
    return _scale_rows("scale_200k")


def _peak_rss_rows(name: str, with_buckets: bool) -> str:
    d = load(name)
    rows = []
    for r in d["rows"]:
        row = [str(r["eval_batch_size"])]
        if with_buckets:
            row.append(str(r["buckets"]))
        row += [f"{r['peak_rss_mb']:,.0f}", fixed(r["process_wall_s"], 1)]
        if with_buckets:
            row.append(fixed(r["run_s"]))
        row += [fixed(r["compile_s"]), fixed(r["test_acc"], 3)]
        if with_buckets:
            row.append(str(r["bounds"]))
        rows.append(row)
    header = ["eval batch", "peak RSS MB", "process s", "compile s", "test acc"]
    if with_buckets:
        header = ["eval batch", "buckets", "peak RSS MB", "process s", "epoch s", "compile s",
                  "test acc", "bounds"]  # fmt: skip
    caption = f"{d['model']}, batch {d['batch_size']}, 1 epoch, {d['rows'][0]['texts']:,} texts"
    return f"{caption}:\n\n" + table(header, rows) + source(name)


def peak_rss() -> str:
    return _peak_rss_rows("peak_rss", with_buckets=False)


def peak_rss_buckets() -> str:
    return _peak_rss_rows("peak_rss_buckets", with_buckets=True)


def rss_stages() -> str:
    before, now = load("rss_stages_8827f4b"), load("rss_stages")
    rows = []
    for b, n in zip(before["marks"], now["marks"], strict=True):
        assert b["stage"] == n["stage"], (b["stage"], n["stage"])
        rows.append([n["stage"]] + [
            v for m in (b, n) for v in (fixed(m["s"], 1), f"{m['rss_mb']:,.0f}",
                                        f"{m['peak_mb']:,.0f}")
        ])  # fmt: skip
    header = ["stage", "8827f4b: s", "RSS MB", "peak MB", "now: s", "RSS MB", "peak MB"]
    return (table(header, rows) + source("rss_stages")
            + "\n*8827f4b: `docs/benchmarks/rss_stages_8827f4b.json`.*")  # fmt: skip


def lm() -> str:
    d = load("lm")
    ours, torch, numpy, ratios = d["ours"], d["torch"], d["numpy"], d["ratios"]
    dp = d.get("ours_dp")  # the streams over 2 CPU devices (absent before 2026-12-07)
    by_threads = torch["tokens_per_s_by_threads"]
    steps = d["config"]["steps"]
    best = max(by_threads.values())

    def ratio(x: float, n: str) -> str:  # over PyTorch at n threads; the faster one in bold
        r = f"{fixed(x / by_threads[n])}x"
        return f"**{r}**" if by_threads[n] == best else r

    sides = [ours] + ([dp] if dp else [])
    rows = [
        ["training tokens/s (median pass)", *(sig(s["tokens_per_s"]) for s in sides),
         sig(by_threads["1"]), sig(by_threads["2"]), sig(numpy["tokens_per_s"]), ""],
        *([f"jaxrnn {what} / other", *([""] * len(sides)),
           *(ratio(s["tokens_per_s"], n) for n in ("1", "2")),
           f"**{sig(s['tokens_per_s'] / numpy['tokens_per_s'])}x**",
           ">= 1.2x PyTorch, >= 20x NumPy"]
          for what, s in zip(("(1 device)", "(2 devices)"), sides, strict=False)),
        [f"test bits/char after {steps} steps", *(fixed(s["test_bpc"], 3) for s in sides),
         fixed(torch["test_bpc"], 3), "", "",
         f"within 0.05 of PyTorch ({ratios['test_bpc_ours_minus_torch']:+.4f})"],
        ["compile", *(f"{s['compile_s']:.1f} s" for s in sides), "", "", "", ""],
    ]  # fmt: skip
    header = ["", "jaxrnn", *(["jaxrnn, 2 devices"] if dp else []), "PyTorch (1 thread)",
              "PyTorch (2 threads)", "NumPy reference", "target"]  # fmt: skip
    gen = d["generation"]
    gen_rows = [
        [str(n), str(g["length"]), sig(g["chars_per_s"]), fixed(g["compile_s"])]
        for n, g in ((1, gen["samples_1"]), (32, gen["samples_32"]))
    ]
    return (table(header, rows, "l" + "r" * (len(header) - 2) + "l")
            + "\n\nGeneration (`jaxrnn.nn.lm.sample`):\n\n"
            + table(["samples at once", "characters", "chars/s", "compile s"], gen_rows)
            + source("lm"))  # fmt: skip


def tagging() -> str:
    d = load("tagging")
    rows = [
        [c["case"], sig(c["ours_ms"]["median_ms"]), sig(c["torch_ms"]["median_ms"]),
         sig(c["ours_tokens_per_s"]), sig(c["torch_tokens_per_s"]), sig(c["speedup"]) + "x",
         f"{c['check']['loss_ours']:.6f} / {c['check']['loss_torch']:.6f}"]
        for c in d["cases"]
    ]  # fmt: skip
    header = ["case", "ours ms", "torch ms", "ours tok/s", "torch tok/s", "speed-up",
              "loss ours / torch"]  # fmt: skip
    threads = d["settings"]["torch_threads"]
    return table(header, rows) + source("tagging") + f" PyTorch at {threads} thread(s)."


def _peers(name: str) -> str:
    d = load(name)
    impls = ["ours", "ours_dp", "autodiff", "torch", "torch1t", "flax"]
    rows = []
    for r in d["results"]:
        ms = {i: r["impls"][i]["median_ms"] for i in impls if i in r["impls"]}
        row = [r["case"]] + [sig(ms[i]) if i in ms else "" for i in impls]
        row += [sig(ms["torch"] / ms["ours"], max_decimals=2) + "x" if "torch" in ms else "",
                sig(ms["torch"] / ms["ours_dp"], max_decimals=2) + "x"
                if "torch" in ms and "ours_dp" in ms else ""]  # fmt: skip
        rows.append(row)
    header = [
        "case",
        "ours ms",
        "ours, 2 devices ms",
        "jax.grad of the scan ms",
        "torch ms",
        "torch 1 thread ms",
        "flax ms",
        "torch / ours",
        "torch / ours 2 devices",
    ]
    return table(header, rows) + source(name) + " Medians of the step time."


def vs_peers_lstm() -> str:
    return _peers("vs_peers_lstm")


def devices_b64() -> str:
    d = load("devices_b64")
    rows = [
        [row["model"], row["axis"], str(row["devices"]), sig(row["epoch_ms"]),
         sig(row["vs_1_device"], max_decimals=2) + "x", fixed(row["compile_s"])]
        for r in d["results"] for row in r["rows"]
    ]  # fmt: skip
    header = ["model", "axis", "devices", "epoch ms", "vs 1 device", "compile s"]
    return table(header, rows, "llrrrr") + source("devices_b64")


def seeds() -> str:
    d = load("seeds")
    rows = [
        [r["model"], str(r["seeds"]), sig(r["vmapped_s"]), sig(r["sequential_s"]),
         str(r["fit_seed_group"]), sig(r["fit_s"]), sig(r["fit_ratio_vs_1"]) + "x"]
        for res in d["results"] for r in res["rows"]
    ]  # fmt: skip
    header = ["model", "seeds", "vmapped s", "one after another s", "fit's group", "fit s",
              "fit time / one seed's"]  # fmt: skip
    epochs = d["results"][0]["epochs"]
    return table(header, rows, "lrrrrrr") + source("seeds") + f" {epochs} epochs, medians."


def vs_keras() -> str:
    d = load("vs_keras")
    rows = []
    for r in d["results"]:
        for side, v in r["sides"].items():
            keras_wall = r["sides"]["keras"]["wall_s"]
            rows.append([
                r["model"], side, sig(v["wall_s"]),
                sig(v["compile_s"] if "compile_s" in v else v["compile_est_s"]),
                fixed(v["test_acc_mean"]), f"{v['params']:,}", sig(keras_wall / v["wall_s"]) + "x",
            ])  # fmt: skip
    header = ["model", "side", "wall s (median)", "compile s", "test acc (mean)", "params",
              "Keras' time / this"]  # fmt: skip
    return (table(header, rows, "llrrrrr") + source("vs_keras")
            + f" {d['epochs']} epochs, {d['reps']} fresh runs each; Keras' compile time is"
            " its first epoch less a later one.")  # fmt: skip


def parallel(name: str = "parallel") -> str:
    """``benchmarks/parallel.py``: training tokens/s per side against T (parallel cells)."""
    d = load(name)
    lengths = [str(t) for t in d["config"]["lengths"]]
    rows = []
    for side, per_t in d["results"].items():
        cells = []
        for t in lengths:
            r = per_t.get(t) if isinstance(per_t, dict) else None
            if not r or "tokens_per_s" not in r:
                cells.append("skipped")
                continue
            cells.append(f"{sig(r['tokens_per_s'] / 1000, 3)}k "
                         f"({fixed(r['tokens_over_ours_lstm'], 2)}x, "
                         f"{fixed(r['tokens_over_torch_lstm'], 2)}x)")  # fmt: skip
        rows.append([f"`{side}`", *cells])
    header = ["side", *(f"T = {t}" for t in lengths)]
    c = d["config"]
    return (table(header, rows, "l" + "r" * len(lengths))
            + f"\n\nTraining tokens/s (thousands) at {c['batch']} streams, width {c['width']}, "
            f"input width {c['input_width']}, {c['dtype']}, and in brackets the ratio to our "
            "LSTM and to PyTorch's `nn.LSTM` in the same process; `skipped`: a side whose 10 "
            f"steps would pass {c['max_seconds']:g} s; allocator "
            f"`{d['machine'].get('allocator', 'glibc')}` (`jaxrnn.runs.memory`). {source(name)}"
            f" Peak: {d['peak']['description']}; {d['peak'].get('note', '')}.")  # fmt: skip


def parallel_scan() -> str:
    """``benchmarks/parallel.py`` with the CPU ``scan`` form beside the associative one."""
    return parallel("parallel_scan")


def parallel_scan_glibc() -> str:
    """``benchmarks/parallel.py`` under glibc's default allocator (``JAXRNN_ALLOCATOR=glibc``)."""
    return parallel("parallel_scan_glibc")


def parallel_b32() -> str:
    """``benchmarks/parallel.py`` at the goal's 32 streams, ``T = 64``."""
    return parallel("parallel_b32")


def study_depth() -> str:
    """``python -m jaxrnn.study --part depth``: rnn2 from three initialisations
    (``docs/study/results.json``, section ``depth``)."""
    res = json.loads((BENCHMARKS.parent / "study" / "results.json").read_text())
    d = res["depth"]
    rows = []
    for scheme, m in d["inits"].items():
        s = m["test_acc"]
        norms = m["grad_norms"]["norms"]
        first = [math.exp(sum(math.log(v) for v in norms[k][0]) / len(norms[k][0]))
                 for k in ("layer 1", "layer 2", "readout")]  # fmt: skip
        rows.append([f"`--init {scheme}`", m["label"],
                     f"{s['mean']:.3f} ± {s['std']:.3f} [{s['ci95'][0]:.3f}, {s['ci95'][1]:.3f}]",
                     f"{m['seeds_at_least_0.9']}/{d['seeds']}",
                     *(f"{x:.1e}" for x in first)])  # fmt: skip
    header = ["init", "weights", "test accuracy", "seeds >= 0.9", "grad norm, layer 1 at init",
              "layer 2", "readout"]  # fmt: skip
    return (table(header, rows, "lllrrrr")
            + f"\n\nFrom `docs/study/results.json` (`{res['command']}`, {res['created']});"
            " gradient norms: geometric mean over the first 5 seeds.")  # fmt: skip


def defaults(name: str = "defaults") -> str:
    """``benchmarks/defaults.py``: ``--model auto`` against ``lstm`` and the study's ``rnn`` on
    held-out files of several sizes and tasks."""
    d = load(name)
    cases: dict[str, dict] = {}
    for r in d["rows"]:
        cases.setdefault(r["case"], {"task": r["task"], "metric": r["metric"]})[r["model"]] = r
    rows = []
    for case, per in cases.items():
        auto = per["auto"]
        cells = [f"{fixed(per[m]['mean'], 3)} [{fixed(per[m]['min'], 3)}, "
                 f"{fixed(per[m]['max'], 3)}]" if m in per else "—"
                 for m in d["models"]]  # fmt: skip
        rows.append([case, per["task"], f"`{per['metric']}`",
                     f"`{auto['chosen']}`, batch {auto['batch_size']}", *cells])
    header = ["file", "task", "metric", "auto chose",
              *(f"`{m}`" for m in d["models"])]  # fmt: skip
    return (table(header, rows, "llll" + "r" * len(d["models"]))
            + f"\n\nMean [min, max] over {d['seeds']} seeds of the test metric (for "
            "`test_mse_vs_last`: the last value's test MSE over the model's, higher is better; "
            "bits per character: lower is better; `—`: not run for that task). `lstm_auto_es`: "
            "`--model lstm --batch-size auto --epochs 60 --val-fraction 0.2 --early-stopping "
            f"10`. {source(name)}")  # fmt: skip


def study_parallel() -> str:
    """``python -m jaxrnn.study --part parallel``: the parallel cells against LSTM and GRU at
    equal parameters and equal wall-clock (``docs/study/results.json``, section ``parallel``)."""
    res = json.loads((BENCHMARKS.parent / "study" / "results.json").read_text())
    d = res.get("parallel")
    if not d:
        return "*Not run yet: `docs/study/results.json` has no `parallel` section.*"
    rows = []
    for task, info in d["tasks"].items():
        for m, r in info["models"].items():
            sc = r["score"]
            trained = ("(the sentences' run)" if task == "held_out"
                       else f"{r['trained_s']:.1f} ({info['budget_s']:g})")
            rows.append([info["label"], f"`{m}`", str(r["hidden"]),
                         f"{r['num_params']:,} ({r['param_ratio']:.2f}x)", str(r["epochs"]),
                         trained, f"{r['compile_s']:.1f}",
                         f"{sc['mean']:.3f} [{sc['min']:.3f}, {sc['max']:.3f}]"])  # fmt: skip
    header = ["task", "model", "hidden", "params (x LSTM)", "epochs", "trained s (budget)",
              "compile s", "score: mean [min, max]"]  # fmt: skip
    load, cpus = d["loadavg"], d.get("cpus", 2)
    # the benchmarks' rule: a 1-minute load above the cores + 0.5 is a busy machine
    busy = max(load["start"][0], load["end"][0]) > cpus + 0.5
    quiet = "not a quiet machine" if busy else "a quiet machine"
    return (table(header, rows, "llrrrrrr")
            + f"\n\nFrom `docs/study/results.json` (`{d.get('command', res['command'])}`, "
            f"{d.get('created', res['created'])}); "
            f"{d['seeds']} seeds; score: last-epoch test accuracy, bits/char for the character "
            f"LM (lower is better). Load average {load['start'][0]:.2f} at the start and "
            f"{load['end'][0]:.2f} at the end on {cpus} cores: {quiet}.")  # fmt: skip


REAL_DATA_MISSING = ("*Not run yet: `docs/benchmarks/real_data.json` does not exist; "
                     "`python benchmarks/real_data.py` writes it.*")


REAL_DATA_SETS = ("mnist1d", "turkish_pos", "python_manual", "sunspots")


def _not_run(d: dict) -> str:
    missing = [f"`{s}`" for s in REAL_DATA_SETS if s not in d["sets"]]
    return (f"\n\nNot run yet: {', '.join(missing)} (`python benchmarks/real_data.py --sets "
            "NAME --merge` adds a set).") if missing else ""  # fmt: skip


def _ci(r: dict, k: int = 3) -> str:
    return f"{fixed(r['mean'], k)} ± {fixed(r['half'], k)}"


def _digits(metric: str) -> int:
    return 3 if metric.endswith("acc") else 4 if metric == "test_bpc" else 1


def real_data() -> str:
    """``benchmarks/real_data.py``: per public data set, our configuration chosen on a
    validation split, its test metric over seeds, PyTorch at the same model and budget and
    the anchors."""
    if not (BENCHMARKS / "real_data.json").is_file():
        return REAL_DATA_MISSING
    d = load("real_data")
    rows = []
    for name, r in d["sets"].items():
        o, a, pt, cfg = r["ours"], r["anchors"], r["pytorch"], r["chosen"]
        k = _digits(o["metric"])
        layers = f" x{cfg['layers']}" if cfg.get("layers", 1) > 1 else ""
        chosen = f"`{cfg['model']}` {cfg.get('hidden', '')}{layers}, {cfg.get('epochs', '?')} ep."
        if cfg.get("target_transform", "none") != "none":  # --task regress
            chosen += f", {cfg['target_transform']} of the target"
        if name == "mnist1d":
            pub = a["published"]
            anchors = ", ".join(f"{k.replace('_', ' ')} {pub[k]:.2f}" for k in
                                ("logistic_regression", "mlp", "gru", "cnn", "human"))
        elif name == "turkish_pos":
            m = a["majority_tag_per_word"]
            anchors = f"majority tag per word {m['acc']:.3f} (unknown words {m['unk_acc']:.3f})"
        elif name == "python_manual":
            anchors = f"unigram {a['unigram_bits_per_char']:.3f}"
        else:
            anchors = (f"last value {sig(a['last_value_mse'])}, seasonal naive "
                       f"({a['seasonal_period']} y) {sig(a['seasonal_naive_mse'])}, "
                       f"AR({a['ar_p']}) {sig(a['ar_mse'])}")
        unk = (f" (unknown words {_ci(o['test_unk_acc'])})" if "test_unk_acc" in o else "")
        torch = (f"{_ci(pt, k)}" + (f" (unknown words {_ci(pt['test_unk_acc'])})"
                                    if "test_unk_acc" in pt else "")
                 if "mean" in pt else "—")  # fmt: skip
        if "note" in pt and "mean" in pt:
            torch += f"; {pt['note']}"
        rows.append([name, f"`{o['metric']}`", chosen, f"{_ci(o, k)}{unk}", torch, anchors])
    header = ["set", "metric", "chosen on validation", f"ours: mean ± 95% ({d['seeds']} seeds)",
              "PyTorch, same model and budget", "anchors"]  # fmt: skip
    return (table(header, rows, "lllrrl")
            + "\n\nMetric: test accuracy (higher is better), bits per character or MSE in the "
            "series' units (lower is better); ± is the half-width of the 95% t interval of the "
            f"mean over seeds.{_not_run(d)}{source('real_data')}")  # fmt: skip


def real_data_goals() -> str:
    """The issue's goals on real data, judged by ``benchmarks/real_data.py`` itself."""
    if not (BENCHMARKS / "real_data.json").is_file():
        return REAL_DATA_MISSING
    d = load("real_data")
    rows = []
    for name, r in d["sets"].items():
        g = r.get("goal")
        if g is None:
            continue
        if name == "turkish_pos":
            m = r["anchors"]["majority_tag_per_word"]["acc"]
            got = (f"{fixed(r['ours']['mean'], 3)} - {fixed(m, 3)} = "
                   f"{fixed(100 * g['value'], 1)} points")  # fmt: skip
        elif name == "sunspots":
            got = f"{sig(g['value'])} against AR(p) {sig(g['threshold'])}"
        else:
            got = fixed(g["value"], 3)
        rows.append([name, g["goal"], got, "**met**" if g["met"] else "not met"])
    return table(["set", "goal", "measured (mean over seeds)", ""], rows, "llrl") + _not_run(d)


def real_data_wall() -> str:
    """Each side's wall seconds per set, with that set's quiet-machine verdict."""
    if not (BENCHMARKS / "real_data.json").is_file():
        return REAL_DATA_MISSING
    d = load("real_data")
    rows = [[name, f"{sig(w['ours_s'])} ({sig(w['ours_compile_s'])})", sig(w["pytorch_s"]),
             f"{w['pytorch_over_ours']:.2f}x", "yes" if w["quiet"] else "**no: not a result**"]
            for name, r in d["sets"].items() if (w := r.get("wall"))]  # fmt: skip
    if not rows:
        return "*No set with a PyTorch side has been run yet.*" + _not_run(d)
    threads = sorted({r["pytorch"]["torch_threads"] for r in d["sets"].values()
                      if "torch_threads" in r["pytorch"]})  # fmt: skip
    return (table(["set", "ours s (compile s)", "PyTorch s", "PyTorch / ours", "quiet machine"],
                  rows, "lrrrl")
            + f"\n\nWall seconds over all {d['seeds']} seeds of the final run (selection not "
            f"counted); PyTorch at {', '.join(map(str, threads))} thread(s). A time is a result "
            "only where its set ran on a quiet machine.")  # fmt: skip


def mnist1d_wall() -> str:
    """``benchmarks/mnist1d_wall.py``: MNIST-1D wall time per seed, ours against PyTorch at
    the same configuration in one process (the reference run's, and the one chosen on
    validation), with each run's quiet-machine verdict."""
    rows = []
    for name in ("mnist1d_wall", "mnist1d_wall_chosen"):
        if not (BENCHMARKS / f"{name}.json").is_file():
            continue
        d = load(name)
        c, o, p, n = d["config"], d["ours"], d["pytorch"], d["seeds"]
        what = (f"{c['model'].upper()} {c['hidden']}, {c['epochs']} epochs, batch "
                f"{c['batch_size']}, dropout {c.get('dropout', 0.0):g}")  # fmt: skip
        rows.append([what, str(n), fixed(o["mean"], 3), f"{sig(o['wall_s'] / n)} "
                     f"({sig(o['compile_s'])})", fixed(p["mean"], 3), sig(p["wall_s"] / n),
                     f"{d['pytorch_over_ours']:.2f}x",
                     "yes" if d["quiet"] else "**no: not a result**"])  # fmt: skip
    threads = sorted({load(n)["pytorch"]["torch_threads"] for n in ("mnist1d_wall",
                      "mnist1d_wall_chosen") if (BENCHMARKS / f"{n}.json").is_file()})  # fmt: skip
    return (table(["configuration", "seeds", "ours test acc", "ours s/seed (compile s)",
                   "PyTorch test acc", "PyTorch s/seed", "PyTorch / ours", "quiet machine"],
                  rows, "lrrrrrrl")
            + f"\n\n*From `docs/benchmarks/mnist1d_wall.json` and `mnist1d_wall_chosen.json` "
            f"(`benchmarks/mnist1d_wall.py`; ours trains its seeds together in one `fit`, "
            f"compile included; PyTorch at {', '.join(map(str, threads))} threads, one seed "
            "after another).*")  # fmt: skip


def lm_budget() -> str:
    """``benchmarks/lm_budget.py``: a character LM at equal wall-clock, minGRU against the LSTM:
    the configuration each chose on validation text and its test bits/char over seeds, per
    run (the whole manual; the first 200,000 characters)."""
    rows = []
    for name in ("lm_budget", "lm_budget_200k"):
        if not (BENCHMARKS / f"{name}.json").is_file():
            continue
        d = load(name)
        chars = d["config"]["chars"]
        text = f"{chars:,} chars" if chars else "whole manual"
        for model, r in d["results"].items():
            ch = d["chosen"][model]
            block = ch.get("block", "none")
            shape = f"{ch['hidden']} x {ch['layers']}" + ("" if block == "none" else
                                                          f", block {block}")  # fmt: skip
            params = r["per_seed"][0]["num_params"]
            rows.append([text, model, shape, f"{params:,}", ", ".join(map(str, r["epochs"])),
                         f"{fixed(r['test_bpc_mean'], 3)} [{fixed(r['test_bpc_min'], 3)}, "
                         f"{fixed(r['test_bpc_max'], 3)}]",
                         "yes" if d["quiet"] else "**no: not a result**"])  # fmt: skip
    d = load("lm_budget")
    return (table(["text", "model", "chosen on validation", "params", "epochs per seed",
                   "test bits/char, mean [min, max]", "quiet machine"], rows, "lllrrrl")
            + f"\n\n*From `docs/benchmarks/lm_budget.json` and `lm_budget_200k.json` "
            f"(`benchmarks/lm_budget.py`, {d['config']['budget_s']:g} s of training per seed, "
            f"{d['config']['seeds']} seeds; {machine(d)}).*")  # fmt: skip


def precision() -> str:
    """``benchmarks/precision.py``: one train step per side (ms, GFLOP/s, share of the float32
    peak, PyTorch float32's time over it) and the LM's test bits/char in both precisions."""
    d = load("precision")
    rows = [[r["shape"], r["cell"], f"`{r['side']}`", fixed(r["ms"], 1), sig(r["gflops"]),
             f"{100 * r['peak_share']:.0f}%", f"{fixed(r['torch_f32_over_this'])}x"]
            for r in d["steps"]]  # fmt: skip
    lm = d["lm"]
    f32, bf16 = lm["float32"], lm["bfloat16"]
    return (table(["shape (B x T x D x H)", "cell", "side", "ms/step", "GFLOP/s", "of peak",
                   "PyTorch f32 time / this"], rows, "lllrrrr")
            + f"\n\nLanguage model, {lm['epochs']} epochs, hidden {lm['hidden']}, seed 0: test "
            f"bits/char float32 {fixed(f32['test_bpc'], 3)}, bfloat16 "
            f"{fixed(bf16['test_bpc'], 3)} (bfloat16 minus float32: {lm['bpc_gap']:+.3f}). "
            f"Peak: {d['peak']['description']}; {d['peak']['note']}. {source('precision')}")


def lm_bf16() -> str:
    """``benchmarks/lm.py --bf16``, every kept run (``lm_bf16_<letter>``): our four sides'
    training tokens/s (float32 and bfloat16, one device and the streams over 2), PyTorch
    float32's, the ratios issue 26 sets goals for and the bfloat16 runs' test bits/char
    against float32's; then each commit's median ratios."""
    rows, by_commit = [], {}
    runs = sorted(p.stem.rsplit("_", 1)[1] for p in BENCHMARKS.glob("lm_bf16_?.json"))
    for run in runs:
        d = load(f"lm_bf16_{run}")
        tps = d["torch"]["tokens_per_s"]
        gap = d["test_bpc_bf16_minus_f32"]
        commit = d["machine"]["git"]["head"][:7]
        f32, bf16 = (d[k]["tokens_per_s"] / tps for k in ("ours_dp", "ours_dp_bf16"))
        by_commit.setdefault(commit, []).append((f32, bf16))
        rows.append([
            f"`lm_bf16_{run}`", f"`{commit}`", "quiet" if d.get("quiet") else "**busy**",
            *(sig(d[k]["tokens_per_s"]) for k in ("ours", "ours_dp", "ours_bf16", "ours_dp_bf16")),
            f"{sig(tps)} ({d['torch']['threads']})", f"{fixed(f32)}x", f"**{fixed(bf16)}x**",
            f"{fixed(d['ours_dp']['test_bpc'], 3)} / "
            f"{fixed(d['ours_dp_bf16']['test_bpc'], 3)} ({gap['ours_dp']:+.3f})",
        ])  # fmt: skip
    header = ["run", "commit", "machine", "f32", "f32, 2 dev", "bf16", "bf16, 2 dev",
              "PyTorch f32 (threads)", "f32 2 dev / PyTorch", "bf16 2 dev / PyTorch",
              "test bits/char f32 / bf16, 2 dev (gap)"]  # fmt: skip
    medians = "; ".join(
        f"`{c}`: {len(v)} run{'s' if len(v) > 1 else ''}, median "
        f"{fixed(statistics.median(x[1] for x in v))}x bfloat16 "
        f"and {fixed(statistics.median(x[0] for x in v))}x float32 (2 devices) PyTorch float32"
        for c, v in by_commit.items())  # fmt: skip
    d = load(f"lm_bf16_{runs[0]}")
    return (table(header, rows, "lll" + "r" * 7 + "l")
            + f"\n\nTraining tokens/s, median pass of {d['config']['steps']} steps per side; "
            f"the sides alternate pass by pass in one process. By commit: {medians}."
            f"{source(f'lm_bf16_{runs[0]}')}")


def cli_lm() -> str:
    """``benchmarks/cli_lm.py``: the CLI's LM training tokens/s against ``lm.py``'s loop."""
    d = load("cli_lm")
    rows = [[r["side"], sig(r["tokens_per_s"]), f"{fixed(r['over_library'], 3)}x",
             r["each_round"]] for r in d["results"]]  # fmt: skip
    quiet = "quiet" if d.get("quiet") else "**busy: not a result**"
    return (table(["side", "training tokens/s (median of rounds)", "over the library",
                   "each round"], rows, "lrrl")
            + f"\n\n{d['config']['rounds']} rounds, {d.get('machine', d)['cpu_count']} cores, "
            f"{quiet} "
            f"(load {d['load']['before'][0]:.1f} before, {d['load']['after'][0]:.1f} after)."
            f"{source('cli_lm')}")


def startup() -> str:
    """``benchmarks/startup.py``: what a process pays before it computes, with the ml_dtypes
    the project holds (``startup``) and with 0.7.0 (``startup_ml_dtypes_070``)."""
    runs = [load("startup"), load("startup_ml_dtypes_070")]
    cols = [{r["stage"]: r for r in d["results"]} for d in runs]
    rows = []
    def cell(r: dict) -> str:
        return f"{fixed(r['median_s'])} ({fixed(r['min_s'])}-{fixed(r['max_s'])})"

    for stage in cols[0]:
        a, b = cols[0][stage], cols[1].get(stage)  # stages added since the second run: "-"
        rows.append([f"`{stage}`", cell(a), cell(b) if b else "-",
                     f"{fixed(b['median_s'] / a['median_s'])}x" if b else "-"])
    head = [f"stage (s, median of {runs[0]['config']['reps']}, min-max)",
            f"ml_dtypes {runs[0]['versions']['ml_dtypes']}",
            f"ml_dtypes {runs[1]['versions']['ml_dtypes']}", "second over first"]  # fmt: skip
    quiet = " and ".join("quiet" if d.get("quiet") else "**busy: not a result**" for d in runs)
    return (table(head, rows, "lrrr")
            + f"\n\nTwo runs one after the other ({quiet}); `import ml_dtypes` by "
            f"`-X importtime`: {fixed(runs[0]['ml_dtypes_import_s'], 3)} s and "
            f"{fixed(runs[1]['ml_dtypes_import_s'], 3)} s.{source('startup')}")


def _mutation_entries() -> list[dict]:
    """Every module's entry of ``mutation.json`` and ``mutation_core.json`` (the same
    runner, two output files), in ``tests/mutation/run.py``'s ``MODULES`` order."""
    entries: dict[str, dict] = {}
    for name in ("mutation", "mutation_core"):
        if (BENCHMARKS / f"{name}.json").exists():
            entries.update(load(name)["modules"])
    order = ["spans", "metrics", "buckets", "memory", "checkpoint_file", "checkpoints", "lm",
             "cells", "sequence", "bptt", "loop", "tasks"]  # fmt: skip
    return sorted(entries.values(),
                  key=lambda e: (order.index(e["module"]) if e["module"] in order else len(order),
                                 e["module"]))  # fmt: skip


def mutation() -> str:
    """``tests/mutation/run.py``: the mutation score per module (killed / non-equivalent)."""
    rows = []
    for e in _mutation_entries():
        if "error" in e:
            rows.append([f"`{e['path']}`", str(e["mutants"]), "-", "-", "-", "-",
                         f"error: {e['error']}"])  # fmt: skip
            continue
        score = f"{100 * e['score']:.0f}%"
        if e.get("interval95"):
            lo, hi = e["interval95"]
            score += f" (95% {100 * lo:.0f}-{100 * hi:.0f}%)"
        judged = str(e["ran"]) + (f" (sample, seed {e['seed']})" if e.get("sampled") else "")
        rows.append([f"`{e['path']}`", str(e["mutants"]), judged, str(e["killed"]),
                     str(e["equivalent"]), str(e["survived"]), score])  # fmt: skip
    return (table(["module", "mutants", "judged", "killed", "equivalent", "survived", "score"],
                  rows, "lrrrrrr")
            + "\n\n*From `docs/benchmarks/mutation.json` and `mutation_core.json` (written by "
            "`tests/mutation/run.py`; score = killed / (judged - equivalent), a timeout counted "
            "as killed; a sampled module's score carries a 95% Wilson interval).*")


def batch1() -> str:
    """``benchmarks/batch1.py``: a batch-1 LSTM forward per step against PyTorch, greedy
    decoding with the step's params prepared before the loop or not, and sampling."""
    d = load("batch1")
    c = d["config"]
    rows = [[r["side"], f"{fixed(r['us_per_step'], 1)} us a step"] for r in d["forward"]]
    rows += [[f"greedy decoding, {r['side']}", f"{sig(r['chars_per_s'])} chars/s"]
             for r in d["greedy"]]  # fmt: skip
    rows.append(["`lm.sample`, one sample", f"{sig(d['sample_chars_per_s'])} chars/s"])
    return (table([f"LSTM {c['hidden']}, batch 1 ({c['steps']} steps forward)", "speed"],
                  rows, "lr")
            + f"\n\nGreedy decoding drew the same tokens both ways: "
            f"{'yes' if d['greedy_same_tokens'] else '**no**'}.{source('batch1')}")  # fmt: skip


def infer_step() -> str:
    """``benchmarks/infer_step.py``: the forward without a gradient with the cells' ``infer``
    step against their training step, and PyTorch's."""
    d = load("infer_step")
    threads = d["config"]["torch_threads"]
    rows = [[r["cell"].upper(), r["shape"], fixed(r["forward_ms"]), fixed(r["infer_ms"]),
             fixed(r["forward_over_infer"]) + "x", fixed(r["torch_ms"]),
             fixed(r["torch_over_infer"]) + "x"] for r in d["rows"]]  # fmt: skip
    return (table(["cell", "shape", "training step, ms", "`infer` step, ms", "speed-up",
                   f"PyTorch ({threads} threads), ms", "our speed / PyTorch's"], rows, "llrrrrr")
            + source("infer_step"))  # fmt: skip


def profile_step_lm() -> str:
    """``benchmarks/profile_step.py`` part 4 at the LM's shape: the step matmul with small
    kernels between consecutive ones, on every core and pinned to one."""
    d = load("profile_step_lm")
    b = d["between_kernels"]
    keys = list(b["all_cores"])
    rows = [[name.replace("_", " ")] + [fixed(v[k], 0) for k in keys]
            for name, v in b.items() if v]  # fmt: skip
    return table(["us per time step", *keys], rows) + source("profile_step_lm")


def mutation_fresh() -> str:
    """``tests/mutation/fresh.py``: fresh (out-of-sample) draws scored before any fix, and
    what each survivor became afterwards; a pooled row per seed."""
    d = load("mutation_fresh")
    rows = []
    by_seed: dict[int, list[dict]] = {}
    for e in d["modules"].values():
        by_seed.setdefault(e["seed"], []).append(e)
    for seed in sorted(by_seed):
        killed = judged = holes = 0
        for e in by_seed[seed]:
            lo, hi = e["interval95"]
            fixed_by = sum(o.startswith("killed") for o in e["outcomes"].values())
            rows.append([f"`{e['path']}`", f"{e['ran']} (seed {e['seed']}, `{e['commit']}`)",
                         str(e["killed"]), str(e["equivalent"]), str(e["survived"]),
                         f"{100 * e['score']:.0f}% (95% {100 * lo:.0f}-{100 * hi:.0f}%)",
                         f"{fixed_by} killed by new tests, {len(e['outcomes']) - fixed_by} "
                         "equivalent" if e["outcomes"] else "-"])  # fmt: skip
            killed += e["killed"]
            judged += e["ran"] - e["equivalent"]
            holes += fixed_by
        # the survivors shown equivalent afterwards are out of the denominator: the tests'
        # real miss rate on mutants they had never seen
        real = killed + holes
        rows.append([f"all, seed {seed}", "", str(killed), "", "",
                     f"{100 * killed / judged:.0f}%",
                     f"{holes} real holes: {killed} of {real} non-equivalent mutants killed "
                     f"({100 * killed / real:.0f}%)"])  # fmt: skip
    return (table(["module", "judged", "killed", "equivalent", "survived",
                   "score before fixes", "the survivors afterwards"], rows, "llrrrrl")
            + "\n\n*From `docs/benchmarks/mutation_fresh.json` (`tests/mutation/fresh.py` over "
            "`run.py --sample 30` draws; each survivor's outcome is listed there).*")  # fmt: skip


TABLES: dict[str, Callable[[], str]] = {
    f.__name__: f
    for f in (vs_numpy_presets_epoch, vs_numpy_presets_process, vs_numpy_study, scale,
              scale_200k, peak_rss, peak_rss_buckets, rss_stages, lm, tagging, vs_peers_lstm,
              devices_b64, seeds, vs_keras, study_depth, parallel, defaults,
              study_parallel, real_data, real_data_goals, real_data_wall, mnist1d_wall, precision,
              parallel_scan, parallel_scan_glibc, parallel_b32, cli_lm, batch1, lm_budget, mutation,
              mutation_fresh, infer_step, profile_step_lm, startup, lm_bf16)
}  # fmt: skip


def render(name: str) -> str:
    """The markdown of table ``name`` (a key of ``TABLES``)."""
    if name not in TABLES:
        raise KeyError(f"unknown table {name!r}; known: {', '.join(TABLES)}")
    return TABLES[name]()


def fill(markdown: str) -> str:
    """``markdown`` with every ``<!-- table: NAME -->`` line replaced by its table."""
    return MARKER.sub(lambda m: render(m.group(1)), markdown)


def fill_readme(markdown: str) -> str:
    """``markdown`` with every ``<!-- NAME -->`` ... ``<!-- /NAME -->`` block's body replaced
    by table ``NAME``."""
    return README_BLOCK.sub(
        lambda m: f"<!-- {m.group(1)} -->\n{render(m.group(1))}\n<!-- /{m.group(1)} -->",
        markdown)  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1:] == ["--readme"]:
        README.write_text(fill_readme(README.read_text()))
        sys.exit(0)
    for name in sys.argv[1:] or TABLES:
        print(f"## {name}\n\n{render(name)}\n")
