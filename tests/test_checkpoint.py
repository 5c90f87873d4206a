"""Checkpoints: safe format, atomic writes, bit-for-bit resume, NaN keeps the last good one."""

import hashlib
import os
import signal
import struct
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
        (lambda b: b[:5], r"truncated \(5 bytes\)"),
        (lambda b: b[:52], r"truncated \(0 of \d+ payload bytes\)"),  # the header only
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


def test_the_file_is_the_documented_layout_and_a_hand_written_one_loads(tmp_path):
    """Magic, format version 1, payload length, SHA-256, then the msgpack payload (the module
    docstring's table): what is written, and a file built by hand to it reads back."""
    import msgpack

    p = tmp_path / "c.ckpt"
    checkpoint.save(p, {"k": "v"}, [np.arange(3, dtype=np.int32)])
    blob = p.read_bytes()
    magic, version, n, digest = struct.unpack_from("<8sIQ32s", blob)
    assert (magic, version, n) == (b"JAXRNNCK", 1, len(blob) - 52)
    assert digest == hashlib.sha256(blob[52:]).digest()
    data = np.arange(3, dtype="<i4").tobytes()
    assert msgpack.unpackb(blob[52:]) == {
        "meta": {"k": "v"}, "arrays": [{"dtype": "int32", "shape": [3], "data": data}]}
    p.write_bytes(_file({"meta": {"x": [1.5]}, "arrays": [
        {"dtype": "float64", "shape": [2, 1], "data": np.array([1.0, 2.0]).tobytes()}]}))
    meta, (a,) = checkpoint.load(p)
    assert meta == {"x": [1.5]} and a.dtype == np.float64 and a.tolist() == [[1.0], [2.0]]


def _file(obj, version: int = 1) -> bytes:
    """A checkpoint file built by hand: the header over ``obj`` packed with msgpack."""
    import msgpack

    payload = msgpack.packb(obj, use_bin_type=True)
    digest = hashlib.sha256(payload).digest()
    return struct.pack("<8sIQ32s", b"JAXRNNCK", version, len(payload), digest) + payload


@pytest.mark.parametrize(
    "obj,needle",
    [
        ({"meta": [1], "arrays": []}, "wrong structure"),  # meta not a map
        ({"meta": {}, "arrays": {"a": 1}}, "wrong structure"),  # arrays not a list
        ({"meta": "x", "arrays": 3}, "wrong structure"),
        ({"meta": {1: "x"}, "arrays": []}, "cannot be decoded"),  # a key that is not a str
        ({"arrays": []}, "cannot be decoded"),
        ({"meta": {}, "arrays": [{"dtype": "object", "shape": [1], "data": b"x"}]},
         "malformed"),
        ({"meta": {}, "arrays": [{"dtype": "int32", "shape": [2], "data": b"abc"}]},
         "malformed"),
    ],
)
def test_well_checksummed_payloads_of_the_wrong_shape_are_refused(tmp_path, obj, needle):
    p = tmp_path / "c.ckpt"
    p.write_bytes(_file(obj))
    with pytest.raises(CheckpointError, match=needle) as e:
        checkpoint.load(p)
    assert "\n" not in str(e.value)


def test_metadata_that_could_not_be_read_back_is_refused_when_saving(tmp_path):
    """A map key that is not a str (at any depth) or an array dtype outside the whitelist:
    ``TypeError`` before anything is written (such a file would never load)."""
    p = tmp_path / "c.ckpt"
    for meta in ({1: "x"}, {"a": {"b": {2: 3}}}, {"a": [{"ok": 1}, {(1, 2): 0}]}):
        with pytest.raises(TypeError, match="keys must be strings"):
            checkpoint.save(p, meta, [])
    with pytest.raises(TypeError, match="dtype"):
        checkpoint.save(p, {}, [np.array(["s"])])
    assert os.listdir(tmp_path) == []
    checkpoint.save(p, {"a": [{"b": [1, {"c": None}]}], "d": ()}, [])
    assert checkpoint.load(p)[0] == {"a": [{"b": [1, {"c": None}]}], "d": []}


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


@pytest.fixture(scope="module")
def gru_checkpoint(tmp_path_factory):
    """A float32 GRU run's checkpoint (hidden 4, 2 epochs, seed 7), written once."""
    ck = tmp_path_factory.mktemp("gru") / "c.ckpt"
    T.fit(T.TrainConfig(model="gru", hidden=4, epochs=2, seed=7), save=str(ck))
    return ck


def test_checkpoint_holds_config_tokenizer_and_state(gru_checkpoint):
    r = T.load_checkpoint(str(gru_checkpoint))
    assert r.config.model == "gru" and r.config.hidden == 4 and r.seeds == [7]
    assert r.tokenizer.word_index["not"] == 1 and r.label_names == ["negative", "positive"]
    assert r.state.params["rnn"][0][0].w_hh.shape == (12, 4)


def test_a_checkpoint_whose_arrays_do_not_match_its_config_is_refused(tmp_path, gru_checkpoint):
    """One-line ``CheckpointError`` for an array missing or extra, a shape or a dtype changed,
    or a configuration edited to another size (not an error from deep inside JAX)."""
    meta, arrays = checkpoint.load(gru_checkpoint)
    i = next(i for i, a in enumerate(arrays) if a.dtype == np.float32 and a.ndim == 2)
    bigger = {**meta, "config": {**meta["config"], "hidden": 5}}
    cases = {
        "array missing": (meta, arrays[:-1]),
        "array extra": (meta, [*arrays, np.zeros(2, np.float32)]),
        "shape changed": (meta, [*arrays[:i], arrays[i][:-1], *arrays[i + 1 :]]),
        "dtype changed": (meta, [*arrays[:i], arrays[i].astype(np.float64), *arrays[i + 1 :]]),
        "config edited": (bigger, arrays),
    }
    p = tmp_path / "bad.ckpt"
    for name, (m, a) in cases.items():
        checkpoint.save(p, m, a)
        with pytest.raises(CheckpointError, match="arrays do not match its configuration",
                           ) as e:  # fmt: skip
            T.load_checkpoint(str(p))
        assert "\n" not in str(e.value), name
    checkpoint.save(p, meta, arrays)  # unchanged: loads
    assert T.load_checkpoint(str(p)).config.hidden == 4


def test_a_checkpoint_from_before_length_buckets_loads_as_trained_without_them(
        tmp_path, gru_checkpoint):  # fmt: skip
    meta, arrays = checkpoint.load(gru_checkpoint)
    old = {**meta, "config": {k: v for k, v in meta["config"].items() if k != "buckets"}}
    p = tmp_path / "old.ckpt"
    checkpoint.save(p, old, arrays)
    assert T.TrainConfig().buckets != 0  # the default today is not "off"
    assert T.load_checkpoint(str(p)).config.buckets == 0


def test_a_float64_checkpoint_turns_float64_on_and_a_float32_one_leaves_it_off(
        tmp_path, gru_checkpoint):  # fmt: skip
    """In a process without ``jax_enable_x64`` a float64 checkpoint restores float64 arrays
    (turning it on); a float32 one does not turn it on."""
    meta, arrays = checkpoint.load(gru_checkpoint)
    assert meta["config"]["dtype"] == "float32"
    p64 = tmp_path / "f64.ckpt"
    checkpoint.save(p64, {**meta, "config": {**meta["config"], "dtype": "float64"}},
                    [a.astype(np.float64) if a.dtype == np.float32 else a for a in arrays])
    jax.config.update("jax_enable_x64", False)
    try:
        r = T.load_checkpoint(str(gru_checkpoint))
        assert not jax.config.jax_enable_x64
        assert {a.dtype for a in jax.tree.leaves(r.state.params)} == {np.dtype(np.float32)}
        r = T.load_checkpoint(str(p64))
        assert jax.config.jax_enable_x64
        assert {a.dtype for a in jax.tree.leaves(r.state.params)} == {np.dtype(np.float64)}
    finally:
        jax.config.update("jax_enable_x64", True)


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

        def poisoned(state, train, test, orders, val=None, count=None, **kw):
            state, (metrics, preds) = run(state, train, test, orders, val, count, **kw)
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


class _Lowered(Exception):
    """Raised by the spy below once the training program is lowered: nothing to compile."""


@pytest.mark.parametrize("extra", [{}, {"eval_every": 2, "early_stopping": 2,
                                        "val_fraction": 0.2}])  # fmt: skip
def test_the_training_program_does_not_depend_on_the_epoch_count(monkeypatch, extra):
    """Runs of 5 and 9 epochs lower to the same program (the run's length is a runtime
    argument), so a resume to more epochs, or a budget's probe and its run, take the
    program from the compile cache. The last epoch (is_scored, early stopping's end) was a
    constant in the program, and a resume compiled afresh."""
    from jaxrnn.runs import jax_run

    texts = []

    def spy(lowered, options):
        texts.append(lowered.as_text())
        raise _Lowered

    monkeypatch.setattr(jax_run, "compile_with", spy)
    for epochs in (5, 9):
        with pytest.raises(_Lowered):
            T.fit(T.TrainConfig(model="gru", hidden=3, epochs=epochs, **extra))
    assert len(texts) == 2 and texts[0] == texts[1]
