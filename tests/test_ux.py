"""What a new user hit (issue 18): Ctrl-C, pipes, --resume, labels, emojis, max-len, the
numbers on the terminal, and comparing two models. Tiny models, few epochs."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jaxrnn.cli import predict
from jaxrnn.cli import train as cli
from jaxrnn.runs.checkpoints import load_checkpoint
from jaxrnn.runs.results import summarize

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}  # the session's compile cache (conftest)
GRU = ["--model", "gru", "--hidden", "4"]


def _popen(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> str:
    """A 1-epoch GRU checkpoint on the bundled data."""
    path = str(tmp_path_factory.mktemp("ck") / "gru.ckpt")
    assert cli.main([*GRU, "--epochs", "1", "--save", path, "--quiet"]) == 0
    return path


@pytest.fixture(scope="module")
def labels_csv(tmp_path_factory) -> str:
    """Typo'd labels (Joy/joy, sadnes/sadness), a symbols-only text, one 100-word text."""
    path = tmp_path_factory.mktemp("data") / "typos.csv"
    rows = [(f"i feel good {i}", "joy") for i in range(6)]
    rows += [(f"so sad today {i}", "sadness") for i in range(6)]
    rows += [("Happy happy", "Joy"), ("very sad", "sadnes"), ("?!", "joy")]
    rows += [(" ".join(["long"] * 100), "sadness")]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        w.writerows(rows)
    return str(path)


# 1. Ctrl-C ---------------------------------------------------------------------------


def _interrupt_after_first_line(args: list[str]) -> tuple[int, str, str]:
    proc = _popen(args)
    first = proc.stdout.readline()  # an epoch line: training is under way
    assert first.startswith("Epoch"), first + proc.stderr.read()
    t = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert time.perf_counter() - t < 20  # answered at the end of a short chunk
    return proc.returncode, first + out, err


def test_ctrl_c_saves_and_exits_130(tmp_path):
    ck = str(tmp_path / "run.ckpt")
    code, _, err = _interrupt_after_first_line(
        ["jaxrnn.train", *GRU, "--epochs", "100000", "--log-every", "5", "--save", ck])
    assert code == 130, err
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    epoch = load_checkpoint(ck).epoch
    assert line == f"interrupted at epoch {epoch}; resume with --resume {ck}"
    assert 0 < epoch < 100000


def test_ctrl_c_numpy_backend_stops_between_epochs():
    code, _, err = _interrupt_after_first_line(
        ["jaxrnn.train", "--backend", "numpy", "--hidden", "4", "--epochs", "100000",
         "--log-every", "1"])  # fmt: skip
    assert code == 130 and "Traceback" not in err
    assert err.strip().startswith("interrupted at epoch ")


def test_chunks_are_capped_by_estimated_time():
    from jaxrnn.runs.config import TrainConfig, resolve_config
    from jaxrnn.runs.interrupt import max_chunk_epochs

    big = resolve_config(TrainConfig(model="bilstm"))
    assert max_chunk_epochs(big, rows=10_000, length=200) == 1
    small = resolve_config(TrainConfig(model="gru", hidden=4))
    assert max_chunk_epochs(small, rows=58, length=15) > 10


def test_study_keeps_the_models_it_finished(tmp_path, monkeypatch, capsys):
    from jaxrnn.cli import study as study_cli
    from jaxrnn.study import compare

    real = compare.run_jax

    def run_jax(spec, *a, **kw):
        if spec.name == "gru":
            raise KeyboardInterrupt
        return real(spec, *a, **kw)

    monkeypatch.setattr(compare, "run_jax", run_jax)
    out = tmp_path / "study"
    code = study_cli.main(["--part", "compare", "--models", "lstm,gru", "--quick", "--seeds",
                           "2", "--out", str(out), "--quiet"])  # fmt: skip
    assert code == 130
    res = json.loads((out / "results.json").read_text())
    assert list(res["models"]) == ["lstm"]
    assert res["settings"]["interrupted"] == "interrupted after 1 of 2 models"
    assert "interrupted after 1 of 2 models" in capsys.readouterr().err


# 2. Pipes ------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["train", "predict"])
def test_a_closed_pipe_ends_quietly(which, ckpt):
    if which == "train":
        args = ["jaxrnn.train", "--backend", "numpy", "--hidden", "4", "--epochs", "30",
                "--log-every", "1"]  # fmt: skip
    else:
        args = ["jaxrnn.predict", "--checkpoint", ckpt, *(["i am happy"] * 3000)]
    proc = _popen(args)
    proc.stdout.readline()
    proc.stdout.close()  # `| head -1`
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err, err


# 3. --resume ---------------------------------------------------------------------------


@pytest.mark.parametrize("flags", [["--model", "lstm", "--hidden", "8"], ["--model", "rnn"],
                                   ["--data", "x.csv"], ["--seeds", "2"]])  # fmt: skip
def test_resume_refuses_flags_that_change_the_model_or_data(ckpt, flags, capsys):
    before = os.path.getmtime(ckpt)
    assert cli.main(["--resume", ckpt, *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and flags[0] in err
    assert os.path.getmtime(ckpt) == before


def test_resume_applies_and_prints_the_schedule_and_saves_only_when_asked(ckpt, capsys,
                                                                          tmp_path):  # fmt: skip
    before = os.path.getmtime(ckpt)
    assert cli.main(["--resume", ckpt, "--epochs", "2", "--lr", "0.005", "--model", "gru",
                     "--quiet"]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "at epoch 1: lr 0.01 -> 0.005, epochs 1 -> 2; not saving" in err
    assert os.path.getmtime(ckpt) == before and load_checkpoint(ckpt).epoch == 1
    out = str(tmp_path / "more.ckpt")
    assert cli.main(["--resume", ckpt, "--epochs", "2", "--lr", "0.005", "--save", out,
                     "--quiet"]) == 0  # fmt: skip
    r = load_checkpoint(out)
    assert r.epoch == 2 and r.config.lr == 0.005 and r.config.epochs == 2


# 4-6. Labels, emojis, max-len --------------------------------------------------------


def test_data_summary_warnings_and_padding_note(labels_csv, capsys):
    code = cli.main(["--data", labels_csv, *GRU, "--epochs", "1", "--max-len", "80"])
    assert code == 0
    cap = capsys.readouterr()
    assert "rows: 16 (" in cap.out and "\nsadnes " in cap.out  # the summary table
    warnings = [ln for ln in cap.err.splitlines() if ln.startswith("warning: ")]
    notes = [ln for ln in cap.err.splitlines() if ln.startswith("note: ")]
    # labels that differ only by case are one class (merged, with a note; no warning)
    assert any("'Joy'" in n and "'joy'" in n and "merged as" in n for n in notes)
    assert not any("'Joy'" in w for w in warnings)
    assert any("'sadnes'" in w and "'sadness'" in w for w in warnings)
    assert any("no test examples" in w for w in warnings)
    assert any("1 of " in w and "has no known token" in w for w in warnings)  # "?!"
    assert any(ln.startswith("note: every text is padded to 80 tokens") for ln in
               cap.err.splitlines())  # fmt: skip
    assert "note: 1 text was longer than max_len 80 and was truncated" in cap.out


def test_predict_json_has_known_tokens_and_warns(ckpt, capsys):
    assert predict.main(["--checkpoint", ckpt, "--json", "😀", "zzz qqq", "i am happy"]) == 0
    cap = capsys.readouterr()
    rows = [json.loads(ln) for ln in cap.out.splitlines()]
    assert [r["known_tokens"] for r in rows] == [0, 0, 3]
    assert cap.err.startswith("warning: 2 of 3 texts ('😀', 'zzz qqq')")
    assert cap.err.rstrip().endswith("their labels come from padding alone")


def test_one_string_is_one_text(ckpt):
    from jaxrnn.runs.predictor import load_predictor

    p = load_predictor(ckpt)
    one = p.predict("i am happy")  # was 10 predictions, one per character
    assert one == p.predict(["i am happy"]) and len(one) == 1
    assert p.predict_proba("i am happy").shape == (1, len(p.label_names))


def test_predict_warning_names_the_oov_token_when_there_is_one(tmp_path, capsys):
    path = str(tmp_path / "oov.ckpt")
    assert cli.main([*GRU, "--epochs", "1", "--oov-token", "<unk>", "--save", path,
                     "--quiet"]) == 0  # fmt: skip
    capsys.readouterr()
    assert predict.main(["--checkpoint", path, "zzz qqq"]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "its label comes from the out-of-vocabulary token '<unk>' alone" in err


def test_out_of_memory_is_one_line(monkeypatch, capsys):
    def fit(*a, **kw):
        raise RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1.3GB")

    monkeypatch.setattr(cli, "fit", fit)
    assert cli.main([*GRU, "--max-len", "100000"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--max-len 100000" in err and "--batch-size 8" in err


# python -m jaxrnn.train in a process whose address space is capped before JAX starts
# (set in the child itself: a preexec_fn is unsafe in this process, which has JAX's threads).
# JAX's start (thread stacks, arenas) fits; no training program of the sizes below does.
CAPPED_TRAIN = """
import os, resource, runpy
limit = int(3e9 + (os.cpu_count() or 1) * 1.5e8)
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
runpy.run_module("jaxrnn.train", run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize("extra, why", [
    (["--hidden", "256", "--max-len", "1000000"], "(XLA RESOURCE_EXHAUSTED)"),  # the program
    (["--hidden", "8", "--max-len", "100000000"], "(Unable to allocate "),  # NumPy's padding
])  # fmt: skip
def test_a_real_out_of_memory_is_one_line(extra, why):
    """Allocations that really fail (the address space is capped, so nothing large is ever
    touched): one line and exit code 2, no traceback. The estimate, which would refuse the
    run before compiling, is switched off (``JAXRNN_MEMORY_LIMIT``): this is the case of an
    estimate too low or memory taken by others after it."""
    env = dict(os.environ, JAXRNN_MEMORY_LIMIT="1e15")
    p = subprocess.run([sys.executable, "-c", CAPPED_TRAIN, *GRU, *extra, "--quiet"],
                       capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert p.returncode == 2, p.stderr[-2000:]
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("error: out of memory " + why)
    assert f"--max-len {extra[-1]} and --batch-size 8" in p.stderr


# 7. Numbers on the terminal ------------------------------------------------------------


def test_accuracy_intervals_are_clipped_to_0_1():
    s = summarize([1.0, 1.0, 0.95, 1.0], bounds=(0.0, 1.0))
    assert s["ci95"][1] == 1.0 and s["ci95"][0] < s["mean"] < 1.0
    assert summarize([1.0, 1.0, 0.95, 1.0])["ci95"][1] > 1.0  # unbounded: as before


def test_quiet_seeds_print_the_summary_and_intervals(capsys, tmp_path):
    js = str(tmp_path / "r.json")
    assert cli.main([*GRU, "--epochs", "2", "--seeds", "2", "--quiet", "--json", js]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("gru (jax, ") and "mean of 2 seeds" in lines[0]
    assert lines[1].startswith("over 2 seeds, mean [95% interval of the mean]: train_loss ")
    agg = json.load(open(js))["aggregate"]["final"]
    assert all(0 <= v <= 1 for k in ("train_acc", "test_acc") for v in agg[k]["ci95"])
    assert f"test_acc {agg['test_acc']['mean']:.3f} [" in lines[1]


def test_help_shows_the_defaults_that_apply():
    from jaxrnn.cli.study import build_parser as study_parser

    train = " ".join(cli.build_parser().format_help().split())
    study = " ".join(study_parser().format_help().split())
    assert "(default: None)" not in train and "(default: None)" not in study
    from jaxrnn.runs.config import MODEL_NAMES

    last = MODEL_NAMES[-1]  # the presets are listed in order, the data rule after the last
    assert f"{last}: 25; with --data: 0 (all words)]" in train
    assert f"{last}: 15; with --data: auto]" in train


# 8. Comparing two models ---------------------------------------------------------------


def test_paired_comparison_with_a_split_per_seed(labels_csv, tmp_path, capsys):
    from jaxrnn.cli import paired
    from jaxrnn.runs.config import TrainConfig
    from jaxrnn.runs.prepare import load_texts

    splits = [load_texts(TrainConfig(data=labels_csv, seed=s)).test.texts for s in (0, 1)]
    assert splits[0] != splits[1]  # what --resplit draws for seeds 0 and 1
    js = str(tmp_path / "cmp.json")
    code = paired.main(["lstm", "gru", "--seeds", "2", "--data", labels_csv, "--resplit",
                        "--hidden", "2", "--epochs", "1", "--json", js])  # fmt: skip
    assert code == 0
    res = json.load(open(js))
    a, b = res["values"]["lstm"], res["values"]["gru"]
    assert res["resplit"] is True and res["seeds"] == [0, 1]
    assert res["difference"]["mean"] == pytest.approx((a[0] - b[0] + a[1] - b[1]) / 2)
    assert "lstm - gru, test_acc: mean difference" in capsys.readouterr().out
    assert paired.main(["lstm", "gru", "--seeds", "1"]) == 2


def test_resplit_refuses_a_json_file_that_holds_its_own_split(capsys):
    from jaxrnn.cli import paired

    own = str(Path(__file__).resolve().parents[1] / "jaxrnn" / "data" / "sentiment.json")
    assert paired.main(["lstm", "gru", "--seeds", "2", "--data", own, "--resplit"]) == 2
    err = capsys.readouterr().err
    last = err.splitlines()[-1]  # after paired's "training lstm: ..." line
    assert last.startswith("error: --resplit: ") and 'its own split (a "test" array)' in last
    assert "Traceback" not in err


def test_paired_refuses_an_unknown_metric_before_training(capsys):
    from jaxrnn.cli import paired

    assert paired.main(["gru", "lstm", "--seeds", "2", "--metric", "foo"]) == 2
    cap = capsys.readouterr()
    assert "--metric foo" in cap.err and "training" not in cap.err


def test_paired_verdict_knows_which_way_is_better():
    from jaxrnn.cli.paired import paired_verdict

    up = {"mean": 0.1, "ci95": (0.05, 0.15)}  # A - B > 0, the interval clear of 0
    assert paired_verdict("gru", "lstm", "test_acc", up) == "gru is better"
    # a higher loss, error or bits/char is worse: once the verdict named the loser here
    for metric in ("train_loss", "test_mse", "test_mae", "test_bpc", "test_ppl"):
        assert paired_verdict("gru", "lstm", metric, up) == f"lstm is better (lower {metric})"
    down = {"mean": -0.1, "ci95": (-0.15, -0.05)}
    assert paired_verdict("gru", "lstm", "test_loss", down).startswith("gru is better")
    assert paired_verdict("gru", "lstm", "best_epoch", down) == "lstm is higher"
    assert "contains 0" in paired_verdict("a", "b", "test_acc", {"mean": 0.1,
                                                               "ci95": (-0.1, 0.3)})


def test_python_api_arguments_of_the_wrong_kind_are_config_errors():
    import numpy as np

    from jaxrnn.errors import ConfigError
    from jaxrnn.runs import TrainConfig, fit, resolve_config

    for kw, needle in [(dict(hidden="8"), "--hidden must be an integer, got '8'"),
                       (dict(epochs=2.5), "--epochs must be an integer"),
                       (dict(lr="0.01"), "--lr must be a number"),
                       (dict(seed=True), "--seed must be an integer")]:  # fmt: skip
        with pytest.raises(ConfigError, match=needle):
            resolve_config(TrainConfig(**kw))
    # NumPy scalars are numbers (np.float32(0.01) was refused as "not a positive number")
    cfg = resolve_config(TrainConfig(model="gru", lr=np.float32(0.01), hidden=np.int64(8)))
    assert type(cfg.lr) is float and type(cfg.hidden) is int and cfg.hidden == 8
    for data in (np.zeros((3, 4)), "texts.csv"):  # were AttributeErrors from inside fit
        with pytest.raises(ConfigError, match="data= takes numeric sequences"):
            fit(TrainConfig(model="gru", epochs=1), data=data)
    with pytest.raises(ConfigError, match="--seeds must be an integer"):
        fit(TrainConfig(model="gru", epochs=1), seeds="2")
    with pytest.raises(ConfigError, match="is a folder"):  # before training, not after
        fit(TrainConfig(model="gru", epochs=1), save=os.path.dirname(ROOT))
    with pytest.raises(ConfigError, match="--save-every needs --save"):  # was ignored
        fit(TrainConfig(model="gru", epochs=1), save_every=1)
    assert cli.main(["--save-every", "2", "--epochs", "1", "--quiet"]) == 2  # the same check


# A mistyped path or flag value is one line at once: the commands check them before JAX
# starts (importing JAX takes ~1.5 s of a 2.3 s prediction).
NO_JAX_ERRORS = r"""
import contextlib, io, json, os, sys
from jaxrnn.cli import generate, predict, sweep, train
from jaxrnn.util import cache
cache.enable(sys.argv[3])  # as the commands do first: JAX not imported for it
out = []
for name, main, argv in [
        ("predict", predict.main, ["--checkpoint", sys.argv[1], "a text"]),
        ("predict-dir", predict.main, ["--checkpoint", sys.argv[2], "a text"]),
        ("predict-tag", lambda a: predict.main(a, task="tag"), ["--checkpoint", sys.argv[1], "x"]),
        ("generate", generate.main, ["--checkpoint", sys.argv[1]]),
        ("train-resume", train.main, ["--resume", sys.argv[1]]),
        ("train-data", train.main, ["--data", sys.argv[1] + ".csv", "--quiet"]),
        ("train-lm-data", train.main, ["--task", "lm", "--data", sys.argv[1] + ".txt"]),
        ("train-eval-data", train.main, ["--eval-data", sys.argv[1] + ".csv"]),
        ("train-epochs", train.main, ["--epochs", "0"]),
        ("train-bad-json", train.main, ["--data", os.path.join(sys.argv[2], "bad.json")]),
        ("train-no-label", train.main, ["--data", os.path.join(sys.argv[2], "nolabel.csv")]),
        ("sweep-data", sweep.main, ["--data", sys.argv[1] + ".csv", "--out", sys.argv[2]])]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = main(argv)
    out.append([name, rc, err.getvalue()])
print(json.dumps({"rows": out, "jax": "jax" in sys.modules,
                  "env": os.environ.get("JAX_COMPILATION_CACHE_DIR")}))
"""


def test_a_missing_file_or_bad_flag_is_one_line_before_jax_starts(tmp_path):
    """... and so is a data file that cannot be read: ``fit`` reads the data before it
    imports JAX (the classify task's module imports its JAX parts where it uses them)."""
    missing, cache = str(tmp_path / "nope.ckpt"), str(tmp_path / "cache")
    (tmp_path / "bad.json").write_text('[{"text": "a", "label": 1},\n {"text": "b" "label": 0}]')
    (tmp_path / "nolabel.csv").write_text("text,label\ngood day,pos\nbad day,\n")
    p = subprocess.run([sys.executable, "-c", NO_JAX_ERRORS, missing, str(tmp_path), cache],
                       capture_output=True, text=True, timeout=60, check=True,
                       env={**os.environ, "JAXRNN_CACHE_DIR": cache})  # fmt: skip
    got = json.loads(p.stdout)
    assert got["jax"] is False
    assert got["env"] == cache  # the cache's switch waits in the environment for JAX
    want = {"predict": "no such checkpoint file", "predict-dir": "is a directory",
            "predict-tag": "no such checkpoint file", "generate": "no such checkpoint file",
            "train-resume": "no such checkpoint file", "train-data": "no such file: ",
            "train-lm-data": "no such file: ", "train-eval-data": "no such file: ",
            "train-epochs": "--epochs must be at least 1", "sweep-data": "no such file: ",
            "train-bad-json": "bad.json: not valid JSON (Expecting ',' delimiter at line 2",
            "train-no-label": "nolabel.csv: 1 row of 2 with no label in 'label' (first at line 3)"}
    for name, rc, err in got["rows"]:
        assert rc == 2, (name, err)
        assert err.startswith("error: ") and err.count("\n") == 1, (name, err)
        assert want[name] in err, (name, err)


def test_cache_enable_moves_a_cache_jax_has_opened(tmp_path):
    """``cache.enable(path)`` in a process that has compiled with another cache directory:
    the next programs go to ``path`` (JAX opens its cache once; ``enable`` makes it open
    again), and back to the session's cache after."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxrnn.util import cache

    session = jax.config.jax_compilation_cache_dir
    jax.jit(lambda x: x * 1.75)(np.arange(3.0)).block_until_ready()  # JAX's cache is open
    try:
        assert cache.enable(str(tmp_path)) == str(tmp_path)
        jax.jit(lambda x: jnp.cos(x) * 4.5 - x)(np.arange(3.0)).block_until_ready()
        assert any(f.endswith("-cache") for f in os.listdir(tmp_path))
    finally:
        cache.enable(session)
    seen = set(os.listdir(tmp_path))
    jax.jit(lambda x: jnp.cos(x) * 5.5 + x)(np.arange(3.0)).block_until_ready()
    assert set(os.listdir(tmp_path)) == seen
