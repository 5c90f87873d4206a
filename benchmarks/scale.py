"""Real data sizes: epoch time, compile time and peak RSS, ours against PyTorch and Keras.

Generated emotion texts with a realistic length spread (``python -m jaxrnn.data.synthetic
--length-spread``: 5-100 words, median 15, a log-normal long tail), 80/20 split, at each
size; the same model everywhere: Embedding(V, 16) -> 3 bidirectional LSTM layers of 128,
masked -> Dense(6), Adam 1e-3, batch 32 (at the presets' 1e-2 this BiLSTM stays at chance
on these texts; at 1e-3 it learns them, and every side reports its test accuracy). Every
side runs in its own child process (its peak RSS is that child's alone), sides alternating,
and evaluates both splits
after each epoch as ``jaxrnn.runs`` does:

* ours: ``python -m jaxrnn.train --model bilstm --batch-size 32`` with its defaults
  (``--max-len auto``, ``--buckets auto``); epoch = the compiled epochs' time / epochs
  (``run_s``), compile apart;
* PyTorch ``packed``: each batch padded to its own longest text and run through
  ``pack_padded_sequence`` (the masked model exactly); ``padded``: the same batches without
  packing, the readout taken at each text's last token (forward) and first (backward), so
  the backward direction starts on padding (not masked: the speed of the usual shortcut);
  at 2 threads (torch's default here) and 1;
* Keras 3 (JAX backend): ``Embedding(mask_zero=True)``, ``Bidirectional(LSTM)`` x3, fit on
  the texts padded to the data set's --max-len auto length; a warm-up ``fit`` and
  ``evaluate`` on a few batches of every shape first (compile = its time), then the timed
  epochs.

    python benchmarks/scale.py --json docs/benchmarks/scale.json   # 16,200 and 200,000 texts
    python benchmarks/scale.py --quick                              # 60 texts, a smoke test
    python benchmarks/scale.py --sizes 16200 --max-batches 100      # peers timed on part
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import QuietCheck, parser  # noqa: E402
from _timing import machine_info, write_json  # noqa: E402
from peak_rss import measure  # noqa: E402

HERE = os.path.abspath(__file__)
LR = 1e-3  # Adam's, every side
# --quick: 10 texts per class, 48 of them training texts: a full batch and a partial one
QUICK_SIZE = 60


# ----------------------------------------------------------------------------- workers


def _load(path: str) -> tuple[Any, Any, Any, int]:
    """The CSV's texts split and encoded as ``jaxrnn.runs`` does (its tokenizer, --max-len
    auto): ``(train Arrays, test Arrays, label names, max_len)``."""
    from jaxrnn.runs.config import TrainConfig, resolve_config
    from jaxrnn.runs.prepare import prepare_data

    cfg = resolve_config(TrainConfig(model="bilstm", data=path, batch_size=32))
    d = prepare_data(cfg)
    return d.train, d.test, d.label_names, int(d.tokenizer.max_len), d.tokenizer.vocab_size


def worker_torch(path: str, epochs: int, packed: bool, threads: int, max_batches: int) -> dict:
    import numpy as np
    import torch
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    train, test, names, _, vocab = _load(path)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(vocab, 16, padding_idx=0)
            self.rnn = nn.LSTM(16, 128, 3, batch_first=True, bidirectional=True)
            self.out = nn.Linear(256, len(names))

        def forward(self, ids, lengths):
            x = self.emb(ids)
            if packed:
                _, (h, _) = self.rnn(pack_padded_sequence(x, lengths.clamp(min=1), True, False))
                return self.out(torch.cat([h[-2], h[-1]], 1))
            y, _ = self.rnn(x)
            last = (lengths.clamp(min=1) - 1)[:, None, None].expand(-1, 1, 128)
            fwd = y[:, :, :128].gather(1, last)[:, 0]
            return self.out(torch.cat([fwd, y[:, 0, 128:]], 1))

    net = Net()
    opt = torch.optim.Adam(net.parameters(), LR)
    loss_fn = nn.CrossEntropyLoss()

    def batches(a, bs, order):
        for i in range(0, len(order), bs):
            r = order[i : i + bs]
            t = max(1, int(a.lengths[r].max()))
            yield (torch.from_numpy(a.ids[r, :t]).long(), torch.from_numpy(a.lengths[r]).long(),
                   torch.from_numpy(a.labels[r]).long())

    def evaluate(a):
        net.eval()
        right = 0
        with torch.no_grad():
            for ids, lengths, y in batches(a, 256, np.arange(len(a.labels))):
                right += int((net(ids, lengths).argmax(1) == y).sum())
        net.train()
        return right / len(a.labels)

    times, train_times, acc = [], [], float("nan")
    rng = np.random.default_rng(0)
    for _ in range(epochs):
        t0 = time.perf_counter()
        order = rng.permutation(len(train.labels))
        for k, (ids, lengths, y) in enumerate(batches(train, 32, order)):
            if max_batches and k >= max_batches:
                break
            opt.zero_grad()
            loss_fn(net(ids, lengths), y).backward()
            opt.step()
        train_times.append(time.perf_counter() - t0)
        if not max_batches:
            evaluate(train)
            acc = evaluate(test)
        times.append(time.perf_counter() - t0)
    return {"epoch_s": min(times), "train_s": min(train_times), "compile_s": 0.0,
            "test_acc": acc}


def worker_keras(path: str, epochs: int, max_batches: int) -> dict:
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    train, test, names, _, vocab = _load(path)
    keras.utils.set_random_seed(0)
    L = keras.layers
    model = keras.Sequential([keras.Input((train.ids.shape[1],), dtype="int32"),
                              L.Embedding(vocab, 16, mask_zero=True),
                              L.Bidirectional(L.LSTM(128, return_sequences=True)),
                              L.Bidirectional(L.LSTM(128, return_sequences=True)),
                              L.Bidirectional(L.LSTM(128)),
                              L.Dense(len(names))])  # fmt: skip
    model.compile(keras.optimizers.Adam(LR),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])  # fmt: skip
    n = len(train.labels) if not max_batches else min(len(train.labels), 32 * max_batches)
    # Warm-up: every batch shape the epoch meets (full and last partial batches of fit and
    # of both evaluations) compiled on a few rows, so the timed epochs compile nothing.
    t0 = time.perf_counter()
    model.fit(train.ids[: 32 + n % 32], train.labels[: 32 + n % 32], batch_size=32, epochs=1,
              verbose=0)  # fmt: skip
    for a in (train, test):
        k = 256 + len(a.labels) % 256
        model.evaluate(a.ids[:k], a.labels[:k], batch_size=256, verbose=0)
    compile_s = time.perf_counter() - t0
    times, acc = [], float("nan")
    for _ in range(max(1, epochs)):
        t0 = time.perf_counter()
        model.fit(train.ids[:n], train.labels[:n], batch_size=32, epochs=1, verbose=0,
                  shuffle=True)  # fmt: skip
        tt = time.perf_counter() - t0
        if not max_batches:
            model.evaluate(train.ids, train.labels, batch_size=256, verbose=0)
            acc = float(model.evaluate(test.ids, test.labels, batch_size=256, verbose=0)[1])
        times.append((time.perf_counter() - t0, tt))
    best = min(times)
    return {"epoch_s": best[0], "train_s": best[1], "compile_s": compile_s, "test_acc": acc}


# ----------------------------------------------------------------------------- driver


def run_side(side: dict, data: str, epochs: int, max_batches: int, d: str) -> dict:
    out = os.path.join(d, "side.json")
    if side["name"] == "ours":
        argv = [sys.executable, "-m", "jaxrnn.train", "--data", data, "--model", "bilstm",
                "--batch-size", "32", "--lr", str(LR), "--epochs", str(epochs), "--quiet",
                "--no-compile-cache", "--json", out]  # fmt: skip
    else:
        argv = [sys.executable, HERE, "--worker", side["name"], "--data", data, "--epochs",
                str(epochs), "--threads", str(side.get("threads", 1)), "--max-batches",
                str(max_batches), "--out", out]  # fmt: skip
    r = measure(argv)
    if r["rc"] != 0:
        return {**side, "error": r["stderr"][-500:]}
    got = json.load(open(out))
    if side["name"] == "ours":
        got = {"epoch_s": got["run_s"] / epochs, "compile_s": got["compile_s"],
               "buckets": got.get("buckets"), "test_acc": got["final"]["test_acc"]}  # fmt: skip
    return {**side, **got, "peak_rss_mb": r["peak_rss_mb"], "process_wall_s": r["wall_s"]}


def main() -> int:
    ap = parser(__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="16200,200000", help="texts per data set [16200,200000]")
    ap.add_argument("--epochs", type=int, default=1, help="epochs per side")
    ap.add_argument("--max-batches", type=int, default=0,
                    help="peers: time only this many training batches (no evaluation); 0 = all")
    ap.add_argument("--sides", default="ours,torch_packed,torch_padded,keras",
                    help="[ours,torch_packed,torch_padded,keras]")
    ap.add_argument("--torch-threads", default="2,1", help="PyTorch thread counts to time [2,1]")
    ap.add_argument("--worker", help=argparse_hidden())
    ap.add_argument("--data", help=argparse_hidden())
    ap.add_argument("--threads", type=int, default=1, help=argparse_hidden())
    ap.add_argument("--out", help=argparse_hidden())
    args = ap.parse_args()
    if args.worker:
        if args.worker == "keras":
            res = worker_keras(args.data, args.epochs, args.max_batches)
        else:
            res = worker_torch(args.data, args.epochs, args.worker == "torch_packed",
                               args.threads, args.max_batches)  # fmt: skip
        json.dump(res, open(args.out, "w"))
        return 0
    check = QuietCheck()  # after the worker branch: a worker is part of this run
    sizes = [QUICK_SIZE] if args.quick else [int(s) for s in args.sizes.split(",")]
    names = args.sides.split(",")
    sides = []
    for n in names:
        if n.startswith("torch"):
            sides += [{"name": n, "threads": int(t)} for t in args.torch_threads.split(",")]
        else:
            sides.append({"name": n})
    t_start, rows = time.perf_counter(), []
    with tempfile.TemporaryDirectory() as d:
        for size in sizes:
            data = os.path.join(d, f"emotions{size}.csv")
            subprocess.run([sys.executable, "-m", "jaxrnn.data.synthetic", "--out", data,
                            "--n-per-class", str(-(-size // 6)), "--seed", "0",
                            "--length-spread"], check=True, capture_output=True)  # fmt: skip
            for side in sides:  # one after another, each in its own process
                r = run_side(side, data, args.epochs, args.max_batches, d)
                r["texts"] = 6 * -(-size // 6)
                rows.append(r)
                print(json.dumps(r), flush=True)
    print()
    print(f"{'texts':>7} {'side':>13} {'thr':>3} {'epoch s':>8} {'train s':>8} {'compile s':>9} "
          f"{'peak RSS MB':>11} {'test acc':>8}")  # fmt: skip
    for r in rows:
        if "error" in r:
            print(f"{r['texts']:>7} {r['name']:>13} error: {r['error'][-200:]}")
            continue
        print(f"{r['texts']:>7} {r['name']:>13} {r.get('threads', ''):>3} {r['epoch_s']:>8.2f} "
              f"{r.get('train_s', float('nan')):>8.2f} {r['compile_s']:>9.2f} "
              f"{r['peak_rss_mb']:>11.0f} {r.get('test_acc', float('nan')):>8.3f}")  # fmt: skip
    for size in sorted({r["texts"] for r in rows}):
        at = {(r["name"], r.get("threads")): r for r in rows if r["texts"] == size
              and "error" not in r}  # fmt: skip
        ours = at.get(("ours", None))
        if ours is None:
            continue
        for key, r in at.items():
            if key[0] != "ours":
                print(f"{size} texts: ours' epoch is {r['epoch_s'] / ours['epoch_s']:.2f}x "
                      f"faster than {key[0]} ({key[1] or ''} threads); peak RSS "
                      f"{ours['peak_rss_mb'] / r['peak_rss_mb']:.2f}x theirs")  # fmt: skip
    payload = check.stamp({"script": "scale", "machine": machine_info(["torch", "keras"]),
                           "rows": rows, "epochs": args.epochs,
                           "max_batches": args.max_batches,
                           "script_wall_s": time.perf_counter() - t_start})  # fmt: skip
    if args.json:
        write_json(args.json, payload)
    return 0


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    sys.exit(main())
