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
padding with 0, post truncation at ``max_len``) and the true lengths ``[N]``;
``known_tokens(texts)`` counts, per text, the words that encode to a real id.

Splitting rules (``filter_mode``):

* ``"keras"`` (the default): exactly Keras' ``text_to_word_sequence`` --
  ``text.lower()``, every character of ``filters`` replaced by a space, split on
  the space character ``" "`` only, empty strings dropped. Nothing else is a
  separator or a filter: no Unicode normalisation ("ｇｏｏｄ" and "good" are
  different words), emoji, symbols and non-ASCII punctuation stay in words
  ("good😀" is one word, "😀" alone is a word, "good…" keeps its "…"), and
  whitespace other than space, tab and newline (carriage return, NBSP, ideographic space) stays
  inside words, as Keras does. One deliberate difference: a lone surrogate
  (which cannot be written as UTF-8, so could not be saved in a checkpoint)
  separates words like a space, where Keras would keep it inside the word.
* ``"unicode"`` (the rule before ``filter_mode`` existed; a saved tokenizer
  without the field uses it): the text is NFKC-normalised before lowercasing,
  any non-ASCII Unicode punctuation or symbol (category P*/S*, so emoji too)
  counts as a filter, control, format and surrogate characters (C*) and Unicode
  spaces separate words, and words are split on any whitespace (``str.split()``),
  so "Good!", "good" and "ｇｏｏｄ" are the same word and emoji are dropped.

``to_dict`` records ``filter_mode``; ``from_dict`` of a dict without it gives
``"unicode"``, so a checkpoint written before the field existed tokenizes as it
did when it was trained.

Robustness: any ``str`` is accepted (lone surrogates, combining marks, RTL
text, emoji, zero-width and other format characters, NUL): nothing raises, and
every word is valid Unicode (encodable as UTF-8). A non-``str`` text, or a
single ``str`` passed where a list of texts is expected, raises ``TypeError``
saying so.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

# Keras' default filter set.
KERAS_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'

#: The splitting rules a ``Tokenizer`` can use (see the module docstring).
FILTER_MODES = ("keras", "unicode")
#: The rule of a saved tokenizer whose dict has no ``filter_mode`` (written before it existed).
LEGACY_FILTER_MODE = "unicode"
_SURROGATES = re.compile("[\ud800-\udfff]")


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


def _check_mode(mode: str) -> str:
    if mode not in FILTER_MODES:
        raise ValueError(f"filter_mode must be one of {FILTER_MODES}, got {mode!r}")
    return mode


def text_to_words(
    text: str, filters: str = KERAS_FILTERS, lower: bool = True, filter_mode: str = "keras"
) -> list[str]:
    """Split one text into words by the rule ``filter_mode`` (see the module docstring).

    The default, ``"keras"``, is Keras' ``text_to_word_sequence``:

    >>> text_to_words("I am NOT happy, really.")
    ['i', 'am', 'not', 'happy', 'really']
    >>> text_to_words("so good😀 …")
    ['so', 'good😀', '…']
    >>> text_to_words("so good😀 …", filter_mode="unicode")
    ['so', 'good']
    """
    if not isinstance(text, str):
        raise TypeError(f"expected a str, got {type(text).__name__}")
    if _check_mode(filter_mode) == "keras":
        if lower:
            text = text.lower()
        text = text.translate(str.maketrans(dict.fromkeys(filters, " ")))
        text = _SURROGATES.sub(" ", text)
        return [w for w in text.split(" ") if w]
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
      filter_mode: ``"keras"`` (Keras' splitting, the default) or ``"unicode"``
        (the older rule, kept for checkpoints saved before this field); see the module.
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
    filter_mode: str = "keras"

    def __post_init__(self) -> None:
        _check_mode(self.filter_mode)

    def _words(self, text: str) -> list[str]:
        return text_to_words(text, self.filters, self.lower, self.filter_mode)

    def fit(self, texts: Iterable[str]) -> Tokenizer:
        """Build the index from ``texts`` (Keras' ``fit_on_texts``). Returns self."""
        counts: dict[str, int] = {}
        for text in _texts(texts):
            for w in self._words(text):
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
            for w in self._words(text):
                i = self.word_index.get(w)
                if i is not None and (self.num_words is None or i < self.num_words):
                    seq.append(i)
                elif oov is not None:
                    seq.append(oov)
            out.append(seq)
        return out

    def known_tokens(self, texts: Iterable[str]) -> list[int]:
        """Per text, how many of its words encode to a real id: in the index, inside
        ``num_words``, and not the OOV token. Counted before any ``max_len`` truncation.
        """
        if not self.word_index:
            raise ValueError("Tokenizer is not fitted: call fit(texts) first")
        oov = self.oov_index
        out = []
        for text in _texts(texts):
            n = 0
            for w in self._words(text):
                i = self.word_index.get(w)
                if i is not None and i != oov and (self.num_words is None or i < self.num_words):
                    n += 1
            out.append(n)
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
            "filter_mode": self.filter_mode,
            "word_index": dict(self.word_index),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Tokenizer:
        """Inverse of ``to_dict``; a dict without ``filter_mode`` gets the old ``"unicode"``."""
        return cls(
            num_words=d["num_words"],
            oov_token=d["oov_token"],
            max_len=d["max_len"],
            lower=d["lower"],
            filters=d["filters"],
            word_index={str(k): int(v) for k, v in d["word_index"].items()},
            filter_mode=d.get("filter_mode", LEGACY_FILTER_MODE),
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
