"""Checkpoints: safe format, atomic writes, bit-for-bit resume, NaN keeps the last good one."""

import os
import signal
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrnn import runs as T
from jaxrnn.errors import CheckpointError, TrainingDiverged
from jaxrnn.training import checkpoint_file as checkpoint


def test_roundtrip_and_no_pickle(tmp_path):
    p = tmp_path / "c.ckpt"
    arrays = [
        np.arange(6, dtype=np.float32).reshape(2, 3),
        np.array([1, 2], np.uint32),
        np.float64(3.5),
    ]
    checkpoint.save(p, {"a": [1, "x", None], "b": {"c": 2.5}}, arrays)
    meta, back = checkpoint.load(p)
    assert meta == {"a": [1, "x", None], "b": {"c": 2.5}}
    for a, b in zip(arrays, back, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert b"pickle" not in p.read_bytes() and os.listdir(tmp_path) == ["c.ckpt"]


@pytest.mark.parametrize(
    "mangle,needle",
    [
        (lambda b: b[: len(b) // 2], "truncated"),
        (lambda b: b[:5], "truncated"),
        (lambda b: b[:-1] + bytes([b[-1] ^ 1]), "corrupted"),
        (lambda b: b + b"x", "corrupted"),
        (lambda b: b"PK\x03\x04" + b[4:], "not a jaxrnn checkpoint"),
        (lambda b: b'{"train": []}', "not a jaxrnn checkpoint"),
        (lambda b: b"", "empty"),
        (lambda b: b[:8] + (99).to_bytes(4, "little") + b[12:], "newer"),
    ],
)
def test_bad_files_give_one_line_errors(tmp_path, mangle, needle):
    p = tmp_path / "c.ckpt"
    checkpoint.save(p, {"k": 1}, [np.ones(100, np.float32)])
    p.write_bytes(mangle(p.read_bytes()))
    with pytest.raises(CheckpointError, match=needle) as e:
        checkpoint.load(p)
    assert "\n" not in str(e.value)


def test_missing_and_directory(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        checkpoint.load(tmp_path / "nope")
    with pytest.raises(CheckpointError, match="directory"):
        checkpoint.load(tmp_path)


def test_failed_write_leaves_previous_checkpoint(tmp_path, monkeypatch):
    p = tmp_path / "c.ckpt"
    checkpoint.save(p, {"v": 1}, [np.zeros(3)])

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        checkpoint.save(p, {"v": 2}, [np.ones(3)])
    monkeypatch.undo()
    assert checkpoint.load(p)[0] == {"v": 1}
    assert os.listdir(tmp_path) == ["c.ckpt"]  # no temp file left behind


# Saves checkpoint 1, then starts checkpoint 2 and blocks once half of it is in the temp
# file (jaxrnn.util.atomic's test hook), having told the parent where that file is.
WRITER = """
import sys, time
import numpy as np
from jaxrnn.util import atomic as _atomic
from jaxrnn.training import checkpoint_file as checkpoint

big = np.arange(1_000_000, dtype=np.float32)
checkpoint.save(sys.argv[1], {"i": 1}, [big + 1])
print("saved", flush=True)

def block(tmp):
    print("mid-write", tmp, flush=True)
    time.sleep(600)

_atomic._mid_write_hook = block
checkpoint.save(sys.argv[1], {"i": 2}, [big + 2])
print("finished", flush=True)
"""


def test_kill_mid_write_leaves_the_previous_checkpoint_whole(tmp_path):
    """SIGKILL the writer while it is blocked halfway through writing checkpoint 2 (not at
    a random instant: the kill lands inside the write window every time)."""
    p = tmp_path / "c.ckpt"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(p)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline() == "saved\n"
        first = p.read_bytes()
        tag, tmp = proc.stdout.readline().split()  # the writer is blocked mid-write now
        assert tag == "mid-write"
        partial = os.path.getsize(tmp)
        assert 0 < partial < len(first)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # The previous checkpoint is whole and loads ...
    meta, (arr,) = checkpoint.load(p)
    assert meta == {"i": 1} and np.array_equal(arr, np.arange(1_000_000, dtype=np.float32) + 1)
    assert p.read_bytes() == first
    # ... and the half-written temp file is still there: the kill did land mid-write.
    assert sorted(os.listdir(tmp_path)) == sorted(["c.ckpt", os.path.basename(tmp)])
    assert os.path.getsize(tmp) == partial


def test_atomic_write_text_and_mode(tmp_path):
    from jaxrnn.util.atomic import atomic_write

    p = tmp_path / "sub" / "f.txt"
    atomic_write(p, "h\u00e9llo\n")  # missing parents are created
    assert p.read_bytes() == "h\u00e9llo\n".encode() and p.stat().st_mode & 0o777 == 0o644
    os.chmod(p, 0o600)
    atomic_write(p, b"again", fsync=False)  # the replaced file's mode is kept
    assert p.read_bytes() == b"again" and p.stat().st_mode & 0o777 == 0o600
    assert os.listdir(p.parent) == ["f.txt"]


# ---------------------------------------------------------------------------- training state


def _histories_equal(a, b):
    assert len(a) == len(b)
    for ra, rb in zip(a, b, strict=True):
        assert ra == rb  # exact: same floats


@pytest.mark.parametrize(
    "kw",
    [
        # the hand-written-BPTT fast path; no dropout, so its PRNG key is never read (a key
        # re-drawn on resume cannot show here; sample orders re-drawn do)
        dict(model="rnn", hidden=16, epochs=6),
        dict(model="simple_rnn", hidden=8, epochs=6, dropout=0.3),  # Adam state + dropout keys
        dict(model="bilru", hidden=4, epochs=6, dropout=0.3),  # a parallel cell's own params
    ],
    ids=["rnn", "simple_rnn", "bilru"],
)
def test_resume_reproduces_the_uninterrupted_run_bit_for_bit(tmp_path, kw):
    # Both runs checkpoint, so --compile auto compiles both in full (plan.compiler_options).
    full = T.fit(T.TrainConfig(**kw), log_every=1, save=str(tmp_path / "full.ckpt"))
    ck = tmp_path / "run.ckpt"
    # Stop after 2 epochs (as if killed there), then resume to 6.
    T.fit(T.TrainConfig(**{**kw, "epochs": 2}), save=str(ck))
    restored = T.load_checkpoint(str(ck))
    assert restored.epoch == 2 and len(restored.histories[0]) == 2
    resumed = T.fit(T.TrainConfig(epochs=6), resume=str(ck), save=str(ck), log_every=1)
    _histories_equal(resumed.history, full.history)
    for a, b in zip(jax.tree.leaves(resumed.params), jax.tree.leaves(full.params), strict=True):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    assert T.load_checkpoint(str(ck)).epoch == 6  # save=resume path: continued in place


def test_checkpoint_holds_config_tokenizer_and_state(tmp_path):
    ck = tmp_path / "c.ckpt"
    T.fit(T.TrainConfig(model="gru", hidden=4, epochs=2, seed=7), save=str(ck))
    r = T.load_checkpoint(str(ck))
    assert r.config.model == "gru" and r.config.hidden == 4 and r.seeds == [7]
    assert r.tokenizer.word_index["not"] == 1 and r.label_names == ["negative", "positive"]
    assert r.state.params["rnn"][0][0].w_hh.shape == (12, 4)


def test_cli_resume_of_a_bad_file_exits_2(tmp_path):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"JAXRNNCK" + b"\x01\x00")
    proc = subprocess.run(
        [sys.executable, "-m", "jaxrnn.train", "--resume", str(bad)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "truncated" in proc.stderr


def test_nan_stops_training_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    """Poison the loss from epoch 3 on: training stops there, the epoch-2 checkpoint stays."""
    from jaxrnn.scratch import shuffle_orders

    seed = next(s for s in range(100) if len({*shuffle_orders(58, 3, s)[:, 0]}) == 3)
    poison_first = int(shuffle_orders(58, 3, seed)[2, 0])  # first sample of epoch 3
    from jaxrnn.runs import jax_run

    real_make_run = jax_run.make_run

    def make_run(*args, **kwargs):
        run = real_make_run(*args, **kwargs)

        def poisoned(state, train, test, orders, val=None, count=None):
            state, (metrics, preds) = run(state, train, test, orders, val, count)
            return state, (jnp.where(orders[0, 0] == poison_first, jnp.nan, metrics), preds)

        return poisoned

    monkeypatch.setattr(jax_run, "make_run", make_run)
    ck = tmp_path / "c.ckpt"
    with pytest.raises(TrainingDiverged, match="epoch 3.*last good checkpoint") as e:
        T.fit(
            T.TrainConfig(model="gru", hidden=4, epochs=5, seed=seed),
            save=str(ck),
            save_every=1,
            log_every=1,
        )
    assert e.value.exit_code == 1
    assert T.load_checkpoint(str(ck)).epoch == 2


def test_resume_with_early_stopping_trains_on_unless_patience_stopped_it(tmp_path):
    """A run that reached its last epoch (not a patience stop) resumes for more epochs and
    trains them; one stopped by patience stays stopped. A stopped seed trains no batch, so
    its train loss (then an evaluation of the kept params) stays put."""
    kw = dict(model="gru", hidden=4, embed_dim=4, batch_size=8, val_fraction=0.2, lr=1e-2)
    ck = tmp_path / "es.ckpt"
    T.fit(T.TrainConfig(**kw, epochs=2, early_stopping=50), save=str(ck))
    resumed = T.fit(T.TrainConfig(epochs=4), resume=str(ck))
    loss = [h["train_loss"] for h in resumed.history]
    assert len(loss) == 4 and len({loss[1], loss[2], loss[3]}) == 3  # epochs 3, 4 trained
    # a rate too small to improve the validation loss: patience 1 stops it, it stays stopped
    ck2 = tmp_path / "es2.ckpt"
    T.fit(T.TrainConfig(**{**kw, "lr": 1e-12}, epochs=4, early_stopping=1), save=str(ck2))
    saved = T.load_checkpoint(str(ck2))
    assert int(np.asarray(saved.state.best.epochs).reshape(-1)[0]) < 4  # stopped by patience
    again = T.fit(T.TrainConfig(epochs=6), resume=str(ck2))
    for a, b in zip(jax.tree.leaves(again.params), jax.tree.leaves(saved.state.params),
                    strict=True):  # fmt: skip
        assert np.array_equal(np.asarray(a).reshape(-1), np.asarray(b).reshape(-1))
