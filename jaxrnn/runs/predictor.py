"""A predictor per task for trained weights, from a checkpoint (``load_predictor(path)``) or
in memory (``RunResult.predictor()``, ``X.from_parts``); the command is
``python -m jaxrnn.predict`` (``jaxrnn.cli.predict``). A multi-seed model predicts with the
mean over its seeds (probabilities, or the forecasts).

* ``Predictor`` (``--task classify``): a label and every class's probability per text;
* ``NumericPredictor`` (``--task classify`` on numeric sequences): the same per series;
* ``Tagger`` (``--task tag``): a tag per word of each sentence;
* ``Forecaster`` (``--task regress``): the next ``horizon`` target values after a
  series' last ``window`` rows, in the target's units;
* ``LanguageModelPredictor`` (``--task lm``): the next token's probabilities after a text
  (read from the zero state, as the test split is scored), the most likely next tokens,
  and samples as ``python -m jaxrnn.generate`` draws them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxrnn.errors import ConfigError, DataError, UsageError


def _stacked(params: Any, num_seeds: int) -> Any:
    """``params`` with a leading seed axis ``[S, ...]`` (one seed's get ``S = 1``)."""
    import jax

    return params if num_seeds > 1 else jax.tree.map(lambda a: np.asarray(a)[None], params)


def _rows(n: int) -> int:
    """A padded batch size for ``n`` rows: few shapes, few compiles."""
    return 1 << max(3, (n - 1).bit_length())


def load_predictor(path: str, batch_size: int | None = None) -> Any:
    """The predictor of a checkpoint's task (``Predictor``, ``Tagger``, ``Forecaster`` or
    ``LanguageModelPredictor``) for its trained weights."""
    from jaxrnn.runs.checkpoints import load_checkpoint
    from jaxrnn.runs.registry import get_spec

    if batch_size is not None:
        _check_batch_size(batch_size)
    r = load_checkpoint(path)
    kw = {} if batch_size is None else {"batch_size": batch_size}
    return get_spec(r.config).predictor(r.config, r.model, r.state.params, r.tokenizer,
                                        list(r.label_names or []), len(r.seeds), **kw)  # fmt: skip


class Predictor:
    """A trained model ready to classify batches of texts: ``Predictor(checkpoint_path)``, or
    ``RunResult.predictor()`` / ``Predictor.from_parts`` for weights in memory."""

    def __init__(self, path: str, batch_size: int = 512):
        from jaxrnn.runs.checkpoints import load_checkpoint

        r = load_checkpoint(path)
        if not hasattr(r.tokenizer, "known_tokens"):  # only a text classifier's tokenizer
            from jaxrnn.runs.registry import task_info

            what = ("numeric sequences" if getattr(r.tokenizer, "kind", None) == "numeric"
                    else f"--task {task_info(r.config).name}")  # fmt: skip
            raise UsageError(f"{path} is a checkpoint of {what}, not of a text classifier: "
                             "load it with jaxrnn.load_predictor(path), which picks its "
                             "predictor")  # fmt: skip
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

        _check_batch_size(batch_size)
        self.tokenizer, self.label_names, self.batch_size = tokenizer, label_names, batch_size

        def probs(params, ids, lengths):
            if num_seeds > 1:  # ensemble: mean probability over the seed axis
                p = jax.vmap(lambda q: probabilities(model.apply(q, ids, lengths)))(params)
                return p.mean(axis=0)
            return probabilities(model.apply(params, ids, lengths))

        self._probs = jax.jit(probs)
        self._params = jax.tree.map(jax.device_put, params)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities ``[N, C]`` for ``texts`` (one string: ``[1, C]``)."""
        texts = _texts(texts)
        ids, lengths = self.tokenizer.encode(texts)
        out = []
        for s in range(0, len(texts), self.batch_size):
            b_ids, b_len = ids[s : s + self.batch_size], lengths[s : s + self.batch_size]
            n = len(b_len)
            size = min(self.batch_size, _rows(n))  # few shapes: few compiles
            b_ids = np.pad(b_ids, ((0, size - n), (0, 0)))
            b_len = np.pad(b_len, (0, size - n))
            out.append(np.asarray(self._probs(self._params, b_ids, b_len))[:n])
        if not out:
            return np.zeros((0, len(self.label_names)))
        return np.concatenate(out)

    def predict(self, texts: Sequence[str]) -> list[dict]:
        """One dict per text: ``text``, ``label``, ``probability``, ``probabilities``, and
        ``known_tokens`` (its words the tokenizer knows; 0: the label comes from padding
        alone, the model's bias, not from the text). One string is one text."""
        texts = _texts(texts)
        probs = self.predict_proba(texts)
        known = self.tokenizer.known_tokens(texts)
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


class NumericPredictor:
    """A trained classifier of numeric sequences (``--task classify`` on ``.npz``/UCR/``.ts``
    data): ``load_predictor(path)`` or ``RunResult.predictor()``. ``predict_proba(x, lengths)``
    and ``predict(x, lengths)`` take raw (unscaled) features ``[N, T, F]`` (or ``[N, T]`` for
    one channel), standardised with the training split's statistics the checkpoint keeps;
    ``predict_file(path)`` reads a file in the training formats."""

    @classmethod
    def from_parts(cls, model, params, vocab, label_names: Sequence[str], *,
                   num_seeds: int = 1, batch_size: int = 512) -> NumericPredictor:  # fmt: skip
        import jax

        from jaxrnn.training.tasks import probabilities

        self = cls.__new__(cls)
        self.vocab, self.label_names, self.batch_size = vocab, list(label_names), batch_size
        self._params = _stacked(params, num_seeds)
        self._dtype = np.asarray(jax.tree.leaves(self._params)[0]).dtype  # the weights' type

        @jax.jit
        def probs(params, x, lengths):  # mean probability over the seeds -> [B, C]
            return jax.vmap(lambda p: probabilities(model.apply(p, x, lengths)))(params).mean(0)

        self._probs = probs
        return self

    def _set(self, x: Any, lengths: Any = None) -> Any:
        """``x`` (and ``lengths``) as a checked ``NumericSet``; a ``NumericSet`` as it is."""
        from jaxrnn.data.numeric import NumericSet, from_arrays

        if isinstance(x, NumericSet):
            return x
        given = x
        try:
            x = np.asarray(x, dtype=float)
        except (TypeError, ValueError) as e:  # text, ragged rows, objects
            raise DataError(f"the input must be numbers [N, T, F] (or [N, T]), every row of "
                            f"one length (pad short rows with NaN): {e}") from None
        if x.ndim == 0:
            raise DataError(f"the input must be numbers [N, T, F] (or [N, T]), not one value "
                            f"({given!r})")
        return from_arrays(x, np.zeros(len(x), np.int64), lengths, source="the input")

    def predict_proba(self, x: Any, lengths: Any = None) -> np.ndarray:
        """Class probabilities ``[N, C]`` for raw features ``x [N, T, F]`` (or ``[N, T]``),
        each row read up to ``lengths [N]`` (default: up to its first all-NaN step, else
        all ``T`` steps), or for a ``NumericSet``."""
        data = self.vocab.scale(self._set(x, lengths), self._dtype)
        out = []
        for s in range(0, len(data.lengths), self.batch_size):
            b_x, b_len = data.x[s : s + self.batch_size], data.lengths[s : s + self.batch_size]
            n = len(b_len)
            size = min(self.batch_size, _rows(n))  # few shapes: few compiles
            b_x = np.pad(b_x, ((0, size - n), (0, 0), (0, 0)))
            b_len = np.pad(b_len.astype(np.int32), (0, size - n), constant_values=1)
            out.append(np.asarray(self._probs(self._params, b_x, b_len))[:n])
        if not out:
            return np.zeros((0, len(self.label_names)))
        return np.concatenate(out)

    def predict(self, x: Any, lengths: Any = None) -> list[dict]:
        """One dict per row: ``row`` (from 1), ``label``, ``probability`` (the label's),
        ``probabilities`` (every class's), ``length`` (steps read)."""
        data = self._set(x, lengths)
        probs = self.predict_proba(data)
        rows = []
        for i, (p, n) in enumerate(zip(probs, data.lengths, strict=True)):
            k = int(np.argmax(p))
            rows.append({"row": i + 1, "label": self.label_names[k], "probability": float(p[k]),
                         "probabilities": {c: float(v) for c, v in zip(self.label_names, p,
                                                                       strict=True)},
                         "length": int(n)})  # fmt: skip
        return rows

    def predict_file(self, path: str, data_format: str | None = None) -> list[dict]:
        """``predict`` on the series of a numeric file (``jaxrnn.data.numeric.load_numeric``;
        format by ``data_format``, else as for training), each row with ``file_label``: the
        label the file gives it."""
        from jaxrnn.data.numeric import load_numeric
        from jaxrnn.runs.prepare_numeric import numeric_format

        fmt = numeric_format(path, data_format) or data_format
        data = load_numeric(path, fmt)
        rows = self.predict(data)
        for r, k in zip(rows, data.labels, strict=True):
            r["file_label"] = data.label_names[int(k)]
        return rows


class Tagger:
    """A trained tagger: ``Tagger.from_parts(model, params, vocab)`` (or
    ``load_predictor(path)``); ``predict(sentences)`` splits each into tokens as CoNLL
    files hold them (``jaxrnn.data.conll.split_words``: punctuation split off; with
    ``pretokenized=True`` on whitespace only) and tags every token (tokens the training
    data lacked get the OOV id and keep their place; a tagger trained with ``--char-embed``
    also reads their characters, so it tags them by their spelling)."""

    @classmethod
    def from_parts(cls, model, params, vocab, *, num_seeds: int = 1, batch_size: int = 256
                   ) -> Tagger:  # fmt: skip
        import jax

        self = cls.__new__(cls)
        self.vocab, self.batch_size = vocab, batch_size
        self._params = _stacked(params, num_seeds)

        @jax.jit
        def predict(params, ids, lengths, chars):  # mean tag probability over seeds -> [B, T]
            kw = {} if chars is None else {"chars": chars}  # a character encoder's input

            def probs(p):
                return jax.nn.softmax(model.apply(p, ids, lengths, **kw), -1)

            return jax.vmap(probs)(params).mean(0).argmax(-1)

        self._predict = predict
        return self

    def predict(self, sentences: Sequence[str], pretokenized: bool = False) -> list[dict]:
        """``[{"tokens": [...], "tags": [...]}]``, one per sentence (one string: one sentence)."""
        from jaxrnn.data.conll import MAX_WORD_CHARS, split_words

        sentences = _texts(sentences)
        token_lists = [s.split() if pretokenized else split_words(s) for s in sentences]
        out: list[dict] = []
        for s in range(0, len(token_lists), self.batch_size):
            chunk = token_lists[s : s + self.batch_size]
            n, longest = len(chunk), max([len(t) for t in chunk] + [1])
            cols = _rows(longest)
            width = None
            if getattr(self.vocab, "chars", None) is not None:  # characters per word: few shapes
                longest_word = max([len(w) for t in chunk for w in t[:cols]] + [1])
                width = min(_rows(longest_word), MAX_WORD_CHARS)
            enc = self.vocab.encode([(t, None) for t in chunk], cols, char_len=width)
            ids = np.pad(enc.ids, ((0, _rows(n) - n), (0, 0)))
            lengths = np.pad(enc.lengths, (0, _rows(n) - n))
            chars = None if enc.chars is None else np.pad(enc.chars,
                                                          ((0, _rows(n) - n), (0, 0), (0, 0)))
            pred = np.asarray(self._predict(self._params, ids, lengths, chars))[:n]
            out += [{"tokens": t, "tags": self.vocab.decode_tags(p[None], [len(t)])[0]}
                    for t, p in zip(chunk, pred, strict=True)]  # fmt: skip
        return out


def _check_batch_size(batch_size: Any) -> None:
    """A predictor's ``batch_size``: a positive integer, or one line saying so."""
    if not isinstance(batch_size, int) or batch_size < 1:
        raise UsageError(f"batch_size must be a positive integer, got {batch_size!r}")


def _texts(texts: Sequence[str] | str) -> list[str]:
    """The texts as a list: one string is one text (iterating it would give its characters)."""
    return [texts] if isinstance(texts, str) else list(texts)


class Forecaster:
    """A trained forecaster: ``Forecaster.from_parts(cfg, model, params, vocab)`` (or
    ``load_predictor(path)``); ``predict(rows [N, D] or a CSV path)`` forecasts after the
    last ``window`` rows (standardised with the training statistics it keeps)."""

    @classmethod
    def from_parts(cls, cfg, model, params, vocab, *, num_seeds: int = 1, batch_size: int = 1
                   ) -> Forecaster:  # fmt: skip
        import jax

        self = cls.__new__(cls)
        self.config, self.vocab = cfg, vocab
        self._params = _stacked(params, num_seeds)
        self._dtype = np.asarray(jax.tree.leaves(self._params)[0]).dtype  # the weights' type
        self._apply = jax.jit(lambda ps, x: jax.vmap(lambda p: model.apply(p, x))(ps).mean(0))
        return self

    def predict(self, data: Any) -> dict:
        """``{"target", "window", "forecast": [horizon values, target's units]}`` after the
        last ``window`` rows of ``data`` (``[N, D]`` in the checkpoint's column order:
        as ``load_series_csv`` reads them, the target first; or a CSV path)."""
        from jaxrnn.data.series import load_series_csv

        cfg, vocab = self.config, self.vocab
        if isinstance(data, str | os.PathLike):  # the checkpoint's columns, by name, in order
            data = os.fspath(data)
            s = load_series_csv(data, vocab.target,
                                [c for c in vocab.columns if c != vocab.target])
            data = s.values[:, [s.columns.index(c) for c in vocab.columns]]
        rows = np.asarray(data, dtype=float)
        if rows.ndim != 2 or rows.shape[1] != len(vocab.columns):
            raise UsageError(f"the series needs {len(vocab.columns)} columns "
                             f"({', '.join(vocab.columns)}), got shape {rows.shape}")  # fmt: skip
        if not np.all(np.isfinite(rows)):  # as the CSV reader refuses them
            r = int(np.argwhere(~np.isfinite(rows))[0][0])
            raise UsageError(f"the series holds a NaN or infinite value (row {r + 1}); every "
                             "value must be a finite number")  # fmt: skip
        if len(rows) < cfg.window:
            raise UsageError(f"the series has {len(rows)} rows; the model reads windows of "
                             f"{cfg.window}")  # fmt: skip
        # the target transformed (--target-transform) and standardised as in training
        x = vocab.encode(rows[-cfg.window :], "the series' target column")
        x = x[None].astype(self._dtype)  # [1, W, D]
        pred = np.asarray(self._apply(self._params, x))[0]  # [H] or [W, H]
        last = pred if pred.ndim == 1 else pred[-1]
        values = vocab.decode_target(last)
        return {"target": vocab.target, "window": cfg.window,
                "forecast": np.asarray(values).tolist()}  # fmt: skip


class LanguageModelPredictor:
    """A trained language model: ``LanguageModelPredictor.from_parts(model, params, vocab)``
    (or ``load_predictor(path)``). ``next_token_proba(text)``: ``[V]`` probabilities of the
    token after ``text``, read from the zero state (the mean over seeds);
    ``predict(texts, top=5)``; ``sample(prime, length, ...)`` as ``python -m
    jaxrnn.generate`` (the first seed's weights)."""

    @classmethod
    def from_parts(cls, model, params, vocab, *, num_seeds: int = 1, batch_size: int = 1
                   ) -> LanguageModelPredictor:  # fmt: skip
        import jax

        self = cls.__new__(cls)
        self.model, self.vocab = model, vocab
        self._params = _stacked(params, num_seeds)
        self._first = jax.tree.map(lambda a: a[0], self._params)

        @jax.jit
        def probs(params, ids, last):  # ids [1, T] -> [V] after position ``last``
            def one(p):
                state = model.zero_state(1, jax.tree.leaves(p)[0].dtype)
                logits, _ = model.apply(p, ids, state)
                return jax.nn.softmax(logits[0, last], -1)

            return jax.vmap(one)(params).mean(0)

        self._probs = probs
        return self

    def _ids(self, text: str) -> np.ndarray:
        ids = self.vocab.encode(text)  # a DataError names the tokens it does not know
        if ids.size == 0:
            raise ConfigError("the text has no tokens at this level: give some text")
        return np.asarray(ids, np.int32)

    def next_token_proba(self, text: str) -> np.ndarray:
        """Probabilities ``[V]`` of the token that follows ``text``."""
        ids = self._ids(text)
        n = ids.size
        padded = np.pad(ids, (0, _rows(n) - n))[None]  # later positions do not reach ``n - 1``
        return np.asarray(self._probs(self._params, padded, n - 1))

    def predict(self, texts: Sequence[str], top: int = 5) -> list[dict]:
        """Per text: ``text``, the most likely ``next`` token, its ``probability``, and the
        ``top`` most likely as ``(token, probability)`` pairs. One string is one text."""
        rows = []
        texts = _texts(texts)
        for i, text in enumerate(texts):
            try:
                p = self.next_token_proba(text)
            except UsageError as e:  # which of many texts (lines piped in) it was
                if len(texts) == 1:
                    raise
                raise type(e)(f"text {i + 1} of {len(texts)} ({text[:30]!r}): {e}") from None
            order = np.argsort(-p)[:top]
            rows.append({"text": text, "next": self.vocab.tokens[int(order[0])],
                         "probability": float(p[order[0]]),
                         "top": [(self.vocab.tokens[int(k)], float(p[k])) for k in order]})
        return rows

    def sample_ids(self, prime: str | None, length: int, *, seed: int = 0,
                   temperature: float = 1.0, top_k: int = 0, num_samples: int = 1
                   ) -> np.ndarray:  # fmt: skip
        """``[num_samples, length]`` token ids drawn after ``prime`` (None or "": a line
        break, or the end-of-sentence token for words)."""
        from jaxrnn.data.text import EOS
        from jaxrnn.nn import lm

        vocab = self.vocab
        if prime:
            ids = self._ids(prime)
        else:
            start = "\n" if vocab.level == "char" else EOS
            # by index, not ``encode``: the word tokenizer would split "<eos>" into three words
            ids = np.asarray([vocab.index.get(start, 0)], np.int32)
        return lm.sample(self.model, self._first, ids, length, seed=seed,
                         temperature=temperature, top_k=min(top_k, vocab.size),
                         num_samples=num_samples)  # fmt: skip

    def decode(self, prime: str | None, toks: np.ndarray) -> list[str]:
        """The samples as text, each after its prime."""
        shown = prime or ""
        sep = " " if self.vocab.level == "word" and shown and not shown.endswith("\n") else ""
        return [shown + sep + self.vocab.decode(row) for row in toks]

    def sample(self, prime: str | None, length: int, **kw: Any) -> list[str]:
        """``num_samples`` continuations of ``length`` tokens after ``prime`` (seeded)."""
        return self.decode(prime, self.sample_ids(prime, length, **kw))


def tag_sentences(path: str, sentences: Sequence[str], batch_size: int = 256,
                  pretokenized: bool = False) -> list[dict]:  # fmt: skip
    """``[{"tokens": [...], "tags": [...]}]`` per sentence, from a tagger's checkpoint."""
    return load_predictor(path, batch_size).predict(sentences, pretokenized)


def forecast_file(path: str, data: str) -> dict:
    """The forecast after the last window of the CSV ``data``, from a forecaster's checkpoint
    (``Forecaster.predict``)."""
    return load_predictor(path).predict(data)
