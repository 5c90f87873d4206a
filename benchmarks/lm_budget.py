"""A character language model at equal wall-clock: ``--model mingru`` against ``--model lstm``.

    python benchmarks/lm_budget.py [--budget 45] [--seeds 3] [--chars 0] [--json PATH]
        [--quick]

Issue 24's goal: a character LM with ``--model mingru`` trained for the same wall-clock
budget as ``--model lstm`` reaches test bits/char no worse than the LSTM's. The text is
the Python manual (``jaxrnn.datasets.python_manual_text``, shipped with Python; its first
``--chars`` characters if given), split 80/10/10 into training, validation and test text.
Every run is ``--task lm`` (embedding 32, 32 streams of 64 characters, Adam 2e-3, clip by
global norm 5) trained for the epochs that fill ``--budget`` seconds of training per seed,
after the compile (``jaxrnn.study.parallel.train_budgeted``: two short probe runs measure
an epoch's seconds, one under ``--quick``; the validation and test text are scored after
the first epoch and the last only, ``--eval-every``, for both alike; the final scoring counts
in the budget).

1. **Choice, on validation text only**: seed 0 of each candidate width, depth and block
   of each model (``CANDIDATES``); the one with the lowest validation bits/char is kept.
2. **Report**: the kept configuration of each model on ``--seeds`` seeds (seed 0's run
   from step 1 reused), one seed after another, each with the same budget: test bits/char
   per seed, mean, min and max; epochs trained; tokens/s.

The test text is read only for the report. JSON: the quiet check's keys, ``machine``,
``config``, ``candidates`` (per model and candidate: hidden, layers, block, parameters, epochs,
val and test bits/char of seed 0), ``chosen``, ``results[model]`` (per seed and summary)
and ``verdict``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import QuietCheck, finish, header, parser  # noqa: E402

# (hidden, layers, block) per model, chosen among on validation text: the LSTM preset's
# width and its neighbours; minGRU stacked directly, and in its paper's residual block
# (``--block residual``, the MLP ``--block-ff`` times the width): the minRNN paper's
# language models stack such blocks. A block is "none" or "residual:K" (K = --block-ff).
CANDIDATES: dict[str, list[tuple[int, int, str]]] = {
    "lstm": [(128, 1, "none"), (192, 1, "none"), (256, 1, "none")],
    "mingru": [(128, 2, "none"), (64, 2, "residual:4"), (128, 2, "residual:2"),
               (128, 3, "residual:2")],
}
# --quick: one layer each (a second layer about doubles a residual model's compile and every
# run traces it again); minGRU still chooses between a plain stack and a residual block
QUICK_CANDIDATES: dict[str, list[tuple[int, int, str]]] = {
    "lstm": [(8, 1, "none")], "mingru": [(8, 1, "none"), (8, 1, "residual:2")]}


def config(model: str, hidden: int, layers: int, path: str, seed: int, quick: bool,
           block: str = "none") -> Any:  # fmt: skip
    from jaxrnn.runs.config import TrainConfig

    kind, _, ff = block.partition(":")
    return TrainConfig(task="lm", model=model, data=path, hidden=hidden, layers=layers,
                       block=kind, block_ff=int(ff or 4),
                       embed_dim=8 if quick else 32, seq_len=16 if quick else 64,
                       batch_size=4 if quick else 32, optimizer="adam", lr=2e-3,
                       clip_norm=5.0, val_fraction=0.1, test_fraction=0.1, epochs=1,
                       eval_every=10**6,
                       seed=seed)  # fmt: skip


def one_run(cfg: Any, data: Any, budget: float, quick: bool = False) -> dict[str, Any]:
    """``cfg`` trained for ``budget`` seconds (one seed): scores, epochs, tokens/s.
    ``quick``: one probe run, not two (``train_budgeted``'s ``probe_share`` 0)."""
    from jaxrnn.study.parallel import PROBE_SHARE, train_budgeted

    t = train_budgeted(cfg, data, 1, budget, 0.0 if quick else PROBE_SHARE)
    r = t["result"]
    return {"seed": cfg.seed, "epochs": t["epochs"], "trained_s": t["trained_s"],
            "compile_s": t["compile_s"], "num_params": r.num_params,
            "val_bpc": r.final["val_bpc"], "test_bpc": r.final["test_bpc"],
            "train_bpc": r.final["train_bpc"],
            "tokens_per_s": r.extra.get("tokens_per_s")}  # fmt: skip


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument(
        "--budget",
        type=float,
        default=45.0,
        help="seconds of training per run (one seed), compile apart [45]",
    )
    ap.add_argument("--seeds", type=int, default=3, help="seeds of the report [3]")
    ap.add_argument("--chars", type=int, default=0,
                    help="characters of text, 0 = the whole manual (465,126) [0]")  # fmt: skip
    args = ap.parse_args()
    if args.quick:
        args.budget, args.seeds, args.chars = 0.2, 2, 4_000
    check = QuietCheck()
    t0 = time.perf_counter()
    info = header()
    from jaxrnn.datasets import python_manual_text
    from jaxrnn.runs.config import resolve_config
    from jaxrnn.runs.registry import get_spec
    from jaxrnn.study.parallel import _compile_cache

    cands = QUICK_CANDIDATES if args.quick else CANDIDATES
    out: dict[str, Any] = {"machine": info, "config": {
        "budget_s": args.budget, "seeds": args.seeds, "chars": args.chars,
        "text": "jaxrnn.datasets.python_manual_text()[:chars], 80/10/10",
        "candidates": cands}, "candidates": {}, "chosen": {}, "results": {}}  # fmt: skip
    # a fresh persistent compilation cache: a run's probes and real run share one compile
    with tempfile.TemporaryDirectory() as tmp, _compile_cache():
        path = os.path.join(tmp, "python_manual.txt")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(python_manual_text()[: args.chars or None])
        base = resolve_config(config("lstm", 8, 1, path, 0, args.quick))
        data = get_spec(base).prepare(base, None)
        for model, grid in cands.items():
            runs = []
            for hidden, layers, block in grid:
                cfg = config(model, hidden, layers, path, 0, args.quick, block)
                r = one_run(cfg, data, args.budget, args.quick)
                runs.append({"hidden": hidden, "layers": layers, "block": block, **r})
                print(f"choice {model} H {hidden} x {layers} block {block}: {r['epochs']} epochs, "
                      f"val {r['val_bpc']:.3f} bits/char ({r['num_params']:,} params)",
                      flush=True)  # fmt: skip
            out["candidates"][model] = runs
            best = min(runs, key=lambda c: c["val_bpc"])
            shape = ("hidden", "layers", "block")
            out["chosen"][model] = {k: best[k] for k in shape}
            per_seed = [{k: v for k, v in best.items() if k not in shape}]
            for seed in range(1, args.seeds):
                cfg = config(model, best["hidden"], best["layers"], path, seed, args.quick,
                             best["block"])  # fmt: skip
                per_seed.append(one_run(cfg, data, args.budget, args.quick))
            test = [r["test_bpc"] for r in per_seed]
            out["results"][model] = {
                "per_seed": per_seed, "test_bpc_mean": sum(test) / len(test),
                "test_bpc_min": min(test), "test_bpc_max": max(test),
                "epochs": [r["epochs"] for r in per_seed],
                "tokens_per_s": [r["tokens_per_s"] for r in per_seed]}  # fmt: skip
    rows = []
    for model, r in out["results"].items():
        ch = out["chosen"][model]
        rows.append(f"{model:7s} H {ch['hidden']:4d} x {ch['layers']} block {ch['block']}: "
                    f"test bits/char "
                    f"{r['test_bpc_mean']:.3f} [{r['test_bpc_min']:.3f}, {r['test_bpc_max']:.3f}] "
                    f"over {args.seeds} seeds, epochs {r['epochs']}")  # fmt: skip
    print(f"\nat {args.budget:g} s of training per seed:")
    print("\n".join(rows))
    lstm, mingru = out["results"]["lstm"], out["results"]["mingru"]
    diff = mingru["test_bpc_mean"] - lstm["test_bpc_mean"]
    ok = diff <= 0
    out["verdict"] = {"mingru_no_worse": ok, "difference_bpc": diff}
    print(
        f"minGRU - LSTM: {out['verdict']['difference_bpc']:+.3f} bits/char: "
        f"{'no worse (goal met)' if ok else 'worse (goal not met)'}"
    )
    finish(args, out, t0, check)


if __name__ == "__main__":
    main()
