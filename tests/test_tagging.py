"""The cue-before/cue-after entity-tagging generator (jaxrnn.data.generators.entities)."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from jaxrnn.data.conll import load_conll
from jaxrnn.data.generators import entities as tagging
from jaxrnn.data.generators.entities import AMBIGUOUS, ENTITY_TYPES, main, make_tagging, write_conll
from jaxrnn.errors import ConfigError
from jaxrnn.evaluation.spans import extract_chunks


def test_deterministic_and_seeded():
    a = make_tagging(300, seed=4)
    assert a == make_tagging(300, seed=4)
    assert a != make_tagging(300, seed=5)
    assert a != make_tagging(300, seed=4, split="test")


@pytest.mark.parametrize("frac", [0.0, 0.3, 0.5, 1.0])
def test_cue_placement_fraction_is_exact(frac):
    data = make_tagging(201, seed=1, cue_after=frac, ambiguous=0.4)
    assert sum(s.cue_after for s in data) == int(frac * 201 + 0.5)
    assert sum(s.ambiguous for s in data) == int(0.4 * 201 + 0.5)
    for s in data:
        assert (s.cue_start >= s.name_end) == s.cue_after
        assert (s.cue_end <= s.name_start) == (not s.cue_after)


def test_tags_are_iob2_and_mark_the_name():
    for s in make_tagging(400, seed=2):
        assert len(s.tokens) == len(s.tags) and s.tokens[-1] == "."
        chunks = extract_chunks(s.tags)
        assert (s.type, s.name_start, s.name_end) in chunks
        assert all(s.tags[c.start].startswith("B-") for c in chunks)  # IOB2
        assert " ".join(s.tokens[s.name_start : s.name_end]) in (
            AMBIGUOUS if s.ambiguous else tagging._UNAMBIGUOUS[s.type]
        )
        others = [c for c in chunks if c.start != s.name_start]
        assert all(c.type in ("PER", "ORG") and c.end <= s.name_start for c in others)


def test_ambiguous_names_take_every_type():
    data = make_tagging(2000, seed=0)
    by_name = Counter((s.tokens[s.name_start], s.type) for s in data if s.ambiguous)
    for name in AMBIGUOUS:
        counts = [by_name[name, t] for t in ENTITY_TYPES]
        assert min(counts) >= 5, (name, counts)


def test_only_the_cue_depends_on_the_type():
    """Over the whole grammar: with the cue after an ambiguous name, every token up to
    and including the name is the same for PER, LOC and ORG (a forward-only reader
    cannot know the type there); with the cue before, every token from the name on
    is. Outside the cue phrase the sentence never depends on the type."""
    n_cues = len(tagging._BEFORE["PER"])
    assert all(len(tagging._BEFORE[t]) == len(tagging._AFTER[t]) == n_cues for t in ENTITY_TYPES)
    cue_phrases = [set(tagging._BEFORE[t]) | set(tagging._AFTER[t]) for t in ENTITY_TYPES]
    assert not any(a & b for a, b in itertools.combinations(cue_phrases, 2))
    grid = itertools.product(
        [True, False], range(n_cues), range(len(tagging._OPENINGS)), range(len(tagging._TAILS))
    )
    for after, cue, opening, tail in grid:
        made = [
            tagging._compose(t, "Jordan", after, cue, opening, tail, "Globex", "ORG")
            for t in ENTITY_TYPES
        ]
        s0 = made[0]
        for s in made:
            assert s.ambiguous and s.tags[s.name_start] == "B-" + s.type
            outside = s.tokens[: s.cue_start] + s.tokens[s.cue_end :]
            assert outside == s0.tokens[: s0.cue_start] + s0.tokens[s0.cue_end :]
            if after:
                assert s.tokens[: s.name_end] == s0.tokens[: s0.name_end]
            else:
                assert s.tokens[s.name_start :] == s0.tokens[s0.name_start :]
        if after:  # the cue is what differs, and it differs for every pair of types
            cues = {" ".join(s.tokens[s.cue_start : s.cue_end]) for s in made}
            assert len(cues) == 3


def test_bad_arguments():
    for kwargs, needle in [
        ({"n": 0}, "n must be"),
        ({"seed": -1}, "seed must be"),
        ({"cue_after": 1.5}, "cue_after must be"),
        ({"ambiguous": -0.1}, "ambiguous must be"),
        ({"split": "dev"}, "split must be"),
    ]:
        with pytest.raises(ConfigError, match=needle):
            make_tagging(**kwargs)


def test_write_and_cli(tmp_path, capsys):
    data = make_tagging(50, seed=3, cue_after=0.2)
    p = write_conll(tmp_path / "t.conll", data)
    assert load_conll(p) == [(s.tokens, s.tags) for s in data]
    out, te = tmp_path / "train.conll", tmp_path / "test.conll"
    args = ["--out", str(out), "--n", "50", "--seed", "3", "--cue-after", "0.2"]
    assert main([*args, "--test-out", str(te), "--n-test", "7"]) == 0
    assert "wrote 50 sentences" in capsys.readouterr().out
    assert load_conll(out) == load_conll(p) and len(load_conll(te)) == 7
    assert main(["--out", str(out), "--cue-after", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cue_after must be") and err.count("\n") == 1
