"""Shared test setup: float64 available (tests that compare numbers use it), shared data."""

import atexit
import os
import shutil
import tempfile

# One compilation cache for the whole session, shared with the CLI subprocesses the
# tests start: a program compiled once (same model, shapes, flags) is not compiled again.
os.environ["JAXRNN_CACHE_DIR"] = tempfile.mkdtemp(prefix="jaxrnn-test-xla-cache-")
atexit.register(shutil.rmtree, os.environ["JAXRNN_CACHE_DIR"], ignore_errors=True)

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from jaxrnn import _cache  # noqa: E402

jax.config.update("jax_enable_x64", True)
_cache.enable()


@pytest.fixture(scope="session")
def sentiment():
    from jaxrnn.data import load_sentiment

    return load_sentiment()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
