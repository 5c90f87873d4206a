"""``benchmarks/noisy_series.py``: the noise level that sets the oracle's ceiling, checked on
a long series by simulation, and a ``--quick`` run that writes the keys its docstring names."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import noisy_series  # noqa: E402
from test_benchmarks import run_quick  # noqa: E402

from jaxrnn.data.series import make_periodic  # noqa: E402


@pytest.mark.parametrize("period", [16, 24, 30])
def test_noise_gives_the_asked_ceiling(period):
    """On 200,000 steps the noiseless signal forecasts ~2.8x better than the last value
    (MSE), at the noise level the closed form gives; 2.0 at a huge noise, as it must."""
    noise = noisy_series.load_noise(period)
    noisy = make_periodic(200_000, period, noise, 7).values[:, 0]
    clean = make_periodic(200_000, period, 0.0, 7).values[:, 0]
    c = noisy_series.ceiling_of(noisy, clean, 1000, 24)
    assert c["ratio"] == pytest.approx(noisy_series.CEILING, rel=0.02)
    assert c["oracle_mse"] == pytest.approx(1.04 * noise**2, rel=0.02)  # noise (e2 + 0.2 e1)
    loud = make_periodic(200_000, period, 100.0, 7).values[:, 0]
    assert noisy_series.ceiling_of(loud, clean, 0, 1)["ratio"] == pytest.approx(2.0, rel=0.02)


def test_quick_run_writes_the_keys(tmp_path):
    d = run_quick("noisy_series", tmp_path, "--seeds", "1")
    assert d["goal"] == 2.6 and d["quick"] and len(d["series"]) == 1
    s = d["series"][0]
    assert {"seed", "period", "noise", "n", "ceiling", "runs"} <= set(s)
    assert set(s["runs"]) == set(noisy_series.RUNS)
    for r in s["runs"].values():
        assert len(r["ratios"]) == 1 and r["met"] == (r["mean"] >= 2.6)
        assert r["ratios"][0] == pytest.approx(r["test_naive_mse"][0] / r["test_mse"][0])
        assert str(r["resolved"]["window"]) in s["ceiling"]
    assert s["runs"]["lstm_w30"]["resolved"]["window"] == 30
    assert s["runs"]["lstm_w30"]["resolved"]["model"] == "lstm"
    assert set(d["summary"]) == set(noisy_series.RUNS)
    np.testing.assert_allclose(d["summary"]["defaults"]["mean"], s["runs"]["defaults"]["mean"])


def test_regress_auto_stops_early_on_a_validation_tail_unless_turned_off():
    """``--model auto`` on a series: the LSTM with early stopping (5) on the last 20% of the
    training rows, up to 60 epochs (issue 27's choice); ``--val-fraction 0`` turns the split
    off and with it the early stopping and its epoch budget (the preset's 10 epochs then);
    flags still win."""
    from jaxrnn.runs.config import TrainConfig, resolve_config

    cfg = resolve_config(TrainConfig(task="regress", data="x.csv", target="y"))
    assert (cfg.model, cfg.val_fraction, cfg.early_stopping, cfg.epochs, cfg.lr) == (
        "lstm", 0.2, 5, 60, 1e-2)  # fmt: skip
    off = resolve_config(TrainConfig(task="regress", data="x.csv", target="y", val_fraction=0))
    assert (off.val_fraction, off.early_stopping, off.epochs) == (0, 0, 10)
    mine = resolve_config(TrainConfig(task="regress", data="x.csv", target="y", epochs=7,
                                      early_stopping=2))  # fmt: skip
    assert (mine.val_fraction, mine.early_stopping, mine.epochs) == (0.2, 2, 7)
    explicit = resolve_config(TrainConfig(task="regress", data="x.csv", target="y",
                                          model="lstm"))  # fmt: skip
    assert (explicit.val_fraction, explicit.early_stopping, explicit.epochs) == (0, 0, 10)
