"""``--init study|glorot|orthogonal``: the schemes' numbers, both backends from the same weights,
and the study's two-layer RNN learning once it starts from a scale that passes a gradient."""

import subprocess
import sys

import jax
import numpy as np
import pytest

from jaxrnn.errors import ConfigError
from jaxrnn.runs import TrainConfig, build_model, fit, initial_params, prepare_data, resolve_config
from jaxrnn.runs.numpy_run import initial_params as numpy_initial_params
from jaxrnn.weights import init as winit

GEOMETRY = dict(cell="gru", hidden=6, num_layers=2, bidirectional=True, vocab_size=9,
                embed_dim=None, num_outputs=3, seed=4)  # fmt: skip


def test_study_scheme_keeps_the_second_drafts_draws():
    """A one-hot tanh stack draws what ``study_params`` always drew (the rnn2 numbers)."""
    rng = np.random.default_rng(7)
    w_ih0 = rng.standard_normal((5, 11)) / 1000
    w_ih0[:, 0] = 0.0
    w_hh0 = rng.standard_normal((5, 5)) / 1000
    w_ih1 = rng.standard_normal((5, 5)) / 1000
    p = winit.scheme_params("study", cell="rnn", hidden=5, num_layers=2, bidirectional=False,
                            vocab_size=11, embed_dim=None, num_outputs=2, seed=7)  # fmt: skip
    np.testing.assert_array_equal(p["rnn"][0][0].w_ih, w_ih0)
    np.testing.assert_array_equal(p["rnn"][0][0].w_hh, w_hh0)
    np.testing.assert_array_equal(p["rnn"][1][0].w_ih, w_ih1)


def test_schemes_draw_what_they_name():
    h, g = GEOMETRY["hidden"], 3
    study = winit.scheme_params("study", **GEOMETRY)
    glorot = winit.scheme_params("glorot", **GEOMETRY)
    orth = winit.scheme_params("orthogonal", **GEOMETRY)
    for layer in range(2):
        for d in range(2):
            s, gl, o = (p["rnn"][layer][d] for p in (study, glorot, orth))
            assert s.w_ih.shape == gl.w_ih.shape == o.w_ih.shape == (g * h, 9 if layer == 0
                                                                      else 2 * h)  # fmt: skip
            assert np.abs(s.w_hh).max() < 1e-2 and not s.b_ih.any()  # N(0, 1) / 1000
            limit = (6.0 / (h + g * h)) ** 0.5  # Glorot-uniform over [G*H, H]
            assert np.abs(gl.w_hh).max() <= limit and np.abs(gl.w_hh).max() > 0.5 * limit
            for k in range(g):  # an orthogonal block per gate; Glorot's blocks are not
                blk = o.w_hh[k * h : (k + 1) * h]
                np.testing.assert_allclose(blk @ blk.T, np.eye(h), atol=1e-12)
                gb = gl.w_hh[k * h : (k + 1) * h]
                assert not np.allclose(gb @ gb.T, np.eye(h), atol=0.1)
    # Glorot and orthogonal differ only in w_hh: the same input weights from the same seed.
    np.testing.assert_array_equal(glorot["rnn"][0][0].w_ih, orth["rnn"][0][0].w_ih)
    with pytest.raises(ValueError, match="unknown init"):
        winit.scheme_params("he", **GEOMETRY)


@pytest.mark.parametrize("model,init", [("lstm", "glorot"), ("gru", "study"),
                                        ("rnn2", "orthogonal"), ("bilstm", "study")])
def test_both_backends_start_from_the_same_weights(model, init):
    cfg = resolve_config(TrainConfig(model=model, init=init, hidden=4, dtype="float64"))
    data = prepare_data(cfg)
    m = build_model(cfg, data.tokenizer.vocab_size, 2)
    jax_p = jax.tree.leaves(jax.tree.map(lambda a: a[0], initial_params(m, cfg, [2])))
    np_p = jax.tree.leaves(numpy_initial_params(cfg, data, 2))
    assert len(jax_p) == len(np_p)
    for a, b in zip(jax_p, np_p, strict=True):
        np.testing.assert_array_equal(np.asarray(a), b)
    default = jax.tree.leaves(jax.tree.map(
        lambda a: a[0], initial_params(m, resolve_config(TrainConfig(model=model, hidden=4,
                                                                     dtype="float64")), [2])))
    assert any(not np.array_equal(a, b) for a, b in zip(jax_p, default, strict=True)) == (
        init != ("study" if model == "rnn2" else "orthogonal"))  # fmt: skip


def test_same_history_in_both_backends_with_another_init():
    kw = dict(model="lstm", init="glorot", hidden=4, epochs=2, dropout=0.0, dtype="float64",
              compile_mode="fast", eval_train=True)  # fmt: skip  (NumPy's train figures)
    cfg = resolve_config(TrainConfig(**kw))
    data = prepare_data(cfg)
    a = fit(cfg, data).history
    b = fit(resolve_config(TrainConfig(backend="numpy", **kw)), data).history
    for x, y in zip(a, b, strict=True):
        for k in ("train_loss", "train_acc", "test_loss", "test_acc"):
            np.testing.assert_allclose(x[k], y[k], rtol=1e-8, atol=1e-10)


def test_models_with_their_own_weights_refuse_another_init():
    cfg = resolve_config(TrainConfig(model="rnn", init="glorot", epochs=1))
    with pytest.raises(ConfigError, match="--init glorot: this model starts from its own"):
        fit(cfg)
    proc = subprocess.run([sys.executable, "-m", "jaxrnn.train", "--init", "orthogonal",
                           "--backend", "numpy", "--epochs", "1"],
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: --init orthogonal")


def test_rnn2_learns_from_orthogonal_weights_and_not_from_the_studys():
    """The second draft at its own init stays at chance (the vanishing signal of two layers
    of N(0,1)/1000 weights); from Glorot/orthogonal weights it learns the bundled data."""
    kw = dict(model="rnn2", hidden=32, epochs=30)
    learnt = fit(resolve_config(TrainConfig(init="orthogonal", **kw)), seeds=2)
    stuck = fit(resolve_config(TrainConfig(**kw)), seeds=2)
    for i in range(2):
        assert learnt.seed_final(i)["test_acc"] >= 0.9
        assert stuck.seed_final(i)["train_acc"] <= 0.6
