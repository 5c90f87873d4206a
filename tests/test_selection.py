"""Model-selection helpers (issue 27, item 4): folds partition the rows and no fold's
validation rows reach its training orders; the ensemble's probabilities are the mean of its
members' computed apart; the chosen setting is the one with the best signal; Spearman
against scipy."""

import numpy as np
import pytest

from jaxrnn.data.folds import (
    best_setting,
    fold_orders,
    fold_train_rows,
    kfold_split,
    mean_probabilities,
    spearman,
)
from jaxrnn.errors import UsageError


@pytest.mark.parametrize("stratified", [False, True])
@pytest.mark.parametrize("n,k", [(58, 5), (11, 3), (7, 7)])
def test_folds_partition_the_rows(n, k, stratified):
    labels = np.arange(n) % 3 if stratified else None
    folds = kfold_split(n, k, seed=4, labels=labels)
    assert len(folds) == k
    allrows = np.concatenate(folds)
    assert sorted(allrows.tolist()) == list(range(n))  # each row in exactly one fold
    sizes = [len(f) for f in folds]
    assert max(sizes) - min(sizes) <= (3 if stratified else 1)
    if stratified:  # each class spread over the folds in proportion
        for c in range(3):
            per = [int((labels[f] == c).sum()) for f in folds]
            assert max(per) - min(per) <= 1
    # seeded: same seed same folds, another seed other folds
    again = kfold_split(n, k, seed=4, labels=labels)
    assert all(np.array_equal(a, b) for a, b in zip(folds, again, strict=True))


def test_no_fold_validation_row_reaches_its_training():
    n, k, epochs = 23, 4, 3
    folds = kfold_split(n, k, seed=0)
    orders = fold_orders(folds, n, epochs, seed=1)
    assert orders.shape == (k, epochs, n)  # the run's [E, N] orders, per fold
    for i, val in enumerate(folds):
        train = fold_train_rows(folds, i, n)
        assert set(train.tolist()).isdisjoint(val.tolist())
        assert len(train) + len(val) == n
        for e in range(epochs):
            seen = set(orders[i, e].tolist())
            assert seen.isdisjoint(val.tolist())  # no leak into training
            assert seen == set(train.tolist())  # every training row visited each epoch


def test_ensemble_is_the_mean_of_its_members():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4, 6, 3))
    members = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    want = np.zeros((6, 3))
    for m in members:  # computed apart: a plain loop sum
        want += m
    want /= len(members)
    got = mean_probabilities(members)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-15)
    np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-12)
    with pytest.raises(UsageError):
        mean_probabilities(members[0])


def test_chosen_setting_has_the_best_signal():
    losses = [0.3, 0.05, float("nan"), 0.05, 0.9]
    assert best_setting(losses, higher_is_better=False) == 1  # lowest loss, first of ties
    accs = [0.7, float("nan"), 0.95, 0.2]
    assert best_setting(accs, higher_is_better=True) == 2
    with pytest.raises(UsageError):
        best_setting([float("nan")], higher_is_better=True)


def test_spearman_against_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    a = rng.normal(size=20)
    b = a + rng.normal(size=20)
    b[:4] = b[0]  # ties
    assert spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic, abs=1e-12)


def test_bad_k_is_a_usage_error():
    with pytest.raises(UsageError, match="K >= 2"):
        kfold_split(10, 1, seed=0)
    with pytest.raises(UsageError, match="only 3 training rows"):
        kfold_split(3, 5, seed=0)


# --cv in a run: K fold-models vmapped like seeds, each scored on its own held-out rows.
CV = dict(model="bilstm", hidden=6, layers=1, embed_dim=8, epochs=3, batch_size=8, lr=5e-2,
          dtype="float64", buckets=0)  # fmt: skip


@pytest.fixture(scope="module")
def cv_result():
    from jaxrnn.runs import fit
    from jaxrnn.runs.config import TrainConfig

    return fit(TrainConfig(**CV), cv=3)


def test_cv_scores_each_fold_on_its_held_out_rows(cv_result):
    import jax

    from jaxrnn.runs.config import resolve_config
    from jaxrnn.runs.prepare import prepare_data
    from jaxrnn.runs.selection import cv_run
    from jaxrnn.training import loop

    r = cv_result
    ex = r.extra
    assert len(r.seeds) == 3 and len(ex["cv_folds"]) == 3
    assert ex["cv_acc"] == pytest.approx(np.mean([f["acc"] for f in ex["cv_folds"]]), abs=1e-12)
    assert ex["cv_loss"] == pytest.approx(np.mean([f["loss"] for f in ex["cv_folds"]]), abs=1e-12)
    cfg = resolve_config(r.config)
    data = prepare_data(cfg)
    assert sum(f["rows"] for f in ex["cv_folds"]) == len(data.train.labels)
    run, folds, train = cv_run(cfg, data, 3)  # the same seeded folds
    for i, rows in enumerate(folds):  # fold i's params, apart, on fold i's rows
        p = jax.tree.map(lambda a, i=i: np.asarray(a)[i], r.params)
        val = jax.tree.map(lambda a, rows=rows: np.asarray(a)[rows], train)
        m = np.asarray(loop.evaluate(run.model, run.task, p, val)[0])
        assert ex["cv_folds"][i]["loss"] == pytest.approx(float(m[0]), rel=1e-9)
        assert ex["cv_folds"][i]["acc"] == pytest.approx(float(m[1]), abs=1e-12)
    assert "cv_loss" in r.to_json() and "cv_acc" in r.to_json()


def test_cv_refuses_what_it_cannot_do():
    from jaxrnn.errors import ConfigError
    from jaxrnn.runs import fit
    from jaxrnn.runs.config import TrainConfig

    with pytest.raises(ConfigError, match="K >= 2"):
        fit(TrainConfig(**CV), cv=1)
    with pytest.raises(ConfigError, match="drop --seeds"):
        fit(TrainConfig(**CV), cv=3, seeds=2)


COMPOSITIONAL = "jaxrnn/data/compositional.jsonl"


@pytest.fixture(scope="module")
def ensemble_result(tmp_path_factory):
    from jaxrnn.runs import fit
    from jaxrnn.runs.config import TrainConfig

    path = str(tmp_path_factory.mktemp("ens") / "ens.ckpt")
    cfg = TrainConfig(**CV, eval_data=(COMPOSITIONAL,))
    return fit(cfg, ensemble=3, save=path), path


def test_ensemble_probabilities_are_the_mean_of_its_members(ensemble_result):
    import jax

    from jaxrnn.data.generators.compositional import load_compositional
    from jaxrnn.runs.predictor import Predictor, load_predictor
    from jaxrnn.runs.registry import get_spec

    r, path = ensemble_result
    assert len(r.seeds) == 3
    texts = list(load_compositional(COMPOSITIONAL).split.texts[:40])
    model = get_spec(r.config).build_model(r.config, r.tokenizer, list(r.label_names))
    apart = np.zeros((len(texts), 2))
    for i in range(3):  # each member alone, its own single-seed predictor
        one = jax.tree.map(lambda a, i=i: np.asarray(a)[i], r.params)
        apart += Predictor.from_parts(model, one, r.tokenizer, r.label_names).predict_proba(texts)
    apart /= 3
    np.testing.assert_allclose(r.predictor().predict_proba(texts), apart, rtol=1e-9, atol=1e-12)
    # the one saved checkpoint serves the same ensemble
    np.testing.assert_allclose(load_predictor(path).predict_proba(texts), apart, atol=1e-9)


def test_ensemble_scores_are_the_mean_probability_scores(ensemble_result):
    from jaxrnn.data.generators.compositional import load_compositional

    r, _ = ensemble_result
    comp = load_compositional(COMPOSITIONAL)
    p = r.predictor().predict_proba(list(comp.split.texts))
    y = np.asarray(comp.split.labels)
    ev = r.extra["ensemble_evals"]
    assert len(ev) == 1
    (score,) = ev.values()
    assert score["acc"] == pytest.approx(float((p.argmax(-1) == y).mean()), abs=1e-12)
    assert score["loss"] == pytest.approx(float(-np.log(p[np.arange(len(y)), y]).mean()),
                                          rel=1e-6)  # fmt: skip
    assert {"ensemble_acc", "ensemble_loss", "ensemble_evals"} <= set(r.to_json())


def test_sweep_cv_chooses_the_point_with_the_best_cv_signal(tmp_path):
    import json

    from jaxrnn.cli import sweep

    out = tmp_path / "sw"
    argv = ["--model", "gru", "--hidden", "4", "--lr", "0.003,0.05", "--dropout", "0",
            "--epochs", "2", "--early-stopping", "0", "--cv", "3", "--out", str(out),
            "--quiet"]  # fmt: skip
    assert sweep.main(argv) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["select"] == "cv" and res["cv"] == 3
    rows = res["rows"]
    assert len(rows) == 2 and all("cv_loss" in r and "cv_acc" in r for r in rows)
    losses = [r["cv_loss"]["mean"] for r in rows]
    assert rows.index(res["chosen"]) == best_setting(losses, higher_is_better=False)
    assert sweep.main(["--select", "cv", "--out", str(out), "--quiet"]) == 2  # no --cv: refused


def test_cli_cv_speaks_of_folds_not_seeds(capsys):
    from jaxrnn.cli import train

    assert train.main(["--model", "gru", "--hidden", "4", "--epochs", "1", "--cv", "2",
                       "--quiet"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "mean of 2 folds)" in out and "over 2 folds, mean" in out and "seeds" not in out
    assert "cross-validation (2 folds)" in out
