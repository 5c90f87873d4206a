"""``method="scan"``'s two-level (chunked) time-major scan equals the one-step-at-a-time scan.

``jaxrnn.nn.linear_scan._tm_scan`` cuts ``T`` steps into chunks of ``chunk_len(T)``, scans
all chunks at once, carries the state across chunks and adds it back; the tests in
``test_parallel_cells.py`` check the whole ``linear_scan`` against a Python loop at short
lengths, these check the regrouping itself: every length around the chunk boundaries (the
last chunk padded), both directions, real and complex, and the custom VJP built on it,
against ``_plain_tm_scan`` and a NumPy loop (float64).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrnn.nn import linear_scan as ls


def _loop(a: np.ndarray, b: np.ndarray, reverse: bool) -> np.ndarray:
    """``h_t = a_t h_{t-1} + b_t`` from 0 by a NumPy loop over time-major ``[T, B, H]``."""
    hs, h = np.zeros_like(b), np.zeros_like(b[0])
    for t in (range(len(b) - 1, -1, -1) if reverse else range(len(b))):
        h = a[t] * h + b[t]
        hs[t] = h
    return hs


def _coeffs(T: int, complex_: bool, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(0.3, 1.0, (T, 2, 3)), rng.standard_normal((T, 2, 3))
    if complex_:
        a = a * np.exp(1j * rng.uniform(-1, 1, a.shape))
        b = b + 1j * rng.standard_normal(b.shape)
    return a, b


@pytest.fixture(autouse=True)
def _chunked(monkeypatch):
    monkeypatch.setattr(ls, "CHUNK", None)  # the chunked form (the default runs plain)


def test_chunk_len_is_about_sqrt_t():
    assert [ls.chunk_len(t) for t in (1, 2, 4, 5, 15, 16, 17, 64, 1024, 4096)] == [
        1, 2, 2, 3, 4, 4, 5, 8, 32, 64]  # fmt: skip


@pytest.mark.parametrize("complex_", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_chunked_equals_the_loop_at_every_length(complex_, reverse):
    # 9..17 crosses the chunk boundaries of L = 3, 4 and 5 (padded and unpadded last chunks)
    for T in (1, 2, 3, *range(9, 18), 50):
        a, b = _coeffs(T, complex_, T)
        ref = _loop(a, b, reverse)
        got = np.asarray(ls._tm_scan(jnp.asarray(a), jnp.asarray(b), reverse))
        plain = np.asarray(ls._plain_tm_scan(jnp.asarray(a), jnp.asarray(b), reverse))
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12, err_msg=f"T={T}")
        np.testing.assert_allclose(plain, ref, rtol=1e-12, atol=1e-12, err_msg=f"T={T}")


def test_forced_chunk_and_custom_vjp(monkeypatch):
    """A chunk length that does not divide T (``CHUNK = 4`` at T = 13), forward and the
    hand-written backward, against autodiff of the NumPy-equal plain scan."""
    a, b = map(jnp.asarray, _coeffs(13, False, 1))
    g = jnp.asarray(np.random.default_rng(2).standard_normal(b.shape))
    monkeypatch.setattr(ls, "CHUNK", 4)
    assert ls.chunk_len(13) == 4
    got = jax.grad(lambda a, b: jnp.sum(g * ls.scan_tm(a, b)), (0, 1))(a, b)
    ref = jax.grad(lambda a, b: jnp.sum(g * ls._plain_tm_scan(a, b)), (0, 1))(a, b)
    for x, y in zip(got, ref, strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-11, atol=1e-12)
