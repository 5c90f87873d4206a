"""The NumPy reference layers (hand-written BPTT) == jaxrnn.nn.sequence and jax.grad, float64.

Forward: outputs and final states equal ``RecurrentLayer.apply``. Backward: the
hand-written gradients wrt every weight, the inputs and the initial state equal
``jax.grad`` of the JAX layer, for a loss that reads both the outputs and the
final states. Then centred finite differences on the NumPy code alone, and the
whole ``Classifier`` (embedding -> stack -> readout -> loss).

Compiling the JAX side dominates the run time, so the cases cover the factors
in pairs rather than in full product: every cell meets every structure (1 layer
uni, 1 layer bi, 2 layers bi), both bias settings and both initial-state settings,
and every structure meets all four (bias, initial state) pairs; one compiled
function per case, each run on several random draws (weights, lengths, junk).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxrnn import scratch
from jaxrnn.nn.cells import CellParams, LSTMState
from jaxrnn.nn.models import Classifier
from jaxrnn.nn.sequence import RecurrentLayer
from jaxrnn.nn.sequence import reverse_padded as jax_reverse_padded
from jaxrnn.scratch import layers as sl
from jaxrnn.weights.cellspec import cell_names, get_spec
from jaxrnn.weights.layout import num_gates

B, T, D, H = 4, 7, 3, 5
RTOL, ATOL = 1e-10, 1e-12  # atol only for entries that are ~0 (cancellation)
# XLA's backend optimisation level 0 compiles these small graphs ~40% faster, which
# is most of this file's run time; the numbers agree to rounding either way.
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False}

# Every registered cell with a hand-written NumPy backward (checked against jax.grad), but the
# parallel cells (minGRU, minLSTM, LRU): their params are their own NamedTuples and their
# states non-negative (minGRU/minLSTM) or complex (LRU), so tests/test_parallel_layers.py
# checks their layers against jax.grad instead.
CELLS = tuple(c for c in cell_names() if get_spec(c).numpy_backward and not get_spec(c).parallel)
STRUCTURES = ((1, False), (1, True), (2, True))  # (num_layers, bidirectional)
OPTIONS = ((True, True), (True, False), (False, True), (False, False))  # (bias, initial state)

# The independent reference is jax.grad of the plain masked scan (impl="autodiff");
# a few cases check the library's hand-written custom VJP (impl="bptt") as well.


def make_layer(cell, num_layers, bidirectional, bias=True, impl="autodiff"):
    return RecurrentLayer(cell, H, num_layers, bidirectional, bias=bias, impl=impl)


CASES = [  # (cell, num_layers, bidirectional, bias, initial state, masked, impl)
    pytest.param(
        cell, layers, bi, *OPTIONS[(i + j) % 4], True, "autodiff", id=f"{cell}-L{layers}-bi{bi:d}"
    )
    for i, cell in enumerate(CELLS)
    for j, (layers, bi) in enumerate(STRUCTURES)
] + [  # impl="bptt" (the default); lengths=None is the unmasked path (a plain flip)
    pytest.param("rnn", 2, True, True, False, True, "bptt", id="rnn-L2-bi1-bptt"),
    pytest.param("rnn_relu", 2, False, False, True, True, "bptt", id="relu-L2-bi0-bptt"),
    pytest.param("lstm", 2, True, True, True, False, "bptt", id="lstm-L2-bi1-nolen-bptt"),
    pytest.param("gru", 2, True, False, False, False, "bptt", id="gru-L2-bi1-nolen-bptt"),
]


def random_params(rng, cell, num_layers, bidirectional, bias, d_in=D, hidden=H, scale=0.5):
    """Layers x directions of jaxrnn CellParams holding float64 NumPy arrays."""
    g, nd = num_gates(cell), 2 if bidirectional else 1

    def one(d):
        b = (lambda: rng.normal(0, scale, g * hidden)) if bias else (lambda: None)
        return CellParams(
            rng.normal(0, scale, (g * hidden, d)),
            rng.normal(0, scale, (g * hidden, hidden)),
            b(),
            b(),
        )

    return tuple(
        tuple(one(d_in if layer == 0 else nd * hidden) for _ in range(nd))
        for layer in range(num_layers)
    )


def random_lengths(rng, batch=B, max_len=T):
    """Random lengths that always include an empty and a full-length sequence."""
    lengths = np.concatenate([[0, max_len], rng.integers(1, max_len, size=batch - 2)])
    return rng.permutation(lengths)


def random_inputs(rng, lengths):
    """``x [B, T, D]`` whose padding holds large junk: masking must ignore it."""
    x = rng.normal(size=(B, T, D))
    pad = ~(np.arange(T)[None, :] < lengths[:, None])
    x[pad] = rng.uniform(-20, 20, size=(pad.sum(), D))
    return x


def random_state(rng, cell, n):
    """A random initial state (or a random cotangent for the final state)."""
    h = rng.normal(size=(n, B, H))
    return LSTMState(h, rng.normal(size=h.shape)) if get_spec(cell).has_cell_state else h


def leaves(tree):
    return jax.tree.leaves(tree)


def assert_close(actual, desired, what):
    a, d = leaves(actual), leaves(desired)
    assert len(a) == len(d), what
    for k, (x, y) in enumerate(zip(a, d, strict=True)):
        assert np.shape(x) == np.shape(y), (what, k)
        np.testing.assert_allclose(x, y, rtol=RTOL, atol=ATOL, err_msg=f"{what} leaf {k}")


@functools.cache
def jax_layer_grads(layer: RecurrentLayer, masked: bool, with_state: bool):
    """jit(value_and_grad) of ``sum(outputs * r_out) + sum(final * r_final)``, per structure."""

    def loss(params, x, state, lengths, r_out, r_final):
        out, final = layer.apply(
            params, x, lengths if masked else None, initial_state=state if with_state else None
        )
        total = jnp.sum(out * r_out)
        for f, r in zip(leaves(final), leaves(r_final), strict=True):
            total = total + jnp.sum(f * r)
        return total, (out, final)

    return jax.jit(
        jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True), compiler_options=FAST_COMPILE
    )


@pytest.mark.parametrize("cell,num_layers,bidirectional,bias,with_state,masked,impl", CASES)
def test_layer_forward_and_bptt_equal_jax(
    cell, num_layers, bidirectional, bias, with_state, masked, impl, rng
):
    layer = make_layer(cell, num_layers, bidirectional, bias, impl)
    n_states = num_layers * layer.num_directions
    grads_fn = jax_layer_grads(layer, masked, with_state)
    for _ in range(3):  # fresh weights, lengths and junk each time
        params = random_params(rng, cell, num_layers, bidirectional, bias)
        lengths = random_lengths(rng) if masked else np.full(B, T)
        x = random_inputs(rng, lengths)
        state = random_state(rng, cell, n_states) if with_state else None
        r_out = rng.normal(size=(B, T, layer.output_size))
        r_final = random_state(rng, cell, n_states)

        (_, (out_j, final_j)), (gp_j, gx_j, gs_j) = grads_fn(
            params, x, state, lengths, r_out, r_final
        )
        out, final, cache = sl.layer_forward(cell, params, x, lengths if masked else None, state)
        gp, gx, gs = sl.layer_backward(cell, params, cache, r_out, r_final)

        assert out.shape == (B, T, layer.output_size)
        assert_close(out, out_j, "outputs")
        assert_close(final, final_j, "final state")
        assert isinstance(final, sl.LSTMState) == get_spec(cell).has_cell_state
        # Same nested structure and NamedTuple type as the params, None biases included.
        assert jax.tree.structure(gp) == jax.tree.structure(params)
        assert_close(gp, gp_j, "param grads")
        assert_close(gx, gx_j, "dx")
        if with_state:
            assert_close(gs, gs_j, "d initial state")
        if masked:
            pad = ~(np.arange(T)[None, :] < lengths[:, None])
            assert not out[pad].any()  # outputs are zero past each sequence's end
            assert not gx[pad].any()  # and the junk there gets no gradient


@pytest.mark.parametrize("cell", CELLS)
def test_bptt_matches_finite_differences(cell, rng):
    """The NumPy gradients alone against centred differences of the NumPy forward."""
    params = random_params(rng, cell, 2, True, True)
    lengths = random_lengths(rng)
    x = random_inputs(rng, lengths)
    state = random_state(rng, cell, 4)
    r_out, r_final = rng.normal(size=(B, T, 2 * H)), random_state(rng, cell, 4)

    def loss():
        out, final, _ = sl.layer_forward(cell, params, x, lengths, state)
        return np.sum(out * r_out) + sum(
            np.sum(f * r) for f, r in zip(leaves(final), leaves(r_final), strict=True)
        )

    _, _, cache = sl.layer_forward(cell, params, x, lengths, state)
    grads = sl.layer_backward(cell, params, cache, r_out, r_final)
    # Arrays are perturbed in place, so params, x and state must be the ones loss() reads.
    finite_difference_check(rng, loss, leaves((params, x, state)), leaves(grads), per_leaf=4)


def test_backward_is_linear_in_its_cotangents_and_none_means_zero(rng):
    """``d_outputs=None`` / ``d_final=None`` (or ``(dh, None)`` for lstm) mean zero."""
    params = random_params(rng, "lstm", 2, True, True)
    lengths = random_lengths(rng)
    _, _, cache = sl.layer_forward("lstm", params, random_inputs(rng, lengths), lengths)
    r_out, r_final = rng.normal(size=(B, T, 2 * H)), random_state(rng, "lstm", 4)
    both = sl.layer_backward("lstm", params, cache, r_out, r_final)
    only_out = sl.layer_backward("lstm", params, cache, r_out, None)
    only_h = sl.layer_backward("lstm", params, cache, None, (r_final.h, None))
    only_c = sl.layer_backward("lstm", params, cache, None, (None, r_final.c))
    summed = jax.tree.map(lambda a, b, c: a + b + c, only_out, only_h, only_c)
    assert_close(summed, both, "sum of partial backward passes")
    zero = sl.layer_backward("lstm", params, cache)
    assert not any(np.any(a) for a in leaves(zero))


def test_unroll_is_one_layer_one_direction(rng):
    """``unroll_forward/backward`` on their own == the one-layer stack; a plain pair carry."""
    p = random_params(rng, "lstm", 1, False, True)[0][0]
    lengths = random_lengths(rng)
    x = random_inputs(rng, lengths)
    h0, c0 = rng.normal(size=(2, B, H))
    out, final, cache = sl.unroll_forward("lstm", p, x, lengths, (h0, c0))
    out_l, final_l, cache_l = sl.layer_forward("lstm", ((p,),), x, lengths, (h0[None], c0[None]))
    assert_close(out, out_l, "outputs")
    assert_close(final, jax.tree.map(lambda a: a[0], final_l), "final")
    r_out, (rh, rc) = rng.normal(size=out.shape), rng.normal(size=(2, B, H))
    g, dx, d0 = sl.unroll_backward("lstm", p, cache, r_out, (rh, rc))
    g_l, dx_l, d0_l = sl.layer_backward("lstm", ((p,),), cache_l, r_out, (rh[None], rc[None]))
    assert_close((g, dx), (g_l[0][0], dx_l), "grads")
    assert_close(d0, jax.tree.map(lambda a: a[0], d0_l), "d initial")


def test_numpy_params_type_round_trips(rng):
    """Plain NumPy ``scratch.CellParams`` in, the same type out; the scratch package's export."""
    jparams = random_params(rng, "gru", 1, True, False)
    params = tuple(tuple(scratch.CellParams(*p) for p in layer) for layer in jparams)
    x = rng.normal(size=(B, T, D))
    out, _, cache = scratch.layer_forward("gru", params, x)
    grads, _, _ = scratch.layer_backward("gru", params, cache, np.ones_like(out))
    assert type(grads[0][1]) is scratch.CellParams and grads[0][1].b_ih is None
    assert_close(out, scratch.layer_forward("gru", jparams, x)[0], "outputs")


def test_reverse_padded_equals_jax(rng):
    x = rng.normal(size=(B, T, 2))
    lengths = random_lengths(rng)
    assert_close(sl.reverse_padded(x, lengths), jax_reverse_padded(x, lengths), "lengths")
    assert_close(sl.reverse_padded(x, None), jax_reverse_padded(x, None), "None")


def test_bad_arguments_raise(rng):
    params = random_params(rng, "rnn", 1, False, True)
    x = rng.normal(size=(B, T, D))
    with pytest.raises(ValueError, match="unknown cell"):
        sl.layer_forward("elman", params, x)
    with pytest.raises(ValueError, match="lengths"):
        sl.layer_forward("rnn", params, x, np.array([0, 1, 2, T + 1]))
    with pytest.raises(ValueError, match="w_ih"):
        sl.layer_forward("lstm", params, x)  # rnn weights have 1 gate block, lstm needs 4
    cparams = {"rnn": params, "w_out": np.ones((1, H)), "b_out": np.zeros(1)}
    with pytest.raises(ValueError, match="bidirectional"):
        sl.classifier_logits(
            cparams, np.ones((B, T), int), np.full(B, T), cell="rnn", bidirectional=True
        )


# ----------------------------------------------------------------------------- classifier

V, E = 9, 3

CLASSIFIER_CASES = [  # (cell, layers, bidirectional, embed, K outputs, mask, impl)
    ("lstm", 2, True, True, 1, True, "autodiff"),
    ("lstm", 3, True, True, 3, False, "bptt"),
    ("gru", 1, False, False, 3, True, "autodiff"),  # one-hot inputs, unidirectional
]


@functools.cache
def jax_classifier_grads(model: Classifier):
    def loss(params, ids, lengths, labels):
        logits = model.apply(params, ids, lengths)
        if logits.shape[1] == 1:  # as jaxrnn.runs.loss_terms
            terms = optax.sigmoid_binary_cross_entropy(logits[:, 0], labels.astype(logits.dtype))
        else:
            terms = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
        return jnp.mean(terms), logits

    return jax.jit(jax.value_and_grad(loss, has_aux=True), compiler_options=FAST_COMPILE)


@pytest.mark.parametrize("cell,num_layers,bidirectional,embed,k,mask,impl", CLASSIFIER_CASES)
def test_classifier_loss_and_grads_equal_jax(
    cell, num_layers, bidirectional, embed, k, mask, impl, rng
):
    layer = make_layer(cell, num_layers, bidirectional, impl=impl)
    model = Classifier(layer, V, E if embed else None, num_classes=max(k, 2), mask=mask,
                       binary_readout="sigmoid" if k == 1 else "softmax")
    assert model.num_outputs == k
    grads_fn = jax_classifier_grads(model)
    for _ in range(2):
        params = {
            "rnn": random_params(rng, cell, num_layers, bidirectional, True, E if embed else V),
            "w_out": rng.normal(0, 0.5, (k, layer.output_size)),
            "b_out": rng.normal(0, 0.5, k),
        }
        if embed:
            params["embed"] = rng.normal(0, 0.5, (V, E))
        lengths = random_lengths(rng)
        ids = rng.integers(1, V, size=(B, T))
        pad = ~(np.arange(T)[None, :] < lengths[:, None])
        # Masked: junk ids past the end (masking must ignore them). Unmasked: the real
        # padding id 0, which the cells then read like a token.
        ids[pad] = rng.integers(1, V, size=pad.sum()) if mask else 0
        labels = rng.integers(0, max(k, 2), size=B)

        (loss_j, logits_j), grads_j = grads_fn(params, ids, lengths, labels)
        logits = sl.classifier_logits(
            params, ids, lengths, cell=cell, bidirectional=bidirectional, mask=mask
        )
        loss, grads = sl.classifier_loss_and_grads(
            params, ids, lengths, labels, cell=cell, bidirectional=bidirectional, mask=mask
        )
        assert_close(logits, logits_j, "logits")
        np.testing.assert_allclose(loss, loss_j, rtol=RTOL)
        assert grads.keys() == params.keys()
        for name in params:
            assert_close(grads[name], grads_j[name], name)


def test_register_numpy_cell_unroll_and_sizes_go_together():
    """A parallel cell's twin needs both ``unroll`` and ``sizes``; a recurrent cell's neither:
    one without the other is refused whatever the cell (and re-registering the same twin is
    allowed)."""
    import jaxrnn.scratch.parallel_cells  # noqa: F401 - registers the parallel cells' twins

    par, rec = sl.numpy_cell("mingru"), sl.numpy_cell("lstm")
    for kw in ({"unroll": par.unroll}, {"sizes": par.sizes}):
        for name, twin in (("mingru", par), ("lstm", rec)):
            with pytest.raises(ValueError, match="unroll and sizes"):
                sl.register_numpy_cell(name, twin.forward, twin.backward, **kw)
    with pytest.raises(ValueError, match="unroll and sizes"):
        sl.register_numpy_cell("lstm", rec.forward, rec.backward, unroll=par.unroll,
                               sizes=par.sizes)  # fmt: skip
    assert sl.register_numpy_cell("mingru", par.forward, par.backward, unroll=par.unroll,
                                  sizes=par.sizes) == par  # fmt: skip
    assert sl.register_numpy_cell("lstm", rec.forward, rec.backward) == rec
    assert sl.numpy_cell("mingru") == par and sl.numpy_cell("lstm") == rec


def finite_difference_check(rng, loss, arrays, grads, per_leaf=3, eps=1e-6, atol=1e-8):
    """``grads`` (leaves matching ``arrays``) against centred differences of ``loss()``,
    ``per_leaf`` entries of each array (perturbed in place: ``loss`` must read these arrays).
    Shared with ``test_scratch_seq``."""
    for arr, g in zip(arrays, grads, strict=True):
        flat, gflat = arr.reshape(-1), np.asarray(g).reshape(-1)
        for j in rng.choice(flat.size, size=min(flat.size, per_leaf), replace=False):
            old = flat[j]
            flat[j] = old + eps
            up = loss()
            flat[j] = old - eps
            down = loss()
            flat[j] = old
            np.testing.assert_allclose(gflat[j], (up - down) / (2 * eps), rtol=1e-6, atol=atol)


def test_dropout_between_layers_scales_the_kept_units_and_backpropagates_through_them(rng):
    """``layer_forward(dropout=p, dropout_keep=masks)``: each layer but the last hands the next
    its outputs where kept, divided by ``1 - p``, zero where dropped (the layers run one by one
    by hand); no dropout with a rate of 0 or without masks (``apply`` without a key); the
    gradients against centred differences with the same masks. float64, 3 layers."""
    cell, p = "gru", 0.4
    params = random_params(rng, cell, 3, False, True)
    lengths = random_lengths(rng)
    x = random_inputs(rng, lengths)
    keeps = tuple(rng.random((B, T, H)) < 1 - p for _ in range(2))
    out, final, cache = sl.layer_forward(cell, params, x, lengths, dropout=p, dropout_keep=keeps)
    y, finals = x, []
    for layer in range(3):
        y, f, _ = sl.layer_forward(cell, params[layer : layer + 1], y, lengths)
        finals.append(f[0])
        if layer < 2:
            y = np.where(keeps[layer], y / (1 - p), 0.0)
    assert_close(out, y, "outputs")
    assert_close(final, np.stack(finals), "final states")
    plain = sl.layer_forward(cell, params, x, lengths)[0]
    assert not np.allclose(out, plain)
    assert_close(sl.layer_forward(cell, params, x, lengths, dropout=0.0, dropout_keep=keeps)[0],
                 plain, "rate 0 with masks")  # fmt: skip
    assert_close(sl.layer_forward(cell, params, x, lengths, dropout=p)[0], plain, "no masks")

    r_out, r_final = rng.normal(size=out.shape), rng.normal(size=final.shape)

    def loss():
        o, f, _ = sl.layer_forward(cell, params, x, lengths, dropout=p, dropout_keep=keeps)
        return np.sum(o * r_out) + np.sum(f * r_final)

    grads, dx, _ = sl.layer_backward(cell, params, cache, r_out, r_final)
    finite_difference_check(rng, loss, leaves((params, x)), leaves((grads, dx)))


def test_classifier_dropout_masks_and_their_gradients(rng):
    """``classifier_logits`` with ``masks``: the readout reads the final states where kept,
    divided by ``1 - dropout``, zero where dropped; with the default rates (0) the masks drop
    nothing; ``classifier_loss_and_grads`` with both kinds of masks against centred differences.
    float64."""
    cell, p, q = "lstm", 0.5, 0.3
    params = {"rnn": random_params(rng, cell, 2, True, True, E),
              "embed": rng.normal(0, 0.5, (V, E)),
              "w_out": rng.normal(0, 0.5, (3, 2 * H)), "b_out": rng.normal(0, 0.5, 3)}
    lengths = random_lengths(rng)
    ids = rng.integers(1, V, size=(B, T))
    labels = rng.integers(0, 3, B)
    masks = sl.DropoutMasks((rng.random((B, T, 2 * H)) < 1 - q,), rng.random((B, 2 * H)) < 1 - p)
    kw = dict(cell=cell, bidirectional=True)
    plain = sl.classifier_logits(params, ids, lengths, **kw)
    assert_close(sl.classifier_logits(params, ids, lengths, **kw, masks=masks), plain, "rates 0")
    _, final, _ = sl.layer_forward(cell, params["rnn"], params["embed"][ids], lengths,
                                   dropout=q, dropout_keep=masks.between)  # fmt: skip
    feats = np.concatenate([final.h[-2], final.h[-1]], -1)
    want = np.where(masks.readout, feats / (1 - p), 0.0) @ params["w_out"].T + params["b_out"]
    rates = dict(dropout=p, layer_dropout=q, masks=masks)
    assert_close(sl.classifier_logits(params, ids, lengths, **kw, **rates), want, "logits")

    def loss():
        return sl.classifier_loss_and_grads(params, ids, lengths, labels, **kw, **rates)[0]

    _, grads = sl.classifier_loss_and_grads(params, ids, lengths, labels, **kw, **rates)
    names = sorted(params)
    finite_difference_check(rng, loss, leaves([params[k] for k in names]),
                            leaves([grads[k] for k in names]))  # fmt: skip
