"""``--val-fraction`` and ``--early-stopping`` for ``--task tag``, ``regress`` and ``lm``.

* the validation split is held out of training: tag sentences disjoint (and their words
  not indexed), regress and lm targets after every training target and before the test's;
* a patience stop keeps (and saves) the params of the lowest validation loss: the saved
  params scored on the validation split give the history's best ``val_loss``;
* the command line takes the flags; the JSON has ``val_loss`` per epoch and ``best_epoch``;
  ``--eval-data`` is refused in one line for these tasks, ``--backend numpy`` too.
"""

import dataclasses
import json
import math

import numpy as np
import pytest

from jaxrnn.cli.train import main as train_main
from jaxrnn.data.conll import Sentence, write_conll
from jaxrnn.data.generators.entities import make_tagging
from jaxrnn.data.series import make_periodic, write_series_csv
from jaxrnn.runs.checkpoints import load_checkpoint
from jaxrnn.runs.config import TrainConfig, resolve_config
from jaxrnn.runs.registry import get_spec
from jaxrnn.training import loop

LM_TEXT = "the fox sees the owl. the owl sees a fox.\nthe old king sleeps.\n" * 4


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("val")
    paths = {"tag": str(d / "t.conll"), "regress": str(d / "s.csv"), "lm": str(d / "c.txt")}
    write_conll(paths["tag"], make_tagging(60, seed=0))
    write_series_csv(paths["regress"], make_periodic(120, seed=0))
    with open(paths["lm"], "w") as f:
        f.write(LM_TEXT)
    return paths


# ----------------------------------------------------------------------------- (a) held out


def test_tag_validation_sentences_are_held_out_before_indexing(tmp_path):
    # sentence i: its own word w<i> tagged T<i>, so each row names its sentence by its tag
    path = tmp_path / "ids.conll"
    write_conll(path, [Sentence([f"w{i}", "x"], [f"T{i}", "O"]) for i in range(40)])
    cfg = resolve_config(TrainConfig(task="tag", data=str(path), val_fraction=0.25, seed=3))
    data = get_spec(cfg).prepare(cfg, None)

    def ids(rows):
        return {int(data.vocab.tags[t][1:]) for t in np.asarray(rows.tags)[:, 0]}

    train, val, test = ids(data.train), ids(data.val), ids(data.test)
    assert len(val) == 8 and not (train & val or train & test or val & test)
    assert train | val | test == set(range(40)) and len(train) == len(data.train.lengths)
    # the words were indexed on the training sentences alone: each w<i> of val is unknown
    assert (np.asarray(data.val.ids)[:, 0] == 1).all()
    assert (np.asarray(data.train.ids)[:, 0] > 1).all()
    # seeded: the same split again, another with another seed
    assert ids(get_spec(cfg).prepare(cfg, None).val) == val
    other = dataclasses.replace(cfg, seed=4)
    assert ids(get_spec(other).prepare(other, None).val) != val


def test_regress_validation_windows_follow_every_training_target(tmp_path):
    # the target column is the row number: a window's values say which rows it reads
    n = 100
    path = tmp_path / "idx.csv"
    noise = np.random.default_rng(0).normal(size=n)
    path.write_text("t,x\n" + "".join(f"{i},{noise[i]:.6f}\n" for i in range(n)))
    cfg = resolve_config(TrainConfig(task="regress", data=str(path), target="t", window=5,
                                     horizon=2, val_fraction=0.25, test_fraction=0.2))  # fmt: skip
    data = get_spec(cfg).prepare(cfg, None)
    sc, t = data.vocab.scaler, data.vocab.target_index

    def rows(a):
        return np.rint(sc.inverse_target(a, t)).astype(int)

    tr_in, tr_y = rows(data.train.x[..., t]), rows(data.train.y)
    va_in, va_y = rows(data.val.x[..., t]), rows(data.val.y)
    te_in = rows(data.test.x[..., t])
    # 80 training rows: 60 trained on, the last 20 validation; the test part the last 20
    assert tr_y.max() == 59 and va_in.min() == 60 and va_y.max() == 79 and te_in.min() == 80
    assert not set(va_y.ravel()) & (set(tr_y.ravel()) | set(tr_in.ravel()))
    assert tr_in.max() < va_in.min()
    # the statistics are the trained-on rows' only
    assert sc.mean[t] == pytest.approx(np.arange(60).mean())


def test_lm_validation_text_is_between_the_training_and_test_text(tmp_path):
    # word i is "w<i>": a target's id says where in the text it is
    path = tmp_path / "words.txt"
    path.write_text(" ".join(f"w{i}" for i in range(200)))
    cfg = resolve_config(TrainConfig(task="lm", model="gru", data=str(path), level="word",
                                     batch_size=2, seq_len=4, val_fraction=0.2,
                                     test_fraction=0.1))  # fmt: skip
    data = get_spec(cfg).prepare(cfg, None)
    words = data.vocab.tokens

    def positions(rows):
        m = np.asarray(rows.mask).astype(bool)
        return {int(words[i][1:]) for i in np.asarray(rows.targets)[m]}

    train, val, test = positions(data.train), positions(data.val), positions(data.test)
    # 180 training words: the first 144 trained on, the next 36 validation (all but the
    # first predicted, as in the test split), then the 20 test words
    assert max(train) < min(val) and max(val) < min(test)
    assert val == set(range(145, 180)) and min(test) == 181
    # no training input is a validation word either
    assert max(int(words[i][1:]) for i in np.asarray(data.train.inputs).ravel()) < 144


# ----------------------------------------------------------------------------- (b), (c) runs

# Small float64 runs whose validation loss turns before the last epoch (high rates), so
# --early-stopping 2 stops them; and the params kept are not the last trained.
RUNS = {
    "tag": ["--model", "gru", "--hidden", "6", "--embed-dim", "4", "--batch-size", "8",
            "--lr", "1.0"],
    "regress": ["--model", "gru", "--hidden", "6", "--batch-size", "8", "--target", "load",
                "--window", "6", "--lr", "0.5"],
    # Keras' init: this tiny LM overfits within 8 epochs from it (PyTorch's, lm's default,
    # learns more slowly at this width and never stops for patience)
    "lm": ["--model", "gru", "--hidden", "8", "--embed-dim", "4", "--batch-size", "2",
           "--seq-len", "8", "--lr", "0.2", "--init", "orthogonal"],
}  # fmt: skip
EPOCHS = 8


@pytest.mark.parametrize("task", list(RUNS))
def test_early_stopping_keeps_the_best_validation_params(task, files, tmp_path):
    js, ck = tmp_path / "run.json", tmp_path / "run.ckpt"
    rc = train_main(["--task", task, "--data", files[task], *RUNS[task], "--epochs",
                     str(EPOCHS), "--dtype", "float64", "--val-fraction", "0.25",
                     "--early-stopping", "2", "--json", str(js), "--save", str(ck),
                     "--quiet"])  # fmt: skip
    assert rc == 0
    d = json.loads(js.read_text())
    val = [h["val_loss"] for h in d["history"]]
    assert all(math.isfinite(v) for v in val)
    # every test metric has its validation twin, per epoch
    keys = set(d["history"][0])
    assert {k[5:] for k in keys if k.startswith("test_")} == {k[4:] for k in keys
                                                             if k.startswith("val_")}
    best = int(d["final"]["best_epoch"])
    # a patience stop: the best epoch 2 epochs before the stop, not the last epoch trained
    assert best < EPOCHS - 2 and val[best - 1] == min(val)
    assert d["final"]["val_loss"] == pytest.approx(min(val), abs=1e-12)
    # the saved (kept) params, scored on the validation split again
    r = load_checkpoint(str(ck))
    spec = get_spec(r.config)
    data = spec.prepare(r.config, r.tokenizer)
    task_ = spec.task(r.config, r.model, data)
    metrics, _ = loop.evaluate(r.model, task_, r.state.params, data.val, r.config.eval_batch_size)
    assert float(metrics[0]) == pytest.approx(min(val), abs=1e-6)
    if task == "lm":
        assert d["final"]["val_ppl"] == pytest.approx(math.exp(min(val)))
        assert d["final"]["val_bpc"] == pytest.approx(min(val) / math.log(2))
        assert d["final"]["test_ppl"] == pytest.approx(math.exp(d["final"]["test_loss"]))


@pytest.mark.parametrize("task", list(RUNS))
def test_eval_data_and_numpy_are_refused_in_one_line(task, files, capsys):
    base = ["--task", task, "--data", files[task], *RUNS[task], "--epochs", "1"]
    assert train_main([*base, "--eval-data", files[task]]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--task {task} has no extra evaluation sets" in err
    if task == "lm":  # the one of the three with a NumPy backend
        assert train_main(["--task", "lm", "--model", "rnn", "--backend", "numpy", "--data",
                           files[task], "--val-fraction", "0.2"]) == 2  # fmt: skip
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "on the jax backend" in err
