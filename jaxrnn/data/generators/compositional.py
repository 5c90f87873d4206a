"""A held-out compositional test set: new sentences built from the training words by the
training data's own constructions, labelled by rule.

The bundled test set (20 sentences) is too close to the training set. This module
defines -- and this docstring is the definition -- a grammar that generates every
one of the 78 bundled sentences (train and test) with its bundled label, and
produces the sentences of that grammar that are *not* bundled, each labelled by the
rules below and tagged with its construction. The committed file
``jaxrnn/data/compositional.jsonl`` is ``make_compositional(n=200, seed=0)``.

Words: the 18 words of the training vocabulary, nothing else. Polar adjectives:
``good``, ``happy`` (value 1, positive) and ``bad``, ``sad`` (value 0, negative).

Sentence = FRAME around a PREDICATE:

* frames: bare (no subject, no tail; only the ``base``, ``intensifier`` and
  ``negation`` predicates, as in the data), ``i am P``, ``this is P``,
  ``i am P right now``, ``this is P right now`` (present tense: the tail
  ``right now`` is optional) and ``i was P earlier``, ``this was P earlier`` (past
  tense: in the data ``was`` always comes with ``earlier`` and ``earlier`` only
  with ``was``). Subject, tense and tail never change the label.
* predicates, with the labelling rule of each (v(A) is the value of adjective A):

  ===============  ============================  =================  ====================
  construction     form                          label              data example
  ===============  ============================  =================  ====================
  ``base``         ``A``                         v(A)               i am happy
  ``intensifier``  ``very A``                    v(A)               this is very good
  ``negation``     ``not A``                     1 - v(A)           i am not bad (1)
  ``not_at_all``   ``not at all A``              1 - v(A)           i am not at all good
  ``disjunction``  ``not at all A or B``,        1 - v(A)           i am not at all bad or
                   A != B, v(A) = v(B)                              sad right now (1)
  ``contrast``     ``A not B``, v(A) != v(B)     v(A)               i am bad not good (0)
  ``conjunction``  ``L1 and L2``, L = ``A`` or   the common value   i was good and not
                   ``not A``, different                             bad earlier (1)
                   adjectives, equal values
  ===============  ============================  =================  ====================

  where the value of the literal ``not A`` is ``1 - v(A)``. Labels: 1 = positive,
  0 = negative, named ``["negative", "positive"]`` as in ``load_sentiment``.

Only these word orders occur: the data says ``not at all good``, never ``not good
at all``; ``very`` never meets ``not``, ``and``, ``or`` or a contrast; ``or`` only
follows ``not at all``. So "i am not good at all" is not a sentence of this test.

Each sentence's ``construction`` is its predicate's construction plus its tail, if
any, joined by ``+``: ``"conjunction+earlier"``, ``"negation+right_now"``,
``"base"``.

The grammar has 324 sentences; 78 are the bundled ones (all 78 bundled sentences
are in it, with their bundled labels), leaving a pool of 246 (120 negative, 126
positive). The pool is uneven: the bundled data already holds most short
sentences (only 4 ``base`` and 8 ``intensifier`` sentences are new, but 136
``conjunction``). ``make_compositional(n, seed)`` therefore takes ``n // 2``
negative and ``n - n // 2`` positive sentences and, within each label, spreads
them as evenly over the constructions as the pool allows (a construction with
fewer sentences than its share gives all it has, the rest is shared out among the
others); sentences within a (construction, label) cell are drawn by
``numpy.random.default_rng(seed)``. The result is sorted by construction, label
and text, so the seed only decides which sentences of the larger cells are drawn.
At ``n=200``: 100 negative, 100 positive; every sentence of every construction but
``conjunction`` (base 4, intensifier 8, negation 16, not_at_all 16, disjunction
22, contrast 44) plus 90 of the 136 conjunctions.

File format (JSONL, readable by ``jaxrnn.data.files.load_table`` and
``load_dataset``): one object per line, ``{"text": ..., "label": "negative" |
"positive", "construction": ...}``. Command line::

    python -m jaxrnn.data.compositional --out compositional.jsonl --seed 0 --n 200

(``.csv``/``.tsv`` write the same three columns.)

The dev split (issue 27): a validation set of *new combinations*, generated apart from the
test set, to choose settings on (``python -m jaxrnn.sweep --select dev``) without ever
reading a test sentence. Its sentences come from two places, neither of which the test
file uses:

* ``conjunction``: the pool's conjunctions that the committed test set did not draw (46 of
  the 136; the test holds 90): new word combinations of a test construction;
* four *dev constructions* outside the grammar above (so in no test split, whatever its
  seed), built from the same 18 words, frames and labelling rules:

  ==========================  ===================================  ==============
  construction                form                                 label
  ==========================  ===================================  ==============
  ``plain_disjunction``       ``A or B``, A != B, v(A) = v(B)      v(A)
  ``intensified_conjunction`` ``very A and very B``, A != B,       v(A)
                              v(A) = v(B)
  ``intensified_contrast``    ``very A not B``, v(A) != v(B)       v(A)
  ``not_at_all_conjunction``  ``not at all A and not at all B``,   1 - v(A)
                              A != B, v(A) = v(B)
  ==========================  ===================================  ==============

  each in the six frames with a subject (24, 24, 48 and 24 sentences).

``make_compositional_dev(n, seed)`` draws ``n // 2`` negative and ``n - n // 2`` positive
sentences spread over these five constructions as ``make_compositional`` does, with its
own seed. The committed ``jaxrnn/data/compositional_dev.jsonl`` is
``make_compositional_dev(160, 1)``: 42 conjunctions, every sentence of
``plain_disjunction``, ``intensified_conjunction`` and ``not_at_all_conjunction`` and 46
``intensified_contrast``. No dev sentence is a test or a bundled sentence. Command line::

    python -m jaxrnn.data.compositional --split dev --out compositional_dev.jsonl
"""

from __future__ import annotations

import csv
import importlib
import io
import itertools
import json
import os
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np

from jaxrnn.data.files import detect_format, json_rows_text, load_table
from jaxrnn.data.sentiment import Split, load_sentiment
from jaxrnn.errors import DataError, UsageError
from jaxrnn.util.atomic import atomic_write

__all__ = [
    "CONSTRUCTIONS",
    "DEFAULT_N",
    "DEFAULT_SEED",
    "DEV_CONSTRUCTIONS",
    "DEV_FILE_NAME",
    "DEV_N",
    "DEV_SEED",
    "LABEL_NAMES",
    "NEGATIVE",
    "POSITIVE",
    "TAILS",
    "CompositionalSet",
    "format_rows",
    "grammar",
    "dev_grammar",
    "dev_pool",
    "dev_path",
    "label_sentence",
    "load_compositional",
    "main",
    "make_compositional",
    "make_compositional_dev",
    "pool",
    "write_compositional",
]

POSITIVE = ("good", "happy")
NEGATIVE = ("bad", "sad")
#: Predicate constructions, in the order the set is sorted by.
CONSTRUCTIONS = (
    "base",
    "intensifier",
    "negation",
    "not_at_all",
    "disjunction",
    "contrast",
    "conjunction",
)
#: Tail tags (a sentence without a tail has none).
TAILS = ("right_now", "earlier")
LABEL_NAMES = ["negative", "positive"]
DEFAULT_N = 200
DEFAULT_SEED = 0
#: File name of the committed set (``make_compositional(DEFAULT_N, DEFAULT_SEED)``).
FILE_NAME = "compositional.jsonl"
#: The dev split: its constructions (the test grammar's leftover conjunctions first, then the
#: four constructions outside the test grammar), size, seed and committed file name.
DEV_CONSTRUCTIONS = (
    "conjunction",
    "plain_disjunction",
    "intensified_conjunction",
    "intensified_contrast",
    "not_at_all_conjunction",
)
DEV_N = 160
DEV_SEED = 1
DEV_FILE_NAME = "compositional_dev.jsonl"

_ADJECTIVES = POSITIVE + NEGATIVE
_BARE = ("base", "intensifier", "negation")
# (subject, tail words, tail tag); the bare frame first.
_FRAMES = (
    ("", "", ""),
    ("i am", "", ""),
    ("this is", "", ""),
    ("i am", "right now", "right_now"),
    ("this is", "right now", "right_now"),
    ("i was", "earlier", "earlier"),
    ("this was", "earlier", "earlier"),
)


class CompositionalSet(NamedTuple):
    """A labelled set with a construction tag per sentence.

    ``split`` holds the texts and class indices (0 negative, 1 positive);
    ``constructions[i]`` tags ``split.texts[i]`` (e.g. ``"conjunction+earlier"``);
    ``label_names`` is ``["negative", "positive"]``, as ``load_sentiment``'s.
    """

    split: Split
    constructions: list[str]
    label_names: list[str]

    def tags(self, i: int) -> list[str]:
        """The construction tags of sentence ``i``: ``["conjunction", "earlier"]``."""
        return self.constructions[i].split("+")


def _value(adjective: str) -> int:
    return 1 if adjective in POSITIVE else 0


def _predicates() -> list[tuple[str, str, int]]:
    """Every predicate as (construction, words, label), in a fixed order."""
    out: list[tuple[str, str, int]] = []
    for a in _ADJECTIVES:
        v = _value(a)
        out += [
            ("base", a, v),
            ("intensifier", f"very {a}", v),
            ("negation", f"not {a}", 1 - v),
            ("not_at_all", f"not at all {a}", 1 - v),
        ]
    for a, b in itertools.permutations(_ADJECTIVES, 2):
        if _value(a) == _value(b):
            out.append(("disjunction", f"not at all {a} or {b}", 1 - _value(a)))
        else:
            out.append(("contrast", f"{a} not {b}", _value(a)))
    literals = [(a, a, _value(a)) for a in _ADJECTIVES]
    literals += [(a, f"not {a}", 1 - _value(a)) for a in _ADJECTIVES]
    for (a, la, va), (b, lb, vb) in itertools.permutations(literals, 2):
        if a != b and va == vb:
            out.append(("conjunction", f"{la} and {lb}", va))
    return out


def grammar() -> dict[str, tuple[int, str]]:
    """Every sentence of the grammar -> (label, construction), bundled sentences included."""
    out: dict[str, tuple[int, str]] = {}
    for subject, tail, tag in _FRAMES:
        for construction, words, label in _predicates():
            if not subject and construction not in _BARE:
                continue
            text = " ".join(w for w in (subject, words, tail) if w)
            out[text] = (label, construction + (f"+{tag}" if tag else ""))
    return out


def label_sentence(text: str) -> tuple[int, str]:
    """(label, construction) of a sentence of the grammar; ``ValueError`` for any other text.

    >>> label_sentence("i am good and happy right now")
    (1, 'conjunction+right_now')
    """
    found = grammar().get(" ".join(text.split()))
    if found is None:
        raise ValueError(f"not a sentence of the compositional grammar: {text!r}")
    return found


def _bundled() -> set[str]:
    ds = load_sentiment()
    return set(ds.train.texts) | set(ds.test.texts)


def pool() -> dict[str, tuple[int, str]]:
    """The grammar's sentences that are not in the bundled data (train or test)."""
    bundled = _bundled()
    return {t: v for t, v in grammar().items() if t not in bundled}


def _dev_predicates() -> list[tuple[str, str, int]]:
    """The four dev-only predicates as (construction, words, label), in a fixed order."""
    out: list[tuple[str, str, int]] = []
    for a, b in itertools.permutations(_ADJECTIVES, 2):
        va, vb = _value(a), _value(b)
        if va == vb:
            out += [
                ("plain_disjunction", f"{a} or {b}", va),
                ("intensified_conjunction", f"very {a} and very {b}", va),
                ("not_at_all_conjunction", f"not at all {a} and not at all {b}", 1 - va),
            ]
        else:
            out.append(("intensified_contrast", f"very {a} not {b}", va))
    return out


def dev_grammar() -> dict[str, tuple[int, str]]:
    """Every sentence of the four dev-only constructions -> (label, construction); none of
    them is a sentence of ``grammar()`` (so of no test split, whatever its seed)."""
    out: dict[str, tuple[int, str]] = {}
    for subject, tail, tag in _FRAMES:
        if not subject:  # the bare frame holds only base, intensifier and negation
            continue
        for construction, words, label in _dev_predicates():
            text = " ".join(w for w in (subject, words, tail) if w)
            out[text] = (label, construction + (f"+{tag}" if tag else ""))
    return out


def dev_pool(test: CompositionalSet | None = None) -> dict[str, tuple[int, str]]:
    """The dev split's candidates: the pool's sentences that ``test`` (default: the committed
    test set, ``make_compositional()``) does not hold, and every ``dev_grammar()`` sentence."""
    test = make_compositional(DEFAULT_N, DEFAULT_SEED) if test is None else test
    used = set(test.split.texts)
    out = {t: v for t, v in pool().items() if t not in used}
    out.update(dev_grammar())
    return out


def dev_path() -> Path:
    """The committed dev split's path (inside the installed package)."""
    with resources.as_file(resources.files("jaxrnn.data").joinpath(DEV_FILE_NAME)) as p:
        return Path(p)


def _spread(total: int, sizes: Sequence[int]) -> list[int]:
    """Split ``total`` over cells as evenly as their ``sizes`` allow (water-filling).

    Cells that are smaller than their share give everything; leftovers go one
    each to the earliest of the cells with room.
    """
    take = [0] * len(sizes)
    left = total
    while left > 0:
        open_ = [i for i, s in enumerate(sizes) if take[i] < s]
        if not open_:
            break
        share = max(left // len(open_), 1)
        for i in open_:
            add = min(share, sizes[i] - take[i], left)
            take[i] += add
            left -= add
            if left == 0:
                break
    return take


def make_compositional(n: int = DEFAULT_N, seed: int = DEFAULT_SEED) -> CompositionalSet:
    """``n`` labelled sentences of the pool: ``n // 2`` negative, the rest positive,
    spread evenly over the constructions within each label, drawn by ``seed``.

    Raises ``UsageError`` if ``n`` is not in ``1..`` the pool's size for a label.
    """
    return _draw(pool(), CONSTRUCTIONS, n, seed)


def make_compositional_dev(n: int = DEV_N, seed: int = DEV_SEED) -> CompositionalSet:
    """The dev split: ``n`` sentences of ``dev_pool()`` (none of them in the committed test
    set or the bundled data), ``n // 2`` negative, spread over ``DEV_CONSTRUCTIONS`` within
    each label, drawn by ``seed`` (its own: 1 for the committed file, the test's is 0).

    Raises ``UsageError`` if ``n`` is not in ``1..`` the dev pool's size for a label.
    """
    return _draw(dev_pool(), DEV_CONSTRUCTIONS, n, seed)


def _draw(full: dict[str, tuple[int, str]], constructions: Sequence[str], n: int,
          seed: int) -> CompositionalSet:  # fmt: skip
    """``n`` sentences of ``full``, balanced by label and spread over ``constructions``."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise UsageError(f"n must be a positive integer, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UsageError(f"seed must be a non-negative integer, got {seed!r}")
    cells: dict[tuple[str, int], list[str]] = {}
    for text, (label, construction) in sorted(full.items()):
        cells.setdefault((construction.split("+")[0], label), []).append(text)
    rng = np.random.default_rng(seed)
    chosen: list[tuple[int, int, str]] = []
    for label, want in ((0, n // 2), (1, n - n // 2)):
        groups = [cells.get((c, label), []) for c in constructions]
        have = sum(map(len, groups))
        if want > have:
            raise UsageError(
                f"n={n} asks for {want} {LABEL_NAMES[label]} sentences but the pool has only "
                f"{have}; use a smaller n"
            )
        takes = _spread(want, [len(g) for g in groups])
        for c, (texts, k) in enumerate(zip(groups, takes, strict=True)):
            for i in rng.permutation(len(texts))[:k]:
                chosen.append((c, label, texts[i]))
    chosen.sort()
    texts = [t for _, _, t in chosen]
    return CompositionalSet(
        Split(texts, [full[t][0] for t in texts]), [full[t][1] for t in texts], list(LABEL_NAMES)
    )


def format_rows(data: CompositionalSet, fmt: str = "jsonl") -> str:
    """The file contents for ``data`` in ``fmt`` (``jsonl``, ``json``: an array with an object
    a line, ``csv`` or ``tsv``)."""
    rows = [
        (t, data.label_names[y], c)
        for t, y, c in zip(data.split.texts, data.split.labels, data.constructions, strict=True)
    ]
    if fmt in ("jsonl", "json"):
        keys = ("text", "label", "construction")
        return json_rows_text([json.dumps(dict(zip(keys, r, strict=True))) for r in rows], fmt)
    buf = io.StringIO()
    w = csv.writer(buf, dialect="excel-tab" if fmt == "tsv" else "excel", lineterminator="\n")
    w.writerow(["text", "label", "construction"])
    w.writerows(rows)
    return buf.getvalue()


def write_compositional(
    data: CompositionalSet, path: str | os.PathLike, fmt: str | None = None
) -> Path:
    """Write ``data`` atomically to ``path`` (format from ``fmt`` or the extension)."""
    return atomic_write(path, format_rows(data, detect_format(path, fmt)), fsync=False)


def load_compositional(path: str | os.PathLike | None = None) -> CompositionalSet:
    """The committed compositional test set, or one written by this module's CLI.

    Labels may be names (``negative``/``positive``) or indices (0/1); a row whose
    ``construction`` is missing gets ``""``. Raises ``DataError`` on a bad file.
    """
    if path is None:
        with resources.as_file(resources.files("jaxrnn.data").joinpath(FILE_NAME)) as p:
            return load_compositional(p)
    table = load_table(path)
    labels: list[int] = []
    for raw, line in zip(table.labels, table.lines, strict=True):
        key = str(raw).strip()
        if key in LABEL_NAMES:
            labels.append(LABEL_NAMES.index(key))
        elif key in ("0", "1"):
            labels.append(int(key))
        else:
            raise DataError(
                f"{table.path}: line {line}: label {key!r} is not one of {LABEL_NAMES} or 0/1"
            )
    constructions = [""] * len(table.texts)
    if "construction" in table.columns:
        extra = load_table(path, label_column="construction")
        constructions = [str(c) for c in extra.labels]
    return CompositionalSet(Split(list(table.texts), labels), constructions, list(LABEL_NAMES))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m jaxrnn.data.compositional``: ``jaxrnn.cli.make_data.compositional``
    (the command lives there; kept here for code that calls it by this name)."""
    # By name, at call time: the data layer does not import the commands (jaxrnn/cli).
    return importlib.import_module("jaxrnn.cli.make_data").compositional(argv)


if __name__ == "__main__":  # python -m jaxrnn.data.generators.compositional
    sys.exit(main())
