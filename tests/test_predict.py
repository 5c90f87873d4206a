"""python -m jaxrnn.predict on a trained checkpoint."""

import json
import subprocess
import sys

import numpy as np
import pytest

from jaxrnn import runs as T
from jaxrnn.cli.predict import Predictor
from jaxrnn.runs.prepare import load_texts


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("pred") / "gru.ckpt"
    res = T.fit(T.TrainConfig(model="gru", hidden=8, epochs=8, lr=3e-2), save=str(path))
    return str(path), res


def test_predictions_match_the_trained_model(ckpt):
    """The checkpoint predicts what the run itself trained: the in-memory result's
    probabilities (``RunResult.predictor()``), and on the test texts the labels behind the
    run's own test report (its confusion matrix, from the training program's predictions)."""
    path, res = ckpt
    pred = Predictor(path, batch_size=16)
    texts = ["i am not sad", "this is bad", "", "very very good indeed!", "zzz unknown words"]
    rows = pred.predict(texts)
    assert [r["text"] for r in rows] == texts
    for r in rows:
        assert r["label"] in ("negative", "positive")
        assert 0.5 <= r["probability"] <= 1.0
        assert sum(r["probabilities"].values()) == pytest.approx(1.0)
    data = load_texts(res.config)
    everything = texts + list(data.test.texts)
    np.testing.assert_allclose(pred.predict_proba(everything),
                               res.predictor().predict_proba(everything), rtol=1e-6, atol=1e-7)
    labels = [r["label"] for r in pred.predict(list(data.test.texts))]
    names = res.label_names
    confusion = np.zeros((len(names), len(names)), int)
    for t, p in zip(data.test.labels, labels, strict=True):
        confusion[int(t), names.index(p)] += 1
    assert confusion.tolist() == res.reports[0]["confusion"]


def test_many_lines_batched(ckpt):
    path, _ = ckpt
    pred = Predictor(path, batch_size=64)
    texts = [f"this is {'not ' * (i % 3)}good" for i in range(1000)]
    probs = pred.predict_proba(texts)
    assert probs.shape == (1000, 2)
    # The same texts in different batches (0 and 15, the last one partial) and alone.
    for i in (0, 1, 2):
        np.testing.assert_allclose(probs[i], probs[996 + i], rtol=1e-6)
        np.testing.assert_allclose(probs[i], pred.predict_proba([texts[i]])[0], rtol=1e-6)
    assert not np.allclose(probs[0], probs[1])  # the texts differ, and so do their rows


def test_multi_seed_checkpoint_averages_seeds(tmp_path):
    import jax
    import jax.numpy as jnp

    from jaxrnn.training import loop

    path = tmp_path / "m.ckpt"
    T.fit(T.TrainConfig(model="gru", hidden=4, epochs=1), seeds=2, save=str(path))
    r = T.load_checkpoint(str(path))
    texts = ["i am happy", "not good"]
    ids, lengths = r.tokenizer.encode(texts)
    per_seed = [
        np.asarray(loop.probabilities(r.model.apply(
            jax.tree.map(lambda a, i=i: a[i], r.state.params), jnp.asarray(ids),
            jnp.asarray(lengths))))
        for i in range(2)
    ]  # fmt: skip
    assert not np.allclose(per_seed[0], per_seed[1])
    np.testing.assert_allclose(
        Predictor(str(path)).predict_proba(texts), np.mean(per_seed, axis=0), rtol=1e-5
    )


def test_cli_args_stdin_and_json(ckpt):
    path, _ = ckpt
    cmd = [sys.executable, "-m", "jaxrnn.predict", "--checkpoint", path]
    out = subprocess.run(
        cmd + ["i am happy", "i am sad"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert len(out) == 2 and out[0].split("\t")[2] == "i am happy"
    out = subprocess.run(
        cmd + ["--json"], input="good\nnot good\n", capture_output=True, text=True, check=True
    ).stdout.splitlines()
    rows = [json.loads(line) for line in out]
    assert [r["text"] for r in rows] == ["good", "not good"]
    assert set(rows[0]) >= {"text", "label", "probability"}


def test_cli_bad_checkpoint_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "x.ckpt"
    bad.write_text("hello")
    proc = subprocess.run(
        [sys.executable, "-m", "jaxrnn.predict", "--checkpoint", str(bad), "a"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "not a jaxrnn checkpoint" in proc.stderr
