"""``python -m jaxrnn.study --part depth``: the per-layer gradient norms are the hand-written
BPTT's, and the part writes its section, table and figure."""

import json

import jax
import numpy as np
import pytest

from jaxrnn.cli import study as cli
from jaxrnn.runs import TrainConfig, build_model, initial_params, prepare_data, resolve_config
from jaxrnn.scratch.layers import classifier_loss_and_grads
from jaxrnn.study import depth


@pytest.mark.parametrize("init", ["study", "orthogonal"])
def test_initial_gradient_norms_are_the_numpy_bptts(init):
    """At epoch 0 the norms equal those of the NumPy reference's hand-written gradients of the
    mean training loss (float64), layer by layer."""
    cfg = resolve_config(TrainConfig(model="rnn2", init=init, hidden=6, epochs=2,
                                     dtype="float64"))  # fmt: skip
    data = prepare_data(cfg)
    curves = depth.grad_norm_curves(cfg, data, [0, 1], every=1)
    assert curves["epochs"] == [0, 1, 2]
    model = build_model(cfg, data.tokenizer.vocab_size, 2)
    stacked = initial_params(model, cfg, [0, 1])
    t = data.train
    for s in range(2):
        p = jax.tree.map(lambda a, s=s: np.asarray(a[s]), stacked)
        _, g = classifier_loss_and_grads(p, t.ids, t.lengths, t.labels, cell="rnn",
                                         bidirectional=False)  # fmt: skip
        ref = depth.layer_norms(g)
        for name, v in ref.items():
            assert curves["norms"][name][0][s] == pytest.approx(v, rel=1e-9)
    # training moves the norms (a chunk that did not train would repeat epoch 0's)
    assert curves["norms"]["readout"][2] != curves["norms"]["readout"][0]
    if init == "study":  # the vanishing signal: layer 1's gradient far below the readout's
        assert max(curves["norms"]["layer 1"][0]) < 1e-3 * min(curves["norms"]["readout"][0])


def test_part_depth_writes_its_section(tmp_path, monkeypatch):
    monkeypatch.setattr(depth, "QUICK", dict(epochs=2, grad_epochs=2, every=1, hidden=4))
    assert cli.main(["--part", "depth", "--quick", "--seeds", "2", "--out", str(tmp_path),
                     "--quiet"]) == 0  # fmt: skip
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["settings"]["parts"] == ["depth"]
    inits = res["depth"]["inits"]
    assert list(inits) == ["study", "glorot", "orthogonal"]
    for m in inits.values():
        assert m["test_acc"]["n"] == 2 and len(m["per_seed_test_acc"]) == 2
        assert m["grad_norms"]["epochs"] == [0, 1, 2]
    md = (tmp_path / "depth.md").read_text()
    assert "| study |" in md and "| orthogonal |" in md
    assert (tmp_path / "depth_grad_norms.png").stat().st_size > 10_000
