"""``--eval-every N``: validation and test scored at the first epoch, every N-th and the last;
the same figures there as a run that scores every epoch; early stopping decides at scored
epochs; a resumed run keeps the schedule; JSON, plot and the CLI handle skipped epochs."""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pytest

from jaxrnn import runs as T
from jaxrnn.cli import plot as plot_cli
from jaxrnn.cli import train as train_cli
from jaxrnn.runs.report import is_scored
from jaxrnn.training import loop

KW = dict(model="gru", hidden=4, embed_dim=4, batch_size=8, val_fraction=0.2, lr=1e-2,
          dtype="float64", epochs=7)  # fmt: skip
SPLITS = ("test_", "val_")


@pytest.fixture(scope="module")
def every_and_third():
    """The same 7-epoch run scoring every epoch, and with --eval-every 3."""
    return T.fit(T.TrainConfig(**KW)), T.fit(T.TrainConfig(**KW, eval_every=3))


def test_scored_epochs_and_their_figures_equal_an_every_epoch_run(every_and_third):
    full, third = every_and_third
    assert third.scored_epochs == [1, 3, 6, 7]  # the first, multiples of 3, the last
    assert third.to_json()["scored_epochs"] == [1, 3, 6, 7]
    assert full.to_json()["scored_epochs"] == list(range(1, 8))
    for a, b in zip(full.history, third.history, strict=True):
        assert a["epoch"] == b["epoch"]
        keys = [k for k in a if k != "epoch"]
        if b["epoch"] in (1, 3, 6, 7):
            assert set(b) == set(a)
        else:  # train figures only: not computed is not written (no NaN, no zero)
            assert not any(k.startswith(SPLITS) for k in b)
            keys = [k for k in keys if k.startswith("train_")]
            assert keys
        np.testing.assert_allclose([b[k] for k in keys], [a[k] for k in keys], rtol=1e-12)
    assert full.final.keys() == third.final.keys()
    same = [k for k in full.final if k != "best_epoch"]  # (epoch 2 is not scored in `third`)
    np.testing.assert_allclose([third.final[k] for k in same], [full.final[k] for k in same],
                               rtol=1e-12)  # fmt: skip
    # best_epoch: the lowest validation loss among the scored epochs
    vals = {r["epoch"]: r["val_loss"] for r in full.history if r["epoch"] in (1, 3, 6, 7)}
    assert third.final["best_epoch"] == min(vals, key=vals.get)


def test_the_host_rule_is_the_compiled_loops():
    for every in (1, 2, 3, 5):
        for total in (1, 4, 7):
            for e in range(1, total + 1):
                assert bool(loop.is_scored(jnp.int32(e), every, total)) == is_scored(e, every,
                                                                                    total)


def _simulate(val_loss: dict[int, float], patience: int, every: int, epochs: int):
    """Early stopping by hand, deciding at scored epochs only: (stop epoch, kept epoch)."""
    best, kept = np.inf, 0
    for e in range(1, epochs + 1):
        if not is_scored(e, every, epochs):
            continue
        if val_loss[e] < best:
            best, kept = val_loss[e], e
        if e - kept >= patience or e == epochs:
            return e, kept
    raise AssertionError("the last epoch always decides")


@pytest.mark.parametrize("patience", [1, 3])
def test_early_stopping_decides_at_scored_epochs(every_and_third, patience):
    full, _ = every_and_third
    val = {r["epoch"]: r["val_loss"] for r in full.history}
    stop, kept = _simulate(val, patience, 2, 7)
    r = T.fit(T.TrainConfig(**KW, eval_every=2, early_stopping=patience))
    assert r.kept_epochs == [kept]
    assert len(r.history) == stop and r.scored_epochs == [e for e in (1, 2, 4, 6, 7) if e <= stop]
    for k in ("test_loss", "test_acc", "val_loss"):  # the kept epoch's figures are reported
        np.testing.assert_allclose(r.final[k], full.history[kept - 1][k], rtol=1e-12)


def test_resume_keeps_the_schedule(every_and_third, tmp_path):
    _, third = every_and_third
    ck = str(tmp_path / "four.ckpt")
    T.fit(T.TrainConfig(**{**KW, "epochs": 4}, eval_every=3), save=ck)
    resumed = T.fit(T.TrainConfig(epochs=7), resume=ck)
    # epoch 4 was the first run's last (scored there); then 6 and 7, not 5 (the resumed
    # call's first epoch): the schedule counts epochs from the run's start
    assert resumed.scored_epochs == [1, 3, 4, 6, 7]
    for a, b in zip(third.history, resumed.history, strict=True):
        if b["epoch"] in (6, 7):
            np.testing.assert_allclose([b[k] for k in a], [a[k] for k in a], rtol=1e-12)


def test_cli_default_follows_log_every_and_json_and_plot_handle_skipped_epochs(tmp_path):
    out, png = tmp_path / "run.json", tmp_path / "run.png"
    assert train_cli.main(["--model", "gru", "--epochs", "5", "--hidden", "4", "--embed-dim",
                           "4", "--log-every", "2", "--quiet", "--json", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert rec["config"]["eval_every"] == 2 and rec["scored_epochs"] == [1, 2, 4, 5]
    assert [("test_loss" in h) for h in rec["history"]] == [True, True, False, True, True]
    assert plot_cli.main([str(out), "--out", str(png)]) == 0 and png.stat().st_size > 0


def test_eval_every_below_one_is_one_line(capsys):
    assert train_cli.main(["--eval-every", "0", "--epochs", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: --eval-every must be at least 1, got 0"
