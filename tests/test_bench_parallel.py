"""``benchmarks/parallel.py``: the ``--quick`` run writes every side at every length with its
figures, and the timed train steps compute the right loss (every form of a cell, ours
parallel and sequential and PyTorch's, gives the same first-step loss from the same
weights; checked in float64 in this process, on the same step functions the script times)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from test_benchmarks import BENCH, ROOT, positive, run_quick

sys.path.insert(0, str(BENCH))  # test_benchmarks does it too; said here, where it is needed
import parallel  # noqa: E402


def test_parallel_quick(tmp_path):
    # no time limit: on a busy machine a side's warm-up would otherwise skip it
    p = run_quick("parallel", tmp_path, "--max-seconds", "1e9")
    sides, lengths = p["sides"], p["config"]["lengths"]
    assert sides == parallel.all_sides() and lengths == [8]
    for side in sides:
        for T in lengths:
            r = p["results"][side][str(T)]
            assert "skipped" not in r, (side, T, r)
            assert positive(r["tokens_per_s"]) and positive(r["gflops_per_s"]), (side, T)
            assert math.isclose(r["tokens_per_s"], 8 * T / r["step_s"])
            if p["peak"]["gflops"]:
                assert positive(r["peak_share"]) and r["peak_share"] < 1
            if side.startswith("ours_"):
                assert positive(r["compile_s"])
            if side.endswith(("_parallel", "_logcumsumexp", "_scan")):
                assert positive(r["floor_s"]) and math.isclose(
                    r["over_floor"], r["step_s"] / r["floor_s"]
                )
            ours = p["results"]["ours_lstm"][str(T)]["tokens_per_s"]
            assert math.isclose(r["tokens_over_ours_lstm"], r["tokens_per_s"] / ours)
            assert positive(r["tokens_over_torch_lstm"])
    assert set(p["flop_formulas"]) == {"readout", "lstm", "mingru", "minlstm", "lru"}
    assert "6 B T O C" in p["flop_formulas"]["readout"]
    peak = p["peak"]
    assert "FLOP/cycle" in peak["description"] and peak["flops_per_cycle"] in (16, 32, 64)
    assert peak["gflops"] is None or math.isclose(
        peak["gflops"], peak["cores"] * peak["clock_mhz"] * peak["flops_per_cycle"] / 1e3
    )
    assert positive(p["bandwidth"]["gb_per_s"]) and "B T H" in p["memory_floor_formula"]
    assert p["torch_threads"] == p["cpus"]
    # the first step of every form of a cell (float32 here) gave the same loss
    for T in lengths:
        same = p["same_first_loss"][str(T)]
        assert set(same) == {"lstm", "mingru", "minlstm", "lru"}
        for cell, s in same.items():
            assert s["equal"] and len(s["losses"]) >= 2, (T, cell, s)
            vals = list(s["losses"].values())
            assert max(vals) - min(vals) <= 1e-5 * vals[0], (T, cell, s)


def test_matmul_flops_by_hand():
    # B 2, T 3, D 5, H 7, C 16: the docstring's formulas written out
    bt, readout = 6, 6 * 6 * 7 * 16
    assert parallel.matmul_flops("mingru", 2, 3, 5, 7) == 4 * bt * 5 * 14 + readout
    assert parallel.matmul_flops("minlstm", 2, 3, 5, 7) == 4 * bt * 5 * 21 + readout
    assert parallel.matmul_flops("lstm", 2, 3, 5, 7) == (
        2 * bt * 28 * 12 + 2 * bt * 28 * 19 + readout
    )
    assert parallel.matmul_flops("lru", 2, 3, 5, 7) == (
        4 * bt * 5 * 14 + 6 * bt * 7 * 10 + 6 * bt * 5 * 16
    )


def test_timed_steps_compute_the_same_first_loss_float64():
    pytest.importorskip("torch")
    import jax

    assert jax.config.jax_enable_x64
    sides = parallel.build_sides(parallel.all_sides(), B=2, T=9, D=3, H=4, dtype=np.float64)
    first = {n: float(s.step()) for n, s in sides.items()}
    second = {n: float(s.step()) for n, s in sides.items()}
    for cell in ("mingru", "minlstm", "lru"):
        vals = {n: v for n, v in first.items() if parallel.side_cell(n) == cell}
        assert len(vals) == 5  # parallel, scan, sequential and the two torch forms
        ref = vals[f"ours_{cell}_sequential"]
        for n, v in vals.items():
            assert math.isclose(v, ref, rel_tol=1e-10), (n, v, ref)
    # torch's LSTM gets our weights as float32 (jaxrnn.nn.interop.to_torch)
    assert math.isclose(first["torch_lstm"], first["ours_lstm"], rel_tol=1e-6)
    # the step trains: Adam moved the weights, so the loss on the same batch changed
    assert all(second[n] != first[n] for n in first)


@pytest.mark.parametrize(
    "bad, message",
    [
        (["--sides", "ours_gru"], "error: unknown sides"),
        (["--torch-threads", "0"], "error: --batch"),
        (["--lengths", "4,x"], "error: expected comma-separated integers"),
    ],
)
def test_bad_input_is_a_one_line_error(bad, message):
    proc = subprocess.run(
        [sys.executable, str(BENCH / "parallel.py"), "--quick", *bad],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert proc.stderr.strip().startswith(message) and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_skip_reason():
    assert parallel.skip_reason(None, 64, 10, 20.0) is None  # nothing known yet
    assert parallel.skip_reason((64, 0.5), 256, 10, 20.0) is None  # 0.5 x 4 x 10 = 20 s
    assert "predicted 40" in parallel.skip_reason((64, 0.5), 512, 10, 20.0)
    assert parallel.skip_reason((64, 9.0), 256, 10, 20.0, warm_s=1.9) is None  # warm-up rules
    assert "warm-up step 2.1" in parallel.skip_reason(None, 256, 10, 20.0, warm_s=2.1)


def test_sides_over_the_time_limit_are_skipped_with_a_note(tmp_path):
    # two of our sides: the skipping is the same for every side, and no torch side spares this
    # process the import of torch._dynamo (its optimizers load it, ~2 s of CPU)
    two = "ours_mingru_scan,ours_mingru_sequential"
    p = run_quick("parallel", tmp_path, "--lengths", "4,8", "--sides", two, "--reps", "1",
                  "--max-seconds", "1e-9")  # fmt: skip
    assert p["sides"] == two.split(",")
    for side in p["sides"]:
        assert p["results"][side]["4"]["skipped"].startswith("warm-up step")
        assert p["results"][side]["8"] == {"skipped": "skipped at a shorter T"}
    # skipped sides still ran their first step: the loss check covers them
    assert p["same_first_loss"]["4"]["mingru"]["equal"]
    assert len(p["notes"]) == 2


def test_peak_from_flags_and_clock(monkeypatch):
    monkeypatch.setattr(parallel, "_cpuinfo", lambda: ({"avx2", "fma"}, None, "GenuineIntel 6"))
    monkeypatch.setattr(parallel, "_lscpu_max_mhz", lambda: 3000.0)
    peak = parallel.float32_peak(2)
    assert peak["gflops"] == 2 * 3000.0 * 32 / 1e3 and "lscpu" in peak["clock_source"]
    assert peak["note"] is None
    monkeypatch.setattr(parallel, "_lscpu_max_mhz", lambda: None)
    peak = parallel.float32_peak(2)
    assert peak["gflops"] is None and "clock not readable" in peak["description"]
    monkeypatch.setattr(parallel, "_cpuinfo", lambda: ({"avx512f"}, 2600.0, "AuthenticAMD 25"))
    peak = parallel.float32_peak(4)
    assert peak["gflops"] == 4 * 2600.0 * 64 / 1e3 and "Zen 4" in peak["note"]
