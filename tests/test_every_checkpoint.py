"""Every task's checkpoint through every command (issue 30, item 2): each (task, command)
pair either serves the checkpoint (exit 0, output) or refuses it in ONE line on stderr that
names the command that does; wrong input to a served pair and an option the task ignores
are one-line refusals too, never silence with exit 0, never a traceback.

The commands run in-process through their ``main(argv)`` (no JAX start-up per case), on one
tiny checkpoint per task made once for the module.
"""

from __future__ import annotations

import os

import pytest

from jaxrnn.cli import generate, paired, plot, predict, sweep, train
from jaxrnn.data.conll import write_conll
from jaxrnn.data.generators.entities import make_tagging
from jaxrnn.data.series import make_periodic, write_series_csv
from jaxrnn.runs import TrainConfig, fit
from jaxrnn.runs.registry import TASKS

COMMANDS = {"predict": predict.main, "generate": generate.main, "plot": plot.main,
            "train": train.main, "paired": paired.main, "sweep": sweep.main}  # fmt: skip


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """``{task: checkpoint path}`` (1 epoch, hidden 4) and the data files, by name."""
    d = tmp_path_factory.mktemp("every")
    files = {"conll": str(d / "tag.conll"), "csv": str(d / "sine.csv"), "txt": str(d / "t.txt")}
    write_conll(files["conll"], make_tagging(40, seed=0))
    write_series_csv(files["csv"], make_periodic(120, seed=0))
    with open(files["txt"], "w") as fh:
        fh.write("the cat sat on the mat. the hat is on the cat.\n" * 6)
    small = dict(model="gru", epochs=1, hidden=4, batch_size=8)
    configs = {
        "classify": TrainConfig(embed_dim=4, **small),
        "tag": TrainConfig(task="tag", data=files["conll"], embed_dim=4, **small),
        "regress": TrainConfig(task="regress", data=files["csv"], target="load", window=6,
                               **small),
        "lm": TrainConfig(task="lm", data=files["txt"], embed_dim=4, seq_len=16, **small),
    }  # fmt: skip
    assert sorted(configs) == sorted(TASKS)  # a new task needs its checkpoint here
    cks = {}
    for task, cfg in configs.items():
        cks[task] = str(d / f"{task}.ckpt")
        fit(cfg, save=cks[task])
    return {**cks, **files, "dir": str(d)}


def call(command: str, argv: list[str], capsys, monkeypatch) -> tuple[int, str, str]:
    """``python -m jaxrnn.<command> argv`` in-process: exit code, stdout, stderr."""
    monkeypatch.setattr("sys.stdin", open(os.devnull))  # nothing piped in (not a terminal)
    try:
        rc = COMMANDS[command](argv)
    except SystemExit as e:  # argparse's one-line errors
        rc = e.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return rc, out, err


def refused(rc: int, err: str, *needles: str) -> None:
    """A non-zero exit and one line on stderr holding every needle."""
    lines = err.strip().splitlines()
    assert rc not in (0, None) and len(lines) == 1, (rc, err)
    for n in needles:
        assert n in lines[0], (n, lines[0])


# What serves each task's checkpoint: the arguments after the checkpoint; None: the command
# refuses it in one line naming the command that does ("needle"); "n/a": the command reads
# no checkpoint at all (it trains new runs), so a checkpoint flag is refused in one line.
SERVE = {
    "predict": {"classify": ["good movie"], "tag": ["we flew to Berlin ."],
                "regress": ["--data", "{csv}"], "lm": ["the c"]},
    "generate": {"lm": ["--length", "5", "--quiet"]},
    "plot": {t: ["--out", "{dir}/{task}.png"] for t in TASKS},
    "train": {t: ["--epochs", "2", "--quiet"] for t in TASKS},  # --resume CK
}  # fmt: skip
NOT_APPLICABLE = {
    # paired trains two new models on the same splits; sweep trains a grid afresh
    "paired": (["gru", "lstm", "--seeds", "2", "--resume"], "python -m jaxrnn.train --resume"),
    "sweep": (["--checkpoint"], "unrecognized arguments: --checkpoint"),
}


def _argv(command: str, task: str, made: dict) -> list[str]:
    if command in NOT_APPLICABLE:
        return [*NOT_APPLICABLE[command][0], made[task]]
    head = {"plot": [made[task]], "train": ["--resume", made[task]]}.get(
        command, ["--checkpoint", made[task]])
    rest = SERVE[command].get(task, [])
    return head + [a.format(**made, task=task) for a in rest]


@pytest.mark.parametrize("command", [*SERVE, *NOT_APPLICABLE])
@pytest.mark.parametrize("task", list(TASKS))
def test_every_checkpoint_through_every_command(task, command, made, capsys, monkeypatch):
    rc, out, err = call(command, _argv(command, task, made), capsys, monkeypatch)
    if command in NOT_APPLICABLE:
        refused(rc, err, NOT_APPLICABLE[command][1])
    elif task in SERVE[command]:
        assert rc == 0, err
        assert out.strip(), "served, so something is printed"
        if command == "plot":
            assert os.path.getsize(os.path.join(made["dir"], f"{task}.png")) > 0
    else:  # generate on a model that does not generate: the command that serves it
        refused(rc, err, f"--task {task} checkpoint", "python -m jaxrnn.predict")


# Wrong input to a served pair, and predict's options that the checkpoint's task ignores.
@pytest.mark.parametrize("task,argv,needle", [
    ("tag", ["--data", "{csv}"], "--data does not apply to a --task tag checkpoint"),
    ("lm", ["--data", "{csv}"], "--data does not apply to a --task lm checkpoint"),
    ("regress", ["good", "movie"], "a forecaster reads one series file"),
    ("regress", ["--data", "{conll}"], "{conll}"),
    ("regress", ["--data", "{csv}", "--tokens"], "--tokens does not apply"),
    ("regress", ["--data", "{csv}", "--batch-size", "4"], "--batch-size does not apply"),
    ("tag", ["--top", "3", "we flew"], "--top does not apply to a --task tag"),
    ("lm", ["--tokens", "the c"], "--tokens does not apply to a --task lm"),
    ("lm", ["--batch-size", "4", "the c"], "--batch-size does not apply"),
    ("classify", ["--top", "3", "good"], "--top"),
    ("classify", ["--data", "{csv}"], "--data"),
])  # fmt: skip
def test_predict_refuses_wrong_input_and_ignored_options(task, argv, needle, made, capsys,
                                                         monkeypatch):  # fmt: skip
    argv = ["--checkpoint", made[task], *[a.format(**made) for a in argv]]
    rc, _, err = call("predict", argv, capsys, monkeypatch)
    refused(rc, err, needle.format(**made))


# Train flags a task never reads (TaskInfo.ignores), set on the command line: refused before
# anything is loaded; on --resume the task is the checkpoint's, whatever --task says.
@pytest.mark.parametrize("argv,needle", [
    (["--task", "regress", "--num-words", "5"], "--num-words: --task regress does not use it"),
    (["--task", "regress", "--mask", "--buckets", "4", "--max-len", "9"],
     "--max-len, --buckets, --mask: --task regress does not use them"),
    (["--task", "classify", "--window", "5"], "--window: --task classify"),
    (["--task", "lm", "--max-len", "5"], "--max-len: --task lm"),
    (["--task", "tag", "--level", "word"], "--level: --task tag"),
    (["--task", "tag", "--confusion-png", "c.png"], "--confusion-png draws a classifier's"),
    (["--resume", "{tag}", "--epochs", "2", "--confusion-png", "c.png"], "not for --task tag"),
    (["--resume", "{regress}", "--epochs", "2", "--num-words", "5"], "--task regress does not"),
])  # fmt: skip
def test_train_refuses_options_the_task_ignores(argv, needle, made, capsys, monkeypatch):
    rc, out, err = call("train", [a.format(**made) for a in argv], capsys, monkeypatch)
    refused(rc, err, needle)
    assert out == ""  # nothing trained


def test_paired_refuses_options_the_task_ignores(made, capsys, monkeypatch):
    argv = ["gru", "lstm", "--seeds", "2", "--task", "lm", "--window", "3"]
    rc, out, err = call("paired", argv, capsys, monkeypatch)
    refused(rc, err, "--window: --task lm does not use it")


def test_the_registry_s_facts_name_real_fields_and_inputs():
    """``TaskInfo.ignores`` names ``TrainConfig`` fields (a typo would refuse nothing) and
    never the fields that define the task's data; every ``predict_input`` has its line."""
    import dataclasses

    from jaxrnn.runs.registry import PREDICT_INPUTS, ignored_options

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for name, info in TASKS.items():
        assert set(info.ignores) <= fields, name
        assert not {"data", "test_data", "model", "epochs", "lr"} & set(info.ignores), name
        assert info.predict_input in PREDICT_INPUTS, name
    assert ignored_options("regress", ["window", "target", "buckets"]) == ["buckets"]
    assert ignored_options("tag", ["buckets", "max_len"]) == []


def test_the_text_predictor_refuses_other_tasks_checkpoints(made):
    from jaxrnn.errors import UsageError
    from jaxrnn.runs.predictor import Predictor, load_predictor

    assert Predictor(made["classify"]).predict("good movie")[0]["label"]
    for task in ("tag", "regress", "lm"):  # were nonsense errors ("tags not in ...: 'e'")
        with pytest.raises(UsageError, match=f"checkpoint of --task {task}, not of a text "):
            Predictor(made[task])
    for bad in (0, -1):
        with pytest.raises(UsageError, match="batch_size must be a positive integer"):
            load_predictor(made["classify"], bad)
