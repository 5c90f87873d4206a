"""Text for character- and word-level language models.

* :func:`load_text` reads a UTF-8 file (BOM dropped, ``\\r\\n`` and ``\\r``
  become ``\\n``); ``DataError`` if it is missing, empty or undecodable.
* :class:`TextVocab` maps tokens to ids. ``level="char"``: every character
  (newline included) is a token. ``level="word"``: each line becomes its
  words and punctuation marks (regex ``\\w+('\\w+)*`` or one non-space
  character), each line ended by a newline followed by :data:`EOS` (``"<eos>"``),
  as PyTorch's word_language_model does (blank lines give a lone ``<eos>``; a
  last line without a newline, e.g. a prime text, gets none). **Ordering:**
  the tokens sorted by code point (``sorted(set(tokens))``), so the ids depend
  only on which tokens occur, not on the order of the text. There is no
  unknown-token id: build the vocabulary from the whole text (train and test,
  like word_language_model) and :meth:`TextVocab.encode` raises ``DataError``
  naming the unknown characters/words (e.g. in a prime text for sampling).
* :func:`split_text` keeps the first ids for training and the LAST
  ``test_fraction`` as one contiguous test stream.
* :func:`stream_batches` lays a token stream out as ``B`` parallel streams
  (word_language_model's ``batchify``: drop the last ``N mod B`` ids, reshape to
  ``[B, N // B]``, stream ``b`` is the ``b``-th contiguous piece) and cuts them
  into ``K = (N // B - 1) // T`` chunks of ``T`` steps (a shorter last chunk is
  dropped): ``inputs[k, b] = streams[b, kT : kT + T]`` and
  ``targets[k, b] = streams[b, kT + 1 : kT + T + 1]`` (the next token), both
  ``[K, B, T]``. Chunk ``k + 1`` of row ``b`` continues chunk ``k`` of row ``b``,
  so a model carries its state from chunk to chunk (truncated BPTT).
* :func:`make_text` is the packaged demo text: nothing can be downloaded, and
  no sizeable public-domain text is reliably on every machine (the standard
  library's ``this`` module is 850 characters; Debian-style Pythons strip the
  test data), so it generates English-like prose from a small seeded grammar:
  paragraphs (one per line, a blank line between) of sentences in one tense
  per paragraph, with agreement, a/an, clauses and some dialogue. Same seed,
  same text. Command line::

      python -m jaxrnn.data.text --out corpus.txt [--seed 0 --n-chars 40000]
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections import Counter
from collections.abc import Sequence
from numbers import Integral
from typing import Any, NamedTuple

import numpy as np

from jaxrnn.data.files import _fail, _qlist, read_utf8, split_tail
from jaxrnn.errors import ConfigError

__all__ = [
    "EOS",
    "LEVELS",
    "StreamBatches",
    "TextSplit",
    "TextVocab",
    "load_text",
    "main",
    "make_text",
    "split_text",
    "stream_batches",
    "tokenize",
]

#: End-of-line token of word-level vocabularies.
EOS = "<eos>"
#: Accepted ``level`` values.
LEVELS = ("char", "word")
_WORD_RE = re.compile(r"\w+(?:'\w+)*|[^\w\s]")


class TextSplit(NamedTuple):
    """Contiguous ``train`` ids ``[N_train]`` and the last ``test`` ids ``[N_test]``."""

    train: np.ndarray
    test: np.ndarray


class StreamBatches(NamedTuple):
    """``inputs`` and next-token ``targets``, both ``[K, B, T]`` int32 (module docstring)."""

    inputs: np.ndarray
    targets: np.ndarray


def load_text(path: str | os.PathLike) -> str:
    """A text file's contents with ``\\n`` line ends; ``DataError`` if unusable."""
    text = read_utf8(path, need="some text to learn from", kind="a UTF-8 text file")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _level(level: str) -> str:
    if level not in LEVELS:
        raise ConfigError(f"level must be 'char' or 'word', got {level!r}")
    return level


def tokenize(text: str, level: str = "char") -> list[str]:
    """The tokens of ``text`` at ``level`` (``"char"`` or ``"word"``; module docstring)."""
    if _level(level) == "char":
        return list(text)
    lines = text.split("\n")
    out: list[str] = []
    for line in lines[:-1]:
        out.extend(_WORD_RE.findall(line))
        out.append(EOS)
    out.extend(_WORD_RE.findall(lines[-1]))  # an unfinished last line (a prime text) has no EOS
    return out


class TextVocab:
    """Token <-> id mapping for a language model; ``tokens[i]`` has id ``i``."""

    def __init__(self, tokens: Sequence[str], level: str = "char"):
        self.level = _level(level)
        self.tokens = list(tokens)
        self.index = {t: i for i, t in enumerate(self.tokens)}
        if len(self.index) != len(self.tokens):
            raise ValueError("vocabulary tokens must not repeat")

    @classmethod
    def fit(cls, text: str, level: str = "char") -> TextVocab:
        """Every distinct token of ``text``, sorted by code point."""
        return cls(sorted(set(tokenize(text, level))), level)

    @property
    def size(self) -> int:
        """Number of ids (the embedding's rows and the softmax's width)."""
        return len(self.tokens)

    def encode(self, text: str) -> np.ndarray:
        """``[N]`` int32 ids of ``text``'s tokens; ``DataError`` naming unknown tokens."""
        toks = tokenize(text, self.level)
        get = self.index.get
        ids = [get(t, -1) for t in toks]
        if -1 in ids:
            unknown = Counter(t for t, i in zip(toks, ids, strict=True) if i < 0)
            what = "characters" if self.level == "char" else "words"
            first = ids.index(-1)
            raise _fail(
                f"{what} not in the vocabulary: {_qlist(list(unknown))} (first at token "
                f"{first}); the model knows {self.size} {what}: remove or replace those"
            )
        return np.asarray(ids, np.int32)

    def decode(self, ids: Any) -> str:
        """Ids ``[N]`` -> text (words joined by spaces, ``<eos>`` as a line break)."""
        toks = [self.tokens[int(i)] for i in np.asarray(ids).reshape(-1)]
        if self.level == "char":
            return "".join(toks)
        out, line = [], []
        for t in toks:
            if t == EOS:
                out.append(" ".join(line) + "\n")
                line = []
            else:
                line.append(t)
        return "".join(out) + " ".join(line)

    def to_dict(self) -> dict:
        """Plain JSON-able data for a checkpoint; :meth:`from_dict` restores it."""
        return {"kind": "text_vocab", "version": 1, "level": self.level, "tokens": self.tokens}

    @classmethod
    def from_dict(cls, d: dict) -> TextVocab:
        """Rebuild from :meth:`to_dict`'s output; ``ValueError`` if it is something else."""
        if not isinstance(d, dict) or d.get("kind") != "text_vocab" or d.get("version") != 1:
            raise ValueError("not a text vocabulary (expected kind 'text_vocab', version 1)")
        return cls(d["tokens"], d["level"])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TextVocab) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"TextVocab(level={self.level!r}, size={self.size})"


def split_text(ids: Any, test_fraction: float = 0.1) -> TextSplit:
    """First ids for training, the last ``round(test_fraction * N)`` (at least 1) for test."""
    a = np.asarray(ids)
    if a.ndim != 1:
        raise ValueError(f"ids must be 1-D, got shape {a.shape}")
    too_short = "a text of {n} token(s) cannot be split into train and test parts"
    return TextSplit(*split_tail(a, test_fraction, too_short))


def _pos_int(name: str, value: object) -> int:
    if not isinstance(value, Integral) or isinstance(value, bool) or int(value) < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def stream_batches(ids: Any, batch_size: int, seq_len: int) -> StreamBatches:
    """Cut ``ids`` ``[N]`` into ``B`` carried streams of ``T``-step chunks (module docstring).

    Raises ``DataError`` when there is not even one chunk (``N // B < T + 1``).
    """
    a = np.asarray(ids)
    if a.ndim != 1:
        raise ValueError(f"ids must be 1-D, got shape {a.shape}")
    b, t = _pos_int("batch_size", batch_size), _pos_int("seq_len", seq_len)
    per = len(a) // b
    k = (per - 1) // t if per > 0 else 0
    if k < 1:
        raise _fail(
            f"{len(a)} tokens give {per} per stream for batch_size {b}; seq_len {t} needs at "
            f"least {t + 1} per stream ({b * (t + 1)} tokens): use a smaller batch_size or "
            "seq_len, or more text"
        )
    streams = a[: b * per].astype(np.int32).reshape(b, per)
    x = streams[:, : k * t].reshape(b, k, t).transpose(1, 0, 2)
    y = streams[:, 1 : k * t + 1].reshape(b, k, t).transpose(1, 0, 2)
    return StreamBatches(np.ascontiguousarray(x), np.ascontiguousarray(y))


# ----------------------------------------------------------------------------- demo text

_NOUNS = [
    ("fox", "foxes"), ("river", "rivers"), ("child", "children"), ("miller", "millers"),
    ("sailor", "sailors"), ("garden", "gardens"), ("lamp", "lamps"), ("door", "doors"),
    ("bird", "birds"), ("road", "roads"), ("mountain", "mountains"), ("village", "villages"),
    ("letter", "letters"), ("king", "kings"), ("horse", "horses"), ("ship", "ships"),
    ("apple tree", "apple trees"), ("song", "songs"), ("owl", "owls"), ("island", "islands"),
]  # fmt: skip
_ANIMATE = {"fox", "child", "miller", "sailor", "bird", "king", "horse", "owl"}
_ADJECTIVES = ["old", "small", "quiet", "bright", "tired", "clever", "green", "heavy", "gentle",
               "strange", "empty", "ancient", "wild", "patient", "cold"]  # fmt: skip
# (third person singular present, plural present, past)
_TRANSITIVE = [
    ("sees", "see", "saw"), ("finds", "find", "found"), ("carries", "carry", "carried"),
    ("follows", "follow", "followed"), ("watches", "watch", "watched"),
    ("builds", "build", "built"), ("remembers", "remember", "remembered"),
    ("opens", "open", "opened"), ("loves", "love", "loved"), ("keeps", "keep", "kept"),
]  # fmt: skip
_INTRANSITIVE = [
    ("sleeps", "sleep", "slept"), ("runs", "run", "ran"), ("waits", "wait", "waited"),
    ("sings", "sing", "sang"), ("laughs", "laugh", "laughed"), ("wanders", "wander", "wandered"),
    ("rests", "rest", "rested"), ("listens", "listen", "listened"),
]  # fmt: skip
_SAY = ("says", "say", "said")
_ADVERBIALS = ["slowly", "quietly", "again", "at night", "in the morning", "before dawn",
               "all day", "without a word", "for a long time"]  # fmt: skip
_PREPOSITIONS = ["near", "behind", "under", "beyond", "across", "beside", "over", "into"]
_LINKS = ["and", "but", "so", "while"]
_SUBORDINATE = ["when", "because", "after", "before", "although"]
_NAMES = ["Anna", "Tomas", "Elin", "Oskar", "Mira", "Jonah"]


class _Prose:
    """The grammar behind :func:`make_text`, drawing from one seeded generator."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def pick(self, xs: Sequence[Any]) -> Any:
        return xs[int(self.rng.integers(len(xs)))]

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def noun_phrase(self, animate: bool = False) -> tuple[str, bool]:
        """(phrase, plural)."""
        if animate and self.chance(0.25):
            return self.pick(_NAMES), False
        pool = [n for n in _NOUNS if n[0] in _ANIMATE] if animate else _NOUNS
        sg, pl = self.pick(pool)
        plural = self.chance(0.3)
        adj = self.pick(_ADJECTIVES) + " " if self.chance(0.4) else ""
        if plural:
            det = self.pick(["the", "the", "some", "many", "our", "these", "two"])
            return f"{det} {adj}{pl}", True
        det = self.pick(["the", "the", "the", "a", "a", "my", "every", "this"])
        if det == "a" and (adj or sg)[0] in "aeiou":
            det = "an"
        return f"{det} {adj}{sg}", False

    def verb(self, forms: tuple[str, str, str], plural: bool, past: bool) -> str:
        return forms[2] if past else forms[1 if plural else 0]

    def clause(self, past: bool) -> str:
        subj, plural = self.noun_phrase(animate=True)
        if self.chance(0.55):
            obj, _ = self.noun_phrase()
            words = [subj, self.verb(self.pick(_TRANSITIVE), plural, past), obj]
        else:
            words = [subj, self.verb(self.pick(_INTRANSITIVE), plural, past)]
        if self.chance(0.35):
            words.append(f"{self.pick(_PREPOSITIONS)} {self.noun_phrase()[0]}")
        if self.chance(0.3):
            words.append(self.pick(_ADVERBIALS))
        return " ".join(words)

    def sentence(self, past: bool) -> str:
        r = self.rng.random()
        if r < 0.45:
            s = self.clause(past)
        elif r < 0.7:
            s = f"{self.clause(past)}, {self.pick(_LINKS)} {self.clause(past)}"
        elif r < 0.88:
            s = f"{self.pick(_SUBORDINATE)} {self.clause(past)}, {self.clause(past)}"
        else:
            speaker, plural = self.noun_phrase(animate=True)
            said = self.verb(_SAY, plural, past)
            quote = self.clause(past=False)
            end = "?" if self.chance(0.3) else ","
            return f'"{quote[0].upper()}{quote[1:]}{end}" {said} {speaker}.'
        return s[0].upper() + s[1:] + ("!" if self.chance(0.05) else ".")

    def paragraph(self) -> str:
        past = self.chance(0.6)
        return " ".join(self.sentence(past) for _ in range(int(self.rng.integers(3, 8))))


def make_text(seed: int = 0, n_chars: int = 40_000) -> str:
    """Seeded English-like prose of whole paragraphs, at least ``n_chars`` characters long.

    One paragraph per line, a blank line between paragraphs, ending in a
    newline; ASCII only. Same arguments, same text.
    """
    if not isinstance(seed, Integral) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    n = _pos_int("n_chars", n_chars)
    prose = _Prose(np.random.default_rng(int(seed)))
    parts: list[str] = []
    size = 0
    while size < n:
        p = prose.paragraph() + "\n"
        if parts:
            p = "\n" + p
        parts.append(p)
        size += len(p)
    return "".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m jaxrnn.data.text``: ``jaxrnn.cli.make_data.text``
    (the command lives there; kept here for code that calls it by this name)."""
    # By name, at call time: the data layer does not import the commands (jaxrnn/cli).
    return importlib.import_module("jaxrnn.cli.make_data").text(argv)


# python -m jaxrnn.data.text: a real module, so no alias can take its -m; it forwards here.
if __name__ == "__main__":
    sys.exit(main())
