"""The compositional dev split (issue 27): new combinations generated apart from the test set,
to choose on (``python -m jaxrnn.sweep --select dev``) without ever reading a test sentence."""

from __future__ import annotations

import collections
import hashlib
import json
from importlib import resources

import pytest

from jaxrnn.data import Tokenizer, load_sentiment
from jaxrnn.data.generators.compositional import (
    DEV_CONSTRUCTIONS,
    DEV_FILE_NAME,
    DEV_N,
    DEV_SEED,
    FILE_NAME,
    dev_grammar,
    dev_path,
    format_rows,
    grammar,
    load_compositional,
    main,
    make_compositional,
    make_compositional_dev,
)
from jaxrnn.errors import UsageError

VOCAB = set("i am this is was good bad happy sad not very at all and or right now earlier".split())
# sha256 of jaxrnn/data/compositional.jsonl as committed before the dev split existed: the
# test set must not move when the dev split is added or changed.
TEST_SHA256 = "70c6c20822cb173229a8a343dc4140d1b122a305e4bb7b679a2f1c13bccb6ca7"


@pytest.fixture(scope="module")
def dev():
    return load_compositional(dev_path())


@pytest.fixture(scope="module")
def test_set():
    return load_compositional()


def test_test_file_is_unchanged():
    data = resources.files("jaxrnn.data").joinpath(FILE_NAME).read_bytes()
    assert hashlib.sha256(data).hexdigest() == TEST_SHA256


def test_no_dev_sentence_is_a_test_or_bundled_sentence(dev, test_set):
    ds = load_sentiment()
    assert not set(dev.split.texts) & set(test_set.split.texts)
    assert not set(dev.split.texts) & (set(ds.train.texts) | set(ds.test.texts))
    # whatever the test seed: the dev-only constructions are outside the test grammar, and
    # the dev split's test-grammar sentences are ones the committed test set did not draw
    assert not set(dev_grammar()) & set(grammar())
    for text, c in zip(dev.split.texts, dev.constructions, strict=True):
        assert (text in dev_grammar()) == (c.split("+")[0] != "conjunction")


def test_committed_dev_file_is_the_generators_output(dev):
    text = resources.files("jaxrnn.data").joinpath(DEV_FILE_NAME).read_text("utf-8")
    assert text == format_rows(make_compositional_dev(DEV_N, DEV_SEED))
    assert dev == make_compositional_dev()


def test_dev_split_is_balanced_seeded_and_spread(dev):
    assert collections.Counter(dev.split.labels) == {0: 80, 1: 80}
    per = collections.Counter(c.split("+")[0] for c in dev.constructions)
    assert per == {"conjunction": 42, "plain_disjunction": 24, "intensified_conjunction": 24,
                   "intensified_contrast": 46, "not_at_all_conjunction": 24}  # fmt: skip
    assert set(per) == set(DEV_CONSTRUCTIONS)
    assert len(set(dev.split.texts)) == DEV_N
    assert make_compositional_dev(DEV_N, 2) != dev  # its own seed decides the draw
    assert make_compositional_dev(DEV_N, DEV_SEED) == dev
    assert DEV_SEED != 0  # not the test set's seed
    for bad in (0, 10_000, True):
        with pytest.raises(UsageError):
            make_compositional_dev(bad)


def test_dev_uses_only_known_training_words(dev):
    words = {w for t in dev.split.texts for w in t.split()}
    assert words <= VOCAB
    tok = Tokenizer(num_words=25).fit(load_sentiment().train.texts)
    assert tok.known_tokens(dev.split.texts) == [len(t.split()) for t in dev.split.texts]


@pytest.mark.parametrize(
    "text, label, construction",
    [  # labelled by hand, by the rules of the test grammar
        ("i am happy or good", 1, "plain_disjunction"),
        ("this was sad or bad earlier", 0, "plain_disjunction+earlier"),
        ("i am very good and very happy right now", 1, "intensified_conjunction+right_now"),
        ("this is very bad and very sad", 0, "intensified_conjunction"),
        ("i was very happy not sad earlier", 1, "intensified_contrast+earlier"),
        ("this is very sad not good", 0, "intensified_contrast"),
        ("i am not at all good and not at all happy", 0, "not_at_all_conjunction"),
        ("this is not at all bad and not at all sad right now", 1,
         "not_at_all_conjunction+right_now"),
    ],
)  # fmt: skip
def test_hand_checked_dev_labels(text, label, construction):
    assert dev_grammar()[text] == (label, construction)


def test_dev_rows_carry_their_rule_labels(dev):
    g = {**grammar(), **dev_grammar()}
    for text, label, c in zip(dev.split.texts, dev.split.labels, dev.constructions, strict=True):
        assert g[text] == (label, c)


def test_cli_writes_the_dev_split(tmp_path, capsys):
    out = tmp_path / "dev.jsonl"
    assert main(["--split", "dev", "--out", str(out)]) == 0
    assert out.read_text() == dev_path().read_text()
    assert "160 sentences (80 negative)" in capsys.readouterr().out
    test_out = tmp_path / "test.jsonl"
    assert main(["--out", str(test_out)]) == 0  # the default split is still the test set
    assert test_out.read_text() == format_rows(make_compositional())


def test_sweep_select_dev_chooses_the_point_with_the_best_dev_signal(tmp_path):
    from jaxrnn.cli import sweep
    from jaxrnn.data.folds import best_setting
    from jaxrnn.data.generators.synthetic import write_table

    # The dev set here is the bundled test split written as a file: its dev numbers must be
    # the test numbers the sweep computes apart (same seeds, same kept params).
    ds = load_sentiment()
    path = write_table(ds.test, tmp_path / "bundled_test.jsonl", label_names=ds.label_names)
    out = tmp_path / "sw"
    argv = ["--model", "gru", "--hidden", "4", "--lr", "0.003,0.05,0.2", "--dropout", "0",
            "--epochs", "3", "--seeds", "2", "--early-stopping", "0", "--select", "dev",
            "--dev-data", str(path), "--eval-data", "jaxrnn/data/compositional.jsonl",
            "--out", str(out), "--quiet"]  # fmt: skip
    assert sweep.main(argv) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["select"] == "dev" and res["dev_data"] == str(path)
    rows = res["rows"]
    assert len(rows) == 3
    for r in rows:
        assert r["dev_acc"]["per_seed"] == pytest.approx(r["test_acc"]["per_seed"], abs=1e-6)
        assert "eval_compositional_acc" in r and not any("bundled" in k for k in r)
    accs = [r["dev_acc"]["mean"] for r in rows]
    best = max(accs)  # the highest dev accuracy; of those tied, the lowest dev loss
    tied = [r for r in rows if r["dev_acc"]["mean"] == best]
    assert res["chosen"]["dev_acc"]["mean"] == best
    assert res["chosen"]["dev_loss"]["mean"] == min(r["dev_loss"]["mean"] for r in tied)
    if len(tied) == 1:
        assert rows.index(res["chosen"]) == best_setting(accs, higher_is_better=True)
    assert "dev loss" in (out / "results.md").read_text()


def test_select_dev_defaults_to_the_bundled_dev_split():
    from jaxrnn.cli.sweep import dev_data
    from jaxrnn.errors import ConfigError

    assert dev_data(None, "dev") == str(dev_path())
    assert dev_data(None, "val") is None
    assert dev_data("mine.csv", "val") == "mine.csv"
    with pytest.raises(ConfigError, match="needs --dev-data"):  # the bundled split is ours
        dev_data(None, "dev", own_data=True)
    assert dev_data("mine.csv", "dev", own_data=True) == "mine.csv"
