"""jax.grad of the JAX RNN == hand-written BPTT (NumPy) == centred finite differences, float64.

The reference is ``StudyRNN(impl="autodiff")``: ``jax.grad`` of the plain masked ``lax.scan``.
The default ``StudyRNN`` differentiates with ``jaxrnn.nn.bptt``'s hand-written custom VJP, a
second hand-written backward pass, so it is checked against that reference, not used as one.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxrnn import scratch
from jaxrnn.nn.models import StudyRNN

V, C, T = 7, 3, 9  # vocabulary, classes, padded length


def random_params(rng, hidden, scale=0.5):
    shapes = {
        "w_xh": (hidden, V),
        "w_hh": (hidden, hidden),
        "b_h": (hidden,),
        "w_hy": (C, hidden),
        "b_y": (C,),
    }
    return {k: rng.normal(0, scale, s) for k, s in shapes.items()}


def random_sentence(rng, max_len=T):
    """Padded ids [T] (ids 1..V; padding filled with junk ids: masking must ignore it)."""
    length = int(rng.integers(0, max_len + 1))
    ids = rng.integers(1, V + 1, size=T).astype(np.int32)
    return ids, length, int(rng.integers(0, C))


def ref_model(hidden):
    """The reference: jax.grad of the plain scan (no custom VJP)."""
    return StudyRNN(V, hidden, C, impl="autodiff")


def make_loss(model):
    def loss(params, ids, lengths, labels):
        logits = model.apply(params, ids, lengths)
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))

    return jax.jit(jax.value_and_grad(loss))


def test_reference_is_plain_autodiff_and_default_is_the_custom_vjp():
    """The reference path really is jax.grad of a scan: no custom VJP in its program."""
    ids, lengths = np.ones((2, T), np.int32), np.array([T, 3])

    def program(model):
        params = model.init(jax.random.key(0), jnp.float64)
        return str(jax.make_jaxpr(model.apply)(params, ids, lengths))

    assert "custom_vjp" not in program(ref_model(4))
    assert "custom_vjp" in program(StudyRNN(V, 4, C))  # training's fast path is unchanged
    assert StudyRNN(V).impl == "custom_vjp" == StudyRNN(V, impl="bptt").impl
    with pytest.raises(ValueError, match="impl"):
        StudyRNN(V, impl="numpy")


@pytest.mark.parametrize("hidden", [1, 4, 13])
def test_jax_grad_equals_handwritten_bptt(hidden, rng):
    grad = make_loss(ref_model(hidden))
    for _ in range(6):
        params = random_params(rng, hidden)
        ids, length, label = random_sentence(rng)
        lj, gj = grad(params, ids[None], np.array([length]), np.array([label]))
        ls, gs = scratch.loss_and_grads(params, ids[:length] - 1, label)
        assert gj["w_hh"].dtype == jnp.float64
        np.testing.assert_allclose(lj, ls, rtol=1e-12)
        for k in params:
            np.testing.assert_allclose(gj[k], gs[k], rtol=1e-10, atol=1e-13, err_msg=k)


@pytest.mark.parametrize("hidden", [1, 6])
def test_custom_vjp_equals_jax_grad(hidden, rng):
    """The default model's hand-written VJP (jaxrnn.nn.bptt) against jax.grad of the scan."""
    batch = 5
    fast, ref = make_loss(StudyRNN(V, hidden, C)), make_loss(ref_model(hidden))
    for _ in range(3):
        params = random_params(rng, hidden)
        sents = [random_sentence(rng) for _ in range(batch)]
        args = (
            np.stack([s[0] for s in sents]),
            np.array([s[1] for s in sents]),
            np.array([s[2] for s in sents]),
        )
        (lf, gf), (lr, gr) = fast(params, *args), ref(params, *args)
        np.testing.assert_allclose(lf, lr, rtol=1e-12)
        for k in params:
            assert gf[k].dtype == gr[k].dtype == jnp.float64
            np.testing.assert_allclose(gf[k], gr[k], rtol=1e-10, atol=1e-13, err_msg=k)


def test_batched_padded_grad_is_mean_of_per_sentence_grads(rng):
    hidden, batch = 6, 5
    grad = make_loss(ref_model(hidden))
    params = random_params(rng, hidden)
    sents = [random_sentence(rng) for _ in range(batch)]
    ids = np.stack([s[0] for s in sents])
    lengths = np.array([s[1] for s in sents])
    labels = np.array([s[2] for s in sents])
    _, gj = grad(params, ids, lengths, labels)
    per = [scratch.loss_and_grads(params, i[:n] - 1, y)[1] for i, n, y in sents]
    for k in params:
        np.testing.assert_allclose(gj[k], np.mean([g[k] for g in per], 0), rtol=1e-10, atol=1e-13)


def test_jax_grad_matches_finite_differences(rng):
    hidden = 4
    grad = make_loss(ref_model(hidden))
    params = random_params(rng, hidden)
    ids, _, label = random_sentence(rng)
    args = (ids[None], np.array([6]), np.array([label]))
    _, g = grad(params, *args)
    eps = 1e-6
    for k in params:
        flat = params[k].reshape(-1)
        for j in rng.choice(flat.size, size=min(flat.size, 6), replace=False):
            old = flat[j]
            flat[j] = old + eps
            up = grad(params, *args)[0]
            flat[j] = old - eps
            down = grad(params, *args)[0]
            flat[j] = old
            num = (up - down) / (2 * eps)
            np.testing.assert_allclose(g[k].reshape(-1)[j], num, rtol=1e-6, atol=1e-9)


def test_study_bptt_error_measured(rng):
    """How far the study's propagation is from jax.grad, on random weights."""
    hidden = 13
    grad = make_loss(ref_model(hidden))
    errs = []
    for _ in range(5):
        params = random_params(rng, hidden)
        ids = rng.integers(1, V + 1, size=T).astype(np.int32)
        _, gj = grad(params, ids[None], np.array([T]), np.array([1]))
        _, gs = scratch.loss_and_grads(params, ids - 1, 1, bptt="study")
        errs.append(np.linalg.norm(gs["w_hh"] - gj["w_hh"]) / np.linalg.norm(gj["w_hh"]))
    # Far from rounding error: the study's gradients are wrong by tens of percent.
    assert min(errs) > 0.1, errs
