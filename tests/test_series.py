"""Forecasting data (jaxrnn.data.series): CSV, windows, split, scaling, baseline."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jaxrnn.data.series import (
    Series,
    Standardizer,
    chronological_split,
    forecast_errors,
    load_series_csv,
    main,
    make_periodic,
    make_windows,
    naive_forecast,
    prepare_forecast,
    write_series_csv,
)
from jaxrnn.errors import ConfigError, DataError


def put(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


CSV = "date,load,temp,city\n2024-01-01,1.5,3,a\n2024-01-02,2.5, -4e0 ,b\n2024-01-03,3,5,c\n"


def test_load_numeric_columns_skip_text_columns(tmp_path):
    s = load_series_csv(put(tmp_path, "s.csv", CSV), "load")
    assert s.columns == ["load", "temp"] and s.target_index == 0
    assert s.values.tolist() == [[1.5, 3.0], [2.5, -4.0], [3.0, 5.0]]
    s = load_series_csv(put(tmp_path, "s.csv", CSV), "temp", features=["temp"])
    assert s.columns == ["temp"] and s.target_index == 0
    s = load_series_csv(put(tmp_path, "s.tsv", CSV.replace(",", "\t")), "temp", ["load"])
    assert s.columns == ["load", "temp"] and s.target_index == 1


@pytest.mark.parametrize(
    "text, target, features, needle",
    [
        (CSV, "lod", None, "no column 'lod'; the header (first line) has columns: 'date', 'load'"),
        (CSV, "load", ["x", "y"], "no columns 'x', 'y';"),
        (CSV, "load", ["city"], "line 2: column 'city' has 'a', not a finite number"),
        ("a,b\n1,2\n3,x\n", "a", ["b"], "line 3: column 'b' has 'x', not a finite number"),
        ("a,b\n1,2\n3,nan\n", "b", None, "line 3: column 'b' has 'nan'"),
        ("a,b\n1,2\n3, \n", "b", None, "line 3: column 'b' is empty"),
        ("a,b\n1,2\n3\n", "b", None, "line 3 has 1 fields but the header has 2"),
        ("a,a\n1,2\n", "a", None, "column names repeat"),
        ("a,b\n", "a", None, "no data rows"),
        ("", "a", None, "is empty; it needs a header row"),
    ],
)
def test_load_errors(tmp_path, text, target, features, needle):
    with pytest.raises(DataError) as info:
        load_series_csv(put(tmp_path, "s.csv", text), target, features)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_windows_many_to_one_and_per_step():
    n, w, h = 10, 3, 2
    values = np.stack([np.arange(n) * 10.0, np.arange(n) + 0.5], axis=1)  # target = column 0
    a = make_windows(values, 0, w, h)
    m = n - w - h + 1
    assert a.inputs.shape == (m, w, 2) and a.targets.shape == (m, h)
    assert a.inputs.dtype == np.float32 and a.start.tolist() == list(range(m))
    assert a.inputs[2, :, 1].tolist() == [2.5, 3.5, 4.5]
    assert a.targets[2].tolist() == [50.0, 60.0]  # the 2 values after rows 2..4
    b = make_windows(values, 0, w, h, per_step=True)
    assert b.targets.shape == (m, w, h) and np.array_equal(b.inputs, a.inputs)
    assert b.targets[2].tolist() == [[30, 40], [40, 50], [50, 60]]  # after each step
    assert np.array_equal(b.targets[:, -1], a.targets)
    one = make_windows(values, 0, w, 1, per_step=True).targets  # horizon 1: shifted by one
    assert np.array_equal(one[:, :, 0], make_windows(values, 0, w, 1).inputs[:, :, 0] + 10)


def test_window_errors():
    v = np.zeros((5, 2))
    with pytest.raises(DataError, match="5 rows are too few for a window of 4 and a horizon of 2"):
        make_windows(v, 0, 4, 2)
    assert len(make_windows(v, 1, 4, 1).start) == 1
    with pytest.raises(ConfigError, match="target_index"):
        make_windows(v, 2, 2)
    with pytest.raises(ConfigError, match="window"):
        make_windows(v, 0, 0)


def test_chronological_split_and_no_straddling():
    v = np.arange(40.0).reshape(20, 2)
    sp = chronological_split(v, 0.25)
    assert sp.split == 15 and np.array_equal(np.concatenate([sp.train, sp.test]), v)
    data = prepare_forecast(v, 0, window=3, horizon=2, test_fraction=0.3)
    assert data.split == 14
    back = data.scaler.inverse_transform(data.test.inputs)
    assert back[:, :, 0].min() > v[13, 0] + 1  # every test input row is a test row
    last_train_target = data.scaler.inverse_target(data.train.targets, 0).max()
    assert last_train_target < v[14, 0] - 1  # no train target is a test row (float32)
    with pytest.raises(DataError, match="the test part \\(6 of 20 rows\\) is too short"):
        prepare_forecast(v, 0, window=5, horizon=2, test_fraction=0.3)
    with pytest.raises(ConfigError, match="test_fraction"):
        chronological_split(v, 1.0)


def test_standardizer_uses_train_rows_and_round_trips():
    v = make_periodic(300, seed=1).values
    data = prepare_forecast(v, 0, window=8, test_fraction=0.2)
    train = v[: data.split]
    assert np.allclose(data.scaler.mean, train.mean(0))
    assert np.allclose(data.scaler.std, train.std(0))
    x = data.scaler.transform(train)
    assert np.allclose(x.mean(0), 0) and np.allclose(x.std(0), 1)
    s2 = Standardizer.from_dict(json.loads(json.dumps(data.scaler.to_dict())))
    assert np.array_equal(s2.mean, data.scaler.mean) and np.array_equal(s2.std, data.scaler.std)
    assert np.allclose(s2.inverse_transform(x), train)
    const = Standardizer.fit(np.ones((4, 1)))
    assert const.std.tolist() == [1.0] and const.transform([[1.0]]).tolist() == [[0.0]]
    # constant is relative to the column's size: a feature in 1e-13 units is scaled (it was
    # passed through as near-zeros), a spread of rounding on large values is not
    tiny = Standardizer.fit(np.array([[1.0], [2.0], [3.0]]) * 1e-13)
    assert tiny.transform([[3e-13]])[0, 0] == pytest.approx(np.sqrt(1.5))
    rounding = Standardizer.fit(np.array([[1e6], [1e6 + 1e-7]]))
    assert rounding.std.tolist() == [1.0]
    with pytest.raises(ValueError, match="not a standardizer"):
        Standardizer.from_dict({})


def test_naive_forecast_and_errors():
    v = np.arange(12.0)[:, None]
    win = make_windows(v, 0, 4, 2)
    naive = naive_forecast(win.inputs, 0, 2)
    assert naive.shape == (len(win.start), 2) and naive[0].tolist() == [3.0, 3.0]
    err = forecast_errors(win.targets, naive)
    assert err.mae == pytest.approx(1.5) and err.rmse == pytest.approx(np.sqrt(2.5))
    per = make_windows(v, 0, 4, 1, per_step=True)
    assert forecast_errors(per.targets, naive_forecast(per.inputs, 0, 1, per_step=True)).mae == 1
    with pytest.raises(ValueError, match="shapes differ"):
        forecast_errors(np.zeros(2), np.zeros(3))


def test_make_periodic_is_seeded_and_beats_nothing_trivially():
    a, b = make_periodic(500, seed=3), make_periodic(500, seed=3)
    assert isinstance(a, Series) and np.array_equal(a.values, b.values)
    assert not np.array_equal(a.values, make_periodic(500, seed=4).values)
    assert a.columns == ["load", "temp", "season"] and a.values.shape == (500, 3)
    clean = make_periodic(48, period=24, noise=0.0).values
    assert np.allclose(clean[:24], clean[24:])  # periodic without noise
    with pytest.raises(ConfigError, match="noise"):
        make_periodic(10, noise=-1)


def test_write_read_round_trip_and_cli(tmp_path, capsys):
    s = make_periodic(50, seed=2)
    p = write_series_csv(tmp_path / "s.csv", s)
    assert p.read_text().splitlines()[1].startswith("2024-01-01T00:00,")
    back = load_series_csv(p, "load")
    assert back.columns == s.columns and np.array_equal(back.values, s.values)
    out = tmp_path / "cli.csv"
    assert main(["--out", str(out), "--n", "50", "--seed", "2"]) == 0
    assert "wrote 50 rows" in capsys.readouterr().out
    assert np.array_equal(load_series_csv(out, "load").values, s.values)
    assert main(["--out", str(out), "--n", "0"]) == 2
    assert capsys.readouterr().err.startswith("error: n must be")
