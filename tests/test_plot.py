"""Training curves: ``--plot`` and ``python -m jaxrnn.plot`` draw what the run's history holds."""

import json
import subprocess
import sys

import numpy as np
import pytest

from jaxrnn.evaluation.curves import curves, plot_curves
from jaxrnn.runs import TrainConfig, fit, resolve_config


def _run(histories):
    return {"model": "gru", "backend": "jax", "history": histories[0],
            "per_seed": [{"seed": i, "history": h} for i, h in enumerate(histories)]}


def test_curves_read_every_split_and_metric_per_seed():
    h0 = [{"epoch": e, "train_loss": 1.0 / e, "train_acc": 0.5, "val_loss": 2.0 / e,
           "val_acc": 0.4, "test_loss": 3.0 / e, "test_acc": 0.3, "eval_held_out_loss": 1.5,
           "eval_held_out_acc": 0.6} for e in (1, 2, 3)]  # fmt: skip
    h1 = [dict(r, train_loss=r["train_loss"] + 1) for r in h0]
    c = curves(_run([h0, h1]))
    assert list(c.epochs) == [1, 2, 3]
    assert c.metrics == ["loss", "acc"]
    assert c.splits == ["train", "val", "test", "eval_held_out"]
    np.testing.assert_allclose(c.values[("train", "loss")], [[1, 1 / 2, 1 / 3], [2, 3 / 2, 4 / 3]])
    np.testing.assert_allclose(c.values[("eval_held_out", "acc")], np.full((2, 3), 0.6))


def test_a_language_model_and_a_forecaster_draw_their_own_metric(tmp_path):
    lm = [{"epoch": e, "train_loss": 2.0, "train_acc": 0.3, "train_bpc": 2.9, "test_loss": 2.1,
           "test_acc": 0.3, "test_bpc": 3.0} for e in (1, 2)]  # fmt: skip
    assert plot_curves({"history": lm}, str(tmp_path / "lm.png")) == ["loss", "acc"]
    reg = [{"epoch": e, "train_loss": 0.5, "train_mae": 0.4, "test_loss": 0.6, "test_mae": 0.5}
           for e in (1, 2)]  # fmt: skip
    assert curves({"history": reg}).metrics == ["loss", "mae"]
    assert plot_curves({"history": reg}, str(tmp_path / "reg.png")) == ["loss", "mae"]
    with pytest.raises(ValueError, match="no per-epoch history"):
        curves({"history": []})


def test_a_real_runs_json_is_drawn_from_its_history(tmp_path):
    r = fit(resolve_config(TrainConfig(model="gru", hidden=4, epochs=3)), seeds=2)
    record = r.to_json()
    c = curves(record)
    for s in range(2):
        assert [x["test_acc"] for x in record["per_seed"][s]["history"]] == list(
            c.values[("test", "acc")][s])
    path = tmp_path / "curves.png"
    plot_curves(record, str(path))
    assert path.stat().st_size > 10_000


def test_plot_flag_and_plot_command(tmp_path):
    png, run, again = tmp_path / "c.png", tmp_path / "run.json", tmp_path / "again.png"
    proc = subprocess.run([sys.executable, "-m", "jaxrnn.train", "--model", "gru", "--hidden",
                           "4", "--epochs", "2", "--quiet", "--plot", str(png), "--json",
                           str(run)], capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert png.stat().st_size > 10_000 and run.exists()
    proc = subprocess.run([sys.executable, "-m", "jaxrnn.plot", str(run), "--out", str(again)],
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0 and proc.stdout.startswith(f"wrote {again}")
    assert again.stat().st_size > 10_000
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"model": "gru"}))
    for path in (bad, tmp_path / "missing.json"):
        proc = subprocess.run([sys.executable, "-m", "jaxrnn.plot", str(path)],
                              capture_output=True, text=True)  # fmt: skip
        assert proc.returncode == 2 and proc.stderr.startswith("error: ")
        assert "Traceback" not in proc.stderr and len(proc.stderr.splitlines()) == 1
    proc = subprocess.run([sys.executable, "-m", "jaxrnn.train", "--epochs", "1", "--plot",
                           str(tmp_path / "nowhere" / "c.png")], capture_output=True,
                          text=True)  # fmt: skip
    assert proc.returncode == 2 and "--plot" in proc.stderr and "no such folder" in proc.stderr


def test_plot_command_says_what_is_wrong_in_one_line(tmp_path, capsys):
    from jaxrnn.cli import plot

    good = {"model": "gru", "history": [{"epoch": 1, "train_loss": 0.7, "train_acc": 0.5},
                                        {"epoch": 2, "train_loss": 0.6, "train_acc": 0.6}]}
    for name, run, needle in [
        ("noepoch", {"history": [{"train_loss": 0.7}]}, "KeyError: 'epoch'"),
        ("text", {"history": "abc"}, "its history is not a run's"),
        ("onlyepoch", {"history": [{"epoch": 1}]}, "its history is not a run's"),
    ]:  # fmt: skip
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(run))
        assert plot.main([str(path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and needle in err, err
    ck = tmp_path / "cut.ckpt"  # a damaged checkpoint says so (it said "not a JSON file")
    from jaxrnn.training import checkpoint_file

    ck.write_bytes(checkpoint_file.MAGIC + b"\0" * 40)
    assert plot.main([str(ck)]) == 2
    assert "not a JSON" not in capsys.readouterr().err
    path = tmp_path / "run.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(good).encode())  # with a byte-order mark
    out = tmp_path / "new" / "folder" / "fig.png"  # made, as the other writers do
    assert plot.main([str(path), "--out", str(out), "--title", "$\\foo$ costs $5"]) == 0
    assert out.stat().st_size > 1000
