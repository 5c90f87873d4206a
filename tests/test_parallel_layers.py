"""The parallel cells (minGRU, minLSTM, LRU) as registered layer cells, through every task.

``RecurrentLayer`` runs them with the cells' parallel ``apply`` (``jaxrnn.nn.parallel_cells``)
per layer and direction; ``scan="sequential"`` runs the same cells as a ``lax.scan`` of their
step; the NumPy twin (``jaxrnn.scratch.layers`` dispatching to ``jaxrnn.scratch
.parallel_cells``) is checked against ``jax.grad``. Float64 throughout (conftest enables x64).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrnn.data.conll import write_conll
from jaxrnn.data.generators.entities import make_tagging
from jaxrnn.data.series import make_periodic, write_series_csv
from jaxrnn.errors import ConfigError
from jaxrnn.nn import parallel_cells as pc
from jaxrnn.nn.cells import get_cell
from jaxrnn.nn.lm import LanguageModel, sample
from jaxrnn.nn.models import Classifier, init_params_numpy
from jaxrnn.nn.sequence import RecurrentLayer, _Options
from jaxrnn.runs.config import MODEL_CELLS, TrainConfig, resolve_config
from jaxrnn.runs.predictor import load_predictor
from jaxrnn.runs.run import fit
from jaxrnn.scratch import layers as sl
from jaxrnn.weights.cellspec import cell_names, get_spec
from jaxrnn.weights.init import keras_params

PARALLEL = tuple(c for c in cell_names() if get_spec(c).parallel)
B, T, D, H = 4, 6, 3, 5
LENGTHS = np.array([6, 3, 1, 0])  # a full, two partial and an empty sequence
TOL = dict(rtol=1e-10, atol=1e-10)


def test_the_three_cells_are_registered_with_a_parallel_form():
    assert PARALLEL == ("mingru", "minlstm", "lru")
    for name in PARALLEL:
        cell = get_cell(name)
        assert cell.parallel is not None and cell.parallel.cell is pc.CELLS[name]
        assert cell.vjp is None and name in sl.NUMPY_CELLS
    assert all(get_cell(c).parallel is None for c in ("rnn", "lstm", "gru"))
    # Every parallel cell has its --model (and a bidirectional one).
    assert {c for c, _ in MODEL_CELLS.values()} >= set(PARALLEL)
    assert {c for c, bi in MODEL_CELLS.values() if bi} >= set(PARALLEL)


def layer(cell, num_layers=2, bidirectional=True, scan="parallel"):
    return RecurrentLayer(cell, H, num_layers, bidirectional, _options=_Options(scan=scan))


def inputs(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(B, T, D))
    x[~(np.arange(T)[None, :] < LENGTHS[:, None])] = 50.0  # junk padding: must not matter
    return rng, x


def state(rng, cell, n):
    """A random initial state: non-negative for minGRU/minLSTM, complex for the LRU."""
    h = np.abs(rng.normal(size=(n, B, H)))
    if get_spec(cell).carry == "hx":
        return pc.LRUState(h, rng.normal(size=h.shape) + 1j * rng.normal(size=h.shape))
    return h


@pytest.mark.parametrize("cell", PARALLEL)
def test_layer_is_the_cells_parallel_apply_per_layer_and_direction(cell):
    """Outputs and final states == a direct call of ``parallel_cells.<cell>.apply`` for each
    layer and direction (backward: ``reverse=True``), outputs zeroed past each end."""
    lay = layer(cell)
    params = lay.init(jax.random.key(1), D, jnp.float64)
    _, x = inputs()
    out, final = lay.apply(params, x, LENGTHS)
    apply = pc.CELLS[cell].apply
    mask = (np.arange(T)[None, :] < LENGTHS[:, None])[..., None]
    h, finals = jnp.asarray(x), []
    for layer_params in params:
        outs = []
        for d, p in enumerate(layer_params):
            ys, h_last = apply(p, h, jnp.asarray(LENGTHS), d == 1)
            outs.append(jnp.where(mask, ys, 0.0))
            finals.append((ys[:, 0] if d else ys[:, -1], h_last))
        h = jnp.concatenate(outs, axis=-1)
    np.testing.assert_allclose(out, h, **TOL)
    assert out.shape == (B, T, 2 * H)
    for k, (y_last, h_last) in enumerate(finals):
        if get_spec(cell).carry == "hx":  # LRUState(output at the last step, complex state)
            np.testing.assert_allclose(final.h[k], y_last, **TOL)
            np.testing.assert_allclose(final.x[k], h_last, **TOL)
        else:
            np.testing.assert_allclose(final[k], h_last, **TOL)


@functools.cache
def _value_and_grad(lay):
    def loss(params, x, s, r):
        out, final = lay.apply(params, x, jnp.asarray(LENGTHS), initial_state=s)
        h = final.h if hasattr(final, "h") else final
        return jnp.sum(out * r) + jnp.sum(jnp.sin(h)), (out, final)

    return jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))


@pytest.mark.parametrize("cell", PARALLEL)
def test_sequential_scan_equals_the_parallel_form(cell):
    """``scan="sequential"`` (``lax.scan`` of the step) == the parallel form: outputs, final
    states and gradients w.r.t. params and inputs, 2 bidirectional layers, lengths, a given
    initial state."""
    rng, x = inputs(2)
    par, seq = layer(cell), layer(cell, scan="sequential")
    params = par.init(jax.random.key(3), D, jnp.float64)
    s, r = state(rng, cell, 4), rng.normal(size=(B, T, 2 * H))
    (_, (out_p, fin_p)), g_p = _value_and_grad(par)(params, x, s, r)
    (_, (out_s, fin_s)), g_s = _value_and_grad(seq)(params, x, s, r)
    for a, b in zip(jax.tree.leaves((out_p, fin_p, g_p)), jax.tree.leaves((out_s, fin_s, g_s)),
                    strict=True):  # fmt: skip
        np.testing.assert_allclose(a, b, **TOL)


@pytest.mark.parametrize("cell", PARALLEL)
def test_numpy_twin_layer_equals_jax_grad(cell):
    """``scratch.layers.layer_forward``/``layer_backward`` (hand-written BPTT) == the JAX layer
    and ``jax.grad``: outputs, final states, gradients w.r.t. params and inputs (and the
    initial state for minGRU/minLSTM)."""
    rng, x = inputs(4)
    lay = layer(cell)
    params = init_params_numpy(Classifier(lay, 7, D, 3), 5, np.float64)["rnn"]
    s, r = state(rng, cell, 4), rng.normal(size=(B, T, 2 * H))
    r_h = rng.normal(size=(4, B, H))

    def loss(params, x, s):
        out, final = lay.apply(params, x, jnp.asarray(LENGTHS), initial_state=s)
        h = final.h if hasattr(final, "h") else final
        return jnp.sum(out * r) + jnp.sum(h * r_h), (out, final)

    lru = get_spec(cell).carry == "hx"
    argnums = (0, 1) if lru else (0, 1, 2)  # the LRU's complex state: values only
    (_, (out_j, fin_j)), grads_j = jax.value_and_grad(loss, argnums, has_aux=True)(params, x, s)
    out, final, cache = sl.layer_forward(cell, params, x, LENGTHS, s)
    np.testing.assert_allclose(out, out_j, **TOL)
    for a, b in zip(jax.tree.leaves(final), jax.tree.leaves(fin_j), strict=True):
        np.testing.assert_allclose(a, b, **TOL)
    d_final = (r_h, None) if lru else r_h
    gp, gx, gs = sl.layer_backward(cell, params, cache, r, d_final)
    assert jax.tree.structure(gp) == jax.tree.structure(params)
    mine = (gp, gx) if lru else (gp, gx, gs)
    for a, b in zip(jax.tree.leaves(mine), jax.tree.leaves(grads_j), strict=True):
        np.testing.assert_allclose(a, b, **TOL)
    pad = ~(np.arange(T)[None, :] < LENGTHS[:, None])
    assert not out[pad].any() and not gx[pad].any()


def test_init_draws_the_numpy_initialiser_and_traces():
    """``init`` from a key: the cells' own initialiser (LRU: ``d [H, D]`` dense feedthrough,
    ``c [H, N]``), reproducible, traceable; ``keras_params`` draws the NumPy backend's."""
    lay = layer("lru", 1, False)
    p = lay.init(jax.random.key(0), D, jnp.float64)[0][0]
    assert isinstance(p, pc.LRUParams) and p.d.shape == (H, D) and p.c_re.shape == (H, H)
    again = lay.init(jax.random.key(0), D, jnp.float64)[0][0]
    np.testing.assert_array_equal(p.b_re, again.b_re)
    shapes = jax.eval_shape(lambda k: lay.init(k, D), jax.random.key(0))
    assert shapes[0][0].b_re.shape == (H, D)
    m = Classifier(layer("mingru"), 7, 3, 2, binary_readout="sigmoid")
    ours = init_params_numpy(m, 4, np.float64)
    twin = keras_params(cell="mingru", hidden=H, num_layers=2, bidirectional=True,
                        vocab_size=7, embed_dim=3, num_outputs=1, seed=4)  # fmt: skip
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(twin), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cell", ["mingru", "lru"])
def test_language_model_step_equals_its_parallel_chunks(cell):
    """A chunk from a carried state (parallel form) == stepping token by token (what
    ``sample`` runs): logits and the state after, over two chunks."""
    model = LanguageModel(RecurrentLayer(cell, H, 2), vocab_size=6, embed_dim=3)
    params = jax.tree.map(jnp.asarray, model.init_numpy(0, np.float64))
    ids = jnp.asarray(np.random.default_rng(0).integers(0, 6, size=(2, 7)))
    logits_a, s = model.apply(params, ids[:, :3])
    logits_b, s = model.apply(params, ids[:, 3:], s)
    state = model.zero_state(2, jnp.float64)
    stepped = []
    for t in range(ids.shape[1]):
        lg, state = model.step(params, state, ids[:, t])
        stepped.append(lg)
    np.testing.assert_allclose(jnp.concatenate([logits_a, logits_b], 1), jnp.stack(stepped, 1),
                               **TOL)  # fmt: skip
    for a, b in zip(jax.tree.leaves(s), jax.tree.leaves(state), strict=True):
        np.testing.assert_allclose(a, b, **TOL)
    toks = sample(model, params, [1, 2], 5, seed=1, num_samples=2)
    assert toks.shape == (2, 5) and (toks == sample(model, params, [1, 2], 5, seed=1,
                                                    num_samples=2)).all()  # fmt: skip


def test_configs_for_the_new_models():
    cfg = resolve_config(TrainConfig(model="mingru"))
    assert (cfg.optimizer, cfg.lr, cfg.hidden, cfg.embed_dim, cfg.epochs, cfg.batch_size) == (
        "adam", 1e-2, 64, 16, 10, 8)
    lm = resolve_config(TrainConfig(task="lm", model="lru"))
    lstm = resolve_config(TrainConfig(task="lm", model="lstm"))
    assert (lm.hidden, lm.lr, lm.batch_size) == (lstm.hidden, lstm.lr, lstm.batch_size)
    with pytest.raises(ConfigError, match="reads the text both ways"):
        resolve_config(TrainConfig(task="lm", model="bimingru"))
    with pytest.raises(ConfigError, match="--init glorot sets recurrent weight matrices"):
        resolve_config(TrainConfig(model="minlstm", init="glorot"))


# ----------------------------------------------------------------------------- every task

SMALL = dict(hidden=8, epochs=2, dtype="float64", compile_mode="fast")


def _falls(res) -> float:
    first, last = res.history[0]["train_loss"], res.history[-1]["train_loss"]
    assert np.isfinite(last)
    return first - last


def test_classify_with_mingru_learns():
    res = fit(TrainConfig(model="mingru", lr=1e-1, dropout=0.0, **SMALL))
    assert _falls(res) > 0.0


def test_buckets_and_seeds_run_the_parallel_form():
    """Length buckets need no chunking (the chunk option is a recurrent loop's): a bucketed
    run and a vmapped-seeds run train with finite losses."""
    kw = dict(hidden=4, epochs=1, dtype="float64", compile_mode="fast")
    bucketed = fit(TrainConfig(model="bimingru", buckets=2, **kw))
    seeds = fit(TrainConfig(model="lru", **kw), seeds=2)
    assert len(seeds.histories) == 2
    for h in (*bucketed.histories, *seeds.histories):
        assert np.isfinite(h[-1]["train_loss"]) and np.isfinite(h[-1]["test_loss"])


def test_tag_with_mingru_learns(tmp_path):
    tr = tmp_path / "train.conll"
    write_conll(tr, make_tagging(40, seed=0))
    res = fit(TrainConfig(task="tag", model="mingru", data=str(tr), embed_dim=8, batch_size=8,
                          **SMALL))  # fmt: skip
    assert _falls(res) > 0.0


def test_regress_with_bimingru_learns(tmp_path):
    train = tmp_path / "train.csv"
    write_series_csv(train, make_periodic(120, seed=0))
    res = fit(TrainConfig(task="regress", model="bimingru", data=str(train), target="load",
                          window=6, batch_size=16, **SMALL))  # fmt: skip
    assert _falls(res) > 0.0


def test_lm_with_mingru_learns_saves_and_generates(tmp_path):
    """2 epochs of a character LM: the loss falls; the checkpoint loads into a predictor
    that samples (the sequential step) as ``python -m jaxrnn.generate`` does, seeded."""
    from jaxrnn.cli import generate

    train = tmp_path / "train.txt"
    train.write_text("the cat sat on the mat. the hat is on the cat.\n" * 6)
    path = str(tmp_path / "lm.ckpt")
    res = fit(TrainConfig(task="lm", model="mingru", data=str(train), embed_dim=4,
                          batch_size=2, seq_len=16, lr=2e-2, **SMALL), save=path)  # fmt: skip
    assert _falls(res) > 0.0
    pred = load_predictor(path)
    a = pred.sample("the ", 12, seed=3)
    assert a == res.predictor().sample("the ", 12, seed=3) and a[0].startswith("the ")
    args = generate.build_parser().parse_args(["--checkpoint", path, "--prime", "the ",
                                               "--length", "12", "--seed", "3"])  # fmt: skip
    assert generate.generate(args)[0] == a
