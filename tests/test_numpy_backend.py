"""``--backend numpy`` for every preset: the same numbers as the JAX backend, without JAX.

From the same initial params (``jaxrnn.weights.init`` = ``build.initial_params``) and the
same sample orders, ``fit`` on the NumPy backend (hand-written BPTT and optimizer) and on
the JAX backend (``jax.grad`` + optax, compiled) give the same loss and accuracy history
in float64, for every preset (shrunk: few epochs, small hidden sizes) with dropout off,
and with dropout on when the NumPy run takes the masks the JAX run draws from its keys
(``jaxrnn.runs.jax_masks``).
"""

import json
import subprocess
import sys

import jax
import numpy as np
import pytest

from jaxrnn.errors import ConfigError
from jaxrnn.nn.models import init_params_numpy
from jaxrnn.runs import TrainConfig, build_model, fit, prepare_data, resolve_config
from jaxrnn.runs.config import MODEL_NAMES, PRESETS
from jaxrnn.runs.jax_masks import dropout_masks
from jaxrnn.runs.numpy_run import fit_numpy, initial_params
from jaxrnn.scratch import optim
from jaxrnn.weights import init as sinit

RTOL, ATOL = 1e-8, 1e-10
METRICS = ("train_loss", "train_acc", "test_loss", "test_acc")
SMALL = {"rnn": 16, "rnn2": 16, "simple_rnn": 8, "lstm": 8, "gru": 8, "bilstm": 6,
         "mingru": 6, "minlstm": 6, "lru": 6, "bimingru": 4, "biminlstm": 4, "bilru": 4}


def config(model: str, backend: str = "jax", **kw) -> TrainConfig:
    # --eval-train: the JAX run scores the training split after every epoch, as the NumPy
    # backend always does (its default reports running means of the batches instead)
    kw = {"hidden": SMALL[model], "epochs": 2, "eval_train": True, **kw}
    return resolve_config(TrainConfig(model=model, backend=backend, dtype="float64",
                                      compile_mode="fast", **kw))  # fmt: skip


def assert_same(hist_a, hist_b):
    assert len(hist_a) == len(hist_b)
    for a, b in zip(hist_a, hist_b, strict=True):
        assert a["epoch"] == b["epoch"]
        for k in METRICS:
            np.testing.assert_allclose(a[k], b[k], rtol=RTOL, atol=ATOL, err_msg=k)


def numpy_leaves(params):
    return [np.asarray(a) for a in optim.tree_leaves(params)]


def test_every_preset_is_checked():
    """A new ``--model`` joins ``SMALL`` (bilstm_tuned holds out a validation split, which
    the NumPy backend does not run)."""
    assert set(SMALL) == set(MODEL_NAMES) - {"bilstm_tuned"}


@pytest.mark.parametrize("model", list(SMALL))
def test_every_preset_same_history_as_jax(model):
    kw = {} if model in ("rnn", "rnn2") else {"dropout": 0.0}
    cfg_j = config(model, **kw)
    data = prepare_data(cfg_j)
    res_j = fit(cfg_j, data)
    res_n = fit(config(model, "numpy", **kw), data)
    assert res_n.config.backend == "numpy" and res_n.num_params == res_j.num_params
    assert_same(res_n.history, res_j.history)
    # ... and the trained weights, leaf by leaf.
    leaves_j = [np.asarray(a) for a in jax.tree.leaves(res_j.params)]
    leaves_n = numpy_leaves(res_n.params)
    assert len(leaves_n) == len(leaves_j)
    for a, b in zip(leaves_n, leaves_j, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-10)
    assert res_n.reports[0]["accuracy"] == pytest.approx(res_n.final["test_acc"])


@pytest.mark.parametrize("model,kw", [("minlstm", {"layers": 2, "block_ff": 2}),
                                      ("bilru", {"embed_dim": 0})])  # fmt: skip
def test_residual_blocks_same_history_as_jax(model, kw):
    """``--block residual`` on the NumPy backend (``jaxrnn.scratch.blocks``, the classifier
    reading the last block's outputs): the JAX run's history and trained weights."""
    kw = {"block": "residual", "dropout": 0.0, **kw}
    cfg_j = config(model, **kw)
    data = prepare_data(cfg_j)
    res_j = fit(cfg_j, data)
    res_n = fit(config(model, "numpy", **kw), data)
    assert res_n.num_params == res_j.num_params
    assert_same(res_n.history, res_j.history)
    leaves_j = [np.asarray(a) for a in jax.tree.leaves(res_j.params)]
    for a, b in zip(numpy_leaves(res_n.params), leaves_j, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-10)
    # the blocks trained: their MLP (minLSTM) / GLU (LRU) weights moved from the start
    start = numpy_leaves(initial_params(config(model, "numpy", **kw), data, 0))
    assert len(start) == len(leaves_j)
    assert all(not np.array_equal(a, b) for a, b in zip(start, leaves_j, strict=True)
               if a.ndim == 2)  # fmt: skip


def test_running_means_by_default_and_final_train_figures_evaluate_the_final_params():
    """Without --eval-train the JAX history's train figures are running means (not the NumPy
    backend's evaluations), but the final ones score the final params: equal to NumPy's."""
    cfg_j = config("lstm", eval_train=False, dropout=0.0)
    data = prepare_data(cfg_j)
    res_j = fit(cfg_j, data)
    res_n = fit(config("lstm", "numpy", dropout=0.0), data)
    assert res_j.extra["train_metrics"] == "running_mean"
    assert abs(res_j.history[-1]["train_loss"] - res_n.history[-1]["train_loss"]) > 1e-6
    for k in METRICS:
        np.testing.assert_allclose(res_j.final[k], res_n.final[k], rtol=RTOL, atol=ATOL,
                                   err_msg=k)  # fmt: skip


def test_rnn_with_adam_minibatch_runs_as_the_twin():
    """``--model rnn`` off the study's per-sample SGD: the one-layer twin, same numbers."""
    kw = {"optimizer": "adam", "lr": 1e-2, "batch_size": 8, "epochs": 3}
    data = prepare_data(config("rnn", **kw))
    assert_same(fit(config("rnn", "numpy", **kw), data).history,
                fit(config("rnn", **kw), data).history)  # fmt: skip


@pytest.mark.parametrize(
    "model,kw",
    [
        ("lstm", {"dropout": 0.3}),
        ("gru", {"layers": 2, "layer_dropout": 0.4, "dropout": 0.2, "mask": False,
                 "optimizer": "rmsprop", "clip_norm": 0.5}),  # fmt: skip
        ("biminlstm", {"layers": 2, "layer_dropout": 0.4, "dropout": 0.2}),
        ("bimingru", {"layers": 2, "layer_dropout": 0.4, "dropout": 0.2, "block": "residual",
                      "block_ff": 2}),  # fmt: skip
    ],
)
def test_dropout_same_history_with_the_jax_masks(model, kw):
    cfg_j = config(model, **kw)
    data = prepare_data(cfg_j)
    res_j = fit(cfg_j, data)
    cfg_n = config(model, "numpy", **kw)
    res_n = fit_numpy(cfg_n, data, [0], None, 1, False, 0.0,
                      masks=lambda s: dropout_masks(cfg_n, data, s))  # fmt: skip
    assert_same(res_n.history, res_j.history)
    # NumPy's own masks (the default) drop other units: the histories part.
    own = fit(cfg_n, data).history
    assert abs(own[-1]["train_loss"] - res_j.history[-1]["train_loss"]) > 1e-6


@pytest.mark.parametrize(
    "model,kw",
    [("bilstm", {"layers": 2}), ("gru", {"embed_dim": 0}), ("rnn2", {}),
     ("simple_rnn", {"data": None}), ("bilru", {"layers": 2}), ("minlstm", {"embed_dim": 0}),
     ("bimingru", {"layers": 2, "block": "residual"})],
)  # fmt: skip
def test_initial_params_are_the_jax_runs(model, kw):
    """The JAX-free init equals ``build.initial_params`` bit for bit (keras and study)."""
    from jaxrnn.runs import initial_params as jax_initial

    kw.pop("data", None)
    cfg = config(model, **kw)
    data = prepare_data(cfg)
    m = build_model(cfg, data.tokenizer.vocab_size, 2)
    ref = jax.tree.map(lambda a: a[0], jax_initial(m, cfg, [3]))
    mine = initial_params(cfg, data, 3)
    assert [a.shape for a in numpy_leaves(mine)] == [a.shape for a in jax.tree.leaves(ref)]
    for a, b in zip(numpy_leaves(mine), jax.tree.leaves(ref), strict=True):
        np.testing.assert_array_equal(a, b)
    if model != "rnn2":
        for a, b in zip(numpy_leaves(mine), jax.tree.leaves(init_params_numpy(m, 3, np.float64)),
                        strict=True):  # fmt: skip
            np.testing.assert_array_equal(a, b)


def test_rnn2_is_the_second_draft():
    p = PRESETS["rnn2"]
    assert (p["layers"], p["hidden"], p["optimizer"], p["lr"], p["batch_size"], p["clip"],
            p["epochs"], p["embed_dim"]) == (2, 128, "sgd", 2e-2, 1, 1.0, 500, 0)  # fmt: skip
    cfg = resolve_config(TrainConfig(model="rnn2"))
    data = prepare_data(cfg)
    m = build_model(cfg, data.tokenizer.vocab_size, 2)
    assert m.embed_dim is None and m.num_outputs == 2 and m.layer.num_layers == 2
    params = initial_params(cfg, data, 0)
    w = params["rnn"][0][0].w_ih
    assert w.shape == (128, data.tokenizer.vocab_size) and not w[:, 0].any()  # padding column
    assert 0.5e-3 < w[:, 1:].std() < 1.5e-3  # N(0, 1) / 1000
    assert not params["rnn"][1][0].b_ih.any()


def test_bptt_study_is_the_study_rnn_only():
    with pytest.raises(ConfigError, match="--bptt study"):
        resolve_config(TrainConfig(model="lstm", backend="numpy", bptt="study"))
    with pytest.raises(ConfigError, match="--bptt study"):
        resolve_config(TrainConfig(model="rnn", backend="numpy", bptt="study", batch_size=4))


def test_numpy_backend_imports_no_jax(tmp_path):
    """``python -m jaxrnn.train --backend numpy --model lstm`` runs without importing JAX."""
    code = (
        "import runpy, sys\n"
        "sys.argv = ['jaxrnn.train', '--backend', 'numpy', '--model', 'lstm', '--epochs', '1',"
        f" '--hidden', '4', '--json', {str(tmp_path / 'r.json')!r}]\n"
        "try:\n    runpy.run_module('jaxrnn.train', run_name='__main__')\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib', 'optax'))\n"
        "print('JAX MODULES:', bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "JAX MODULES: []" in out.stdout, out.stdout[-500:]
    assert "lstm (numpy" in out.stdout
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["backend"] == "numpy" and result["history"][0]["epoch"] == 1


def test_study_params_scale_and_seed():
    a = sinit.study_params(hidden=8, num_layers=2, vocab_size=5, num_outputs=2, seed=1)
    b = sinit.study_params(hidden=8, num_layers=2, vocab_size=5, num_outputs=2, seed=2)
    assert a["rnn"][1][0].w_ih.shape == (8, 8) and a["w_out"].shape == (2, 8)
    assert not np.array_equal(a["rnn"][0][0].w_hh, b["rnn"][0][0].w_hh)


def test_save_is_refused_not_dropped(tmp_path):
    """The NumPy backend writes no checkpoint: ``--save`` says so instead of exiting 0 with
    nothing written."""
    path = tmp_path / "run.ckpt"
    with pytest.raises(ConfigError, match="--save writes the jax backend's checkpoints"):
        fit(config("lstm", "numpy"), save=str(path))
    assert not list(tmp_path.iterdir())
