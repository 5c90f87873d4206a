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
    assert orders.shape == (k, epochs, max(n - len(f) for f in folds))
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
