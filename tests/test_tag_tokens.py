"""A tagger reads raw sentences as CoNLL files hold them: punctuation split off (``--tokens``:
already tokenised, whitespace only)."""

import json

import pytest

from jaxrnn.cli import predict
from jaxrnn.data.conll import split_words, write_conll
from jaxrnn.data.generators.entities import make_tagging
from jaxrnn.runs import TrainConfig, fit


@pytest.mark.parametrize("text,tokens", [
    ("Maria visited Berlin.", ["Maria", "visited", "Berlin", "."]),
    ("O'Neil's well-known café, 3.5 km at 10:30!",
     ["O'Neil's", "well-known", "café", ",", "3.5", "km", "at", "10:30", "!"]),
    ("  (Paris)  ", ["(", "Paris", ")"]),
    ("", []),
])  # fmt: skip
def test_split_words(text, tokens):
    assert split_words(text) == tokens


def test_predict_splits_punctuation_unless_tokens_is_given(tmp_path, capsys):
    tr = tmp_path / "train.conll"
    write_conll(tr, make_tagging(30, seed=0))
    ck = str(tmp_path / "t.ckpt")
    fit(TrainConfig(task="tag", model="gru", data=str(tr), epochs=1, hidden=4, embed_dim=4,
                    batch_size=8), save=ck)  # fmt: skip
    assert predict.main(["--checkpoint", ck, "--json", "Maria visited Berlin."]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["tokens"] == ["Maria", "visited", "Berlin", "."] and len(row["tags"]) == 4
    assert predict.main(["--checkpoint", ck, "--json", "--tokens", "Maria visited Berlin."]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["tokens"] == ["Maria", "visited", "Berlin."] and len(row["tags"]) == 3
