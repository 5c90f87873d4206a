"""CoNLL-style tagging files: reading, writing, and encoding to padded id arrays.

File format (what :func:`load_conll` reads and :func:`write_conll` writes)::

    -DOCSTART- -X- -X- O

    EU      NNP  B-NP  B-ORG
    rejects VBZ  B-VP  O
    German  JJ   B-NP  B-MISC

    Peter   B-PER
    Blackburn I-PER

* one token per line: the token in the FIRST column and its tag in the LAST
  column; columns in between (CoNLL-2003's POS and chunk tags) are ignored;
* columns are separated by tabs if the line has a tab (so a token may contain
  spaces), else by runs of whitespace;
* a blank line (or only whitespace) ends a sentence; leading, trailing and
  repeated blank lines are fine; ``-DOCSTART-`` lines are skipped and also end
  a sentence;
* UTF-8, a leading byte-order mark is ignored; ``\\r\\n`` line ends are fine.

Tags are not checked against a scheme here (POS tags such as ``NN`` are fine);
:mod:`jaxrnn.evaluation.spans` checks BIO prefixes when scoring chunks.

Encoding conventions (:class:`TagVocab`):

* word ids: ``0`` is padding, ``1`` is the out-of-vocabulary word, known words
  are ``2..vocab_size-1``, ordered by descending training count, ties by first
  appearance. An unknown word becomes ``1`` and keeps its position: ids line
  up one-to-one with the tokens;
* tag ids: ``0..num_tags-1``; ``"O"`` first when present, then the other tags
  sorted by (entity type, prefix) with prefixes in the order ``B, I, E, S``
  (so ``B-LOC, I-LOC, B-PER, I-PER``); tags without a ``-`` sort by their name;
* padding: tag arrays hold :data:`TAG_PAD` (``-1``) after each sentence's end
  and ``mask`` is ``True`` exactly on real tokens; word ids there are ``0``;
* characters (a vocabulary fitted with ``chars=True``, for a character-level word
  encoder, ``--char-embed``): ``0`` is padding, ``1`` an unknown character, known
  characters ``2..num_chars-1`` by descending training count (ties by first
  appearance), case kept; each token is ``[W]`` character ids, left-aligned, a word
  longer than :data:`MAX_WORD_CHARS` keeping its first and last ``MAX_WORD_CHARS // 2``
  characters (prefix and suffix: where most of a word's morphology is).
  ``-1`` is never a valid class index, so a loss that forgets the mask fails
  loudly (in NumPy) rather than silently training on padding.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from numbers import Integral
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from jaxrnn.data.files import _fail, _q, _qlist, read_utf8, write_text_atomic

__all__ = [
    "split_words",
    "MAX_WORD_CHARS",
    "OOV",
    "PAD",
    "TAG_PAD",
    "EncodedTags",
    "Sentence",
    "TagVocab",
    "load_conll",
    "write_conll",
]

#: Word id of padding.
PAD = 0
#: Word id of a word not in the vocabulary.
OOV = 1
#: Tag id written at padded positions (``mask`` is ``False`` there).
TAG_PAD = -1
#: Characters kept per word by a character vocabulary: a longer word keeps its first and last
#: half (a stray 200-character token must not widen every sentence's ``[T, W]`` block).
MAX_WORD_CHARS = 32

_DOCSTART = "-DOCSTART-"
_PREFIX_ORDER = {"B": 0, "I": 1, "E": 2, "S": 3}


class Sentence(NamedTuple):
    """One tagged sentence: ``tokens[i]`` has tag ``tags[i]`` (equal lengths)."""

    tokens: list[str]
    tags: list[str]


class EncodedTags(NamedTuple):
    """Sentences as padded arrays (``N`` sentences, ``T = max_len``).

    ``ids``: ``[N, T]`` int32 word ids (0 = padding, 1 = OOV);
    ``tags``: ``[N, T]`` int32 tag ids, :data:`TAG_PAD` (-1) at padding;
    ``mask``: ``[N, T]`` bool, ``True`` on real tokens;
    ``lengths``: ``[N]`` int32 tokens kept per sentence (``mask.sum(1)``);
    ``chars``: ``[N, T, W]`` uint16 character ids of each token (0 = padding, also every
    position past a sentence's end), or None when the vocabulary has no characters.
    """

    ids: np.ndarray
    tags: np.ndarray
    mask: np.ndarray
    lengths: np.ndarray
    chars: np.ndarray | None = None


# ----------------------------------------------------------------------------- reading


# A number with inner separators ("3.5", "1,000", "10:30"), a word with inner apostrophes or
# hyphens ("o'neil", "well-known"); any other non-space character is a token of its own,
# as CoNLL files hold punctuation.
_WORD = re.compile(r"\d+(?:[.,:]\d+)+|\w+(?:['\u2019-]\w+)*|[^\w\s]")


def split_words(text: str) -> list[str]:
    """The tokens of a raw sentence as CoNLL files hold them: split on whitespace, and
    every punctuation character split off as a token of its own, case kept (``"Maria
    visited Berlin."`` -> ``["Maria", "visited", "Berlin", "."]``). Where it overlaps the
    classifier's Keras tokenizer (``jaxrnn.data.tokenizer``) it agrees on the word
    boundaries; that tokenizer drops the punctuation and lowercases, a tagger keeps both."""
    return _WORD.findall(text)


def load_conll(path: str | os.PathLike) -> list[Sentence]:
    """Read a CoNLL-style file into sentences (see the module docstring for the format).

    Raises :class:`jaxrnn.errors.DataError` with a one-line message for a
    missing, empty or undecodable file, a line with only one column (with its
    line number), and a file with no sentences (only ``-DOCSTART-`` lines).
    """
    shown = os.fspath(path)
    text = read_utf8(
        path,
        need="one 'token tag' line per word and a blank line between sentences",
        kind="a CoNLL file (one 'token tag' line per word)",
    )
    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []

    def close() -> None:
        if tokens:
            sentences.append(Sentence(list(tokens), list(tags)))
            tokens.clear()
            tags.clear()

    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw.rstrip("\r")
        if not line.strip():
            close()
            continue
        cols = line.split("\t") if "\t" in line else line.split()
        cols = [c.strip() for c in cols if c.strip()]
        if cols[0] == _DOCSTART:
            close()
            continue
        if len(cols) < 2:
            raise _fail(
                f"{shown}: line {lineno} has one column ({_q(line)}); each line needs a "
                "token and its tag separated by a tab or spaces (tag in the last column), "
                "with a blank line between sentences"
            )
        tokens.append(cols[0])
        tags.append(cols[-1])
    close()
    if not sentences:
        raise _fail(
            f"{shown} has no sentences (only -DOCSTART- lines); it needs one 'token tag' "
            "line per word and a blank line between sentences"
        )
    return sentences


def _pairs(sentences: Iterable[Any]) -> list[tuple[list[str], list[str]]]:
    """``Sentence`` objects or ``(tokens, tags, ...)`` tuples -> checked (tokens, tags) pairs."""
    out = []
    for i, s in enumerate(sentences):
        try:
            tokens, tags = list(s[0]), list(s[1])
        except (TypeError, IndexError, KeyError):
            raise TypeError(f"sentence {i} is not a (tokens, tags) pair: {s!r:.80}") from None
        if len(tokens) != len(tags):
            raise ValueError(f"sentence {i} has {len(tokens)} tokens but {len(tags)} tags")
        out.append((tokens, tags))
    return out


def write_conll(path: str | os.PathLike, sentences: Iterable[Any]) -> Path:
    """Write sentences as ``token<TAB>tag`` lines, a blank line after each sentence.

    ``sentences`` holds :class:`Sentence` objects or anything whose items 0 and
    1 are the tokens and tags. Written atomically (temporary file, then rename);
    :func:`load_conll` reads it back unchanged. Raises ``ValueError`` for a
    token or tag that is empty or holds a tab or newline, or unequal lengths.
    """
    parts: list[str] = []
    for i, (tokens, tags) in enumerate(_pairs(sentences)):
        if not tokens:
            continue
        for tok, tag in zip(tokens, tags, strict=True):
            for what, v in (("token", tok), ("tag", tag)):
                if not isinstance(v, str) or not v.strip() or v != v.strip() or "\t" in v:
                    raise ValueError(
                        f"sentence {i}: {what} {v!r} cannot be written (empty, not a string, "
                        "surrounding whitespace or a tab)"
                    )
            parts.append(f"{tok}\t{tag}\n")
        parts.append("\n")
    return write_text_atomic(path, "".join(parts))


# ----------------------------------------------------------------------------- encoding


def _tag_key(tag: str) -> tuple:
    if tag == "O":
        return (0, "", 0, "")
    prefix, sep, kind = tag.partition("-")
    if sep and prefix in _PREFIX_ORDER:
        return (1, kind, _PREFIX_ORDER[prefix], "")
    return (1, tag, -1, tag)


def _by_count(counts: Counter[str], min_count: int) -> list[str]:
    """The keys counted at least ``min_count`` times, by descending count, ties by first
    appearance (a ``Counter`` keeps first-insertion order)."""
    first = {w: i for i, w in enumerate(counts)}
    return sorted((w for w, c in counts.items() if c >= min_count),
                  key=lambda w: (-counts[w], first[w]))  # fmt: skip


class TagVocab:
    """Word and tag indices for a tagger (see the module docstring for the conventions).

    ``words`` are the known words (ids ``2, 3, ...`` in that order), ``tags``
    the tag names (id ``k`` is ``tags[k]``), ``chars`` (optional) the known characters
    (ids ``2, 3, ...``; None: no character ids). Build one with :meth:`fit`.
    """

    def __init__(self, words: Sequence[str], tags: Sequence[str], lowercase: bool = False,
                 chars: Sequence[str] | None = None):  # fmt: skip
        self.words = list(words)
        self.tags = list(tags)
        self.lowercase = bool(lowercase)
        self.chars = None if chars is None else list(chars)
        self.word_index = {w: i + 2 for i, w in enumerate(self.words)}
        self.tag_index = {t: i for i, t in enumerate(self.tags)}
        self.char_index = {c: i + 2 for i, c in enumerate(self.chars or ())}
        if len(self.word_index) != len(self.words) or len(self.tag_index) != len(self.tags):
            raise ValueError("words and tags must not repeat")
        if self.chars is not None and (len(self.char_index) != len(self.chars)
                                       or any(len(c) != 1 for c in self.chars)):  # fmt: skip
            raise ValueError("chars must be distinct single characters")
        if len(self.char_index) + 2 > 2**16:  # character ids are uint16
            raise ValueError(f"{len(self.char_index)} characters: at most {2**16 - 2} fit")

    @classmethod
    def fit(
        cls,
        sentences: Iterable[Any],
        *,
        min_count: int = 1,
        lowercase: bool = False,
        extra_tags: Iterable[str] = (),
        chars: bool = False,
    ) -> TagVocab:
        """Index the words seen at least ``min_count`` times and every tag of ``sentences``.

        ``extra_tags`` adds tags that the training sentences lack (e.g. those of
        the test file), so they get ids instead of an error in :meth:`encode`.
        ``chars``: also index every character of the tokens (as written, case kept:
        ``lowercase`` applies to the words), so that :meth:`encode` gives character ids.
        """
        if not isinstance(min_count, Integral) or isinstance(min_count, bool) or min_count < 1:
            raise ValueError(f"min_count must be an integer >= 1, got {min_count!r}")
        counts: Counter[str] = Counter()
        char_counts: Counter[str] = Counter()
        tagset: dict[str, None] = {}
        for tokens, tags in _pairs(sentences):
            counts.update(t.lower() if lowercase else t for t in tokens)
            if chars:
                for t in tokens:
                    char_counts.update(t)
            tagset.update(dict.fromkeys(tags))
        tagset.update(dict.fromkeys(extra_tags))
        words = _by_count(counts, min_count)
        return cls(words, sorted(tagset, key=_tag_key), lowercase,
                   _by_count(char_counts, 1) if chars else None)  # fmt: skip

    @property
    def vocab_size(self) -> int:
        """Number of word ids including padding (0) and OOV (1): the embedding's rows."""
        return len(self.words) + 2

    @property
    def num_chars(self) -> int:
        """Number of character ids including padding (0) and unknown (1); 0 without ``chars``."""
        return 0 if self.chars is None else len(self.chars) + 2

    @property
    def num_tags(self) -> int:
        """Number of tag classes ``K`` (tag ids are ``0..K-1``)."""
        return len(self.tags)

    def word_ids(self, tokens: Sequence[str]) -> list[int]:
        """Word ids of ``tokens``, one per token (OOV = 1 for unknown words)."""
        get = self.word_index.get
        if self.lowercase:
            return [get(t.lower(), OOV) for t in tokens]
        return [get(t, OOV) for t in tokens]

    def char_ids(self, token: str, width: int) -> list[int]:
        """The character ids of ``token`` (unknown = 1), at most ``width`` of them: a longer
        word keeps its first ``width - width // 2`` and last ``width // 2`` characters."""
        if len(token) > width:
            token = token[: width - width // 2] + token[len(token) - width // 2 :]
        get = self.char_index.get
        return [get(c, OOV) for c in token]

    def encode(self, sentences: Iterable[Any], max_len: int | None = None, *,
               char_len: int | None = None) -> EncodedTags:  # fmt: skip
        """Padded ``[N, T]`` arrays of word ids, tag ids and the mask, and ``[N]`` lengths;
        with ``chars``, ``[N, T, W]`` character ids too: ``W = char_len``, or the longest
        kept token's characters, at most :data:`MAX_WORD_CHARS` (``char_ids``).

        ``T = max_len``, or the longest sentence if ``None``. A longer sentence is
        cut to ``max_len`` tokens (its ``lengths`` entry says how many were kept;
        score predictions against the cut tags, or pass ``max_len=None`` to keep
        everything). Items may be ``(tokens, tags)`` or ``(tokens, None)`` for
        untagged text, whose tag ids are all :data:`TAG_PAD`. A tag the vocabulary
        lacks raises ``DataError`` naming it (fit with ``extra_tags=``).
        """
        rows: list[tuple[list[str], list[str] | None]] = []
        for i, s in enumerate(sentences):
            tokens, tags = list(s[0]), (None if s[1] is None else list(s[1]))
            if tags is not None and len(tags) != len(tokens):
                raise ValueError(f"sentence {i} has {len(tokens)} tokens but {len(tags)} tags")
            rows.append((tokens, tags))
        longest = max((len(t) for t, _ in rows), default=0)
        if max_len is None:
            t_len = max(longest, 1)
        elif not isinstance(max_len, Integral) or isinstance(max_len, bool) or max_len < 1:
            raise ValueError(f"max_len must be a positive integer or None, got {max_len!r}")
        else:
            t_len = int(max_len)
        n = len(rows)
        ids = np.zeros((n, t_len), np.int32)
        tag_ids = np.full((n, t_len), TAG_PAD, np.int32)
        lengths = np.zeros(n, np.int32)
        unknown: dict[str, int] = {}
        for i, (tokens, tags) in enumerate(rows):
            k = min(len(tokens), t_len)
            lengths[i] = k
            ids[i, :k] = self.word_ids(tokens[:k])
            if tags is not None:
                for j, tag in enumerate(tags[:k]):
                    c = self.tag_index.get(tag)
                    if c is None:
                        unknown.setdefault(tag, i)
                    else:
                        tag_ids[i, j] = c
        if unknown:
            first = next(iter(unknown.values()))
            raise _fail(
                f"tags not in the training tags: {_qlist(list(unknown))} (first in sentence "
                f"{first}); the known tags are {_qlist(self.tags)}: fix the tags or build the "
                "vocabulary with extra_tags="
            )
        mask = np.arange(t_len)[None, :] < lengths[:, None]
        char_ids = None
        if self.chars is not None:
            kept = [tokens[: int(k)] for (tokens, _), k in zip(rows, lengths, strict=True)]
            if char_len is None:
                longest_word = max((len(w) for ts in kept for w in ts), default=1)
                width = max(1, min(longest_word, MAX_WORD_CHARS))
            elif not isinstance(char_len, Integral) or isinstance(char_len, bool) or char_len < 1:
                raise ValueError(f"char_len must be a positive integer or None, got {char_len!r}")
            else:
                width = int(char_len)
            char_ids = np.zeros((n, t_len, width), np.uint16)
            for i, ts in enumerate(kept):
                for j, w in enumerate(ts):
                    c = self.char_ids(w, width)
                    char_ids[i, j, : len(c)] = c
        return EncodedTags(ids, tag_ids, mask, lengths, char_ids)

    def decode_tags(self, tag_ids: Any, lengths: Any) -> list[list[str]]:
        """``[N, T]`` tag ids and ``[N]`` lengths -> tag names, ``lengths[i]`` per sentence."""
        a = np.asarray(tag_ids)
        lens = np.asarray(lengths)
        if a.ndim != 2 or lens.shape != (a.shape[0],):
            raise ValueError(f"need tag ids [N, T] and lengths [N], got {a.shape} and {lens.shape}")
        out = []
        for row, k in zip(a, lens, strict=True):
            vals = row[: int(k)]
            if vals.size and (vals.min() < 0 or vals.max() >= self.num_tags):
                raise ValueError(f"tag ids must be in 0..{self.num_tags - 1} inside the lengths")
            out.append([self.tags[int(v)] for v in vals])
        return out

    def to_dict(self) -> dict:
        """Plain JSON-able data for a checkpoint; :meth:`from_dict` restores it."""
        out = {
            "kind": "tag_vocab",
            "version": 1,
            "words": list(self.words),
            "tags": list(self.tags),
            "lowercase": self.lowercase,
        }
        if self.chars is not None:  # absent otherwise: the dict of every earlier checkpoint
            out["chars"] = list(self.chars)
        return out

    @classmethod
    def from_dict(cls, d: dict) -> TagVocab:
        """Rebuild from :meth:`to_dict`'s output (one without ``chars``, as every checkpoint
        before them: no character ids); ``ValueError`` if it is something else."""
        if not isinstance(d, dict) or d.get("kind") != "tag_vocab" or d.get("version") != 1:
            raise ValueError("not a tag vocabulary (expected kind 'tag_vocab', version 1)")
        chars = d.get("chars")
        if chars is not None and not (isinstance(chars, list)
                                      and all(isinstance(c, str) for c in chars)):  # fmt: skip
            raise ValueError("a tag vocabulary's chars must be a list of characters")
        return cls(d["words"], d["tags"], bool(d.get("lowercase", False)), chars)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TagVocab) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        chars = "" if self.chars is None else f", num_chars={self.num_chars}"
        return (
            f"TagVocab(vocab_size={self.vocab_size}, tags={self.tags!r}, "
            f"lowercase={self.lowercase}{chars})"
        )
