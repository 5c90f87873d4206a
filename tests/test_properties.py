"""Property tests: the tokenizer takes any unicode; loaders raise only DataError on any file."""

from __future__ import annotations

import json
import os
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from jaxrnn.data import KERAS_FILTERS, Tokenizer, text_to_words
from jaxrnn.data.files import load_dataset, load_table
from jaxrnn.data.generators.synthetic import write_table
from jaxrnn.errors import DataError

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Characters that have broken tokenizers: NUL, zero-width and bidi controls, BOM,
# combining marks, RTL letters, emoji sequences (ZWJ, flags, tags), lone
# surrogates, NFKC expansions, case mappings that change length, line separators.
SPECIAL = [
    "\x00", "\x1c", "\x7f", "\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u202e",
    "\u2066", "\ufeff", "\u00ad", "\u0301", "\u0308", "\u20dd", "\u05e9", "\u05b8", "\u0627",
    "\u0644", "😀", "👩\u200d👩\u200d👧", "\U0001f1fa\U0001f1f8", "\U000e0067", "\ud800",
    "\udfff", "\udc80", "\ufdfa", "\u2028", "\u2029", "\x85", "\r", "\t", " ", "\u3000",
    "ß", "İ", "ǅ", "ﬁ", "\uffff", "\U0010ffff", "a", "B", "don't", "-", ",",
]  # fmt: skip
chars = st.one_of(st.characters(), st.sampled_from(SPECIAL), st.integers(0xD800, 0xDFFF).map(chr))
texts = st.lists(chars, max_size=40).map("".join)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("props")


# ----------------------------------------------------------------------------- tokenizer


def _keras_words(text: str) -> list[str]:
    """Keras 3's ``text_to_word_sequence`` (keras/src/legacy/preprocessing/text.py), verbatim."""
    input_text = text.lower()
    translate_map = str.maketrans({c: " " for c in KERAS_FILTERS})
    return [i for i in input_text.translate(translate_map).split(" ") if i]


def _no_surrogates(text: str) -> str:
    return "".join(" " if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)


@SETTINGS
@given(texts)
def test_text_to_words_is_keras_and_words_are_valid_unicode(text):
    words = text_to_words(text)
    # Keras' rule, except that a lone surrogate separates words.
    assert words == _keras_words(_no_surrogates(text))
    for w in words:
        assert w and " " not in w and not set(w) & set(KERAS_FILTERS), (text, w)
        w.encode("utf-8")  # no lone surrogates survive: words can be saved
    assert text_to_words(text, lower=False) == [
        w
        for w in _no_surrogates(text).translate({ord(c): " " for c in KERAS_FILTERS}).split(" ")
        if w
    ]


def test_reference_is_keras_itself():
    os.environ.setdefault("KERAS_BACKEND", "jax")  # keras' default backend needs tensorflow
    text_mod = pytest.importorskip("keras.src.legacy.preprocessing.text")
    for text in ["I am NOT happy, really.", "ｇｏｏｄ…“bad” 😀\u3000x\r\ny", "a--b\tc  d", ""]:
        assert _keras_words(text) == text_mod.text_to_word_sequence(text)


def _is_separator(ch: str) -> bool:
    if ch in KERAS_FILTERS or ch.isspace():
        return True
    cat = unicodedata.category(ch)
    return ord(ch) >= 128 and (cat[0] in "PSC" or cat == "Zs")


@SETTINGS
@given(texts)
def test_unicode_mode_never_raises_and_words_are_clean(text):
    words = text_to_words(text, filter_mode="unicode")
    for w in words:
        assert w and not any(_is_separator(ch) for ch in w), (text, w)
        w.encode("utf-8")  # no lone surrogates survive: words are valid unicode
    assert text_to_words(text, lower=False, filter_mode="unicode") is not None


@SETTINGS
@given(
    st.lists(texts, max_size=8),
    st.lists(texts, max_size=8),
    st.one_of(st.none(), st.integers(1, 12)),
    st.one_of(st.none(), st.just("<oov>"), st.just("\ud800")),
    st.one_of(st.none(), st.integers(0, 6)),
    st.sampled_from(["keras", "unicode"]),
)
# num_words below 2: padding and the OOV index are emitted anyway; vocab_size must cover them.
@example(train=["a b"], test=["a z"], num_words=1, oov="<oov>", max_len=None, mode="keras")
@example(train=["a b"], test=["a z"], num_words=1, oov=None, max_len=None, mode="keras")
def test_tokenizer_fit_encode_any_unicode(train, test, num_words, oov, max_len, mode):
    tok = Tokenizer(num_words=num_words, oov_token=oov, max_len=max_len, filter_mode=mode)
    tok.fit(train)
    if not tok.word_index:
        with pytest.raises(ValueError, match="not fitted"):
            tok.encode(test)
        return
    ids, lengths = tok.encode(test)
    assert ids.dtype == np.int32 and lengths.dtype == np.int32
    assert ids.shape[0] == len(test) and lengths.shape == (len(test),)
    if max_len is not None:
        assert ids.shape[1] == max_len
    assert ((ids >= 0) & (ids < tok.vocab_size)).all()
    for row, n in zip(ids, lengths, strict=True):
        assert (row[:n] > 0).all() and (row[n:] == 0).all()
    state = json.loads(json.dumps(tok.to_dict()))
    again = Tokenizer.from_dict(state)
    assert again.word_index == tok.word_index and again.filter_mode == mode
    assert again.texts_to_sequences(test) == tok.texts_to_sequences(test)
    known = tok.known_tokens(test)
    assert all(
        0 <= k <= len(text_to_words(t, filter_mode=mode)) for k, t in zip(known, test, strict=True)
    )


@pytest.mark.parametrize("bad", ["one string", b"bytes", [None], ["ok", 3], [b"x"]])
def test_tokenizer_rejects_non_text_clearly(bad):
    with pytest.raises(TypeError, match="expected"):
        Tokenizer().fit(bad)
    tok = Tokenizer().fit(["ok"])
    with pytest.raises(TypeError, match="expected"):
        tok.texts_to_sequences(bad)
    with pytest.raises(TypeError, match="expected a str"):
        text_to_words(123)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- loaders


def _check_result(path: Path, **kwargs) -> None:
    """Load ``path``; anything but success or a one-line DataError fails the test."""
    try:
        table = load_table(path, **kwargs)
    except DataError as e:
        assert str(e) and len(str(e).splitlines()) == 1
        return
    assert len(table.texts) == len(table.labels) == len(table.lines) > 0
    assert all(t.strip() for t in table.texts)
    assert all(lab != "" for lab in table.labels)
    try:
        ds = load_dataset(path, test_fraction=0.5, **kwargs)
    except DataError as e:
        assert len(str(e).splitlines()) == 1
        return
    c = len(ds.label_names)
    assert c >= 2 and ds.test.texts
    assert all(0 <= y < c for y in ds.train.labels + ds.test.labels)
    assert sorted(ds.train.texts + ds.test.texts) == sorted(table.texts)


@SETTINGS
@given(st.binary(max_size=300), st.sampled_from(["csv", "tsv", "jsonl", "json"]))
def test_random_bytes_only_ever_dataerror(workdir, data, ext):
    p = workdir / f"bytes.{ext}"
    p.write_bytes(data)
    _check_result(p)


FRAG = st.sampled_from(
    ["text", "label", "a", "b", "joy", "1", "0", " ", '"', '""', ",", "\t", "\n", "\r\n", "\r",
     "\x00", "é", "\ufeff", "😀", "{", "}", "[", "]", ":", "null", "true", "-", "2.5"]
)  # fmt: skip
cells = st.lists(st.one_of(FRAG, texts), max_size=4).map("".join)


@st.composite
def csv_files(draw):
    sep = draw(st.sampled_from([",", "\t"]))
    header = draw(st.sampled_from([["text", "label"], ["label", "text"], ["text"], ["x", "y"]]))
    rows = draw(st.lists(st.lists(cells, min_size=1, max_size=4), max_size=6))
    lines = [sep.join(header)] + [sep.join(r) for r in rows]
    end = draw(st.sampled_from(["\n", "\r\n", "\r", ""]))
    return end.join(lines) + end, ("tsv" if sep == "\t" else "csv")


@SETTINGS
@given(csv_files())
def test_random_csv_only_ever_dataerror(workdir, case):
    body, ext = case
    p = workdir / f"random.{ext}"
    p.write_text(body, encoding="utf-8", errors="surrogatepass")
    _check_result(p)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), texts),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(texts, inner, max_size=3)),
    max_leaves=6,
)
json_objects = st.fixed_dictionaries(
    {}, optional={"text": json_values, "label": json_values, "other": json_values}
)
json_lines = st.one_of(
    json_objects.map(json.dumps),
    json_values.map(json.dumps),
    st.lists(st.one_of(FRAG, texts), max_size=6).map("".join),
)


@SETTINGS
@given(st.lists(json_lines, max_size=6))
def test_random_jsonl_only_ever_dataerror(workdir, lines):
    p = workdir / "random.jsonl"
    p.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    _check_result(p)


json_documents = st.one_of(
    st.lists(st.one_of(json_objects, json_values), max_size=5),
    st.fixed_dictionaries({}, optional={
        "train": st.lists(st.one_of(json_objects, json_values), max_size=4),
        "test": st.one_of(st.lists(json_objects, max_size=4), json_values)}),
    json_values,
)  # fmt: skip


@SETTINGS
@given(json_documents, st.sampled_from([None, 1]), st.booleans())
def test_random_json_only_ever_dataerror(workdir, doc, indent, lines):
    # A .json file: an array, an object of "train"/"test" arrays, any value, or JSON Lines.
    p = workdir / "random.json"
    if lines and isinstance(doc, list):
        body = "\n".join(json.dumps(v) for v in doc)
    else:
        body = json.dumps(doc, indent=indent)
    p.write_text(body, encoding="utf-8", errors="surrogatepass")
    _check_result(p)


VALID_SPECIAL = [c for c in SPECIAL if not any(0xD800 <= ord(x) <= 0xDFFF for x in c)]
# codec="utf-8": valid Unicode only (plain st.characters() also draws lone surrogates).
unicode_texts = st.lists(
    st.one_of(st.characters(codec="utf-8"), st.sampled_from(VALID_SPECIAL)), min_size=1
)
row_labels = st.sampled_from(["joy", "fear", " 3 ", "10"])


@settings(SETTINGS, max_examples=60)
@given(st.data(), st.sampled_from(["csv", "tsv", "jsonl", "json"]))
def test_write_then_load_round_trips_any_text(workdir, data, ext):
    # CSV/TSV take any valid unicode; JSONL/JSON also lone surrogates (written as \u escapes).
    text = (texts if ext.startswith("json") else unicode_texts.map("".join)).filter(str.strip)
    rows = data.draw(st.lists(st.tuples(text, row_labels), min_size=1, max_size=6))
    table = load_table(write_table(rows, workdir / f"round.{ext}"))
    # JSON reads an escaped surrogate pair as the one character it encodes.
    expected = [
        t.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass") for t, _ in rows
    ]
    assert table.texts == expected
    assert [str(v) for v in table.labels] == [lab.strip() for _, lab in rows]
