"""``--lm-batches streams`` against ``random`` for ``--task lm``'s default model, and PyTorch's
char LSTM at the same optimizer steps, on 35,000 characters of the Python reference manual.

    python benchmarks/lm_batches.py [--json PATH] [--quick] [--seeds N] [--epochs E]

Two texts (``jaxrnn.datasets.python_manual_text()``), each with its last 10% as test text:

* **choose**: characters 100,000-135,000; the default is chosen on ``val_bpc``, the last
  10% of the training part (``--val-fraction 0.1``, read as one stream), never the test text;
* **check**: characters 300,000-335,000 (new to the choice): test bits/char.

Ours: ``jaxrnn.runs.run.fit`` with ``--task lm --data TEXT`` and every other flag left at its
default (``--model auto``: the character LSTM, embedding 32, LSTM 256, Adam 2e-3, 32 streams
or windows of 64), ``--seeds N`` in one program, once per ``--lm-batches`` value; ``--epochs``
(default: the preset's) fixes the step budget, ``epochs * K`` steps, K the streams' chunks per
epoch (a random epoch takes as many). PyTorch (``--seeds`` seeds, ``torch.manual_seed``): the
same model, Adam and gradient clip, ``epochs * K`` steps of 32 random windows of 65
characters of the same training part, each from a zero state (its char-rnn example's
sampler); its validation and test bits/char read the text as one stream, the state carried,
as ours. Quality, not speed.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _common import QuietCheck, finish, header, parser, table  # noqa: E402

TEXTS = {"choose": (100_000, 135_000), "check": (300_000, 335_000)}
MODES = ("streams", "random")


def torch_side(cfg, vocab, train_ids, val_ids, test_ids, steps: int, seed: int) -> dict:
    """PyTorch's char LSTM with random windows: ``val_bpc``/``test_bpc`` after ``steps``."""
    import numpy as np
    import torch
    from _torch_models import CharLM, optimizer_step, stream_bpc

    from jaxrnn.runs.prepare_lm import one_stream_rows

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    v, b, t = vocab.size, cfg.batch_size, cfg.seq_len
    net = CharLM(v, cfg.embed_dim, cfg.hidden)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    text = torch.from_numpy(np.asarray(train_ids, np.int64))
    for _ in range(steps):
        starts = rng.integers(0, len(train_ids) - t, b)
        idx = torch.from_numpy(starts[:, None] + np.arange(t))
        logits, _ = net(text[idx])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, v), text[idx + 1].reshape(-1))
        optimizer_step(opt, net.parameters(), loss, clip_norm=cfg.clip_norm)

    def bpc(ids) -> float:
        return stream_bpc(net, one_stream_rows(np.asarray(ids), t))

    return {"val_bpc": bpc(val_ids) if val_ids is not None else None, "test_bpc": bpc(test_ids)}


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=None, help="[the preset's]")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    check = QuietCheck()
    payload = {"machine": header(("torch",))}

    from jaxrnn.data.text import split_text
    from jaxrnn.datasets import python_manual_text
    from jaxrnn.runs.config import TrainConfig, resolve_config
    from jaxrnn.runs.prepare_lm import prepare_lm
    from jaxrnn.runs.run import fit

    manual = python_manual_text()
    seeds = 1 if args.quick else args.seeds
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (a, b) in TEXTS.items():
            n = 3_000 if args.quick else b - a
            path = Path(tmp) / f"{name}.txt"
            path.write_text(manual[a : a + n])
            extra = dict(val_fraction=0.1) if name == "choose" else {}
            if args.quick:
                extra.update(hidden=16, embed_dim=8, batch_size=4, seq_len=16)
            if args.epochs:
                extra["epochs"] = args.epochs
            if args.quick:
                extra["epochs"] = 1
            for mode in MODES:
                cfg = TrainConfig(task="lm", data=str(path), lm_batches=mode, **extra)
                t = time.perf_counter()
                r = fit(cfg, seeds=seeds)
                finals = [r.seed_final(i) for i in range(len(r.seeds))]
                k = r.extra["train_tokens"] // (r.config.batch_size * r.config.seq_len)
                steps = k * r.config.epochs
                row = dict(text=name, side=f"ours {mode}", steps=steps,
                           epochs=r.config.epochs, wall_s=time.perf_counter() - t)  # fmt: skip
                for key in ("val_bpc", "test_bpc"):
                    if key in finals[0]:
                        row[key] = [f[key] for f in finals]
                rows.append(row)
                print(row, flush=True)
            full = resolve_config(TrainConfig(task="lm", data=str(path), **extra))
            data = prepare_lm(full)
            ids = data.vocab.encode(path.read_text())
            train_ids, test_ids = split_text(ids, full.test_fraction)
            val_ids = None
            if full.val_fraction:
                train_ids, val_ids = split_text(train_ids, full.val_fraction)
            t = time.perf_counter()
            outs = [torch_side(full, data.vocab, train_ids, val_ids, test_ids, steps, s)
                    for s in range(seeds)]  # fmt: skip
            row = dict(text=name, side="pytorch random", steps=steps, epochs=full.epochs,
                       wall_s=time.perf_counter() - t)  # fmt: skip
            for key in ("val_bpc", "test_bpc"):
                if outs[0][key] is not None:
                    row[key] = [o[key] for o in outs]
            rows.append(row)
            print(row, flush=True)
    for r in rows:
        for key in ("val_bpc", "test_bpc"):
            if key in r:
                r[key.replace("_bpc", "_mean")] = sum(r[key]) / len(r[key])
    table("lm_batches", [{k: r.get(k) for k in ("text", "side", "steps", "val_mean",
                                                "test_mean")} for r in rows])  # fmt: skip
    payload.update(seeds=seeds, rows=rows)
    finish(args, payload, t0, check)
    return 0


if __name__ == "__main__":
    sys.exit(main())
