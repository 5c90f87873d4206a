"""python -m jaxrnn.study at tiny size, the gradient-norm measurement, the long-range task."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrnn.cli import study as cli
from jaxrnn.study import compare, gradients, longrange

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MODELS = ["scratch_exact", "rnn", "simple_rnn"]


# ----------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One tiny study run (both parts), shared by the tests below."""
    out = tmp_path_factory.mktemp("study")
    argv = ["--quick", "--seeds", "2", "--models", ",".join(MODELS), "--cells", "rnn",
            "--lengths", "6,12", "--out", str(out), "--quiet", "--json"]  # fmt: skip
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert cli.main(argv) == 0
    return out, json.loads(buf.getvalue())


def test_writes_results_and_figures(quick_run):
    out, printed = quick_run
    res = json.loads((out / "results.json").read_text())
    assert printed == res  # --json prints exactly what the file holds
    for key in ("schema", "created", "command", "elapsed_s", "environment", "settings",
                "data", "models", "gradients", "long_range"):  # fmt: skip
        assert key in res, key
    assert res["settings"]["seeds"] == 2 and res["settings"]["quick"] is True
    assert "loadavg_start" in res["environment"] and "loadavg_end" in res["environment"]
    git = res["environment"]["git"]
    if git is not None:  # run from a git checkout
        assert len(git["commit"]) == 40 and git["commit"][:10] in (out / "results.md").read_text()
    assert list(res["models"]) == MODELS
    for name in ("curves_accuracy", "curves_loss", "test_accuracy", "grad_norms",
                 "long_range_accuracy"):  # fmt: skip
        png = out / f"{name}.png"
        data = png.read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 10_000, name
        import matplotlib.image

        img = matplotlib.image.imread(png)
        assert img.ndim == 3 and img.shape[0] > 300 and img.shape[1] > 500
        assert img[..., :3].std() > 0.01  # not a blank canvas
    md = (out / "results.md").read_text()
    for m in res["models"].values():
        assert m["label"] in md
    assert "Test accuracy against sequence length" in md and "L = 12" in md
    assert "held-out compositional sentences" in md


def test_held_out_column_for_numpy_and_jax_models(quick_run):
    """Every model (the NumPy one in its worker, the JAX ones vmapped) is scored on the 200
    held-out compositional sentences; the per-seed accuracies are those of its predictions."""
    _, res = quick_run
    for name in MODELS:
        h = res["models"][name]["held_out"]
        assert h["n"] == 200 and len(h["per_seed_acc"]) == 2
        assert h["acc"]["mean"] == pytest.approx(np.mean(h["per_seed_acc"]))
        assert h["constructions"]["conjunction"]["count"] == 90


def test_held_out_summary_counts_each_tag():
    from jaxrnn.data.generators.compositional import load_compositional

    comp = load_compositional()
    labels = np.asarray(comp.split.labels)
    wrong_conj = [(1 - y) if "conjunction" in comp.tags(i) else y for i, y in enumerate(labels)]
    s = compare.held_out_summary([labels.tolist(), wrong_conj])
    assert s["per_seed_acc"] == [1.0, 1 - 90 / 200]
    assert s["constructions"]["conjunction"]["mean"] == 0.5  # right on seed 0, wrong on seed 1
    assert s["constructions"]["negation"]["mean"] == 1.0
    assert s["acc"]["ci95"][1] <= 1.0


def test_model_records(quick_run):
    _, res = quick_run
    n_test = res["data"]["n_test"]
    for name, m in res["models"].items():
        cfg = compare.MODEL_SPECS[name].config(0, compare.MODEL_SPECS[name].quick_epochs)
        assert m["num_params"] > 0
        assert m["optimizer"] == {"name": cfg.optimizer, "lr": cfg.lr,
                                  "batch_size": cfg.batch_size, "epochs": cfg.epochs,
                                  "clip": cfg.clip}  # fmt: skip
        assert m["seeds"] == [0, 1] and len(m["per_seed"]) == 2
        for metric in ("train_loss", "train_acc", "test_loss", "test_acc"):
            s = m["final"][metric]
            vals = [p["final"][metric] for p in m["per_seed"]]
            assert s["n"] == 2
            assert s["mean"] == pytest.approx(np.mean(vals))
            assert s["std"] == pytest.approx(np.std(vals, ddof=1))
            assert s["ci95"][0] <= s["mean"] <= s["ci95"][1]
        for p in m["per_seed"]:  # accuracies are counts over the test sentences
            assert p["final"]["test_acc"] * n_test == pytest.approx(
                round(p["final"]["test_acc"] * n_test), abs=1e-4
            )
        r = m["reach_100_train_acc"]
        firsts = [p["first_epoch_100"] for p in m["per_seed"]]
        assert r["first_epoch_per_seed"] == firsts
        assert r["count"] == sum(f is not None for f in firsts)
        assert r["fraction"] == r["count"] / 2
        curves = m["curves"]
        assert curves["epoch"] == list(range(1, cfg.epochs + 1))
        assert len(curves["test_acc"]["mean"]) == cfg.epochs
        assert curves["test_acc"]["mean"][-1] == pytest.approx(m["final"]["test_acc"]["mean"])
        t = m["timing"]
        assert t["wall_s"] > 0 and t["compile_s"] >= 0
    numpy_t = res["models"]["scratch_exact"]["timing"]
    assert numpy_t["workers"] == 2 and numpy_t["per_seed_s"]["n"] == 2


def test_numpy_and_jax_rnn_agree(quick_run):
    """Same init and sample order: the NumPy scratch RNN (float64) and the JAX one (float32)
    must give the same curves, an end-to-end check that the seeds ran as claimed."""
    _, res = quick_run
    a = res["models"]["scratch_exact"]["per_seed"]
    b = res["models"]["rnn"]["per_seed"]
    for pa, pb in zip(a, b, strict=True):
        assert pa["final"]["train_loss"] == pytest.approx(pb["final"]["train_loss"], abs=2e-3)
        assert pa["final"]["test_acc"] == pytest.approx(pb["final"]["test_acc"])


def test_numpy_and_jax_study_rnn_agree_in_float64():
    """The study's own runners (``compare.run_numpy`` for scratch_exact, ``compare.run_jax``
    for rnn: per-sample SGD on the fast path) with float64 added to both specs: the same
    curves at 1e-9 for two seeds, so a gradient off anywhere (a term of the hand-written BPTT,
    of the fast path's per-sample gradient) shows, which float32's 2e-3 above lets pass."""
    specs = {n: dataclasses.replace(compare.MODEL_SPECS[n], overrides={
        **compare.MODEL_SPECS[n].overrides, "dtype": "float64"}) for n in ("scratch_exact", "rnn")}
    numpy_run = compare.run_numpy([specs["scratch_exact"]], seeds=2, workers=1,
                                  epochs={"scratch_exact": 3})["scratch_exact"]  # fmt: skip
    jax_run = compare.run_jax(specs["rnn"], seeds=2, epochs=3)
    assert jax_run.config.hidden == numpy_run.config.hidden == 128
    for ha, hb in zip(numpy_run.histories, jax_run.histories, strict=True):
        assert len(ha) == len(hb) == 3
        for a, b in zip(ha, hb, strict=True):
            for k in ("train_loss", "train_acc", "test_loss", "test_acc"):
                assert a[k] == pytest.approx(b[k], rel=1e-9, abs=1e-12), k
    losses = [h["train_loss"] for h in jax_run.histories[0]]
    assert max(losses) - min(losses) > 5e-4  # the weights move: the agreement is not trivial


def test_gradient_sections(quick_run):
    _, res = quick_run
    g = res["gradients"]
    assert set(g["sentiment"]["cells"]) == {"rnn"} and "rnn" in g["sentiment"]["extra"]
    assert g["long_range"]["length"] == 12
    for entry in [g["sentiment"]["cells"]["rnn"], g["long_range"]["cells"]["rnn"]]:
        for state in ("init", "trained", "init_x", "trained_x"):
            prof = entry[state]
            assert prof["log10_rel_mean"][0] == pytest.approx(0.0)  # relative to itself
            assert prof["seeds"] == 2
    lr = g["long_range"]["cells"]["rnn"]["init"]
    assert lr["k"] == list(range(12)) and lr["count"] == [32] * 12  # quick: 32 test sequences
    acc = res["long_range"]["accuracy"]["rnn"]
    assert set(acc) == {"6", "12"}
    for row in acc.values():
        assert 0.0 <= row["test_acc"]["mean"] <= 1.0 and len(row["test_acc_per_seed"]) == 2


def test_replot_and_carry_over(quick_run, tmp_path):
    out, res = quick_run
    (tmp_path / "results.json").write_text(json.dumps(res))
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(["--replot", str(tmp_path)]) == 0
    assert (tmp_path / "grad_norms.png").read_bytes()[:8] == PNG_MAGIC
    assert "# The study, done properly" in (tmp_path / "results.md").read_text()
    # One part into a directory with results: the other part's sections are kept.
    new = {"settings": {}}
    cli._carry_over(new, ["gradients"], str(tmp_path))
    assert new["models"] == res["models"] and new["settings"]["carried_over"] == [
        "models",
        "data",
    ]


def test_cli_rejects_bad_arguments(capsys):
    for argv in (["--models", "rnn,nope"], ["--cells", "lstm,tcn"], ["--lengths", "0,5"],
                 ["--lengths", "10", "--grad-length", "20"], ["--seeds", "0"]):  # fmt: skip
        with pytest.raises(SystemExit) as e:
            cli.main([*argv, "--quiet"])
        assert e.value.code == 2
    assert "nope" in capsys.readouterr().err  # the first one names the unknown model
    with pytest.raises(ValueError, match="nope"):
        compare.parse_models("rnn,nope")
    assert compare.parse_models("lstm, rnn") == ["rnn", "lstm"]  # canonical order


def test_first_epoch_at():
    h = [{"epoch": e, "train_acc": a} for e, a in enumerate([0.5, 0.99, 1.0, 0.98, 1.0], 1)]
    assert compare.first_epoch_at(h) == 3
    assert compare.first_epoch_at(h[:2]) is None


# ----------------------------------------------------------------------------- gradient norms


def _tiny(kind: str):
    """A float64 model, params and a padded batch (lengths 1..T) on the bundled vocabulary."""
    from jaxrnn.nn import models, sequence

    vocab, steps = 7, 6
    rng = np.random.default_rng(3)
    lengths = np.array([6, 3, 1, 5])
    ids = np.where(np.arange(steps)[None] < lengths[:, None],
                   rng.integers(1, vocab, (4, steps)), 0)  # fmt: skip
    labels = np.array([0, 1, 1, 0])
    key = jax.random.key(5)
    if kind == "study":
        model = models.StudyRNN(vocab - 1, 5)
        params = jax.tree.map(lambda a: a * 400, model.init(key, jnp.float64))  # not ~0
    else:
        model = models.Classifier(sequence.RecurrentLayer(kind, 5), vocab, 3,
                                  binary_readout="sigmoid")  # fmt: skip
        params = model.init(key, jnp.float64)
    return model, params, jnp.asarray(ids), jnp.asarray(lengths), jnp.asarray(labels)


@pytest.mark.parametrize("kind", ["study", "rnn", "lstm", "gru"])
def test_grads_match_finite_differences(kind):
    model, params, ids, lengths, labels = _tiny(kind)
    h = gradients.hidden_size(model)
    zeros = jnp.zeros((*ids.shape, h), jnp.float64)
    loss = jax.jit(lambda e, ex=None: gradients.perturbed_loss(model, params, ids, lengths,
                                                               labels, e, ex))  # fmt: skip
    loss0, (logits, _) = loss(zeros)
    np.testing.assert_allclose(logits, model.apply(params, ids, lengths), atol=1e-12)
    grads = jax.jit(
        lambda: (
            gradients.hidden_grads(model, params, ids, lengths, labels),
            gradients.hidden_grads(model, params, ids, lengths, labels, "x"),
        )
    )
    g_h, g_x = grads()  # fmt: skip
    xp_shape = g_x.shape
    rng = np.random.default_rng(0)
    d = 1e-6
    for b, t in [(0, 0), (0, 5), (1, 1), (3, 2), (2, 0)]:
        v = rng.standard_normal(h)
        e = zeros.at[b, t].set(d * v)
        up, dn = loss(e)[0], loss(-e)[0]
        assert float(g_h[b, t] @ v) == pytest.approx(float(up - dn) / (2 * d), rel=1e-6, abs=1e-9)
        w = rng.standard_normal(xp_shape[-1])
        ex = jnp.zeros(xp_shape, jnp.float64).at[b, t].set(d * w)
        up, dn = loss(zeros, ex)[0], loss(zeros, -ex)[0]
        assert float(g_x[b, t] @ w) == pytest.approx(float(up - dn) / (2 * d), rel=1e-6, abs=1e-9)
    # Past each end: zero. At the last token: the readout's gradient, by hand.
    past = np.arange(ids.shape[1])[None] >= np.asarray(lengths)[:, None]
    assert not np.asarray(g_h)[past].any()
    assert float(loss0) > 0
    last = np.asarray(g_h)[np.arange(4), np.asarray(lengths) - 1]
    if kind == "study":
        p = jax.nn.softmax(logits)
        dy = np.asarray(p) - np.eye(2)[np.asarray(labels)]
        expected = dy @ np.asarray(params["w_hy"])
    else:
        dy = np.asarray(jax.nn.sigmoid(logits[:, 0])) - np.asarray(labels)
        expected = dy[:, None] * np.asarray(params["w_out"])[0]
    np.testing.assert_allclose(last, expected, rtol=1e-10, atol=1e-12)
    if kind == "study":  # tanh RNN: dL/dh_{t-1} = W_hh^T ((1 - h_t^2) * dL/dh_t), by hand
        hs, w_hh, g = np.asarray(loss(zeros)[1][1]), np.asarray(params["w_hh"]), np.asarray(g_h)
        for b, n in enumerate(np.asarray(lengths)):
            for t in range(n - 1, 0, -1):
                back = w_hh.T @ ((1 - hs[b, t] ** 2) * g[b, t])
                np.testing.assert_allclose(g[b, t - 1], back, rtol=1e-9, atol=1e-14)


def test_grad_norms_seeds_and_relative_profile():
    model, params, ids, lengths, labels = _tiny("rnn")
    one = gradients.grad_norms(model, params, ids, lengths, labels)
    stacked = jax.tree.map(lambda a: jnp.stack([a, 2 * a]), params)
    many = gradients.grad_norms_seeds(model, stacked, ids, lengths, labels)
    np.testing.assert_allclose(many[0], one, rtol=1e-10)
    # relative_profile on numbers worked out by hand: two examples, one seed.
    norms = np.array([[[4.0, 2.0, 1.0], [8.0, 2.0, 0.0]]])
    prof = gradients.relative_profile(norms, np.array([3, 2]))
    assert prof["k"] == [0, 1, 2] and prof["count"] == [2, 2, 1]
    assert prof["log10_rel_mean"][0] == pytest.approx(0.0)
    assert prof["log10_rel_mean"][1] == pytest.approx((math.log10(2) + math.log10(4)) / 2)
    assert prof["log10_rel_mean"][2] == pytest.approx(math.log10(4))
    assert prof["log10_abs_mean"][1] == pytest.approx((math.log10(2) + math.log10(8)) / 2)
    zero = gradients.relative_profile(np.array([[0.0, 1.0]]), np.array([2]))
    assert zero["underflow"] == [0.0, 1.0] and zero["log10_rel_mean"][1] is None


# ----------------------------------------------------------------------------- long-range task


def test_long_range_is_deterministic():
    a = longrange.make_long_range(200, 30, seed=4)
    b = longrange.make_long_range(200, 30, seed=4)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.labels, b.labels)
    c = longrange.make_long_range(200, 30, seed=5)
    d = longrange.make_long_range(200, 30, seed=4, split=1)
    assert not np.array_equal(a.ids, c.ids) and not np.array_equal(a.ids, d.ids)
    assert a.ids.shape == (200, 30) and a.ids.dtype == np.int32
    p = longrange.prepared(16, 8, 30, seed=4)
    np.testing.assert_array_equal(p.train.ids, longrange.make_long_range(16, 30, seed=4).ids)
    assert (p.train.lengths == 30).all()
    # The tokenizer's ids are the generator's: encoding the texts gives the ids back.
    texts = longrange.to_texts(longrange.make_long_range(5, 30, seed=4))
    ids, _ = p.tokenizer.encode(texts, 30)
    np.testing.assert_array_equal(ids, longrange.make_long_range(5, 30, seed=4).ids)


def test_long_range_label_is_the_first_token():
    t = longrange.make_long_range(4000, 20, seed=1, num_distractors=5)
    np.testing.assert_array_equal(t.labels, t.ids[:, 0] - 1)  # k0 = 1 -> 0, k1 = 2 -> 1
    assert set(np.unique(t.ids[:, 1:])) == set(range(3, 8))  # only distractors after it
    assert 0.45 < t.labels.mean() < 0.55
    # The distractors carry no information about the label: their frequencies per
    # label agree (each of 5 words ~ 20%, 2000 sequences x 19 positions per label).
    for y in (0, 1):
        freq = np.bincount(t.ids[t.labels == y, 1:].ravel(), minlength=8)[3:]
        freq = freq / freq.sum()
        np.testing.assert_allclose(freq, 0.2, atol=0.01)
    with pytest.raises(ValueError):
        longrange.make_long_range(0, 10)
