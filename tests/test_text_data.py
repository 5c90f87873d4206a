"""Language-model text (jaxrnn.data.text): loading, vocabularies, splits, stream batches."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jaxrnn.data.text import (
    EOS,
    TextVocab,
    load_text,
    main,
    make_text,
    split_text,
    stream_batches,
    tokenize,
)
from jaxrnn.errors import ConfigError, DataError


def test_load_text(tmp_path):
    p = tmp_path / "t.txt"
    p.write_bytes("\ufeffab\r\nc\rd\n".encode())
    assert load_text(p) == "ab\nc\nd\n"
    p.write_bytes(b"")
    with pytest.raises(DataError, match="t.txt is empty; it needs some text"):
        load_text(p)
    p.write_bytes(b"ok\n\xff")
    with pytest.raises(DataError, match="not valid UTF-8 at line 2, column 1"):
        load_text(p)


def test_char_vocab_sorted_by_code_point_and_round_trip():
    v = TextVocab.fit("hello, world\n")
    assert v.tokens == sorted(set("hello, world\n")) and v.size == 10
    assert v.tokens[0] == "\n" and TextVocab.fit("dlrow ,olleh\n") == v  # order-independent
    ids = v.encode("hold\n")
    assert ids.dtype == np.int32 and v.decode(ids) == "hold\n"
    w = TextVocab.from_dict(json.loads(json.dumps(v.to_dict())))
    assert w == v and w.level == "char"
    with pytest.raises(ValueError, match="not a text vocabulary"):
        TextVocab.from_dict({"kind": "x"})


def test_unknown_characters_are_named_in_one_line():
    v = TextVocab.fit("abc")
    with pytest.raises(DataError) as info:
        v.encode("abXcé\nX")
    msg = str(info.value)
    assert "characters not in the vocabulary: 'X', 'é', '\\n' (first at token 2)" in msg
    assert "\n" not in msg and "knows 3 characters" in msg


def test_word_level():
    text = "The fox's den, here.\n\nAgain!\n"
    assert tokenize(text, "word") == ["The", "fox's", "den", ",", "here", ".", EOS, EOS,
                                      "Again", "!", EOS]  # fmt: skip
    v = TextVocab.fit(text, "word")
    assert v.tokens == sorted(set(tokenize(text, "word")))
    assert v.decode(v.encode("Again , here .\nden")) == "Again , here .\nden"
    assert tokenize("den\n", "word") == ["den", EOS] and tokenize("", "word") == []
    with pytest.raises(DataError, match="words not in the vocabulary: 'cat'"):
        v.encode("The cat")
    with pytest.raises(ConfigError, match="level"):
        TextVocab.fit(text, "byte")


def test_split_text_last_fraction_is_test():
    ids = np.arange(100)
    sp = split_text(ids, 0.25)
    assert sp.train.tolist() == list(range(75)) and sp.test.tolist() == list(range(75, 100))
    assert len(split_text(np.arange(3), 0.01).test) == 1
    with pytest.raises(ConfigError):
        split_text(ids, 0.0)


def test_stream_batches_layout_and_continuity():
    ids = np.arange(103)  # B=4 -> 25 per stream (3 dropped); T=6 -> K=(25-1)//6=4
    sb = stream_batches(ids, batch_size=4, seq_len=6)
    assert sb.inputs.shape == sb.targets.shape == (4, 4, 6) and sb.inputs.dtype == np.int32
    streams = ids[:100].reshape(4, 25)
    for k in range(4):
        for b in range(4):
            assert sb.inputs[k, b].tolist() == streams[b, 6 * k : 6 * k + 6].tolist()
            assert sb.targets[k, b].tolist() == (sb.inputs[k, b] + 1).tolist()
    # chunk k+1 of a row continues chunk k of that row: state can be carried
    assert (sb.inputs[1:, :, 0] == sb.targets[:-1, :, -1]).all()
    assert sb.inputs[0, 1, 0] == 25  # row b starts at b * (N // B)
    with pytest.raises(DataError, match="10 tokens give 2 per stream for batch_size 4"):
        stream_batches(np.arange(10), 4, 2)
    assert stream_batches(np.arange(12), 4, 2).inputs.shape == (1, 4, 2)
    with pytest.raises(ConfigError, match="seq_len"):
        stream_batches(ids, 2, 0)


def test_make_text_seeded_size_and_shape():
    a = make_text(0, 5000)
    assert a == make_text(0, 5000) and a != make_text(1, 5000)
    assert 5000 <= len(a) < 7000 and a.endswith("\n") and a.isascii()
    assert make_text(0, 20000).startswith(a.rstrip("\n"))  # longer text extends the same prose
    paras = a.rstrip("\n").split("\n\n")
    assert len(paras) > 5 and all(p and "\n" not in p for p in paras)
    default = make_text()
    assert 40_000 <= len(default) < 42_000
    assert TextVocab.fit(default).size < 60 and TextVocab.fit(default, "word").size < 300


def test_cli(tmp_path, capsys):
    out = tmp_path / "c.txt"
    assert main(["--out", str(out), "--n-chars", "3000", "--seed", "2"]) == 0
    assert load_text(out) == make_text(2, 3000)
    assert "wrote" in capsys.readouterr().out
    assert main(["--out", str(out), "--n-chars", "0"]) == 2
    assert capsys.readouterr().err.startswith("error: n_chars must be")
