"""``benchmarks/real_data.py``: the anchors against hand values, and a ``--quick`` run writes
the JSON keys its docstring describes."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import real_data  # noqa: E402
from test_benchmarks import run_quick  # noqa: E402

from jaxrnn.data.conll import Sentence  # noqa: E402


def test_majority_tag_per_word_by_hand():
    train = [Sentence(["a", "b", "a"], ["N", "V", "N"]), Sentence(["a", "c"], ["V", "N"])]
    # a: N twice, V once -> N; b -> V; c -> N; unknown -> N (3 of 5 tags)
    test = [Sentence(["a", "b", "z", "y"], ["N", "N", "N", "V"])]
    got = real_data.majority_tag_per_word(train, test)
    assert got == {"acc": 2 / 4, "unk_acc": 1 / 2, "n_tokens": 4, "n_unk": 2}


def test_unigram_by_hand():
    assert real_data.unigram_entropy("aab") == pytest.approx(
        -(2 / 3 * math.log2(2 / 3) + 1 / 3 * math.log2(1 / 3)))
    # train "aab" + alphabet {a, b, c}: p(a) = 3/6, p(b) = 2/6, p(c) = 1/6
    bpc = real_data.unigram_bits_per_char("aab", "abc")
    assert bpc == pytest.approx((1 + math.log2(3) + math.log2(6)) / 3)


def test_series_anchors_on_a_known_ar1():
    rng = np.random.default_rng(0)
    y = np.zeros(400)
    for t in range(1, 400):
        y[t] = 0.8 * y[t - 1] + rng.normal()
    a = real_data.series_anchors(y, 300, 5, period=11)
    assert a["n_targets"] == 95
    idx = np.arange(305, 400)
    assert a["last_value_mse"] == pytest.approx(np.mean((y[idx] - y[idx - 1]) ** 2))
    assert a["seasonal_naive_mse"] == pytest.approx(np.mean((y[idx] - y[idx - 11]) ** 2))
    # the fitted AR beats the last value and is near the noise variance (1)
    assert a["ar_mse"] < a["last_value_mse"] and 0.6 < a["ar_mse"] < 1.5


def test_interval():
    r = real_data.interval95([1.0, 2.0, 3.0])
    assert r["mean"] == 2.0 and r["half"] == pytest.approx(4.302653 * 1 / math.sqrt(3), 1e-5)


def test_quick_run_writes_the_keys(tmp_path):
    d = run_quick("real_data", tmp_path, "--sets", "mnist1d,sunspots")
    assert set(d["sets"]) == {"mnist1d", "sunspots"} and "quiet" in d
    for res in d["sets"].values():
        assert {"selection", "chosen", "ours", "anchors", "pytorch"} <= set(res)
        assert {"mean", "half", "lo", "hi", "values", "wall_s"} <= set(res["ours"])
    m = d["sets"]["mnist1d"]
    assert m["anchors"]["published"]["gru"] == 0.91 and "mean" in m["pytorch"]
    assert {"ar_mse", "ar_p", "last_value_mse", "seasonal_naive_mse"} <= set(
        d["sets"]["sunspots"]["anchors"])


def test_unknown_flag_skips_a_candidate():
    cands = [dict(model="gru", no_such_flag=1)]
    chosen, rows = real_data.select("classify", cands, lambda c: 1 / 0, quick=True)
    assert chosen is None and "no_such_flag" in rows[0]["skipped"]
