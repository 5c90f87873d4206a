"""``--task lm``'s initialisation, chosen on validation bits/char: which of our defaults
keeps the character LSTM behind PyTorch's at the same optimizer steps.

    python benchmarks/lm_init.py [--json PATH] [--quick] [--seeds N] [--first-seed S]
                                 [--only NAME,...]

With the same initial weights our LSTM LM and PyTorch's train alike (``benchmarks/lm.py``);
with each side's own defaults PyTorch's was 0.2-0.3 bits/char ahead at equal steps whatever
the sampler (``benchmarks/lm_batches.py``). This script isolates the initialisation: on the
choice text of ``lm_batches.py`` (characters 100,000-135,000 of the Python manual,
``--val-fraction 0.1``) it trains ``--task lm`` with every other flag at its default (the
LSTM 256 over an embedding of 32, Adam 2e-3, 20 epochs of 12 steps = 240 steps), ``--seeds``
seeds (``--first-seed`` onwards) in one program, from each candidate initialisation, and
prints **validation** bits/char only (the test text is not read for the choice):

* ``orthogonal``: Keras' scheme (``--init orthogonal``; the default before): embedding
  uniform(-0.05, 0.05), Glorot-uniform ``w_ih``, orthogonal ``w_hh`` blocks, forget bias 1,
  Glorot-uniform readout, zero biases;
* ``orthogonal+embed_n01``: the same with the embedding drawn N(0, 1) (PyTorch's
  ``nn.Embedding``), everything else Keras': the embedding alone;
* ``torch``: PyTorch's defaults (``--init torch``; ``jaxrnn.weights.init.torch_params``);
* ``torch+forget1``: PyTorch's, with the forget gate's ``b_ih`` rows 1 and ``b_hh`` rows 0;
* ``torch random``: PyTorch's defaults with ``--lm-batches random``;

and PyTorch's char LSTM (``lm_batches.torch_side``: its own init, random windows, one
thread) at the same steps beside them. The variants that are not a flag
(``orthogonal+embed_n01``, ``torch+forget1``) replace the initial params the run draws
(``jaxrnn.runs.jax_run.initial_params``) for this process only. Quality, not speed.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _common import QuietCheck, finish, header, parser, table  # noqa: E402
from lm_batches import TEXTS, torch_side  # noqa: E402

# name -> (TrainConfig fields, params edit or None)
VARIANTS = {
    "orthogonal": (dict(init="orthogonal"), None),
    "orthogonal+embed_n01": (dict(init="orthogonal"), "embed_n01"),
    "torch": (dict(init="torch"), None),
    "torch+forget1": (dict(init="torch"), "forget1"),
    "torch random": (dict(init="torch", lm_batches="random"), None),
}


def edit_params(kind: str, params: dict, seeds: list[int]) -> dict:
    """``params`` stacked ``[S, ...]`` with ``kind``'s change, drawn from each seed."""
    import numpy as np

    from jaxrnn.weights.cellspec import bias_init_blocks, get_spec

    params = dict(params)
    if kind == "embed_n01":  # nn.Embedding's N(0, 1), a generator of its own per seed
        e = params["embed"]
        params["embed"] = np.stack([np.random.default_rng(10_000 + s).standard_normal(e.shape[1:])
                                    for s in seeds]).astype(e.dtype)  # fmt: skip
    elif kind == "forget1":  # Keras' unit_forget_bias on top of PyTorch's draws
        layers = []
        for cells in params["rnn"]:
            new = []
            for c in cells:
                b_ih, b_hh = np.array(c.b_ih), np.array(c.b_hh)
                for rows, value in bias_init_blocks(get_spec("lstm"), b_ih.shape[-1] // 4):
                    b_ih[:, rows], b_hh[:, rows] = value, 0.0
                new.append(c._replace(b_ih=b_ih, b_hh=b_hh))
            layers.append(tuple(new))
        params["rnn"] = tuple(layers)
    else:
        raise ValueError(kind)
    return params


@contextlib.contextmanager
def patched_init(kind: str | None):
    """``jaxrnn.runs.jax_run.initial_params`` followed by ``edit_params(kind)``."""
    if kind is None:
        yield
        return
    from jaxrnn.runs import jax_run

    orig = jax_run.initial_params

    def initial_params(model, cfg, seeds):
        return edit_params(kind, orig(model, cfg, seeds), list(seeds))

    jax_run.initial_params = initial_params
    try:
        yield
    finally:
        jax_run.initial_params = orig


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--first-seed", type=int, default=0, help="seeds S .. S + N - 1 [0]")
    ap.add_argument("--only", default="", help="comma-separated variants (and/or 'pytorch')")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    check = QuietCheck()
    payload = {"machine": header(("torch",))}

    import torch

    from jaxrnn.data.text import split_text
    from jaxrnn.datasets import python_manual_text
    from jaxrnn.runs.config import TrainConfig, resolve_config
    from jaxrnn.runs.prepare_lm import prepare_lm
    from jaxrnn.runs.run import fit

    torch.set_num_threads(1)
    only = [s for s in args.only.split(",") if s]
    names = [n for n in VARIANTS if not only or n in only]
    seeds = 1 if args.quick else args.seeds
    a, b = TEXTS["choose"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "choose.txt"
        path.write_text(python_manual_text()[a : a + (3_000 if args.quick else b - a)])
        extra: dict = dict(val_fraction=0.1)
        if args.quick:
            extra.update(hidden=16, embed_dim=8, batch_size=4, seq_len=16, epochs=1)
        steps = None
        for name in names:
            fields, kind = VARIANTS[name]
            cfg = TrainConfig(task="lm", data=str(path), seed=args.first_seed, **extra, **fields)
            t = time.perf_counter()
            with patched_init(kind):
                r = fit(cfg, seeds=seeds)
            k = r.extra["train_tokens"] // (r.config.batch_size * r.config.seq_len)
            steps = k * r.config.epochs
            val = [r.seed_final(i)["val_bpc"] for i in range(len(r.seeds))]
            row = dict(side=f"ours {name}", steps=steps, val_bpc=val,
                       val_mean=sum(val) / len(val), wall_s=time.perf_counter() - t)  # fmt: skip
            rows.append(row)
            print(row, flush=True)
        if not only or "pytorch" in only:
            full = resolve_config(TrainConfig(task="lm", data=str(path), **extra))
            data = prepare_lm(full)
            ids = data.vocab.encode(path.read_text())
            train_ids, test_ids = split_text(ids, full.test_fraction)
            train_ids, val_ids = split_text(train_ids, full.val_fraction)
            if steps is None:
                steps = (len(train_ids) - 1) // full.batch_size // full.seq_len * full.epochs
            t = time.perf_counter()
            val = [torch_side(full, data.vocab, train_ids, val_ids, test_ids, steps, s)["val_bpc"]
                   for s in range(args.first_seed, args.first_seed + seeds)]  # fmt: skip
            row = dict(side="pytorch random", steps=steps, val_bpc=val,
                       val_mean=sum(val) / len(val), wall_s=time.perf_counter() - t)  # fmt: skip
            rows.append(row)
            print(row, flush=True)
    table("lm_init (choice text, validation bits/char)",
          [{k: r[k] for k in ("side", "steps", "val_mean")} for r in rows])  # fmt: skip
    ours = [r for r in rows if r["side"].startswith("ours")]
    if ours:
        best = min(ours, key=lambda r: r["val_mean"])
        payload["chosen"] = best["side"]
        print(f"lowest validation bits/char: {best['side']} ({best['val_mean']:.3f})")
    payload.update(seeds=list(range(args.first_seed, args.first_seed + seeds)), text="choose",
                   rows=rows)
    finish(args, payload, t0, check)
    return 0


if __name__ == "__main__":
    sys.exit(main())
