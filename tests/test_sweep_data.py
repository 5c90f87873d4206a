"""``python -m jaxrnn.sweep`` on the user's own data (issue 30, item 4): the grid reads the
file the data flags name, and the command it prints trains that point on the same file."""

import json
import shlex

import numpy as np
import pytest

from jaxrnn.cli import sweep
from jaxrnn.data import make_emotions, write_table
from jaxrnn.runs import fit
from jaxrnn.runs.config import TrainConfig, resolve_config


def test_sweep_reads_the_data_and_names_it_in_its_command(tmp_path):
    data = tmp_path / "emo.csv"
    write_table(make_emotions(n_per_class=8, seed=0), data)
    out = tmp_path / "sw"
    argv = ["--data", str(data), "--model", "gru", "--hidden", "4", "--lr", "0.05",
            "--dropout", "0", "--seeds", "1", "--epochs", "2", "--early-stopping", "0",
            "--out", str(out), "--quiet"]  # fmt: skip
    assert sweep.main(argv) == 0
    res = json.loads((out / "results.json").read_text())
    command = res["command"]
    assert f"--data {shlex.quote(str(data))}" in command
    flags = shlex.split(command)[3:]  # python -m jaxrnn.train ...
    kw = {f[2:].replace("-", "_"): v for f, v in zip(flags[::2], flags[1::2], strict=True)}
    cfg = TrainConfig(model=kw["model"], hidden=4, layers=1, optimizer="adam", lr=0.05,
                      weight_decay=0.0, dropout=0.0, clip=0.0, epochs=2,
                      batch_size=int(kw["batch_size"]), val_fraction=0.2, early_stopping=0,
                      data=kw["data"])  # fmt: skip
    r = fit(resolve_config(cfg))
    assert len(r.label_names) == 6  # the file's six emotions, not the bundled two classes
    chosen = res["chosen"]
    assert chosen["test_acc"]["mean"] == pytest.approx(r.final["test_acc"], abs=1e-6)
    assert chosen["val_loss"]["mean"] == pytest.approx(r.final["val_loss"], rel=1e-4)
    assert np.isfinite(chosen["val_acc"]["mean"])


@pytest.mark.parametrize("task", ["lm", "tag", "regress"])
def test_other_tasks_are_refused_in_one_line(capsys, task):
    # tag, regress and lm hold out validation splits too, but the sweep trains classifiers
    assert sweep.main(["--task", task, "--out", "/tmp/never"]) == 2
    err = capsys.readouterr().err
    assert f"not --task {task}" in err and len(err.strip().splitlines()) == 1


def test_a_batch_larger_than_the_training_rows_is_refused_in_one_line(tmp_path, capsys):
    data = tmp_path / "emo.csv"
    write_table(make_emotions(n_per_class=4, seed=0), data)
    # it was a reshape traceback; --batch-size 0 (auto) was a ZeroDivisionError
    assert sweep.main(["--data", str(data), "--batch-size", "100000", "--out",
                       str(tmp_path / "sw"), "--quiet"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "--batch-size 100000 is larger than the" in err and err.count("\n") == 1


def test_too_few_rows_for_a_validation_part_says_so(tmp_path, capsys):
    data = tmp_path / "tiny.csv"
    data.write_text("text,label\na b,x\nc d,y\ne f,x\ng h,y\n")
    assert sweep.main(["--data", str(data), "--out", str(tmp_path / "sw"), "--quiet"]) == 2
    err = capsys.readouterr().err  # it said "give --val-fraction > 0", with 0.2 given
    assert "--val-fraction 0.2 of 2 training rows holds out none" in err
