"""``python -m jaxrnn.predict`` on a tagger or a forecaster checkpoint (``--task tag/regress``).

::

    python -m jaxrnn.predict --checkpoint tagger.ckpt "we flew to Jordan ." [--json]
    python -m jaxrnn.predict --checkpoint forecaster.ckpt --data series.csv [--json]

Tagger: each sentence (an argument, or one per line from standard input) is split on
whitespace and printed as ``token/TAG`` pairs; ``--json`` prints one object per line with
``tokens`` and ``tags``. Words the training data lacked get the OOV id (1) and keep their
position, so there is a tag for every word. Sentences are never cut, whatever the
training ``--max-len``.

Forecaster: the file is read with the checkpoint's columns, standardised with the
training statistics stored in the checkpoint, and its LAST ``window`` rows forecast the
next ``horizon`` target values (per-step models: the forecast after the last step),
printed ``t+k<TAB>value`` in the target's units; ``--json``: one object with ``target``,
``window`` and ``forecast``.

A multi-seed checkpoint predicts with the mean over its seeds (tag probabilities, or the
forecasts).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxrnn.cli.predict import read_texts
from jaxrnn.errors import UsageError

TASKS = ("tag", "regress")


def checkpoint_task(argv: Sequence[str] | None) -> str | None:
    """The ``task`` of the checkpoint ``--checkpoint`` names in ``argv`` (None: no readable
    checkpoint named, or a classifier's; the classifier's ``main`` then reports any error)."""
    args = list(sys.argv[1:] if argv is None else argv)
    path = None
    for i, a in enumerate(args):
        if a == "--checkpoint" and i + 1 < len(args):
            path = args[i + 1]
        elif a.startswith("--checkpoint="):
            path = a.split("=", 1)[1]
    if path is None:
        return None
    from jaxrnn.training import checkpoint_file as checkpoint

    try:
        meta, _ = checkpoint.load(path)
        return str(meta["config"].get("task", "classify"))
    except Exception:  # unreadable: the classifier's path prints the one-line error
        return None


def _restore(path: str) -> tuple[Any, Any, Any, int]:
    """``(config, vocab, model, params)`` of a checkpoint, params stacked ``[S, ...]``."""
    import jax

    from jaxrnn.runs.checkpoints import load_checkpoint

    r = load_checkpoint(path)
    params = r.state.params
    if len(r.seeds) == 1:
        params = jax.tree.map(lambda a: a[None], params)
    return r.config, r.tokenizer, r.model, params


def tag_sentences(path: str, sentences: Sequence[str], batch_size: int = 256) -> list[dict]:
    """``[{"tokens": [...], "tags": [...]}]`` per sentence (split on whitespace)."""
    import jax

    from jaxrnn.data.conll import TagVocab

    _, vocab, model, params = _restore(path)
    assert isinstance(vocab, TagVocab)

    @jax.jit
    def predict(params, ids, lengths):  # mean tag probability over the seeds -> [B, T]
        probs = jax.vmap(lambda p: jax.nn.softmax(model.apply(p, ids, lengths), -1))(params)
        return probs.mean(0).argmax(-1)

    token_lists = [s.split() for s in sentences]
    out: list[dict] = []
    for s in range(0, len(token_lists), batch_size):
        chunk = token_lists[s : s + batch_size]
        n, longest = len(chunk), max([len(t) for t in chunk] + [1])
        rows = 1 << max(3, (n - 1).bit_length())  # few shapes: few compiles
        cols = 1 << max(3, (longest - 1).bit_length())
        enc = vocab.encode([(t, None) for t in chunk], cols)
        ids = np.pad(enc.ids, ((0, rows - n), (0, 0)))
        lengths = np.pad(enc.lengths, (0, rows - n))
        pred = np.asarray(predict(params, ids, lengths))[:n]
        out += [{"tokens": t, "tags": vocab.decode_tags(p[None], [len(t)])[0]}
                for t, p in zip(chunk, pred, strict=True)]  # fmt: skip
    return out


def forecast_file(path: str, data: str) -> dict:
    """The forecast after the last window of the CSV ``data``: ``{"target", "window",
    "forecast": [H values, target's units]}``."""
    import jax

    from jaxrnn.data.series import load_series_csv

    cfg, vocab, model, params = _restore(path)
    series = load_series_csv(data, vocab.target, vocab.features)
    if len(series.values) < cfg.window:
        raise UsageError(f"{data} has {len(series.values)} rows; the model reads windows of "
                         f"{cfg.window}")  # fmt: skip
    x = vocab.scaler.transform(series.values[-cfg.window :])[None].astype(np.float32)  # [1, W, D]
    pred = jax.vmap(lambda p: model.apply(p, x))(params).mean(0)[0]  # [H] or [W, H]
    last = np.asarray(pred if pred.ndim == 1 else pred[-1])
    values = vocab.scaler.inverse_target(last, vocab.target_index)
    return {"target": vocab.target, "window": cfg.window, "forecast": values.tolist()}


def main(argv: Sequence[str] | None, task: str) -> int:
    """``python -m jaxrnn.predict`` for a ``task`` (tag, regress) checkpoint."""
    from jaxrnn.cli.train import Parser

    p = Parser(prog="python -m jaxrnn.predict", description=__doc__.split("\n\n")[0],
               formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--checkpoint", required=True, metavar="PATH")
    p.add_argument("texts", nargs="*", metavar="TEXT",
                   help="tag: sentences (default: one per line from standard input); "
                   "regress: the series file (or --data)")  # fmt: skip
    p.add_argument("--data", metavar="PATH", help="regress: the CSV to forecast from")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.add_argument("--batch-size", type=int, default=256, help="tag: sentences per batch")
    args = p.parse_args(argv)
    from jaxrnn.util import cache as _cache

    _cache.enable()
    try:
        if args.batch_size < 1:
            raise UsageError(f"--batch-size must be at least 1, got {args.batch_size}")
        if task == "regress":
            files = ([args.data] if args.data else []) + list(args.texts)
            if len(files) != 1:
                raise UsageError("a forecaster reads one series file: give --data PATH")
            result = forecast_file(args.checkpoint, files[0])
            if args.json:
                print(json.dumps(result))
            else:
                for k, v in enumerate(result["forecast"], 1):
                    print(f"t+{k}\t{v:.6g}")
            return 0
        sentences = read_texts(args.texts, "sentences")
        rows = tag_sentences(args.checkpoint, sentences, args.batch_size)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    for r in rows:
        if args.json:
            print(json.dumps(r, ensure_ascii=False))
        else:
            print(" ".join(f"{t}/{g}" for t, g in zip(r["tokens"], r["tags"], strict=True)))
    return 0
