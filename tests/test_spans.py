"""Chunk extraction and span scores follow conlleval's rules (jaxrnn.evaluation.spans)."""

from __future__ import annotations

import json
import random

import pytest

from jaxrnn.evaluation.spans import Chunk, extract_chunks, format_span_report, span_report


def chunks(tags: str) -> list[tuple[str, int, int]]:
    return [tuple(c) for c in extract_chunks(tags.split())]


# ----------------------------------------------------------------------------- extraction


def test_iob2_basic_and_chunk_at_sentence_end():
    assert chunks("B-PER I-PER O B-LOC") == [("PER", 0, 2), ("LOC", 3, 4)]
    assert chunks("O O B-ORG I-ORG I-ORG") == [("ORG", 2, 5)]
    assert chunks("B-PER B-PER") == [("PER", 0, 1), ("PER", 1, 2)]
    assert chunks("O O") == [] and chunks("") == []


def test_i_without_b_starts_a_chunk():
    assert chunks("I-PER I-PER O") == [("PER", 0, 2)]  # at sentence start
    assert chunks("O I-LOC") == [("LOC", 1, 2)]  # after O, at sentence end
    assert chunks("B-PER O I-PER") == [("PER", 0, 1), ("PER", 2, 3)]


def test_type_switch_mid_chunk_splits():
    assert chunks("B-PER I-LOC I-LOC") == [("PER", 0, 1), ("LOC", 1, 3)]
    assert chunks("I-PER I-ORG") == [("PER", 0, 1), ("ORG", 1, 2)]
    assert chunks("B-PER B-LOC") == [("PER", 0, 1), ("LOC", 1, 2)]


def test_iob1_as_conlleval_reads_it():
    # IOB1: B- only separates two touching chunks of one type.
    assert chunks("I-PER I-PER B-PER O I-LOC") == [("PER", 0, 2), ("PER", 2, 3), ("LOC", 4, 5)]


def test_ioe_and_iobes_tags():
    assert chunks("I-PER E-PER I-PER E-PER") == [("PER", 0, 2), ("PER", 2, 4)]  # IOE
    assert chunks("E-PER E-PER") == [("PER", 0, 1), ("PER", 1, 2)]
    assert chunks("S-PER B-LOC E-LOC S-LOC O") == [("PER", 0, 1), ("LOC", 1, 3), ("LOC", 3, 4)]
    assert chunks("B-PER S-PER") == [("PER", 0, 1), ("PER", 1, 2)]
    # conlleval has no rule splitting E-X B-X, so it is one chunk (kept on purpose)
    assert chunks("E-PER B-PER") == [("PER", 0, 2)]
    assert chunks("E-PER B-LOC") == [("PER", 0, 1), ("LOC", 1, 2)]


def test_bare_prefixes_and_bad_tags():
    assert chunks("B I O B") == [("", 0, 2), ("", 3, 4)]
    with pytest.raises(ValueError, match=r"tags\[1\]: tag 'PER' is not O or B-"):
        extract_chunks(["O", "PER"])
    with pytest.raises(ValueError, match="not a string"):
        extract_chunks(["O", 3])  # type: ignore[list-item]


def test_chunks_do_not_cross_sentences():
    r = span_report([["B-PER"], ["I-PER"]], [["B-PER", ], ["I-PER"]])
    assert r.gold == 2 and r.correct == 2


# ----------------------------------------------------------------------------- scores


def test_hand_worked_scores():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "B-LOC", "I-LOC"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O", "B-LOC", "O"]]
    r = span_report(gold, pred)
    # gold: PER(0,2) LOC(3,4) | ORG(0,1) LOC(2,4); pred: PER ORG | ORG LOC(2,3)
    assert (r.gold, r.predicted, r.correct) == (4, 4, 2)
    assert r.precision == r.recall == r.f1 == 0.5
    assert r.accuracy == 6 / 8 and r.tokens == 8
    assert list(r.per_type) == ["LOC", "ORG", "PER"]
    assert r.per_type["LOC"] == (0.0, 0.0, 0.0, 2, 1, 0)
    assert r.per_type["ORG"] == pytest.approx((0.5, 1.0, 2 / 3, 1, 2, 1))
    assert r.per_type["PER"] == (1.0, 1.0, 1.0, 1, 1, 1)


def test_partial_overlap_is_wrong_and_iob1_equals_iob2_spans():
    r = span_report([["B-PER", "I-PER", "I-PER"]], [["B-PER", "I-PER", "O"]])
    assert r.correct == 0 and r.f1 == 0.0 and r.accuracy == pytest.approx(2 / 3)
    # the same spans written in IOB1 and IOB2 score 100% chunk F1 (not 100% accuracy)
    r = span_report([["B-PER", "I-PER", "O", "B-LOC"]], [["I-PER", "I-PER", "O", "I-LOC"]])
    assert r.f1 == 1.0 and r.accuracy == 0.5


def test_no_gold_chunks_gives_zero_not_a_crash():
    r = span_report([["O", "O"]], [["O", "B-PER"]])
    assert (r.precision, r.recall, r.f1, r.gold, r.predicted) == (0.0, 0.0, 0.0, 0, 1)
    r = span_report([["O"]], [["O"]])
    assert r.f1 == 0.0 and r.accuracy == 1.0 and r.per_type == {}
    # nothing predicted: precision is 0 (conlleval's), not a vacuous 1
    r = span_report([["B-PER", "O"]], [["O", "O"]])
    assert (r.precision, r.recall, r.f1, r.gold, r.predicted) == (0.0, 0.0, 0.0, 1, 0)
    assert r.per_type["PER"].precision == 0.0
    r = span_report([], [])
    assert r.f1 == 0.0 and r.accuracy == 0.0 and r.tokens == 0


def test_mismatched_inputs():
    with pytest.raises(ValueError, match="2 gold sentences but 1 predicted"):
        span_report([["O"], ["O"]], [["O"]])
    with pytest.raises(ValueError, match="sentence 0: 2 gold tags but 1 predicted"):
        span_report([["O", "O"]], [["O"]])
    with pytest.raises(ValueError, match="predicted sentence 0"):
        span_report([["O"]], [["X"]])


def test_report_dict_and_format():
    r = span_report([["B-PER", "O", "B-LOC"]], [["B-PER", "O", "O"]])
    d = json.loads(json.dumps(r.to_dict()))
    assert d["per_type"]["PER"]["f1"] == 1.0 and d["gold"] == 2
    text = format_span_report(r)
    assert "processed 3 tokens with 2 phrases; found: 1 phrases; correct: 1." in text
    assert "precision: 100.00%; recall:  50.00%; FB1:  66.67" in text
    assert text.splitlines()[-1].split()[:2] == ["PER", "100.00%"]
    # the type column is as wide as the longest type name, at least "type"
    assert text.splitlines()[2] == "type  precision   recall     FB1   gold  found"
    assert text.splitlines()[-1] == " PER    100.00%  100.00%  100.00      1      1"
    assert isinstance(extract_chunks(["B-X"])[0], Chunk)


# ----------------------------------------------------------------------------- vs conlleval


def _conlleval_counts(gold: list[list[str]], pred: list[list[str]]) -> tuple[int, int, int]:
    """conlleval.pl's streaming count, re-stated independently of jaxrnn.evaluation.spans: its
    startOfChunk/endOfChunk tag-pair rules, and a correct chunk tracked from a token
    where both sequences start a chunk of one type until both end it at the same
    token; sentence ends are boundary lines read as O. A bare tag (``B``) has the empty
    type, as conlleval's ``^([^-]*)-(.*)$`` split leaves it. ``S`` (not conlleval's) as the
    module documents the extension: a chunk of one token, so it starts one and ends the
    one before it, and whatever follows it ends it and (unless O) starts the next."""

    def split(t: str) -> tuple[str, str]:
        if t == "O":
            return "O", ""
        prefix, _, typ = t.partition("-")
        return prefix, typ

    def end(pt, t, ptype, typ):
        pairs = {("B", "B"), ("B", "O"), ("I", "B"), ("I", "O"), ("E", "E"), ("E", "I"),
                 ("E", "O")}
        s_rule = pt == "S" or (t == "S" and pt != "O")
        return (pt, t) in pairs or (pt != "O" and ptype != typ) or s_rule

    def start(pt, t, ptype, typ):
        pairs = {("B", "B"), ("I", "B"), ("O", "B"), ("O", "I"), ("E", "E"), ("E", "I"),
                 ("O", "E")}
        s_rule = t == "S" or (pt == "S" and t != "O")
        return (pt, t) in pairs or (t != "O" and ptype != typ) or s_rule

    stream_g = [t for s in gold for t in [*s, "O"]]
    stream_p = [t for s in pred for t in [*s, "O"]]
    found_g = found_p = ok = 0
    in_ok = False
    lg, lgt, lp, lpt = "O", "", "O", ""
    for tg, tp in zip(stream_g, stream_p, strict=True):
        g, gt = split(tg)
        p, pt = split(tp)
        if in_ok:
            eg, ep = end(lg, g, lgt, gt), end(lp, p, lpt, pt)
            if eg and ep and lgt == lpt:
                in_ok, ok = False, ok + 1
            elif eg != ep or gt != pt:
                in_ok = False
        sg, sp = start(lg, g, lgt, gt), start(lp, p, lpt, pt)
        if sg and sp and gt == pt:
            in_ok = True
        found_g += sg
        found_p += sp
        lg, lgt, lp, lpt = g, gt, p, pt
    return found_g, found_p, ok + in_ok


def test_matches_conlleval_counting_on_random_tags():
    rng = random.Random(0)
    tags = ["O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "E-PER", "E-LOC"]
    for _ in range(300):
        n = rng.randint(0, 4)
        lens = [rng.randint(0, 7) for _ in range(n)]
        gold = [[rng.choice(tags) for _ in range(k)] for k in lens]
        pred = [[rng.choice(tags) for _ in range(k)] for k in lens]
        r = span_report(gold, pred)
        assert (r.gold, r.predicted, r.correct) == _conlleval_counts(gold, pred), (gold, pred)


def test_matches_conlleval_counting_with_s_and_bare_tags():
    """The same count with IOBES ``S-`` tags and bare (typeless) tags mixed in."""
    rng = random.Random(1)
    tags = ["O", "O", "B-PER", "I-PER", "E-PER", "S-PER", "S-LOC", "I-LOC", "B", "I", "E", "S"]
    seen_s = 0
    for _ in range(400):
        lens = [rng.randint(0, 7) for _ in range(rng.randint(0, 4))]
        gold = [[rng.choice(tags) for _ in range(k)] for k in lens]
        pred = [[rng.choice(tags) for _ in range(k)] for k in lens]
        r = span_report(gold, pred)
        assert (r.gold, r.predicted, r.correct) == _conlleval_counts(gold, pred), (gold, pred)
        seen_s += r.correct > 0 and any(t.startswith("S") for s in gold for t in s)
    assert seen_s > 20  # correct chunks next to S tags were counted, not only misses
    # hand cases: S closes an I chunk of its own type; a bare S next to typed tags
    assert chunks("I-PER S-PER I-PER") == [("PER", 0, 1), ("PER", 1, 2), ("PER", 2, 3)]
    assert chunks("S B-X I-X S-X") == [("", 0, 1), ("X", 1, 3), ("X", 3, 4)]
    assert chunks("B I S I") == [("", 0, 2), ("", 2, 3), ("", 3, 4)]
