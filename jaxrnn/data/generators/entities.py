"""A seeded entity-tagging task whose deciding cue comes before or after the name.

Each sentence holds one *main* name of type PER, LOC or ORG. Some names are
**ambiguous**: ``Jordan``, ``Chelsea``, ``Lincoln``, ... are used for all three
types equally often, so the name alone says nothing about its type. The type
is decided only by a **cue phrase** right before the name ("we flew to Jordan")
or right after it ("Jordan announced record profits"). Other names are
**unambiguous** (``Maria Lopez`` is always PER, ``New York`` LOC, ``Globex``
ORG; some have two tokens, tagged ``B-`` then ``I-``); they get a cue of their
type too. Tags are IOB2.

Grammar (``|`` = one of, ``[x]`` = optional, ``T`` = the main name's type)::

    sentence   := cue_before_sentence    (a fraction 1 - cue_after of sentences)
                | cue_after_sentence     (a fraction cue_after, exactly rounded)
    cue_before_sentence := opening  BEFORE[T]  NAME[T]  tail  "."
    cue_after_sentence  := opening  NAME[T]  AFTER[T]  tail  "."
    opening    := "" | "yesterday ," | "in the news ," | "last week ," | "as expected ,"
                | "on monday ," | "according to the report ," | "according to" OTHER ","
    tail       := "" | "" | "last year" | "again" | "on monday" | "after the storm"
    NAME[T]    := AMBIGUOUS (a fraction ``ambiguous``, exactly rounded) | UNAMBIGUOUS[T]
    OTHER      := an unambiguous PER or ORG name (a second, easy entity)
    BEFORE[PER] := "we had lunch with" | "we interviewed the actor" | ...   (4 per type)
    AFTER[LOC]  := "is a city by the sea" | "has a busy harbour" | ...      (4 per type)

``opening`` and ``tail`` never depend on ``T``: the only words that do are the
cue phrase (and an unambiguous name). So in a cue-after sentence everything up
to and including an ambiguous name is the same whatever its type: a
forward-only reader cannot know the type at the name's position (a
bidirectional one can), while in a cue-before sentence a backward-only reader
cannot. ``tests/test_tagging.py`` checks this over the whole grammar.

``make_tagging`` returns :class:`TaggedSentence` records (tokens, tags and
where the name and cue are); :func:`jaxrnn.data.conll.write_conll` writes them.
Command line::

    python -m jaxrnn.data.tagging --out train.conll --n 2000 --seed 0 [--cue-after 0.5]
        [--test-out test.conll --n-test 500]

The test split is drawn from a separate random stream of the same seed (a
sentence may occur in both splits: the grammar is small). Nothing is downloaded.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np

from jaxrnn.data.conll import write_conll
from jaxrnn.errors import ConfigError

__all__ = [
    "AMBIGUOUS",
    "ENTITY_TYPES",
    "TaggedSentence",
    "main",
    "make_tagging",
    "write_conll",
]

#: Entity types of the task, in tag order.
ENTITY_TYPES = ("PER", "LOC", "ORG")

#: Single-token names used for every type.
AMBIGUOUS = (
    "Jordan", "Chelsea", "Lincoln", "Austin", "Florence", "Victoria",
    "Sydney", "Washington", "Madison", "Dallas", "Hudson", "Phoenix",
)  # fmt: skip

_UNAMBIGUOUS = {
    "PER": ["Maria Lopez", "John Smith", "Aiko Tanaka", "Olga Ivanova", "Peter Brown",
            "Fatima Khan", "Luis", "Anna Berg"],
    "LOC": ["Nairobi", "New York", "Lake Geneva", "Berlin", "Tokyo", "Buenos Aires", "Oslo",
            "Cape Town"],
    "ORG": ["Acme Corp", "Globex", "Red Cross", "Initech", "United Nations", "Umbrella Inc",
            "Stark Industries", "Hooli"],
}  # fmt: skip
_BEFORE = {
    "PER": ["we had lunch with", "we interviewed the actor", "they hired a lawyer named",
            "i called my cousin"],
    "LOC": ["we flew to", "they moved to the city of", "it snowed in", "we drove through"],
    "ORG": ["we bought shares of", "they sued the company", "she resigned from the board of",
            "he wrote to the firm"],
}  # fmt: skip
_AFTER = {
    "PER": ["smiled and waved", "said she was tired", "was born in a small village",
            "plays the violin"],
    "LOC": ["is a city by the sea", "has a busy harbour", "had heavy snow",
            "lies north of the river"],
    "ORG": ["announced record profits", "hired two hundred new staff",
            "is a company that makes phones", "cut its prices"],
}  # fmt: skip
_OPENINGS = ["", "yesterday ,", "in the news ,", "last week ,", "as expected ,", "on monday ,",
             "according to the report ,", "according to {other} ,"]  # fmt: skip
_TAILS = ["", "", "last year", "again", "on monday", "after the storm"]
_OTHER_TYPES = ("PER", "ORG")


class TaggedSentence(NamedTuple):
    """One generated sentence: ``tokens``/``tags`` (IOB2) first, then what decides the type.

    The main name covers ``tokens[name_start:name_end]`` and the cue phrase
    ``tokens[cue_start:cue_end]``; ``cue_after`` says which side the cue is on.
    """

    tokens: list[str]
    tags: list[str]
    type: str
    ambiguous: bool
    cue_after: bool
    name_start: int
    name_end: int
    cue_start: int
    cue_end: int


def _compose(
    etype: str,
    name: str,
    cue_after: bool,
    cue: int,
    opening: int,
    tail: int,
    other: str = "",
    other_type: str = "PER",
) -> TaggedSentence:
    """The sentence the grammar makes from these choices (indices into the phrase lists)."""
    tokens: list[str] = []
    tags: list[str] = []

    def add(words: str, kind: str | None = None) -> tuple[int, int]:
        start = len(tokens)
        for i, w in enumerate(words.split()):
            tokens.append(w)
            tags.append("O" if kind is None else ("B-" if i == 0 else "I-") + kind)
        return start, len(tokens)

    head = _OPENINGS[opening]
    if "{other}" in head:
        before, after = head.split("{other}")
        add(before)
        add(other, other_type)
        add(after)
    else:
        add(head)
    if cue_after:
        name_span = add(name, etype)
        cue_span = add(_AFTER[etype][cue])
    else:
        cue_span = add(_BEFORE[etype][cue])
        name_span = add(name, etype)
    add(_TAILS[tail])
    add(".")
    return TaggedSentence(
        tokens, tags, etype, name in AMBIGUOUS, cue_after, *name_span, *cue_span
    )


def _exact_flags(rng: np.random.Generator, n: int, fraction: float) -> np.ndarray:
    """``round(fraction * n)`` True values at random positions."""
    flags = np.zeros(n, bool)
    flags[: int(np.floor(fraction * n + 0.5))] = True
    return rng.permutation(flags)


def _fraction(name: str, value: object) -> float:
    ok = isinstance(value, Real) and not isinstance(value, bool)
    if not ok or not (0.0 <= float(value) <= 1.0):
        raise ConfigError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


def make_tagging(
    n: int = 2000,
    seed: int = 0,
    *,
    cue_after: float = 0.5,
    ambiguous: float = 0.5,
    split: str = "train",
) -> list[TaggedSentence]:
    """``n`` seeded sentences of the grammar in the module docstring.

    Exactly ``round(cue_after * n)`` sentences have their cue after the name
    and ``round(ambiguous * n)`` an ambiguous name, at random positions; types
    are uniform. ``split="test"`` draws from another random stream of the same
    seed. Same arguments, same sentences. Raises ``ConfigError`` for bad arguments.
    """
    for what, v, low in (("n", n, 1), ("seed", seed, 0)):
        if not isinstance(v, Integral) or isinstance(v, bool) or int(v) < low:
            raise ConfigError(f"{what} must be an integer >= {low}, got {v!r}")
    after_frac = _fraction("cue_after", cue_after)
    amb_frac = _fraction("ambiguous", ambiguous)
    if split not in ("train", "test"):
        raise ConfigError(f"split must be 'train' or 'test', got {split!r}")
    rng = np.random.default_rng([int(seed), 0 if split == "train" else 1])
    after = _exact_flags(rng, n, after_frac)
    amb = _exact_flags(rng, n, amb_frac)
    out = []
    for i in range(n):
        etype = ENTITY_TYPES[int(rng.integers(3))]
        pool = AMBIGUOUS if amb[i] else _UNAMBIGUOUS[etype]
        name = pool[int(rng.integers(len(pool)))]
        other_type = _OTHER_TYPES[int(rng.integers(2))]
        other = _UNAMBIGUOUS[other_type][int(rng.integers(len(_UNAMBIGUOUS[other_type])))]
        cue = int(rng.integers(len(_BEFORE[etype])))
        opening = int(rng.integers(len(_OPENINGS)))
        tail = int(rng.integers(len(_TAILS)))
        out.append(_compose(etype, name, bool(after[i]), cue, opening, tail, other, other_type))
    return out


# ----------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m jaxrnn.data.tagging``: ``jaxrnn.cli.make_data.tagging``
    (the command lives there; kept here for code that calls it by this name)."""
    # By name, at call time: the data layer does not import the commands (jaxrnn/cli).
    return importlib.import_module("jaxrnn.cli.make_data").tagging(argv)


if __name__ == "__main__":  # python -m jaxrnn.data.generators.entities
    sys.exit(main())
