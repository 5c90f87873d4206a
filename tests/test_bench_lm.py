"""Smoke test of ``benchmarks/lm.py --quick``: it runs, both sides compute the same loss from
the same weights before anything is timed, and every number the docstring promises is there."""

from __future__ import annotations

import math

from test_benchmarks import positive, run_quick


def test_lm_quick(tmp_path):
    p = run_quick("lm", tmp_path)
    same = p["same_weights_first_loss"]
    assert same["equal"] and math.isclose(same["ours"], same["torch"], rel_tol=1e-4)
    for side in ("ours", "torch", "numpy"):
        assert positive(p[side]["tokens_per_s"]), side
    # same weights, same chunks, same optimizer: the curves and the test bits/char agree
    assert abs(p["ours"]["test_bpc"] - p["torch"]["test_bpc"]) < 1e-3
    for a, b in zip(p["ours"]["pass_loss"], p["torch"]["pass_loss"], strict=True):
        assert math.isclose(a, b, rel_tol=1e-3)
    assert all(positive(g["chars_per_s"]) for g in p["generation"].values())
    assert p["unigram_bpc"] > p["ours"]["test_bpc"] - 1.0
    # the streams split over 2 devices: the same curve as one device's (float32 rounding)
    dp = p["ours_dp"]
    assert dp["devices"] == 2 and positive(dp["tokens_per_s"]) and positive(dp["compile_s"])
    assert len(dp["pass_loss"]) == len(p["ours"]["pass_loss"])
    assert dp["max_rel_loss_diff"] < 1e-4
    assert abs(dp["test_bpc"] - p["ours"]["test_bpc"]) < 1e-4
    assert set(p["ratios"]) == {"tokens_per_s_ours_over_torch", "tokens_per_s_ours_over_numpy",
                                "test_bpc_ours_minus_torch", "tokens_per_s_ours_dp_over_torch",
                                "tokens_per_s_ours_dp_over_ours"}
