"""CoNLL files (jaxrnn.data.conll): reading, writing, TagVocab encoding."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jaxrnn.data.conll import OOV, TAG_PAD, Sentence, TagVocab, load_conll, write_conll
from jaxrnn.errors import DataError

CONLL2003 = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O
. . O O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER

"""


def put(tmp_path, name: str, text: str | bytes):
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return p


def test_load_conll2003_columns_docstart_and_blank_lines(tmp_path):
    s = load_conll(put(tmp_path, "a.conll", "\n\n" + CONLL2003 + "\n\n\n"))
    assert s == [
        Sentence(["EU", "rejects", "German", "call", "."], ["B-ORG", "O", "B-MISC", "O", "O"]),
        Sentence(["Peter", "Blackburn"], ["B-PER", "I-PER"]),
    ]


def test_tabs_spaces_bom_crlf_and_no_final_newline(tmp_path):
    raw = "\ufeffNew York\tB-LOC\r\nis  O\r\n\r\n-DOCSTART-\tO\r\nx\t\ty\tB-X"
    s = load_conll(put(tmp_path, "a.txt", raw))
    assert s == [Sentence(["New York", "is"], ["B-LOC", "O"]), Sentence(["x"], ["B-X"])]


@pytest.mark.parametrize(
    "raw, needle",
    [
        ("a O\nlonely\nb O\n", "line 2 has one column ('lonely')"),
        ("", "is empty; it needs one 'token tag' line per word"),
        ("\n \n", "is empty"),
        ("-DOCSTART- -X- O\n\n", "has no sentences"),
        (b"a O\ncaf\xe9 O\n", "not valid UTF-8 at line 2, column 4"),
    ],
)
def test_bad_files(tmp_path, raw, needle):
    p = put(tmp_path, "bad.conll", raw)
    with pytest.raises(DataError) as info:
        load_conll(p)
    msg = str(info.value)
    assert needle in msg and "bad.conll" in msg and "\n" not in msg


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_conll(tmp_path / "nope.conll")


def test_write_round_trip(tmp_path):
    sents = [Sentence(["Ünïcode", "New York"], ["B-PER", "B-LOC"]), (["a"], ["O"]), ([], [])]
    p = write_conll(tmp_path / "sub" / "o.conll", sents)
    assert p.read_text(encoding="utf-8") == "Ünïcode\tB-PER\nNew York\tB-LOC\n\na\tO\n\n"
    assert load_conll(p) == [Sentence(*sents[0]), Sentence(["a"], ["O"])]
    with pytest.raises(ValueError, match="tag 'B\\\\tX'"):
        write_conll(tmp_path / "x.conll", [(["a"], ["B\tX"])])
    with pytest.raises(ValueError, match="1 tokens but 2 tags"):
        write_conll(tmp_path / "x.conll", [(["a"], ["O", "O"])])
    assert not (tmp_path / "x.conll").exists()


# ----------------------------------------------------------------------------- vocab


TRAIN = [
    (["the", "Cat", "sat", "the"], ["O", "B-ANI", "O", "O"]),
    (["Paris", "the", "cat"], ["B-LOC", "O", "B-ANI"]),
    (["Jo", "Smith"], ["B-PER", "I-PER"]),
]


def test_fit_orders_words_by_count_then_first_seen_and_tags_stably():
    v = TagVocab.fit(TRAIN)
    assert v.words == ["the", "Cat", "sat", "Paris", "cat", "Jo", "Smith"]
    assert v.word_index["the"] == 2 and v.vocab_size == 9
    assert v.tags == ["O", "B-ANI", "B-LOC", "B-PER", "I-PER"] and v.num_tags == 5
    assert TagVocab.fit(list(reversed(TRAIN))).tags == v.tags  # order does not depend on files
    assert TagVocab.fit(TRAIN, extra_tags=["I-LOC", "B-MISC", "NN"]).tags == [
        "O", "B-ANI", "B-LOC", "I-LOC", "B-MISC", "NN", "B-PER", "I-PER",
    ]


def test_lowercase_and_min_count():
    v = TagVocab.fit(TRAIN, lowercase=True, min_count=2)
    assert v.words == ["the", "cat"]
    enc = v.encode([(["THE", "Cat", "dog"], ["O", "B-ANI", "O"])])
    assert enc.ids.tolist() == [[2, 3, OOV]]
    with pytest.raises(ValueError, match="min_count"):
        TagVocab.fit(TRAIN, min_count=0)


def test_encode_padding_oov_positions_and_mask():
    v = TagVocab.fit(TRAIN)
    enc = v.encode([(["Jo", "zzz", "sat"], ["B-PER", "O", "O"]), (["cat"], ["B-ANI"])])
    assert enc.ids.dtype == np.int32 and enc.tags.dtype == np.int32
    assert enc.ids.tolist() == [[7, OOV, 4], [6, 0, 0]]  # unknown word kept in place
    o, ani, per = (v.tag_index[t] for t in ("O", "B-ANI", "B-PER"))
    assert enc.tags.tolist() == [[per, o, o], [ani, TAG_PAD, TAG_PAD]]
    assert enc.mask.tolist() == [[True] * 3, [True, False, False]]
    assert enc.lengths.tolist() == [3, 1]
    assert v.decode_tags(enc.tags, enc.lengths) == [["B-PER", "O", "O"], ["B-ANI"]]


def test_encode_max_len_untagged_and_unknown_tag():
    v = TagVocab.fit(TRAIN)
    enc = v.encode([(["the", "cat", "sat"], None), ([], None)], max_len=2)
    assert enc.ids.shape == (2, 2) and enc.lengths.tolist() == [2, 0]
    assert (enc.tags == TAG_PAD).all() and enc.mask.tolist() == [[True, True], [False, False]]
    assert v.encode([], max_len=None).ids.shape == (0, 1)
    with pytest.raises(DataError, match="tags not in the training tags: 'B-ORG'"):
        v.encode([(["a"], ["O"]), (["b"], ["B-ORG"])])
    with pytest.raises(ValueError, match="max_len"):
        v.encode(TRAIN, max_len=0)


def test_to_dict_round_trip_is_json():
    v = TagVocab.fit(TRAIN, lowercase=True)
    w = TagVocab.from_dict(json.loads(json.dumps(v.to_dict())))
    assert w == v and w.lowercase and w.word_index == v.word_index
    assert np.array_equal(w.encode(TRAIN).ids, v.encode(TRAIN).ids)
    with pytest.raises(ValueError, match="not a tag vocabulary"):
        TagVocab.from_dict({"kind": "vocab"})
