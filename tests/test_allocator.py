"""The C allocator's policy (``jaxrnn.util.allocator``, re-exported by ``jaxrnn.runs.memory``):
when the command-line tools run again under glibc's huge-page tunable (first thing, before
they import NumPy, JAX or their own modules), and that it does what it is for: a compiled
program's fresh buffers fault in far fewer pages (counted by the kernel, not timed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from jaxrnn.runs import memory
from jaxrnn.util import allocator

TUNABLE = "glibc.malloc.hugetlb=1"


def test_huge_pages_env_adds_the_tunable_once_and_only_where_it_can_work(tmp_path):
    env = memory.huge_pages_env({"PATH": "/bin"}, thp="madvise")
    assert env == {"PATH": "/bin", "GLIBC_TUNABLES": TUNABLE}
    assert memory.huge_pages_env(env, thp="madvise") is None  # already there: no second run
    kept = memory.huge_pages_env({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}, thp="always")
    assert kept["GLIBC_TUNABLES"] == f"glibc.malloc.arena_max=2:{TUNABLE}"
    for thp in ("never", None):  # huge pages off, or no such kernel setting (not Linux)
        assert memory.huge_pages_env({}, thp=thp) is None
    assert memory.huge_pages_env({"JAXRNN_ALLOCATOR": "glibc"}, thp="always") is None
    assert memory.huge_pages_env({"JAXRNN_ALLOCATOR": ""}, thp="always") is not None
    with pytest.raises(ValueError, match="JAXRNN_ALLOCATOR must be one of"):
        memory.huge_pages_env({"JAXRNN_ALLOCATOR": "jemalloc"}, thp="always")
    setting = tmp_path / "enabled"
    setting.write_text("always [madvise] never\n")
    assert memory.thp_mode(str(setting)) == "madvise"
    assert memory.thp_mode(str(tmp_path / "none")) is None


def test_memory_keeps_the_names_it_had():
    for name in ("ALLOCATOR_ENV", "ALLOCATOR_POLICIES", "HUGE_PAGES_TUNABLE", "allocator_policy",
                 "huge_pages_env", "thp_mode", "use_huge_pages"):  # fmt: skip
        assert getattr(memory, name) is getattr(allocator, name), name


def test_use_huge_pages_runs_the_same_command_again_under_the_tunable(monkeypatch):
    calls = []
    monkeypatch.setattr(allocator, "thp_mode", lambda: "madvise")
    monkeypatch.setattr(os, "execve", lambda *a: calls.append(a))
    monkeypatch.setattr(sys, "orig_argv", ["python", "-m", "jaxrnn.train", "--epochs", "1"])
    monkeypatch.delenv("JAXRNN_ALLOCATOR", raising=False)
    monkeypatch.setenv("GLIBC_TUNABLES", "")
    assert memory.allocator_policy() == "glibc"
    memory.use_huge_pages()
    ((exe, argv, env),) = calls
    assert exe == sys.executable and argv == ["python", "-m", "jaxrnn.train", "--epochs", "1"]
    assert env["GLIBC_TUNABLES"] == TUNABLE
    monkeypatch.setenv("GLIBC_TUNABLES", TUNABLE)
    memory.use_huge_pages()  # under the tunable already: nothing
    assert len(calls) == 1 and memory.allocator_policy() == "hugepages"
    monkeypatch.setattr(allocator, "thp_mode", lambda: "never")
    assert memory.allocator_policy() == "glibc"


# ``python -m NAME`` for each command, as runpy runs it, up to the point where the process
# would run again under the tunable: prints what it had imported by then.
_BEFORE_RERUN = """
import os, runpy, sys
def execve(exe, argv, env):
    heavy = sorted(m for m in ("numpy", "jax", "jaxrnn.cli.train", "jaxrnn.cli.predict",
                               "jaxrnn.cli._common") if m in sys.modules)
    print("RERUN", env["GLIBC_TUNABLES"], heavy, flush=True)
    os._exit(0)
os.execve = execve
from jaxrnn.util import allocator
allocator.thp_mode = lambda path=None: "madvise"
sys.argv = [sys.argv[1], "--help"]
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
print("NO RERUN")
"""


@pytest.mark.parametrize("name,imported", [
    ("jaxrnn.train", "[]"), ("jaxrnn.predict", "[]"), ("jaxrnn.study", "[]"),
    # runpy imports the package first, and jaxrnn.data imports NumPy: not JAX, not the command
    ("jaxrnn.data.synthetic", "['numpy']"),
])  # fmt: skip
def test_a_command_runs_again_before_it_imports_anything_heavy(name, imported):
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "JAXRNN_ALLOCATOR")}
    proc = subprocess.run([sys.executable, "-c", _BEFORE_RERUN, name], capture_output=True,
                          text=True, env=env, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == f"RERUN {TUNABLE} {imported}", proc.stdout


# Calls a compiled program whose output buffer is 72 MB (above glibc's largest mmap
# threshold, 32 MB: glibc maps it afresh on every call) and counts the minor page faults
# of 5 calls after 3 warm-up calls. Prints the policy and the faults per call.
_FAULTS = """
import resource
from jaxrnn.runs.memory import allocator_policy
import jax, jax.numpy as jnp
f = jax.jit(lambda x: jnp.tanh(x) * 2.0 + x)
x = jnp.ones((12288, 1536), jnp.float32)
for _ in range(3):
    f(x).block_until_ready()
r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    f(x).block_until_ready()
print(allocator_policy(), (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0) / 5)
"""


@pytest.mark.skipif(memory.thp_mode() in (None, "never"), reason="no transparent huge pages")
def test_huge_pages_cut_the_page_faults_of_repeated_calls():
    out = {}
    for tunables in (TUNABLE, ""):
        env = {**os.environ, "GLIBC_TUNABLES": tunables}
        proc = subprocess.run([sys.executable, "-c", _FAULTS], capture_output=True, text=True,
                              env=env, timeout=120)  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        name, faults = proc.stdout.split()
        out[name] = float(faults)
    # glibc maps the 72 MB buffer afresh in 4 KB pages: some 18,400 faults a call; in
    # 2 MB pages some 550 (measured)
    assert out["glibc"] > 10000, out
    assert out["hugepages"] < out["glibc"] / 10, out


def test_the_command_line_runs_under_the_tunable_and_says_so(tmp_path):
    out = tmp_path / "run.json"
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "JAXRNN_ALLOCATOR")}
    proc = subprocess.run([sys.executable, "-m", "jaxrnn.train", "--model", "gru", "--hidden",
                           "4", "--epochs", "1", "--quiet", "--json", str(out)],
                          capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    on = memory.thp_mode() not in (None, "never")
    assert json.loads(out.read_text())["allocator"] == ("hugepages" if on else "glibc")
