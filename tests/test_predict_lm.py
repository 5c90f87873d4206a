"""``python -m jaxrnn.predict`` on a language model's checkpoint: the next token after each
text (as ``LanguageModelPredictor`` computes it), one-line errors."""

import json

import numpy as np
import pytest

from jaxrnn.cli import predict
from jaxrnn.runs import TrainConfig, fit
from jaxrnn.runs.predictor import load_predictor


@pytest.fixture(scope="module")
def lm_ckpt(tmp_path_factory):
    d = tmp_path_factory.mktemp("lm")
    text = d / "t.txt"
    text.write_text("the cat sat on the mat. the hat is on the cat.\n" * 6)
    path = str(d / "lm.ckpt")
    fit(TrainConfig(task="lm", model="gru", data=str(text), epochs=3, hidden=8, embed_dim=4,
                    batch_size=2, seq_len=16), save=path)  # fmt: skip
    return path


def test_next_token_per_text(lm_ckpt, capsys):
    assert predict.main(["--checkpoint", lm_ckpt, "--json", "--top", "3", "the c", "on th"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    lm = load_predictor(lm_ckpt)
    for row, text in zip(rows, ["the c", "on th"], strict=True):
        p = lm.next_token_proba(text)
        assert row["text"] == text and row["next"] == lm.vocab.tokens[int(np.argmax(p))]
        assert row["probability"] == pytest.approx(float(p.max()))
        assert [t for t, _ in row["top"]] == [lm.vocab.tokens[k] for k in np.argsort(-p)[:3]]
    assert predict.main(["--checkpoint", lm_ckpt, "the c"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.endswith("\tthe c") and line.startswith(repr(rows[0]["next"]))


@pytest.mark.parametrize("argv,message", [(["héllo"], "characters not in the vocabulary"),
                                          (["--top", "0", "the"], "--top must be at least 1")])
def test_one_line_errors(lm_ckpt, capsys, argv, message):
    assert predict.main(["--checkpoint", lm_ckpt, *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
