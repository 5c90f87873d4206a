"""CoNLL-U treebanks (Universal Dependencies) as tagged sentences, read with ``conllu``.

:func:`load_conllu` returns the same :class:`jaxrnn.data.conll.Sentence` objects as
:func:`jaxrnn.data.conll.load_conll`: ``tokens`` are the FORM column and ``tags`` the
chosen tag column, ``"upos"`` (universal part of speech, column 4) or ``"xpos"``
(the treebank's own tag, column 5). So a treebank feeds the tagger directly, or is
written as a two-column file with :func:`jaxrnn.data.conll.write_conll`.

Rules:

* a sentence is a block of lines ended by a blank line; ``#`` lines are comments;
* a token line has 10 tab-separated fields;
* multiword tokens (IDs like ``1-2``) and empty nodes (IDs like ``2.1``) are skipped: the
  sentence is the sequence of syntactic words, each with its own tag;
* a word whose chosen tag is ``_`` (missing) is an error naming the line.

:func:`split_every_tenth` is the deterministic split by sentence position that the
Turkish Web Treebank's own reader uses: sentence ``i`` goes to validation if
``i % 10 == 8``, to test if ``i % 10 == 9``, else to training (80/10/10).

The ``conllu`` package is an optional dependency (``pip install "jaxrnn[datasets]"``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, TypeVar

from jaxrnn.data.conll import Sentence
from jaxrnn.data.files import _fail, _q, read_utf8
from jaxrnn.errors import UsageError

__all__ = ["TAG_COLUMNS", "load_conllu", "split_every_tenth"]

#: Tag columns :func:`load_conllu` can read.
TAG_COLUMNS = ("upos", "xpos")

T = TypeVar("T")


def _conllu() -> Any:
    try:
        import conllu
    except ImportError:
        raise UsageError(
            'reading CoNLL-U files needs the conllu package: pip install "jaxrnn[datasets]"'
        ) from None
    return conllu


def _blocks(text: str) -> list[tuple[int, list[str]]]:
    """Sentences as (line number of their first line, lines), split at blank lines."""
    out: list[tuple[int, list[str]]] = []
    start, lines = 0, []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r")
        if not line.strip():
            if lines:
                out.append((start, lines))
            lines = []
            continue
        if not lines:
            start = lineno
        lines.append(line)
    if lines:
        out.append((start, lines))
    return out


def load_conllu(path: str | os.PathLike, tag: str = "upos") -> list[Sentence]:
    """Read a CoNLL-U file into :class:`Sentence` objects (rules: module docstring).

    ``tag`` picks the tag column, ``"upos"`` or ``"xpos"``. Raises ``DataError`` (one
    line, with the line number) for a missing/empty/undecodable file, a token line
    without 10 tab-separated fields, a field ``conllu`` cannot parse, a missing tag, or
    a file with no sentences.
    """
    if tag not in TAG_COLUMNS:
        raise _fail(f"unknown tag column {_q(tag)}; use one of: {', '.join(TAG_COLUMNS)}")
    conllu = _conllu()
    shown = os.fspath(path)
    text = read_utf8(path, need="CoNLL-U sentences (10 tab-separated fields per word)",
                     kind="a .conllu file")
    sentences: list[Sentence] = []
    for start, lines in _blocks(text):
        token_lines = []
        for k, line in enumerate(lines):
            if line.startswith("#"):
                continue
            lineno = start + k
            n = len(line.split("\t"))
            if n != 10:
                raise _fail(f"{shown}: line {lineno}: {n} tab-separated field(s), a CoNLL-U "
                            f"word line needs 10 ({_q(line)})")
            token_lines.append(lineno)
        if not token_lines:
            continue  # only comments
        try:
            (parsed,) = conllu.parse("\n".join(lines) + "\n\n")
        except conllu.exceptions.ParseException as e:
            raise _fail(f"{shown}: sentence at line {start}: {e}") from None
        tokens, tags = [], []
        for lineno, tok in zip(token_lines, parsed, strict=True):
            if not isinstance(tok["id"], int):  # multiword token or empty node
                continue
            value = tok[tag]
            if value is None or value == "_":
                raise _fail(f"{shown}: line {lineno}: word {_q(tok['form'])} has no {tag} tag "
                            f"('_'); tag every word or read the other column "
                            f"({'xpos' if tag == 'upos' else 'upos'})")
            tokens.append(tok["form"])
            tags.append(value)
        if tokens:
            sentences.append(Sentence(tokens, tags))
    if not sentences:
        raise _fail(f"{shown} has no sentences; it needs CoNLL-U word lines "
                    "(10 tab-separated fields) and a blank line after each sentence")
    return sentences


def split_every_tenth(items: Sequence[T]) -> tuple[list[T], list[T], list[T]]:
    """(train, validation, test) by position: ``i % 10 == 8`` validation, ``== 9`` test.

    Deterministic, keeps file order; the Turkish Web Treebank reader's split.
    """
    train = [s for i, s in enumerate(items) if i % 10 < 8]
    validation = [s for i, s in enumerate(items) if i % 10 == 8]
    test = [s for i, s in enumerate(items) if i % 10 == 9]
    return train, validation, test
