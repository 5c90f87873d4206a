"""python -m jaxrnn.train on the user's own files: many classes, metrics, bad input."""

import json
import subprocess
import sys

import pytest

from jaxrnn import runs as T
from jaxrnn.cli import train as train_cli
from jaxrnn.data import make_emotions, write_table


@pytest.fixture(scope="module")
def emotions(tmp_path_factory):
    d = tmp_path_factory.mktemp("emo")
    ds = make_emotions(n_per_class=30, seed=1)
    write_table(ds.train, d / "train.csv", "csv", label_names=ds.label_names)
    write_table(ds.test, d / "test.jsonl", "jsonl", label_names=ds.label_names)
    return d, ds


def run_main(args, capsys):
    code = train_cli.main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_multiclass_training_reports_metrics_and_predict_uses_label_names(
    emotions, tmp_path, capsys
):
    d, ds = emotions
    js, ck, png = tmp_path / "r.json", tmp_path / "r.ckpt", tmp_path / "cm.png"
    code, out, _ = run_main(
        [
            "--data",
            str(d / "train.csv"),
            "--test-data",
            str(d / "test.jsonl"),
            "--model",
            "gru",
            "--hidden",
            "16",
            "--epochs",
            "3",
            "--json",
            str(js),
            "--save",
            str(ck),
            "--confusion-png",
            str(png),
        ],
        capsys,
    )
    assert code == 0
    assert "macro avg" in out and "confusion" in out
    res = json.loads(js.read_text())
    rep = res["report"]
    assert rep["label_names"] == ds.label_names and len(rep["confusion"]) == 6
    assert sum(map(sum, rep["confusion"])) == len(ds.test.labels)
    assert rep["accuracy"] == pytest.approx(res["final"]["test_acc"], abs=1e-6)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = T.load_checkpoint(str(ck))
    assert r.label_names == ds.label_names and r.model.num_outputs == 6
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "jaxrnn.predict",
            "--checkpoint",
            str(ck),
            "--json",
            "i feel so happy",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(out)["label"] in ds.label_names


def test_split_of_a_single_file_and_max_len_auto(emotions, capsys):
    d, _ = emotions
    code, out, _ = run_main(
        [
            "--data",
            str(d / "train.csv"),
            "--model",
            "lstm",
            "--hidden",
            "8",
            "--epochs",
            "1",
            "--max-len",
            "auto",
            "--test-fraction",
            "0.25",
        ],
        capsys,
    )
    assert code == 0 and "support" in out


@pytest.mark.parametrize(
    "make,flags,needle",
    [
        (None, ["--data", "{d}/nope.csv"], "nope.csv"),
        (lambda p: p.write_text(""), ["--data", "{p}"], "empty"),
        (lambda p: p.write_text("sentence,label\nhi,1\nho,0\n"), ["--data", "{p}"], "text"),
        (
            lambda p: p.write_bytes(b"text,label\n\xff\xfe bad,1\nok,0\n"),
            ["--data", "{p}"],
            "UTF-8",
        ),
        (lambda p: p.write_text("text,label\n   ,1\nok,0\n"), ["--data", "{p}"], "empty"),
        (lambda p: p.write_text("text,label\na,1\nb,1\nc,1\n"), ["--data", "{p}"], "class"),
        (
            lambda p: p.write_text("text,label\na,1\nb,0\nc,1\nd,0\n"),
            ["--data", "{p}", "--batch-size", "99"],
            "--batch-size",
        ),
        (None, ["--lr", "-1"], "--lr"),
        (None, ["--hidden", "0"], "--hidden"),
        (None, ["--epochs", "0"], "--epochs"),
        (None, ["--model", "bert"], "invalid choice"),
        (None, ["--max-len", "zero"], "--max-len"),
        (None, ["--test-fraction", "1.5", "--data", "x.csv"], "--test-fraction"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_no_checkpoint(
    tmp_path, capsys, make, flags, needle
):
    p = tmp_path / "data.csv"
    if make is not None:
        make(p)
    ck = tmp_path / "out.ckpt"
    flags = [f.format(d=tmp_path, p=p) for f in flags] + [
        "--save",
        str(ck),
        "--epochs" if "--epochs" not in flags else "--seed",
        "1",
    ]
    try:
        code, _, err = run_main(flags, capsys)
    except SystemExit as e:  # argparse errors
        code, err = e.code, capsys.readouterr().err
    assert code == 2
    assert needle in err and err.strip().count("\n") == 0 and "Traceback" not in err
    assert not ck.exists()


def test_unseen_test_labels_named(tmp_path, capsys):
    tr, te = tmp_path / "tr.csv", tmp_path / "te.csv"
    tr.write_text("text,label\na b,joy\nc d,anger\ne f,joy\ng h,anger\n")
    te.write_text("text,label\na,joy\nb,fear\n")
    code, _, err = run_main(["--data", str(tr), "--test-data", str(te)], capsys)
    assert code == 2 and "fear" in err
    assert err.strip().count("\n") == 0 and "Traceback" not in err  # one line


def test_nan_loss_exits_1_with_a_clear_message():
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "jaxrnn.train",
            "--model",
            "simple_rnn",
            "--optimizer",
            "sgd",
            "--lr",
            "1e30",
            "--hidden",
            "4",
            "--epochs",
            "2",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "NaN or infinite" in proc.stderr and "Traceback" not in proc.stderr
