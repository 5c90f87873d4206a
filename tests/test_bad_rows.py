"""``--skip-bad-rows``: rows that cannot be used are left out and counted by reason instead of
stopping the run (the default stays strict); labels that differ only by case are one class."""

import csv
import json
import subprocess
import sys

import pytest

from jaxrnn.data.files import load_dataset, load_table, merge_case_variants
from jaxrnn.errors import DataError

ROWS = [("i am happy", "pos"), ("i am sad", "neg"), ("this is good", "pos"),
        ("this is bad", "neg"), ("very good", "pos"), ("very bad", "neg"),
        ("so happy", "pos"), ("so sad", "neg")]  # fmt: skip


def write_csv(path, rows, header=("text", "label")):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


def test_csv_rows_left_out_with_their_reasons(tmp_path):
    bad = [*ROWS[:4], ("", "pos"), ("no label here", ""), ("a", "b", "c"), *ROWS[4:]]
    path = write_csv(tmp_path / "d.csv", bad)
    with pytest.raises(DataError, match="line 8 has 3 fields"):
        load_table(path)  # strict by default: the first problem the reader meets
    t = load_table(path, skip_bad_rows=True)
    assert t.texts == [r[0] for r in ROWS]
    assert [(ln, why) for ln, why, _ in t.skipped] == [
        (6, "empty text"), (7, "missing label"), (8, "wrong number of fields")]
    assert t.lines[:5] == [2, 3, 4, 5, 9]


def test_jsonl_rows_left_out_with_their_reasons(tmp_path):
    lines = [json.dumps({"text": t, "label": lab}) for t, lab in ROWS]
    lines[1:1] = ["{not json", "[1, 2]", json.dumps({"text": 3, "label": "pos"}),
                  json.dumps({"text": "x", "label": ["a"]}), json.dumps({"label": "pos"}),
                  json.dumps({"text": "y", "label": 1.5})]  # fmt: skip
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(lines) + "\n")
    t = load_table(path, skip_bad_rows=True)
    assert t.texts == [r[0] for r in ROWS]
    assert sorted(why for _, why, _ in t.skipped) == sorted([
        "not valid JSON", "not a JSON object", "text is not a string",
        "label is not a string or integer", "empty text", "label is not a string or integer"])


def test_a_file_with_no_good_row_still_stops(tmp_path):
    path = write_csv(tmp_path / "d.csv", [("", "pos"), ("x", "")])
    with pytest.raises(DataError, match="every row was left out by --skip-bad-rows"):
        load_table(path, skip_bad_rows=True)


def test_labels_that_differ_only_by_case_are_one_class(tmp_path):
    rows = [(t, {"pos": "Positive", "neg": "negative"}[lab]) for t, lab in ROWS]
    rows += [("good vibes", "positive"), ("great", "positive"), ("awful", "NEGATIVE")]
    ds = load_dataset(write_csv(tmp_path / "d.csv", rows), test_fraction=0.25)
    assert ds.label_names == ["Positive", "negative"]  # sorted, as every label set
    assert sorted(ds.notes) == sorted([
        "labels 'NEGATIVE' (1 row in training) and 'negative' (4 rows in training) differ "
        "only by case: merged as 'negative'",
        "labels 'Positive' (4 rows in training) and 'positive' (2 rows in training) differ "
        "only by case: merged as 'Positive'"])  # fmt: skip
    assert merge_case_variants([1, 2, 2], [1]) == ([1, 2, 2], [1], [])


def _train(args, tmp_path):
    return subprocess.run([sys.executable, "-m", "jaxrnn.train", "--model", "gru", "--hidden",
                           "4", "--epochs", "1", "--quiet", *args], capture_output=True,
                          text=True, cwd=tmp_path)  # fmt: skip


def test_cli(tmp_path):
    data = write_csv(tmp_path / "d.csv", [*ROWS, ("", "pos"), ("x", ""), *ROWS])
    strict = _train(["--data", data], tmp_path)
    assert strict.returncode == 2 and "empty text" in strict.stderr
    bad = tmp_path / "bad.tsv"
    run = _train(["--data", data, "--skip-bad-rows", "--bad-rows", str(bad)], tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "left out 2 rows (--skip-bad-rows): 1 empty text, 1 missing label" in run.stderr
    assert bad.read_text().splitlines() == [
        "file\tline\treason\trow", f"{data}\t10\tempty text\tpos",
        f"{data}\t11\tmissing label\tx"]  # fmt: skip
    for args, message in ((["--data", data, "--bad-rows", str(bad)], "add --skip-bad-rows"),
                          (["--task", "tag", "--data", data, "--skip-bad-rows"],
                           "read labelled tables")):  # fmt: skip
        proc = _train(args, tmp_path)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
