"""``benchmarks/real_data.py``: the anchors and goals against hand values; its PyTorch sides
(``benchmarks/_torch_models.py``) compute the same function as ours from the same weights
(float64: loss, one Adam step, predictions, bits per character); a ``--quick`` run of all
four sets writes the JSON keys its docstring describes."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import real_data  # noqa: E402
from test_benchmarks import run_quick  # noqa: E402

from jaxrnn.data.conll import Sentence  # noqa: E402


def test_majority_tag_per_word_by_hand():
    train = [Sentence(["a", "b", "a"], ["N", "V", "N"]), Sentence(["a", "c"], ["V", "N"])]
    # a: N twice, V once -> N; b -> V; c -> N; unknown -> N (3 of 5 tags)
    test = [Sentence(["a", "b", "z", "y"], ["N", "N", "N", "V"])]
    got = real_data.majority_tag_per_word(train, test)
    assert got == {"acc": 2 / 4, "unk_acc": 1 / 2, "n_tokens": 4, "n_unk": 2}


def test_unigram_by_hand():
    assert real_data.unigram_entropy("aab") == pytest.approx(
        -(2 / 3 * math.log2(2 / 3) + 1 / 3 * math.log2(1 / 3)))
    # train "aab" + alphabet {a, b, c}: p(a) = 3/6, p(b) = 2/6, p(c) = 1/6
    bpc = real_data.unigram_bits_per_char("aab", "abc")
    assert bpc == pytest.approx((1 + math.log2(3) + math.log2(6)) / 3)


def test_series_anchors_on_a_known_ar1():
    rng = np.random.default_rng(0)
    y = np.zeros(400)
    for t in range(1, 400):
        y[t] = 0.8 * y[t - 1] + rng.normal()
    a = real_data.series_anchors(y, 300, 5, period=11)
    assert a["n_targets"] == 95
    idx = np.arange(305, 400)
    assert a["last_value_mse"] == pytest.approx(np.mean((y[idx] - y[idx - 1]) ** 2))
    assert a["seasonal_naive_mse"] == pytest.approx(np.mean((y[idx] - y[idx - 11]) ** 2))
    # the fitted AR beats the last value and is near the noise variance (1)
    assert a["ar_mse"] < a["last_value_mse"] and 0.6 < a["ar_mse"] < 1.5


def test_interval():
    r = real_data.interval95([1.0, 2.0, 3.0])
    assert r["mean"] == 2.0 and r["std"] == 1.0 and r["n"] == 3
    assert r["half"] == pytest.approx(4.302653 / math.sqrt(3), 1e-5)  # t(0.975, 2) = 4.302653
    assert (r["lo"], r["hi"]) == pytest.approx((2 - r["half"], 2 + r["half"]))
    # an accuracy's interval is clipped to [0, 1]; half stays the t half-width
    a = real_data.interval95([0.99, 1.0, 1.0], "test_acc")
    assert a["hi"] == 1.0 and a["lo"] == pytest.approx(a["mean"] - a["half"])
    assert a["half"] > 1.0 - a["mean"]
    assert real_data.interval95([0.5])["half"] == 0.0


def test_goals_by_hand():
    def res(mean, **anchors):
        return {"ours": {"mean": mean}, "anchors": anchors}

    assert real_data.goal("mnist1d", res(0.97))["met"]
    assert not real_data.goal("mnist1d", res(0.9699))["met"]
    m = {"majority_tag_per_word": {"acc": 0.858}}
    g = real_data.goal("turkish_pos", res(0.888, **m))
    assert g["met"] and g["value"] == pytest.approx(0.03) and g["threshold"] == 0.03
    assert not real_data.goal("turkish_pos", res(0.887, **m))["met"]
    assert real_data.goal("sunspots", res(9.0, ar_mse=10.0))["met"]
    assert not real_data.goal("sunspots", res(10.0, ar_mse=10.0))["met"]
    assert real_data.goal("python_manual", res(2.0)) is None


# ----------------------------------------------------------------------------- PyTorch sides


def _f64(tree):
    import jax

    return jax.tree.map(lambda a: np.asarray(a, np.float64), tree)


def test_torch_tagger_is_ours_from_the_same_weights():
    """A 2-layer BiLSTM tagger: the same loss (real tokens only), the same loss after one Adam
    step (so the same gradient), the same predicted tags, in float64."""
    import jax
    import jax.numpy as jnp
    import optax
    import torch
    from _torch_models import Tagger, optimizer_step, predict_tags, tag_loss

    from jaxrnn.nn import models, sequence
    from jaxrnn.training import loop, tasks

    rng = np.random.default_rng(0)
    B, T, V, K = 5, 7, 12, 4
    lengths = np.array([7, 3, 1, 5, 6])
    real = np.arange(T)[None] < lengths[:, None]
    ids = np.where(real, rng.integers(1, V, (B, T)), 0)
    tags = np.where(real, rng.integers(0, K, (B, T)), -1)
    model = models.SequenceTagger(sequence.RecurrentLayer("lstm", 6, 2, True), V, K, 5)
    params = _f64(models.init_params_numpy(model, 0))  # float32 values, held in float64
    net = Tagger.from_ours(model, params).double()
    t_ids, t_len, t_tags = (torch.from_numpy(a.astype(np.int64)) for a in (ids, lengths, tags))

    task, opt = tasks.tagging(), optax.adam(0.01)
    rows = tasks.TagRows(jnp.asarray(ids), jnp.asarray(lengths), jnp.asarray(tags))
    batch = tasks.Batch(rows, jnp.ones(B, jnp.float64))
    jp = jax.tree.map(jnp.asarray, params)
    loss_of = jax.jit(lambda p: loop.batch_loss(model, task, p, batch, (), None)[0])
    loss_ours = float(loss_of(jp))
    with torch.no_grad():
        loss_torch = float(tag_loss(net, t_ids, t_len, t_tags))
    np.testing.assert_allclose(loss_torch, loss_ours, rtol=1e-10)

    step = jax.jit(loop.train_step(model, opt, task))
    state = step(loop.TrainState(jp, opt.init(jp), loop.seed_key(0)), batch, None)[0]
    topt = torch.optim.Adam(net.parameters(), lr=0.01)
    optimizer_step(topt, net.parameters(), tag_loss(net, t_ids, t_len, t_tags))
    after_ours = float(loss_of(state.params))
    with torch.no_grad():
        after_torch = float(tag_loss(net, t_ids, t_len, t_tags))
    assert after_ours < loss_ours
    np.testing.assert_allclose(after_torch, after_ours, rtol=1e-8)

    logits = np.asarray(jax.jit(model.apply)(state.params, jnp.asarray(ids), jnp.asarray(lengths)))
    want = np.where(real, logits.argmax(-1), 0)
    np.testing.assert_array_equal(predict_tags(net, ids, lengths, batch_size=2), want)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_torch_char_lm_is_ours_from_the_same_weights(cell):
    """The same first-chunk loss, and ``stream_bpc`` (the text as one stream, state carried,
    padding not counted) equals ours' ``evaluate`` bits per character, float64."""
    import jax
    import jax.numpy as jnp
    import torch
    from _torch_models import CharLM, stream_bpc

    from jaxrnn.nn import lm, sequence
    from jaxrnn.runs.prepare_lm import one_stream_rows, train_rows
    from jaxrnn.training import loop, tasks

    V, H, E, T = 9, 8, 4, 5
    ids = np.random.default_rng(1).integers(0, V, 53)  # 52 predictions: 11 chunks, padded
    model = lm.LanguageModel(getattr(sequence, cell)(H), V, E)
    params = _f64(model.init_numpy(0, np.float32))  # float32 values, held in float64
    net = CharLM.from_ours(model, params).double()
    params = jax.tree.map(jnp.asarray, params)

    rows = train_rows(ids, 2, T)
    logits, _ = model.apply(params, jnp.asarray(rows.inputs[0]))
    with torch.no_grad():
        t_logits, _ = net(torch.from_numpy(rows.inputs[0].astype(np.int64)))
    np.testing.assert_allclose(t_logits.numpy(), np.asarray(logits), rtol=1e-10, atol=1e-12)

    test = one_stream_rows(ids, T)
    assert test.mask.sum() == 52 and test.mask.size == 55
    ours = loop.evaluate(model, tasks.lm_task(model, 1), params,
                         tasks.LMRows(*map(jnp.asarray, test)), 4)[0]  # fmt: skip
    np.testing.assert_allclose(stream_bpc(net, test), float(ours[2]), rtol=1e-10)
    # and by hand: bits of each prediction, from the logits of one pass over the stream
    with torch.no_grad():
        full, _ = net(torch.from_numpy(ids[None, :-1].astype(np.int64)))
    logp = torch.log_softmax(full[0], -1).numpy()
    by_hand = -np.mean(logp[np.arange(52), ids[1:]]) / math.log(2)
    np.testing.assert_allclose(stream_bpc(net, test), by_hand, rtol=1e-10)


def test_torch_unsupported_says_why():
    cfg = real_data.resolved("lm", dict(model="rnn", embed_dim=0))
    assert "--model rnn" in real_data.torch_unsupported(cfg)
    assert real_data.torch_unsupported(real_data.resolved("classify", dict(model="gru"))) is None


# ----------------------------------------------------------------------------- the script


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    return run_quick("real_data", tmp_path_factory.mktemp("real_data"))


def test_quick_run_writes_the_keys(quick):
    d = quick
    assert list(d["sets"]) == list(real_data.SETS) and "quiet" in d
    for name, res in d["sets"].items():
        assert {"selection", "chosen", "ours", "anchors", "pytorch", "goal", "wall",
                "quiet", "commit"} <= set(res)  # fmt: skip
        assert {"mean", "half", "lo", "hi", "values", "wall_s"} <= set(res["ours"])
        assert len(res["ours"]["values"]) == d["seeds"] == 2
        if name != "sunspots":  # PyTorch side, same metric, every seed, timed
            pt = res["pytorch"]
            assert pt["metric"] == res["ours"]["metric"] and len(pt["values"]) == 2
            assert pt["wall_s"] > 0 and len(pt["per_seed_wall_s"]) == 2
            assert res["wall"]["pytorch_over_ours"] == pytest.approx(
                pt["wall_s"] / res["ours"]["wall_s"])
    # --quick: each set's first candidate at QUICK's overrides; only sunspots' selection
    # trains it (on the training years), the other sets choose it untrained
    for name, res in d["sets"].items():
        first = res["selection"][0]
        assert res["chosen"] == first["config"] and first["config"]["epochs"] == 1
        if name == "sunspots":
            assert first["metric"] == "test_mse" and first["val"] > 0 and first["wall_s"] > 0
        else:
            assert "val" not in first and "untrained" in first["skipped"]
        assert all("skipped" in r for r in res["selection"][1:])
    m = d["sets"]["mnist1d"]
    assert m["anchors"]["published"]["gru"] == 0.91
    assert m["goal"]["threshold"] == 0.97 and m["goal"]["met"] == (m["ours"]["mean"] >= 0.97)
    t = d["sets"]["turkish_pos"]
    assert 0 <= t["pytorch"]["mean"] <= 1 and "test_unk_acc" in t["pytorch"]
    assert "test_unk_acc" in t["ours"]
    p = d["sets"]["python_manual"]
    assert p["pytorch"]["metric"] == "test_bpc" and p["pytorch"]["steps"] > 0
    assert 0 < p["pytorch"]["mean"] < 10
    s = d["sets"]["sunspots"]
    assert {"ar_mse", "ar_p", "last_value_mse", "seasonal_naive_mse"} <= set(s["anchors"])
    assert s["goal"]["threshold"] == s["anchors"]["ar_mse"] and s["wall"] is None


def test_unknown_flag_skips_a_candidate():
    cands = [dict(model="gru", no_such_flag=1)]
    chosen, rows = real_data.select("classify", cands, lambda c: 1 / 0, quick=True)
    assert chosen is None and "no_such_flag" in rows[0]["skipped"]


def test_readme_goals_are_the_jsons():
    """The README's goals table is ``gen_tables.real_data_goals()``, i.e. the committed JSON's
    (``python docs/gen_tables.py --readme`` rewrites it)."""
    import importlib.util

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("gen_tables", root / "docs" / "gen_tables.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    readme = (root / "README.md").read_text()
    assert "<!-- real_data_goals -->" in readme
    assert gen.fill_readme(readme) == readme


def test_merge_keeps_the_other_sets(tmp_path, monkeypatch):
    """``--merge`` redoes the named sets and keeps the file's others as they were; a file of
    another seed count is refused in one line."""
    import json

    fake = {"ours": {"metric": "test_mse", "mean": 1.0, "half": 0.1, "wall_s": 2.0,
                     "compile_s": 1.0},
            "pytorch": {"skipped": "-"}, "anchors": {"ar_mse": 2.0}}  # fmt: skip
    monkeypatch.setitem(real_data.RUNNERS, "sunspots", lambda *a: json.loads(json.dumps(fake)))
    path = tmp_path / "r.json"
    kept = {"ours": {"metric": "test_acc", "mean": 0.5}, "marker": 7}
    path.write_text(json.dumps({"quick": False, "seeds": 5, "sets": {"mnist1d": kept}}))
    assert real_data.main(["--sets", "sunspots", "--merge", "--json", str(path)]) == 0
    d = json.loads(path.read_text())
    assert list(d["sets"]) == ["mnist1d", "sunspots"] and d["sets"]["mnist1d"] == kept
    s = d["sets"]["sunspots"]
    assert s["goal"]["met"] and s["wall"] is None and "quiet" in s and "commit" in s
    assert not (tmp_path / "r.json.partial").exists()
    with pytest.raises(SystemExit) as e:
        real_data.main(["--sets", "sunspots", "--merge", "--seeds", "3", "--json", str(path)])
    assert e.value.code == 2
