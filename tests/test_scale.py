"""Real data sizes (issue 17): --max-len auto against outliers, memory known before
compiling, length bucketing. Tiny models, one or two epochs."""

from __future__ import annotations

import itertools
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxrnn import loop
from jaxrnn.data.arrays import Arrays
from jaxrnn.data.buckets import (
    batch_schedule,
    bucket_bounds,
    bucket_of,
    num_batches,
    padded_tokens,
    split_buckets,
)
from jaxrnn.data.synthetic import make_emotions, spread_lengths, write_table
from jaxrnn.train import cli
from jaxrnn.train.data import auto_max_len

GRU = ["--model", "gru", "--hidden", "8", "--epochs", "1"]


@pytest.fixture(scope="module")
def outlier_csv(tmp_path_factory) -> str:
    """240 + 60 texts of 5-100 words and one training row of 20,000 words."""
    ds = spread_lengths(make_emotions(50, seed=0), seed=0, outliers=1)
    path = tmp_path_factory.mktemp("scale") / "outlier.csv"
    write_table(ds, path)
    return str(path)


def test_spread_lengths_has_a_long_tail_and_the_outlier():
    ds = spread_lengths(make_emotions(200, seed=1), seed=1, outliers=2, outlier_words=500)
    n = np.array([len(t.split()) for t in ds.train.texts])
    assert sorted(n)[-2:] == [500, 500] and ds.train.labels[-2:] == [0, 1]
    body = n[:-2]
    assert body.min() >= 5 and body.max() <= 100 and 12 <= np.median(body) <= 18
    assert np.percentile(body, 99) > 3 * np.median(body)  # a tail, not a uniform spread
    again = spread_lengths(make_emotions(200, seed=1), seed=1, outliers=2, outlier_words=500)
    assert again == ds  # seeded


def test_auto_max_len_ignores_an_outlier_but_not_a_plain_longest():
    short = np.r_[np.full(980, 10), np.full(20, 30)]
    assert auto_max_len(short) == 30  # no outlier: the longest, nothing cut
    assert auto_max_len(np.r_[short, 20_000]) == 45  # 1.5 x the 99% quantile (30)
    assert auto_max_len([]) == 1 and auto_max_len([0, 0]) == 1


def test_outlier_file_trains_with_default_max_len_and_says_what_it_cut(outlier_csv, capsys):
    assert cli.main(["--data", outlier_csv, *GRU]) == 0
    cap = capsys.readouterr()
    note = [ln for ln in cap.err.splitlines() if ln.startswith("note: --max-len auto")]
    assert len(note) == 1 and "longest training text (20000 tokens)" in note[0]
    assert "1 training and 0 test text truncated" in note[0]
    assert "note: 1 text was longer than max_len" in cap.out and "(auto)" in cap.out


def test_memory_estimate_is_near_xla_and_a_run_that_cannot_fit_says_so(outlier_csv, tmp_path,
                                                                       capsys, monkeypatch):
    out = tmp_path / "r.json"
    assert cli.main(["--data", outlier_csv, *GRU, "--quiet", "--json", str(out)]) == 0
    mem = json.loads(out.read_text())["memory"]
    assert 0.5 < mem["estimate_activation_bytes"] / mem["xla_temp_bytes"] < 2
    capsys.readouterr()
    monkeypatch.setenv("JAXRNN_MEMORY_LIMIT", str(mem["estimate_bytes"] * 2))
    assert cli.main(["--data", outlier_csv, *GRU, "--quiet", "--max-len", "20000"]) == 2
    err = capsys.readouterr().err
    errors = [ln for ln in err.splitlines() if not ln.startswith("note: ")]  # padding note
    assert len(errors) == 1 and errors[0].startswith("error: this run needs about ")
    assert "lower --max-len (--max-len " in errors[0]  # the length that fits


# Length buckets --------------------------------------------------------------------------


def _toy(n=37, t=12, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, t + 1, n).astype(np.int32)
    ids = (rng.integers(1, 20, (n, t)) * (np.arange(t) < lengths[:, None])).astype(np.int32)
    return Arrays(ids, lengths, rng.integers(0, 3, n).astype(np.int32))


def test_bucket_bounds_are_the_least_padding():
    rng = np.random.default_rng(0)
    for _ in range(30):
        lengths = rng.integers(0, 25, rng.integers(1, 30))
        k = int(rng.integers(1, 5))
        u = np.unique(np.maximum(lengths, 1))
        best = min(padded_tokens(lengths, [*c, int(u[-1])]) for r in range(min(k, len(u)))
                   for c in itertools.combinations(u[:-1].tolist(), r))  # fmt: skip
        got = bucket_bounds(lengths, k)
        assert padded_tokens(lengths, got) == best and len(got) <= k and got[-1] == u[-1]


def test_schedule_visits_every_row_once_in_whole_buckets():
    data = _toy()
    bounds = bucket_bounds(data.lengths, 3)
    parts, inverse = split_buckets(data, bounds)
    order = np.random.default_rng(1).permutation(len(data.labels))
    part, idx = batch_schedule(order, data.lengths, bounds, 8)
    assert len(part) == num_batches(data.lengths, bounds, 8)
    labels = [parts[p].labels[i] for p, row in zip(part, idx, strict=True) for i in row if i >= 0]
    ids = np.concatenate([p.labels for p in parts])
    assert sorted(labels) == sorted(data.labels.tolist()) and (ids[inverse] == data.labels).all()
    assert len(set(part[:3].tolist())) > 1 or len(parts) == 1  # buckets interleaved


@pytest.fixture(scope="module")
def toy_model():
    from jaxrnn import models, sequence

    return models.Classifier(sequence.RecurrentLayer("lstm", 6, 1, True), 20, 4, num_classes=3)


def test_bucketed_evaluation_equals_padded_evaluation(toy_model):
    data = _toy()
    params = loop.init_state(toy_model, optax.adam(1e-2), 0, jnp.float64).params
    bounds = bucket_bounds(data.lengths, 3)
    parts, inverse = split_buckets(data, bounds)
    b = jax.tree.map(jnp.asarray, loop.Bucketed(tuple(parts), inverse))
    ev = jax.jit(lambda p, d: loop.evaluate(toy_model, None, p, d, 16))
    m0, p0 = ev(params, jax.tree.map(jnp.asarray, data))
    m1, p1 = ev(params, b)
    np.testing.assert_allclose(m1, m0, rtol=1e-12)
    np.testing.assert_array_equal(p1, p0)


def test_a_bucketed_epoch_takes_the_scheduled_steps(toy_model):
    """One compiled epoch over buckets (lax.switch) equals train_step on the same batches,
    each padded to the full length (masking: padding changes nothing), float64."""
    data, bs, opt = _toy(), 8, optax.adam(1e-2)
    bounds = bucket_bounds(data.lengths, 3)
    parts, inverse = split_buckets(data, bounds)
    order = np.random.default_rng(2).permutation(len(data.labels))
    part, idx = batch_schedule(order, data.lengths, bounds, bs)
    state = loop.init_state(toy_model, opt, 0, jnp.float64)
    run = jax.jit(loop.make_run_epochs(toy_model, opt, bs, 1))
    dev = jax.tree.map(jnp.asarray, (loop.Bucketed(tuple(parts), inverse), data))
    got, metrics = run(state, *dev, loop.Schedule(part[None], idx[None]))
    # the same steps, by hand, on rows padded to the full length
    rows_of = [np.flatnonzero(np.asarray(bucket_of(data.lengths, bounds)) == b)
               for b in range(len(bounds))]  # fmt: skip
    rows_of = [r for r in rows_of if len(r)]
    step = jax.jit(loop.train_step(toy_model, opt))
    key, _, k_drop = jax.random.split(jax.random.wrap_key_data(state.key), 3)
    keys = jax.random.split(k_drop, len(part))
    want = state
    for p, row, k in zip(part, idx, keys, strict=True):
        rows = np.where(row >= 0, rows_of[p][np.maximum(row, 0)], 0)
        w = (row >= 0).astype(np.float64)
        want, _ = step(want, loop.Batch(Arrays(*(a[rows] for a in data)), jnp.asarray(w)), k)
    for g, w in zip(jax.tree.leaves(got.params), jax.tree.leaves(want.params), strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12)
