"""``benchmarks/tagging.py``: before it times anything, ours and PyTorch's tagger (same
weights through ``jaxrnn.nn.interop.to_torch``) give the same loss, and the same loss again
after one Adam step; then an epoch of each runs and is counted."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import tagging  # noqa: E402


def test_both_sides_compute_the_same_loss_then_time():
    enc, vocab = tagging.data(64)  # two batches of 32
    row = tagging.run_case("bilstm", True, enc, vocab, reps=1)
    c = row["check"]
    np.testing.assert_allclose(c["loss_ours"], c["loss_torch"], rtol=1e-5)
    np.testing.assert_allclose(c["loss_after_step_ours"], c["loss_after_step_torch"], rtol=1e-4)
    assert c["loss_after_step_ours"] < c["loss_ours"]  # the step moved the weights downhill
    assert row["tokens_per_epoch"] == int(enc.lengths.sum())
    assert row["ours_tokens_per_s"] > 0 and row["torch_tokens_per_s"] > 0


def test_tagging_quick(tmp_path):
    # the script as a user runs it: its JSON has the figures and the quiet-machine verdict
    from test_benchmarks import positive, run_quick

    p = run_quick("tagging", tmp_path)
    (case,) = p["cases"]
    assert case["case"] == "bilstm" and p["settings"]["sentences"] == 256
    assert positive(case["ours_tokens_per_s"]) and positive(case["torch_tokens_per_s"])
