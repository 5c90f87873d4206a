"""Smoke test of ``benchmarks/lm.py --quick``: it runs, both sides compute the same loss from
the same weights before anything is timed, and every number the docstring promises is there."""

from __future__ import annotations

import math

import pytest
from test_benchmarks import positive, run_quick


def test_lm_quick(tmp_path):
    p = run_quick("lm", tmp_path, "--bf16")
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
                                "tokens_per_s_ours_dp_over_ours",
                                "tokens_per_s_ours_bf16_over_torch",
                                "tokens_per_s_ours_dp_bf16_over_torch"}
    # --bf16: mixed precision on one and on 2 devices, from the same weights: a curve near
    # float32's (bfloat16 operands round to 3 significant digits), its own test bits/char
    assert p["config"]["bf16"] is True
    for k, devices in (("ours_bf16", 1), ("ours_dp_bf16", 2)):
        side = p[k]
        assert side["devices"] == devices and side["precision"] == "bfloat16"
        assert positive(side["tokens_per_s"]) and positive(side["compile_s"])
        assert 0 < side["max_rel_loss_diff"] < 0.02, side["max_rel_loss_diff"]
        assert p["ratios"][f"tokens_per_s_{k}_over_torch"] == pytest.approx(
            side["tokens_per_s"] / p["torch"]["tokens_per_s"])
    gap = p["test_bpc_bf16_minus_f32"]
    assert set(gap) == {"ours", "ours_dp"} and all(abs(v) < 0.05 for v in gap.values()), gap
    assert gap["ours"] == pytest.approx(p["ours_bf16"]["test_bpc"] - p["ours"]["test_bpc"])


def test_cli_lm_quick(tmp_path):
    """``cli_lm.py``: the CLI's LM tokens/s over the library's, on the devices the CLI ran."""
    p = run_quick("cli_lm", tmp_path, "--rounds", "1")
    sides = {r["side"]: r for r in p["results"]}
    assert {"library, 1 device (lm.py ours)", "cli", "cli --eval-every 40"} <= set(sides)
    assert all(positive(r["tokens_per_s"]) for r in sides.values())
    lib = next(r for r in sides.values() if r["over_library"] == pytest.approx(1.0))
    assert p["cli_over_library"] == pytest.approx(
        sides["cli"]["tokens_per_s"] / lib["tokens_per_s"])
    assert p["config"]["rounds"] == 1 and p["config"]["quick"] is True
