"""The JAX layers themselves: an independent check against Flax, masking, dropout, stacking.

* Flax linen's ``RNN`` over ``SimpleCell`` / ``LSTMCell`` / ``GRUCell``, given the same
  weights mapped into Flax's parameter tree, computes the same sequences (float32).
* Masking: padding never changes a masked result; a padded batch gives, per
  sequence, what that sequence gives alone; without the mask padding does change it.
* Dropout only with a key; output and final-state shapes; initial states routed
  to the right layer and direction; gradient dtypes follow the params.
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrnn import scratch
from jaxrnn.nn.cells import CELLS as REGISTERED
from jaxrnn.nn.cells import CellParams, LSTMState, get_cell
from jaxrnn.nn.models import Classifier
from jaxrnn.nn.sequence import RecurrentLayer, _Options, lstm, reverse_padded, rnn
from jaxrnn.weights.layout import GATES, gate_slice, num_gates

B, T, D, H = 4, 7, 3, 5

# Compiled once per (layer, structure of the arguments) and shared by all tests, at
# XLA's backend optimisation level 0: ~40% faster to compile, the same numbers.
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False}
apply = jax.jit(
    RecurrentLayer.apply,
    static_argnums=0,
    static_argnames="use_scan",
    compiler_options=FAST_COMPILE,
)
logits_of = jax.jit(Classifier.apply, static_argnums=0, compiler_options=FAST_COMPILE)


def random_params(rng, cell, num_layers=1, bidirectional=False, d_in=D, dtype=np.float64):
    g, nd = num_gates(cell), 2 if bidirectional else 1

    def one(d):
        def w(*shape):
            return rng.normal(0, 0.5, shape).astype(dtype)

        return CellParams(w(g * H, d), w(g * H, H), w(g * H), w(g * H))

    return tuple(
        tuple(one(d_in if layer == 0 else nd * H) for _ in range(nd)) for layer in range(num_layers)
    )


def valid(lengths, max_len=T):
    """``[B, T]`` bool, True on valid steps."""
    return np.arange(max_len)[None, :] < np.asarray(lengths)[:, None]


# ----------------------------------------------------------------------------- Flax


def flax_cell_params(cell: str, p: CellParams) -> dict:
    """Our ``CellParams`` as the param dict of Flax's cell (``flax/linen/recurrent.py``).

    Flax's ``Dense`` computes ``x @ kernel + bias``, so kernels are our weights
    transposed. Where Flax has one bias for a sum (``W_i x + W_h h + b``) it gets
    ``b_ih + b_hh``; its GRU keeps ``b_hn`` apart, inside ``r * (W_hn h + b_hn)``.
    """

    def rows(a, gate):
        return a[gate_slice(cell, gate, H)]

    if cell in ("rnn", "rnn_relu"):  # SimpleCell: tanh(i(x) + h(h)), bias on i
        return {
            "i": {"kernel": p.w_ih.T, "bias": p.b_ih + p.b_hh},
            "h": {"kernel": p.w_hh.T},
        }
    if cell == "lstm":  # LSTMCell: i{i,f,g,o} without bias, h{i,f,g,o} with
        out = {}
        for gate in GATES["lstm"]:
            out["i" + gate] = {"kernel": rows(p.w_ih, gate).T}
            out["h" + gate] = {
                "kernel": rows(p.w_hh, gate).T,
                "bias": rows(p.b_ih, gate) + rows(p.b_hh, gate),
            }
        return out
    # GRUCell: i{r,z,n} with bias, h{r,z} without, hn with (it sits inside r * (...)).
    out = {}
    for gate in GATES["gru"]:
        bias = rows(p.b_ih, gate) + (rows(p.b_hh, gate) if gate != "n" else 0)
        out["i" + gate] = {"kernel": rows(p.w_ih, gate).T, "bias": bias}
        out["h" + gate] = {"kernel": rows(p.w_hh, gate).T}
    out["hn"]["bias"] = rows(p.b_hh, "n")
    return out


FLAX_CELLS = {
    "rnn": lambda: nn.SimpleCell(H),
    "lstm": lambda: nn.LSTMCell(H),
    "gru": lambda: nn.GRUCell(H),
}


# Every registered recurrent cell; the parallel cells (minGRU, minLSTM, LRU: own params types,
# no w_ih/w_hh) have their layer tests in tests/test_parallel_layers.py.
CELLS = tuple(c for c in REGISTERED if get_cell(c).parallel is None)
VJP_CELLS = tuple(c for c in CELLS if get_cell(c).vjp is not None)  # with a hand-written VJP


def has_cell_state(cell):
    return get_cell(cell).spec.has_cell_state


def flax_carry(cell, carry):
    """Flax's LSTM carry is ``(c, h)``; ours ``LSTMState(h, c)``. Returned as ``(h, c)``."""
    return (carry[1], carry[0]) if has_cell_state(cell) else carry


def assert_f32_close(ours, theirs):
    assert ours.dtype == np.float32 and theirs.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("cell", list(FLAX_CELLS))  # the cells Flax has
def test_equals_flax_linen(cell, rng):
    layer = RecurrentLayer(cell, H)
    params = random_params(rng, cell, dtype=np.float32)
    variables = {"params": {"cell": flax_cell_params(cell, params[0][0])}}
    model = nn.RNN(FLAX_CELLS[cell](), return_carry=True)
    x = rng.normal(size=(B, T, D)).astype(np.float32)
    # Our mapping has exactly the names, shapes and dtypes Flax creates for this cell.
    ref = jax.eval_shape(model.init, jax.random.key(0), x)
    assert jax.tree.map(lambda a: (a.shape, a.dtype), ref) == jax.tree.map(
        lambda a: (a.shape, a.dtype), variables
    )

    # Flax does not treat length 0 (it would return the carry after step T).
    for lengths in (None, rng.permutation([T, 1, 3, T - 2])):
        carry, out_f = model.apply(variables, x, seq_lengths=lengths)
        out, final = apply(layer, params, x, lengths)
        m = valid(lengths if lengths is not None else np.full(B, T))
        assert_f32_close(np.asarray(out)[m], np.asarray(out_f)[m])  # Flax leaves padding as is
        for ours, theirs in zip(
            jax.tree.leaves(final), jax.tree.leaves(flax_carry(cell, carry)), strict=True
        ):
            assert_f32_close(np.asarray(ours[0]), np.asarray(theirs))


def test_bidirectional_lstm_equals_flax_bidirectional(rng):
    layer = lstm(H, bidirectional=True)
    params = random_params(rng, "lstm", bidirectional=True, dtype=np.float32)
    fwd, bwd = (flax_cell_params("lstm", p) for p in params[0])
    variables = {"params": {"forward_rnn": {"cell": fwd}, "backward_rnn": {"cell": bwd}}}
    model = nn.Bidirectional(nn.RNN(nn.LSTMCell(H)), nn.RNN(nn.LSTMCell(H)), return_carry=True)
    x = rng.normal(size=(B, T, D)).astype(np.float32)
    lengths = np.array([2, T, 1, 5])
    (carry_f, carry_b), out_f = model.apply(variables, x, seq_lengths=lengths)
    out, final = apply(layer, params, x, lengths)
    m = valid(lengths)
    assert_f32_close(np.asarray(out)[m], np.asarray(out_f)[m])
    for d, carry in enumerate((carry_f, carry_b)):
        h, c = flax_carry("lstm", carry)
        assert_f32_close(np.asarray(final.h[d]), np.asarray(h))
        assert_f32_close(np.asarray(final.c[d]), np.asarray(c))


# ----------------------------------------------------------------------------- masking

V = 11
BILSTM = lstm(H, num_layers=2, bidirectional=True)  # shared by the layer-level tests below


def classifier_params(rng, model: Classifier) -> dict:
    """Random float64 params shaped as ``model.init``'s (drawn in NumPy: nothing to compile)."""
    layer, e = model.layer, model.embed_dim
    return {
        "embed": rng.normal(0, 0.5, (V, e)),
        "rnn": random_params(rng, layer.cell, layer.num_layers, layer.bidirectional, d_in=e),
        "w_out": rng.normal(0, 0.5, (model.num_outputs, layer.output_size)),
        "b_out": rng.normal(0, 0.5, model.num_outputs),
    }


@functools.cache
def classifier(bidirectional: bool, mask: bool) -> tuple[Classifier, dict]:
    model = Classifier(lstm(H, 2, bidirectional), V, embed_dim=4, num_classes=3, mask=mask)
    return model, classifier_params(np.random.default_rng(1), model)


def random_ids(rng, lengths, max_len=T):
    """Token ids ``1..V-1`` on valid steps, padding id 0 after."""
    return np.where(valid(lengths, max_len), rng.integers(1, V, size=(len(lengths), max_len)), 0)


def pad_more(ids, extra=4):
    return np.concatenate([ids, np.zeros((ids.shape[0], extra), ids.dtype)], axis=1)


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_padding_never_changes_masked_logits(bidirectional, rng):
    model, params = classifier(bidirectional, mask=True)
    lengths = np.array([3, T, 0, 5])
    ids = random_ids(rng, lengths)
    base = logits_of(model, params, ids, lengths)
    np.testing.assert_allclose(logits_of(model, params, pad_more(ids), lengths), base, rtol=1e-12)
    # Whatever the padding holds, masking ignores it.
    junk = np.where(valid(lengths), ids, rng.integers(1, V, size=ids.shape))
    np.testing.assert_allclose(logits_of(model, params, junk, lengths), base, rtol=1e-12)


def test_without_mask_padding_changes_logits(rng):
    """The unmasked failure mode: the cells read the padding like tokens."""
    model, params = classifier(True, mask=False)
    masked, _ = classifier(True, mask=True)
    lengths = np.array([3, T, 2, 5])
    ids = random_ids(rng, lengths)
    base = np.asarray(logits_of(model, params, ids, lengths))
    padded = np.asarray(logits_of(model, params, pad_more(ids), lengths))
    assert np.all(np.abs(padded - base).max(axis=1) > 1e-6)  # every sequence, even full ones
    # The same params and batches with the mask on agree.
    np.testing.assert_allclose(
        logits_of(masked, params, pad_more(ids), lengths),
        logits_of(masked, params, ids, lengths),
        rtol=1e-12,
    )


def test_padded_batch_equals_each_sequence_alone(rng):
    params = random_params(rng, "lstm", 2, True)
    lengths = np.array([3, 0, T, 3])
    x = rng.normal(size=(B, T, D))
    out, final = apply(BILSTM, params, x, lengths)
    out = np.asarray(out)
    assert not out[~valid(lengths)].any()  # zero past each sequence's end
    for b, n in enumerate(lengths):
        alone_out, alone_final = apply(BILSTM, params, x[b : b + 1, :n], None)
        np.testing.assert_allclose(out[b, :n], alone_out[0], rtol=1e-12, atol=1e-14)
        for ours, alone in zip(jax.tree.leaves(final), jax.tree.leaves(alone_final), strict=True):
            np.testing.assert_allclose(ours[:, b], alone[:, 0], rtol=1e-12, atol=1e-14)
    assert not np.any(final.h[:, 1]) and not np.any(final.c[:, 1])  # empty: the zero state


def random_state(rng, cell, n=4):
    h0 = rng.normal(size=(n, B, H))
    return LSTMState(h0, rng.normal(size=h0.shape)) if has_cell_state(cell) else h0


@pytest.mark.parametrize(
    "cell,masked,impl",
    [
        ("lstm", True, "bptt"),
        ("lstm", True, "autodiff"),
        ("lstm", False, "bptt"),
        ("gru", True, "bptt"),
    ],
)
def test_python_loop_equals_scan(cell, masked, impl, rng):
    """The scan (either implementation) == the same body in a Python loop."""
    layer = RecurrentLayer(cell, H, num_layers=2, bidirectional=True, impl=impl)
    params = random_params(rng, cell, 2, True)
    x = rng.normal(size=(B, T, D))
    lengths = np.array([T, 3, 0, 6]) if masked else None
    state = random_state(rng, cell)
    scanned = apply(layer, params, x, lengths, initial_state=state)
    looped = layer.apply(params, x, lengths, initial_state=state, use_scan=False)
    for a, b in zip(jax.tree.leaves(scanned), jax.tree.leaves(looped), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_reverse_padded_reverses_only_the_valid_part(rng):
    x = rng.normal(size=(B, T, 2))
    lengths = np.array([0, 1, 4, T])
    r = np.asarray(reverse_padded(x, lengths))
    for b, n in enumerate(lengths):
        np.testing.assert_array_equal(r[b, :n], x[b, :n][::-1])
        np.testing.assert_array_equal(r[b, n:], x[b, n:])  # padding stays put
    np.testing.assert_array_equal(reverse_padded(r, lengths), x)  # an involution
    np.testing.assert_array_equal(reverse_padded(x, None), x[:, ::-1])
    ids = rng.integers(0, 9, size=(B, T))  # any trailing shape, integer dtypes too
    np.testing.assert_array_equal(reverse_padded(reverse_padded(ids, lengths), lengths), ids)


# ----------------------------------------------------------------------------- dropout


def test_dropout_only_with_a_key_and_only_between_layers(rng):
    layer = lstm(H, num_layers=2, dropout=0.5)
    params = random_params(rng, "lstm", 2)
    x = rng.normal(size=(B, T, D))
    no_key = apply(layer, params, x, None)
    k1 = apply(layer, params, x, None, key=jax.random.key(1))
    k1_again = apply(layer, params, x, None, key=jax.random.key(1))
    k2 = apply(layer, params, x, None, key=jax.random.key(2))
    # No key: evaluation, the same numbers as the NumPy reference (which has no dropout).
    np.testing.assert_allclose(no_key[0], scratch.layer_forward("lstm", params, x)[0], rtol=1e-12)
    np.testing.assert_array_equal(k1[0], k1_again[0])  # a key fixes the mask
    assert np.abs(np.asarray(k1[0]) - no_key[0]).max() > 1e-3
    assert np.abs(np.asarray(k1[0]) - k2[0]).max() > 1e-3
    # Between layers only: layer 0 runs before any dropout, and the top layer's
    # outputs are not dropped (the last output is the top layer's final h).
    np.testing.assert_array_equal(k1[1].h[0], no_key[1].h[0])
    np.testing.assert_array_equal(k1[0][:, -1], k1[1].h[-1])


def test_dropout_masks_are_drawn_batch_major(rng):
    """``dropout`` draws its mask batch-major in both layouts (one key: the same numbers), and a
    recurrent stack (time-major inside) drops its between-layer outputs as ``dropout(sub, y)``
    of the batch-major outputs, ``sub`` split from the key per layer: what layer 0, that
    dropout and layer 1 run one after the other give (float64)."""
    from jaxrnn.nn.sequence import dropout

    x = rng.normal(size=(B, T, H)) + 3.0  # no zeros: a dropped entry is exactly 0
    bm = np.asarray(dropout(jax.random.key(5), x, 0.5))
    tm = np.asarray(dropout(jax.random.key(5), np.swapaxes(x, 0, 1), 0.5, time_major=True))
    np.testing.assert_array_equal(np.swapaxes(tm, 0, 1), bm)
    kept = bm != 0
    np.testing.assert_allclose(bm[kept], 2.0 * x[kept], rtol=1e-15)  # scaled by 1 / (1 - rate)
    assert 0 < kept.mean() < 1
    params = random_params(rng, "rnn", 2)
    stack = rnn(H, num_layers=2, dropout=0.5)
    got, final = apply(stack, params, x[..., :D], None, key=jax.random.key(7))
    _, sub = jax.random.split(jax.random.key(7))
    y0, f0 = apply(rnn(H), params[:1], x[..., :D], None)
    y1, f1 = apply(rnn(H), params[1:], dropout(sub, y0, 0.5), None)
    np.testing.assert_allclose(got, y1, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(final, np.concatenate([f0, f1]), rtol=1e-12, atol=1e-14)


def test_classifier_dropout_only_with_a_key(rng):
    model = Classifier(rnn(H), V, embed_dim=4, num_classes=3, dropout=0.5)
    params = classifier_params(rng, model)
    lengths = np.array([3, T, 1, 5])
    ids = random_ids(rng, lengths)
    base = np.asarray(logits_of(model, params, ids, lengths))
    np.testing.assert_array_equal(logits_of(model, params, ids, lengths), base)
    a = np.asarray(logits_of(model, params, ids, lengths, key=jax.random.key(3)))
    b = np.asarray(logits_of(model, params, ids, lengths, key=jax.random.key(4)))
    assert np.abs(a - base).max() > 1e-6 and np.abs(a - b).max() > 1e-6


# ----------------------------------------------------------------------------- stacking


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (1, True), (3, False), (2, True)])
def test_shapes(cell, num_layers, bidirectional):
    """Shapes only: ``eval_shape`` traces without compiling or computing."""
    layer = RecurrentLayer(cell, H, num_layers, bidirectional)
    nd, g = (2 if bidirectional else 1), num_gates(cell)
    params = jax.eval_shape(lambda k: layer.init(k, D), jax.random.key(0))
    assert len(params) == num_layers
    for i, layer_params in enumerate(params):
        assert len(layer_params) == nd
        for p in layer_params:
            assert p.w_ih.shape == (g * H, D if i == 0 else nd * H)
            assert p.w_hh.shape == (g * H, H) and p.b_ih.shape == p.b_hh.shape == (g * H,)
    x = jax.ShapeDtypeStruct((B, T, D), jnp.float32)
    out, final = jax.eval_shape(layer.apply, params, x, jnp.zeros(B, int))
    assert out.shape == (B, T, nd * H) == (B, T, layer.output_size)
    assert isinstance(final, LSTMState) == has_cell_state(cell)
    for s in jax.tree.leaves(final):
        assert s.shape == (num_layers * nd, B, H)


def test_initial_state_is_routed_in_pytorch_order(rng):
    """State ``k`` seeds layer ``k // dirs``, direction ``k % dirs``, and only it."""
    params = random_params(rng, "lstm", 2, True)
    x = rng.normal(size=(B, T, D))
    lengths = np.array([0, T, 3, 5])
    state = random_state(rng, "lstm")
    out, final = apply(BILSTM, params, x, lengths, initial_state=state)
    # The empty sequence never steps: its final state is its initial state, slot by slot.
    for ours, given in zip(jax.tree.leaves(final), jax.tree.leaves(state), strict=True):
        np.testing.assert_array_equal(ours[:, 0], given[:, 0])
    zero_out, _ = apply(BILSTM, params, x, lengths)
    assert np.abs(np.asarray(out) - zero_out)[1:].max(axis=(1, 2)).min() > 1e-6  # state matters
    # Perturb slot 1 (layer 0, backward): layer 0 forward (slot 0) must not move, the
    # slots it feeds (1, and layer 1's 2 and 3) must.
    bumped = jax.tree.map(lambda s: s + (np.arange(4) == 1)[:, None, None], state)
    _, final_b = apply(BILSTM, params, x, lengths, initial_state=bumped)
    moved = np.abs(final_b.h - final.h)[:, 1:].max(axis=(1, 2))  # skip the empty sequence
    assert moved[0] == 0 and np.all(moved[1:] > 1e-6), moved


@pytest.mark.parametrize("cell", CELLS)
def test_init_cell_params_is_kerass_initialisation(cell):
    """``init_cell_params`` (Keras' scheme): ``w_ih`` Glorot-uniform over the whole kernel,
    within ``sqrt(6 / (D + G*H))`` and filling it; ``w_hh`` an orthogonal block per gate;
    biases by default, zero except the LSTM's forget gate (one); ``bias=False``: none."""
    from jaxrnn.nn.cells import init_cell_params

    g = num_gates(cell)
    p = init_cell_params(jax.random.key(0), cell, D, H, dtype=jnp.float64)
    limit = np.sqrt(6.0 / (D + g * H))
    assert p.w_ih.shape == (g * H, D) and p.w_hh.shape == (g * H, H)
    assert 0.8 * limit < np.abs(p.w_ih).max() <= limit
    for k in range(g):
        block = np.asarray(p.w_hh[k * H : (k + 1) * H])
        np.testing.assert_allclose(block @ block.T, np.eye(H), atol=1e-12)
    want = np.zeros(g * H)
    if cell == "lstm":
        want[gate_slice(cell, "f", H)] = 1.0
    np.testing.assert_array_equal(p.b_ih, want)
    np.testing.assert_array_equal(p.b_hh, np.zeros(g * H))
    bare = init_cell_params(jax.random.key(0), cell, D, H, bias=False, dtype=jnp.float64)
    assert bare.b_ih is None and bare.b_hh is None
    np.testing.assert_array_equal(bare.w_ih, p.w_ih)


def test_unroll_runs_the_backward_it_is_asked_for(rng):
    """``unroll(impl="custom_vjp")`` runs ``bptt``'s hand-written VJP (a ``custom_vjp`` in
    the program), ``"autodiff"`` the plain scan (none), with the same numbers."""
    from jaxrnn.nn.cells import project_inputs
    from jaxrnn.nn.sequence import unroll

    p = random_params(rng, "gru")[0][0]
    xp = project_inputs(p, rng.normal(size=(B, T, D)))
    lengths, h0 = np.array([T, 3, 0, 5]), rng.normal(size=(B, H))
    outs = {}
    for impl in ("custom_vjp", "autodiff"):
        run = functools.partial(unroll, "gru", p, lengths=lengths, impl=impl)
        program = str(jax.make_jaxpr(lambda xp, h, run=run: run(xp=xp, carry=h))(xp, h0))
        assert ("custom_vjp_call" in program) == (impl == "custom_vjp"), impl
        outs[impl] = run(xp=xp, carry=h0)
    for a, b in zip(jax.tree.leaves(outs["custom_vjp"]), jax.tree.leaves(outs["autodiff"]),
                    strict=True):  # fmt: skip
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def _primitives(f, *args):
    """Every primitive of ``f``'s program (sub-programs included), by name."""
    from jax.extend import core as jcore

    out = []

    def walk(jaxpr):
        for e in jaxpr.eqns:
            out.append(e.primitive.name)
            for v in e.params.values():
                for sub in v if isinstance(v, (tuple, list)) else (v,):
                    if isinstance(sub, jcore.ClosedJaxpr):
                        walk(sub.jaxpr)
                    elif isinstance(sub, jcore.Jaxpr):
                        walk(sub)

    walk(jax.make_jaxpr(f)(*args).jaxpr)
    return out


def test_layer_runs_the_loops_it_is_asked_for(rng):
    """``impl="custom_vjp"``: one hand-written-VJP loop per direction, or one for both with
    ``stack_directions``; ``"autodiff"``: scans and no custom VJP; ``use_scan=False``: a
    Python loop (no loop in the program), whatever ``impl``."""
    params = random_params(rng, "gru", 1, True)
    x = rng.normal(size=(B, T, D))

    def count(use_scan=True, **kw):
        layer = RecurrentLayer("gru", H, 1, True, **kw)
        prims = _primitives(lambda p, x: layer.apply(p, x, None, use_scan=use_scan), params, x)
        return prims.count("custom_vjp_call"), prims.count("scan") + prims.count("while")

    assert count() == (2, 2)
    assert count(_options=_Options(stack_directions=True)) == (1, 1)
    assert count(impl="autodiff") == (0, 2)
    assert count(False) == count(False, impl="autodiff") == (0, 0)


@pytest.mark.parametrize("cell", ["gru", "mingru"])
def test_step_by_step_equals_apply(cell):
    """``step`` (one time step of a unidirectional stack: streaming, sampling) over a sequence
    == ``apply``: every output and the final state, 2 layers, params from ``init`` (a parallel
    cell's from its NumPy initialiser), float64."""
    layer = RecurrentLayer(cell, H, num_layers=2)
    params = layer.init(jax.random.key(0), D, jnp.float64)
    x = np.random.default_rng(0).normal(size=(B, T, D))
    out, final = apply(layer, params, x, None)
    step = jax.jit(RecurrentLayer.step, static_argnums=0, compiler_options=FAST_COMPILE)
    state = layer.zero_state(B, jnp.float64)
    for t in range(T):
        state, y = step(layer, params, state, x[:, t])
        np.testing.assert_allclose(y, out[:, t], rtol=1e-10, atol=1e-12)
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(final), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_parallel_stack_routes_states_and_drops_only_with_a_key(rng):
    """A parallel cell's bidirectional stack: state ``k`` seeds layer ``k // 2``, direction
    ``k % 2`` (an empty sequence's final state is its initial one, slot by slot; moving slot 1
    moves layer 0's backward direction and what it feeds, not layer 0's forward one); dropout
    between layers only with a key."""
    layer = RecurrentLayer("mingru", H, 2, True, dropout=0.5)
    params = layer.init(jax.random.key(0), D, jnp.float64)
    x, lengths = rng.normal(size=(B, T, D)), np.array([0, T, 3, 5])
    state = np.abs(rng.normal(size=(4, B, H)))
    out, final = apply(layer, params, x, lengths, initial_state=state)
    np.testing.assert_array_equal(final[:, 0], state[:, 0])
    bumped = state + (np.arange(4) == 1)[:, None, None]
    _, final_b = apply(layer, params, x, lengths, initial_state=bumped)
    moved = np.abs(np.asarray(final_b) - final)[:, 1:].max(axis=(1, 2))
    assert moved[0] == 0 and np.all(moved[1:] > 1e-6), moved
    dropped, _ = apply(layer, params, x, lengths, key=jax.random.key(1), initial_state=state)
    assert np.abs(np.asarray(dropped) - out).max() > 1e-3


@pytest.mark.parametrize("cell", VJP_CELLS)
def test_grad_dtypes_follow_the_params(cell, rng):
    """jax.grad gives each gradient its primal's dtype and shape, here float32 params and
    inputs with a float64 initial state (possible with x64 enabled: the outputs are then
    float64). The hand-written VJP (``impl="bptt"``, one loop per direction or both in
    one) gives autodiff's dtypes, shapes and numbers."""
    lengths = np.array([T, 2, 0, 4])
    params = random_params(rng, cell, 2, True, dtype=np.float32)
    x = rng.normal(size=(B, T, D)).astype(np.float32)
    state = jax.tree.map(
        lambda z: rng.normal(size=z.shape), RecurrentLayer(cell, H, 2, True).zero_state(B)
    )  # float64
    primals = (params, x, state)
    grads = {}
    for impl, stacked in [("autodiff", False), ("bptt", False), ("bptt", True)]:  # bptt: custom_vjp
        layer = RecurrentLayer(cell, H, 2, True, impl=impl, _options=_Options(stacked))

        def loss(p, x, s, layer=layer):
            out, final = layer.apply(p, x, lengths, initial_state=s)
            return jnp.sum(out) + sum(jnp.sum(jnp.sin(f)) for f in jax.tree.leaves(final))

        g = jax.jit(jax.grad(loss, argnums=(0, 1, 2)), compiler_options=FAST_COMPILE)(*primals)
        assert jax.tree.structure(g) == jax.tree.structure(primals)
        for gl, pl in zip(jax.tree.leaves(g), jax.tree.leaves(primals), strict=True):
            assert (gl.dtype, gl.shape) == (pl.dtype, pl.shape), (impl, stacked)
        grads[impl, stacked] = g
    assert {a.dtype for a in jax.tree.leaves(grads["bptt", False][0])} == {np.dtype(np.float32)}
    assert {a.dtype for a in jax.tree.leaves(grads["bptt", False][2])} == {np.dtype(np.float64)}
    ref = jax.tree.leaves(grads["autodiff", False])
    for key in [("bptt", False), ("bptt", True)]:
        for a, b in zip(jax.tree.leaves(grads[key]), ref, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, err_msg=str(key))


def test_factories_defaults():
    """Each factory's layer: one layer, one direction, no dropout, biases, its cell; the
    parallel cells' factories run the parallel scan unless told ``scan="sequential"``."""
    from jaxrnn.nn.sequence import gru, lru, mingru, minlstm

    def fields(layer):
        return (layer.cell, layer.hidden_size, layer.num_layers, layer.bidirectional,
                layer.dropout, layer.bias, layer._options.scan)  # fmt: skip

    for make, cell in ((rnn, "rnn"), (lstm, "lstm"), (gru, "gru"), (mingru, "mingru"),
                       (minlstm, "minlstm"), (lru, "lru")):  # fmt: skip
        assert fields(make(4)) == (cell, 4, 1, False, 0.0, True, "parallel"), cell
    assert rnn(3, nonlinearity="relu").cell == "rnn_relu"
    assert fields(minlstm(5, 2, True, 0.25, "sequential")) == (
        "minlstm", 5, 2, True, 0.25, True, "sequential")
    assert fields(gru(5, 3, True, 0.5, False)) == ("gru", 5, 3, True, 0.5, False, "parallel")


def test_factories_refuse_bad_arguments_in_one_line():
    import jaxrnn

    for call, needle in [(lambda: jaxrnn.lstm(0), "hidden_size must be a positive integer"),
                         (lambda: jaxrnn.gru(4.0), "hidden_size must be a positive integer"),
                         (lambda: jaxrnn.lstm(4, num_layers=0), "num_layers must be"),
                         (lambda: jaxrnn.rnn(4, dropout=1.5), "dropout must be in"),
                         (lambda: jaxrnn.lstm(4, bidirectional="no"), "True or False"),
                         (lambda: jaxrnn.mingru(4, block=True, block_ff=0), "block_ff"),
                         ]:  # fmt: skip
        with pytest.raises(ValueError, match=needle):
            call()


def test_apply_says_what_its_inputs_must_be():
    import jaxrnn

    layer, par = jaxrnn.gru(4), jaxrnn.mingru(4)
    p, q = layer.init(jax.random.key(0), 3), par.init(jax.random.key(0), 3)
    x = jnp.ones((2, 5, 3))
    for call, needle in [(lambda: layer.apply(p, x[0]), r"\[B, T, D\], got shape \(5, 3\)"),
                         (lambda: layer.apply(p, x.astype(jnp.int32)), "floating point"),
                         (lambda: layer.apply(p, x, jnp.array([1.0, 2.0])), "integers"),
                         (lambda: layer.apply(p, x, jnp.array([1, 2, 3])), r"shape \(3,\)"),
                         (lambda: par.apply(q, x[:, :0]), "T >= 1"),
                         # D against the params (was a dot_general TypeError in the scan)
                         (lambda: layer.apply(p, jnp.ones((2, 5, 7))), "7 features .* for 3"),
                         (lambda: par.apply(q, jnp.ones((2, 5, 2))), "2 features .* for 3"),
                         ]:  # fmt: skip
        with pytest.raises(ValueError, match=needle):
            call()
    assert layer.apply(p, x[:, :0])[0].shape == (2, 0, 4)  # zero steps: a recurrent cell's
