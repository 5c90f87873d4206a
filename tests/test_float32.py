"""float32 as users run it: x64 off, in a subprocess (this suite's conftest turns x64 on).

One subprocess runs the user-facing paths in float32 and prints what it measured as JSON;
the tests below assert on it. The ``rnn_fast`` case compiles each of its runs; then the
compile cache goes on, as users run (the session's, see conftest), and a resumed run hits the
program the uninterrupted one compiled: they are one program whatever the chunk lengths.

* resume: a run stopped at an epoch that does not line up with the uninterrupted run's
  logging interval, then resumed, equals the uninterrupted run bit for bit (parameters and
  every logged metric), for the per-sample study RNN (``--compile auto``, and ``fast``,
  where XLA compiled chunks of different lengths differently) and a dropout + Adam model;
  and a GRU trained on length buckets (``--buckets 3``: a batch schedule per epoch);
* train: parameters are float32, metrics finite;
* several seeds: seed ``i`` of a vmapped multi-seed run equals a single run of seed ``i``
  to float32 tolerance (the vmapped program rounds differently);
* predict: the checkpoint's ``Predictor`` gives the in-memory result's probabilities, and
  its labels on the test texts give the run's own test report.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import json, sys, time
import jax
import numpy as np
from jaxrnn.util import cache as _cache
from jaxrnn import runs as T
from jaxrnn.cli.predict import Predictor
from jaxrnn.runs.prepare import load_texts

assert not jax.config.jax_enable_x64
d = sys.argv[1]
out = {}


def leaves(params):
    return [np.asarray(a) for a in jax.tree.leaves(params)]


def max_diff(a, b):
    return max(float(np.max(np.abs(x.astype(np.float64) - y))) for x, y in
               zip(leaves(a), leaves(b), strict=True))


# Resume, as in the CLI: an uninterrupted run (chunks of E/10 epochs, its logging interval)
# against 7 epochs, then resumed to E (chunks 7 -> 2E/10, ...). E is long enough that
# `--compile auto` would pick a full compile for it and fast for the 7 epochs, were it not
# for the checkpoints. Both runs checkpoint, as a resumable run does.
CASES = {
    "rnn_fast": dict(model="rnn", epochs=60, compile_mode="fast"),  # first: no compile cache yet
    "rnn": dict(model="rnn", epochs=60),
    "lstm_dropout_adam": dict(model="lstm", epochs=30),
    "gru_buckets": dict(model="gru", hidden=8, epochs=12, buckets=3),  # lax.switch per batch
}
for name, kw in CASES.items():
    t0 = time.perf_counter()
    if name == "rnn":
        _cache.enable()  # the session's (conftest), as the CLI turns it on
    full = T.fit(T.TrainConfig(**kw), save=f"{d}/{name}_full.ckpt")
    T.fit(T.TrainConfig(**{**kw, "epochs": 7}), save=f"{d}/{name}.ckpt")
    res = T.fit(T.TrainConfig(epochs=kw["epochs"]), resume=f"{d}/{name}.ckpt")
    out[f"time_{name}"] = time.perf_counter() - t0
    out[f"resume_{name}"] = {
        "dtypes": sorted({str(a.dtype) for a in leaves(res.params)}),
        "params_equal": all(np.array_equal(x, y) for x, y in
                            zip(leaves(full.params), leaves(res.params), strict=True)),
        "max_diff": max_diff(full.params, res.params),
        "history_equal": full.history == res.history,
        "xla_options": [full.extra["xla_options"], res.extra["xla_options"]],
        "compile_s": [full.compile_s, res.compile_s],
    }

# Several seeds (vmapped: a GRU of 8 is below the sequential-seeds threshold) against
# single runs, and predict from the multi-seed checkpoint against the in-memory result.
cfg = dict(model="gru", hidden=8, epochs=4, lr=3e-2, compile_mode="fast")  # quick to compile
t0 = time.perf_counter()
multi = T.fit(T.TrainConfig(**cfg), seeds=2, save=f"{d}/gru.ckpt")
out["seed_group"] = multi.extra["seed_group"]
out["multi_dtypes"] = sorted({str(a.dtype) for a in leaves(multi.params)})
out["finite"] = bool(np.isfinite([list(r.values()) for r in multi.history]).all())
for i in range(2):
    one = T.fit(T.TrainConfig(**cfg, seed=i), save=f"{d}/gru{i}.ckpt")  # 1 compile: same program
    seed_i = jax.tree.map(lambda a, i=i: a[i], multi.params)
    out[f"seed{i}_param_diff"] = max_diff(one.params, seed_i)
    out[f"seed{i}_hist_diff"] = max(abs(a[k] - b[k]) for a, b in
                                    zip(one.history, multi.histories[i], strict=True) for k in a)

out["time_seeds"] = time.perf_counter() - t0
t0 = time.perf_counter()
data = load_texts(T.resolve_config(T.TrainConfig(**cfg)))
names = [str(x) for x in multi.label_names]
texts = list(data.test.texts) + ["", "zzz unknown words", "i am not happy"]
from_file = Predictor(f"{d}/gru.ckpt", batch_size=8)
out["predict_prob_diff"] = float(np.max(np.abs(
    from_file.predict_proba(texts) - multi.predictor(batch_size=8).predict_proba(texts))))
out["predict_dtype"] = str(from_file.predict_proba(texts[:2]).dtype)
# The labels a one-seed checkpoint predicts for the test texts give the run's own report.
labels = [r["label"] for r in Predictor(f"{d}/gru1.ckpt").predict(list(data.test.texts))]
conf = np.zeros((len(names), len(names)), int)
for t, p in zip(data.test.labels, labels, strict=True):
    conf[int(t), names.index(p)] += 1
out["confusion"] = conf.tolist()
out["run_confusion"] = one.reports[0]["confusion"]
out["time_predict"] = time.perf_counter() - t0
print("RESULT " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def f32(tmp_path_factory):
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    env.update(JAX_ENABLE_X64="0")
    d = tmp_path_factory.mktemp("f32")
    p = subprocess.run([sys.executable, "-c", SCRIPT, str(d)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600)  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    line = next(x for x in p.stdout.splitlines() if x.startswith("RESULT "))
    out = json.loads(line.removeprefix("RESULT "))
    print({k: v for k, v in out.items() if k.startswith(("time", "resume")) or "diff" in k})
    return out


@pytest.mark.parametrize("name", ["rnn", "rnn_fast", "lstm_dropout_adam", "gru_buckets"])
def test_float32_resume_at_a_misaligned_epoch_is_bit_for_bit(f32, name):
    r = f32[f"resume_{name}"]
    assert r["dtypes"] == ["float32"] or r["dtypes"] == ["float32", "uint32"]
    assert r["params_equal"], r["max_diff"]
    assert r["history_equal"]
    assert r["xla_options"][0] == r["xla_options"][1]


def test_float32_training_and_seeds(f32):
    assert f32["multi_dtypes"] == ["float32"] and f32["finite"]
    assert f32["seed_group"] == 2  # vmapped: a different program from a single run's
    for i in range(2):
        assert f32[f"seed{i}_param_diff"] < 1e-5
        assert f32[f"seed{i}_hist_diff"] < 1e-5


def test_float32_predict_matches_the_trained_result(f32):
    assert f32["predict_dtype"] == "float32"
    assert f32["predict_prob_diff"] < 1e-6
    assert f32["confusion"] == f32["run_confusion"]
    assert np.sum(f32["confusion"]) == 20
