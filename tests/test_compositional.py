"""The held-out compositional test set: grammar, labelling rules, sampling, committed file."""

from __future__ import annotations

import collections
from importlib import resources

import pytest

from jaxrnn.data import Tokenizer, load_sentiment
from jaxrnn.data.files import load_dataset, load_table
from jaxrnn.data.generators.compositional import (
    CONSTRUCTIONS,
    DEFAULT_N,
    DEFAULT_SEED,
    FILE_NAME,
    format_rows,
    grammar,
    label_sentence,
    load_compositional,
    main,
    make_compositional,
    pool,
)
from jaxrnn.data.generators.synthetic import write_table
from jaxrnn.errors import UsageError

VOCAB = set("i am this is was good bad happy sad not very at all and or right now earlier".split())


@pytest.fixture(scope="module")
def committed():
    return load_compositional()


def test_grammar_reproduces_every_bundled_sentence_and_label():
    ds = load_sentiment()
    g = grammar()
    for texts, labels in (ds.train, ds.test):
        for text, label in zip(texts, labels, strict=True):
            assert g[text][0] == label, text


@pytest.mark.parametrize(
    "text, label, construction",
    [
        ("i am good and happy right now", 1, "conjunction+right_now"),
        ("i am not at all good", 0, "not_at_all"),
        ("this is not bad", 1, "negation"),  # bundled (test split): "this is not bad" -> 1
        ("i am sad and not happy", 0, "conjunction"),
        ("this was not sad and happy earlier", 1, "conjunction+earlier"),
        ("i am happy not sad right now", 1, "contrast+right_now"),
        ("this was sad not good earlier", 0, "contrast+earlier"),
        ("this is not at all sad or bad", 1, "disjunction"),
        ("i was not at all happy or good earlier", 0, "disjunction+earlier"),
        ("this is very happy right now", 1, "intensifier+right_now"),
        ("i was very sad earlier", 0, "intensifier+earlier"),
        ("this was happy earlier", 1, "base+earlier"),
        ("i am not happy right now", 0, "negation+right_now"),
    ],
)
def test_hand_checked_labels(text, label, construction):
    assert label_sentence(text) == (label, construction)


@pytest.mark.parametrize(
    "text",
    [
        "i am not good at all",  # the data only says "not at all good"
        "i am good and good",  # same adjective twice
        "i am good and sad",  # mixed values: no rule
        "i am good or happy",  # "or" only after "not at all"
        "i am good not happy",  # a contrast needs opposite values
        "i am not very good",  # "very" never meets "not"
        "i was good",  # past tense always ends with "earlier"
        "i am good earlier",
        "good and happy",  # bare frame: base, very, not only
    ],
)
def test_outside_the_grammar(text):
    with pytest.raises(ValueError, match="not a sentence"):
        label_sentence(text)


def test_pool_excludes_bundled_data_and_uses_only_training_words():
    ds = load_sentiment()
    bundled = set(ds.train.texts) | set(ds.test.texts)
    p = pool()
    assert len(grammar()) == 324 and len(p) == 246
    assert not bundled & set(p)
    assert set(grammar()) - set(p) == bundled
    words = {w for t in p for w in t.split()}
    assert words == VOCAB
    tok = Tokenizer(num_words=25).fit(ds.train.texts)
    texts = list(p)
    assert tok.known_tokens(texts) == [len(t.split()) for t in texts]


def test_make_is_balanced_deterministic_and_seeded():
    a = make_compositional(200, 0)
    assert a == make_compositional(200, 0)
    assert a != make_compositional(200, 1)
    assert collections.Counter(a.split.labels) == {0: 100, 1: 100}
    per = collections.Counter(c.split("+")[0] for c in a.constructions)
    assert per == {
        "base": 4,
        "intensifier": 8,
        "negation": 16,
        "not_at_all": 16,
        "disjunction": 22,
        "contrast": 44,
        "conjunction": 90,
    }
    assert len(set(a.split.texts)) == 200
    for text, label, c in zip(a.split.texts, a.split.labels, a.constructions, strict=True):
        assert label_sentence(text) == (label, c)
        assert a.tags(a.split.texts.index(text))[0] in CONSTRUCTIONS
    small = make_compositional(14, 3)
    assert collections.Counter(c.split("+")[0] for c in small.constructions) == dict.fromkeys(
        CONSTRUCTIONS, 2
    )
    assert make_compositional(241).split.labels.count(0) == 120
    for bad in (0, 242, -1, 2.0, True):
        with pytest.raises(UsageError):
            make_compositional(bad)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        make_compositional(10, -1)


def test_committed_file_is_the_generators_output(committed):
    text = resources.files("jaxrnn.data").joinpath(FILE_NAME).read_text("utf-8")
    assert text == format_rows(make_compositional(DEFAULT_N, DEFAULT_SEED))
    assert committed == make_compositional(DEFAULT_N, DEFAULT_SEED)
    assert committed.label_names == load_sentiment().label_names


def test_committed_file_reads_with_load_table_and_load_dataset(committed, tmp_path):
    path = resources.files("jaxrnn.data").joinpath(FILE_NAME)
    table = load_table(path, text_column="text", label_column="label")
    assert table.texts == committed.split.texts
    assert table.columns == ["text", "label", "construction"]
    # As the test file beside the bundled training data written as a table.
    sentiment = load_sentiment()
    names = sentiment.label_names
    train = write_table(sentiment.train, tmp_path / "train.jsonl", label_names=names)
    ds = load_dataset(train, path)
    assert ds.label_names == sentiment.label_names
    assert ds.test == committed.split


def test_cli_writes_jsonl_csv_and_json(tmp_path, capsys):
    out = tmp_path / "c.jsonl"
    assert main(["--out", str(out), "--seed", "2", "--n", "30"]) == 0
    assert "wrote 30 sentences (15 negative)" in capsys.readouterr().out
    again = load_compositional(out)
    assert again == make_compositional(30, 2)
    csv_out = tmp_path / "c.csv"
    assert main(["--out", str(csv_out), "--n", "30", "--seed", "2"]) == 0
    assert load_compositional(csv_out) == again
    json_out = tmp_path / "c.json"  # an array, an object a line
    assert main(["--out", str(json_out), "--n", "30", "--seed", "2"]) == 0
    assert load_compositional(json_out) == again
    assert json_out.read_text().splitlines()[0] == "["
    assert main(["--out", str(tmp_path / "x.jsonl"), "--n", "999"]) == 2
    assert "smaller n" in capsys.readouterr().err
