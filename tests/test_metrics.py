"""classification_report against a hand-worked example and a brute-force count; table; plot."""

from __future__ import annotations

import sys
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxrnn.errors import UsageError
from jaxrnn.evaluation.metrics import classification_report, format_report, plot_confusion


def test_hand_worked_three_classes():
    y_true = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
    y_pred = [0, 0, 1, 2, 1, 1, 0, 2, 2, 1]
    r = classification_report(y_true, y_pred, 3, ["a", "b", "c"])
    # By hand: rows = true class.
    assert r["confusion"] == [[2, 1, 1], [1, 2, 0], [0, 1, 2]]
    assert r["support"] == [4, 3, 3] and r["predicted"] == [3, 4, 3]
    assert r["precision"] == pytest.approx([2 / 3, 1 / 2, 2 / 3])
    assert r["recall"] == pytest.approx([1 / 2, 2 / 3, 2 / 3])
    assert r["f1"] == pytest.approx([4 / 7, 4 / 7, 2 / 3])
    assert r["accuracy"] == pytest.approx(0.6)
    assert r["macro_f1"] == pytest.approx(38 / 63)
    assert r["macro_precision"] == pytest.approx(11 / 18)
    assert r["macro_recall"] == pytest.approx(11 / 18)
    assert r["n"] == 10 and r["num_classes"] == 3 and r["label_names"] == ["a", "b", "c"]


def test_zero_division_is_zero_and_absent_classes_leave_the_macro_average():
    # class 1: never predicted (precision 0/0); class 2: never true (recall 0/0);
    # class 3: neither (left out of the macro averages).
    r = classification_report([0, 0, 1], [0, 2, 0], 4)
    assert r["precision"] == [0.5, 0.0, 0.0, 0.0]
    assert r["recall"] == [0.5, 0.0, 0.0, 0.0]
    assert r["f1"] == [0.5, 0.0, 0.0, 0.0]
    assert r["support"] == [2, 1, 0, 0]
    assert r["macro_f1"] == pytest.approx(0.5 / 3)
    assert r["label_names"] == ["0", "1", "2", "3"]
    assert not any(np.isnan(r[k]).any() for k in ("precision", "recall", "f1"))


def test_perfect_and_empty():
    r = classification_report(np.array([2, 0, 1]), np.array([2, 0, 1]), 3)
    assert r["accuracy"] == r["macro_f1"] == 1.0 and r["f1"] == [1.0, 1.0, 1.0]
    r = classification_report([], [], 2)
    assert r["accuracy"] == r["macro_f1"] == 0.0 and r["confusion"] == [[0, 0], [0, 0]]


def test_accepts_jax_arrays():
    import jax.numpy as jnp

    r = classification_report(jnp.array([0, 1, 1]), jnp.array([0, 1, 0], dtype=jnp.int32), 2)
    assert r["confusion"] == [[1, 0], [1, 1]]


def brute_force(y_true: list[int], y_pred: list[int], c: int) -> dict:
    """Independent, exact (fractions) per-class counting with plain loops."""
    out: dict = {"precision": [], "recall": [], "f1": [], "support": []}
    present = []
    for k in range(c):
        tp = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t == k and p == k)
        fp = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t != k and p == k)
        fn = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t == k and p != k)
        prec = Fraction(tp, tp + fp) if tp + fp else Fraction(0)
        rec = Fraction(tp, tp + fn) if tp + fn else Fraction(0)
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else Fraction(0)
        out["precision"].append(prec)
        out["recall"].append(rec)
        out["f1"].append(f1)
        out["support"].append(tp + fn)
        if tp + fp + fn:
            present.append(f1)
    out["macro_f1"] = sum(present, Fraction(0)) / len(present) if present else Fraction(0)
    correct = sum(t == p for t, p in zip(y_true, y_pred, strict=True))
    out["accuracy"] = Fraction(correct, len(y_true)) if y_true else Fraction(0)
    out["confusion"] = [
        [sum(1 for t, p in zip(y_true, y_pred, strict=True) if (t, p) == (i, j)) for j in range(c)]
        for i in range(c)
    ]
    return out


@st.composite
def label_pairs(draw):
    c = draw(st.integers(1, 6))
    n = draw(st.integers(0, 40))
    ys = st.lists(st.integers(0, c - 1), min_size=n, max_size=n)
    return draw(ys), draw(ys), c


@settings(max_examples=150, deadline=None)
@given(label_pairs())
def test_matches_brute_force(case):
    y_true, y_pred, c = case
    r = classification_report(y_true, y_pred, c)
    b = brute_force(y_true, y_pred, c)
    assert r["confusion"] == b["confusion"] and r["support"] == b["support"]
    for key in ("precision", "recall", "f1"):
        assert r[key] == pytest.approx([float(v) for v in b[key]], abs=1e-12)
    assert r["accuracy"] == pytest.approx(float(b["accuracy"]), abs=1e-12)
    assert r["macro_f1"] == pytest.approx(float(b["macro_f1"]), abs=1e-12)
    assert sum(map(sum, r["confusion"])) == len(y_true)


@pytest.mark.parametrize(
    "args, match",
    [
        (([0, 1], [0], 2), "y_true has 2 labels but y_pred has 1"),
        (([0, 2], [0, 1], 2), r"y_true\[1\] = 2 is not a class index 0..1"),
        (([0, 1], [0, -1], 2), r"y_pred\[1\] = -1"),
        (([0.0, 1.0], [0, 1], 2), "integer class indices"),
        (([[0, 1]], [[0, 1]], 2), "1-D"),
        (([0], [0], 0), "num_classes"),
        (([True], [True], 2), "integer class indices"),
    ],
)
def test_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        classification_report(*args)


@pytest.mark.parametrize("num_classes", [0, -1, True, 2.0, "2"])
def test_num_classes_must_be_an_int_of_at_least_one(num_classes):
    with pytest.raises(ValueError, match=r"^num_classes must be an int >= 1, got "):
        classification_report([], [], num_classes)


def test_wrong_number_of_label_names():
    with pytest.raises(ValueError, match="label_names has 1 names for 2 classes"):
        classification_report([0], [1], 2, ["only"])


def test_format_report_table_and_confusion():
    r = classification_report([0, 0, 0, 1, 1], [0, 0, 0, 0, 1], 2, ["negative", "positive"])
    text = format_report(r)
    lines = text.splitlines()
    assert lines[0].split() == ["precision", "recall", "f1", "support"]
    assert lines[1].split() == ["negative", "0.750", "1.000", "0.857", "3"]
    assert lines[2].split() == ["positive", "1.000", "0.500", "0.667", "2"]
    assert lines[3].split() == ["accuracy", "0.800", "5"]
    assert lines[4].split() == ["macro", "avg", "0.875", "0.750", "0.762", "5"]
    i = lines.index("confusion (rows: true class, columns: predicted)")
    assert lines[i + 1].split() == ["negative", "positive"]
    assert [row.split()[1:] for row in lines[i + 2 :]] == [["3", "0"], ["1", "1"]]


def test_format_report_awkward_names_stay_one_line_per_row():
    names = ["multi\nline name", "x" * 80, ""]
    r = classification_report([0, 1, 2], [0, 1, 1], 3, names)
    lines = format_report(r).splitlines()
    assert len(lines) == 1 + 3 + 2 + 2 + 1 + 3
    assert lines[1].startswith("multi line name") and "…" in lines[2]
    # row names cut to 24 characters (23 and an ellipsis), the confusion's heads to 10
    assert lines[2].split()[0] == "x" * 23 + "…"
    assert lines[8].split() == ["multi", "lin…", "x" * 9 + "…", "?"]
    # a name of exactly the width is kept whole
    r = classification_report([0, 1], [0, 1], 2, ["y" * 24, "z" * 10])
    lines = format_report(r).splitlines()
    assert lines[1].split()[0] == "y" * 24 and lines[-3].split() == ["y" * 9 + "…", "z" * 10]


def test_plot_confusion_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    y = np.arange(60) % 6
    pred = np.where(np.arange(60) % 5 == 0, (y + 1) % 6, y)
    names = ["anger", "fear", "joy", "love", "sadness", "surprise"]
    r = classification_report(y, pred, 6, names)
    out = plot_confusion(r, tmp_path / "figs" / "confusion.png", title="test")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert sorted(p.name for p in out.parent.iterdir()) == ["confusion.png"]
    plot_confusion(classification_report([], [], 2), tmp_path / "empty.png", normalize=True)
    assert (tmp_path / "empty.png").stat().st_size > 0


def test_plot_confusion_without_matplotlib(tmp_path, monkeypatch):
    for mod in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, mod, None)
    r = classification_report([0, 1], [0, 1], 2)
    with pytest.raises(UsageError, match=r"pip install 'jaxrnn\[plots\]'"):
        plot_confusion(r, tmp_path / "c.png")
    assert not list(tmp_path.iterdir())
