"""Label sanity warnings, the data summary table, and the stratified split's class guarantee."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxrnn.data import load_sentiment
from jaxrnn.data.checks import class_counts, data_summary, dataset_counts, label_warnings
from jaxrnn.data.files import stratified_split


def test_the_new_users_labels():
    names = ["Joy", "joy", "sadnes", "sadness"]
    warns = label_warnings(names, [40, 30, 3, 50], [10, 8, 1, 12])
    assert len(warns) == 2
    assert "'Joy' (40 train, 10 test) and 'joy' (30 train, 8 test) differ only by case" in warns[0]
    assert "'sadnes'" in warns[1] and "'sadness'" in warns[1] and "one character" in warns[1]
    assert all("\n" not in w for w in warns)


@pytest.mark.parametrize(
    "a, b, why",
    [
        ("joy", "JOY", "only by case"),
        ("fear", " fear ", "only by surrounding whitespace"),
        ("Fear", "fear ", "only by case and surrounding whitespace"),
        ("anger", "angr", "one character"),  # deletion
        ("love", "lovee", "one character"),  # insertion
        ("love", "live", "one character"),  # substitution (a warning, not an error)
        ("Sadnes", "sadness", "one character"),  # case folded first
        ("ab", "AB", "only by case"),  # case applies to short labels too
    ],
)
def test_similar_pairs(a, b, why):
    (w,) = label_warnings([a, b], [5, 5], [2, 2])
    assert why in w


@pytest.mark.parametrize(
    "a, b", [("a", "b"), ("pos", "neg"), ("sad", "mad"), ("anger", "angry"), ("joy", "joys")]
)
def test_dissimilar_or_short_pairs(a, b):
    assert label_warnings([a, b], [5, 5], [2, 2]) == []


def test_small_classes():
    names = ["a", "b", "c", "d"]
    warns = label_warnings(names, [1, 5, 0, 2], [1, 0, 0, 1])
    assert len(warns) == 3
    assert warns[0].startswith("class 'a' has only 1 training example (1 train, 1 test)")
    assert warns[1].startswith("class 'b' has no test examples (5 train, 0 test)")
    assert "only 0 training examples and no test examples" in warns[2]
    # Without a test split only the training count is checked.
    assert len(label_warnings(names, [1, 5, 0, 2])) == 2
    with pytest.raises(ValueError, match="3 counts"):
        label_warnings(names, [1, 2, 3])
    with pytest.raises(ValueError, match="negative"):
        label_warnings(["a"], [-1])


def test_bundled_data_has_no_warnings_and_summary():
    ds = load_sentiment()
    tr, te = dataset_counts(ds)
    assert (tr, te) == ([32, 26], [10, 10])
    assert label_warnings(ds.label_names, tr, te) == []
    assert data_summary(ds.label_names, tr, te).splitlines() == [
        "rows: 78 (58 train, 20 test), 2 classes",
        "class     train   test",
        "negative     32     10",
        "positive     26     10",
    ]


def test_summary_many_classes_odd_names_and_warnings():
    names = [f"c{i}" for i in range(40)] + [" pad", "new\nline"]
    tr = list(range(1, 43))
    text = data_summary(names, tr, max_classes=5, with_warnings=True)
    lines = text.splitlines()
    assert lines[0] == "rows: 903 (train only), 42 classes"
    assert lines[1].split() == ["class", "train"]
    assert [ln.split()[0] for ln in lines[2:7]] == ["c37", "c38", "c39", "'", "'new\\nline'"]
    assert lines[7] == "... and 37 smaller classes"
    assert any(ln.startswith("warning: class 'c0' has only 1 training") for ln in lines)
    assert all(ln.isprintable() for ln in lines)


def test_class_counts():
    assert class_counts([0, 2, 2], 3) == [1, 0, 2]
    with pytest.raises(ValueError, match="class index"):
        class_counts([3], 3)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.integers(0, 6), min_size=1, max_size=60),
    st.floats(0.01, 0.99),
    st.integers(0, 2**16),
)
def test_stratified_split_keeps_classes_in_both_splits(labels, frac, seed):
    tr, te = stratified_split(labels, frac, seed)
    y = np.asarray(labels)
    assert sorted(np.concatenate([tr, te]).tolist()) == list(range(len(labels)))
    for c in set(labels):
        n = labels.count(c)
        in_test = int((y[te] == c).sum())
        if n >= 2:
            assert 1 <= in_test <= n - 1  # in both splits
        else:
            assert in_test == 0  # a singleton stays in training ...
            names = [str(k) for k in range(7)]
            train_counts = class_counts(y[tr].tolist(), 7)
            test_counts = class_counts(y[te].tolist(), 7)
            warns = label_warnings(names, train_counts, test_counts)
            assert any(w.startswith(f"class '{c}' has only 1 training") for w in warns)  # warned
