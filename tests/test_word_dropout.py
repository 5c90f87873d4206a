"""``--word-dropout``: only real tokens become the unknown word, at rate ~p, never at
evaluation; and ``--task tag``'s unknown-word accuracy against a hand count."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrnn.cli.predict import main as predict_main
from jaxrnn.cli.train import main as train_main
from jaxrnn.data.conll import Sentence, load_conll, write_conll
from jaxrnn.data.generators.entities import make_tagging
from jaxrnn.nn import models, sequence
from jaxrnn.runs.task_tag import format_report, report_final, report_from, unknown_tokens


def _ids(rng, n=200, t=50, vocab=30):
    """``ids [n, t]`` with ids 2..vocab-1 before each row's length, padding 0 after."""
    lengths = rng.integers(1, t + 1, n)
    ids = rng.integers(2, vocab, (n, t))
    ids[np.arange(t)[None, :] >= lengths[:, None]] = 0
    return jnp.asarray(ids, jnp.int32), jnp.asarray(lengths, jnp.int32)


def test_word_dropout_replaces_real_tokens_at_rate_p():
    ids, _ = _ids(np.random.default_rng(0))
    real = np.asarray(ids) != 0
    for p in (0.1, 0.5):
        out = np.asarray(models.word_dropout(jax.random.key(1), ids, p, unk_id=1))
        changed = out != np.asarray(ids)
        assert not (changed & ~real).any()  # padding stays padding
        assert (out[changed] == 1).all()  # a dropped word becomes the unknown word
        n = real.sum()
        rate = changed.sum() / n
        # binomial: 5 standard deviations (n ~ 5000: about +-0.035 at p=0.5)
        assert abs(rate - p) < 5 * np.sqrt(p * (1 - p) / n), (p, rate)
    # reproducible from the key, different for another key
    a = models.word_dropout(jax.random.key(1), ids, 0.3)
    assert (a == models.word_dropout(jax.random.key(1), ids, 0.3)).all()
    assert (a != models.word_dropout(jax.random.key(2), ids, 0.3)).any()


@pytest.fixture(scope="module")
def tagger_and_params():
    layer = sequence.lstm(4, bidirectional=True)
    base = models.SequenceTagger(layer, 30, 5, 3)
    return base, base.init(jax.random.key(0))


def test_word_dropout_only_in_training(tagger_and_params):
    base, params = tagger_and_params
    ids, lengths = _ids(np.random.default_rng(1), n=4, t=6)
    dropped = models.SequenceTagger(base.layer, 30, 5, 3, word_dropout=0.5)
    # evaluation (no key): exactly the model without word dropout
    np.testing.assert_array_equal(dropped.apply(params, ids, lengths),
                                  base.apply(params, ids, lengths))  # fmt: skip
    # training (a key): the base model on the ids word dropout gives, with the same key
    key = jax.random.key(3)
    swapped = models.word_dropout(jax.random.fold_in(key, 0x5D0), ids, 0.5)
    assert (swapped != ids).any()
    np.testing.assert_allclose(dropped.apply(params, ids, lengths, key=key),
                               base.apply(params, swapped, lengths, key=key), rtol=1e-6)
    # the classifier likewise, with its tokenizer's OOV id
    clf = models.Classifier(base.layer, 30, 3, 2)
    cp = clf.init(jax.random.key(0))
    cdrop = models.Classifier(base.layer, 30, 3, 2, word_dropout=0.5, unk_id=1)
    np.testing.assert_array_equal(cdrop.apply(cp, ids, lengths), clf.apply(cp, ids, lengths))
    np.testing.assert_allclose(cdrop.apply(cp, ids, lengths, key=key),
                               clf.apply(cp, swapped, lengths, key=key), rtol=1e-6)


def test_unknown_word_accuracy_by_hand():
    gold = [["N", "V", "N"], ["A", "N"]]
    pred = [["N", "N", "N"], ["A", "V"]]
    unk = [[False, True, True], [False, True]]
    r = report_from(gold, pred, unk)
    assert r["token_accuracy"] == 3 / 5
    assert (r["unk_accuracy"], r["unk_tokens"]) == (1 / 3, 3)  # V/N wrong, N/N right, N/V wrong
    assert report_final(r)["test_unk_acc"] == 1 / 3 and report_final(r)["test_unk_tokens"] == 3
    assert "unknown-word accuracy 0.3333 over 3 tokens" in format_report(r)
    none = report_from(gold, pred, [[False] * 3, [False] * 2])
    assert none["unk_accuracy"] is None and none["unk_tokens"] == 0
    assert report_final(none) == {"test_token_acc": 3 / 5, "test_unk_tokens": 0}
    assert "no test token is outside the training vocabulary" in format_report(none)
    ids = np.array([[5, 1, 1, 0], [1, 3, 0, 0]])
    assert unknown_tokens(ids, np.array([3, 2])) == [[False, True, True], [True, False]]


def test_tag_run_reports_unknown_word_accuracy(tmp_path, capsys):
    """A short run with --word-dropout: the JSON's unknown-word figures, counted again here
    from the files and from predict's tags."""
    tr, te = tmp_path / "train.conll", tmp_path / "test.conll"
    train = make_tagging(120, seed=0)
    write_conll(tr, train)
    test = make_tagging(30, seed=0, split="test")
    # words never seen in training, at known places
    test = [Sentence(["Qzxw" + s.tokens[0], *s.tokens[1:]], s.tags) for s in test]
    write_conll(te, test)
    js, ckpt = tmp_path / "run.json", tmp_path / "t.ckpt"
    assert train_main(["--task", "tag", "--model", "bilstm", "--data", str(tr), "--test-data",
                       str(te), "--epochs", "2", "--batch-size", "16", "--hidden", "8",
                       "--word-dropout", "0.2", "--json", str(js), "--save", str(ckpt),
                       "--quiet"]) == 0  # fmt: skip
    final = json.loads(js.read_text())["final"]
    known = {w for s in load_conll(tr) for w in s.tokens}
    sents = load_conll(te)
    unk = [[w not in known for w in s.tokens] for s in sents]
    assert final["test_unk_tokens"] == sum(map(sum, unk)) >= len(sents)
    capsys.readouterr()
    assert predict_main(["--checkpoint", str(ckpt), "--json", "--tokens",
                         *[" ".join(s.tokens) for s in sents]]) == 0  # fmt: skip
    pred = [json.loads(line)["tags"] for line in capsys.readouterr().out.splitlines()]
    hits = [a == b for s, p, u in zip(sents, pred, unk, strict=True)
            for a, b, k in zip(s.tags, p, u, strict=True) if k]  # fmt: skip
    assert final["test_unk_acc"] == pytest.approx(np.mean(hits), rel=1e-12)


@pytest.mark.parametrize("args,msg", [
    (["--task", "tag", "--word-dropout", "1"], "--word-dropout must be in [0, 1)"),
    (["--task", "tag", "--word-dropout", "-0.1"], "--word-dropout must be in [0, 1)"),
    (["--task", "tag", "--word-dropout", "nan"], "--word-dropout must be in [0, 1)"),
    (["--task", "lm", "--word-dropout", "0.1"], "--word-dropout applies to --task tag"),
    (["--task", "regress", "--word-dropout", "0.1"], "--word-dropout applies to --task tag"),
    (["--task", "classify", "--word-dropout", "0.1"], "--oov-token"),
    (["--task", "classify", "--backend", "numpy", "--word-dropout", "0.1", "--oov-token",
      "<oov>"], "--backend jax only"),
])  # fmt: skip
def test_bad_flags_one_line(args, msg, capsys):
    assert train_main(args) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1, err


@pytest.mark.parametrize("task", ["lm", "regress"])
def test_config_refuses_word_dropout_off_text_tasks(task):
    from jaxrnn.errors import ConfigError
    from jaxrnn.runs.config import TrainConfig, resolve_config

    model = "lstm"
    with pytest.raises(ConfigError, match="applies to --task tag and --task classify"):
        resolve_config(TrainConfig(task=task, model=model, word_dropout=0.1))


def test_classify_word_dropout_is_seeded(tmp_path):
    """Text classification with --word-dropout: the same seed gives the same run, and the
    dropped words change it (the study's sentiment data, 2 epochs)."""
    def run(wd, name):
        js = tmp_path / name
        assert train_main(["--task", "classify", "--model", "lstm", "--epochs", "2",
                           "--oov-token", "<oov>", "--word-dropout", wd, "--json", str(js),
                           "--quiet"]) == 0  # fmt: skip
        return json.loads(js.read_text())["history"]

    a, b, off = run("0.3", "a.json"), run("0.3", "b.json"), run("0", "c.json")
    assert a == b
    assert [r["train_loss"] for r in a] != [r["train_loss"] for r in off]
