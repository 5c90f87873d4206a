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

import numpy as np

from jaxrnn.errors import UsageError


class Predictor:
    """A trained model ready to classify batches of texts: ``Predictor(checkpoint_path)``, or
    ``RunResult.predictor()`` / ``Predictor.from_parts`` for weights in memory."""

    def __init__(self, path: str, batch_size: int = 512):
        from jaxrnn.train.checkpoints import load_checkpoint

        r = load_checkpoint(path)
        self._setup(r.model, r.state.params, r.tokenizer, r.label_names, len(r.seeds), batch_size)

    @classmethod
    def from_parts(cls, model, params, tokenizer, label_names: Sequence[str], *,
                   num_seeds: int = 1, batch_size: int = 512) -> Predictor:  # fmt: skip
        """A predictor for ``params`` of ``model`` (stacked ``[S, ...]`` when ``num_seeds > 1``:
        the mean probability over seeds), encoding texts with ``tokenizer``."""
        self = cls.__new__(cls)
        self._setup(model, params, tokenizer, list(label_names), num_seeds, batch_size)
        return self

    def _setup(self, model, params, tokenizer, label_names, num_seeds: int, batch_size: int):
        import jax

        from jaxrnn.tasks import probabilities

        self.tokenizer, self.label_names, self.batch_size = tokenizer, label_names, batch_size

        def probs(params, ids, lengths):
            if num_seeds > 1:  # ensemble: mean probability over the seed axis
                p = jax.vmap(lambda q: probabilities(model.apply(q, ids, lengths)))(params)
                return p.mean(axis=0)
            return probabilities(model.apply(params, ids, lengths))

        self._probs = jax.jit(probs)
        self._params = jax.tree.map(jax.device_put, params)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities ``[N, C]`` for ``texts``."""
        ids, lengths = self.tokenizer.encode(list(texts))
        out = []
        for s in range(0, len(texts), self.batch_size):
            b_ids, b_len = ids[s : s + self.batch_size], lengths[s : s + self.batch_size]
            n = len(b_len)
            size = min(
                self.batch_size, 1 << max(3, (n - 1).bit_length())
            )  # few shapes: few compiles
            b_ids = np.pad(b_ids, ((0, size - n), (0, 0)))
            b_len = np.pad(b_len, (0, size - n))
            out.append(np.asarray(self._probs(self._params, b_ids, b_len))[:n])
        if not out:
            return np.zeros((0, len(self.label_names)))
        return np.concatenate(out)

    def predict(self, texts: Sequence[str]) -> list[dict]:
        """One dict per text: ``text``, ``label``, ``probability``, ``probabilities``, and
        ``known_tokens`` (its words the tokenizer knows; 0: the label comes from padding
        alone, the model's bias, not from the text)."""
        probs = self.predict_proba(texts)
        known = self.tokenizer.known_tokens(list(texts))
        rows = []
        for text, p, n in zip(texts, probs, known, strict=True):
            k = int(np.argmax(p))
            rows.append({
                "text": text,
                "label": self.label_names[k],
                "probability": float(p[k]),
                "probabilities": {n: float(v) for n, v in zip(self.label_names, p, strict=True)},
                "known_tokens": int(n),
            })  # fmt: skip
        return rows


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
    from jaxrnn import predict_seq

    task = predict_seq.checkpoint_task(argv)
    if task in predict_seq.TASKS:  # a tagger or a forecaster: jaxrnn/predict_seq.py
        return predict_seq.main(argv, task)
    from jaxrnn.train.cli import Parser

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
    from jaxrnn import _cache

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
    from jaxrnn._pipes import run_main

    sys.exit(run_main(main))
