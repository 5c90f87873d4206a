"""Classify texts with a trained checkpoint: ``python -m jaxrnn.predict``.

::

    python -m jaxrnn.predict --checkpoint run.ckpt "i am not sad" "this is bad"
    cat texts.txt | python -m jaxrnn.predict --checkpoint run.ckpt --json

Texts come from the arguments, or one per line from standard input. Each gets
its predicted label and that label's probability; ``--json`` prints one JSON
object per line (``text``, ``label``, ``probability``, ``probabilities``
for every class, and ``known_tokens``: how many of its words the model knows; texts
with none get a warning on stderr). Texts are encoded with the checkpoint's tokenizer (same
index, same ``max_len`` truncation as in training) and classified in batches
by one jitted function, so thousands of lines take about as long as one batch.
A multi-seed checkpoint predicts with the mean probability over its seeds.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from jaxrnn.errors import UsageError
from jaxrnn.runs.predictor import Predictor


def read_texts(given: Sequence[str], what: str = "texts") -> list[str]:
    """The texts given as arguments, else one per line from standard input (``what`` names
    them in the one-line errors: none given on a terminal, input not UTF-8)."""
    if given:
        return list(given)
    if sys.stdin.isatty():
        raise UsageError(f"give {what} as arguments, or pipe them in, one per line")
    try:
        return [line.rstrip("\r\n") for line in sys.stdin]
    except UnicodeDecodeError:
        raise UsageError("standard input is not valid UTF-8 text") from None


def main(argv: Sequence[str] | None = None) -> int:
    from jaxrnn.cli import predict_seq

    task = predict_seq.checkpoint_task(argv)
    if task in predict_seq.TASKS:  # a tagger or a forecaster: jaxrnn/predict_seq.py
        return predict_seq.main(argv, task)
    from jaxrnn.cli.train import Parser

    p = Parser(prog="python -m jaxrnn.predict", description=__doc__.split("\n\n")[0],
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
        if args.batch_size < 1:
            raise UsageError(f"--batch-size must be at least 1, got {args.batch_size}")
        texts = read_texts(args.texts)
        rows = Predictor(args.checkpoint, args.batch_size).predict(texts)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    unknown = [r["text"] for r in rows if r.get("known_tokens") == 0]
    if unknown:
        n = len(unknown)
        print(f"warning: {n} of {len(rows)} text{'' if len(rows) == 1 else 's'} "
              f"({', '.join(map(repr, unknown[:3]))}{', ...' if n > 3 else ''}) "
              f"{'has' if n == 1 else 'have'} no word the model knows: "
              f"{'its label comes' if n == 1 else 'their labels come'} from padding alone",
              file=sys.stderr)  # fmt: skip
    for r in rows:
        if args.json:
            print(json.dumps(r, ensure_ascii=False))
        else:
            print(f"{r['label']}\t{r['probability']:.4f}\t{r['text']}")
    return 0


if __name__ == "__main__":
    from jaxrnn.util.pipes import run_main

    sys.exit(run_main(main))
