"""Data-parallel training over several devices (simulated CPU devices) and several processes."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from jaxrnn.errors import ConfigError
from jaxrnn.training import distributed

FOUR_DEVICES = textwrap.dedent("""
    import jax, json, numpy as np
    jax.config.update("jax_enable_x64", True)
    assert len(jax.devices()) == 4
    from jaxrnn import runs as T
    out = {}
    shard_map = dict(data_parallel="shard_map")
    for name, kw, seeds, split in [
        # batch 6 over 4 devices: padded to 8 with zero-weight slots
        ("batch", dict(model="gru", hidden=6, epochs=2, dropout=0.3, batch_size=6), 1, {}),
        ("seeds", dict(model="simple_rnn", hidden=4, epochs=2), 4, {}),
        # shard_map draws dropout masks per device: equal to one device without dropout
        ("batch_shard_map", dict(model="lstm", hidden=6, epochs=2, dropout=0.0, batch_size=6),
         1, shard_map),
        # a language model splits its streams (2 per device) and their carried state
        ("lm_shard_map", dict(task="lm", model="lstm", hidden=6, epochs=2, batch_size=8,
                              seq_len=16), 1, shard_map),
        ("lm_xla", dict(task="lm", model="gru", hidden=6, epochs=2, batch_size=8, seq_len=16),
         1, dict(data_parallel="xla")),
    ]:
        runs = [T.fit(T.TrainConfig(dtype="float64", devices=d, **kw, **(split if d > 1 else {})),
                      seeds=seeds) for d in (1, 4)]
        out[name] = {"devices": [r.extra["devices"] for r in runs],
                     "parallel": runs[1].extra["parallel"],
                     "data_parallel": runs[1].extra.get("data_parallel"),
                     "histories": [r.histories for r in runs],
                     "params": [[np.asarray(a).tolist() for a in jax.tree.leaves(r.params)]
                                for r in runs]}
    r = T.fit(T.TrainConfig(dtype="float64", devices=4, model="gru", hidden=6, epochs=2,
                            dropout=0.3, batch_size=6, eval_train=True, **shard_map))
    out["shard_map_dropout"] = r.histories[0]
    # the same run with (next to) no steps: the untrained model's losses
    r = T.fit(T.TrainConfig(dtype="float64", devices=4, model="gru", hidden=6, epochs=2,
                            dropout=0.3, batch_size=6, lr=1e-12, eval_train=True,
                            **shard_map))
    out["shard_map_dropout_untrained"] = r.histories[0]
    try:  # 6 streams over 4 devices
        T.fit(T.TrainConfig(task="lm", hidden=6, epochs=1, batch_size=6, devices=4))
        out["lm_uneven"] = None
    except Exception as e:
        out["lm_uneven"] = [type(e).__name__, str(e)]
    print(json.dumps(out))
""")


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _flags(extra: str | None) -> str:
    """The session's XLA_FLAGS (conftest: fast compiles) with ``extra`` after them."""
    return " ".join(f for f in (os.environ.get("XLA_FLAGS"), extra) if f)


def _env(**extra):
    # The repository's jaxrnn also for processes started in another directory.
    path = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)
    if "XLA_FLAGS" in extra:  # added to the session's, not in their place
        extra["XLA_FLAGS"] = _flags(extra["XLA_FLAGS"])
    env = dict(os.environ, PYTHONPATH=path, **extra)
    env.pop("JAX_COORDINATOR_ADDRESS", None)
    return env


@pytest.fixture(scope="module")
def four_device_runs():
    proc = subprocess.run(
        [sys.executable, "-c", FOUR_DEVICES],
        capture_output=True,
        text=True,
        check=True,
        env=_env(XLA_FLAGS="--xla_force_host_platform_device_count=4"),
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "name,axis", [("batch", "batch"), ("seeds", "seed"), ("batch_shard_map", "batch"),
                  ("lm_shard_map", "batch"), ("lm_xla", "batch")]
)
def test_four_devices_equal_one(four_device_runs, name, axis):
    run = four_device_runs[name]
    assert run["devices"] == [1, 4] and run["parallel"] == axis
    if name.startswith("lm_"):  # the streams split as asked
        assert run["data_parallel"] == name.removeprefix("lm_"), run["data_parallel"]
    one, four = run["histories"]
    for h1, h4 in zip(one, four, strict=True):
        for r1, r4 in zip(h1, h4, strict=True):
            for k in ("train_loss", "train_acc", "test_loss", "test_acc"):
                np.testing.assert_allclose(r4[k], r1[k], rtol=1e-10, atol=1e-12)
    p1, p4 = run["params"]  # the trained weights themselves, not only what they score
    assert len(p1) == len(p4) > 0
    for a, b in zip(p1, p4, strict=True):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-10, atol=1e-12)


def test_shard_map_split_with_dropout_trains(four_device_runs):
    """``--data-parallel shard_map`` with dropout: each device draws its own masks, so the
    run differs from one device's; its numbers are finite and its loss falls."""
    hist = four_device_runs["shard_map_dropout"]
    assert [r["epoch"] for r in hist] == [1, 2]
    for r in hist:
        assert all(np.isfinite(r[k]) for k in ("train_loss", "test_loss"))
    one = four_device_runs["batch"]["histories"][0][0]  # the same config on one device
    assert abs(hist[-1]["train_loss"] - one[-1]["train_loss"]) > 1e-12
    # ... and it learns: the train split's loss (evaluated without dropout) falls epoch by
    # epoch from the untrained model's (a step of zero gradients would keep it there)
    untrained = four_device_runs["shard_map_dropout_untrained"][0]["train_loss"]
    losses = [untrained] + [r["train_loss"] for r in hist]
    assert all(b < a - 1e-3 for a, b in zip(losses[:-1], losses[1:], strict=True)), losses


def test_streams_that_do_not_split_are_a_clear_error(four_device_runs):
    kind, msg = four_device_runs["lm_uneven"]
    assert kind == "ConfigError" and "do not split evenly over 4 devices" in msg, msg


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_on_localhost_equal_one_process(tmp_path):
    """Two processes train the single process's model (history and weights at 1e-10), and
    only process 0 writes files: each runs in its own directory with the same relative
    ``--json`` and ``--save`` paths."""
    from jaxrnn.runs import load_checkpoint

    args = ["--model", "gru", "--hidden", "6", "--epochs", "2", "--dtype", "float64", "--quiet",
            "--json", "run.json", "--save", "run.ckpt"]  # fmt: skip
    dirs = [tmp_path / "p0", tmp_path / "p1", tmp_path / "single"]
    for d in dirs:
        d.mkdir()
    port = _free_port()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jaxrnn.train",
                *args,
                "--coordinator",
                f"localhost:{port}",
                "--num-processes",
                "2",
                "--process-id",
                str(i),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
            cwd=dirs[i],
        )
        for i in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    subprocess.run(
        [sys.executable, "-m", "jaxrnn.train", *args],
        check=True,
        env=_env(XLA_FLAGS="--xla_force_host_platform_device_count=2"),
        cwd=dirs[2],
    )
    assert sorted(os.listdir(dirs[0])) == ["run.ckpt", "run.json"]
    assert os.listdir(dirs[1]) == []  # process 1 wrote nothing
    multi = json.loads((dirs[0] / "run.json").read_text())
    single = json.loads((dirs[2] / "run.json").read_text())
    assert multi["devices"] == 2 and multi["parallel"] == "batch"
    for a, b in zip(multi["history"], single["history"], strict=True):
        for k in ("train_loss", "train_acc", "test_loss", "test_acc"):
            np.testing.assert_allclose(a[k], b[k], rtol=1e-10)
    pm, ps = (load_checkpoint(str(d / "run.ckpt")).state.params for d in (dirs[0], dirs[2]))
    for a, b in zip(jax.tree.leaves(pm), jax.tree.leaves(ps), strict=True):
        assert a.dtype == np.float64
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-12)


def test_settings_from_flags_and_environment(monkeypatch):
    for k in distributed.ENV.values():
        monkeypatch.delenv(k, raising=False)
    assert distributed.settings(None, None, None) is None
    assert distributed.settings("h:1", 2, 1) == ("h:1", 2, 1)
    monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "h:2")
    monkeypatch.setenv("JAX_NUM_PROCESSES", "3")
    monkeypatch.setenv("JAX_PROCESS_ID", "2")
    assert distributed.settings(None, None, None) == ("h:2", 3, 2)
    with pytest.raises(ConfigError, match="process-id"):
        distributed.settings(None, None, 5)
    monkeypatch.delenv("JAX_PROCESS_ID")
    with pytest.raises(ConfigError, match="--process-id"):
        distributed.settings(None, None, None)


def test_seeds_that_do_not_split_are_a_clear_error():
    proc = subprocess.run(
        [sys.executable, "-m", "jaxrnn.train", "--seeds", "3", "--devices", "2", "--epochs", "1"],
        capture_output=True,
        text=True,
        env=_env(XLA_FLAGS="--xla_force_host_platform_device_count=2"),
    )
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1  # one line, no traceback
    assert "does not split over 2 devices" in proc.stderr


SHARD_MAP = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import Mesh, PartitionSpec as P
    jax.config.update("jax_enable_x64", True)
    import jaxrnn
    from jaxrnn.nn.sequence import _Options
    assert len(jax.devices()) == 2
    mesh = Mesh(np.array(jax.devices()), ("data",))
    x = np.random.default_rng(0).normal(size=(4, 6, 3))
    lengths = np.array([6, 2, 0, 5])
    from jaxrnn.nn import bptt
    bptt._avx512 = lambda: False  # the feature-major rule as on an AVX2 CPU, whatever runs this
    for cell, bidir, kw in [("lstm", True, {}), ("gru", False, {"impl": "autodiff"}),
                            ("rnn", True, {"_options": _Options(stack_directions=True)}),
                            ("lru", True, {}), ("minlstm", True, {}),  # parallel cells
                            ("gru", True, {"feature_major": True})]:
        # the step matmul feature-major (on by default from H = 256)
        bptt.FEATURE_MAJOR_MIN_HIDDEN = 1 if kw.pop("feature_major", False) else 256
        layer = jaxrnn.RecurrentLayer(cell, 5, 2, bidir, **kw)
        params = layer.init(jax.random.key(0), 3, jnp.float64)

        def loss(p, x, lengths):
            return jnp.sum(jnp.sin(layer.apply(p, x, lengths)[0]))

        grad = jax.grad(loss, argnums=(0, 1))
        ref = jax.jit(grad)(params, x, lengths)
        sharded = jax.jit(jax.shard_map(grad, mesh=mesh, in_specs=(P(), P("data"), P("data")),
                                        out_specs=(P(), P("data"))))(params, x, lengths)
        for a, b in zip(jax.tree.leaves(ref), jax.tree.leaves(sharded), strict=True):
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)
    # no lengths (a language model's chunks): the LRU's decay is made of the replicated
    # weights alone, so the scan's hand-written VJP sums its gradient over the devices
    layer = jaxrnn.RecurrentLayer("lru", 5, 1, False)
    params = layer.init(jax.random.key(1), 3, jnp.float64)
    grad = jax.grad(lambda p, x: jnp.sum(jnp.sin(layer.apply(p, x)[0])), argnums=(0, 1))
    ref = jax.jit(grad)(params, x)
    sharded = jax.jit(jax.shard_map(grad, mesh=mesh, in_specs=(P(), P("data")),
                                    out_specs=(P(), P("data"))))(params, x)
    for a, b in zip(jax.tree.leaves(ref), jax.tree.leaves(sharded), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)
    print("ok")
""")


def test_layers_inside_shard_map_give_the_single_device_gradients():
    """A batch split over 2 devices with ``jax.shard_map`` (check_vma on): the loops keep
    their carry types and the replicated weights' gradients are the sums over devices."""
    proc = subprocess.run(
        [sys.executable, "-c", SHARD_MAP],
        capture_output=True,
        text=True,
        env=_env(XLA_FLAGS="--xla_force_host_platform_device_count=2"),
    )
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]


# --------------------------------------------------------------------------- --data-parallel auto


def test_data_parallel_auto_rule():
    """auto: shard_map from SHARD_MAP_ROWS_PER_DEVICE rows per device, else xla; the CLI asks
    XLA for one CPU device per core only where that applies and nobody chose otherwise."""
    from jaxrnn.cli.train import host_devices
    from jaxrnn.runs.config import SHARD_MAP_ROWS_PER_DEVICE as R
    from jaxrnn.runs.config import TrainConfig, resolve_config
    from jaxrnn.runs.plan import Parallel, uses_shard_map

    def cfg(**kw):
        return resolve_config(TrainConfig(**{"model": "gru", **kw}))

    assert host_devices(cfg(batch_size=2 * R), 1, {}, 2) == 2
    assert host_devices(cfg(batch_size=2 * R - 1), 1, {}, 2) == 0  # too few rows per core
    assert host_devices(cfg(batch_size=4 * R), 1, {}, 4) == 4
    assert host_devices(cfg(batch_size=2 * R), 2, {}, 2) == 0  # several seeds: split seeds
    assert host_devices(cfg(batch_size=2 * R, data_parallel="xla"), 1, {}, 2) == 0
    assert host_devices(cfg(batch_size=2 * R, backend="numpy"), 1, {}, 2) == 0
    assert host_devices(cfg(batch_size=2 * R), 1, {}, 1) == 0
    flags = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    assert host_devices(cfg(batch_size=2 * R), 1, flags, 2) == 0  # the user's own count
    assert host_devices(cfg(batch_size=2 * R), 1, {"JAX_PLATFORMS": "cuda"}, 2) == 0

    class Mesh2:
        size = 2

    batch = Parallel(Mesh2(), "batch", None, None)
    assert uses_shard_map(cfg(batch_size=2 * R), batch)
    assert not uses_shard_map(cfg(batch_size=6), batch)  # small batches keep xla's numbers
    assert uses_shard_map(cfg(batch_size=6, data_parallel="shard_map"), batch)
    assert not uses_shard_map(cfg(batch_size=2 * R), Parallel(Mesh2(), "seed", None, None))
    assert not uses_shard_map(cfg(batch_size=2 * R), None)
    # a language model: from 16 streams per device
    assert host_devices(cfg(task="lm", model="lstm", batch_size=32), 1, {}, 2) == 2
    assert host_devices(cfg(task="lm", model="lstm", batch_size=30), 1, {}, 2) == 0
    assert uses_shard_map(cfg(task="lm", model="lstm", batch_size=32), batch)
    assert not uses_shard_map(cfg(task="lm", model="lstm", batch_size=16), batch)


def test_a_resume_takes_the_devices_of_the_run_it_resumes(tmp_path):
    """--resume reads the checkpoint's config (without JAX) before JAX starts, so a run
    trained on one device per core goes on that way, with the same arithmetic; --devices
    and --data-parallel given beside --resume still decide."""
    import dataclasses

    from jaxrnn.cli.train import _resumed, _saved_meta, build_parser, host_devices
    from jaxrnn.runs.config import TrainConfig, resolve_config
    from jaxrnn.training import checkpoint_file

    path = str(tmp_path / "lm.ckpt")
    saved = resolve_config(TrainConfig(task="lm", model="lstm", batch_size=32))
    checkpoint_file.save(path, {"config": dataclasses.asdict(saved), "seeds": [0]}, [])

    def cores_used(*flags):
        argv = ["--resume", path, *flags]
        cfg, seeds = _resumed(_saved_meta(path), build_parser().parse_args(argv), argv)
        return host_devices(resolve_config(cfg), seeds, {}, 2)

    assert cores_used() == 2
    assert cores_used("--epochs", "9") == 2
    assert cores_used("--devices", "1") == 0
    assert cores_used("--data-parallel", "xla") == 0
    checkpoint_file.save(path, {"config": dataclasses.asdict(saved), "seeds": [0, 1]}, [])
    assert cores_used() == 0  # several seeds: split seeds, not devices per core


def test_cli_uses_every_core_for_large_batches(tmp_path):
    """python -m jaxrnn.train with a batch of SHARD_MAP_ROWS_PER_DEVICE rows per core trains
    on one CPU device per core with shard_map (and one device when XLA_FLAGS says so)."""
    from jaxrnn.runs.config import SHARD_MAP_ROWS_PER_DEVICE as R

    cores = os.cpu_count() or 1
    if cores < 2:
        pytest.fail("this test needs a machine with at least 2 cores")
    data = tmp_path / "emo.csv"
    n_per_class = -(-R * cores * 2 // 6)
    subprocess.run([sys.executable, "-m", "jaxrnn.data.synthetic", "--out", str(data),
                    "--n-per-class", str(n_per_class), "--classes", "joy,sadness,anger,fear,"
                    "love,surprise"], check=True, capture_output=True)  # fmt: skip
    out = {}
    for name, flags in (("auto", None), ("one", "--xla_force_host_platform_device_count=1")):
        js = tmp_path / f"{name}.json"
        run_env = dict(os.environ, XLA_FLAGS=_flags(flags))  # no device count: auto
        proc = subprocess.run(
            [sys.executable, "-m", "jaxrnn.train", "--data", str(data), "--model", "gru",
             "--hidden", "4", "--epochs", "1", "--batch-size", str(R * cores), "--quiet",
             "--json", str(js)], capture_output=True, text=True, env=run_env, cwd=ROOT,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        out[name] = json.loads(js.read_text())
    assert out["auto"]["devices"] == cores and out["auto"]["data_parallel"] == "shard_map"
    assert out["one"]["devices"] == 1 and out["one"]["data_parallel"] is None
