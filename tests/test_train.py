"""The compiled training loop and the CLI."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrnn import runs as T
from jaxrnn.cli import train as train_cli


@pytest.fixture(scope="module")
def small_rnn_runs():
    """The same small study-RNN run in JAX (float64) and in NumPy."""
    kw = dict(model="rnn", hidden=16, epochs=12, lr=0.3, seed=3, dtype="float64")
    jx = T.fit(T.TrainConfig(backend="jax", **kw), log_every=4)
    np_ = T.fit(T.TrainConfig(backend="numpy", **kw), log_every=4)
    return jx, np_


def test_jax_and_numpy_follow_the_same_loss_curve(small_rnn_runs):
    jx, np_ = small_rnn_runs
    for k in T.METRIC_NAMES:
        a = [h[k] for h in jx.history]
        b = [h[k] for h in np_.history]
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, err_msg=k)
    losses = [h["train_loss"] for h in jx.history]
    assert max(losses) - min(losses) > 0.05  # the curve moves: the comparison means something
    for k in jx.params:
        np.testing.assert_allclose(jx.params[k], np_.params[k], rtol=1e-8, atol=1e-12)


def test_result_json_has_the_contract_keys(small_rnn_runs):
    out = small_rnn_runs[0].to_json()
    for k in ("model", "backend", "seed", "config", "final", "history", "wall_s", "compile_s"):
        assert k in out
    assert set(out["final"]) == {"train_loss", "train_acc", "test_loss", "test_acc"}
    assert [h["epoch"] for h in out["history"]] == list(range(1, 13))
    assert out["config"]["lr"] == 0.3 and out["config"]["batch_size"] == 1
    assert out["config"]["compile_mode"] == "auto" and "xla_options" in out
    json.dumps(out)


def test_minibatch_adam_model_trains():
    """One epoch of the compiled Classifier loop (dropout 0, float64) equals a plain Python
    loop of optax Adam steps on ``jax.grad`` of the batch mean loss, in the same order."""
    import optax

    from jaxrnn.scratch import shuffle_orders
    from jaxrnn.training import tasks

    cfg = T.resolve_config(T.TrainConfig(model="gru", hidden=8, epochs=1, lr=3e-2, seed=3,
                                         dropout=0.0, dtype="float64"))  # fmt: skip
    data = T.prepare_data(cfg)
    res = T.fit(cfg, data)
    assert len(res.history) == 1 and res.compile_s > 0
    model = T.build_model(cfg, data.tokenizer.vocab_size, 2)
    params = jax.tree.map(lambda a: jnp.asarray(a[0]), T.initial_params(model, cfg, [cfg.seed]))
    start = params
    ids, lengths, labels = (jnp.asarray(a) for a in data.train)
    order = shuffle_orders(len(labels), 1, cfg.seed)[0]  # the order fit visits the rows in
    opt = optax.adam(cfg.lr)
    opt_state = opt.init(params)

    @jax.jit
    def grad(p, rows):
        return jax.grad(lambda p: jnp.mean(tasks.losses(
            model.apply(p, ids[rows], lengths[rows]), labels[rows])))(p)  # fmt: skip

    for b in range(0, len(order), cfg.batch_size):  # the last batch: the rows left (2 of 58)
        rows = order[b : b + cfg.batch_size]
        updates, opt_state = opt.update(grad(params, rows), opt_state, params)
        params = optax.apply_updates(params, updates)
    moved = max(float(jnp.max(jnp.abs(a - b))) for a, b in
                zip(jax.tree.leaves(params), jax.tree.leaves(start), strict=True))  # fmt: skip
    assert moved > 1e-3  # it trained: zero gradients would not get here
    for a, b in zip(jax.tree.leaves(res.params), jax.tree.leaves(params), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-12)


def test_chunk_stops_at_every_log_save_and_capacity():
    assert T.chunk_stops(0, 100, 50, capacity=16) == [16, 32, 48, 50, 66, 82, 98, 100]
    assert T.chunk_stops(0, 3, 1) == [1, 2, 3]
    assert T.chunk_stops(0, 7, 3) == [3, 6, 7]
    assert T.chunk_stops(0, 12, 5, save_every=4) == [4, 5, 8, 10, 12]
    assert T.chunk_stops(37, 60, 12) == [48, 60]  # resumed at epoch 37: an 11-epoch chunk


@pytest.mark.parametrize(
    "flags,needle",
    [
        (["--lr", "0"], "--lr must be a positive"),
        (["--lr", "nan"], "--lr must be a positive"),
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--hidden", "-3"], "--hidden must be at least 1"),
        (["--model", "transformer"], "invalid choice"),
        (["--backend", "numpy", "--model", "lstm", "--bptt", "study"], "--bptt study"),
        (["--lr", "abc"], "invalid float"),
    ],
)
def test_bad_flags_exit_2_with_one_line(flags, needle, capsys):
    with pytest.raises(SystemExit) as e:
        code = train_cli.main(flags)
        raise SystemExit(code)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err and "Traceback" not in err


def test_cli_help_documents_every_flag():
    out = subprocess.run(
        [sys.executable, "-m", "jaxrnn.train", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for flag in (
        "--model",
        "--backend",
        "--optimizer",
        "--lr",
        "--epochs",
        "--batch-size",
        "--hidden",
        "--seed",
        "--json",
        "--no-mask",
    ):
        assert flag in out


@pytest.mark.parametrize(
    "argv, mask",
    [
        (["--model", "simple_rnn"], False),  # the study's Keras model ran without mask_zero
        (["--model", "simple_rnn", "--mask"], True),
        (["--model", "bilstm"], True),
        (["--model", "bilstm", "--no-mask"], False),
    ],
)
def test_mask_flag_overrides_the_preset(argv, mask):
    from jaxrnn.cli.train import build_parser, config_from_args
    from jaxrnn.runs.config import resolve_config

    assert resolve_config(config_from_args(build_parser().parse_args(argv))).mask is mask


def test_default_run_headline_json_and_compile_cache(tmp_path):
    """``python -m jaxrnn.train`` as the README shows it: train and test accuracy 1.000 after
    500 epochs, the JSON, and the compiled program kept in ``JAXRNN_CACHE_DIR``."""
    path, cache = tmp_path / "run.json", tmp_path / "cache"
    proc = subprocess.run([sys.executable, "-m", "jaxrnn.train", "--json", str(path)],
                          capture_output=True, text=True, check=True,
                          env={**os.environ, "JAXRNN_CACHE_DIR": str(cache)})  # fmt: skip
    assert "Epoch 500/500" in proc.stdout
    assert "rnn (jax, 19074 params): train acc 1.000, test acc 1.000" in proc.stdout
    out = json.loads(path.read_text())
    assert out["model"] == "rnn" and out["backend"] == "jax" and len(out["history"]) == 500
    assert out["final"]["train_acc"] == 1.0 and out["final"]["test_acc"] == 1.0
    assert cache.is_dir() and any(cache.iterdir())


@pytest.mark.parametrize("switch", ["env", "flag"])
def test_compile_cache_switches_write_no_cache(tmp_path, switch):
    """``JAXRNN_CACHE_DIR=off`` and ``--no-compile-cache`` keep nothing on disk (the default
    place, ``$XDG_CACHE_HOME/jaxrnn/xla``, and a named ``JAXRNN_CACHE_DIR``)."""
    xdg, named, work = tmp_path / "xdg", tmp_path / "named", tmp_path / "work"
    work.mkdir()  # the working directory: nothing may appear there either (e.g. "off/")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "XDG_CACHE_HOME": str(xdg), "HOME": str(tmp_path / "home"),
           "PYTHONPATH": root}  # fmt: skip
    env["JAXRNN_CACHE_DIR"] = "off" if switch == "env" else str(named)
    flags = ["--no-compile-cache"] if switch == "flag" else []
    subprocess.run([sys.executable, "-m", "jaxrnn.train", "--epochs", "1", "--hidden", "4",
                    "--quiet", *flags], check=True, env=env, capture_output=True, cwd=work)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"] and not any(work.iterdir())


def test_compile_with_drops_options_this_jaxlib_does_not_know():
    import jax

    from jaxrnn.runs import FAST_COMPILE_OPTIONS, compile_with

    lowered = jax.jit(lambda x: x * 2.0).lower(1.0)
    compiled, used = compile_with(lowered, {**FAST_COMPILE_OPTIONS, "xla_no_such_option": True})
    assert used == FAST_COMPILE_OPTIONS  # the known ones are kept (this jaxlib has both)
    assert float(compiled(3.0)) == 6.0
    assert compile_with(lowered, {})[1] == {}


def test_compile_auto_is_fast_only_for_short_runs_on_cpu():
    """``--compile auto``: XLA level 0 for the short Keras-like presets (compile dominates),
    full optimisation for the 500-epoch RNN and the 3x128 BiLSTM (the run dominates)."""
    from jaxrnn.runs import TrainConfig, compiler_options, prepare_data, resolve_config

    fast = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False}
    want = {"rnn": {}, "simple_rnn": fast, "lstm": fast, "gru": fast, "bilstm": {}}
    for model, opts in want.items():
        cfg = resolve_config(TrainConfig(model=model))
        data = prepare_data(cfg)
        assert compiler_options(cfg, data) == opts, model
        for mode, o in (("fast", fast), ("full", {})):
            forced = resolve_config(TrainConfig(model=model, compile_mode=mode))
            assert compiler_options(forced, data) == o
    lstm = resolve_config(TrainConfig(model="lstm"))
    assert compiler_options(lstm, prepare_data(lstm), seeds=128) == {}  # 128x the work
    # A run that checkpoints compiles in full: it may be resumed into a longer run, which must
    # compute the bits of the uninterrupted one (tests/test_float32.py).
    assert compiler_options(lstm, prepare_data(lstm), checkpointed=True) == {}
