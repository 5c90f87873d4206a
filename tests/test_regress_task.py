"""``--task regress``: the forecaster's loss and gradients against the NumPy reference
(float64), and a short run from a CSV through a checkpoint to ``jaxrnn.cli.predict``."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrnn.cli.predict import main as predict_main
from jaxrnn.cli.train import main as train_main
from jaxrnn.data.series import load_series_csv, make_periodic, write_series_csv
from jaxrnn.errors import DataError
from jaxrnn.nn import models, sequence
from jaxrnn.runs.checkpoints import load_checkpoint
from jaxrnn.scratch import seq
from jaxrnn.training import loop, tasks

FAST = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False}


@pytest.mark.parametrize("cell,bidirectional,per_step", [("gru", True, False),
                                                         ("lstm", False, True)])  # fmt: skip
def test_regressor_loss_and_grads_equal_numpy_bptt(cell, bidirectional, per_step):
    rng = np.random.default_rng(1)
    b, t, d, h = 3, 6, 2, 2
    model = models.Regressor(sequence.RecurrentLayer(cell, 4, 1, bidirectional), d, h, per_step)
    params = jax.tree.map(lambda a: jnp.asarray(rng.normal(0, 0.5, a.shape)),
                          model.init(jax.random.key(0), jnp.float64))  # fmt: skip
    x = rng.normal(size=(b + 1, t, d))
    y = rng.normal(size=(b + 1, t, h) if per_step else (b + 1, h))
    batch = tasks.Batch(tasks.SeriesRows(x, y), jnp.array([1.0, 1.0, 1.0, 0.0]))  # 4th: padding
    task = tasks.regression()
    grad = jax.jit(jax.value_and_grad(lambda p, bt: loop.batch_loss(model, task, p, bt, (), None),
                                      has_aux=True), compiler_options=FAST)  # fmt: skip
    (loss, _), grads = grad(params, batch)
    ref_loss, ref_grads = seq.regress_loss_and_grads(jax.tree.map(np.asarray, params), x[:b],
                                                     y[:b], cell, per_step=per_step)  # fmt: skip
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-10)
    for key in ref_grads:
        jax.tree.map(lambda a, r: np.testing.assert_allclose(a, r, rtol=1e-9, atol=1e-12),
                     grads[key], ref_grads[key])  # fmt: skip
    with pytest.raises(ValueError, match="forward-only"):
        models.Regressor(sequence.RecurrentLayer(cell, 4, 1, True), d, h, per_step=True)


def test_train_save_predict(tmp_path, capsys):
    """CSV -> LSTM forecaster -> JSON final keys in the target's units -> checkpoint keeps the
    training statistics -> predict forecasts from the file's last window."""
    csv = tmp_path / "series.csv"
    write_series_csv(csv, make_periodic(300, seed=0))
    ckpt, js = tmp_path / "f.ckpt", tmp_path / "run.json"
    rc = train_main(["--task", "regress", "--model", "lstm", "--data", str(csv), "--target",
                     "load", "--window", "12", "--horizon", "2", "--epochs", "4", "--batch-size",
                     "16", "--save", str(ckpt), "--json", str(js), "--quiet"])  # fmt: skip
    assert rc == 0
    final = json.loads(js.read_text())["final"]
    # the last-value forecast, recomputed here from the file: the last 60 rows are the test
    # part, window m reads rows m..m+11 and forecasts the next 2 loads
    load = load_series_csv(csv, "load").values[:, 0][-60:]
    m = 60 - 12 - 2 + 1
    naive = np.repeat(load[11 : 11 + m, None], 2, 1)
    truth = np.stack([load[12 : 12 + m], load[13 : 13 + m]], 1)
    assert final["test_naive_mse"] == pytest.approx(np.mean((naive - truth) ** 2), rel=1e-5)
    assert final["test_mse"] < final["test_naive_mse"]  # it learned something in 4 epochs
    assert set(final) >= {"test_mse", "test_mae", "test_naive_mse", "test_mae_std"}

    r = load_checkpoint(str(ckpt))  # the statistics of the 240 training rows, kept
    rows = load_series_csv(csv, "load").values[:240]
    np.testing.assert_allclose(r.tokenizer.scaler.mean, rows.mean(0))
    np.testing.assert_allclose(r.tokenizer.scaler.std, rows.std(0))
    assert r.tokenizer.columns == ["load", "temp", "season"]
    # test_mse and test_mae: the saved model's forecasts of the m test windows, scored here
    test = (load_series_csv(csv, "load").values[-60:] - rows.mean(0)) / rows.std(0)
    windows = np.stack([test[i : i + 12] for i in range(m)])  # [m, 12, 3]
    p = np.asarray(r.model.apply(r.state.params, jnp.asarray(windows, jnp.float32)))  # [m, 2]
    forecast = p * rows[:, 0].std() + rows[:, 0].mean()
    assert final["test_mse"] == pytest.approx(np.mean((forecast - truth) ** 2), rel=1e-5)
    assert final["test_mae"] == pytest.approx(np.mean(np.abs(forecast - truth)), rel=1e-5)

    capsys.readouterr()
    assert predict_main(["--checkpoint", str(ckpt), "--data", str(csv), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    x = ((load_series_csv(csv, "load").values[-12:] - rows.mean(0)) / rows.std(0))[None]
    p = r.model.apply(r.state.params, jnp.asarray(x, jnp.float32))[0]
    expect = np.asarray(p) * rows[:, 0].std() + rows[:, 0].mean()
    np.testing.assert_allclose(out["forecast"], expect, rtol=1e-5)
    assert out["target"] == "load" and len(out["forecast"]) == 2
    # the same series with its columns in another order (and one more): read by name
    lines = [line.split(",") for line in csv.read_text().splitlines()]
    order = [3, 0, 2, 1]  # season, time, temp, load
    moved = tmp_path / "moved.csv"
    moved.write_text("\n".join(",".join([*(row[i] for i in order), "7"]) for row in lines))
    moved.write_text(moved.read_text().replace(",7", ",extra", 1) + "\n")
    assert predict_main(["--checkpoint", str(ckpt), "--data", str(moved), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["forecast"] == out["forecast"]
    from jaxrnn.errors import UsageError
    from jaxrnn.runs.predictor import load_predictor

    fc = load_predictor(str(ckpt))
    assert fc.predict(csv)["forecast"] == pytest.approx(out["forecast"])  # a Path is a path
    rows = load_series_csv(csv, "load").values[-12:].copy()
    rows[3, 1] = np.nan  # the CSV reader refuses it; an array must not forecast nan
    with pytest.raises(UsageError, match="NaN or infinite value \\(row 4\\)"):
        fc.predict(rows)


def test_numeric_columns_are_found_past_an_empty_first_cell(tmp_path):
    """A column is numeric by its first filled cell: an empty first cell is an error naming
    its line, not a column dropped without a word; values beyond float32 are refused."""
    p = tmp_path / "s.csv"
    p.write_text("time,load,temp\nmon,1,\ntue,2,5\nwed,3,6\n")
    with pytest.raises(DataError, match="line 2: column 'temp' is empty"):
        load_series_csv(p, "load")
    p.write_text("time,load,temp\n,1,4\ntue,2,5\n")  # a text column stays out
    assert load_series_csv(p, "load").columns == ["load", "temp"]
    p.write_text("load,temp\n1,4\n1e39,5\n")
    with pytest.raises(DataError, match="line 3: column 'load' has '1e39', too large"):
        load_series_csv(p, "load")


def test_report_says_nan_not_zero():
    from jaxrnn.runs.task_regress import format_report

    rep = {"windows": 3, "target": "load", "mse": float("nan"), "mae": float("nan"),
           "naive_mse": 1.0, "naive_mae": 1.0, "naive_over_model_mse": None}  # fmt: skip
    assert format_report(rep).splitlines()[-1] == "model MSE is nan"
    assert format_report({**rep, "mse": 0.0}).splitlines()[-1] == "model MSE is 0"


def test_bad_input_is_one_line(tmp_path, capsys):
    csv = tmp_path / "s.csv"
    write_series_csv(csv, make_periodic(60, seed=0))
    for args, msg in [
        ([], "needs --data FILE.csv and --target"),
        (["--data", str(csv), "--target", "nope"], "no column 'nope'"),
        (["--data", str(csv), "--target", "load", "--per-step", "--model", "bilstm"],
         "--per-step needs a forward-only model"),
        (["--data", str(csv), "--target", "load", "--window", "50"], "too few"),
    ]:  # fmt: skip
        assert train_main(["--task", "regress", *args]) == 2
        err = capsys.readouterr().err
        assert msg in err and err.count("\n") == 1, err


def test_auto_trains_without_validation_on_a_file_too_short_for_one(tmp_path, capsys):
    """``--model auto`` holds out the last 20% of the training rows for early stopping; on a
    file too short for a validation window it trains without one (the preset's 10 epochs) and
    says so, while the same split asked for by flags is still refused in one line."""
    csv, js = tmp_path / "s.csv", tmp_path / "run.json"
    write_series_csv(csv, make_periodic(150, seed=0))  # 120 training rows, 24 to validate
    args = ["--task", "regress", "--data", str(csv), "--target", "load", "--window", "24"]
    assert train_main([*args, "--json", str(js), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert ("the validation part has 24 rows, too few for --window 24 and --horizon 1: "
            "--model auto trains without a validation part (no early stopping, 10 epochs)") in err
    cfg = json.loads(js.read_text())["config"]
    assert (cfg["model"], cfg["val_fraction"], cfg["early_stopping"], cfg["epochs"]) == (
        "lstm", 0.0, 0, 10)  # fmt: skip
    assert train_main([*args, "--val-fraction", "0.2", "--early-stopping", "3"]) == 2
    err = capsys.readouterr().err
    assert "too few for --window 24" in err and "--val-fraction 0" in err
    assert err.count("\n") == 1, err


def test_regressor_vocab_size_is_a_deprecated_alias_of_input_size():
    layer = sequence.RecurrentLayer("gru", 4)
    model = models.Regressor(layer, input_size=3, horizon=2)
    with pytest.warns(DeprecationWarning, match="input_size"):
        old = models.Regressor(layer, vocab_size=3, horizon=2)
    assert old == model and hash(old) == hash(model)
    with pytest.warns(DeprecationWarning, match="input_size"):
        assert model.vocab_size == 3
    with pytest.raises(ValueError, match="disagree"), pytest.warns(DeprecationWarning):
        models.Regressor(layer, 3, vocab_size=4)
    assert models.init_params_numpy(model, 0)["rnn"][0][0].w_ih.shape == (12, 3)


@pytest.mark.parametrize("per_step", [False, True])
def test_regression_metrics_are_weighted_mse_and_mae_against_numpy(per_step):
    """``regression().stats`` and ``.loss``: the MSE and MAE over every forecast value of the
    real rows (a padding row weighs 0), per row ``[B, H]`` and per step ``[B, W, H]``; the
    metric names; predictions are the forecasts. float64."""
    rng = np.random.default_rng(3)
    shape = (4, 5, 3) if per_step else (4, 3)
    pred, y = rng.normal(size=shape), rng.normal(size=shape)
    w = np.array([1.0, 0.0, 1.0, 1.0])  # row 1: padding
    batch = tasks.Batch(tasks.SeriesRows(None, jnp.asarray(y)), jnp.asarray(w))
    task = tasks.regression()
    assert task.metric_names == ("loss", "mae")
    assert tasks.regression(standardized=True).metric_names == ("loss", "mae_std")
    sums, counts = task.stats(jnp.asarray(pred), batch)
    real = w > 0
    err = (pred - y)[real]
    rows = err.shape[0] * (shape[1] if per_step else 1)  # rows, or row-steps
    np.testing.assert_allclose(np.asarray(counts), [rows, rows])
    np.testing.assert_allclose(np.asarray(sums) / np.asarray(counts),
                               [np.mean(err**2), np.mean(np.abs(err))], rtol=1e-12)  # fmt: skip
    losses, weights = task.loss(jnp.asarray(pred), batch)
    assert losses.shape == weights.shape == shape[:-1]
    np.testing.assert_allclose(np.sum(weights * losses) / np.sum(weights), np.mean(err**2),
                               rtol=1e-12)  # fmt: skip
    np.testing.assert_array_equal(task.predict(jnp.asarray(pred)), pred)
