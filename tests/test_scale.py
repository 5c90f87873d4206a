"""Real data sizes (issue 17): --max-len auto against outliers, memory known before
compiling, length bucketing. Tiny models, one or two epochs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jaxrnn.data.synthetic import make_emotions, spread_lengths, write_table
from jaxrnn.train import cli
from jaxrnn.train.data import auto_max_len

GRU = ["--model", "gru", "--hidden", "8", "--epochs", "1"]


@pytest.fixture(scope="module")
def outlier_csv(tmp_path_factory) -> str:
    """240 + 60 texts of 5-100 words and one training row of 20,000 words."""
    ds = spread_lengths(make_emotions(50, seed=0), seed=0, outliers=1)
    path = tmp_path_factory.mktemp("scale") / "outlier.csv"
    write_table(ds, path)
    return str(path)


def test_spread_lengths_has_a_long_tail_and_the_outlier():
    ds = spread_lengths(make_emotions(200, seed=1), seed=1, outliers=2, outlier_words=500)
    n = np.array([len(t.split()) for t in ds.train.texts])
    assert sorted(n)[-2:] == [500, 500] and ds.train.labels[-2:] == [0, 1]
    body = n[:-2]
    assert body.min() >= 5 and body.max() <= 100 and 12 <= np.median(body) <= 18
    assert np.percentile(body, 99) > 3 * np.median(body)  # a tail, not a uniform spread
    again = spread_lengths(make_emotions(200, seed=1), seed=1, outliers=2, outlier_words=500)
    assert again == ds  # seeded


def test_auto_max_len_ignores_an_outlier_but_not_a_plain_longest():
    short = np.r_[np.full(980, 10), np.full(20, 30)]
    assert auto_max_len(short) == 30  # no outlier: the longest, nothing cut
    assert auto_max_len(np.r_[short, 20_000]) == 45  # 1.5 x the 99% quantile (30)
    assert auto_max_len([]) == 1 and auto_max_len([0, 0]) == 1


def test_outlier_file_trains_with_default_max_len_and_says_what_it_cut(outlier_csv, capsys):
    assert cli.main(["--data", outlier_csv, *GRU]) == 0
    cap = capsys.readouterr()
    note = [ln for ln in cap.err.splitlines() if ln.startswith("note: --max-len auto")]
    assert len(note) == 1 and "longest training text (20000 tokens)" in note[0]
    assert "1 training and 0 test text truncated" in note[0]
    assert "note: 1 text was longer than max_len" in cap.out and "(auto)" in cap.out


def test_memory_estimate_is_near_xla_and_a_run_that_cannot_fit_says_so(outlier_csv, tmp_path,
                                                                       capsys, monkeypatch):
    out = tmp_path / "r.json"
    assert cli.main(["--data", outlier_csv, *GRU, "--quiet", "--json", str(out)]) == 0
    mem = json.loads(out.read_text())["memory"]
    assert 0.5 < mem["estimate_activation_bytes"] / mem["xla_temp_bytes"] < 2
    capsys.readouterr()
    monkeypatch.setenv("JAXRNN_MEMORY_LIMIT", str(mem["estimate_bytes"] * 2))
    assert cli.main(["--data", outlier_csv, *GRU, "--quiet", "--max-len", "20000"]) == 2
    err = capsys.readouterr().err
    errors = [ln for ln in err.splitlines() if not ln.startswith("note: ")]  # padding note
    assert len(errors) == 1 and errors[0].startswith("error: this run needs about ")
    assert "lower --max-len (--max-len " in errors[0]  # the length that fits
