"""Output paths are checked before any work (``jaxrnn.cli._common.check_outputs``): a folder,
a path under a file, an unwritable place, an input the run reads, or two outputs naming one
file are refused in one line, and nothing is written; a write that still fails late is one
line too (``jaxrnn.util.pipes.run_main``)."""

from __future__ import annotations

import errno
import json
import tempfile

import pytest

from jaxrnn.cli import make_data, study
from jaxrnn.cli import train as cli
from jaxrnn.cli._common import FIGURE_SUFFIXES, check_outputs
from jaxrnn.errors import ConfigError
from jaxrnn.util.pipes import run_main


def refused(match: str, outputs, inputs=(), **kw) -> None:
    with pytest.raises(ConfigError, match=match):
        check_outputs(outputs, inputs, **kw)


def test_check_outputs_rules(tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("text,label\n")
    ck = tmp_path / "run.ckpt"
    ck.write_bytes(b"x")
    refused("--save .* is a folder", [("--save", str(tmp_path))])
    refused(f"{data} is a file, not a folder", [("--json", str(data / "x.json"))])
    refused("is the --data file this run reads", [("--save", str(data))], [("--data", str(data))])
    # the same file by another spelling is the same file
    refused("is the --data file", [("--json", str(tmp_path / "." / "data.csv"))],
            [("--data", str(data))])  # fmt: skip
    refused("--save and --json both name", [("--save", "a.x"), ("--json", "./a.x")])
    refused("is not a regular file", [("--json", "/dev/null")])
    refused("a figure's name ends in one of .png", [("--plot", str(tmp_path / "curves.txt"))],
            figures={"--plot"})  # fmt: skip
    refused("a figure's name", [("--plot", str(tmp_path / "curves"))], figures={"--plot"})
    # allowed: --save over --resume (continued in place), a folder still to make, a figure
    check_outputs([("--save", str(ck)), ("--plot", str(tmp_path / "new" / "sub" / "c.PNG"))],
                  [("--resume", str(ck))], may_replace={("--save", "--resume")},
                  figures={"--plot"})  # fmt: skip
    refused("is the --resume file", [("--json", str(ck))], [("--resume", str(ck))],
            may_replace={("--save", "--resume")})  # fmt: skip
    assert ".png" in FIGURE_SUFFIXES and ".pdf" in FIGURE_SUFFIXES
    assert not (tmp_path / "new").exists()  # checking writes nothing that stays


def test_an_unwritable_folder_is_found_by_a_real_write(tmp_path, monkeypatch):
    # root passes every permission check, so the check writes (and removes) a probe file
    def denied(*a, **kw):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    refused(f"cannot write in {tmp_path} \\(Permission denied\\)",
            [("--save", str(tmp_path / "a" / "b.ckpt"))])  # fmt: skip


def test_train_refuses_before_training_and_keeps_the_input(tmp_path, capsys):
    data = tmp_path / "d.csv"
    data.write_text("text,label\ngood day,pos\nbad day,neg\n" * 4)
    before = data.read_bytes()
    for flags, needle in [
        (["--save", str(data)], "--save"),
        (["--json", str(data)], "--json"),
        (["--bad-rows", str(data), "--skip-bad-rows"], "--bad-rows"),
        (["--save", str(tmp_path / "o"), "--json", str(tmp_path / "o")], "both name"),
        (["--save", str(tmp_path)], "is a folder"),
        (["--confusion-png", str(tmp_path / "c.txt")], "a figure's name"),
    ]:  # fmt: skip
        assert cli.main(["--data", str(data), "--model", "gru", "--hidden", "4", "--epochs",
                         "1", "--quiet", *flags]) == 2, flags  # fmt: skip
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and needle in err, err
    assert data.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv"]


def test_data_writers_refuse_one_file_for_two_outputs(tmp_path, capsys):
    out = str(tmp_path / "d.csv")
    assert make_data.synthetic(["--out", out, "--test-out", out]) == 2
    assert "--out and --test-out both name" in capsys.readouterr().err
    assert make_data.tagging(["--out", str(tmp_path), "--n", "3"]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert make_data.compositional(["--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_study_refuses_bad_paths_in_one_line(tmp_path, capsys):
    afile = tmp_path / "f.txt"
    afile.write_text("x")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "results.json").write_text(json.dumps({"x": 1}))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "results.json").write_text('{"x":')
    for args, needle in [
        (["--part", "compare", "--quick", "--out", str(afile)], "is a file, not a folder"),
        (["--replot", str(tmp_path / "none")], "cannot read"),
        (["--replot", str(tmp_path / "broken")], "is not JSON"),
        (["--replot", str(tmp_path / "other")], "is not a study's results"),
        (["--workers", "0"], "expected a positive integer"),
    ]:  # fmt: skip
        with pytest.raises(SystemExit) as e:
            study.main(args)
        err = capsys.readouterr().err
        assert e.value.code == 2 and err.count("\n") == 1 and needle in err, (args, err)


def test_a_late_write_error_is_one_line(capsys):
    def main(argv):
        raise OSError(errno.ENOSPC, "No space left on device", "/full/run.json")

    assert run_main(main) == 1
    assert capsys.readouterr().err == "error: /full/run.json: No space left on device\n"


def test_sweep_plot_and_paired_check_their_outputs(tmp_path, capsys):
    from jaxrnn.cli import paired, plot, sweep

    afile = tmp_path / "f.txt"
    afile.write_text("x")
    assert sweep.main(["--out", str(afile)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    run = tmp_path / "run.json"
    run.write_text("{}")
    assert plot.main([str(run), "--out", str(run)]) == 2  # the figure over its own input
    assert "is the RUN file" in capsys.readouterr().err
    assert plot.main([str(run), "--out", str(tmp_path / "fig.txt")]) == 2
    assert "a figure's name" in capsys.readouterr().err
    data = tmp_path / "d.csv"
    data.write_text("text,label\n")
    assert paired.main(["lstm", "gru", "--seeds", "2", "--data", str(data), "--json",
                        str(data)]) == 2  # fmt: skip
    assert "is the --data file" in capsys.readouterr().err
    assert data.read_text() == "text,label\n" and run.read_text() == "{}"


def test_piped_texts_must_be_utf8_and_lose_a_bom(monkeypatch):
    import io

    from jaxrnn.cli._common import read_texts
    from jaxrnn.errors import UsageError

    def piped(raw: bytes):  # stdin as Python opens it under a UTF-8 locale
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8",
                                                          errors="surrogateescape"))

    piped(b"\xef\xbb\xbfgood day\r\nbad day\n")
    assert read_texts([]) == ["good day", "bad day"]
    piped(b"fine\nwe \xff flew\n")  # was read as "we \udcff flew" and classified
    with pytest.raises(UsageError, match=r"not valid UTF-8 text \(line 2\)"):
        read_texts([])
