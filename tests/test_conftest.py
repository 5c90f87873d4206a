"""tests/conftest.py under CI: a skipped test fails (a skip proves nothing); xfail stays allowed.

Runs pytest in a subprocess on small test files, with a copy of tests/conftest.py.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = """
import pytest

def test_ok():
    pass

@pytest.mark.skip(reason="marked")
def test_marked():
    pass

@pytest.mark.skipif(True, reason="condition")
def test_skipif():
    pass

def test_skip_call():
    pytest.skip("at run time")

def test_importorskip():
    pytest.importorskip("jaxrnn_no_such_module")

@pytest.mark.xfail(reason="known", strict=True)
def test_xfail():
    assert False

def test_xfail_call():
    pytest.xfail("imperative")
"""

MODULE_SKIP = """
import pytest

pytest.importorskip("jaxrnn_no_such_module")

def test_never_collected():
    pass
"""

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    d = tmp_path_factory.mktemp("ci_skips")
    shutil.copy(Path(__file__).with_name("conftest.py"), d / "conftest.py")
    (d / "test_tests.py").write_text(TESTS)
    (d / "test_module_skip.py").write_text(MODULE_SKIP)
    return d


def run(project, ci, *files):
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", *files],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    return proc.returncode, proc.stdout


@pytest.mark.parametrize("ci", [None, "false"])
def test_skips_are_skips_outside_ci(project, ci):
    rc, out = run(project, ci, "test_tests.py", "test_module_skip.py")
    assert rc == 0, out
    assert out.strip().splitlines()[-1].startswith("1 passed, 5 skipped, 2 xfailed"), out


def test_skips_fail_under_ci(project):
    rc, out = run(project, "true", "test_tests.py")
    assert rc == 1, out
    # Skip marks are turned into failures at setup (reported as errors), run-time skips
    # into test failures; the xfails stay xfails.
    assert out.strip().splitlines()[-1].startswith("2 failed, 1 passed, 2 xfailed, 2 errors"), out
    for name in ("test_marked", "test_skipif"):
        assert f"ERROR test_tests.py::{name} - skipped under CI" in out
    for name in ("test_skip_call", "test_importorskip"):
        assert f"FAILED test_tests.py::{name} - skipped under CI" in out
    assert "XFAIL test_tests.py::test_xfail " in out
    assert "XFAIL test_tests.py::test_xfail_call" in out


def test_module_skipped_at_import_fails_under_ci(project):
    rc, out = run(project, "1", "test_module_skip.py")
    assert rc == pytest.ExitCode.INTERRUPTED, out  # a collection error stops the run
    assert "ERROR test_module_skip.py - skipped under CI" in out


def test_programs_share_one_mlir_context():
    """conftest lowers every program in one MLIR context (its memory and CPU saving); the
    programs compute what they did (a JAX that drops the private hook fails here)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    f, g = jax.jit(lambda x: jnp.sin(x) * 2), jax.jit(lambda x: jnp.cumsum(x) - 1)
    x = np.linspace(0.0, 1.0, 7)
    lf, lg = f.lower(x), g.lower(x)
    assert lf.compiler_ir().context is lg.compiler_ir().context
    np.testing.assert_allclose(lf.compile()(x), np.sin(x) * 2, rtol=1e-15)
    np.testing.assert_allclose(lg.compile()(x), np.cumsum(x) - 1, rtol=1e-15)
