"""``benchmarks/tagging.py``: before it times anything, ours and PyTorch's tagger (same
weights through ``jaxrnn.nn.interop.to_torch``) give the same loss, and the same loss again
after one Adam step; then an epoch of each runs and is counted. One ``--quick`` run (the
script as a user runs it, on the 64 sentences an in-process check used to take apart)."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import tagging  # noqa: E402


def test_tagging_quick(tmp_path):
    # its JSON has the loss checks, the figures and the quiet-machine verdict
    from test_benchmarks import positive, run_quick

    p = run_quick("tagging", tmp_path)
    (case,) = p["cases"]
    assert case["case"] == "bilstm" and p["settings"]["sentences"] == 64
    c = case["check"]
    np.testing.assert_allclose(c["loss_ours"], c["loss_torch"], rtol=1e-5)
    np.testing.assert_allclose(c["loss_after_step_ours"], c["loss_after_step_torch"], rtol=1e-4)
    assert c["loss_after_step_ours"] < c["loss_ours"]  # the step moved the weights downhill
    enc, _ = tagging.data(64)  # two batches of 32: every sentence in the epoch
    assert case["batches"] == 2 and case["tokens_per_epoch"] == int(enc.lengths.sum())
    assert positive(case["ours_tokens_per_s"]) and positive(case["torch_tokens_per_s"])
