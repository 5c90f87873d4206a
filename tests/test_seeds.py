"""Several seeds in one vmapped program equal the same seeds trained one at a time."""

import numpy as np
import pytest

from jaxrnn import runs as T


@pytest.mark.parametrize(
    "kw",
    [
        dict(model="rnn", hidden=8, epochs=3, lr=0.3),
        dict(model="lstm", hidden=3, epochs=1, dropout=0.3),
    ],
    ids=["rnn-fast-path", "lstm-generic"],
)
@pytest.mark.parametrize("group", [3, 2, 1], ids=["vmap", "map-of-vmap-2", "map"])
def test_seed_i_of_a_multi_seed_run_equals_a_single_run(kw, group):
    """All seeds vmapped (group 3), groups of 2 vmapped in a lax.map (with a remainder
    group of 1), or one seed at a time in a lax.map: seed i is the single run of seed i."""
    multi = T.fit(T.TrainConfig(seed=10, dtype="float64", seed_group=group, **kw), seeds=3)
    assert multi.seeds == [10, 11, 12] and multi.extra["seed_group"] == group
    for i, seed in enumerate(multi.seeds):
        single = _single(seed, **kw)
        for k in T.METRIC_NAMES:
            np.testing.assert_allclose(
                [h[k] for h in multi.histories[i]],
                [h[k] for h in single.history],
                rtol=1e-9,
                atol=1e-12,
            )
    # different seeds really differ
    assert multi.histories[0][-1]["train_loss"] != multi.histories[1][-1]["train_loss"]


_SINGLE: dict = {}


def _single(seed, **kw):
    key = (seed, tuple(sorted(kw.items())))
    if key not in _SINGLE:
        _SINGLE[key] = T.fit(T.TrainConfig(seed=seed, dtype="float64", **kw))
    return _SINGLE[key]


def test_seed_group_auto_runs_seeds_one_at_a_time_where_the_cores_are_busy():
    from jaxrnn.runs.config import resolve_config

    def group(model, n=20, **kw):
        return T.seed_group(resolve_config(T.TrainConfig(model=model, **kw)), n)

    # CPU: the per-sample RNN and the LSTM/GRU/BiLSTM presets one at a time, the small
    # SimpleRNN vmapped; an explicit --seed-group wins (capped at the seed count).
    assert [group(m) for m in ("rnn", "simple_rnn", "lstm", "gru", "bilstm")] == [1, 20, 1, 1, 1]
    assert group("lstm", seed_group=4) == 4 and group("lstm", seed_group=64) == 20


def test_multi_seed_json_has_per_seed_and_aggregate():
    res = T.fit(T.TrainConfig(model="gru", hidden=4, epochs=2), seeds=4)
    out = res.to_json()
    assert out["seeds"] == [0, 1, 2, 3] and len(out["per_seed"]) == 4
    finals = [p["final"]["test_acc"] for p in out["per_seed"]]
    agg = out["aggregate"]["final"]["test_acc"]
    assert agg["mean"] == pytest.approx(np.mean(finals))
    assert agg["std"] == pytest.approx(np.std(finals, ddof=1))
    half = T.t_quantile_975(3) * agg["std"] / 2
    assert agg["ci95"] == pytest.approx([agg["mean"] - half, agg["mean"] + half])
    assert out["final"]["test_acc"] == pytest.approx(agg["mean"])  # same keys as a single run
    assert len(out["aggregate"]["history"]) == 2


def test_t_quantiles():
    # Reference values of Student's t 97.5% quantiles (statistical tables).
    for df, q in [(1, 12.7062), (2, 4.3027), (5, 2.5706), (10, 2.2281), (30, 2.0423)]:
        assert T.t_quantile_975(df) == pytest.approx(q, abs=2e-4)


def test_numpy_backend_runs_seeds_one_after_another():
    res = T.fit(T.TrainConfig(backend="numpy", hidden=8, epochs=2), seeds=2)
    assert len(res.histories) == 2 and res.params["w_hh"].shape == (2, 8, 8)
    for i in range(2):  # seed i of the multi-seed run is a single run of seed i, exactly
        one = T.fit(T.TrainConfig(backend="numpy", hidden=8, epochs=2, seed=i))
        assert one.history == res.histories[i]
        for k, v in one.params.items():
            np.testing.assert_array_equal(res.params[k][i], v)
