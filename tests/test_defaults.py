"""``--model auto`` (the default) and ``--batch-size auto``: the study's RNN on the bundled
data, a model chosen for the task on the user's own ``--data``, said in one line."""

from __future__ import annotations

import dataclasses
import json

import pytest

from jaxrnn.cli import train as train_cli
from jaxrnn.errors import ConfigError
from jaxrnn.runs.config import (
    AUTO_BATCH,
    TrainConfig,
    auto_batch_size,
    auto_model,
    preset_batch_size,
    resolve_config,
)
from jaxrnn.runs.registry import TASKS


def test_without_data_the_default_is_the_study_rnn_for_every_task():
    for task in TASKS:
        cfg = resolve_config(TrainConfig(task=task))
        assert cfg.model == "rnn", task
    # ... and exactly the study's preset: the bundled run reproduces
    assert resolve_config(TrainConfig()) == resolve_config(TrainConfig(model="rnn"))


@pytest.mark.parametrize("task", [t for t in TASKS if TASKS[t].own_data is not None])
def test_own_data_takes_the_tasks_choice_and_flags_still_win(task):
    model, fields, why = TASKS[task].own_data
    cfg = resolve_config(TrainConfig(task=task, data="x"))
    assert cfg.model == model and why
    for k, v in fields.items():
        assert getattr(cfg, k) == v, k
    # a flag overrides the choice's field; an explicit --model is left alone
    assert resolve_config(TrainConfig(task=task, data="x", hidden=7)).hidden == 7
    assert resolve_config(TrainConfig(task=task, data="x", model="gru")).model == "gru"
    assert auto_model(TrainConfig(task=task)) == ("rnn", {}, "")


def test_auto_batch_size_is_the_preset_lowered_to_leave_ten_steps_per_epoch():
    assert [auto_batch_size(n, 8) for n in (1, 19, 20, 40, 47, 79, 80, 10_000)] == [
        1, 1, 2, 4, 4, 4, 8, 8]  # fmt: skip
    assert auto_batch_size(40, 32) == 4 and auto_batch_size(320, 32) == 32
    for preset in (1, 8, 32):
        for n in range(1, 400):
            b = auto_batch_size(n, preset)
            assert 1 <= b <= preset
            assert b == preset or b & (b - 1) == 0  # the preset, or a power of two below it
            assert b == 1 or n // b >= 10  # at least 10 full batches an epoch
            assert b == preset or n // (2 * b) < 10  # and the largest such
    cfg = resolve_config(TrainConfig(data="x"))
    assert preset_batch_size(cfg) == 8  # lstm's preset: auto never exceeds it


def test_batch_size_auto_flag_and_its_refusals(capsys):
    args = train_cli.build_parser().parse_args(["--batch-size", "auto"])
    assert args.batch_size == AUTO_BATCH
    with pytest.raises(SystemExit):
        train_cli.build_parser().parse_args(["--batch-size", "0"])
    assert "positive integer or 'auto'" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="streams"):
        resolve_config(TrainConfig(task="lm", model="lstm", batch_size=AUTO_BATCH))


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory):
    """40 rows, 2 classes told apart by one word; a 20-row test file."""
    d = tmp_path_factory.mktemp("own")
    words = {"yes": ["sunny bright warm day", "a happy bright smile", "warm kind words"],
             "no": ["cold grey rainy day", "a sad grey face", "harsh cold words"]}  # fmt: skip

    def write(path, n):
        rows = ["text,label"]
        for i in range(n):
            label = ("yes", "no")[i % 2]
            rows.append(f"{words[label][i % 3]} {i % 5},{label}")
        path.write_text("\n".join(rows) + "\n")
        return str(path)

    return write(d / "train.csv", 40), write(d / "test.csv", 20)


def test_cli_on_own_data_says_what_it_chose_and_records_the_batch(small_csv, tmp_path, capsys):
    train, test = small_csv
    out = tmp_path / "run.json"
    model, _, why = TASKS["classify"].own_data
    code = train_cli.main(["--data", train, "--test-data", test, "--epochs", "2",
                           "--hidden", "8", "--layers", "1", "--quiet", "--json", str(out)])
    assert code == 0
    err = capsys.readouterr().err.splitlines()
    chosen = [line for line in err if "--model not given" in line]
    assert len(chosen) == 1 and model in chosen[0] and why in chosen[0]
    rec = json.loads(out.read_text())
    assert rec["model"] == model
    # the batch note names the training rows; the run used auto_batch_size of them
    (line,) = [x for x in err if x.startswith("note: batch size")]
    rows = int(line.split(" training examples")[0].rsplit(" ", 1)[1])
    assert rows == 40 - round(40 * rec["config"]["val_fraction"])
    b = auto_batch_size(rows, preset_batch_size(resolve_config(TrainConfig(data=train))))
    assert rec["config"]["batch_size"] == b == int(line.split()[3])


def test_explicit_model_on_own_data_is_silent_and_unchanged(small_csv, capsys):
    train, test = small_csv
    cfg = TrainConfig(model="lstm", data=train, test_data=test)
    assert resolve_config(cfg) == resolve_config(dataclasses.replace(cfg))
    assert resolve_config(cfg).batch_size == 8  # lstm's preset, not auto
    code = train_cli.main(["--model", "lstm", "--data", train, "--test-data", test,
                           "--epochs", "1", "--hidden", "4", "--quiet"])
    assert code == 0
    assert "--model not given" not in capsys.readouterr().err


def test_eval_train_flag_and_the_json_says_which_train_figures(small_csv, tmp_path):
    train, test = small_csv
    for flag, kind in (([], "running_mean"), (["--eval-train"], "evaluated")):
        out = tmp_path / f"{kind}.json"
        assert train_cli.main(["--model", "gru", "--data", train, "--test-data", test,
                               "--epochs", "1", "--hidden", "4", "--quiet", "--json", str(out),
                               *flag]) == 0  # fmt: skip
        rec = json.loads(out.read_text())
        assert rec["train_metrics"] == kind and rec["config"]["eval_train"] == bool(flag)
