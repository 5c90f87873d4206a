"""A word tokenizer with the semantics of Keras' ``Tokenizer`` + ``pad_sequences``.

What it reproduces (keras.preprocessing.text.Tokenizer, the study's pipeline):

* text -> words: lowercase, every character in ``filters`` replaced by a space,
  split on whitespace, empty strings dropped;
* the index is built from the training texts only: words sorted by descending
  count, ties broken by first appearance (a stable sort of first-seen order),
  numbered from 1; 0 is reserved for padding;
* with ``oov_token`` set, that token takes index 1 and every other word moves
  up by one; unknown words then map to it instead of being dropped;
* ``num_words`` keeps only indices ``< num_words`` (Keras' rule: ``num_words=25``
  keeps 1..24); a word past the cut is dropped, or mapped to the OOV index.

What it adds: ``encode(texts)`` returns padded ids ``[N, T]`` int32 (post
padding with 0, post truncation at ``max_len``) and the true lengths ``[N]``.
Unicode text is normalised (NFKC) before lowercasing, and any Unicode
punctuation or symbol character counts as a filter, so "Good!" and "good" and
"ｇｏｏｄ" are the same word.

Robustness: any ``str`` is accepted (lone surrogates, combining marks, RTL
text, emoji, zero-width and other format characters, NUL): nothing raises.
Surrogates and format characters separate words like whitespace; ASCII control
characters other than tab and newline stay inside words, as in Keras. A
non-``str`` text, or a single ``str`` passed where a list of texts is expected,
raises ``TypeError`` saying so.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

# Keras' default filter set.
KERAS_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'


def _is_filtered(ch: str, filters: str) -> bool:
    if ch in filters:
        return True
    # Unicode punctuation (P*) and symbols (S*) outside ASCII behave like filters,
    # control / format characters (C*) like whitespace.
    if ord(ch) < 128:
        return False
    cat = unicodedata.category(ch)
    return cat[0] in "PSC" or cat == "Zs"


def _texts(texts: Iterable[str]) -> Iterator[str]:
    """Iterate ``texts``, rejecting a lone string and non-string items with a clear TypeError."""
    if isinstance(texts, (str, bytes, bytearray)):
        raise TypeError(
            f"expected a list of texts, got a single {type(texts).__name__}; wrap it: [text]"
        )
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] has type {type(text).__name__}, expected str")
        yield text


def text_to_words(text: str, filters: str = KERAS_FILTERS, lower: bool = True) -> list[str]:
    """Split one text into words the way Keras' ``text_to_word_sequence`` does.

    >>> text_to_words("I am NOT happy, really.")
    ['i', 'am', 'not', 'happy', 'really']
    """
    if not isinstance(text, str):
        raise TypeError(f"expected a str, got {type(text).__name__}")
    text = unicodedata.normalize("NFKC", text)
    if lower:
        text = text.lower()
    chars = [" " if _is_filtered(c, filters) else c for c in text]
    return "".join(chars).split()


@dataclass
class Tokenizer:
    """Word index fitted on training texts; encodes texts to padded int32 ids.

    Attributes:
      num_words: keep only word indices ``< num_words`` (None keeps all).
      oov_token: if set, unknown words map to its index (1) instead of being dropped.
      max_len: pad/truncate encoded sequences to this length (None: longest in batch).
      lower, filters: as in Keras.
      word_index: word -> index (1-based), filled by ``fit``.
      word_counts: word -> count in the fitted texts, in first-seen order.
    """

    num_words: int | None = None
    oov_token: str | None = None
    max_len: int | None = None
    lower: bool = True
    filters: str = KERAS_FILTERS
    word_index: dict[str, int] = field(default_factory=dict)
    word_counts: dict[str, int] = field(default_factory=dict)

    def fit(self, texts: Iterable[str]) -> Tokenizer:
        """Build the index from ``texts`` (Keras' ``fit_on_texts``). Returns self."""
        counts: dict[str, int] = {}
        for text in _texts(texts):
            for w in text_to_words(text, self.filters, self.lower):
                counts[w] = counts.get(w, 0) + 1
        self.word_counts = counts
        # sorted() is stable, so equal counts keep first-seen order, as in Keras.
        ordered = sorted(counts, key=lambda w: -counts[w])
        if self.oov_token is not None:
            ordered = [self.oov_token] + [w for w in ordered if w != self.oov_token]
        self.word_index = {w: i + 1 for i, w in enumerate(ordered)}
        return self

    @property
    def vocab_size(self) -> int:
        """Number of ids the encoder can emit, padding (0) included: ids are ``0..vocab_size-1``."""
        n = len(self.word_index) + 1
        if self.num_words is None:
            return n
        # Padding (0) and, with an OOV token, its index (1) are emitted whatever
        # num_words says (Keras maps cut words to OOV even when 1 >= num_words).
        return min(n, max(self.num_words, 1 if self.oov_token is None else 2))

    @property
    def oov_index(self) -> int | None:
        return None if self.oov_token is None else self.word_index[self.oov_token]

    def texts_to_sequences(self, texts: Iterable[str]) -> list[list[int]]:
        """Texts -> lists of ids (no padding). Unknown words dropped or mapped to OOV."""
        if not self.word_index:
            raise ValueError("Tokenizer is not fitted: call fit(texts) first")
        oov = self.oov_index
        out = []
        for text in _texts(texts):
            seq = []
            for w in text_to_words(text, self.filters, self.lower):
                i = self.word_index.get(w)
                if i is not None and (self.num_words is None or i < self.num_words):
                    seq.append(i)
                elif oov is not None:
                    seq.append(oov)
            out.append(seq)
        return out

    def encode(
        self, texts: Sequence[str], max_len: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Texts -> (ids ``[N, T]`` int32, lengths ``[N]`` int32).

        Post padding with 0 and post truncation to ``max_len`` (argument, else
        ``self.max_len``, else the longest sequence). ``lengths`` are the
        lengths after truncation, so ``ids[n, lengths[n]:]`` is all padding.
        """
        seqs = self.texts_to_sequences(texts)
        return pad_sequences(seqs, max_len if max_len is not None else self.max_len)

    def to_dict(self) -> dict:
        """JSON-friendly state, for checkpoints."""
        return {
            "num_words": self.num_words,
            "oov_token": self.oov_token,
            "max_len": self.max_len,
            "lower": self.lower,
            "filters": self.filters,
            "word_index": dict(self.word_index),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Tokenizer:
        return cls(
            num_words=d["num_words"],
            oov_token=d["oov_token"],
            max_len=d["max_len"],
            lower=d["lower"],
            filters=d["filters"],
            word_index={str(k): int(v) for k, v in d["word_index"].items()},
        )


def pad_sequences(
    seqs: Sequence[Sequence[int]], max_len: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Lists of ids -> (ids ``[N, T]`` int32 post-padded with 0, lengths ``[N]`` int32).

    Sequences longer than ``max_len`` keep their first ``max_len`` ids (post truncation).
    """
    if max_len is not None and max_len < 0:
        raise ValueError(f"max_len must be >= 0, got {max_len}")
    lengths = np.array([len(s) for s in seqs], dtype=np.int32)
    if max_len is None:
        max_len = int(lengths.max()) if len(seqs) else 0
    lengths = np.minimum(lengths, max_len).astype(np.int32)
    ids = np.zeros((len(seqs), max_len), dtype=np.int32)
    for n, s in enumerate(seqs):
        ids[n, : lengths[n]] = s[: lengths[n]]
    return ids, lengths
