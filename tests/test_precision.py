"""``--dtype bfloat16`` (issue 26, item 2): mixed precision as PyTorch's autocast.

Parameters, gradients, optimizer state and checkpoints stay float32; the recurrent cells'
matmuls (input, recurrent, weight gradients, the LM readout) take bfloat16 operands with
float32 accumulation. Checked here: the mixed gradients (custom VJP and autodiff) against the
exact float64 gradient, with a tolerance that a gradient missing a term (truncated BPTT)
fails; a bfloat16 run's loss curve against float32's; float32 state; refusals.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrnn.errors import ConfigError
from jaxrnn.nn import sequence
from jaxrnn.runs import TrainConfig, fit
from jaxrnn.runs.checkpoints import load_checkpoint
from jaxrnn.runs.config import resolve_config

B, T, D, H = 3, 6, 5, 8
# Relative error (norm over each gradient array) allowed for bfloat16 matmuls: bfloat16 keeps
# 8 significant bits (relative rounding 2^-9 ~ 0.002 per operand); the errors seen here are
# ~0.005. Truncating BPTT by one step (a dropped term) moves the gradients by far more
# (checked below), so the tolerance tells a right gradient from a wrong one.
GRAD_RTOL = 0.03


def _layer(cell: str, impl: str, precision: str) -> sequence.RecurrentLayer:
    return sequence.RecurrentLayer(cell, H, impl=impl,
                                   _options=sequence._Options(precision=precision))  # fmt: skip


def _rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.fixture(scope="module")
def problem():
    kx, kw, kp = jax.random.split(jax.random.PRNGKey(0), 3)
    x = jax.random.normal(kx, (B, T, D), jnp.float32)
    w = jax.random.normal(kw, (B, H), jnp.float32)  # readout of the last output
    lengths = jnp.array([T, T - 2, T - 1])
    return x, w, lengths, kp


def _grads(layer, params, x, w, lengths, truncate: int = 0):
    """Gradient of ``sum(w * tanh(h_last))`` w.r.t. the layer params (and ``x``); with
    ``truncate = k`` the gradient stops ``k`` steps before the end (truncated BPTT)."""

    def loss(p, x):
        if truncate:
            _, state = layer.apply(p, x[:, :-truncate])
            state = jax.lax.stop_gradient(state)
            ys, _ = layer.apply(p, x[:, -truncate:], initial_state=state)
        else:
            ys, _ = layer.apply(p, x, lengths if not truncate else None)
        return jnp.sum(w * jnp.tanh(ys[:, -1]))

    return jax.grad(loss, argnums=(0, 1))(params, x)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("impl", ["custom_vjp", "autodiff"])
def test_bf16_gradients_near_exact(problem, cell, impl):
    x, w, _, kp = problem
    ref_layer = _layer(cell, impl, "float32")
    params = ref_layer.init(kp, D, jnp.float32)
    f64 = jax.tree.map(lambda a: a.astype(jnp.float64), (params, x, w))
    exact = _grads(ref_layer, *f64[:2], f64[2], None)
    mixed = _grads(_layer(cell, impl, "bfloat16"), params, x, w, None)
    trunc = _grads(ref_layer, *f64[:2], f64[2], None, truncate=1)
    # float32 parameters get float32 gradients (the cast's VJP casts them back)
    assert {a.dtype for a in jax.tree.leaves(mixed)} == {jnp.dtype(jnp.float32)}
    errs = [_rel(m, e) for m, e in zip(jax.tree.leaves(mixed), jax.tree.leaves(exact),
                                       strict=True)]  # fmt: skip
    assert max(errs) < GRAD_RTOL, errs
    assert min(errs) > 1e-5, errs  # bfloat16 did run: float32 would be ~1e-7
    # the dropped term: w_ih, w_hh and x's gradients miss the earlier steps' contributions
    p_exact, p_trunc = exact[0][0][0], trunc[0][0][0]
    for name in ("w_ih", "w_hh"):
        assert _rel(getattr(p_trunc, name), getattr(p_exact, name)) > 3 * GRAD_RTOL, name


def test_bf16_masked_custom_vjp_matches_autodiff(problem):
    """With lengths (masking), the hand-written BPTT in bfloat16 matches autodiff's."""
    x, w, lengths, kp = problem
    params = _layer("lstm", "autodiff", "float32").init(kp, D, jnp.float32)
    a = _grads(_layer("lstm", "custom_vjp", "bfloat16"), params, x, w, lengths)
    b = _grads(_layer("lstm", "autodiff", "bfloat16"), params, x, w, lengths)
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert _rel(u, v) < GRAD_RTOL


def test_bf16_readout_gradient(problem):
    """``RecurrentLayer.dense`` in bfloat16 has its own VJP (``_blocks.mixed_dense``, written
    for YNNPACK's kernels): its gradients are the exact float64 ones up to bfloat16 rounding,
    in the primals' dtypes, for a ``[B, T, H]`` input as a language model's readout takes it."""
    kx, kw, kg = jax.random.split(problem[3], 3)
    x = jax.random.normal(kx, (B, T, H), jnp.float32)
    w = jax.random.normal(kw, (D, H), jnp.float32) * 0.5
    g = jax.random.normal(kg, (B, T, D), jnp.float64)
    layer = _layer("lstm", "custom_vjp", "bfloat16")

    def loss(lay, x, w):
        return jnp.sum(g * lay.dense(x, w, jnp.zeros(D, x.dtype)))

    mixed = jax.grad(lambda x, w: loss(layer, x, w), argnums=(0, 1))(x, w)
    exact = jax.grad(lambda x, w: loss(_layer("lstm", "custom_vjp", "float32"), x, w),
                     argnums=(0, 1))(x.astype(jnp.float64), w.astype(jnp.float64))  # fmt: skip
    assert [a.dtype for a in mixed] == [jnp.float32, jnp.float32]
    errs = [_rel(m, e) for m, e in zip(mixed, exact, strict=True)]
    assert max(errs) < GRAD_RTOL and min(errs) > 1e-5, errs  # bfloat16 ran, and right
    # the forward: bfloat16 operands, float32 accumulation
    y = layer.dense(x, w, jnp.zeros(D))
    ref = np.asarray(x.astype(jnp.bfloat16), np.float64) @ np.asarray(w.astype(jnp.bfloat16),
                                                                      np.float64).T
    np.testing.assert_allclose(np.asarray(y), ref, rtol=1e-5, atol=1e-5)


def test_layer_refuses_unknown_precision():
    with pytest.raises(ValueError, match="precision"):
        _layer("lstm", "custom_vjp", "float16")


@pytest.fixture(scope="module")
def lm_runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("precision")
    txt = d / "t.txt"
    txt.write_text("the cat sat on the mat. the hat is on the cat. a dog ran.\n" * 20)
    base = TrainConfig(task="lm", data=str(txt), model="lstm", hidden=32, embed_dim=8,
                       seq_len=16, batch_size=4, epochs=4, optimizer="adam", lr=0.01)  # fmt: skip
    ck = str(d / "bf16.ckpt")
    return (fit(base), fit(dataclasses.replace(base, dtype="bfloat16"), save=ck), ck)


def test_bf16_loss_curve_follows_float32(lm_runs):
    f32, bf16, _ = lm_runs
    a = np.array([e["train_loss"] for e in f32.histories[0]])
    b = np.array([e["train_loss"] for e in bf16.histories[0]])
    assert a[-1] < a[0] - 0.3  # it learned
    # within 2% of float32's loss at every epoch (seen: < 0.5%)
    np.testing.assert_allclose(b, a, rtol=0.02)
    assert not np.array_equal(a, b)  # and it did compute in bfloat16


def test_bf16_state_and_checkpoint_float32(lm_runs):
    _, bf16, ck = lm_runs
    assert {a.dtype for a in jax.tree.leaves(bf16.params)} == {np.dtype(np.float32)}
    restored = load_checkpoint(ck)  # its arrays (params, optimizer state) checked float32
    floats = [a for a in jax.tree.leaves(restored.state) if jnp.issubdtype(a.dtype, jnp.floating)]
    assert floats and {a.dtype for a in floats} == {jnp.dtype(jnp.float32)}
    assert restored.config.dtype == "bfloat16"
    assert restored.model.layer._options.precision == "bfloat16"


@pytest.mark.parametrize("bad", [dict(backend="numpy", model="lstm"), dict(model="rnn"),
                                 dict(model="mingru")])  # fmt: skip
def test_bf16_refused(bad):
    with pytest.raises(ConfigError, match="bfloat16") as e:
        resolve_config(TrainConfig(dtype="bfloat16", **bad))
    assert "\n" not in str(e.value)
    # it names what was given (once, for --model lru, it said "use --backend jax" only)
    which = "--backend numpy" if "backend" in bad else f"--model {bad['model']}"
    assert f"not {which}:" in str(e.value)
