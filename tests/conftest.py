"""Shared test setup: float64 available (tests that compare numbers use it), shared data."""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_enable_x64", True)


@pytest.fixture(scope="session")
def sentiment():
    from jaxrnn.data import load_sentiment

    return load_sentiment()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
