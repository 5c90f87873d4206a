"""Checkpoints written by jaxrnn 0.1.0 before the training-core rewrite (commit 2bf21f4) still
load, predict exactly what that version predicted, and resume.

``tests/data/*_v010.ckpt`` were written by that commit's ``python -m jaxrnn.train --save``
(a GRU of 4, 2 epochs, seed 3; an LSTM of 3, 1 epoch, seeds 0-1), and the
``*.predict.jsonl`` files are that commit's ``python -m jaxrnn.predict --json`` output.
"""

import dataclasses
import json
import pathlib
import shutil

import jax
import numpy as np
import pytest

from jaxrnn import runs as T
from jaxrnn.cli.predict import Predictor

DATA = pathlib.Path(__file__).parent / "data"


@pytest.mark.parametrize("name, seeds", [("gru_v010", [3]), ("lstm2_v010", [0, 1])])
def test_old_checkpoint_loads_and_predicts_the_same(name, seeds):
    r = T.load_checkpoint(str(DATA / f"{name}.ckpt"))
    assert r.seeds == seeds
    want = [json.loads(line) for line in (DATA / f"{name}.predict.jsonl").read_text().splitlines()]
    got = Predictor(str(DATA / f"{name}.ckpt")).predict([w["text"] for w in want])
    for g, w in zip(got, want, strict=True):
        assert g["label"] == w["label"]
        for k, p in w["probabilities"].items():  # float32, as both versions ran it
            np.testing.assert_allclose(g["probabilities"][k], p, rtol=1e-6)


def test_old_checkpoint_resumes(tmp_path):
    """The old checkpoint's third epoch is the third epoch of a run that never stopped
    (today's code, the checkpoint's config): its params and Adam state were restored, not
    drawn afresh or reset. float32 both ways: equal to rounding, far below one Adam step."""
    ck = tmp_path / "gru.ckpt"
    shutil.copy(DATA / "gru_v010.ckpt", ck)
    # As python -m jaxrnn.train ran both (float32, no x64): x64 draws other sample orders.
    x64 = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", False)
    try:
        old = T.load_checkpoint(str(ck))
        assert old.epoch == 2 and old.config.optimizer == "adam"
        assert old.config.dtype == "float32"
        result = T.fit(T.TrainConfig(epochs=3), resume=str(ck), save=str(tmp_path / "gru3.ckpt"))
        never_stopped = T.fit(dataclasses.replace(old.config, epochs=3))
    finally:
        jax.config.update("jax_enable_x64", x64)
    assert [h["epoch"] for h in result.histories[0]] == [1, 2, 3]
    assert T.load_checkpoint(str(tmp_path / "gru3.ckpt")).epoch == 3
    assert result.histories[0][:2] == old.histories[0]  # the old run's own epochs, kept
    for k in ("train_loss", "test_loss"):
        assert result.histories[0][2][k] == pytest.approx(never_stopped.histories[0][2][k],
                                                          rel=1e-6), k  # fmt: skip
    for a, b in zip(jax.tree.leaves(result.params), jax.tree.leaves(never_stopped.params),
                    strict=True):  # fmt: skip
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
