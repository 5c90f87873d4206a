"""A trained classifier ready to label texts: ``Predictor(checkpoint_path)``,
``RunResult.predictor()`` or ``Predictor.from_parts``. The command is
``python -m jaxrnn.predict`` (``jaxrnn.cli.predict``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class Predictor:
    """A trained model ready to classify batches of texts: ``Predictor(checkpoint_path)``, or
    ``RunResult.predictor()`` / ``Predictor.from_parts`` for weights in memory."""

    def __init__(self, path: str, batch_size: int = 512):
        from jaxrnn.runs.checkpoints import load_checkpoint

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

        from jaxrnn.training.tasks import probabilities

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
