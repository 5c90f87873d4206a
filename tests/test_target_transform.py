"""``--target-transform sqrt|log1p|none`` (``--task regress``): the map and its inverse in
float64, a run whose test metrics are in the target's own units (recomputed here by hand
from the saved weights), the checkpoint round trip through ``jaxrnn.cli.predict``, and
one-line errors for values outside the transform's domain."""

import json

import jax.numpy as jnp
import numpy as np
import pytest

from jaxrnn.cli.predict import main as predict_main
from jaxrnn.cli.train import main as train_main
from jaxrnn.data.series import (
    Series,
    apply_target_transform,
    invert_target_transform,
    load_series_csv,
    make_periodic,
    write_series_csv,
)
from jaxrnn.errors import ConfigError, DataError
from jaxrnn.runs.checkpoints import load_checkpoint
from jaxrnn.runs.task_regress import SeriesVocab


@pytest.mark.parametrize("name", ["none", "sqrt", "log1p"])
def test_transform_and_inverse_are_exact_in_float64(name):
    v = np.random.default_rng(0).gamma(0.8, 50.0, size=(40, 3))  # counts-like, with zeros
    v[0, 0] = 0.0
    z = apply_target_transform(v, name)
    expect = {"none": v, "sqrt": np.sqrt(v), "log1p": np.log(1.0 + v)}[name]
    np.testing.assert_allclose(z, expect, rtol=1e-13, atol=0)  # the map itself, computed apart
    np.testing.assert_allclose(invert_target_transform(z, name), v, rtol=1e-13, atol=1e-300)
    assert z.dtype == np.float64 and z.shape == v.shape
    assert z is not v and not np.shares_memory(z, v)  # never the caller's array, even for none


def test_inverse_of_sqrt_clips_negatives_and_domains_are_checked():
    np.testing.assert_array_equal(invert_target_transform([-2.0, -0.0, 3.0], "sqrt"),
                                  [0.0, 0.0, 9.0])  # fmt: skip
    with pytest.raises(DataError, match=r"sqrt needs values >= 0: x has 2 value\(s\).*-1 at "
                                        r"data row 2"):  # fmt: skip
        apply_target_transform([4.0, -1.0, -3.0], "sqrt", what="x")
    with pytest.raises(DataError, match="log1p needs values > -1"):
        apply_target_transform([0.0, -1.0], "log1p")
    apply_target_transform([-0.5], "log1p")  # inside log1p's domain
    with pytest.raises(ConfigError, match="unknown target transform 'cbrt'"):
        apply_target_transform([1.0], "cbrt")
    with pytest.raises(ConfigError, match="unknown target transform"):
        invert_target_transform([1.0], "exp")


def test_vocab_keeps_the_transform_and_reads_old_checkpoints():
    series = make_periodic(50, seed=1)
    from jaxrnn.data.series import Standardizer

    vocab = SeriesVocab(series.columns, "load", Standardizer.fit(series.values), "log1p")
    again = SeriesVocab.from_dict(json.loads(json.dumps(vocab.to_dict())))
    assert again.target_transform == "log1p"
    old = vocab.to_dict()
    del old["target_transform"]  # a checkpoint written before the flag
    assert SeriesVocab.from_dict(old).target_transform == "none"
    with pytest.raises(ConfigError, match="unknown target transform"):
        SeriesVocab(series.columns, "load", Standardizer.fit(series.values), "square")


@pytest.fixture(scope="module")
def sqrt_run(tmp_path_factory):
    """A float64 GRU trained 3 epochs on sqrt of a positive series: (csv, checkpoint, final)."""
    d = tmp_path_factory.mktemp("tt")
    csv = d / "counts.csv"
    s = make_periodic(160, seed=3)
    write_series_csv(csv, Series(s.values[:, :2] ** 2, ["load", "temp"], 0))  # ~100, > 0
    ckpt, js = d / "f.ckpt", d / "run.json"
    rc = train_main(["--task", "regress", "--model", "gru", "--hidden", "4", "--data", str(csv),
                     "--target", "load", "--window", "8", "--epochs", "3", "--batch-size", "16",
                     "--target-transform", "sqrt", "--dtype", "float64", "--save", str(ckpt),
                     "--json", str(js), "--quiet"])  # fmt: skip
    assert rc == 0
    return csv, ckpt, json.loads(js.read_text())["final"]


def _by_hand(csv, ckpt):
    """The saved model's forecasts of the test windows, scored here: the target's sqrt,
    standardised with the 128 training rows' statistics, forecast, mapped back, squared."""
    r = load_checkpoint(str(ckpt))
    raw = load_series_csv(csv, "load").values  # [160, 2], the target first
    z = raw.copy()
    z[:, 0] = np.sqrt(z[:, 0])
    mean, std = z[:128].mean(0), z[:128].std(0)
    test = (z[128:] - mean) / std  # the last 20%: 32 rows, 24 windows of 8
    windows = np.stack([test[i : i + 8] for i in range(24)])
    p = np.asarray(r.model.apply(r.state.params, jnp.asarray(windows)))[:, 0]
    forecast = np.maximum(p * std[0] + mean[0], 0) ** 2
    return r, raw, forecast, mean, std


def test_metrics_are_in_the_target_units(sqrt_run):
    csv, ckpt, final = sqrt_run
    r, raw, forecast, mean, std = _by_hand(csv, ckpt)
    assert r.tokenizer.target_transform == "sqrt" and r.config.target_transform == "sqrt"
    np.testing.assert_allclose(r.tokenizer.scaler.mean, mean, rtol=1e-12)
    truth = raw[136:, 0]
    # rel 1e-6: make_windows stores the standardised windows and targets in float32
    assert final["test_mse"] == pytest.approx(np.mean((forecast - truth) ** 2), rel=1e-6)
    assert final["test_mae"] == pytest.approx(np.mean(np.abs(forecast - truth)), rel=1e-6)
    # the last value, in the file's own units: the transform does not change it
    assert final["test_naive_mse"] == pytest.approx(np.mean((raw[135:-1, 0] - truth) ** 2),
                                                    rel=1e-6)  # fmt: skip


def test_checkpoint_round_trip_through_predict(sqrt_run, capsys, tmp_path):
    csv, ckpt, _ = sqrt_run
    r, raw, _, mean, std = _by_hand(csv, ckpt)
    capsys.readouterr()
    assert predict_main(["--checkpoint", str(ckpt), "--data", str(csv), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    z = raw[-8:].copy()
    z[:, 0] = np.sqrt(z[:, 0])
    p = np.asarray(r.model.apply(r.state.params, jnp.asarray(((z - mean) / std)[None])))[0]
    np.testing.assert_allclose(out["forecast"], np.maximum(p * std[0] + mean[0], 0) ** 2,
                               rtol=1e-9)  # fmt: skip
    # new data with a negative count: one line, the file named, no traceback
    bad = tmp_path / "bad.csv"
    rows = raw.copy()
    rows[-3, 0] = -4.0
    write_series_csv(bad, Series(rows, ["load", "temp"], 0))
    assert predict_main(["--checkpoint", str(ckpt), "--data", str(bad)]) != 0
    err = capsys.readouterr().err
    assert "sqrt needs values >= 0" in err and err.count("\n") == 1, err


def test_bad_values_are_one_line(tmp_path, capsys):
    csv = tmp_path / "s.csv"
    s = make_periodic(60, seed=0)
    rows = s.values.copy()
    rows[10, 0] = -2.0  # one load below both domains
    write_series_csv(csv, Series(rows, s.columns, 0))
    for extra, msg in [
        (["--target-transform", "sqrt"],
         f"sqrt needs values >= 0: {csv}'s column load has 1 value(s) that are not, the "
         "first -2 at data row 11"),
        (["--target-transform", "log1p"], "log1p needs values > -1"),
    ]:  # fmt: skip
        assert train_main(["--task", "regress", "--data", str(csv), "--target", "load",
                           *extra]) == 2  # fmt: skip
        err = capsys.readouterr().err
        assert msg in err and err.count("\n") == 1, err
    with pytest.raises(SystemExit) as e:  # argparse's choices: a usage line and its error
        train_main(["--task", "regress", "--data", str(csv), "--target", "load",
                    "--target-transform", "cube"])  # fmt: skip
    assert e.value.code == 2 and "invalid choice: 'cube'" in capsys.readouterr().err


def test_real_data_ensemble_is_what_predict_serves(tmp_path):
    """``benchmarks/real_data.py``'s ``ensemble_test_mse`` equals the MSE of the forecasts
    that the run's 2-seed predictor (``RunResult.predictor``, predict's code) gives after each
    test window's rows, read from the file in the target's units."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import real_data

    from jaxrnn.runs.config import TrainConfig
    from jaxrnn.runs.run import fit

    csv = tmp_path / "s.csv"
    s = make_periodic(60, seed=4)
    write_series_csv(csv, Series(s.values[:, :1] ** 2, ["load"], 0))
    r = fit(TrainConfig(task="regress", model="gru", hidden=3, data=str(csv), target="load",
                        window=5, epochs=2, batch_size=8, target_transform="sqrt",
                        dtype="float64"), seeds=2, note=lambda _m: None)  # fmt: skip
    got = real_data.forecast_ensemble(r)
    raw = load_series_csv(csv, "load").values  # the last 12 rows: 7 test windows of 5
    pred = r.predictor()
    f = [pred.predict(raw[48 + m : 53 + m])["forecast"][0] for m in range(7)]
    assert got["ensemble_of"] == 2
    assert got["ensemble_test_mse"] == pytest.approx(np.mean((np.array(f) - raw[53:, 0]) ** 2),
                                                     rel=1e-6)  # fmt: skip
