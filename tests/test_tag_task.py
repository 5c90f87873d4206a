"""``--task tag``: the tagger's loss and gradients against the NumPy reference (float64), the
span report, and a short run from CoNLL files through a checkpoint to ``jaxrnn.cli.predict``."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrnn.cli.predict import main as predict_main
from jaxrnn.cli.train import main as train_main
from jaxrnn.data.conll import load_conll, write_conll
from jaxrnn.data.generators.entities import make_tagging
from jaxrnn.evaluation import spans
from jaxrnn.nn import models, sequence
from jaxrnn.runs.task_tag import report_from, split_sentences
from jaxrnn.scratch import seq
from jaxrnn.training import loop, tasks

FAST = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False}


def _random(params, rng):
    """Same structure, random float64 values (zero biases would hide bias gradients)."""
    return jax.tree.map(lambda a: jnp.asarray(rng.normal(0, 0.5, a.shape)), params)


@pytest.mark.parametrize("cell,layers,bidirectional,embed",
                         [("lstm", 2, True, 3), ("gru", 1, False, None)])  # fmt: skip
def test_tagger_loss_and_grads_equal_numpy_bptt(cell, layers, bidirectional, embed):
    rng = np.random.default_rng(0)
    b, t, v, k = 3, 5, 7, 4
    layer = sequence.RecurrentLayer(cell, 4, layers, bidirectional)
    model = models.SequenceTagger(layer, v, k, embed)
    params = _random(model.init(jax.random.key(0), jnp.float64), rng)
    lengths = np.array([t, 2, 1, 3])  # the 4th row is a weight-0 padding slot
    ids = rng.integers(1, v, (b + 1, t)) * (np.arange(t) < lengths[:, None])
    tags = np.where(np.arange(t) < lengths[:, None], rng.integers(0, k, (b + 1, t)), -1)
    batch = tasks.Batch(tasks.TagRows(ids, lengths, tags), jnp.array([1.0, 1.0, 1.0, 0.0]))
    task = tasks.tagging()
    grad = jax.jit(jax.value_and_grad(lambda p, bt: loop.batch_loss(model, task, p, bt, (), None),
                                      has_aux=True), compiler_options=FAST)  # fmt: skip
    (loss, _), grads = grad(params, batch)
    np_params = jax.tree.map(np.asarray, params)
    ref_loss, ref_grads = seq.tag_loss_and_grads(np_params, ids[:b], lengths[:b], tags[:b], cell)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-10)
    for key in ref_grads:
        jax.tree.map(lambda a, r: np.testing.assert_allclose(a, r, rtol=1e-9, atol=1e-12),
                     grads[key], ref_grads[key])  # fmt: skip
    # The per-token metrics: the mean loss and the accuracy over the 11 real tokens.
    evaluate = jax.jit(lambda p, rows: loop.evaluate(model, task, p, rows),
                       compiler_options=FAST)  # fmt: skip
    (m_loss, m_acc), pred = evaluate(params, tasks.TagRows(ids[:b], lengths[:b], tags[:b]))
    real = np.arange(t) < lengths[:b, None]
    np.testing.assert_allclose(m_loss, ref_loss, rtol=1e-10)
    assert m_acc == pytest.approx((np.asarray(pred) == tags[:b])[real].mean())


def test_report_scores_spans_and_skips_them_for_other_tags():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["O", "B-ORG"]]
    r = report_from(gold, pred)
    assert r["token_accuracy"] == pytest.approx(5 / 6)
    assert r["spans"]["f1"] == pytest.approx(2 / 3)  # 2 of 3 right, 3 found
    # by hand, precision apart from recall: gold PER LOC ORG, found PER ORG ORG (LOC missed)
    r = report_from([["B-PER", "I-PER", "O", "S-LOC"], ["O", "B-ORG"]],
                    [["B-PER", "I-PER", "O", "O"], ["B-ORG", "I-ORG"]])  # fmt: skip
    s = r["spans"]
    assert (s["gold"], s["predicted"], s["correct"]) == (3, 2, 1)
    assert (s["precision"], s["recall"]) == (pytest.approx(1 / 2), pytest.approx(1 / 3))
    assert s["per_type"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "gold": 1,
                                    "predicted": 0, "correct": 0}  # fmt: skip
    assert s["per_type"]["ORG"]["predicted"] == 1 and s["per_type"]["ORG"]["correct"] == 0
    pos = report_from([["NN", "VB"]], [["NN", "NN"]])
    assert pos["spans"] is None and pos["token_accuracy"] == 0.5


def test_split_is_seeded_and_complete():
    sents = [([str(i)], ["O"]) for i in range(10)]
    train, test = split_sentences(sents, 0.2, seed=3)
    assert len(test) == 2 and sorted(train + test) == sorted(sents)
    assert split_sentences(sents, 0.2, seed=3) == (train, test)


def test_train_save_predict(tmp_path, capsys):
    """CoNLL files -> BiLSTM -> JSON final keys and span report -> checkpoint -> predict."""
    tr, te = tmp_path / "train.conll", tmp_path / "test.conll"
    write_conll(tr, make_tagging(240, seed=0))
    write_conll(te, make_tagging(60, seed=0, split="test"))
    ckpt, js = tmp_path / "tagger.ckpt", tmp_path / "run.json"
    rc = train_main(["--task", "tag", "--model", "bilstm", "--data", str(tr), "--test-data",
                     str(te), "--epochs", "3", "--batch-size", "8", "--save", str(ckpt),
                     "--json", str(js), "--quiet"])  # fmt: skip
    assert rc == 0
    res = json.loads(js.read_text())
    final, report = res["final"], res["report"]
    assert set(report["spans"]["per_type"]) == {"PER", "LOC", "ORG"}
    assert final["test_span_f1"] == report["spans"]["f1"]
    # the per-epoch token accuracy (JAX, masked) and the report's (Python) agree
    assert final["test_token_acc"] == pytest.approx(final["test_acc"], abs=1e-6)
    assert final["test_span_f1"] > 0.5  # 90 steps: learning, not chance

    # predict tags the test sentences as training's last evaluation did: same span F1
    capsys.readouterr()
    sents = load_conll(te)
    assert predict_main(["--checkpoint", str(ckpt), "--json",
                         *[" ".join(s.tokens) for s in sents]]) == 0  # fmt: skip
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    pred = [r["tags"] for r in rows]
    assert spans.span_report([s.tags for s in sents], pred).f1 == pytest.approx(
        final["test_span_f1"])
    # ... and counted here: the test file's chunks against those of predict's tags
    gold = {(i, *c) for i, s in enumerate(sents) for c in spans.extract_chunks(s.tags)}
    found = {(i, *c) for i, tags in enumerate(pred) for c in spans.extract_chunks(tags)}
    assert len(gold) > len(sents)  # some sentences name two entities
    ok = len(gold & found)
    p_, r_ = ok / len(found), ok / len(gold)
    assert (report["spans"]["gold"], report["spans"]["predicted"], report["spans"]["correct"]) \
        == (len(gold), len(found), ok)
    for kind, row in report["spans"]["per_type"].items():
        g, f = {c for c in gold if c[1] == kind}, {c for c in found if c[1] == kind}
        assert (row["gold"], row["predicted"], row["correct"]) == (len(g), len(f), len(g & f))
    assert final["test_span_f1"] == pytest.approx(2 * p_ * r_ / (p_ + r_), rel=1e-12)
    same = [a == b for s, tags in zip(sents, pred, strict=True)
            for a, b in zip(s.tags, tags, strict=True)]  # fmt: skip
    assert final["test_token_acc"] == pytest.approx(np.mean(same), rel=1e-12)
    # an unknown word keeps its position: one tag per word
    assert predict_main(["--checkpoint", str(ckpt), "Zanzibar   smiled and waved ."]) == 0
    out = capsys.readouterr().out.strip().split(" ")
    assert [w.split("/")[0] for w in out] == ["Zanzibar", "smiled", "and", "waved", "."]
    assert all(w.split("/")[1] in report["spans"]["per_type"] or w.endswith("/O")
               or "-" in w for w in out)  # fmt: skip


def test_bad_input_is_one_line(tmp_path, capsys):
    assert train_main(["--task", "tag"]) == 2
    err = capsys.readouterr().err
    assert "--task tag needs --data" in err and err.count("\n") == 1
    bad = tmp_path / "bad.conll"
    bad.write_text("word\n")
    assert train_main(["--task", "tag", "--data", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "line 1 has one column" in err and err.count("\n") == 1
    assert train_main(["--task", "tag", "--backend", "numpy"]) == 2
    assert "--backend jax" in capsys.readouterr().err


def test_tag_metrics_are_the_real_tokens_mean_loss_and_accuracy_against_numpy():
    """``tagging().stats`` / ``.loss`` / ``.predict``: cross-entropy and token accuracy averaged
    over the real tokens of the real rows (padding tokens, tag -1, and a padding row weigh 0),
    against NumPy; predictions are the arg-max tag per token. float64."""
    rng = np.random.default_rng(5)
    b, t, k = 3, 4, 5
    logits = rng.normal(size=(b, t, k))
    lengths = np.array([4, 2, 3])
    tags = np.where(np.arange(t) < lengths[:, None], rng.integers(0, k, (b, t)), -1)
    tags[0, :2] = np.argmax(logits[0, :2], -1)  # some right, some wrong
    w = np.array([1.0, 1.0, 0.0])  # row 2: padding
    batch = tasks.Batch(tasks.TagRows(None, jnp.asarray(lengths), jnp.asarray(tags)),
                        jnp.asarray(w))  # fmt: skip
    task = tasks.tagging()
    real = (np.arange(t) < lengths[:, None]) & (w[:, None] > 0)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -np.take_along_axis(logp, np.maximum(tags, 0)[..., None], -1)[..., 0]
    hit = np.argmax(logits, -1) == tags
    sums, counts = task.stats(jnp.asarray(logits), batch)
    np.testing.assert_allclose(np.asarray(counts), [real.sum()] * 2)
    np.testing.assert_allclose(np.asarray(sums) / np.asarray(counts),
                               [nll[real].mean(), hit[real].mean()], rtol=1e-12)  # fmt: skip
    losses, weights = task.loss(jnp.asarray(logits), batch)
    np.testing.assert_array_equal(weights, real.astype(float))
    np.testing.assert_allclose(np.asarray(losses)[real], nll[real], rtol=1e-12)
    np.testing.assert_array_equal(task.predict(jnp.asarray(logits)), np.argmax(logits, -1))
