"""The task registry (jaxrnn.runs.registry): the one place that knows the tasks, and a
predictor for every task's trained weights (``RunResult.predictor()``)."""

import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jaxrnn.data.conll import load_conll, write_conll
from jaxrnn.data.generators.entities import make_tagging
from jaxrnn.data.series import load_series_csv, make_periodic, write_series_csv
from jaxrnn.errors import ConfigError
from jaxrnn.runs import registry
from jaxrnn.runs.config import TrainConfig, resolve_config
from jaxrnn.runs.predictor import (
    Forecaster,
    LanguageModelPredictor,
    Predictor,
    Tagger,
    load_predictor,
)
from jaxrnn.runs.run import fit

ROOT = Path(__file__).resolve().parents[1]
# What comparing a task's name looks like (issue 28: only the registry and the task modules).
TASK_TEST = re.compile(r"cfg\.task\b|task ==|task !=|\.task in")


def test_only_the_registry_compares_task_names():
    allowed = {"runs/registry.py"} | {f"runs/{p.name}" for p in
                                      (ROOT / "jaxrnn" / "runs").glob("task_*.py")}  # fmt: skip
    # the study's parallel part names its own problems (sentences, long_range, char_lm, ...),
    # not --task names
    allowed |= {"study/parallel.py"}
    found = [f"{p.relative_to(ROOT / 'jaxrnn')}:{i}: {line.strip()}"
             for p in sorted((ROOT / "jaxrnn").rglob("*.py"))
             if str(p.relative_to(ROOT / "jaxrnn")) not in allowed
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if TASK_TEST.search(line)]  # fmt: skip
    assert found == []
    assert TASK_TEST.search("if cfg.task == 'lm':")  # the pattern does find a comparison


def test_every_task_has_info_and_a_spec_that_matches():
    for name, info in registry.TASKS.items():
        assert info.name == name
        spec = registry.get_spec(name)
        assert spec.name == name and spec.info is info
        assert spec.predictor is not None, name
    with pytest.raises(ValueError, match="no TaskInfo"):
        registry.register(registry.SPECS["tag"]._replace(name="nope"))


def test_registry_and_config_import_no_jax():
    code = ("import sys\nimport jaxrnn.runs.registry, jaxrnn.runs.config\n"
            "from jaxrnn.runs.config import TrainConfig, resolve_config\n"
            "for t in ('classify', 'lm', 'tag', 'regress'):\n"
            "    resolve_config(TrainConfig(task=t, model='lstm'))\n"
            "print('jax' in sys.modules)\n")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=60, check=True).stdout  # fmt: skip
    assert out.strip() == "False"


def test_task_rules_read_from_the_table():
    # presets: the task's over the model's, the language model's per model
    assert resolve_config(TrainConfig(task="tag", model="lstm")).batch_size == 32
    assert resolve_config(TrainConfig(task="lm", model="rnn")).optimizer == "adagrad"
    with pytest.raises(ConfigError, match="--task lm predicts the next token"):
        resolve_config(TrainConfig(task="lm", model="bilstm"))
    with pytest.raises(ConfigError, match="--backend numpy runs the scratch classifier: "
                       "--task regress needs --backend jax"):  # fmt: skip
        resolve_config(TrainConfig(task="regress", backend="numpy"))
    # validation splits: every task on JAX; --eval-data (labelled texts) classify's only
    assert resolve_config(TrainConfig(task="tag", val_fraction=0.2)).val_fraction == 0.2
    with pytest.raises(ConfigError, match="--task regress has no extra evaluation sets"):
        resolve_config(TrainConfig(task="regress", eval_data=("x.csv",)))
    with pytest.raises(ConfigError, match="work with --task classify, lm, tag, regress on the "
                       "jax backend"):  # fmt: skip
        resolve_config(TrainConfig(task="lm", model="rnn", backend="numpy", val_fraction=0.2))
    with pytest.raises(ConfigError, match="--task must be one of classify, lm, tag, regress"):
        resolve_config(TrainConfig(task="nope"))


# ----------------------------------------------------------------------------- predictors


def test_classify_predictor_labels_the_test_split_as_the_run_did():
    from jaxrnn.runs.prepare import load_texts

    res = fit(TrainConfig(model="gru", hidden=8, epochs=2, lr=3e-2, dtype="float64"))
    pred = res.predictor()
    assert isinstance(pred, Predictor)
    data = load_texts(res.config)
    labels = [r["label"] for r in pred.predict(list(data.test.texts))]
    names = res.label_names
    confusion = np.zeros((len(names), len(names)), int)
    for t, p in zip(data.test.labels, labels, strict=True):
        confusion[int(t), names.index(p)] += 1
    assert confusion.tolist() == res.reports[0]["confusion"]


def test_tagger_scores_the_test_sentences_as_the_run_did(tmp_path):
    tr, te = tmp_path / "train.conll", tmp_path / "test.conll"
    write_conll(tr, make_tagging(60, seed=0))
    write_conll(te, make_tagging(20, seed=0, split="test"))
    cfg = TrainConfig(task="tag", model="gru", data=str(tr), test_data=str(te), epochs=2,
                      hidden=8, embed_dim=8, batch_size=8, dtype="float64")  # fmt: skip
    res = fit(cfg)
    tagger = res.predictor()
    assert isinstance(tagger, Tagger)
    sents = load_conll(te)
    rows = tagger.predict([" ".join(s.tokens) for s in sents])
    assert [r["tokens"] for r in rows] == [list(s.tokens) for s in sents]
    same = sum(a == b for r, s in zip(rows, sents, strict=True)
               for a, b in zip(r["tags"], s.tags, strict=True))  # fmt: skip
    tokens = sum(len(s.tokens) for s in sents)
    assert same / tokens == pytest.approx(res.reports[0]["token_accuracy"], abs=1e-12)
    assert res.reports[0]["tokens"] == tokens


def test_forecaster_reproduces_the_run_s_test_error(tmp_path):
    """A test file of window + 1 rows is one test window: the run's test MAE there is
    |forecast - the next load|, the forecast from the window's rows."""
    window = 6
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    series = make_periodic(120, seed=0)
    write_series_csv(train, series)
    write_series_csv(test, make_periodic(window + 1, seed=1))
    cfg = TrainConfig(task="regress", model="gru", data=str(train), test_data=str(test),
                      target="load", window=window, epochs=2, hidden=8, batch_size=16,
                      dtype="float64")  # fmt: skip
    res = fit(cfg)
    fc = res.predictor()
    assert isinstance(fc, Forecaster)
    rows = load_series_csv(str(test), "load").values  # [window + 1, 3], load first
    out = fc.predict(rows[:window])
    assert out["target"] == "load" and out["window"] == window and len(out["forecast"]) == 1
    report = res.reports[0]
    assert report["windows"] == 1
    # (rel 1e-6: make_windows stores the standardised targets in float32)
    assert abs(out["forecast"][0] - rows[window, 0]) == pytest.approx(report["mae"], rel=1e-6)


def test_language_model_predicts_the_next_token_as_the_run_scored_it(tmp_path):
    """The run's test loss is the mean of -log p(next char | the text before it), read from
    the zero state (the test text is one chunk): the predictor's next-token probabilities
    give the same mean."""
    train, test = tmp_path / "train.txt", tmp_path / "test.txt"
    train.write_text("the cat sat on the mat. the hat is on the cat.\n" * 4)
    test.write_text("a cat sat on a hat.")
    cfg = TrainConfig(task="lm", model="lstm", data=str(train), test_data=str(test), epochs=2,
                      hidden=8, embed_dim=4, batch_size=2, seq_len=32, dtype="float64")
    res = fit(cfg)
    lm = res.predictor()
    assert isinstance(lm, LanguageModelPredictor)
    text = test.read_text()
    nll = [-math.log(lm.next_token_proba(text[:i])[lm.vocab.index[text[i]]])
           for i in range(1, len(text))]  # fmt: skip
    assert np.mean(nll) == pytest.approx(res.final["test_loss"], rel=1e-9)
    probs = lm.next_token_proba("the c")
    assert probs.shape == (lm.vocab.size,) and probs.sum() == pytest.approx(1.0)
    row = lm.predict(["the c"], top=3)[0]
    assert row["next"] == lm.vocab.tokens[int(np.argmax(probs))]
    assert row["probability"] == pytest.approx(probs.max())
    assert [p for _, p in row["top"]] == sorted(np.sort(probs)[-3:].tolist(), reverse=True)
    samples = lm.sample("the ", 10, seed=3, num_samples=2)
    assert len(samples) == 2 and all(s.startswith("the ") and len(s) == 14 for s in samples)
    assert samples == lm.sample("the ", 10, seed=3, num_samples=2)  # seeded


def test_load_predictor_picks_the_checkpoint_s_task(tmp_path):
    tr = tmp_path / "train.conll"
    write_conll(tr, make_tagging(30, seed=0))
    path = str(tmp_path / "t.ckpt")
    res = fit(TrainConfig(task="tag", model="gru", data=str(tr), epochs=1, hidden=4,
                          embed_dim=4, batch_size=8), save=path)  # fmt: skip
    pred = load_predictor(path)
    assert isinstance(pred, Tagger)
    sents = ["we flew to Jordan .", "Zanzibar smiled"]
    assert pred.predict(sents) == res.predictor().predict(sents)
