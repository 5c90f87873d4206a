"""``--block residual``: a parallel cell inside its paper's residual block as a layer
(``jaxrnn.nn.parallel_cells.BlockForm``, ``RecurrentLayer(block=True)``).

The block's parallel form against its sequential form and its step (values and gradients,
float64, with padding, both directions), against the library's ``block_apply`` (written
apart), against finite differences; and every task trains with it, a language model's
checkpoint resumes and samples."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrnn.errors import ConfigError
from jaxrnn.nn import parallel_cells as pc
from jaxrnn.nn.lm import LanguageModel
from jaxrnn.nn.models import init_params_numpy
from jaxrnn.nn.sequence import RecurrentLayer, _Options
from jaxrnn.runs.config import TrainConfig, resolve_config
from jaxrnn.runs.predictor import load_predictor
from jaxrnn.runs.run import fit
from jaxrnn.weights.cellspec import cell_names, get_spec

jax.config.update("jax_enable_x64", True)

PARALLEL = tuple(c for c in cell_names() if get_spec(c).parallel)
B, T, D, H = 3, 6, 4, 5
LENGTHS = np.array([6, 3, 0])  # full, partial, empty
TOL = dict(rtol=1e-10, atol=1e-10)


def layer(cell, bidirectional, scan="parallel", num_layers=2):
    return RecurrentLayer(cell, H, num_layers, bidirectional, block=True, block_ff=2,
                          _options=_Options(scan=scan))  # fmt: skip


def params_of(lay, d_in=D, seed=0):
    return jax.tree.map(jnp.asarray, lay.init_numpy(np.random.default_rng(seed), d_in))


def inputs(seed=1):
    x = np.random.default_rng(seed).normal(size=(B, T, D))
    x[~(np.arange(T)[None, :] < LENGTHS[:, None])] = 40.0  # junk padding: must not matter
    return jnp.asarray(x)


def assert_trees_close(a, b):
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(u, v, **TOL)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", PARALLEL)
def test_parallel_and_sequential_blocks_agree_values_and_gradients(cell, bidirectional):
    par, seq = layer(cell, bidirectional), layer(cell, bidirectional, "sequential")
    p, x, lengths = params_of(par), inputs(), jnp.asarray(LENGTHS)
    y, s = par.apply(p, x, lengths)
    assert y.shape == (B, T, par.output_size)
    assert_trees_close((y, s), seq.apply(p, x, lengths))
    # past each sequence's end the outputs are zero (the junk padding never leaks)
    assert float(jnp.abs(y[1, 3:]).max()) == 0.0 and float(jnp.abs(y[2]).max()) == 0.0

    def loss(lay):
        return lambda p, x: (jnp.sin(lay.apply(p, x, lengths)[0]) ** 2).sum()

    assert_trees_close(jax.grad(loss(par), (0, 1))(p, x), jax.grad(loss(seq), (0, 1))(p, x))


@pytest.mark.parametrize("cell", PARALLEL)
def test_step_and_block_apply_give_the_layer(cell):
    """Token by token (what sampling runs) == the parallel run; a layer without its input
    projection (width H in) == ``parallel_cells.block_apply`` on the same params."""
    lay = layer(cell, False)
    p, x = params_of(lay), inputs()
    y, s = lay.apply(p, x)
    state, ys = lay.zero_state(B, x.dtype), []
    for t in range(T):
        state, y_t = lay.step(p, state, x[:, t])
        ys.append(y_t)
    np.testing.assert_allclose(jnp.stack(ys, 1), y, **TOL)
    assert_trees_close(state, s)
    assert p[0][0].proj and not p[1][0].proj  # D -> H once, then width H
    y1 = layer(cell, False, num_layers=1).apply((p[0],), x)[0]
    np.testing.assert_allclose(pc.block_apply(cell, p[1][0].block, y1)[0], y, **TOL)


def test_block_gradient_matches_finite_differences():
    lay = layer("mingru", False)
    p, x = params_of(lay), inputs()

    def loss(p):
        return (jnp.tanh(lay.apply(p, x, jnp.asarray(LENGTHS))[0]) ** 2).sum()

    g = jax.grad(loss)(p)
    rng, eps = np.random.default_rng(2), 1e-6
    for _ in range(3):  # directional derivatives along random directions
        v = jax.tree.map(lambda a: jnp.asarray(rng.normal(size=a.shape)), p)
        plus = jax.tree.map(lambda a, b: a + eps * b, p, v)
        minus = jax.tree.map(lambda a, b: a - eps * b, p, v)
        fd = (loss(plus) - loss(minus)) / (2 * eps)
        an = sum(float((a * b).sum()) for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(v),
                                                       strict=True))  # fmt: skip
        np.testing.assert_allclose(an, fd, rtol=1e-6)


def test_a_block_is_more_than_the_bare_cell():
    """The block's parameters: projection, norms, cell, out projection, MLP of 2H."""
    lay = layer("mingru", False, num_layers=1)
    ((blk,),) = params_of(lay)
    assert blk.proj[0].shape == (H, D) and blk.block.w1.shape == (2 * H, H)
    n = sum(a.size for a in jax.tree.leaves(blk))
    assert n == (H * D + H) + 2 * H + 2 * H * (H + 1) + (H * H + H) + 2 * (2 * H * H) + 3 * H


def test_layer_and_config_refuse_what_has_no_block():
    with pytest.raises(ValueError, match="recurrent cell"):
        RecurrentLayer("lstm", H, block=True)
    from jaxrnn.nn import sequence

    for cell in PARALLEL:  # the factories build the same layer
        assert getattr(sequence, cell)(H, 2, True, block=True, block_ff=2) == layer(cell, True)
    for kw, msg in [
        (dict(model="lstm"), "wraps a parallel cell"),
        (dict(model="mingru", backend="numpy", task="lm"), "min-char-rnn's NumPy reference"),
        (dict(model="mingru", block_ff=0), "--block-ff must be at least 1"),
    ]:
        with pytest.raises(ConfigError, match=msg):
            resolve_config(TrainConfig(block=kw.pop("block", "residual"), **kw))


SMALL = dict(hidden=8, epochs=2, dtype="float64", compile_mode="fast", block="residual",
             block_ff=2)  # fmt: skip


def test_classify_with_blocks_learns_and_counts_its_params():
    res = fit(TrainConfig(model="bilru", lr=3e-2, dropout=0.0, **SMALL))
    first, last = res.history[0]["train_loss"], res.history[-1]["train_loss"]
    assert np.isfinite(last) and last < first
    plain = fit(TrainConfig(model="bilru", lr=3e-2, dropout=0.0,
                            **{**SMALL, "block": "none", "epochs": 1}))  # fmt: skip
    assert res.num_params > plain.num_params


def test_lm_with_blocks_learns_resumes_and_samples(tmp_path):
    """A blocked minGRU language model: the loss falls; the checkpoint samples with the
    step (as ``python -m jaxrnn.generate``) and resumes where it stopped."""
    train = tmp_path / "train.txt"
    train.write_text("the cat sat on the mat. the hat is on the cat.\n" * 6)
    path = str(tmp_path / "lm.ckpt")
    cfg = TrainConfig(task="lm", model="mingru", data=str(train), embed_dim=4, batch_size=2,
                      seq_len=16, lr=2e-2, layers=2, **SMALL)  # fmt: skip
    res = fit(cfg, save=path)
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]
    pred = load_predictor(path)
    assert pred.sample("the ", 12, seed=3) == res.predictor().sample("the ", 12, seed=3)
    assert isinstance(pred.model, LanguageModel) and pred.model.layer.block
    more = fit(TrainConfig(**{**cfg.__dict__, "epochs": 3}), resume=path)
    assert len(more.history) == 3 and more.num_params == res.num_params


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("cell", PARALLEL)
def test_numpy_twin_of_the_block_equals_jax(cell, reverse):
    """``jaxrnn.scratch.blocks``' hand-written backward == ``jax.vjp`` of ``BlockForm.run``:
    outputs, final carry and the gradients of params, inputs and the initial carry."""
    from jaxrnn.scratch import blocks as sb
    from jaxrnn.scratch.layers import LRUState as NpLRUState

    lay = layer(cell, False, num_layers=1)
    p_np = lay.init_numpy(np.random.default_rng(3), D)[0][0]
    form, lengths = lay.parallel, LENGTHS
    x = np.asarray(inputs(4))
    rng = np.random.default_rng(5)
    h0 = np.abs(rng.normal(size=(B, H)))
    lru = get_spec(cell).carry == "hx"
    if lru:
        carry_j = pc.LRUState(jnp.zeros((B, H)), jnp.asarray(h0 + 1j * rng.normal(size=(B, H))))
        carry_n = NpLRUState(np.zeros((B, H)), np.asarray(carry_j.x))
    else:
        carry_j, carry_n = jnp.asarray(h0), h0
    y_n, fin_n, cache = sb.block_forward(p_np, x, lengths, reverse, carry_n)

    p_j = jax.tree.map(jnp.asarray, p_np)
    y_j, fin_j = form.run(p_j, jnp.asarray(x), jnp.asarray(lengths), reverse, carry_j)
    np.testing.assert_allclose(y_n, y_j, **TOL)
    assert_trees_close(fin_n, fin_j)
    # a real loss of the outputs and the final carry: sum(dy y) + sum(w_h h) (+ sum(w_re
    # Re(x) + w_im Im(x)) for the LRU's complex state, whose gradient the twin keeps as
    # dL/dRe + i dL/dIm, and JAX's grad as its conjugate)
    dy, w_h, w_re, w_im = (rng.normal(size=s) for s in (y_n.shape, (B, H), (B, H), (B, H)))

    def loss(p, x, c):
        y, fin = form.run(p, x, jnp.asarray(lengths), reverse, c)
        if lru:
            return (
                (dy * y).sum() + (w_h * fin.h).sum() + (w_re * fin.x.real + w_im * fin.x.imag).sum()
            )
        return (dy * y).sum() + (w_h * fin).sum()

    gp_j, dx_j, dc_j = jax.grad(loss, (0, 1, 2))(p_j, jnp.asarray(x), carry_j)
    d_fin = NpLRUState(w_h, w_re + 1j * w_im) if lru else w_h
    gp_n, dx_n, dc_n = sb.block_backward(dy, d_fin, cache)
    assert_trees_close(gp_n, gp_j)
    np.testing.assert_allclose(dx_n, dx_j, **TOL)
    if lru:
        np.testing.assert_allclose(dc_n.x, np.conj(np.asarray(dc_j.x)), **TOL)
    else:
        np.testing.assert_allclose(dc_n, dc_j, **TOL)


def test_a_classifier_reads_the_blocks_outputs_not_the_cells_state():
    """The carry is the cell's state, which the last block's projection and MLP come after:
    a classifier's features are the last layer's outputs at the last valid step (forward)
    and the first (backward), so every block parameter gets a gradient."""
    from jaxrnn.nn.models import Classifier

    model = Classifier(layer("mingru", True), vocab_size=7, embed_dim=D, num_classes=3)
    params = jax.tree.map(jnp.asarray, init_params_numpy(model, 0, np.float64))
    ids = jnp.asarray(np.random.default_rng(6).integers(1, 7, size=(B, T)))
    lengths = jnp.asarray([6, 3, 1])
    feats = model.features(params, ids, lengths)
    outs, _ = model.layer.apply(params["rnn"], params["embed"][ids], lengths)
    np.testing.assert_array_equal(feats[:, :H], outs[jnp.arange(B), lengths - 1, :H])
    np.testing.assert_array_equal(feats[:, H:], outs[:, 0, H:])
    grads = jax.grad(lambda p: (model.apply(p, ids, lengths) ** 2).sum())(params)
    for d in range(2):
        last = grads["rnn"][-1][d].block
        assert float(jnp.abs(last.w2).max()) > 0 and float(jnp.abs(last.w_out).max()) > 0
