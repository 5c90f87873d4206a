"""The cell registry: a cell defined and registered here, in a test, runs everywhere.

``toy`` is a test-only cell that no library file names: two gate blocks (``u``, ``v``), no
hand-written VJP, ``h' = isru(a_u) * sigmoid(a_v)`` with ``isru(u) = u / sqrt(1 + u^2)`` and
``a = xp + W_hh h + b_hh``, its ``v`` input bias starting at 1. The fixture registers its JAX
step and its NumPy twin (forward and hand-written backward) and removes them afterwards, so
the other test files' parametrisations (taken from the registry at collection) do not
depend on the order tests run in. Float64 throughout (conftest enables x64).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from jaxrnn.nn import bptt, cells
from jaxrnn.nn.cells import CellParams, get_cell, register_cell, unregister_cell
from jaxrnn.nn.sequence import RecurrentLayer
from jaxrnn.scratch import layers as sl
from jaxrnn.weights import cellspec
from jaxrnn.weights.cellspec import CellSpec, cell_names, get_spec
from jaxrnn.weights.init import keras_params
from jaxrnn.weights.layout import GATES, num_gates

NAME = "toy_isru_gated"
SPEC = CellSpec(NAME, ("u", "v"), activation="isru", bias_init=(("v", 1.0),),
                numpy_backward=True)  # fmt: skip
B, T, D, H = 3, 5, 2, 3


def toy_step(p: CellParams, h: jax.Array, xp: jax.Array) -> tuple[jax.Array, jax.Array]:
    """JAX step: ``xp [.., 2H]``, ``h [.., H]`` -> ``(h', h')``."""
    a = xp + h @ p.w_hh.T
    if p.b_hh is not None:
        a = a + p.b_hh
    u, v = jnp.split(a, 2, axis=-1)
    h = u / jnp.sqrt(1.0 + u * u) * jax.nn.sigmoid(v)
    return h, h


def toy_forward(p, h: np.ndarray, xp: np.ndarray) -> tuple[np.ndarray, tuple]:
    """NumPy twin of ``toy_step``: ``(h', cache)``."""
    a = xp + h @ p.w_hh.T + (0.0 if p.b_hh is None else p.b_hh)
    u, v = np.split(a, 2, axis=-1)
    s = 1.0 / np.sqrt(1.0 + u * u)
    q, g = u * s, sl.sigmoid(v)
    return q * g, (q, s, g)


def toy_backward(p, dh_new: np.ndarray, cache: tuple) -> tuple[np.ndarray, ...]:
    """Hand-written backward of ``toy_forward``: ``(dh, dxp [B, 2H], dhh [B, 2H])``."""
    q, s, g = cache
    da = np.concatenate([dh_new * g * s**3, dh_new * q * g * (1.0 - g)], axis=-1)
    return da @ p.w_hh, da, da


@pytest.fixture(scope="module")
def toy():
    register_cell(SPEC, toy_step)  # the one registration call per backend
    sl.register_numpy_cell(NAME, toy_forward, toy_backward)
    yield NAME
    sl.unregister_numpy_cell(NAME)
    unregister_cell(NAME)


@pytest.mark.parametrize("name", cell_names())
def test_every_registered_cell_has_what_its_spec_promises(name):
    """A JAX ``Cell`` for every spec; a ``CellVJP`` exactly when ``custom_vjp``; a NumPy twin
    when ``numpy_backward``; the spec's gates are the layout's."""
    spec, cell = get_spec(name), get_cell(name)
    assert cell.spec == spec and cell.gates == spec.num_gates == len(GATES[name])
    assert (cell.vjp is not None) == spec.custom_vjp
    assert (name in sl.NUMPY_CELLS) == spec.numpy_backward
    zero = cell.zero_carry((2,), 3)
    assert [a.shape for a in jax.tree.leaves(zero)] == [(2, 3)] * (1 + (spec.carry != "h"))


def test_the_registry_sees_the_toy_cell(toy):
    assert toy in cell_names() and toy in cells.CELLS and toy in sl.NUMPY_CELLS
    assert GATES[toy] == ("u", "v") and num_gates(toy) == 2 and get_spec(toy) == SPEC
    assert get_cell(toy).vjp is None and get_cell(toy).parallel is None
    assert RecurrentLayer(toy, H, impl="custom_vjp").backward == "autodiff"
    assert RecurrentLayer("lstm", H).backward == "custom_vjp"
    with pytest.raises(ValueError, match="no hand-written VJP"):
        bptt.layer(toy, CellParams(None, None, None, None), jnp.zeros((B, T, D)), None,
                   jnp.zeros((B, H)))  # fmt: skip
    # The initialisers follow the spec's bias rule (v block at 1) in both backends.
    jp = RecurrentLayer(toy, H).init(jax.random.key(0), D, jnp.float64)[0][0]
    npp = keras_params(cell=toy, hidden=H, num_layers=1, bidirectional=False, vocab_size=D,
                       embed_dim=None, num_outputs=1, seed=0)["rnn"][0][0]  # fmt: skip
    for p in (jp, npp):
        assert p.w_ih.shape == (2 * H, D) and p.w_hh.shape == (2 * H, H)
        np.testing.assert_array_equal(np.asarray(p.b_ih), [0.0] * H + [1.0] * H)


def test_registry_errors_are_one_line(toy):
    with pytest.raises(ValueError, match="unknown cell 'nope'"):
        get_cell("nope")
    with pytest.raises(ValueError, match="unknown cell 'nope'"):
        sl.layer_forward("nope", (), np.zeros((B, T, D)))
    with pytest.raises(ValueError, match="already registered"):
        register_cell(SPEC._replace(gates=("u", "w")), toy_step)
    with pytest.raises(ValueError, match="custom_vjp"):
        register_cell(SPEC._replace(name="other", custom_vjp=True), toy_step)
    with pytest.raises(ValueError, match="built-in"):
        unregister_cell("gru")
    assert "other" not in cellspec.SPECS


def _toy_inputs(seed: int, num_layers: int, bidirectional: bool, masked: bool):
    rng = np.random.default_rng(seed)
    layer = RecurrentLayer(NAME, H, num_layers, bidirectional, impl="autodiff")
    params = layer.init(jax.random.key(seed), D, jnp.float64)
    params = jax.tree.map(lambda a: a + rng.normal(0.0, 0.3, a.shape), params)  # biases too
    x = rng.normal(size=(B, T, D))
    lengths = np.array([T, 0, 2]) if masked else None
    state = rng.normal(size=(num_layers * layer.num_directions, B, H))
    r_out, r_final = rng.normal(size=(B, T, layer.output_size)), rng.normal(size=state.shape)
    return layer, params, x, lengths, state, r_out, r_final


@pytest.mark.parametrize(
    "num_layers,bidirectional,masked",
    [(1, False, False), (1, False, True), (1, True, True), (2, True, True)],
    ids=["forward", "masked", "bidirectional", "stacked-bidirectional"],
)
def test_toy_cell_gradients_equal_finite_differences(toy, num_layers, bidirectional, masked):
    """``RecurrentLayer`` over the toy cell (the bidirectional cases run it reversed too):
    ``jax.grad`` w.r.t. params, inputs and initial state == centred differences, and
    ``impl="custom_vjp"`` (which falls back to autodiff for this cell) gives the same."""
    layer, params, x, lengths, state, r_out, r_final = _toy_inputs(
        1, num_layers, bidirectional, masked
    )
    flat, unravel = ravel_pytree((params, x, state))

    def loss(v, layer=layer):
        p, xs, s = unravel(v)
        out, final = layer.apply(p, xs, lengths, initial_state=s)
        return jnp.sum(out * r_out) + jnp.sum(final * r_final)

    grad = jax.jit(jax.grad(loss))(flat)
    eps = 1e-5
    steps = eps * jnp.eye(flat.size)
    fd = jax.jit(jax.vmap(lambda e: (loss(flat + e) - loss(flat - e)) / (2 * eps)))(steps)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)
    assert np.abs(grad).max() > 1e-2  # not vacuous

    other = RecurrentLayer(NAME, H, num_layers, bidirectional, impl="custom_vjp")
    np.testing.assert_array_equal(jax.jit(jax.grad(lambda v: loss(v, other)))(flat), grad)


def test_toy_numpy_twin_equals_jax_grad(toy):
    """``jaxrnn.scratch.layers`` runs the toy cell through its registered NumPy step pair;
    its hand-written BPTT equals ``jax.grad`` (stacked, bidirectional, masked)."""
    layer, params, x, lengths, state, r_out, r_final = _toy_inputs(2, 2, True, True)

    def loss(p, xs, s):
        out, final = layer.apply(p, xs, lengths, initial_state=s)
        return jnp.sum(out * r_out) + jnp.sum(final * r_final), (out, final)

    (_, (out_j, final_j)), grads_j = jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True)(
        params, x, state
    )
    np_params = jax.tree.map(np.asarray, params)
    out, final, cache = sl.layer_forward(NAME, np_params, x, lengths, state)
    grads = sl.layer_backward(NAME, np_params, cache, r_out, r_final)
    np.testing.assert_allclose(out, out_j, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(final, final_j, rtol=1e-10, atol=1e-12)
    for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(grads_j), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_interop_refuses_a_cell_torch_does_not_have(toy):
    torch = pytest.importorskip("torch")
    del torch
    from jaxrnn.nn.interop import to_torch

    layer = RecurrentLayer(toy, H)
    with pytest.raises(ValueError, match="no torch module for cell"):
        to_torch(layer, layer.init(jax.random.key(0), D))
