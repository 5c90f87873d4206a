"""Smoke tests of the benchmark scripts: each ``--quick`` run exits 0 and writes the JSON keys
that their docstrings describe.

Each script runs in its own subprocess (as a user runs it) with XLA at optimization
level 0 and LLVM's expensive passes off (``XLA_FLAGS``): the numbers do not matter
here, only that every code path runs, and these programs compile about twice as
fast that way, faster still with the classic loop emitters instead of the fusion emitters.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
sys.path.insert(0, str(BENCH))

import _common  # noqa: E402

FAST_XLA = (
    "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true "
    "--xla_cpu_use_fusion_emitters=false"
)


def run_quick(script: str, tmp_path: Path, *extra: str) -> dict:
    out = tmp_path / f"{script}.json"
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_ENABLE_X64")}
    env["XLA_FLAGS"] = FAST_XLA
    env["KERAS_BACKEND"] = "jax"
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    proc = subprocess.run(
        [sys.executable, str(BENCH / f"{script}.py"), "--quick", "--json", str(out), *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    payload = json.loads(out.read_text())
    check_quiet_keys(payload, proc.stderr)
    machine = payload["machine"]
    for key in ("cpu_model", "cpu_count", "loadavg", "versions", "jax_devices"):
        assert key in machine
    assert set(machine["cpu"]) == {"vendor", "family", "model", "stepping", "simd"}
    assert machine["versions"]["jax"] and machine["versions"]["numpy"]
    assert payload["script_wall_s"] > 0
    return payload


def positive(x) -> bool:
    return isinstance(x, int | float) and x > 0


def check_quiet_keys(payload: dict, stderr: str) -> None:
    """The quiet-machine verdict is at the top level of a script's JSON, and the warning is on
    stderr exactly when the verdict is ``quiet: false`` (these tests share the machine, so
    either verdict may come)."""
    assert isinstance(payload["quiet"], bool)
    for when in ("before", "after"):
        load = payload["load"][when]
        assert len(load) == 3 and all(x >= 0 for x in load), load
    assert isinstance(payload["cpus"], int) and payload["cpus"] >= 1
    assert payload["others_cores"] is None or payload["others_cores"] >= 0
    assert payload["quiet_check"]["wall_s"] > 0
    warned = "warning: the machine was busy" in stderr
    assert warned == (not payload["quiet"]), (payload["quiet_check"], stderr[-500:])
    assert list(payload)[0] == "quiet"  # first in the file, before the figures


def test_vs_keras_quick(tmp_path):
    p = run_quick("vs_keras", tmp_path)
    assert p["machine"]["versions"]["keras"]
    assert p["machine"]["keras_backend"] == "jax"
    assert set(p["import_s"]) == {"jax+jaxrnn", "keras"}
    (r,) = p["results"]
    assert r["model"] == "simple_rnn" and r["epochs"] == 2
    assert r["lr"]["keras"] == r["lr"]["ours"]
    keras, ours = r["sides"]["keras"], r["sides"]["ours"]
    for key in ("wall_s", "first_epoch_s", "epoch_s", "test_acc", "params"):
        assert keras[key] is not None, key
    for key in ("wall_s", "compile_s", "epoch_s", "test_acc", "params"):
        assert ours[key] is not None, key
    assert positive(keras["wall_s"]) and positive(ours["wall_s"]) and positive(ours["compile_s"])
    assert 0.0 <= ours["test_acc"] <= 1.0 and 0.0 <= keras["test_acc"] <= 1.0
    assert positive(r["speedup"]) and isinstance(r["target_met"], bool)
    bd = r["ours_breakdown"]
    for key in ("init_state_s", "trace_s", "lower_s", "compile_s", "epoch_s", "test_report_s"):
        assert positive(bd[key]), key
    assert isinstance(bd["predict_program"], bool)
    params = r["params"]
    assert params["keras"] == 2001  # Embedding 400 + SimpleRNN 1568 + Dense 33
    assert params["equal_without_b_hh"], params
    assert "with_persistent_cache" not in p  # not in --quick


def test_seeds_quick(tmp_path):
    p = run_quick("seeds", tmp_path)
    (r,) = p["results"]
    assert r["model"] == "simple_rnn"
    rows = r["rows"]
    assert [row["seeds"] for row in rows] == [1, 4]
    for row in rows:
        for key in ("vmapped_s", "sequential_s", "ratio_vs_1", "seq_over_vmapped"):
            assert positive(row[key]), key
        assert positive(row["compile_s"]["single"])
    assert rows[0]["ratio_vs_1"] == 1.0
    assert positive(rows[1]["compile_s"]["vmapped"])
    a = r["arithmetic"]
    assert positive(a["matmul_flops_per_seed_run"]) and positive(a["state_bytes_per_seed"])


def test_compile_time_quick(tmp_path):
    p = run_quick("compile_time", tmp_path)
    (r,) = p["programs"]
    assert (r["model"], r["T"]) == ("simple_rnn", 15)
    assert set(r["programs"]) == {"train", "predict"}
    assert positive(r["init_state_s"])
    for prog in r["programs"].values():
        for key in ("trace_s", "lower_s", "compile_s", "total_s"):
            assert positive(prog[key]), key
        assert prog["fusions"] is None or prog["fusions"] > 0
    (lv,) = p["optimization_levels"]
    assert {"default", "O0"} <= set(lv["options"])
    for o in lv["options"].values():
        assert positive(o["compile_s"]) and positive(o["epoch_s"])
    assert lv["options"]["O0"]["options"] == {"xla_backend_optimization_level": 0}


def test_devices_quick(tmp_path):
    p = run_quick("devices", tmp_path)
    assert p["simulated_devices"] is True and "overhead" in p["note"]
    assert p["device_counts"] == [1, 2]
    axes = {r["axis"]: r for r in p["results"]}
    assert set(axes) == {"batch", "batch_shard_map", "seed"}
    for res in axes.values():
        assert [row["devices"] for row in res["rows"]] == [1, 2]
        for row in res["rows"]:
            assert positive(row["epoch_ms"]) and positive(row["step_ms"])
            assert positive(row["compile_s"])
    assert axes["batch"]["rows"][1]["parallel"] == "batch"
    assert axes["batch_shard_map"]["rows"][1]["parallel"] == "batch"
    assert axes["seed"]["rows"][1]["parallel"] == "seed"


def test_vs_peers_quick(tmp_path):
    p = run_quick("vs_peers", tmp_path)
    assert p["machine"]["versions"]["torch"] and p["machine"]["versions"]["flax"]
    rows = p["results"]
    assert [r["cell"] for r in rows] == ["lstm"]  # --quick: the LSTM at one tiny shape
    for r in rows:
        assert (r["B"], r["T"], r["D"], r["H"]) == (8, 5, 8, 16)
        assert positive(r["matmul_gflop"])
        # the script gives itself one CPU device per core, so ours_dp splits the batch
        assert r["ours_dp_devices"] == min(len(p["machine"]["jax_devices"]), 2) > 1
        impls = r["impls"]
        assert set(impls) == {"ours", "ours_dp", "autodiff", "torch", "torch1t", "flax"}
        for k, v in impls.items():
            assert positive(v["median_ms"]) and positive(v["gflops_per_s"]), k
            assert positive(v["ratio_vs_ours"]) and positive(v["ratio_vs_ours_dp"]), k
        assert impls["ours"]["ratio_vs_ours"] == 1.0
        assert positive(impls["ours_dp"]["compile_s"]) and positive(impls["torch"]["first_call_s"])


def test_vs_peers_variants_of_a_shape_of_ones_own(tmp_path):
    p = run_quick("vs_peers", tmp_path, "--variants", "--shape", "3,2,2,4", "--cells", "rnn",
                  "--no-bilstm", "--reps", "1")  # fmt: skip
    (row,) = p["variants"]
    names = set(row["variants"])
    assert {"default", "feature_major=False", "feature_major=True", "autodiff"} <= names
    assert row["case"] == "rnn B3 T2 D2 H4"
    assert all(positive(v["median_ms"]) for v in row["variants"].values())


def test_vs_numpy_quick(tmp_path):
    p = run_quick("vs_numpy", tmp_path)
    s = p["study_training"]
    assert s["epochs"] == 10
    for key in ("numpy_run_s", "jax_run_s", "jax_compile_s", "speedup_per_epoch"):
        assert positive(s[key]), key
    # same math, float32 against float64: the losses after 10 epochs agree closely
    assert s["jax_final"]["train_loss"] == pytest.approx(s["numpy_final"]["train_loss"], rel=1e-4)
    procs = p["processes"]
    assert positive(procs["speedup_cold"]) and positive(procs["speedup_warm"])
    (row,) = p["per_batch"]
    assert (row["H"], row["T"]) == (32, 5)
    assert positive(row["fwd_speedup"]) and positive(row["fwd_bwd_speedup"])
    (epoch,), (proc,) = p["presets"]["per_epoch"], p["presets"]["processes"]
    assert epoch["model"] == proc["model"] == "rnn"
    assert positive(epoch["speedup_per_epoch"]) and positive(proc["speedup_process"])
    assert 0 <= proc["numpy_test_acc"] <= 1 and 0 <= proc["jax_test_acc"] <= 1


def test_profile_step_quick(tmp_path):
    p = run_quick("profile_step", tmp_path)
    k = p["kernels"]
    assert (k["cell"], k["B"], k["T"]) == ("lstm", 8, 4)
    assert positive(k["step_ms_unprofiled"]) and positive(k["loop_kernels_per_time_step"])
    names = [r["kernel"] for r in k["kernels"]]
    assert any(n.startswith("while") for n in names)  # the time loops were seen
    for r in k["kernels"]:
        assert positive(r["mean us"]) and positive(r["per step"]), r
    assert set(p["step_matmul"]["us_per_time_step"]) == {"xla", "xla_feature_major",
                                                         "torch_1_thread", "torch_2_threads"}
    for row in p["weight_grad_products"] + p["square_gemms"]:
        assert all(positive(v) for key, v in row.items() if key.endswith("GF/s")), row
    for cpus in ("all_cores", "one_core"):  # part 4, the second in a child pinned to one core
        between = p["between_kernels"][cpus]
        assert list(between) == [f"{k} kernels between" for k in (0, 1, 3)]
        assert all(positive(v) for v in between.values())



def test_precision_quick(tmp_path):
    p = run_quick("precision", tmp_path)
    assert "quiet" in p and p["peak"]["description"]
    sides = {r["side"] for r in p["steps"]}
    assert {"ours_f32", "ours_bf16", "torch_f32"} <= sides
    for r in p["steps"]:
        assert positive(r["ms"]) and positive(r["gflops"]), r
    lm = p["lm"]
    assert lm["bpc_key"] == "test_bpc" and abs(lm["bpc_gap"]) < 0.05
    # bfloat16 did compute: one step from PyTorch's small init may leave the float32 test
    # bits/char equal, the first batch's loss (before any update) differs
    f32, bf16 = lm["float32"], lm["bfloat16"]
    assert (f32["test_bpc"], f32["train_loss"]) != (bf16["test_bpc"], bf16["train_loss"])


def test_peak_rss_quick(tmp_path):
    payload = run_quick("peak_rss", tmp_path)
    rows = payload["rows"]
    assert [r["texts"] for r in rows] == [60] and rows[0]["peak_rss_mb"] > 50
    assert 0 <= rows[0]["test_acc"] <= 1 and rows[0]["compile_s"] > 0


def test_scale_quick(tmp_path):
    # PyTorch packed alone (ours is the trainer the other tests run; its 3x128 BiLSTM compile
    # alone would take most of this file's time budget)
    payload = run_quick("scale", tmp_path, "--sides", "torch_packed", "--torch-threads", "1")
    (row,) = payload["rows"]
    assert row["texts"] == 60 and row["name"] == "torch_packed" and "error" not in row
    assert 0 < row["train_s"] <= row["epoch_s"] and row["peak_rss_mb"] > 50


def test_rss_stages_quick(tmp_path):
    marks = run_quick("rss_stages", tmp_path)["marks"]
    assert [m["stage"] for m in marks] == ["start", "jax imported", "data prepared",
                                           "lowered (compile starts)", "compiled", "trained",
                                           "end"]  # fmt: skip
    assert all(m["peak_mb"] >= m["rss_mb"] > 0 for m in marks)
    assert [m["peak_mb"] for m in marks] == sorted(m["peak_mb"] for m in marks)


# ----------------------------------------------------------------------------- quiet machines
# The rule with injected readings: no test has to load the machine to see a busy verdict.


def reading(load1: float | None, busy_s: float | None, own_s: float, t: float, cpus: int = 2,
            cpu_count: int = 2) -> _common.Reading:  # fmt: skip
    load = None if load1 is None else (load1, load1 / 2, load1 / 4)
    return _common.Reading(load=load, cpu_count=cpu_count, cpus=cpus, busy_s=busy_s, own_s=own_s,
                           t=t)  # fmt: skip


def check_from(before: _common.Reading, after: _common.Reading):
    """A ``QuietCheck`` fed ``before`` then ``after``, its warnings into a string buffer."""
    import io

    readings = iter([before, after])
    stream = io.StringIO()
    return _common.QuietCheck(read=lambda: next(readings), stream=stream), stream


def test_busy_reading_is_not_quiet_and_warns_once():
    # 10 s of wall time: all processes busy 19 CPU-s, 5 of them ours: others 1.4 cores
    check, stream = check_from(reading(3.2, 1000.0, 10.0, 0.0), reading(3.0, 1019.0, 15.0, 10.0))
    payload = check.stamp({"machine": {}, "rows": [1, 2]})
    assert payload["quiet"] is False
    assert payload["others_cores"] == pytest.approx(1.4)
    assert payload["load"] == {"before": [3.2, 1.6, 0.8], "after": [3.0, 1.5, 0.75]}
    assert payload["cpus"] == 2 and payload["rows"] == [1, 2]
    assert len(payload["quiet_check"]["reasons"]) == 3  # the load before and after, the others
    check.stop()  # a second look changes nothing and does not warn again
    assert stream.getvalue() == (
        "warning: the machine was busy (load 3.2 on 2 cores, others used 1.4 cores): "
        "figures from this run are not results\n"
    )


def test_quiet_reading_is_quiet_and_silent():
    check, stream = check_from(reading(0.4, 500.0, 1.0, 0.0), reading(1.9, 520.0, 20.0, 10.0))
    payload = check.stamp({"machine": {}})
    assert payload["quiet"] is True and stream.getvalue() == ""
    assert payload["others_cores"] == pytest.approx(0.1)
    assert list(payload)[:4] == ["quiet", "load", "cpus", "others_cores"]
    assert payload["quiet_check"]["reasons"] == []


@pytest.mark.parametrize(
    ("before", "after", "others", "quiet"),
    [
        (0.5, 0.5, 0.0, True),
        (2.5, 2.5, 0.5, True),  # at the limits (2 cores + 0.5; half a core): still quiet
        (2.51, 0.5, 0.0, False),  # busy before the run only
        (0.5, 2.51, 0.0, False),  # busy after it only
        (0.5, 0.5, 0.51, False),  # others used the cores, the load average did not show it
        (None, None, 0.1, True),  # no load average on this OS: the CPU time decides
        (0.5, 0.5, None, True),  # no /proc/stat: the load decides
        (None, None, None, False),  # nothing read: not quiet
    ],
)
def test_quiet_rule(before, after, others, quiet):
    load = {x: None if x is None else (x, 0.0, 0.0) for x in (before, after)}
    got, reasons = _common.judge(load[before], load[after], 2, others)
    assert got is quiet and bool(reasons) is (not quiet)


def test_rule_counts_usable_cores_not_the_machines():
    # 8 CPUs in the machine, this process may use 2: a load of 3 is too much for it
    check, _ = check_from(reading(3.0, 0.0, 0.0, 0.0, cpus=2, cpu_count=8),
                          reading(3.0, 1.0, 1.0, 10.0, cpus=2, cpu_count=8))  # fmt: skip
    r = check.stop()
    assert r["quiet"] is False and r["cpus"] == 2
    assert r["quiet_check"]["cpu_count"] == {"before": 8, "after": 8}


def test_own_time_above_the_tick_count_clips_to_zero():
    # /proc/stat counts 10 ms ticks, getrusage microseconds: ours can exceed "all"
    check, _ = check_from(reading(0.1, 100.0, 0.0, 0.0), reading(0.1, 100.5, 0.52, 1.0))
    assert check.stop()["others_cores"] == 0.0


def test_stamp_refuses_a_payload_with_the_keys():
    check, _ = check_from(reading(0.1, 1.0, 0.0, 0.0), reading(0.1, 1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="quiet"):
        check.stamp({"quiet": True})


def test_busy_ticks_from_proc_stat(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 2 50 1000 20 5 6 7 3 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n")
    tick = os.sysconf("SC_CLK_TCK")
    # user + nice + system + irq + softirq + steal; idle and iowait are not busy
    assert _common._busy_s(str(stat)) == pytest.approx((100 + 2 + 50 + 5 + 6 + 7) / tick)
    assert _common._busy_s(str(tmp_path / "missing")) is None


def test_read_machine_here():
    r = _common.read_machine()
    assert r.cpus >= 1 and r.cpu_count >= r.cpus and r.own_s > 0
    if sys.platform.startswith("linux"):
        assert len(r.load) == 3 and r.busy_s > 0


def test_cpu_identity_tells_two_chips_of_one_model_name_apart(tmp_path, monkeypatch):
    import _timing

    def ident(flags: str, model: int) -> dict:
        info = tmp_path / f"cpuinfo{model}"
        info.write_text(f"processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\n"
                        f"model\t\t: {model}\nmodel name\t: AMD EPYC\nstepping\t: 1\n"
                        f"cpu MHz\t\t: 2445.404\nflags\t\t: fpu {flags}\n\n"
                        f"processor\t: 1\nmodel\t\t: 99\nflags\t\t: sse\n")  # fmt: skip
        real = _timing.read_cpuinfo
        monkeypatch.setattr(_timing, "read_cpuinfo", lambda path=str(info): real(path))
        return _timing.cpu_identity()

    zen3, zen4 = ident("avx fma avx2", 1), ident("avx2 fma avx512f avx512_bf16", 17)
    assert zen3 == {"vendor": "AuthenticAMD", "family": "25", "model": "1", "stepping": "1",
                    "simd": ["avx2", "fma"]}  # the first core's fields only
    assert zen4["simd"] == ["avx2", "fma", "avx512f", "avx512_bf16"] and zen4["model"] == "17"
    assert _timing.cpu_brief(zen3) == "AuthenticAMD family 25 model 1; avx2 fma"
    assert _timing.read_cpuinfo(str(tmp_path / "missing"))["flags"] == set()
    info = _timing.machine_info()
    assert info["cpu"] == zen4 and json.loads(json.dumps(info))["cpu"] == zen4


def test_mnist1d_wall_quick(tmp_path):
    p = run_quick("mnist1d_wall", tmp_path)
    assert p["config"]["epochs"] == 2 and p["seeds"] == 1
    for side in ("ours", "pytorch"):
        assert 0.0 <= p[side]["mean"] <= 1.0 and p[side]["wall_s"] > 0
    assert p["pytorch_over_ours"] == pytest.approx(p["pytorch"]["wall_s"] / p["ours"]["wall_s"])
    assert "quiet" in p


def test_batch1_quick(tmp_path):
    p = run_quick("batch1", tmp_path)
    sides = [r["side"] for r in p["forward"]]
    assert sides[:2] == ["layer (custom_vjp)", "layer (autodiff)"]
    assert all(positive(r["us_per_step"]) for r in p["forward"])
    assert [r["side"] for r in p["greedy"]] == ["plain params in the loop", "step_params"]
    assert p["greedy_same_tokens"] is True and positive(p["sample_chars_per_s"])


def test_infer_step_quick(tmp_path):
    p = run_quick("infer_step", tmp_path)
    assert [r["cell"] for r in p["rows"]] == ["lstm", "gru"]
    for r in p["rows"]:
        assert positive(r["infer_ms"]) and positive(r["forward_ms"]) and positive(r["torch_ms"])
        assert r["forward_over_infer"] == pytest.approx(r["forward_ms"] / r["infer_ms"])
        assert r["max_abs_diff"] <= 1e-5


def test_lm_budget_quick(tmp_path):
    p = run_quick("lm_budget", tmp_path)
    assert p["machine"]["allocator"] in ("hugepages", "glibc")
    for model in ("lstm", "mingru"):
        chosen, r = p["chosen"][model], p["results"][model]
        best = min(p["candidates"][model], key=lambda c: c["val_bpc"])
        assert (chosen["hidden"], chosen["layers"]) == (best["hidden"], best["layers"])
        assert [s["seed"] for s in r["per_seed"]] == [0, 1]
        test = [s["test_bpc"] for s in r["per_seed"]]
        assert r["test_bpc_mean"] == pytest.approx(sum(test) / 2) and all(t > 0 for t in test)
        assert all(e >= 1 for e in r["epochs"])
    diff = p["results"]["mingru"]["test_bpc_mean"] - p["results"]["lstm"]["test_bpc_mean"]
    assert p["verdict"] == {"mingru_no_worse": diff <= 0, "difference_bpc": pytest.approx(diff)}


def test_startup_quick(tmp_path):
    p = run_quick("startup", tmp_path)
    stages = [r["stage"] for r in p["results"]]
    assert stages == ["python", "import numpy", "import ml_dtypes", "import jax",
                      "jax first op", "predict --help", "predict",
                      "predict, no such checkpoint", "train, no such --data"]  # fmt: skip
    for r in p["results"]:
        assert 0 < r["min_s"] <= r["median_s"] <= r["max_s"], r
    wall = {r["stage"]: r["median_s"] for r in p["results"]}
    assert wall["python"] < wall["predict"]  # a predict call starts an interpreter and more
    assert 0 < p["ml_dtypes_import_s"] < wall["import jax"] + 1
    assert p["versions"]["ml_dtypes"] and p["versions"]["jax"]
    assert p["untimed"]["train_s"] > 0 and p["untimed"]["first_predict_s"] > 0
