"""The NumPy losses at every time step (jaxrnn.scratch.seq) == jax.grad, float64.

Each hand-written loss and gradient is checked against ``jax.grad`` of an
independent JAX loss written here on ``RecurrentLayer(impl="autodiff")`` (plain
autodiff of the masked scan, not the library's custom VJP), then against centred
finite differences of the NumPy forward alone. ``min_char_rnn``'s Adagrad is
checked against ``optax.adagrad`` and its training loop against the documented
schedule. One compiled function per layer structure (module-level caches).
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from test_scratch_layers import finite_difference_check

from jaxrnn import scratch
from jaxrnn.nn.cells import CellParams, LSTMState
from jaxrnn.nn.sequence import RecurrentLayer
from jaxrnn.scratch import seq
from jaxrnn.weights.layout import num_gates

B, T, H, V, E, D, K = 3, 5, 4, 7, 3, 2, 3
RTOL, ATOL = 1e-10, 1e-12
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False}


def random_rnn(rng, cell, num_layers, bidirectional, d_in, b_hh=True, scale=0.5):
    """Layers x directions of CellParams of float64 NumPy arrays."""
    g, nd = num_gates(cell), 2 if bidirectional else 1

    def one(d):
        return CellParams(
            rng.normal(0, scale, (g * H, d)),
            rng.normal(0, scale, (g * H, H)),
            rng.normal(0, scale, g * H),
            rng.normal(0, scale, g * H) if b_hh else None,
        )

    return tuple(
        tuple(one(d_in if layer == 0 else nd * H) for _ in range(nd)) for layer in range(num_layers)
    )


def random_params(rng, cell, num_layers, bidirectional, embed, k, d_in=None, b_hh=True):
    """``{"embed"?, "rnn", "w_out" [k, dirs*H], "b_out" [k]}``."""
    nd = 2 if bidirectional else 1
    if d_in is None:
        d_in = E if embed else V
    params = {
        "rnn": random_rnn(rng, cell, num_layers, bidirectional, d_in, b_hh),
        "w_out": rng.normal(0, 0.5, (k, nd * H)),
        "b_out": rng.normal(0, 0.5, k),
    }
    if embed:
        params["embed"] = rng.normal(0, 0.5, (V, E))
    return params


def random_state(rng, cell, n):
    h = rng.normal(size=(n, B, H))
    return LSTMState(h, rng.normal(size=h.shape)) if cell == "lstm" else h


def assert_close(actual, desired, what):
    a, d = jax.tree.leaves(actual), jax.tree.leaves(desired)
    assert len(a) == len(d), what
    for k, (x, y) in enumerate(zip(a, d, strict=True)):
        assert np.shape(x) == np.shape(y), (what, k)
        np.testing.assert_allclose(x, y, rtol=RTOL, atol=ATOL, err_msg=f"{what} leaf {k}")


def jax_inputs(params, ids):
    if "embed" in params:
        return params["embed"][ids]
    return jax.nn.one_hot(ids, params["rnn"][0][0].w_ih.shape[1], dtype=params["w_out"].dtype)


def jax_last_layer_final_h(layer, final):
    h = final.h if layer.cell == "lstm" else final
    nd = layer.num_directions
    return jnp.concatenate([h[-nd + d] for d in range(nd)], axis=-1)  # [B, dirs * H]


def layer_of(cell, num_layers, bidirectional=False):
    return RecurrentLayer(cell, H, num_layers, bidirectional, impl="autodiff")


# ----------------------------------------------------------------------------- LM


@functools.cache
def jax_lm(layer: RecurrentLayer):
    def loss(params, ids, targets, state):
        out, final = layer.apply(params["rnn"], jax_inputs(params, ids), None, initial_state=state)
        logits = out @ params["w_out"].T + params["b_out"]
        return optax.softmax_cross_entropy_with_integer_labels(logits, targets).mean(), final

    return jax.jit(
        jax.value_and_grad(loss, argnums=(0, 3), has_aux=True), compiler_options=FAST_COMPILE
    )


LM_CASES = [  # (cell, num_layers, embed, b_hh); rnn-1: min-char-rnn's layout (one-hot, no b_hh)
    ("rnn", 1, False, False),
    ("rnn", 2, True, True),
    ("lstm", 1, False, True),
    ("lstm", 2, True, True),
    ("gru", 1, True, True),
    ("gru", 2, False, True),
]


@pytest.mark.parametrize("cell,num_layers,embed,b_hh", LM_CASES)
def test_lm_equals_jax_over_two_carried_chunks(cell, num_layers, embed, b_hh, rng):
    params = random_params(rng, cell, num_layers, False, embed, V, b_hh=b_hh)
    grads_fn = jax_lm(layer_of(cell, num_layers))
    stream = rng.integers(0, V, size=(B, 2 * T + 1))
    state = random_state(rng, cell, num_layers)  # a non-zero state carried in
    for c in range(2):  # chunk 2 starts from chunk 1's final state (truncated BPTT)
        ids, targets = stream[:, c * T : (c + 1) * T], stream[:, c * T + 1 : (c + 1) * T + 1]
        (loss_j, final_j), (grads_j, d_state_j) = grads_fn(params, ids, targets, state)
        res = seq.lm_loss_and_grads(params, ids, targets, state, cell)
        np.testing.assert_allclose(res.loss, loss_j, rtol=RTOL)
        assert jax.tree.structure(res.grads) == jax.tree.structure(params)
        assert res.grads.keys() == params.keys()
        assert_close(res.grads, grads_j, "grads")
        assert_close(res.final_state, final_j, "final state")
        assert_close(res.d_initial_state, d_state_j, "d initial state")
        assert isinstance(res.final_state, scratch.LSTMState) == (cell == "lstm")
        # The NumPy LSTMState is another NamedTuple type than jaxrnn.nn.cells'.
        state = LSTMState(*res.final_state) if cell == "lstm" else res.final_state


def test_lm_sum_reduction_and_zero_state(rng):
    params = random_params(rng, "gru", 1, False, True, V)
    ids, targets = rng.integers(0, V, size=(2, B, T))
    mean = seq.lm_loss_and_grads(params, ids, targets, None, "gru")
    total = seq.lm_loss_and_grads(params, ids, targets, np.zeros((1, B, H)), "gru", reduction="sum")
    np.testing.assert_allclose(total.loss, mean.loss * B * T, rtol=1e-12)
    assert_close(total.grads, jax.tree.map(lambda g: g * B * T, mean.grads), "sum grads")
    with pytest.raises(ValueError, match="direction"):
        bi = random_params(rng, "gru", 1, True, True, V)
        seq.lm_loss_and_grads(bi, ids, targets, None, "gru")


# ----------------------------------------------------------------------------- tagging


@functools.cache
def jax_tag(layer: RecurrentLayer):
    def loss(params, ids, lengths, targets):
        out, _ = layer.apply(params["rnn"], jax_inputs(params, ids), lengths)
        logits = out @ params["w_out"].T + params["b_out"]  # [B, T, K]
        mask = jnp.arange(ids.shape[1])[None, :] < lengths[:, None]
        terms = optax.softmax_cross_entropy_with_integer_labels(logits, jnp.where(mask, targets, 0))
        return jnp.sum(jnp.where(mask, terms, 0.0)) / jnp.maximum(mask.sum(), 1)

    return jax.jit(jax.value_and_grad(loss), compiler_options=FAST_COMPILE)


TAG_CASES = [  # (cell, num_layers, bidirectional, embed)
    ("lstm", 2, True, True),
    ("gru", 1, True, False),
    ("rnn", 1, False, True),
]


@pytest.mark.parametrize("cell,num_layers,bidirectional,embed", TAG_CASES)
def test_tag_equals_jax_with_padding(cell, num_layers, bidirectional, embed, rng):
    params = random_params(rng, cell, num_layers, bidirectional, embed, K)
    grads_fn = jax_tag(layer_of(cell, num_layers, bidirectional))
    for lengths in (np.array([0, T, 1]), np.array([2, 1, T - 1])):
        ids = rng.integers(0, V, size=(B, T))
        targets = rng.integers(0, K, size=(B, T))
        pad = ~(np.arange(T)[None, :] < lengths[:, None])
        targets[pad] = -1  # junk targets at padding: ignored
        loss_j, grads_j = grads_fn(params, ids, lengths, targets)
        loss, grads = seq.tag_loss_and_grads(params, ids, lengths, targets, cell)
        np.testing.assert_allclose(loss, loss_j, rtol=RTOL)
        assert_close(grads, grads_j, "grads")
        # Changing ids past the end changes nothing.
        ids[pad] = rng.integers(0, V, size=pad.sum())
        loss2, grads2 = seq.tag_loss_and_grads(params, ids, lengths, targets, cell)
        np.testing.assert_allclose(loss2, loss, rtol=1e-14)
        assert_close(grads2, grads, "junk ids")


def test_tag_without_valid_tokens_is_zero(rng):
    params = random_params(rng, "rnn", 1, True, True, K)
    ids = rng.integers(0, V, size=(B, T))
    loss, grads = seq.tag_loss_and_grads(
        params, ids, np.zeros(B, int), -np.ones((B, T), int), "rnn"
    )
    assert loss == 0.0 and not any(np.any(g) for g in jax.tree.leaves(grads))


# ----------------------------------------------------------------------------- regression


@functools.cache
def jax_regress(layer: RecurrentLayer, per_step: bool):
    def loss(params, x, lengths, targets):
        out, final = layer.apply(params["rnn"], x, lengths)
        if not per_step:
            pred = jax_last_layer_final_h(layer, final) @ params["w_out"].T + params["b_out"]
            return jnp.mean((pred - targets) ** 2)
        pred = out @ params["w_out"].T + params["b_out"]  # [B, T, H_out]
        mask = (jnp.arange(x.shape[1])[None, :] < lengths[:, None])[..., None]
        se = jnp.where(mask, (pred - targets) ** 2, 0.0)
        return se.sum() / (mask.sum() * targets.shape[-1])

    return jax.jit(jax.value_and_grad(loss), compiler_options=FAST_COMPILE)


REGRESS_CASES = [  # (cell, num_layers, bidirectional, per_step, masked)
    ("gru", 1, False, False, False),
    ("lstm", 2, True, True, True),
    ("rnn", 2, False, False, True),
    ("lstm", 1, False, True, False),
    ("gru", 2, True, False, True),  # the final states of the last layer's two directions
]


@pytest.mark.parametrize("cell,num_layers,bidirectional,per_step,masked", REGRESS_CASES)
def test_regress_equals_jax(cell, num_layers, bidirectional, per_step, masked, rng):
    h_out = 2
    params = random_params(rng, cell, num_layers, bidirectional, False, h_out, d_in=D)
    grads_fn = jax_regress(layer_of(cell, num_layers, bidirectional), per_step)
    lengths = np.array([T, 1, 3]) if masked else np.full(B, T)
    x = rng.normal(size=(B, T, D))
    targets = rng.normal(size=(B, T, h_out) if per_step else (B, h_out))
    loss_j, grads_j = grads_fn(params, x, lengths, targets)
    loss, grads = seq.regress_loss_and_grads(
        params, x, targets, cell, per_step=per_step, lengths=lengths if masked else None
    )
    np.testing.assert_allclose(loss, loss_j, rtol=RTOL)
    assert_close(grads, grads_j, "grads")
    if not per_step and not bidirectional and not masked:
        # The final-state readout of one direction is the output at the last step.
        out, _, _ = scratch.layer_forward(cell, params["rnn"], x)
        pred = out[:, -1] @ params["w_out"].T + params["b_out"]
        np.testing.assert_allclose(loss, np.mean((pred - targets) ** 2), rtol=1e-12)


# ----------------------------------------------------------------------------- finite differences


def _fd_check(loss_fn, params, grads, rng):
    """Centred differences of ``loss_fn()`` on a few entries of every leaf (perturbed in place)."""
    finite_difference_check(rng, loss_fn, jax.tree.leaves(params), jax.tree.leaves(grads),
                            atol=1e-9)  # fmt: skip


def test_losses_match_finite_differences(rng):
    lm = random_params(rng, "lstm", 2, False, True, V)
    ids, targets = rng.integers(0, V, size=(2, B, T))
    state = random_state(rng, "lstm", 2)
    _fd_check(
        lambda: seq.lm_loss_and_grads(lm, ids, targets, state, "lstm").loss,
        lm,
        seq.lm_loss_and_grads(lm, ids, targets, state, "lstm").grads,
        rng,
    )
    tag = random_params(rng, "gru", 2, True, False, K)
    lengths, tags = np.array([0, 1, T]), rng.integers(0, K, size=(B, T))
    _fd_check(
        lambda: seq.tag_loss_and_grads(tag, ids, lengths, tags, "gru")[0],
        tag,
        seq.tag_loss_and_grads(tag, ids, lengths, tags, "gru")[1],
        rng,
    )
    reg = random_params(rng, "rnn", 1, True, False, 2, d_in=D)
    x, y = rng.normal(size=(B, T, D)), rng.normal(size=(B, T, 2))
    _fd_check(
        lambda: seq.regress_loss_and_grads(reg, x, y, "rnn", per_step=True, lengths=lengths)[0],
        reg,
        seq.regress_loss_and_grads(reg, x, y, "rnn", per_step=True, lengths=lengths)[1],
        rng,
    )


# ----------------------------------------------------------------------------- min-char-rnn

TEXT = "the cat sat on the mat. " * 6


@pytest.mark.parametrize("init,eps", [(0.1, 1e-7), (0.0, 1e-8)])  # optax's, min-char-rnn's
def test_adagrad_matches_optax(init, eps, rng):
    """``adagrad_init(p, init)`` + ``adagrad_update(..., eps)`` == ``optax.adagrad``'s."""
    params = seq.min_char_init(V, hidden=H, seed=3)
    opt = optax.adagrad(0.1, initial_accumulator_value=init, eps=eps)
    opt_state = opt.init(params)
    p_ref, p_np, memory = params, params, seq.adagrad_init(params, init)
    for _ in range(3):
        # Some exact zeros: optax's where(memory > 0, ...) guard matters only there.
        grads = jax.tree.map(
            lambda a: rng.normal(size=a.shape) * (rng.random(a.shape) < 0.7), params
        )
        updates, opt_state = opt.update(grads, opt_state, p_ref)
        p_ref = optax.apply_updates(p_ref, updates)
        p_np, memory = seq.adagrad_update(p_np, grads, memory, 0.1, eps=eps)
        assert_close(p_np, p_ref, "params")
    assert p_np["rnn"][0][0].b_hh is None


def test_min_char_rnn_is_the_documented_loop_with_optax_adagrad():
    """min_char_rnn with optax's Adagrad settings == the documented loop driven by optax."""
    hidden, seq_len, lr, steps = 8, 10, 0.1, 8  # len(TEXT) = 144: resets at step 0 and 13
    losses, params = seq.min_char_rnn(
        TEXT, hidden, seq_len, lr, 5.0, steps, seed=1, initial_accumulator_value=0.1, eps=1e-7
    )
    vocab = seq.char_vocab(TEXT)
    ids = seq.encode(TEXT, vocab)
    p = seq.min_char_init(len(vocab), hidden, seed=1)
    opt = optax.adagrad(lr)
    opt_state, h, expected = opt.init(p), None, []
    for start, reset in seq.chunk_schedule(len(ids), seq_len, steps):
        h = None if reset else h
        chunk = ids[start : start + seq_len + 1]
        loss, grads, h, _ = seq.lm_loss_and_grads(
            p, chunk[None, :-1], chunk[None, 1:], h, "rnn", reduction="sum"
        )
        expected.append(loss / seq_len)
        grads = jax.tree.map(lambda g: np.clip(g, -5.0, 5.0), grads)
        updates, opt_state = opt.update(grads, opt_state, p)
        p = jax.tree.map(np.asarray, optax.apply_updates(p, updates))  # NumPy in, NumPy out
    np.testing.assert_allclose(losses, expected, rtol=1e-12)
    assert_close(params, p, "params")


def test_min_char_rnn_defaults_are_min_char_rnns_adagrad():
    """One step, min-char-rnn's settings: memory from 0, eps 1e-8, clipped gradient."""
    hidden, seq_len = 6, 7
    _, params = seq.min_char_rnn(TEXT, hidden, seq_len, lr=0.1, clip=1e-3, steps=1, seed=2)
    vocab = seq.char_vocab(TEXT)
    ids = seq.encode(TEXT, vocab)
    p0 = seq.min_char_init(len(vocab), hidden, seed=2)
    _, grads, _, _ = seq.lm_loss_and_grads(
        p0, ids[None, :seq_len], ids[None, 1 : seq_len + 1], None, "rnn", reduction="sum"
    )
    g = jax.tree.map(lambda a: np.clip(a, -1e-3, 1e-3), grads)
    manual = jax.tree.map(lambda a, b: a - 0.1 * b / np.sqrt(b * b + 1e-8), p0, g)
    assert_close(params, manual, "one step")


def test_min_char_rnn_signature_defaults():
    """min-char-rnn's hidden 100, seq_len 25 and lr 0.1; 1000 steps by default."""
    import inspect

    got = {k: v.default for k, v in inspect.signature(seq.min_char_rnn).parameters.items()}
    assert {k: got[k] for k in ("hidden", "seq_len", "lr", "steps")} == {
        "hidden": 100, "seq_len": 25, "lr": 0.1, "steps": 1000}
    # min-char-rnn's clip to [-5, 5], Adagrad memory from 0 and eps 1e-8; seed 0.
    mcr = {"clip": 5.0, "seed": 0, "initial_accumulator_value": 0.0, "eps": 1e-8}
    assert {k: got[k] for k in mcr} == mcr


def test_chunk_schedule():
    # p + seq_len + 1 >= text_len resets (min-char-rnn's >=): with 25 characters the
    # chunk at 16 (inputs 16..23, targets 17..24) would fit but is skipped.
    assert seq.chunk_schedule(25, 8, 4) == [(0, True), (8, False), (0, True), (8, False)]
    assert seq.chunk_schedule(26, 8, 4) == [(0, True), (8, False), (16, False), (0, True)]
    with pytest.raises(ValueError):
        seq.chunk_schedule(9, 8, 1)
    # The shortest text: seq_len + 2 characters (one chunk plus its last target fits).
    assert seq.chunk_schedule(10, 8, 2) == [(0, True), (0, True)]


def test_min_char_rnn_learns_a_repetitive_text():
    losses, params = seq.min_char_rnn(TEXT, hidden=16, seq_len=8, steps=200, seed=0)
    vocab_size = len(seq.char_vocab(TEXT))
    # Weights ~ 0.01 * N(0, 1): the first chunk's loss is about log(V) nats per char.
    assert abs(losses[0] - math.log(vocab_size)) < 0.05
    assert losses[-20:].mean() < 0.25 * losses[:20].mean()
    assert params["rnn"][0][0].w_ih.shape == (16, vocab_size)
    assert params["w_out"].shape == (vocab_size, 16)


def test_cross_entropy_is_stable_for_huge_logits(rng):
    """Logits in the thousands (exp overflows float64 past ~709): the loss and its
    gradient stay finite and equal the shifted-logsumexp values computed here."""
    params = random_params(rng, "rnn", 1, False, True, V)
    params["b_out"] = np.linspace(-2000.0, 3000.0, V)  # the readout's bias dominates
    ids = rng.integers(0, V, (1, 2))
    targets = np.array([[V - 1, V - 2]])
    loss, grads, _, _ = seq.lm_loss_and_grads(params, ids, targets, None, "rnn")
    logits = seq.layer_forward("rnn", params["rnn"], params["embed"][ids], None)[0]
    logits = logits @ params["w_out"].T + params["b_out"]  # [1, 2, V]
    top = logits.max(-1, keepdims=True)
    logp = logits - top - np.log(np.exp(logits - top).sum(-1, keepdims=True))
    want = -np.mean(np.take_along_axis(logp, targets[..., None], -1))
    assert np.isfinite(loss) and loss == pytest.approx(want, rel=1e-12)
    soft = np.exp(logp)
    soft[0, np.arange(2), targets[0]] -= 1.0
    np.testing.assert_allclose(grads["b_out"], soft.sum((0, 1)) / 2, rtol=1e-12, atol=1e-15)


def test_adagrad_update_rejects_trees_of_other_structures():
    """Params, gradients and memory must have one structure: a layer or a CellParams with
    fewer entries is an error, not silently cut to the shorter tree."""
    params = seq.min_char_init(V, hidden=H, seed=0)
    memory = seq.adagrad_init(params)
    cell = params["rnn"][0][0]
    short_cell = {**params, "rnn": ((tuple(cell)[:3],),)}  # a CellParams of 3 leaves
    with pytest.raises(ValueError):
        seq.adagrad_update(params, short_cell, memory, 0.1)
    two_layers = {**params, "rnn": ((cell,), (cell,))}
    with pytest.raises(ValueError):
        seq.adagrad_update(two_layers, params, memory, 0.1)


def test_tag_padding_targets_may_be_any_junk(rng):
    """Targets past each sentence's end are never read: PyTorch's ignore index (-100) or an
    id past the tag set there gives the loss and gradients of in-range junk."""
    params = random_params(rng, "gru", 1, False, True, K)
    lengths = np.array([2, T, 1])
    ids = rng.integers(0, V, size=(B, T))
    targets = rng.integers(0, K, size=(B, T))
    pad = ~(np.arange(T)[None, :] < lengths[:, None])
    loss, grads = seq.tag_loss_and_grads(params, ids, lengths, targets, "gru")
    for junk in (-100, K + 100):
        bad = targets.copy()
        bad[pad] = junk
        loss2, grads2 = seq.tag_loss_and_grads(params, ids, lengths, bad, "gru")
        assert loss2 == loss
        assert_close(grads2, grads, f"junk {junk}")


def test_regress_one_target_is_its_squared_error(rng):
    """One sequence, one output: the loss is that forecast's squared error (the mean over
    one value), its gradient twice the error through the readout."""
    params = random_params(rng, "rnn", 1, False, False, 1, d_in=D)
    x = rng.normal(size=(1, T, D))
    target = np.array([[0.3]])
    loss, grads = seq.regress_loss_and_grads(params, x, target, "rnn")
    out, _, _ = scratch.layer_forward("rnn", params["rnn"], x)
    pred = out[:, -1] @ params["w_out"].T + params["b_out"]  # [1, 1]
    err = float(pred[0, 0] - 0.3)
    assert loss == pytest.approx(err**2, rel=1e-12)
    assert grads["b_out"][0] == pytest.approx(2 * err, rel=1e-12)


def test_adagrad_memory_starts_at_zero_as_min_char_rnns():
    """``adagrad_init``'s default accumulator is min-char-rnn's ``np.zeros_like``; None
    leaves stay None."""
    params = {"w": np.ones((2, 3)), "b": None}
    mem = seq.adagrad_init(params)
    assert mem["b"] is None
    np.testing.assert_array_equal(mem["w"], np.zeros((2, 3)))
    np.testing.assert_array_equal(seq.adagrad_init(params, 0.1)["w"], np.full((2, 3), 0.1))
