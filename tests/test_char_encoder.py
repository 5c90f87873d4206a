"""The character word encoder: NumPy's hand-written backward == jax.grad (float64), and
centred finite differences on the NumPy code."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrnn.nn.chars import CharEncoder
from jaxrnn.nn.sequence import gru, lstm
from jaxrnn.scratch.chars import char_encoder_backward, char_encoder_forward

N, L, C, DC, H = 5, 6, 9, 3, 4


@pytest.fixture(scope="module")
def case():
    enc = CharEncoder(lstm(H, bidirectional=True), C, DC)
    rng = np.random.default_rng(0)
    params = jax.tree.map(lambda a: np.asarray(rng.normal(0, 0.5, a.shape)),
                          enc.init(jax.random.key(0), jnp.float64))  # fmt: skip
    lengths = np.array([1, 6, 3, 2, 5])
    chars = rng.integers(1, C, (N, L))
    chars[np.arange(L)[None, :] >= lengths[:, None]] = 0  # padding
    r = rng.normal(size=(N, 2 * H))  # loss = sum(r * feats)

    @jax.jit
    def loss_and_grad(p):
        return jax.value_and_grad(lambda q: jnp.sum(r * enc.apply(q, chars, lengths)))(p)

    return enc, params, chars, lengths, r, loss_and_grad


def test_forward_and_backward_match_jax(case):
    enc, params, chars, lengths, r, loss_and_grad = case
    feats, cache = char_encoder_forward(params, chars, lengths, "lstm")
    np.testing.assert_allclose(feats, enc.apply(params, chars, lengths), rtol=1e-10, atol=1e-12)
    loss, g_jax = loss_and_grad(params)
    assert np.sum(r * feats) == pytest.approx(float(loss), rel=1e-12)
    g_np = char_encoder_backward(params, cache, r)
    for a, b in zip(jax.tree.leaves(g_np), jax.tree.leaves(g_jax), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert np.abs(g_np["embed"][0]).max() == 0  # padding never reaches a state


def test_backward_matches_finite_differences(case):
    _, params, chars, lengths, r, _ = case
    _, cache = char_encoder_forward(params, chars, lengths, "lstm")
    grads = char_encoder_backward(params, cache, r)
    leaves, tree = jax.tree.flatten(params)
    g_leaves = jax.tree.leaves(grads)
    rng = np.random.default_rng(1)
    eps = 1e-6
    for i, (a, g) in enumerate(zip(leaves, g_leaves, strict=True)):
        for _ in range(3):
            j = tuple(rng.integers(0, s) for s in a.shape)
            plus = [x.copy() for x in leaves]
            minus = [x.copy() for x in leaves]
            plus[i][j] += eps
            minus[i][j] -= eps
            fp = np.sum(r * char_encoder_forward(jax.tree.unflatten(tree, plus), chars, lengths)[0])
            fm = np.sum(r * char_encoder_forward(jax.tree.unflatten(tree, minus), chars,
                                                 lengths)[0])  # fmt: skip
            assert (fp - fm) / (2 * eps) == pytest.approx(g[j], rel=1e-5, abs=1e-8)


def test_stacked_bidirectional_gru_matches_jax():
    """Two layers, GRU: the encoding reads the last layer's final states (not the first's),
    and the gradient enters there only."""
    enc = CharEncoder(gru(H, num_layers=2, bidirectional=True), C, DC)
    rng = np.random.default_rng(2)
    params = jax.tree.map(lambda a: np.asarray(rng.normal(0, 0.5, a.shape)),
                          enc.init(jax.random.key(1), jnp.float64))  # fmt: skip
    lengths = np.array([2, 6, 1])
    chars = rng.integers(1, C, (3, L))
    chars[np.arange(L)[None, :] >= lengths[:, None]] = 0
    r = rng.normal(size=(3, 2 * H))
    feats, cache = char_encoder_forward(params, chars, lengths, "gru")
    np.testing.assert_allclose(feats, enc.apply(params, chars, lengths), rtol=1e-10, atol=1e-12)
    g_jax = jax.grad(lambda q: jnp.sum(r * enc.apply(q, chars, lengths)))(params)
    g_np = char_encoder_backward(params, cache, r)
    for a, b in zip(jax.tree.leaves(g_np), jax.tree.leaves(g_jax), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
