"""Validation split, early stopping inside the compiled loop, --eval-data, and the sweep."""

import dataclasses
import json
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

from jaxrnn.data import load_sentiment
from jaxrnn.data.files import stratified_split
from jaxrnn.data.generators.compositional import load_compositional
from jaxrnn.runs import fit
from jaxrnn.runs.config import TrainConfig, resolve_config
from jaxrnn.runs.prepare import prepare_data
from jaxrnn.training import loop

COMPOSITIONAL = "jaxrnn/data/compositional.jsonl"
# Small and float64, so numbers compare; 12 epochs at a high rate, so the validation loss
# turns and early stopping has something to do.
SMALL = dict(model="bilstm", hidden=6, layers=1, embed_dim=8, epochs=12, batch_size=8, lr=5e-2,
             dtype="float64", val_fraction=0.25, early_stopping=3)  # fmt: skip


def test_early_stop_update_keeps_the_best_params_and_stops_after_patience():
    state = loop.TrainState({"w": jnp.zeros(2)}, (), jnp.zeros(2, jnp.uint32))
    state = state._replace(best=loop.init_best(state.params))
    stopped_at = None
    for e, v in enumerate([0.5, 0.4, 0.45, 0.4, 0.47, 0.1], start=1):
        state = state._replace(params={"w": jnp.full(2, float(e))})  # "trained" params
        state = loop.early_stop_update(state, jnp.asarray(v), patience=3, total_epochs=10)
        if stopped_at is None and bool(state.best.stopped):
            stopped_at = e
    b = state.best
    # Lowest at epoch 2; the tie at epoch 4 does not count as better; 3 epochs later: stop.
    assert stopped_at == 5 and int(b.epoch) == 2 and int(b.epochs) == 5
    assert float(b.loss) == 0.4
    # After the stop a lower loss changes nothing: the kept params stay epoch 2's.
    np.testing.assert_array_equal(b.params["w"], [2.0, 2.0])


def test_a_patience_stop_puts_the_best_params_back_in_the_state():
    """The state's own params (what is trained on, saved and reported), read right after the
    epoch that stops on patience, well before the last epoch: the best epoch's, not that
    epoch's."""
    state = loop.TrainState({"w": jnp.zeros(2)}, (), jnp.zeros(2, jnp.uint32))
    state = state._replace(best=loop.init_best(state.params))
    for e, v in enumerate([0.5, 0.4, 0.45, 0.4, 0.47], start=1):
        state = state._replace(params={"w": jnp.full(2, float(e))})  # "trained" params
        state = loop.early_stop_update(state, jnp.asarray(v), patience=3, total_epochs=10)
        assert bool(state.best.stopped) == (e == 5)
    np.testing.assert_array_equal(state.params["w"], [2.0, 2.0])  # epoch 2's, not epoch 5's


def test_last_epoch_restores_the_best_params_without_a_stop():
    state = loop.TrainState({"w": jnp.zeros(1)}, (), jnp.zeros(2, jnp.uint32))
    state = state._replace(best=loop.init_best(state.params))
    for e, v in enumerate([0.3, 0.2, 0.25], start=1):
        state = state._replace(params={"w": jnp.full(1, float(e))})
        state = loop.early_stop_update(state, jnp.asarray(v), patience=5, total_epochs=3)
    assert bool(state.best.stopped) and int(state.best.epoch) == 2
    np.testing.assert_array_equal(state.params["w"], [2.0])


def test_val_split_is_stratified_held_out_and_seeded():
    cfg = resolve_config(TrainConfig(model="gru", val_fraction=0.25, seed=3))
    d = prepare_data(cfg)
    assert len(d.train.labels) + len(d.val.labels) == 58
    assert set(np.unique(d.val.labels)) == {0, 1}
    again = prepare_data(cfg)
    np.testing.assert_array_equal(d.val.ids, again.val.ids)
    other = prepare_data(dataclasses.replace(cfg, seed=4))
    assert not np.array_equal(d.val.ids, other.val.ids)


@pytest.fixture(scope="module")
def two_seeds():
    cfg = TrainConfig(**SMALL, eval_data=(COMPOSITIONAL,), seed_group=2)  # vmapped
    return cfg, fit(cfg, seeds=2)


def test_early_stopping_keeps_the_best_epoch_per_seed(two_seeds):
    cfg, r = two_seeds
    for i in range(2):
        h, f = r.histories[i], r.seed_final(i)
        best = f["best_epoch"]
        assert best == 1 + int(np.argmin([x["val_loss"] for x in h]))
        # (train_acc: the history's is the best epoch's running mean, the final one scores
        # the kept params on the whole training split)
        for k in ("test_acc", "val_loss", "val_acc"):
            assert f[k] == h[best - 1][k]
    # The seeds stop independently (their best epochs differ here).
    assert r.seed_final(0)["best_epoch"] != r.seed_final(1)["best_epoch"]


def test_a_run_stopped_on_patience_returns_the_best_epochs_params(two_seeds):
    """Scored afresh (``loop.evaluate`` on the validation split), the params ``fit`` returns
    have the validation loss the history recorded at the best epoch, for a seed that stopped
    on patience before the last epoch: the best params were put back, not the last trained."""
    from jaxrnn.runs import build_model
    from jaxrnn.runs.prepare import num_classes

    cfg, r = two_seeds
    data = prepare_data(r.config)
    model = build_model(r.config, data.vocab.vocab_size, num_classes(data))
    patience_stops = 0
    for i in range(2):
        h, best = r.histories[i], r.seed_final(i)["best_epoch"]
        patience_stops += best + cfg.early_stopping < cfg.epochs
        metrics, _ = loop.evaluate(model, None, jax_index(r.params, i), data.val)
        assert float(metrics[0]) == pytest.approx(h[best - 1]["val_loss"], rel=1e-9)
        # ... which the epochs trained after it had not: the check tells the params apart
        after = [x["val_loss"] for x in h[best : best + cfg.early_stopping]]
        assert all(abs(v - h[best - 1]["val_loss"]) > 1e-6 for v in after)
    assert patience_stops >= 1  # not only the last epoch's restore


def test_eval_data_scores_the_kept_params(two_seeds):
    """--eval-data's accuracy equals what the returned (kept) params predict, computed
    another way (``Predictor``, from the texts), seed by seed; so does the val accuracy."""
    cfg, r = two_seeds
    comp = load_compositional()
    train = load_sentiment().train
    _, va = stratified_split(train.labels, cfg.val_fraction, cfg.seed)
    val_texts, val_labels = [train.texts[j] for j in va], [train.labels[j] for j in va]
    for i in range(2):
        one = dataclasses.replace(r, params=jax_index(r.params, i), seeds=[r.seeds[i]],
                                  histories=[r.histories[i]])  # fmt: skip
        pred = one.predictor().predict(comp.split.texts)
        acc = np.mean([p["label"] == comp.label_names[y]
                       for p, y in zip(pred, comp.split.labels, strict=True)])  # fmt: skip
        assert r.seed_final(i)["eval_compositional_acc"] == pytest.approx(acc, abs=1e-12)
        ev = r.evals[i]["compositional"]
        ok = np.array([p["label"] == comp.label_names[y]
                       for p, y in zip(pred, comp.split.labels, strict=True)])  # fmt: skip
        neg = [j for j, c in enumerate(comp.constructions) if "negation" in c.split("+")]
        assert ev["constructions"]["negation"]["acc"] == pytest.approx(ok[neg].mean())
        assert ev["constructions"]["negation"]["n"] == len(neg) == 16
        vp = one.predictor().predict(val_texts)
        vacc = np.mean([p["label"] == comp.label_names[y]
                        for p, y in zip(vp, val_labels, strict=True)])  # fmt: skip
        assert r.seed_final(i)["val_acc"] == pytest.approx(vacc)


def jax_index(tree, i):
    import jax

    return jax.tree.map(lambda a: np.asarray(a)[i], tree)


def test_seed_in_a_vmapped_group_equals_the_seed_alone(two_seeds):
    cfg, r = two_seeds
    # Seed 0 alone (the split is --seed's, so seed 1 alone would hold out another one).
    alone = fit(dataclasses.replace(cfg, seed_group=1, eval_data=()), seeds=1)
    h2, h1 = r.histories[0], alone.histories[0]
    assert [x["epoch"] for x in h2] == [x["epoch"] for x in h1]
    np.testing.assert_allclose([x["val_loss"] for x in h2], [x["val_loss"] for x in h1],
                               rtol=1e-9)  # fmt: skip
    assert alone.seed_final(0)["best_epoch"] == r.seed_final(0)["best_epoch"]


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "jaxrnn.train", *args], capture_output=True,
                          text=True, cwd=cwd)  # fmt: skip


def test_cli_json_keys_and_one_line_errors(tmp_path):
    out = tmp_path / "r.json"
    p = _cli("--model", "gru", "--hidden", "4", "--epochs", "3", "--val-fraction", "0.2",
             "--early-stopping", "2", "--eval-data", COMPOSITIONAL, "--json", str(out),
             "--quiet")  # fmt: skip
    assert p.returncode == 0, p.stderr
    d = json.loads(out.read_text())
    for k in ("best_epoch", "val_loss", "val_acc", "eval_compositional_loss",
              "eval_compositional_acc"):  # fmt: skip
        assert k in d["final"]
    assert set(d["eval"]["compositional"]["constructions"]) >= {"contrast", "conjunction"}
    assert d["config"]["eval_data"] == [COMPOSITIONAL]

    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\ni am happy,maybe\n")
    for args, needle in (
        (["--early-stopping", "3"], "--val-fraction"),
        (["--val-fraction", "1.5"], "--val-fraction"),
        (["--eval-data", str(bad)], "maybe"),
        (["--eval-data", str(tmp_path / "missing.csv")], "missing.csv"),
    ):
        p = _cli("--model", "gru", "--epochs", "1", *args)
        assert p.returncode == 2 and needle in p.stderr, (args, p.stderr)
        assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_sweep_point_equals_the_train_run_it_names():
    """One point of the sweep's vmapped grid computes what python -m jaxrnn.train computes
    for the same settings (float64): same split, init, orders, optimizer and dropout."""
    from jaxrnn.cli.sweep import run_grid

    cfg = resolve_config(TrainConfig(**{**SMALL, "early_stopping": 0, "epochs": 4},
                                     optimizer="adam", clip=0.0, weight_decay=0.0))
    points = np.array([[5e-2, 0.0, 0.0, 0.0], [2e-2, 0.5, 0.3, 0.5]])
    out = run_grid(cfg, points, [0, 1])
    lr, wd, drop, clip = points[1]  # every hyperparameter in use, in a vmapped neighbour's company
    c = dataclasses.replace(cfg, lr=lr, weight_decay=wd, dropout=drop, clip=clip, seed_group=1,
                            eval_train=True)  # the sweep scores the training split each epoch
    r = fit(c, seeds=2)
    for s in range(2):
        want = [[x[k] for k in r.metric_names] for x in r.histories[s]]
        np.testing.assert_allclose(out["history"][1, s], want, rtol=1e-7, atol=1e-9)
    assert not np.allclose(out["history"][0], out["history"][1])
