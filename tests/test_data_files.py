"""File loaders (CSV / TSV / JSONL / JSON), the stratified split, and the synthetic emotion data."""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from jaxrnn.data import Tokenizer
from jaxrnn.data.files import (
    detect_format,
    encode_labels,
    load_dataset,
    load_table,
    stratified_split,
)
from jaxrnn.data.generators.synthetic import EMOTIONS, main, make_emotions, write_table
from jaxrnn.data.sentiment import Split, TextDataset
from jaxrnn.errors import ConfigError, DataError, UsageError


def put(tmp_path: Path, name: str, content: str | bytes) -> Path:
    p = tmp_path / name
    if isinstance(content, str):
        content = content.encode("utf-8")
    p.write_bytes(content)
    return p


def data_error(fn, *args, **kwargs) -> str:
    """Run ``fn``, expect a DataError, return its message after checking it is one line."""
    with pytest.raises(DataError) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert msg and "\n" not in msg and "\r" not in msg, repr(msg)
    assert len(msg.splitlines()) == 1
    assert isinstance(info.value, UsageError) and info.value.exit_code == 2
    return msg


GOOD_CSV = "text,label\nhappy day,pos\nsad day,neg\ngreat,pos\nawful,neg\n"


# ----------------------------------------------------------------------------- bad inputs


def test_missing_file(tmp_path):
    msg = data_error(load_table, tmp_path / "nope.csv")
    assert "no such file" in msg and "nope.csv" in msg


def test_missing_file_relative_path_names_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    msg = data_error(load_table, "nope.csv")
    assert "no such file: nope.csv" in msg and str(tmp_path) in msg


def test_path_with_a_newline_still_gives_one_line(tmp_path):
    msg = data_error(load_table, tmp_path / "bad\nname.csv")
    assert "no such file" in msg and "bad name.csv" in msg


def test_directory(tmp_path):
    d = tmp_path / "data.csv"
    d.mkdir()
    msg = data_error(load_table, d)
    assert "is a directory" in msg and str(d) in msg


@pytest.mark.parametrize("content", [b"", b"  \n\n \t\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\n"])
@pytest.mark.parametrize("name", ["d.csv", "d.tsv", "d.jsonl", "d.json"])
def test_empty_file(tmp_path, name, content):
    p = put(tmp_path, name, content)
    msg = data_error(load_table, p)
    assert "is empty" in msg and str(p) in msg


def test_header_only(tmp_path):
    p = put(tmp_path, "d.csv", "text,label\n\n")
    msg = data_error(load_table, p)
    assert "no data rows" in msg and "'text', 'label'" in msg and str(p) in msg


def test_misnamed_text_column_lists_columns_and_flag(tmp_path):
    p = put(tmp_path, "d.csv", "review,sentiment\ngood,pos\n")
    msg = data_error(load_table, p)
    assert "no text column 'text'" in msg
    assert "'review', 'sentiment'" in msg and "--text-column" in msg and str(p) in msg


def test_misnamed_label_column(tmp_path):
    p = put(tmp_path, "d.csv", "text,sentiment\ngood,pos\n")
    msg = data_error(load_table, p)
    assert "no label column 'label'" in msg and "'sentiment'" in msg and "--label-column" in msg
    # and the named columns work
    t = load_table(p, label_column="sentiment")
    assert t.texts == ["good"] and t.labels == ["pos"]


def test_column_name_case_hint(tmp_path):
    p = put(tmp_path, "d.csv", "Text,Label\ngood,pos\n")
    assert "did you mean 'Text'" in data_error(load_table, p)


def test_csv_read_as_tsv_hint(tmp_path):
    p = put(tmp_path, "d.tsv", GOOD_CSV)
    assert "is this CSV?" in data_error(load_table, p)
    p = put(tmp_path, "d.csv", GOOD_CSV.replace(",", "\t"))
    assert "is this TSV?" in data_error(load_table, p)


def test_jsonl_missing_key_everywhere_lists_keys(tmp_path):
    p = put(tmp_path, "d.jsonl", '{"sentence": "a", "label": 1}\n{"sentence": "b", "label": 0}\n')
    msg = data_error(load_table, p)
    assert "no text key 'text'" in msg and "the objects have keys: 'sentence', 'label'" in msg
    assert "--text-column" in msg


def test_jsonl_text_key_missing_on_one_line(tmp_path):
    p = put(tmp_path, "d.jsonl", '{"text": "a", "label": 1}\n\n{"txt": "b", "label": 0}\n')
    msg = data_error(load_table, p)
    assert "line 3 has no 'text' key" in msg and "'txt'" in msg


def test_not_utf8_names_line_and_offset(tmp_path):
    raw = "text,label\ngood,pos\ncaf\xe9,pos\n".encode("latin-1")
    p = put(tmp_path, "d.csv", raw)
    msg = data_error(load_table, p)
    off = raw.index(b"\xe9")
    assert "not valid UTF-8" in msg and "line 3" in msg and "column 4" in msg
    assert f"offset {off}" in msg and "0xe9" in msg and "UTF-8" in msg


def test_not_utf8_offset_counts_the_bom(tmp_path):
    raw = b"\xef\xbb\xbftext,label\n\xff,x\n"
    p = put(tmp_path, "d.csv", raw)
    off = raw.index(b"\xff")
    assert f"offset {off}" in data_error(load_table, p)


def test_utf16_with_and_without_bom(tmp_path):
    p = put(tmp_path, "d.csv", GOOD_CSV.encode("utf-16"))
    assert "UTF-16" in data_error(load_table, p)
    for i, text in enumerate([GOOD_CSV, "text,label\ncafé ☕,x\n"]):
        p = put(tmp_path, f"e{i}.csv", text.encode("utf-16-le"))
        assert "UTF-16 without a BOM" in data_error(load_table, p)


@pytest.mark.parametrize(
    "line, needle",
    [
        ('{"text": "a", "label": 1', "line 2 is not valid JSON"),
        ("{'text': 'a'}", "line 2 is not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "line 2 cannot be read as JSON"),
        ('{"text": "a", "label": ' + "1" * 5000 + "}", "line 2 cannot be read as JSON"),
    ],
)
def test_malformed_json_line(tmp_path, line, needle):
    p = put(tmp_path, "d.jsonl", '{"text": "ok", "label": 0}\n' + line + "\n")
    msg = data_error(load_table, p)
    assert needle in msg and str(p) in msg


def test_pretty_printed_json_hint(tmp_path):
    p = put(tmp_path, "d.jsonl", '{\n  "text": "a",\n  "label": 1\n}\n')
    msg = data_error(load_table, p)
    assert "line 1 is not valid JSON" in msg and "pretty-printed" in msg


@pytest.mark.parametrize(
    "line, kind", [("[1, 2]", "array"), ('"text"', "string"), ("3", "number"), ("null", "null")]
)
def test_json_line_not_an_object(tmp_path, line, kind):
    p = put(tmp_path, "d.jsonl", '{"text": "ok", "label": 0}\n\n' + line + "\n")
    msg = data_error(load_table, p)
    assert f"line 3 is a JSON {kind}, not an object" in msg


def test_json_text_not_a_string(tmp_path):
    p = put(tmp_path, "d.jsonl", '{"text": 5, "label": 0}\n')
    assert "line 1: 'text' is a JSON number, not a string" in data_error(load_table, p)


@pytest.mark.parametrize("label", ["0.5", "[1]", '{"a": 1}', "NaN"])
def test_json_label_of_wrong_type(tmp_path, label):
    p = put(tmp_path, "d.jsonl", '{"text": "a", "label": ' + label + "}\n")
    assert "labels must be strings or integers" in data_error(load_table, p)


def test_empty_texts_are_an_error_with_count_and_first_line(tmp_path):
    p = put(tmp_path, "d.csv", 'text,label\ngood,pos\n"  ",neg\nok,pos\n,neg\n')
    msg = data_error(load_table, p)
    assert "2 rows of 4 with an empty text" in msg and "first at line 3" in msg


def test_empty_texts_jsonl_null_and_blank(tmp_path):
    p = put(tmp_path, "d.jsonl", '{"text": "a", "label": 1}\n{"text": null, "label": 1}\n')
    assert "1 row of 2 with an empty text" in data_error(load_table, p)


def test_missing_labels(tmp_path):
    p = put(tmp_path, "d.csv", "text,label\ngood,pos\nbad, \nok,pos\n")
    msg = data_error(load_table, p)
    assert "1 row of 3 with no label" in msg and "first at line 3" in msg
    p = put(
        tmp_path,
        "d.jsonl",
        '{"text": "a", "label": 1}\n{"text": "b"}\n{"text": "c", "label": null}\n',
    )
    msg = data_error(load_table, p)
    assert "2 rows of 3 with no label" in msg and "first at line 2" in msg


def test_unseen_test_labels_are_named(tmp_path):
    tr = put(tmp_path, "tr.csv", GOOD_CSV)
    te = put(tmp_path, "te.csv", "text,label\nx,pos\ny,meh\nz,meh\nw,wow\n")
    msg = data_error(load_dataset, tr, te)
    assert "never seen in training" in msg and str(te) in msg
    assert "'meh' (2 rows, first at line 3)" in msg and "'wow' (1 row, first at line 5)" in msg
    assert "'neg', 'pos'" in msg


def test_unseen_integer_test_labels(tmp_path):
    tr = put(tmp_path, "tr.csv", "text,label\na,0\nb,1\n")
    te = put(tmp_path, "te.csv", "text,label\nc,0\nd,2\n")
    assert "'2' (1 row, first at line 3)" in data_error(load_dataset, tr, te)


def test_single_class(tmp_path):
    p = put(tmp_path, "d.csv", "text,label\na,joy\nb,joy\nc, joy\n")
    msg = data_error(load_dataset, p)
    assert "every training row has the label 'joy'" in msg and "at least 2 classes" in msg


@pytest.mark.parametrize(
    "frac", [0, 0.0, 1, 1.0, -0.1, 1.5, float("nan"), float("inf"), True, "0.2"]
)
def test_test_fraction_outside_open_interval(tmp_path, frac):
    # checked before the file is read: the missing file is not the error
    msg = data_error(load_dataset, tmp_path / "missing.csv", test_fraction=frac)
    assert "test_fraction must be strictly between 0 and 1" in msg and repr(frac) in msg


def test_test_fraction_is_ignored_with_a_test_file(tmp_path):
    tr = put(tmp_path, "tr.csv", GOOD_CSV)
    te = put(tmp_path, "te.csv", "text,label\nx,pos\n")
    ds = load_dataset(tr, te, test_fraction=5.0)
    assert ds.test.texts == ["x"] and len(ds.train.texts) == 4


@pytest.mark.parametrize("seed", [-1, 1.5, None])
def test_bad_seed(tmp_path, seed):
    assert "seed must be a non-negative integer" in data_error(
        load_dataset, put(tmp_path, "d.csv", GOOD_CSV), seed=seed
    )


def test_too_few_rows_to_split(tmp_path):
    p = put(tmp_path, "d.csv", "text,label\na,x\nb,y\n")
    msg = data_error(load_dataset, p)
    assert "too few rows to split" in msg and "2 rows" in msg and "test file" in msg


def test_unknown_extension_and_format(tmp_path):
    p = put(tmp_path, "d.txt", GOOD_CSV)
    msg = data_error(load_table, p)
    assert "'.txt'" in msg and "--format" in msg
    assert "no extension" in data_error(load_table, put(tmp_path, "data", GOOD_CSV))
    assert "unknown data format 'xml'" in data_error(load_table, p, fmt="xml")
    assert load_table(p, fmt="csv").texts[0] == "happy day"


@pytest.mark.parametrize(
    "body, needles",
    [
        ('a,pos\n"never closed,neg\nc,pos\n', ["line 3", "never closed"]),
        ('a,pos\n"x"y,neg\n', ["line 3", "bad quoting"]),
        ("a,pos\nhello, world,neg\n", ["line 3 has 3 fields", "header has 2", "quote"]),
        ("a,pos\nlonely\n", ["line 3 has 1 fields"]),
    ],
)
def test_csv_structure_errors(tmp_path, body, needles):
    p = put(tmp_path, "d.csv", "text,label\n" + body)
    msg = data_error(load_table, p)
    for needle in needles:
        assert needle in msg


def test_a_long_field_is_read_up_to_the_limit(tmp_path, monkeypatch):
    import csv

    from jaxrnn.data import files

    # 200,000 characters: over csv's default cap (131,072), as JSONL would take it
    p = put(tmp_path, "d.csv", 'text,label\na,pos\n"' + "x " * 100_000 + '",neg\n')
    assert load_table(p).texts[1] == "x " * 100_000
    assert csv.field_size_limit() == 131_072  # the module's cap restored for others
    monkeypatch.setattr(files, "FIELD_CHARS", 150_000)
    msg = data_error(load_table, p)
    assert "line 3" in msg and "longer than 150000" in msg


def test_duplicate_column_and_same_columns(tmp_path):
    p = put(tmp_path, "d.csv", "text,label,text\na,b,c\n")
    assert "column 'text' appears 2 times" in data_error(load_table, p)
    p = put(tmp_path, "e.csv", GOOD_CSV)
    assert "both 'text'" in data_error(load_table, p, label_column="text")


def test_same_train_and_test_file(tmp_path):
    p = put(tmp_path, "d.csv", GOOD_CSV)
    assert "same file" in data_error(load_dataset, p, tmp_path / "." / "d.csv")


def test_no_traceback_from_csv_or_json(tmp_path):
    # errors are raised "from None": no chained csv/json exception in the report
    p = put(tmp_path, "d.jsonl", "{oops}\n")
    with pytest.raises(DataError) as info:
        load_table(p)
    assert info.value.__cause__ is None and info.value.__suppress_context__


# ----------------------------------------------------------------------------- good inputs


def test_csv_quotes_commas_newlines_crlf(tmp_path):
    raw = (
        'text,label\r\n"Hello, world",pos\r\n"She said ""hi""",neg\r\n'
        '"two\nlines, here",pos\r\n\r\nplain,neg\r\n'
    )
    t = load_table(put(tmp_path, "d.csv", raw))
    assert t.texts == ["Hello, world", 'She said "hi"', "two\nlines, here", "plain"]
    assert t.labels == ["pos", "neg", "pos", "neg"]
    assert t.lines == [2, 3, 4, 7]  # the multi-line record starts on line 4
    assert t.columns == ["text", "label"] and t.fmt == "csv"


def test_extra_columns_and_header_whitespace(tmp_path):
    t = load_table(put(tmp_path, "d.csv", " id , text , label \n1,a b,x\n2,c,y\n"))
    assert t.texts == ["a b", "c"] and t.labels == ["x", "y"]


def test_tsv(tmp_path):
    t = load_table(put(tmp_path, "d.tsv", "label\ttext\npos\tgood, very good\nneg\tbad\n"))
    assert t.texts == ["good, very good", "bad"] and t.labels == ["pos", "neg"]
    assert detect_format("x.TAB") == "tsv"


def test_jsonl_blank_lines_unicode_and_line_separators(tmp_path):
    rows = [{"text": "a\u2028b é 😀", "label": "x"}, {"text": "c", "label": "y", "extra": [1]}]
    body = "\n\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\r\n"
    t = load_table(put(tmp_path, "d.ndjson", body))
    assert t.texts == ["a\u2028b é 😀", "c"] and t.lines == [1, 3]
    assert t.columns == ["text", "label", "extra"] and t.fmt == "jsonl"


def test_bom_is_ignored(tmp_path):
    t = load_table(put(tmp_path, "d.csv", "\ufeff" + GOOD_CSV))
    assert t.columns == ["text", "label"] and t.texts[0] == "happy day"
    t = load_table(put(tmp_path, "d.jsonl", '\ufeff{"text": "a", "label": 1}\n'))
    assert t.texts == ["a"] and t.labels == [1]


def test_string_labels_sorted(tmp_path):
    rows = "text,label\n" + "".join(f"t{i},{lab}\n" for i, lab in enumerate("cbacab"))
    ds = load_dataset(put(tmp_path, "d.csv", rows), test_fraction=0.5)
    assert ds.label_names == ["a", "b", "c"]
    pairs = set(zip(ds.train.texts + ds.test.texts, ds.train.labels + ds.test.labels, strict=True))
    assert pairs == {(f"t{i}", "abc".index(lab)) for i, lab in enumerate("cbacab")}


def test_integer_labels_keep_numeric_order(tmp_path):
    rows = "text,label\n" + "".join(f"t{i},{lab}\n" for i, lab in enumerate(["10", " 2", "-1"] * 2))
    ds = load_dataset(put(tmp_path, "d.csv", rows), test_fraction=0.5)
    assert ds.label_names == ["-1", "2", "10"]  # not string order ("-1", "10", "2")
    got = dict(zip(ds.train.texts + ds.test.texts, ds.train.labels + ds.test.labels, strict=True))
    assert got == {"t0": 2, "t1": 1, "t2": 0, "t3": 2, "t4": 1, "t5": 0}


def test_json_integer_and_boolean_labels(tmp_path):
    body = "".join(
        json.dumps({"text": f"t{i}", "label": v}) + "\n" for i, v in enumerate([1, 0, 1.0, 0])
    )
    ds = load_dataset(put(tmp_path, "d.jsonl", body), test_fraction=0.5)
    assert ds.label_names == ["0", "1"]
    body = "".join(
        json.dumps({"text": f"t{i}", "label": v}) + "\n" for i, v in enumerate([True, False] * 2)
    )
    ds = load_dataset(put(tmp_path, "e.jsonl", body), test_fraction=0.5)
    assert ds.label_names == ["false", "true"]


def test_encode_labels_rules():
    assert encode_labels(["2", "10", "2"]) == ([0, 1, 0], [], ["2", "10"])
    assert encode_labels([1, "01", "+1", 3]) == ([0, 0, 0, 1], [], ["1", "3"])
    # one non-integer label anywhere makes every label a string
    assert encode_labels(["2", "10"], ["x"]) == ([1, 0], [-1], ["10", "2"])
    assert encode_labels(["b", "a"], ["a", "z"]) == ([1, 0], [0, -1], ["a", "b"])
    assert encode_labels(["1" * 5000, "2"])[2] == ["1" * 5000, "2"]  # too long for int(): str


def test_train_and_test_files_in_different_formats(tmp_path):
    tr = put(tmp_path, "tr.csv", GOOD_CSV)
    te = put(tmp_path, "te.jsonl", '{"text": "nice", "label": "pos"}\n')
    ds = load_dataset(tr, te)
    assert ds.train == Split(["happy day", "sad day", "great", "awful"], [1, 0, 1, 0])
    assert ds.test == Split(["nice"], [1]) and ds.label_names == ["neg", "pos"]


# ----------------------------------------------------------------------------- stratified split


def expected_test_count(n: int, frac: float) -> int:
    return 0 if n < 2 else min(max(math.floor(frac * n + 0.5), 1), n - 1)


@pytest.mark.parametrize("frac", [0.01, 0.2, 0.5, 0.99])
def test_stratified_split_rule(frac):
    counts = {0: 1, 1: 2, 2: 3, 3: 10, 4: 57}
    labels = np.random.default_rng(0).permutation([c for c, n in counts.items() for _ in range(n)])
    tr, te = stratified_split(labels.tolist(), frac, seed=3)
    assert np.all(np.diff(tr) > 0) and np.all(np.diff(te) > 0)  # sorted: file order kept
    assert not set(tr) & set(te) and len(tr) + len(te) == len(labels)
    got = Counter(labels[te].tolist())
    for c, n in counts.items():
        assert got.get(c, 0) == expected_test_count(n, frac), (c, n)
        if n >= 2:
            assert got[c] >= 1 and (labels[tr] == c).sum() >= 1
    assert (labels[tr] == 0).sum() == 1  # the single-row class stays in training


def test_stratified_split_seeded():
    labels = [0, 1] * 50
    a = stratified_split(labels, 0.3, seed=7)
    b = stratified_split(labels, 0.3, seed=7)
    c = stratified_split(labels, 0.3, seed=8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[1], c[1])


def test_load_dataset_split_is_stratified_deterministic_and_ordered(tmp_path):
    lines = [f"text {i},{'abc'[i % 3]}" for i in range(60)] + ["lonely,d"]
    p = put(tmp_path, "d.csv", "text,label\n" + "\n".join(lines) + "\n")
    ds = load_dataset(p, test_fraction=0.25, seed=1)
    assert ds.label_names == ["a", "b", "c", "d"]
    assert Counter(ds.test.labels) == {0: 5, 1: 5, 2: 5}
    assert Counter(ds.train.labels) == {0: 15, 1: 15, 2: 15, 3: 1}
    for split in ds[:2]:
        nums = [int(t.split()[1]) if t != "lonely" else 60 for t in split.texts]
        assert nums == sorted(nums)
    assert load_dataset(p, test_fraction=0.25, seed=1) == ds
    assert load_dataset(p, test_fraction=0.25, seed=2).test != ds.test


# ----------------------------------------------------------------------------- synthetic data


def test_make_emotions_balanced_distinct_and_deterministic():
    ds = make_emotions(n_per_class=30, seed=5)
    assert isinstance(ds, TextDataset)
    assert ds.label_names == sorted(EMOTIONS)
    assert Counter(ds.train.labels) == {c: 24 for c in range(6)}
    assert Counter(ds.test.labels) == {c: 6 for c in range(6)}
    texts = ds.train.texts + ds.test.texts
    assert len(set(texts)) == len(texts) == 180
    assert all(t.strip() and t == t.strip() for t in texts)
    assert make_emotions(n_per_class=30, seed=5) == ds
    assert make_emotions(n_per_class=30, seed=6).train.texts != ds.train.texts


def test_make_emotions_each_sentence_has_a_cue_of_its_class():
    from jaxrnn.data.generators.synthetic import _ADJECTIVES, _PHRASES

    ds = make_emotions(n_per_class=100, seed=0)
    opposite = {"joy": "sadness", "sadness": "joy"}
    flips = 0
    for text, y in zip(ds.train.texts, ds.train.labels, strict=True):
        cls = ds.label_names[y]
        words = set(Tokenizer().fit([text]).word_index)
        if words & set(_ADJECTIVES[cls]) or any(ph in text for ph in _PHRASES[cls]):
            continue
        # else a negated cue of the opposite class: "not happy at all" is sadness
        assert cls in opposite and words & set(_ADJECTIVES[opposite[cls]]), text
        assert ("not" if cls == "sadness" else "longer") in words, text
        flips += 1
    assert 0 < flips < 0.1 * len(ds.train.texts)


def test_make_emotions_classes_and_noise():
    ds = make_emotions(n_per_class=10, seed=1, classes=["sadness", "joy"])
    assert ds.label_names == ["joy", "sadness"]
    clean = make_emotions(n_per_class=200, seed=2)
    noisy = make_emotions(n_per_class=200, seed=2, noise=0.3)
    assert noisy.train.texts == clean.train.texts and noisy.test == clean.test
    flipped = [a != b for a, b in zip(clean.train.labels, noisy.train.labels, strict=True)]
    assert 0.25 < np.mean(flipped) < 0.35


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"classes": ["joy", "rage"]}, "unknown emotion class"),
        ({"classes": ["joy"]}, "at least 2 classes"),
        ({"classes": ["joy", "joy"]}, "repeat"),
        ({"n_per_class": 1}, "n_per_class must be an integer >= 2"),
        ({"noise": 1.0}, "noise must be in [0, 1)"),
        ({"seed": -3}, "seed must be"),
        ({"test_fraction": 0.0}, "test_fraction"),
    ],
)
def test_make_emotions_bad_arguments(kwargs, needle):
    with pytest.raises(ConfigError) as info:
        make_emotions(**kwargs)
    assert needle in str(info.value)


def test_synthetic_is_learnable_but_not_by_bag_of_words():
    """Naive Bayes on word counts gets most but clearly not all: word order matters."""
    ds = make_emotions(n_per_class=300, seed=1)
    tok = Tokenizer().fit(ds.train.texts)

    def bow(texts):
        x = np.zeros((len(texts), tok.vocab_size))
        for i, seq in enumerate(tok.texts_to_sequences(texts)):
            np.add.at(x[i], seq, 1)
        return x

    ytr = np.array(ds.train.labels)
    counts = np.stack([bow(ds.train.texts)[ytr == c].sum(0) + 1 for c in range(6)])
    logp = np.log(counts / counts.sum(1, keepdims=True))
    acc = np.mean((bow(ds.test.texts) @ logp.T).argmax(1) == ds.test.labels)
    assert 0.6 < acc < 0.9, acc  # 0.79 at this seed; a GRU reaches 0.99


@pytest.mark.parametrize("ext", ["csv", "tsv", "jsonl", "json"])
def test_write_table_round_trip(tmp_path, ext):
    ds = make_emotions(n_per_class=12, seed=4, classes=["fear", "love", "anger"])
    tr = write_table(ds.train, tmp_path / f"train.{ext}", label_names=ds.label_names)
    te = write_table(ds.test, tmp_path / f"test.{ext}", label_names=ds.label_names)
    assert load_dataset(tr, te) == ds
    whole = write_table(ds, tmp_path / f"all.{ext}")
    again = load_dataset(whole, test_fraction=0.2, seed=4)
    assert sorted(again.train.texts + again.test.texts) == sorted(ds.train.texts + ds.test.texts)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("ext", ["csv", "tsv", "jsonl", "json"])
def test_write_table_awkward_texts_round_trip(tmp_path, ext):
    texts = [
        'a, "b"',
        "tab\there",
        "cr\ronly",
        "crlf\r\nand\nlf",
        ' "lead',
        "\ufeffbom",
        "é😀\u2028x",
    ]
    rows = [(t, i % 2) for i, t in enumerate(texts)]
    t = load_table(write_table(rows, tmp_path / f"d.{ext}"))
    assert t.texts == texts
    assert [str(v) for v in t.labels] == [str(i % 2) for i in range(len(texts))]


def test_write_table_lone_surrogate(tmp_path):
    rows = [("ok", "a"), ("bad \ud800", "b")]
    for name in ("d.jsonl", "d.json"):
        t = load_table(write_table(rows, tmp_path / name))
        assert t.texts == ["ok", "bad \ud800"]
    target = put(tmp_path, "d.csv", "old contents")
    with pytest.raises(DataError, match="row 1"):
        write_table(rows, target)
    assert target.read_text() == "old contents"  # atomic: the old file survives
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv", "d.json", "d.jsonl"]


def test_write_table_bad_rows(tmp_path):
    with pytest.raises(ValueError, match="not a class index"):
        write_table(Split(["a"], [3]), tmp_path / "d.csv", label_names=["x", "y"])
    with pytest.raises(TypeError, match="text has type int"):
        write_table([(1, "x")], tmp_path / "d.csv")
    with pytest.raises(TypeError, match="not a \\(text, label\\) pair"):
        write_table(["abc"], tmp_path / "d.csv")
    assert not list(tmp_path.iterdir())


def test_write_table_keeps_permissions_of_existing_file(tmp_path):
    target = put(tmp_path, "d.csv", "x")
    os.chmod(target, 0o640)
    write_table([("a", 1)], target)
    assert (target.stat().st_mode & 0o777) == 0o640


def test_cli(tmp_path, capsys):
    out = tmp_path / "sub" / "emo.csv"
    assert main(["--out", str(out), "--n-per-class", "10", "--seed", "3"]) == 0
    assert "wrote 60 rows" in capsys.readouterr().out
    ds = load_dataset(out)
    assert ds.label_names == sorted(EMOTIONS) and len(ds.train.texts) + len(ds.test.texts) == 60
    tr, te = tmp_path / "tr.jsonl", tmp_path / "te.jsonl"
    args = ["--out", str(tr), "--test-out", str(te), "--n-per-class", "10", "--classes", "joy,fear"]
    assert main(args) == 0
    assert load_dataset(tr, te) == make_emotions(10, 0, ["joy", "fear"])
    assert main(["--out", str(tmp_path / "x.csv"), "--classes", "joy,rage"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown emotion class") and err.count("\n") == 1


# ----------------------------------------------------------------------------- .json files


ROWS = [{"text": "happy day", "label": "pos"}, {"text": "sad day", "label": "neg"},
        {"text": "great", "label": "pos"}, {"text": "awful", "label": "neg"}]  # fmt: skip


def test_json_array_of_objects_with_the_line_of_each_row(tmp_path):
    body = "[\n" + ",\n".join(json.dumps(r) for r in ROWS[:2]) + ",\n\n" + json.dumps(ROWS[2:])[1:]
    t = load_table(put(tmp_path, "d.json", body))
    assert t.texts == [r["text"] for r in ROWS] and t.labels == [r["label"] for r in ROWS]
    assert t.lines == [2, 3, 5, 5] and t.fmt == "json" and t.splits == () and t.split is None
    # the same rows as JSONL and as CSV
    assert load_dataset(put(tmp_path, "d.csv", GOOD_CSV), seed=3) == load_dataset(
        put(tmp_path, "e.json", json.dumps(ROWS, indent=2)), seed=3)


def test_json_lines_saved_as_json_is_read_as_jsonl(tmp_path):
    # Hugging Face datasets' to_json writes one object per line into a .json file.
    body = "".join(json.dumps(r) + "\n" for r in ROWS)
    t = load_table(put(tmp_path, "hf.json", body))
    assert t.texts == load_table(put(tmp_path, "hf.jsonl", body)).texts and t.lines == [1, 2, 3, 4]
    one = load_table(put(tmp_path, "one.json", json.dumps(ROWS[0])))
    assert one.texts == ["happy day"]
    msg = data_error(load_table, put(tmp_path, "bad.json", body + '{"text": "x" "label": 1}\n'))
    assert "line 5 is not valid JSON" in msg


def test_the_bundled_sentiment_json_reads_as_its_own_split():
    from jaxrnn.data.sentiment import load_sentiment

    path = Path(__file__).resolve().parents[1] / "jaxrnn" / "data" / "sentiment.json"
    ds, ref = load_dataset(path, test_fraction=0.5, seed=9), load_sentiment()
    assert ds.train == ref.train and ds.test == ref.test  # not re-split
    assert ds.label_names == ["0", "1"]
    assert any('own "test" array is the test set' in n for n in ds.notes)
    te = load_table(path, split="test")
    assert te.splits == ("train", "test") and te.split == "test"
    assert path.read_text().splitlines()[te.lines[0] - 1].strip() == "{"
    first = path.read_text().splitlines()[te.lines[0]].strip()
    assert first == f'"text": {json.dumps(te.texts[0])},'


def test_json_of_splits_as_test_file_and_with_a_test_file(tmp_path):
    splits = put(tmp_path, "s.json", json.dumps({"train": ROWS[:2], "test": ROWS[2:]}, indent=1))
    other = put(tmp_path, "o.json", json.dumps({"train": ROWS[2:], "test": ROWS[:2]}))
    ds = load_dataset(splits, other)
    assert ds.train.texts == ["happy day", "sad day"] and ds.test.texts == ["happy day", "sad day"]
    assert ds.notes == (f'{splits}: its "test" array is not used (a test file is given)',)
    only_train = put(tmp_path, "t.json", json.dumps({"train": ROWS}))
    assert load_table(only_train).texts == [r["text"] for r in ROWS]
    msg = data_error(load_table, only_train, split="test")
    assert 'has no "test" array' in msg and "'train'" in msg
    # the last of a repeated member is the one read, and its rows' lines are its own
    dup = put(tmp_path, "dup.json", '{"train": [{"text": "a", "label": 1}],\n "meta": '
              '{"train": []},\n "test": [],\n "train": [\n\n{"text": "q", "label": 1}]}')
    t = load_table(dup)
    assert t.texts == ["q"] and t.lines == [6]
    assert "its \"test\" array holds no rows" in data_error(load_table, dup, split="test")


@pytest.mark.parametrize(
    "body, needles",
    [
        ('[{"text": "a", "label": 1},\n {"text": "b" "label": 2}]',
         ["not valid JSON (Expecting ',' delimiter at line 2, column 15)", "array of objects"]),
        ("3", ["holds a JSON number"]),
        ('"text"', ["holds a JSON string"]),
        ("[]", ["the array holds no rows"]),
        ('[{"text": "a", "label": 1},\n "b"]',
         ["the row at line 2 is a JSON string, not an object"]),
        ('[{"text": "a", "label": 1},\n {"txt": "b", "label": 2}]',
         ["the row at line 2 has no 'text' key", "give every row a text"]),
        ('[{"txt": "a", "label": 1}]',
         ["no text key 'text'", "the objects have keys", "--text-column"]),
        ('[{"text": "a", "label": 1}]\n[]', ["not valid JSON (Extra data at line 2"]),
        ("[" * 100_000, ["cannot be read as JSON"]),
    ],
)  # fmt: skip
def test_json_file_errors(tmp_path, body, needles):
    msg = data_error(load_table, put(tmp_path, "bad.json", body))
    for needle in needles:
        assert needle in msg, (needle, msg)


def test_json_skip_bad_rows_and_format_flag(tmp_path):
    body = ('[{"text": "a", "label": 1},\n 7,\n {"text": 5, "label": 1},\n'
            ' {"text": "b", "label": 0}]')
    t = load_table(put(tmp_path, "d.json", body), skip_bad_rows=True)
    assert t.texts == ["a", "b"]
    assert [(ln, why) for ln, why, _ in t.skipped] == [(2, "not a JSON object"),
                                                      (3, "text is not a string")]  # fmt: skip
    assert detect_format("d.txt", "json") == "json" and detect_format("D.JSON") == "json"
    as_txt = load_table(put(tmp_path, "d.txt", body), fmt="json", skip_bad_rows=True)
    assert as_txt.texts == ["a", "b"]
