"""``--task classify`` on numeric sequences: ``.npz``, UCR and UEA ``.ts`` files through
``python -m jaxrnn.train`` and ``python -m jaxrnn.predict``, the standardiser fitted on the
training split only, padding masked, the checkpoint's predictions equal to the run's, and
one-line errors for bad files.

Data: class 1 when channel 0's mean over a row's real steps is positive (separable, so a
few epochs must reach high accuracy; scrambled labels or lengths would not)."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrnn.cli.predict import main as predict_main
from jaxrnn.cli.train import main as train_main
from jaxrnn.data.numeric import (
    NumericSet,
    from_arrays,
    load_numeric,
    write_npz,
    write_ts,
    write_ucr,
)
from jaxrnn.errors import ConfigError, DataError
from jaxrnn.runs import build
from jaxrnn.runs.config import MODEL_CELLS, TrainConfig, resolve_config
from jaxrnn.runs.predictor import load_predictor
from jaxrnn.runs.prepare_numeric import numeric_format, prepare_numeric
from jaxrnn.runs.run import fit

T, H = 12, 8
FLAGS = ["--model", "lstm", "--hidden", str(H), "--epochs", "3", "--batch-size", "8",
         "--dropout", "0", "--quiet"]  # fmt: skip


def make_set(n: int, f: int, seed: int, offset: float = 0.0) -> NumericSet:
    """``n`` series of 4..T steps and ``f`` channels: label 1 when channel 0's mean over the
    real steps is positive; ``offset`` is added to every real value (undone by scaling)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    lengths = rng.integers(4, T + 1, n)
    x = rng.normal(0.0, 1.0, (n, T, f))
    x[:, :, 0] += np.where(y == 1, 1.0, -1.0)[:, None]
    real = np.arange(T)[None, :] < lengths[:, None]
    y = ((x[:, :, 0] * real).sum(1) / lengths > 0).astype(int)  # the label the data carries
    x = (x + offset) * real[:, :, None]
    return NumericSet(x.astype(np.float32), lengths.astype(np.int64), y.astype(np.int64),
                      ["neg", "pos"], None, "generated")  # fmt: skip


WRITERS = {"npz": (write_npz, "npz", 2), "ucr": (write_ucr, "tsv", 1), "ts": (write_ts, "ts", 2)}


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_train_and_predict_each_format(tmp_path, capsys, fmt):
    """Each format through the CLI: accuracy > 0.9; the checkpoint predicts the file's rows
    as the run predicted its test split (the confusion matrices agree)."""
    write, ext, f = WRITERS[fmt]
    train, test = tmp_path / f"train.{ext}", tmp_path / f"test.{ext}"
    write(train, make_set(96, f, 1))
    write(test, make_set(48, f, 2))
    ckpt, js = tmp_path / "c.ckpt", tmp_path / "run.json"
    rc = train_main(["--data", str(train), "--test-data", str(test), *FLAGS,
                     "--save", str(ckpt), "--json", str(js)])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    out = json.loads(js.read_text())
    assert out["final"]["test_acc"] > 0.9
    capsys.readouterr()
    assert predict_main(["--checkpoint", str(ckpt), str(test), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 48 and rows[0]["file"] == str(test)
    truth = load_numeric(test).labels
    names = ["neg", "pos"]
    pred = np.array([names.index(r["label"]) for r in rows])
    confusion = np.zeros((2, 2), int)
    np.add.at(confusion, (truth, pred), 1)
    assert confusion.tolist() == out["report"]["confusion"]
    assert [r["file_label"] for r in rows] == [names[k] for k in truth]


def test_buckets_validation_early_stopping_resume(tmp_path, capsys):
    """--buckets, --val-fraction and --early-stopping on one file split by --test-fraction;
    --resume continues a checkpoint."""
    data = tmp_path / "all.npz"
    write_npz(data, make_set(120, 2, 3))
    common = ["--data", str(data), "--model", "lstm", "--hidden", str(H), "--batch-size", "8",
              "--buckets", "2", "--quiet"]  # fmt: skip
    js = tmp_path / "r.json"
    assert train_main([*common, "--epochs", "3", "--val-fraction", "0.2", "--early-stopping", "5",
                       "--json", str(js)]) == 0, capsys.readouterr().err  # fmt: skip
    out = json.loads(js.read_text())
    assert out["buckets"] and "val_acc" in out["history"][-1] and "best_epoch" in out["final"]
    assert out["final"]["test_acc"] > 0.9
    ckpt = tmp_path / "c.ckpt"
    assert train_main([*common, "--epochs", "2", "--save", str(ckpt)]) == 0
    assert train_main([*common, "--epochs", "3", "--resume", str(ckpt), "--json", str(js)]) == 0
    assert [h["epoch"] for h in json.loads(js.read_text())["history"]] == [1, 2, 3]


def test_standardiser_fitted_on_the_training_split_only():
    """Mean/std of channel 0 and 1 over the real steps of the training rows left after the
    validation split: test data (shifted by +100) and validation rows do not enter."""
    cfg = resolve_config(TrainConfig(model="lstm", val_fraction=0.25, seed=0))
    train, test = make_set(40, 2, 4), make_set(20, 2, 5, offset=100.0)
    data = prepare_numeric(cfg, train=train, test=test)
    from jaxrnn.data.files import stratified_split

    tr_idx, _ = stratified_split(train.labels.tolist(), 0.25, 0)
    real = np.concatenate([train.x[i, : train.lengths[i]] for i in tr_idx]).astype(np.float64)
    assert len(data.train.labels) == len(tr_idx) < 40 and len(data.val.labels) == 40 - len(tr_idx)
    np.testing.assert_allclose(data.vocab.scaler.mean, real.mean(0), rtol=1e-6)
    np.testing.assert_allclose(data.vocab.scaler.std, real.std(0), rtol=1e-6)
    assert abs(float(data.test.ids[0, 0, 0])) > 10  # the test split keeps its shift
    pad = ~(np.arange(data.train.ids.shape[1])[None] < data.train.lengths[:, None])
    assert pad.any() and not data.train.ids[pad].any()  # padding stays 0 after scaling


@pytest.mark.parametrize("model", [m for m in MODEL_CELLS if m != "rnn"])
def test_padding_is_masked(model):
    """Every model: steps past a row's length (here garbage, not zeros) change no logit."""
    cfg = resolve_config(TrainConfig(model=model, hidden=4, layers=2, dtype="float64"))
    net = build.build_numeric_model(cfg, 3, 3)
    params = jax.tree.map(jnp.asarray, build.initial_params(net, cfg, [0]))
    params = jax.tree.map(lambda a: a[0], params)
    rng = np.random.default_rng(0)
    x, lengths = rng.normal(size=(4, 6, 3)), np.array([6, 1, 3, 5])
    longer = np.concatenate([x, rng.normal(size=(4, 5, 3)) * 50], 1)
    for i, n in enumerate(lengths):
        longer[i, n:6] = rng.normal(size=(6 - n, 3)) * 50  # garbage inside the old padding too
    a = net.apply(params, jnp.asarray(x * (np.arange(6)[None, :, None] < lengths[:, None, None])),
                  jnp.asarray(lengths))  # fmt: skip
    b = net.apply(params, jnp.asarray(longer), jnp.asarray(lengths))
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6, rtol=0)


def test_python_api_and_checkpoint_predictor(tmp_path):
    """``fit(cfg, data=(train, test))`` from arrays; the saved checkpoint's predictor equals
    the run's in-memory one, classifies the test rows as the run did, and appending
    padding to every row changes no probability (float64)."""
    tr, te = make_set(96, 2, 6), make_set(48, 2, 7)
    train = from_arrays(tr.x, np.array(["neg", "pos"])[tr.labels], tr.lengths)
    test = from_arrays(te.x, np.array(["neg", "pos"])[te.labels], te.lengths)
    cfg = TrainConfig(model="gru", hidden=H, epochs=3, batch_size=8, dropout=0.0,
                      dtype="float64")  # fmt: skip
    ckpt = tmp_path / "c.ckpt"
    result = fit(cfg, data=(train, test), save=str(ckpt))
    assert result.final["test_acc"] > 0.9
    pred = load_predictor(str(ckpt))
    p = pred.predict_proba(te.x, te.lengths)
    np.testing.assert_allclose(p, result.predictor().predict_proba(te.x, te.lengths), atol=1e-12)
    confusion = np.zeros((2, 2), int)
    np.add.at(confusion, (te.labels, p.argmax(1)), 1)
    assert confusion.tolist() == result.reports[0]["confusion"]
    padded = np.concatenate([te.x, np.zeros((48, 7, 2))], 1)
    np.testing.assert_allclose(pred.predict_proba(padded, te.lengths), p, atol=1e-6, rtol=0)
    rows = pred.predict(te.x[:2], te.lengths[:2])
    assert [r["row"] for r in rows] == [1, 2] and set(rows[0]["probabilities"]) == {"neg", "pos"}
    # a run trained on arrays resumes with them passed again (it said "--data FILE" before),
    # the saved epochs kept and the checkpoint's standardiser reused; without them, one line
    with pytest.raises(ConfigError, match="trained on arrays passed in Python"):
        fit(dataclasses.replace(cfg, epochs=4), resume=str(ckpt))
    more = fit(dataclasses.replace(cfg, epochs=4), data=(train, test), resume=str(ckpt))
    assert more.history[:3] == result.history and [r["epoch"] for r in more.history][3] == 4
    assert more.predictor().vocab.to_dict() == result.predictor().vocab.to_dict()
    # text, ragged rows and single values are DataErrors that say what the input must be
    # (they were NumPy's ValueError/TypeError)
    for bad in (["a", "b"], [[[1, 2]], [[3, 4], [5, 6]]], None, 5):
        with pytest.raises(DataError, match=r"the input must be numbers \[N, T, F\]"):
            pred.predict_proba(bad)


def test_format_rules(tmp_path):
    """By extension, --format, or sniffing: a text TSV (header, words) stays a text table."""
    text = tmp_path / "t.tsv"
    text.write_text("text\tlabel\n" + "good film\tpos\nbad film\tneg\n" * 3)
    ucr = tmp_path / "u.tsv"
    write_ucr(ucr, make_set(4, 1, 0))
    numbers_csv = tmp_path / "u.csv"
    numbers_csv.write_text("\n1,0.5,0.25\n0,-1,NaN\n")
    assert numeric_format(text) is None and numeric_format(text, "tsv") is None
    assert numeric_format(ucr) == "ucr" and numeric_format(numbers_csv) == "ucr"
    assert numeric_format(ucr, "tsv") is None and numeric_format(text, "ucr") == "ucr"
    assert numeric_format(tmp_path / "a.npz") == "npz" and numeric_format(tmp_path / "a.ts") == "ts"
    assert numeric_format(tmp_path / "a.txt") == "ucr"
    from jaxrnn.runs.task_classify import prepare_classify

    data = prepare_classify(resolve_config(TrainConfig(model="lstm", data=str(text))))
    assert type(data.vocab).__name__ == "Tokenizer"


def _ragged(path):
    np.savez(path, x=np.array([np.zeros(3), np.zeros(4)], dtype=object), y=np.array([0, 1]))


def test_bad_files_are_one_line_errors(tmp_path, capsys):
    good = tmp_path / "good.npz"
    write_npz(good, make_set(24, 2, 8))
    one = tmp_path / "one.npz"
    write_npz(one, make_set(12, 1, 9))
    ragged = tmp_path / "ragged.npz"
    with pytest.raises(ValueError):  # NumPy >= 1.24 refuses a ragged array outright
        np.savez(ragged, x=np.array([np.zeros(3), np.zeros(4)]), y=np.array([0, 1]))
    _ragged(ragged)
    words = tmp_path / "words.tsv"
    words.write_text("1\t0.5\t0.7\n0\t0.1\tabc\n")
    fast = ["--model", "lstm", "--hidden", "4", "--epochs", "1", "--quiet"]
    for args, msg in [
        (["--data", str(ragged)], "object array (ragged rows?)"),
        (["--data", str(words), "--format", "ucr"], "line 2: step 2 has 'abc', not a number"),
        (["--data", str(good), "--test-data", str(one)], "1 channel(s) per step, but the "
         "training file"),
        (["--data", str(good), "--model", "rnn"], "use simple_rnn"),
        (["--data", str(good), "--backend", "numpy"], "JAX backend only"),
    ]:  # fmt: skip
        assert train_main([*fast, *args]) == 2
        err = capsys.readouterr().err
        assert msg in err and err.count("\n") == 1, err
    ckpt = tmp_path / "c.ckpt"
    assert train_main([*fast, "--data", str(good), "--save", str(ckpt)]) == 0
    capsys.readouterr()
    assert predict_main(["--checkpoint", str(ckpt), str(one)]) == 2
    err = capsys.readouterr().err
    assert "1 channel(s) per step, but the model was trained on 2" in err
    assert err.count("\n") == 1


def test_mnist1d_files_are_read(tmp_path, capsys):
    """``python -m jaxrnn.datasets mnist1d --out DIR``'s files train (one short epoch; no
    accuracy claim)."""
    from jaxrnn.datasets.export import main as datasets_main

    assert datasets_main(["mnist1d", "--out", str(tmp_path)]) == 0
    js = tmp_path / "r.json"
    rc = train_main(["--data", str(tmp_path / "mnist1d_train.npz"), "--test-data",
                     str(tmp_path / "mnist1d_test.npz"), "--model", "gru", "--hidden", "8",
                     "--epochs", "1", "--batch-size", "256", "--quiet", "--json", str(js)])
    assert rc == 0, capsys.readouterr().err
    out = json.loads(js.read_text())
    assert out["report"]["label_names"] == [str(k) for k in range(10)]
    assert 0.0 <= out["final"]["test_acc"] <= 1.0 and np.isfinite(out["final"]["test_loss"])
