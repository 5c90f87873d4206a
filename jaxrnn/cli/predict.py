"""Predict with a trained checkpoint: ``python -m jaxrnn.predict``.

::

    python -m jaxrnn.predict --checkpoint run.ckpt "i am not sad" "this is bad"
    cat texts.txt | python -m jaxrnn.predict --checkpoint run.ckpt --json
    python -m jaxrnn.predict --checkpoint tagger.ckpt "we flew to Jordan ." [--json]
    python -m jaxrnn.predict --checkpoint forecaster.ckpt --data series.csv [--json]

What is read and printed follows the checkpoint's task (``TaskInfo.predict_input`` in
``jaxrnn.runs.registry``; the predictors are ``jaxrnn.runs.predictor``'s).

Classifier: texts come from the arguments, or one per line from standard input. Each gets
its predicted label and that label's probability; ``--json`` prints one JSON
object per line (``text``, ``label``, ``probability``, ``probabilities``
for every class, and ``known_tokens``: how many of its words the model knows; texts
with none get a warning on stderr). Texts are encoded with the checkpoint's tokenizer (same
index, same ``max_len`` truncation as in training) and classified in batches
by one jitted function, so thousands of lines take about as long as one batch.

Tagger: each sentence (an argument, or one per line from standard input) is split into
tokens as CoNLL files hold them (punctuation split off: ``Berlin.`` is ``Berlin`` and
``.``; ``--tokens``: the input is already tokenised, split on whitespace only) and printed
as ``token/TAG`` pairs; ``--json`` prints one object per line with
``tokens`` and ``tags``. Words the training data lacked get the OOV id (1) and keep their
position, so there is a tag for every word. Sentences are never cut, whatever the
training ``--max-len``.

Language model: each text (an argument, or one per line from standard input) gets the
token most likely to follow it, its probability and the next most likely ones
(``--top K``), read from the zero state; ``--json`` prints one object per line (``text``,
``next``, ``probability``, ``top``). Continuations are ``python -m jaxrnn.generate``'s.

Forecaster: the file is read with the checkpoint's columns, standardised with the
training statistics stored in the checkpoint, and its LAST ``window`` rows forecast the
next ``horizon`` target values (per-step models: the forecast after the last step),
printed ``t+k<TAB>value`` in the target's units; ``--json``: one object with ``target``,
``window`` and ``forecast``.

Numeric sequences (a classifier trained on ``.npz``, UCR ``.tsv``/``.txt`` or UEA ``.ts``
files): ``python -m jaxrnn.predict --checkpoint ck.ckpt FILE...`` [``--format npz|ucr|ts``]
reads every series of each file (the labels in it are ignored, and shown as ``file_label``
with ``--json``), scales it with the training split's statistics the checkpoint keeps and
prints ``FILE:ROW<TAB>label<TAB>probability``; ``--json``: one object per series (``file``,
``row``, ``label``, ``probability``, ``probabilities``, ``length``, ``file_label``). A file
with another number of channels than training had is refused (one line).

A multi-seed checkpoint predicts with the mean over its seeds (probabilities, or the
forecasts). A flag that the checkpoint's task does not use (``--data`` on a tagger,
``--tokens`` on a forecaster, ...) is refused in one line that says what the command does
with it (``jaxrnn.runs.registry.PREDICT_INPUTS``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from jaxrnn.cli._common import Parser, read_texts, run
from jaxrnn.errors import UsageError
from jaxrnn.runs import registry
from jaxrnn.runs.predictor import Predictor, forecast_file, load_predictor, tag_sentences

__all__ = ["checkpoint_task", "forecast_file", "main", "read_texts", "tag_sentences"]

# The tasks whose checkpoints are not read as texts to classify (``jaxrnn.predict_seq.TASKS``
# before that module became this one).
TASKS = tuple(n for n, info in registry.TASKS.items() if info.predict_input != "texts")


def _read_checkpoint(argv: Sequence[str] | None) -> tuple[dict | None, UsageError | None]:
    """The metadata of the checkpoint ``--checkpoint`` names in ``argv``, read once and
    before JAX starts, or the one-line error reading it gave (both None: none named).
    The command prints that error after parsing its flags, so ``--help`` and a bad flag
    still come first, and a mistyped path costs no JAX start-up."""
    args = list(sys.argv[1:] if argv is None else argv)
    path = None
    for i, a in enumerate(args):
        if a == "--checkpoint" and i + 1 < len(args):
            path = args[i + 1]
        elif a.startswith("--checkpoint="):
            path = a.split("=", 1)[1]
    if path is None:
        return None, None
    from jaxrnn.training import checkpoint_file as checkpoint

    try:
        return checkpoint.load(path)[0], None
    except UsageError as e:
        return None, e
    except Exception:  # not ours to word: the predictor's own loading reports it
        return None, None


def checkpoint_task(argv: Sequence[str] | None) -> str | None:
    """The ``task`` of the checkpoint ``--checkpoint`` names in ``argv`` (None: no readable
    checkpoint named; the classifier's ``main`` then reports any error)."""
    meta, _ = _read_checkpoint(argv)
    return None if meta is None else str(meta["config"].get("task", "classify"))


def main(argv: Sequence[str] | None = None, task: str | None = None) -> int:
    """``python -m jaxrnn.predict``; returns the exit code. ``task``: the checkpoint's task
    (default: read from the checkpoint ``argv`` names)."""
    meta, error = _read_checkpoint(argv)
    if task is None and meta is not None:
        task = str(meta["config"].get("task", "classify"))
    kind = registry.TASKS[task].predict_input if task in registry.TASKS else "texts"
    numeric = meta is not None and (meta.get("tokenizer") or {}).get("kind") == "numeric_vocab"
    if kind == "texts" and numeric:
        return _main_numeric(argv)
    if kind == "texts":
        return _main_texts(argv, error)
    return _main_seq(argv, kind, task, error)


def _main_texts(argv: Sequence[str] | None, error: UsageError | None = None) -> int:
    """The classifier's command (and what any unreadable checkpoint reports through:
    ``error``, the one ``_read_checkpoint`` met)."""
    p = Parser(prog="python -m jaxrnn.predict", description="Classify texts with a trained "
               "checkpoint: ``python -m jaxrnn.predict``.",
               formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument(
        "--checkpoint",
        required=True,
        metavar="PATH",
        help="a checkpoint written by python -m jaxrnn.train --save",
    )
    p.add_argument(
        "texts",
        nargs="*",
        metavar="TEXT",
        help="texts to classify (default: one per line from standard input)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--batch-size", type=int, default=512, help="texts per compiled batch")
    args = p.parse_args(argv)
    from jaxrnn.util import cache as _cache

    _cache.enable()
    try:
        if error is not None:  # reported after the flags, as the parser would
            raise error
        if args.batch_size < 1:
            raise UsageError(f"--batch-size must be at least 1, got {args.batch_size}")
        texts = read_texts(args.texts)
        predictor = Predictor(args.checkpoint, args.batch_size)
        rows = predictor.predict(texts)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    unknown = [r["text"] for r in rows if r.get("known_tokens") == 0]
    if unknown:
        n = len(unknown)
        # with --oov-token an unknown word is an input (that token's embedding), not padding
        oov = predictor.tokenizer.oov_token
        source = "padding alone" if oov is None else f"the out-of-vocabulary token {oov!r} alone"
        print(f"warning: {n} of {len(rows)} text{'' if len(rows) == 1 else 's'} "
              f"({', '.join(map(repr, unknown[:3]))}{', ...' if n > 3 else ''}) "
              f"{'has' if n == 1 else 'have'} no word the model knows: "
              f"{'its label comes' if n == 1 else 'their labels come'} from {source}",
              file=sys.stderr)  # fmt: skip
    for r in rows:
        if args.json:
            print(json.dumps(r, ensure_ascii=False))
        else:
            print(f"{r['label']}\t{r['probability']:.4f}\t{r['text']}")
    return 0


def _main_numeric(argv: Sequence[str] | None) -> int:
    """A classifier of numeric sequences: every series of each file gets a label."""
    p = Parser(prog="python -m jaxrnn.predict", description="Classify the numeric sequences "
               "of .npz, UCR (.tsv/.txt) or UEA (.ts) files with a checkpoint trained on such "
               "data (python -m jaxrnn.train --task classify --data FILE.npz ...).")  # fmt: skip
    p.add_argument("--checkpoint", required=True, metavar="PATH")
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="files of series (the labels they hold are shown beside, not used)")
    p.add_argument("--format", "--data-format", dest="data_format", choices=("npz", "ucr", "ts"),
                   help="the files' format (default: from the extension, as for training)")
    p.add_argument("--json", action="store_true", help="one JSON object per series")
    p.add_argument("--batch-size", type=int, default=512, help="series per compiled batch")
    args = p.parse_args(argv)
    from jaxrnn.util import cache as _cache

    _cache.enable()
    try:
        if args.batch_size < 1:
            raise UsageError(f"--batch-size must be at least 1, got {args.batch_size}")
        predictor = load_predictor(args.checkpoint, args.batch_size)
        results = [(f, predictor.predict_file(f, args.data_format)) for f in args.files]
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    for f, rows in results:
        for r in rows:
            if args.json:
                print(json.dumps({"file": f, **r}, ensure_ascii=False))
            else:
                print(f"{f}:{r['row']}\t{r['label']}\t{r['probability']:.4f}")
    return 0


def _main_seq(argv: Sequence[str] | None, kind: str, task: str = "",
              error: UsageError | None = None) -> int:
    """A tagger's (``kind`` "sentences"), a forecaster's ("series") or a language model's
    ("prefixes") command; a flag that does not apply to ``kind`` is refused (one line)."""
    p = Parser(prog="python -m jaxrnn.predict", description="``python -m jaxrnn.predict`` on "
               "a tagger or a forecaster checkpoint (``--task tag/regress``).",
               formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--checkpoint", required=True, metavar="PATH")
    p.add_argument("texts", nargs="*", metavar="TEXT",
                   help="tag: sentences (default: one per line from standard input); "
                   "regress: the series file (or --data)")  # fmt: skip
    p.add_argument("--data", metavar="PATH", help="regress: the CSV to forecast from")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.add_argument("--batch-size", type=int, help="tag: sentences per batch [256]")
    p.add_argument("--tokens", action="store_true",
                   help="tag: the sentences are already tokenised (split on whitespace only)")
    p.add_argument("--top", type=int, metavar="K",
                   help="lm: the K most likely next tokens [5]")
    args = p.parse_args(argv)
    from jaxrnn.util import cache as _cache

    _cache.enable()
    what, applies = registry.PREDICT_INPUTS[kind]
    try:
        if error is not None:  # reported after the flags, as the parser would
            raise error
        # None / False: not given (the defaults below), so only what was typed is refused.
        for name, v in (("data", args.data), ("batch_size", args.batch_size),
                        ("tokens", args.tokens or None), ("top", args.top)):  # fmt: skip
            if v is not None and name not in applies:
                raise UsageError(f"--{name.replace('_', '-')} does not apply to a --task "
                                 f"{task} checkpoint: {what}")  # fmt: skip
        args.batch_size = 256 if args.batch_size is None else args.batch_size
        args.top = 5 if args.top is None else args.top
        if args.batch_size < 1:
            raise UsageError(f"--batch-size must be at least 1, got {args.batch_size}")
        if kind == "series":
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
        if kind == "prefixes":
            if args.top < 1:
                raise UsageError(f"--top must be at least 1, got {args.top}")
            texts = read_texts(args.texts, "texts")
            for r in load_predictor(args.checkpoint).predict(texts, top=args.top):
                if args.json:
                    print(json.dumps(r, ensure_ascii=False))
                else:
                    print(f"{r['next']!r}\t{r['probability']:.4f}\t{r['text']}")
            return 0
        sentences = read_texts(args.texts, "sentences")
        rows = tag_sentences(args.checkpoint, sentences, args.batch_size, args.tokens)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    for r in rows:
        if args.json:
            print(json.dumps(r, ensure_ascii=False))
        else:
            print(" ".join(f"{t}/{g}" for t, g in zip(r["tokens"], r["tags"], strict=True)))
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
