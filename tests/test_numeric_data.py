"""Numeric sequence files (jaxrnn.data.numeric): .npz, UCR text and UEA .ts readers, their
one-line errors, train/test alignment and padding-aware standardisation."""

import json

import numpy as np
import pytest

from jaxrnn.data.numeric import (
    NumericSet,
    align_labels,
    check_compatible,
    fit_standardizer,
    load_npz,
    load_numeric,
    load_numeric_split,
    load_ts,
    load_ucr,
    standardize,
    step_mask,
    write_npz,
    write_ts,
    write_ucr,
)
from jaxrnn.data.series import Standardizer
from jaxrnn.errors import DataError

LENGTHS = np.array([7, 4, 7, 2, 5, 6])
LABELS = ["walk", "run", "sit", "run", "walk", "sit"]


def _padded(f: int, seed: int = 0, nan: bool = True) -> np.ndarray:
    """[6, 7, f] values; steps past LENGTHS are NaN (or 0)."""
    x = np.random.default_rng(seed).standard_normal((len(LENGTHS), 7, f))
    x[~step_mask(LENGTHS, 7)] = np.nan if nan else 0.0
    return x


def _expected(x: np.ndarray) -> np.ndarray:
    out = np.where(np.isnan(x), 0.0, x).astype(np.float32)
    out[~step_mask(LENGTHS, x.shape[1])] = 0.0
    return out


def _one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and msg
    return msg


# ----------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("f", [1, 3])
def test_npz_nan_endings_give_lengths_and_zero_padding(tmp_path, f):
    x = _padded(f)
    path = tmp_path / "d.npz"
    np.savez(path, x=x[:, :, 0] if f == 1 else x, y=np.array(LABELS))
    s = load_numeric(path)
    assert s.x.shape == (6, 7, f) and s.x.dtype == np.float32
    np.testing.assert_array_equal(s.lengths, LENGTHS)
    np.testing.assert_array_equal(s.x, _expected(x))
    assert s.label_names == ["run", "sit", "walk"]  # strings: sorted, as the text classifier
    assert [s.label_names[k] for k in s.labels] == LABELS
    assert s.source == str(path) and s.feature_names is None


def test_npz_explicit_lengths_ignore_values_after_them(tmp_path):
    x = _padded(2, nan=False)
    x[~step_mask(LENGTHS, 7)] = 99.0  # junk after the lengths
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(6) % 2, lengths=LENGTHS,
             feature_names=np.array(["ax", "ay"]))  # fmt: skip
    s = load_npz(tmp_path / "d.npz")
    np.testing.assert_array_equal(s.lengths, LENGTHS)
    assert np.all(s.x[~step_mask(LENGTHS, 7)] == 0)
    assert s.feature_names == ["ax", "ay"] and s.label_names == ["0", "1"]


def test_integer_labels_are_ordered_numerically(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.ones((4, 3)), y=np.array([10, -1, 2, 10]))
    s = load_numeric(tmp_path / "d.npz")
    assert s.label_names == ["-1", "2", "10"]
    np.testing.assert_array_equal(s.labels, [2, 0, 1, 2])


@pytest.mark.parametrize("sep", ["\t", ",", " "])
def test_same_arrays_read_back_equal_from_npz_ucr_and_ts(tmp_path, sep):
    x = _padded(1)
    np.savez(tmp_path / "d.npz", x=x, y=np.array(LABELS))
    ref = load_numeric(tmp_path / "d.npz")
    write_ucr(tmp_path / "d.tsv", ref, sep=sep)
    write_ts(tmp_path / "d.ts", ref)
    for path in (tmp_path / "d.tsv", tmp_path / "d.ts"):
        got = load_numeric(path)
        np.testing.assert_array_equal(got.x, ref.x)
        np.testing.assert_array_equal(got.lengths, LENGTHS)
        np.testing.assert_array_equal(got.labels, ref.labels)
        assert got.label_names == ref.label_names


def test_multivariate_round_trip_through_ts_and_npz(tmp_path):
    np.savez(tmp_path / "d.npz", x=_padded(3), y=np.array(LABELS))
    ref = load_numeric(tmp_path / "d.npz")
    write_ts(tmp_path / "d.ts", ref)
    write_npz(tmp_path / "e.npz", ref)
    for got in (load_ts(tmp_path / "d.ts"), load_numeric(tmp_path / "e.npz")):
        np.testing.assert_array_equal(got.x, ref.x)
        np.testing.assert_array_equal(got.lengths, ref.lengths)
        np.testing.assert_array_equal(got.labels, ref.labels)


def test_ucr_text_variants(tmp_path):
    """Archive-style float labels, NaN endings, shorter lines and blank lines."""
    text = (
        "  1.0000000e+00  0.5  1.5  2.5\n"
        "\n"
        "2.0000000e+00  -1  NaN  NaN\n"
        "1.0000000e+00  3\n"
    )
    (tmp_path / "u.txt").write_text(text)
    s = load_ucr(tmp_path / "u.txt")
    assert s.label_names == ["1", "2"]
    np.testing.assert_array_equal(s.lengths, [3, 1, 1])
    np.testing.assert_array_equal(s.x[:, :, 0], [[0.5, 1.5, 2.5], [-1, 0, 0], [3, 0, 0]])


def test_ts_header_variants_and_missing_values(tmp_path):
    text = (
        "# a comment\n"
        "@problemName toy\n@TIMESTAMPS False\n@missing true\n@univariate false\n"
        "@equalLength false\n@targetLabel false\n@ClassLabel True yes no\n@DATA\n"
        "1,2,3:4,5,6:yes\n"
        "7,?:8,?:no\n"
    )
    (tmp_path / "t.ts").write_text(text)
    s = load_numeric(tmp_path / "t.ts")
    assert s.x.shape == (2, 3, 2) and s.label_names == ["no", "yes"]
    np.testing.assert_array_equal(s.lengths, [3, 1])
    np.testing.assert_array_equal(s.x[1], [[7, 8], [0, 0], [0, 0]])


def test_format_chosen_by_extension_or_explicitly(tmp_path):
    (tmp_path / "u.dat").write_text("a 1 2\nb 3 4\n")
    assert load_numeric(tmp_path / "u.dat", "ucr").label_names == ["a", "b"]
    with pytest.raises(DataError) as e:
        load_numeric(tmp_path / "u.dat")
    assert "u.dat" in _one_line(e) and "extension" in str(e.value)
    with pytest.raises(DataError) as e:
        load_numeric(tmp_path / "u.dat", "csv")
    assert "npz, ucr, ts" in _one_line(e)


# ----------------------------------------------------------------------------- bad files


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    ("name", "text", "needles"),
    [
        ("e.tsv", "", ["e.tsv", "empty"]),
        ("e.ts", "  \n", ["e.ts", "empty"]),
        ("v.tsv", "1\t0.5\t0.7\n2\t0.1\tabc\n", ["line 2", "step 2", "'abc'", "not a number"]),
        ("l.tsv", "1,0.5,0.7\n,0.1,0.2\n", ["line 2", "label", "missing"]),
        ("n.tsv", "1 2 3\nNaN 1 2\n", ["line 2", "label", "missing"]),
        ("o.tsv", "1 2 3\n2\n", ["line 2", "no values"]),
        ("i.tsv", "1 2 NaN 3\n", ["line 1", "step 2", "inside the series"]),
        ("a.tsv", "1 NaN NaN\n", ["line 1", "no values"]),
        ("f.tsv", "1 2 3\n2 5 inf\n", ["line 2", "infinite", "step 2"]),
        ("g.tsv", "1 1e39 3\n", ["line 1", "too large for float32", "step 1"]),
        ("d.ts", "@classLabel true a b\n@data\n1,2:3,4:a\n1,2:b\n",
         ["line 4", "1 dimension(s)", "has 2"]),
        ("u.ts", "@univariate true\n@classLabel true a b\n@data\n1,2:3,4:a\n",
         ["line 4", "2 dimension(s)", "has 1"]),
        ("v.ts", "@dimensions 3\n@classLabel true a\n@data\n1:2:a\n", ["line 4", "has 3"]),
        ("m.ts", "@classLabel true a b\n@data\n1,2,3\n", ["line 3", "label is missing"]),
        ("k.ts", "@classLabel true a b\n@data\n1,2,3:\n", ["line 3", "label is missing"]),
        ("c.ts", "@classLabel true a b\n@data\n1,2,3:c\n", ["line 3", "'c'", "declared"]),
        ("x.ts", "@classLabel true a\n@data\n1,x,3:a\n", ["line 3", "dimension 1", "'x'"]),
        ("r.ts", "@classLabel true a\n@data\n1,2,3:1,2:a\n", ["line 3", "different lengths"]),
        ("s.ts", "@timeStamps true\n@classLabel true a\n@data\n", ["line 1", "not supported"]),
        ("q.ts", "@classLabel false\n@data\n1,2\n", ["line 1", "no class labels"]),
        ("t.ts", "@targetLabel true\n@data\n1,2:0.5\n", ["line 1", "regression"]),
        ("b.ts", "@missing maybe\n@data\n", ["line 1", "true or false", "'maybe'"]),
        ("p.ts", "@problemName p\n1,2:a\n", ["line 2", "before @data"]),
        ("h.ts", "@problemName p\n@classLabel true a\n", ["no @data"]),
    ],
)
def test_bad_text_files_give_one_line_errors(tmp_path, name, text, needles):
    path = _write(tmp_path, name, text)
    with pytest.raises(DataError) as e:
        load_numeric(path)
    msg = _one_line(e)
    assert str(path) in msg
    for needle in needles:
        assert needle in msg, (needle, msg)


def _npz(tmp_path, **arrays):
    p = tmp_path / "bad.npz"
    np.savez(p, **arrays)
    return p


@pytest.mark.parametrize(
    ("arrays", "needles"),
    [
        (dict(x=np.array([np.zeros(3), np.zeros(2)], dtype=object), y=np.array([0, 1])),
         ["'x'", "object array", "ragged"]),
        (dict(x=np.array([["a", "b"], ["c", "d"]]), y=np.array([0, 1])), ["non-numeric"]),
        (dict(x=np.zeros((2, 3))), ["no array", "'y'"]),
        (dict(x=np.zeros((2, 3)), y=np.array([0.0, np.nan])), ["row 1", "missing"]),
        (dict(x=np.zeros((2, 3)), y=np.array(["a", " "])), ["row 1", "empty"]),
        (dict(x=np.zeros((2, 3)), y=np.array([0, 1]), lengths=np.array([3, 4])),
         ["row 1", "lengths[1] = 4", "1..3"]),
        (dict(x=np.zeros((2, 3)), y=np.array([0, 1]), lengths=np.array([0, 3])),
         ["row 0", "lengths[0] = 0"]),
        (dict(x=np.array([[1.0, np.nan, 2.0], [1, 2, 3]]), y=np.array([0, 1])),
         ["row 0", "step 2", "inside"]),
        (dict(x=np.array([[1.0, np.inf], [1, 2]]), y=np.array([0, 1])), ["row 0", "infinite"]),
        (dict(x=np.zeros((0, 3)), y=np.zeros(0, int)), ["no series"]),
        (dict(x=np.zeros((2, 3)), y=np.array([0, 1, 1])), ["y has shape (3,)", "2 rows"]),
    ],
)
def test_bad_npz_files_give_one_line_errors(tmp_path, arrays, needles):
    path = _npz(tmp_path, **arrays)
    with pytest.raises(DataError) as e:
        load_numeric(path)
    msg = _one_line(e)
    assert str(path) in msg
    for needle in needles:
        assert needle in msg, (needle, msg)


def test_missing_empty_and_corrupt_npz(tmp_path):
    for path, needle in [
        (tmp_path / "nope.npz", "no such file"),
        (_write(tmp_path, "empty.npz", ""), "empty"),
        (_write(tmp_path, "junk.npz", "not a zip"), "is not a .npz archive (a zip file)"),
        # a CSV given as .npz: was numpy's "pickled (object) data ... allow_pickle"
        (_write(tmp_path, "table.npz", "text,label\nhi,pos\n"), "is not a .npz archive"),
        (_write(tmp_path, "cut.npz", "PK\x03\x04 cut short"), "not a readable .npz"),
    ]:
        with pytest.raises(DataError) as e:
            load_numeric(path)
        assert needle in _one_line(e) and str(path) in str(e.value)


def test_test_file_with_other_channel_count_is_rejected(tmp_path):
    np.savez(tmp_path / "tr.npz", x=_padded(3), y=np.array(LABELS))
    np.savez(tmp_path / "te.npz", x=_padded(2), y=np.array(LABELS))
    train, test = load_numeric(tmp_path / "tr.npz"), load_numeric(tmp_path / "te.npz")
    with pytest.raises(DataError) as e:
        check_compatible(train, test)
    msg = _one_line(e)
    assert "te.npz" in msg and "2 channel(s)" in msg and "has 3" in msg
    with pytest.raises(DataError):
        load_numeric_split(tmp_path / "tr.npz", tmp_path / "te.npz")


# ----------------------------------------------------------------------------- train / test


def test_test_labels_follow_the_training_order(tmp_path):
    (tmp_path / "tr.tsv").write_text("b 1 2\nc 3 4\nd 5 6\n")
    (tmp_path / "te.tsv").write_text("d 1 2\nb 3 4\n")  # alone it would be ['b', 'd']
    train, test = load_numeric_split(tmp_path / "tr.tsv", tmp_path / "te.tsv")
    assert train.label_names == test.label_names == ["b", "c", "d"]
    np.testing.assert_array_equal(test.labels, [2, 0])
    (tmp_path / "bad.tsv").write_text("b 1 2\nz 3 4\n")
    with pytest.raises(DataError) as e:
        align_labels(train, load_numeric(tmp_path / "bad.tsv"))
    assert "'z'" in _one_line(e) and "series 2" in str(e.value)


def test_same_file_for_train_and_test_is_rejected(tmp_path):
    (tmp_path / "tr.tsv").write_text("b 1 2\nc 3 4\n")
    with pytest.raises(DataError) as e:
        load_numeric_split(tmp_path / "tr.tsv", tmp_path / "." / "tr.tsv")
    assert "same file" in _one_line(e)


def test_split_without_test_file_is_stratified_and_seeded(tmp_path):
    y = np.repeat(np.array(["a", "b"]), 10)
    np.savez(tmp_path / "d.npz", x=np.arange(20 * 4, dtype=float).reshape(20, 4), y=y)
    tr, te = load_numeric_split(tmp_path / "d.npz", test_fraction=0.2, seed=3)
    assert len(tr.labels) == 16 and len(te.labels) == 4
    assert sorted(te.labels.tolist()) == [0, 0, 1, 1]
    again = load_numeric_split(tmp_path / "d.npz", test_fraction=0.2, seed=3)[1]
    np.testing.assert_array_equal(te.x, again.x)
    assert set(tr.x[:, 0, 0]).isdisjoint(te.x[:, 0, 0])


# ----------------------------------------------------------------------------- scaling


def test_standardizer_ignores_padding(tmp_path):
    x = _padded(3, seed=1)
    x[:, :, 1] = x[:, :, 1] * 5 + 100  # padding (0) would pull this mean far down
    np.savez(tmp_path / "d.npz", x=x, y=np.array(LABELS))
    s = load_numeric(tmp_path / "d.npz")
    scaler = fit_standardizer(s)
    real = s.x.astype(np.float64)[step_mask(s.lengths, 7)]  # [sum(lengths), F]
    assert real.shape == (LENGTHS.sum(), 3)
    np.testing.assert_allclose(scaler.mean, real.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(scaler.std, real.std(axis=0), rtol=1e-12)
    z = standardize(s, scaler)
    assert z.x.dtype == np.float32
    assert np.all(z.x[~step_mask(s.lengths, 7)] == 0)
    zr = z.x.astype(np.float64)[step_mask(s.lengths, 7)]
    np.testing.assert_allclose(zr.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(zr.std(axis=0), 1, atol=1e-6)
    back = Standardizer.from_dict(json.loads(json.dumps(scaler.to_dict())))
    np.testing.assert_array_equal(standardize(s, back).x, z.x)


def test_standardizer_without_lengths_keeps_its_behaviour():
    rows = np.random.default_rng(2).standard_normal((50, 2))
    sc = Standardizer.fit(rows)
    np.testing.assert_allclose(sc.mean, rows.mean(0))
    np.testing.assert_allclose(sc.transform(rows), (rows - rows.mean(0)) / rows.std(0))


def test_numericset_properties():
    s = NumericSet(np.zeros((2, 3, 4), np.float32), np.array([3, 1]), np.array([0, 1]),
                   ["a", "b"], None, "mem")  # fmt: skip
    assert s.num_classes == 2 and s.num_features == 4
