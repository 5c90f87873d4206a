"""python -m jaxrnn.predict on a trained checkpoint."""

import json
import subprocess
import sys

import numpy as np
import pytest

from jaxrnn import train as T
from jaxrnn.predict import Predictor


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("pred") / "gru.ckpt"
    res = T.fit(T.TrainConfig(model="gru", hidden=8, epochs=8, lr=3e-2), save=str(path))
    return str(path), res


def test_predictions_match_the_trained_model(ckpt):
    path, res = ckpt
    pred = Predictor(path, batch_size=16)
    texts = ["i am not sad", "this is bad", "", "very very good indeed!", "zzz unknown words"]
    rows = pred.predict(texts)
    assert [r["text"] for r in rows] == texts
    for r in rows:
        assert r["label"] in ("negative", "positive")
        assert 0.5 <= r["probability"] <= 1.0
        assert sum(r["probabilities"].values()) == pytest.approx(1.0)
    # Same numbers as the training code's own model on the same encoded batch.
    import jax.numpy as jnp

    from jaxrnn import loop

    r = T.load_checkpoint(path)
    ids, lengths = r.tokenizer.encode(texts)
    expected = np.asarray(
        loop.probabilities(r.model.apply(r.state.params, jnp.asarray(ids), jnp.asarray(lengths)))
    )
    np.testing.assert_allclose(pred.predict_proba(texts), expected, rtol=1e-5, atol=1e-6)


def test_many_lines_batched(ckpt):
    path, _ = ckpt
    pred = Predictor(path, batch_size=64)
    texts = [f"this is {'not ' * (i % 3)}good" for i in range(1000)]
    probs = pred.predict_proba(texts)
    assert probs.shape == (1000, 2)
    np.testing.assert_allclose(probs[0], probs[3], rtol=1e-6)  # same text, different batch slot


def test_multi_seed_checkpoint_averages_seeds(tmp_path):
    import jax
    import jax.numpy as jnp

    from jaxrnn import loop

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
