"""Shared test setup: float64 available (tests that compare numbers use it), shared data.

Under CI (the environment variable ``CI`` set, and not to ``0``/``false``/``no``) a skipped
test fails: a skip proves nothing, so a missing optional dependency (torch, keras,
matplotlib) must fail the run there, not pass it quietly. ``xfail`` stays allowed.
"""

import atexit
import gc
import os
import shutil
import tempfile

# One compilation cache for the whole session, shared with the pytest-xdist workers and the
# CLI subprocesses the tests start: a program compiled once (same model, shapes, flags) is
# not compiled again. The controller makes it and the workers inherit it: JAX's cache key
# holds the cache's path (XLA's autotune directory inside it), so each worker's own
# directory would share no entry with the other's.
if "JAXRNN_TEST_CACHE_DIR" not in os.environ:
    os.environ["JAXRNN_TEST_CACHE_DIR"] = tempfile.mkdtemp(prefix="jaxrnn-test-xla-cache-")
    atexit.register(shutil.rmtree, os.environ["JAXRNN_TEST_CACHE_DIR"], ignore_errors=True)
os.environ["JAXRNN_CACHE_DIR"] = os.environ["JAXRNN_TEST_CACHE_DIR"]
# The tests are compile-bound on tiny shapes: XLA's backend at level 0 without LLVM's
# expensive passes compiles ~2x faster (the flags test_benchmarks gives the scripts); the
# programs compute the same functions. Inherited by the CLI subprocesses the tests start.
_FAST_XLA = ("--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true "
             "--xla_cpu_use_fusion_emitters=false")
if _FAST_XLA not in os.environ.get("XLA_FLAGS", ""):  # once: the workers inherit it
    os.environ["XLA_FLAGS"] = f"{_FAST_XLA} {os.environ.get('XLA_FLAGS', '')}".strip()

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from jaxrnn.util import cache as _cache  # noqa: E402

jax.config.update("jax_enable_x64", True)
_cache.enable()


def _share_one_mlir_context() -> None:
    """Lower every program of this process in one MLIR context, not a new one each.

    JAX (0.10) makes a fresh ``ir.Context`` for each program it lowers (~9 ms here: it loads
    every dialect), and each cached lowering keeps its context alive, with all the types,
    attributes and traceback locations uniqued in it. Over a test file's hundreds of small
    programs that was most of a worker's memory and a good part of its CPU:
    test_blocks + test_parallel_cells in one process, 135 s user CPU and 3.5 GB peak RSS ->
    97 s and 1.0 GB (measured 2026-12-07). The programs, and so the numbers, are the same:
    only where their IR lives changes. Tests only; the library leaves JAX alone. A JAX
    without this private function keeps its own behaviour (``test_conftest`` then fails,
    so it is noticed)."""
    from jax._src.interpreters import mlir

    make = getattr(mlir, "make_ir_context", None)
    if make is None:
        return
    shared: list = []

    def one_context():
        if not shared:
            shared.append(make())
        return shared[0]

    mlir.make_ir_context = one_context


_share_one_mlir_context()


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    return longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)


def _fail_skip(report) -> None:
    """Turn a skip report into a failure (kept: an xfail, which pytest reports as skipped)."""
    if _ci() and report.skipped and not hasattr(report, "wasxfail"):
        reason = _skip_reason(report).removeprefix("Skipped: ")
        report.outcome = "failed"
        report.longrepr = f"skipped under CI (CI={os.environ['CI']!r}), which fails: {reason}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    _fail_skip(report)  # skip marks, skipif, pytest.skip() and importorskip in a test
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    report = yield
    _fail_skip(report)  # a whole module skipped at import (module-level importorskip)
    return report


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    """After collection (JAX, torch, Keras and the test modules imported: objects that live as
    long as the process), keep them out of the garbage collector's passes and run the passes
    less often. Its full passes over those objects took 5.6 s of 94 s of CPU in three test
    files (4.6 s of it full passes), 34 s of 666 s in a worker over the whole suite; with
    this, 2.3 s of 92 s (measured 2026-12-07 with gc.callbacks; peak memory of two files the
    same, 1.94 GB, with the higher threshold)."""
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


@pytest.fixture(scope="session")
def sentiment():
    from jaxrnn.data import load_sentiment

    return load_sentiment()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
