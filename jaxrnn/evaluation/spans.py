"""Chunk (entity span) scores with the rules of CoNLL's ``conlleval`` script.

A separate module from :mod:`jaxrnn.evaluation.metrics` (which scores one class per
example); both are NumPy-free plain Python and return plain numbers.

**Tags.** ``"O"`` is outside; otherwise ``PREFIX-TYPE`` with ``PREFIX`` one of
``B``, ``I``, ``E`` (conlleval's IOE end tag) or ``S`` (a single-token chunk,
IOBES; an extension: conlleval itself has no ``S``). A bare ``B``/``I``/``E``/``S``
is a chunk of the empty type, as in conlleval. Anything else raises ``ValueError``.

**Chunk boundaries** (conlleval's ``startOfChunk`` / ``endOfChunk``, applied to
each pair of neighbouring tags; every sentence is read with an ``O`` before
its first and after its last token, so chunks never cross sentences). A chunk
starts at a tag when

* the tag is ``B`` or ``S``; or
* the previous tag is ``O`` and the tag is ``I`` or ``E``; or
* the previous tag is ``E`` (or ``S``) and the tag is ``I`` or ``E``; or
* the tag is not ``O`` and its type differs from the previous tag's type.

So IOB2 (``B`` opens every chunk) and IOB1 (``B`` only between two touching
chunks of one type, ``I`` otherwise) are read with the same rules:
``O I-PER I-PER`` is one PER chunk, ``I-PER I-LOC`` two chunks, and
``B-PER I-LOC`` two chunks. The previous chunk ends exactly where a new one
starts or the tag is ``O``. One conlleval quirk is kept: ``E-X B-X`` does not
split (conlleval lists no rule for ``B`` after ``E``; IOE files have no ``B``).

**Scores.** A predicted chunk is correct when a gold chunk has the same type,
first token and last token. ``precision = correct / predicted``,
``recall = correct / gold``, ``f1 = 2 p r / (p + r)``, each 0 when its
denominator is 0 (no gold chunks: recall and F1 are 0, no error, as conlleval).
Per type the same with that type's counts; the types listed are those in the
gold or the predicted chunks, sorted. ``accuracy`` is the fraction of tokens
whose predicted tag equals the gold tag (all tokens, ``O`` included, as
conlleval). Scores are fractions in [0, 1]; :func:`format_span_report` prints
percentages like conlleval.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import NamedTuple

__all__ = [
    "Chunk",
    "SpanReport",
    "TypeScore",
    "extract_chunks",
    "format_span_report",
    "span_report",
]

_PREFIXES = ("B", "I", "E", "S")


class Chunk(NamedTuple):
    """A chunk of ``type`` covering tokens ``start .. end - 1`` (``end`` exclusive)."""

    type: str
    start: int
    end: int


class TypeScore(NamedTuple):
    """Scores of one entity type: counts of gold, predicted and correct chunks."""

    precision: float
    recall: float
    f1: float
    gold: int
    predicted: int
    correct: int


class SpanReport(NamedTuple):
    """Overall chunk scores, token accuracy and per-type scores (see the module docstring)."""

    precision: float
    recall: float
    f1: float
    accuracy: float
    tokens: int
    gold: int
    predicted: int
    correct: int
    per_type: dict[str, TypeScore]

    def to_dict(self) -> dict:
        """JSON-able dict: the fields, with ``per_type`` as ``{type: {field: value}}``."""
        d = self._asdict()
        d["per_type"] = {k: v._asdict() for k, v in self.per_type.items()}
        return d


def _split(tag: str, where: str) -> tuple[str, str]:
    if not isinstance(tag, str):
        raise ValueError(f"{where}: tag {tag!r} is not a string")
    if tag == "O":
        return "O", ""
    prefix, _, kind = tag.partition("-")
    if prefix not in _PREFIXES:
        raise ValueError(
            f"{where}: tag {tag!r} is not O or B-/I-/E-/S-TYPE; chunk scores need BIO tags"
        )
    return prefix, kind


def _starts(prev: str, prev_type: str, tag: str, kind: str) -> bool:
    if tag == "O":
        return False
    if tag == "B" and prev == "E":
        return kind != prev_type  # conlleval: E then B of one type does not split
    if tag in ("B", "S"):
        return True
    if prev in ("O", "E", "S"):  # tag is I or E here
        return True
    return kind != prev_type


def _ends(prev: str, prev_type: str, tag: str, kind: str) -> bool:
    if prev == "O":
        return False
    if prev in ("E", "S") and tag != "B":
        return True
    if prev == "E" and tag == "B":
        return kind != prev_type  # conlleval: E then B of one type does not split
    if tag in ("O", "B", "S"):
        return True
    return kind != prev_type


def extract_chunks(tags: Sequence[str], *, where: str = "tags") -> list[Chunk]:
    """The chunks of one sentence's tags, in order (conlleval's rules, module docstring).

    ``where`` names the sequence in error messages. Raises ``ValueError`` for a
    tag that is not ``O`` or ``B-``/``I-``/``E-``/``S-TYPE``.
    """
    chunks: list[Chunk] = []
    prev, prev_type = "O", ""
    start = -1
    for i, tag in enumerate([*tags, "O"]):
        cur, kind = _split(tag, f"{where}[{i}]")
        if start >= 0 and _ends(prev, prev_type, cur, kind):
            chunks.append(Chunk(prev_type, start, i))
            start = -1
        if _starts(prev, prev_type, cur, kind):
            start = i
        prev, prev_type = cur, kind
    return chunks


def _prf(correct: int, predicted: int, gold: int) -> tuple[float, float, float]:
    p = correct / predicted if predicted else 0.0
    r = correct / gold if gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def span_report(
    gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]
) -> SpanReport:
    """Chunk precision/recall/F1 (overall and per type) and token accuracy.

    ``gold`` and ``predicted`` are lists of sentences, each a list of tag
    strings, with equal lengths sentence by sentence (e.g. from
    :meth:`jaxrnn.data.conll.TagVocab.decode_tags`). Raises ``ValueError`` for
    mismatched lengths or tags outside the BIO schemes.
    """
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted")
    n_gold: Counter[str] = Counter()
    n_pred: Counter[str] = Counter()
    n_ok: Counter[str] = Counter()
    tokens = same = 0
    for i, (g, p) in enumerate(zip(gold, predicted, strict=True)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: {len(g)} gold tags but {len(p)} predicted")
        gc = extract_chunks(g, where=f"gold sentence {i}")
        pc = extract_chunks(p, where=f"predicted sentence {i}")
        n_gold.update(c.type for c in gc)
        n_pred.update(c.type for c in pc)
        n_ok.update(c.type for c in set(gc) & set(pc))
        tokens += len(g)
        same += sum(a == b for a, b in zip(g, p, strict=True))
    per_type = {
        t: TypeScore(*_prf(n_ok[t], n_pred[t], n_gold[t]), n_gold[t], n_pred[t], n_ok[t])
        for t in sorted(set(n_gold) | set(n_pred))
    }
    tot_g, tot_p, tot_ok = sum(n_gold.values()), sum(n_pred.values()), sum(n_ok.values())
    return SpanReport(
        *_prf(tot_ok, tot_p, tot_g),
        accuracy=same / tokens if tokens else 0.0,
        tokens=tokens,
        gold=tot_g,
        predicted=tot_p,
        correct=tot_ok,
        per_type=per_type,
    )


def format_span_report(report: SpanReport) -> str:
    """A conlleval-like table for the terminal (percentages, one row per type)."""
    lines = [
        f"processed {report.tokens} tokens with {report.gold} phrases; "
        f"found: {report.predicted} phrases; correct: {report.correct}.",
        f"accuracy: {100 * report.accuracy:6.2f}%; precision: {100 * report.precision:6.2f}%; "
        f"recall: {100 * report.recall:6.2f}%; FB1: {100 * report.f1:6.2f}",
    ]
    width = max([len(t) for t in report.per_type] + [4])
    head = f"{'type':>{width}}  {'precision':>9}  {'recall':>7}  {'FB1':>6}  {'gold':>5}  found"
    if report.per_type:
        lines.append(head)
    for t, s in report.per_type.items():
        name = t if t else "(none)"
        lines.append(
            f"{name:>{width}}  {100 * s.precision:8.2f}%  {100 * s.recall:6.2f}%  "
            f"{100 * s.f1:6.2f}  {s.gold:>5}  {s.predicted:>5}"
        )
    return "\n".join(lines)
