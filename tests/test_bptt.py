"""The hand-written BPTT (``jaxrnn.nn.bptt``) equals ``jax.grad`` of the plain scan, float64.

Every cell, with and without bias, random lengths (always one empty and one
full-length sequence), junk in the padded positions, cotangents on both the
outputs and the final state, gradients w.r.t. params, inputs and initial carry.
Inputs come from NumPy (no JAX compiles); each compiled function runs both
paths at once and is shared across tests (about 16 compiles in all).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrnn.nn import bptt, sequence
from jaxrnn.nn.cells import CELLS as REGISTERED
from jaxrnn.nn.cells import CellParams, LSTMState, get_cell, project_inputs
from jaxrnn.weights.layout import num_gates

B, T, D, H = 4, 7, 3, 5
# Every registered cell with a hand-written VJP (the others run with autodiff only).
CELLS = tuple(name for name, c in REGISTERED.items() if c.vjp is not None)
RTOL, ATOL = 1e-10, 1e-12


def _inputs(seed: int, cell: str, bias: bool = True, lead: tuple[int, ...] = ()):
    """Params, junk-padded inputs, lengths (incl. 0 and T), initial carry, cotangents.

    ``lead``: extra leading axes on everything (e.g. a seed axis for ``vmap``).
    """
    rng = np.random.default_rng(seed)
    g = num_gates(cell)

    def normal(*shape, scale=1.0):
        return rng.normal(0.0, scale, (*lead, *shape))

    params = CellParams(
        normal(g * H, D, scale=0.6),
        normal(g * H, H, scale=0.4),
        normal(g * H) if bias else None,
        normal(g * H) if bias else None,
    )
    x = normal(B, T, D, scale=3.0)  # junk everywhere, the padded positions included
    lengths = rng.integers(0, T + 1, (*lead, B))
    lengths[..., 0], lengths[..., 1] = 0, T
    h0 = normal(B, H)
    hc = get_cell(cell).spec.has_cell_state
    carry = LSTMState(h0, normal(B, H)) if hc else h0
    dy = normal(B, T, H)
    dfinal = LSTMState(normal(B, H), normal(B, H)) if hc else normal(B, H)
    return params, x, lengths, carry, dy, dfinal


def _loss(run, params, x, lengths, carry, dy, dfinal):
    """Cotangent ``dy`` on the outputs and ``dfinal`` on the final state; aux: the outputs."""
    ys, final = run(params, x, lengths, carry)
    leaves = jax.tree.leaves(jax.tree.map(lambda f, w: jnp.sum(f * w), final, dfinal))
    return jnp.sum(ys * dy) + sum(leaves), (ys, final)


def _autodiff_run(cell):
    def run(params, x, lengths, carry):
        xp = project_inputs(params, x)
        return sequence.unroll(cell, params, xp, lengths, carry, impl="autodiff")

    return run


def _bptt_run(cell, **opts):
    def run(params, x, lengths, carry):
        return bptt.layer(cell, params, x, lengths, carry, **opts)

    return run


def _both(cell: str, opts: tuple = ()):
    """``((loss, aux), grads)`` of the autodiff path and of the custom VJP, as one function."""
    grad = functools.partial(jax.value_and_grad, argnums=(0, 1, 3), has_aux=True)
    ref = grad(functools.partial(_loss, _autodiff_run(cell)))
    new = grad(functools.partial(_loss, _bptt_run(cell, **dict(opts))))
    return lambda *args: (ref(*args), new(*args))


@functools.cache
def _compiled(cell: str, opts: tuple = ()):
    return jax.jit(_both(cell, opts))


def _assert_tree_close(a, b, msg=""):
    assert jax.tree.structure(a) == jax.tree.structure(b), msg
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert u.dtype == v.dtype == jnp.float64, msg
        np.testing.assert_allclose(v, u, rtol=RTOL, atol=ATOL, err_msg=msg)


def _check(ref, new, msg=""):
    (l_ref, aux_ref), g_ref = ref
    (l_new, aux_new), g_new = new
    np.testing.assert_allclose(l_new, l_ref, rtol=1e-12, err_msg=msg)
    _assert_tree_close(aux_ref, aux_new, msg)  # forward: outputs and final state
    _assert_tree_close(g_ref, g_new, msg)  # params, inputs, initial carry


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("cell", CELLS)
def test_custom_vjp_equals_autodiff(cell, bias):
    f = _compiled(cell)
    for seed in range(3):
        args = _inputs(seed, cell, bias)
        ref, new = f(*args)
        _check(ref, new, f"{cell} bias={bias} seed={seed}")
        (_, (ys, final)), (_, dx, dcarry) = new
        mask = np.arange(T)[None, :] < args[2][:, None]
        assert np.all(np.asarray(ys)[~mask] == 0)  # zero outputs past the end
        assert np.all(np.asarray(dx)[~mask] == 0)  # padding gets no gradient
        # The empty sequence keeps its initial state and passes the final-state
        # cotangent straight to the initial carry.
        _assert_tree_close(
            jax.tree.map(lambda c: c[0], args[3]), jax.tree.map(lambda c: c[0], final)
        )
        _assert_tree_close(
            jax.tree.map(lambda c: c[0], args[5]), jax.tree.map(lambda c: c[0], dcarry)
        )


@pytest.mark.parametrize(
    "cell,opts",
    [
        ("lstm", (("hoist", False), ("fused", False), ("unroll", 2))),
        ("lstm", (("batch_groups", 2),)),
        ("lstm", (("transpose_dz", False),)),
        ("gru", (("transpose_dz", False),)),
        ("gru", (("hoist", False), ("fused", False), ("unroll", 2))),
        ("rnn", (("fused", False), ("unroll", 3))),
        # the step matmuls as (w @ h.T).T (on by default only from H = 256)
        ("lstm", (("feature_major", True), ("chunk", 3))),
        ("gru", (("feature_major", True), ("batch_groups", 2))),
        ("rnn", (("feature_major", True),)),
    ],
)
def test_options_give_the_same_gradients(cell, opts):
    ref, new = _compiled(cell, opts)(*_inputs(11, cell))
    _check(ref, new, f"{cell} {opts}")


def test_no_lengths_means_full_length():
    params, x, _, carry, dy, dfinal = _inputs(3, "lstm")
    ref, new = _compiled("lstm")(params, x, None, carry, dy, dfinal)
    _check(ref, new)
    full = _compiled("lstm")(params, x, np.full(B, T), carry, dy, dfinal)[1]
    _assert_tree_close(full[1], new[1])


def test_vmap_over_seeds_matches_per_seed():
    cell, seeds = "gru", 3
    batched = _inputs(5, cell, lead=(seeds,))
    ref, new = jax.jit(jax.vmap(_both(cell)))(*batched)
    _check(ref, new, "vmapped")
    for s in range(seeds):
        one = jax.tree.map(lambda a, s=s: a[s], batched)
        _, new_s = _compiled(cell)(*one)
        _assert_tree_close(new_s[1], jax.tree.map(lambda a, s=s: a[s], new[1]), f"seed {s}")


def test_second_call_does_not_recompile():
    f = _compiled("rnn")
    f(*_inputs(0, "rnn"))
    size = f._cache_size()
    f(*_inputs(1, "rnn"))  # new values, same shapes and dtypes
    assert f._cache_size() == size


def test_layer_impls_agree_stacked_bidirectional_with_dropout(cell="lstm"):
    """``RecurrentLayer(impl="bptt")`` (alias of ``"custom_vjp"``) == ``"autodiff"``: 2 layers,
    both directions (as two loops and stacked in one), masking, an initial state and dropout between
    layers (the same mask in all)."""
    a = sequence.RecurrentLayer(cell, H, 2, True, dropout=0.3, impl="autodiff")
    b = sequence.RecurrentLayer(cell, H, 2, True, dropout=0.3, impl="bptt")
    c = sequence.RecurrentLayer(cell, H, 2, True, 0.3, impl="custom_vjp",
                                _options=sequence._Options(stack_directions=True))
    rng = np.random.default_rng(0)
    params = jax.tree.map(
        lambda p: rng.normal(0, 0.5, p.shape),
        jax.eval_shape(lambda k: a.init(k, D), jax.random.key(0)),
    )
    _, x, lengths, _, _, _ = _inputs(1, cell)
    init = jax.tree.map(lambda z: rng.normal(0, 1, z.shape), a.zero_state(B, jnp.float64))
    w = rng.normal(0, 1, (B, T, 2 * H))
    drop = jax.random.key(3)

    def loss(layer, params, x, init):
        ys, final = layer.apply(params, x, lengths, key=drop, initial_state=init)
        return jnp.sum(ys * w) + sum(jnp.sum(jnp.sin(f)) for f in jax.tree.leaves(final)), ys

    def both(params, x, init):
        return [
            jax.grad(functools.partial(loss, m), argnums=(0, 1, 2), has_aux=True)(params, x, init)
            for m in (a, b, c)
        ]

    (g_a, ys_a), (g_b, ys_b), (g_c, ys_c) = jax.jit(both)(params, x, init)
    _assert_tree_close(ys_a, ys_b)
    _assert_tree_close(g_a, g_b)
    _assert_tree_close(ys_a, ys_c)
    _assert_tree_close(g_a, g_c)


def test_unroll_impl_keyword_and_validation():
    cell = "rnn"
    params, x, lengths, carry, _, _ = _inputs(9, cell)

    @jax.jit
    def both(params, x, carry):
        xp = project_inputs(params, x)
        return [sequence.unroll(cell, params, xp, lengths, carry, impl=i) for i in sequence.IMPLS]

    out = both(params, x, carry)
    _assert_tree_close(out[0], out[1])
    with pytest.raises(ValueError, match="impl"):
        sequence.unroll(cell, params, x, lengths, carry, impl="nope")
    with pytest.raises(ValueError, match="impl"):
        sequence.RecurrentLayer("lstm", 4, impl="nope")
    with pytest.raises(ValueError, match="unknown cell"):
        bptt.layer("elman", params, x, lengths, carry)
    ys, final = bptt.layer(cell, params, x[:, :0], None, carry)  # T = 0
    assert ys.shape == (B, 0, H)
    np.testing.assert_array_equal(final, carry)


def _program(f, *args):
    """The primitives of ``f``'s program, each with how many loops (scan / while) hold it."""
    from jax.extend import core as jcore

    out = []

    def walk(jaxpr, loops):
        for e in jaxpr.eqns:
            out.append((e.primitive.name, loops))
            inner = loops + (e.primitive.name in ("scan", "while"))
            for v in e.params.values():
                for sub in v if isinstance(v, (tuple, list)) else (v,):
                    if isinstance(sub, jcore.ClosedJaxpr):
                        walk(sub.jaxpr, inner)
                    elif isinstance(sub, jcore.Jaxpr):
                        walk(sub, inner)

    walk(jax.make_jaxpr(f)(*args).jaxpr, 0)
    return out


def test_speed_options_shape_the_program():
    """What the speed options promise, read off the forward program (no compile): ``fused``
    one ``G*H``-wide recurrent matmul a step (one per gate without it); ``hoist=False`` the
    input projection inside the loop (one matmul before it by default); ``batch_groups`` that
    many loops over batch slices when it divides ``B`` (None: 2 from ``B = 64``, else 1)."""

    def loops_and_matmuls(cell, batch, **opts):
        params = _inputs(0, cell)[0]
        hc = get_cell(cell).spec.has_cell_state
        carry = LSTMState(np.zeros((batch, H)), np.zeros((batch, H))) if hc else np.zeros(
            (batch, H))
        prog = _program(lambda p, x, c: bptt.layer(cell, p, x, None, c, **opts), params,
                        np.zeros((batch, T, D)), carry)  # fmt: skip
        loops = sum(name in ("scan", "while") and d == 0 for name, d in prog)
        return loops, sum(name == "dot_general" and d > 0 for name, d in prog) // loops

    assert loops_and_matmuls("lstm", B) == (1, 1)
    assert loops_and_matmuls("lstm", B, fused=False) == (1, 4)
    assert loops_and_matmuls("lstm", B, hoist=False) == (1, 2)  # the input matmul in the loop
    assert loops_and_matmuls("gru", B, fused=False) == (1, 3)
    assert loops_and_matmuls("lstm", B, batch_groups=2) == (2, 1)
    assert loops_and_matmuls("lstm", B, batch_groups=3) == (1, 1)  # 3 does not divide 4
    assert loops_and_matmuls("rnn", 64) == (2, 1)
    assert loops_and_matmuls("rnn", 63) == (1, 1)


def test_feature_major_rule_and_program(monkeypatch):
    """``feature_major=None`` runs the step matmul as ``(w_hh @ h.T).T`` from a hidden size of
    ``FEATURE_MAJOR_MIN_HIDDEN`` up to ``FEATURE_MAJOR_MAX_BATCH`` rows per loop (a batch
    split into groups counts per group), in float32 on a CPU without AVX-512; the form shows
    as barriers around the matmul in the loop, forward and back. Traced only."""
    rule = bptt._feature_major
    monkeypatch.setattr(bptt, "_avx512", lambda: True)  # AVX-512 (or bfloat16): never
    assert not rule(None, 32, 256) and not rule(None, 1, 512) and rule(True, 64, 8)
    monkeypatch.setattr(bptt, "_avx512", lambda: False)  # AVX2: by the sizes
    assert rule(None, 32, 256) and rule(None, 1, 512) and rule(True, 64, 8)
    assert not rule(None, 33, 256) and not rule(None, 16, 128) and not rule(False, 16, 512)
    assert not rule(None, 32, 256, low=True) and rule(True, 32, 256, low=True)

    def barriers(batch, hidden, **opts):
        rng = np.random.default_rng(0)
        p = CellParams(rng.normal(size=(4 * hidden, D)), rng.normal(size=(4 * hidden, hidden)),
                       None, None)  # fmt: skip
        c = LSTMState(np.zeros((batch, hidden)), np.zeros((batch, hidden)))
        x = np.zeros((batch, 2, D))

        def f(p, x, c):
            return jax.grad(lambda p: jnp.sum(bptt.layer("lstm", p, x, None, c, **opts)[0]))(p)

        return sum(n == "optimization_barrier" and d > 0 for n, d in _program(f, p, x, c))

    assert barriers(32, 256) == 4  # two loops (forward, back), two barriers a step each
    assert barriers(64, 256) == 8  # two batch groups of 32
    assert barriers(64, 256, batch_groups=1) == barriers(4, 128) == 0
    assert barriers(4, 8, feature_major=True) == 4


def test_feature_major_in_mixed_precision():
    """bfloat16 weight matrices (``--dtype bfloat16``'s mixed precision): the feature-major
    step matmuls give the batch-major ones' outputs and gradients up to float32 rounding."""
    rng = np.random.default_rng(4)
    shapes = ((4 * H, D), (4 * H, H), (4 * H,), (4 * H,))
    p = CellParams(*(jnp.asarray(rng.normal(0, 0.3, s), jnp.float32) for s in shapes))
    x, w = (jnp.asarray(rng.normal(size=(B, T, n)), jnp.float32) for n in (D, H))
    zero = jnp.zeros((B, H), jnp.float32)

    def grads(fm):
        def loss(p, x):
            low = p._replace(w_ih=p.w_ih.astype(jnp.bfloat16), w_hh=p.w_hh.astype(jnp.bfloat16))
            ys, _ = bptt.layer("lstm", low, x, None, LSTMState(zero, zero), feature_major=fm)
            return jnp.sum(ys * w)

        return jax.value_and_grad(loss, argnums=(0, 1))(p, x)

    ref, new = jax.jit(lambda: (grads(False), grads(True)))()
    for u, v in zip(jax.tree.leaves(ref), jax.tree.leaves(new), strict=True):
        assert u.dtype == v.dtype == jnp.float32
        np.testing.assert_allclose(v, u, rtol=1e-4, atol=1e-5)


def test_chunked_loop_runs_only_the_chunks_the_longest_sequence_needs(monkeypatch):
    """``chunk=C``: the forward runs ``C * ceil(max(lengths) / C)`` steps (none when every
    sequence is empty), all ``T`` without lengths; counted by a callback in the cell's step."""
    from jaxrnn.nn import cells

    steps = []
    cell = cells.get_cell("rnn")

    def forward(carry, xp, hh):
        jax.debug.callback(lambda: steps.append(1))
        return cell.vjp.forward(carry, xp, hh)

    monkeypatch.setitem(cells.CELLS, "rnn", cell._replace(vjp=cell.vjp._replace(forward=forward)))
    params, *_ = _inputs(0, "rnn")
    x, h0 = np.ones((3, 12, D)), np.zeros((3, H))
    run = jax.jit(lambda x, n: bptt.layer("rnn", params, x, n, h0, chunk=4))
    for lengths, want in (([0, 4, 2], 4), ([0, 0, 0], 0), ([5, 1, 12], 12), ([9, 0, 8], 12),
                          (None, 12)):  # fmt: skip
        steps.clear()
        jax.block_until_ready(run(x, None if lengths is None else np.array(lengths)))
        jax.effects_barrier()
        assert len(steps) == want, (lengths, len(steps))


@pytest.mark.parametrize("steps", [1, 0])
def test_unroll_of_one_step_and_of_none(steps):
    """``unroll`` (``bptt.scan_projected`` under ``impl="custom_vjp"``) and ``bptt.layer`` of
    a one-step and of an empty sequence: autodiff's outputs ``[B, T, H]`` and final state;
    T = 0: no outputs, the carry unchanged."""
    cell = "gru"
    params, x, lengths, carry, _, _ = _inputs(2, cell)
    xp = project_inputs(params, x[:, :steps])
    lengths = np.minimum(lengths, steps)
    new, ref = (sequence.unroll(cell, params, xp, lengths, carry, impl=i) for i in sequence.IMPLS)
    assert new[0].shape == (B, steps, H)
    _assert_tree_close(ref, new)
    raw = bptt.layer(cell, params, x[:, :steps], lengths, carry)  # over raw inputs
    _assert_tree_close(ref, raw)
    if steps == 0:
        np.testing.assert_array_equal(new[1], carry)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_inference_takes_the_cells_infer_step_and_training_its_forward(cell, monkeypatch):
    """Run without a gradient, the loop steps with ``CellVJP.infer`` (its activations behind an
    optimisation barrier: 1.5-2x faster forward on XLA:CPU); under ``jax.grad`` with
    ``CellVJP.forward``, which keeps residuals. Both give the outputs the other tests check
    against ``jax.grad`` of the plain scan. Traced only (``lower``): no compile."""
    from jaxrnn.nn import cells

    orig = cells.CELLS[cell]
    calls = []

    def spy(*args):
        calls.append(1)
        return orig.vjp.infer(*args)

    monkeypatch.setitem(cells.CELLS, cell, orig._replace(vjp=orig.vjp._replace(infer=spy)))
    params, x, lengths, carry, dy, dfinal = _inputs(0, cell)

    def run(p, x):
        return bptt.layer(cell, p, x, lengths, carry)[0]

    jax.jit(jax.grad(lambda p, x: jnp.sum(run(p, x) * dy))).lower(params, x)
    assert not calls
    lowered = jax.jit(run).lower(params, x)
    assert calls and "optimization_barrier" in lowered.as_text()


@pytest.mark.parametrize("dtype, atol", [(jnp.float32, 1e-6), (jnp.float64, 1e-14)])
def test_lstm_vjp_forward_gates_equal_the_plain_step(dtype, atol):
    """The custom VJP's LSTM step computes its four gates in one kernel as
    ``s * tanh(s * a) + (1 - s)`` (``cells._lstm_forward``): the same values as the plain
    ``lstm_step``'s sigmoid / tanh, saturated pre-activations included (|a| up to ~100), for
    training (residuals) and inference (``infer``)."""
    b, h = 3, 8
    rng = np.random.default_rng(0)
    a = jnp.asarray(rng.normal(size=(b, 4 * h)) * np.geomspace(0.1, 100, 4 * h), dtype)
    carry = LSTMState(*(jnp.asarray(rng.normal(size=(b, h)), dtype) for _ in range(2)))
    zero = jnp.zeros((4 * h, h), dtype)
    want, _ = get_cell("lstm").step(CellParams(zero, zero, None, None), carry, a)
    vjp = get_cell("lstm").vjp
    for forward in (vjp.forward, vjp.infer):
        got, out, *res = forward(carry, (a,), jnp.zeros_like(a))
        np.testing.assert_allclose(got.c, want.c, atol=atol, rtol=0)
        np.testing.assert_allclose(got.h, want.h, atol=atol, rtol=0)
        np.testing.assert_allclose(out, want.h, atol=atol, rtol=0)
    i, f, g, o, _ = vjp.forward(carry, (a,), jnp.zeros_like(a))[2]
    sig = jax.nn.sigmoid
    for got, want in ((i, sig(a[:, :h])), (f, sig(a[:, h:2 * h])), (g, jnp.tanh(a[:, 2 * h:3 * h])),
                      (o, sig(a[:, 3 * h:]))):  # fmt: skip
        np.testing.assert_allclose(got, want, atol=atol, rtol=0)


@functools.cache
def _ids_grad(cell: str, layers: int, lookup: bool, masked: bool, dtype=jnp.float64):
    """Outputs, final state and gradients (params and embedding) of a ``RecurrentLayer``
    over embedded token ids, through ``apply_ids`` (table lookup or not); one compiled
    function per case, shared by the tests below."""
    layer = sequence.RecurrentLayer(cell, 6, num_layers=layers,
                                    _options=sequence._Options(lookup=lookup))  # fmt: skip
    params = layer.init(jax.random.PRNGKey(0), 4, dtype)
    embed = jax.random.normal(jax.random.PRNGKey(1), (9, 4), dtype)
    ids = jax.random.randint(jax.random.PRNGKey(2), (3, 5), 0, 9)
    lengths = jnp.array([5, 2, 4]) if masked else None

    def loss(params, embed):
        ys, state = layer.apply_ids(params, embed, ids, lengths)
        return jnp.sum(jnp.sin(ys)) + sum(jnp.sum(jnp.cos(s)) for s in jax.tree.leaves(state)), ys

    (value, ys), grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))(
        params, embed)
    return value, ys, grads


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("layers, masked", [(1, False), (2, True)])
def test_apply_ids_lookup_equals_embedding_then_apply(cell, layers, masked):
    """``apply_ids`` with the first layer's projection as a table lookup (``bptt.
    layer_lookup``: the table's gradient summed inside the backward loop) gives the outputs
    and the gradients of embedding the ids and running ``apply`` (float64), with and without
    lengths, under a second layer."""
    want = _ids_grad(cell, layers, False, masked)
    got = _ids_grad(cell, layers, True, masked)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_apply_ids_lookup_in_float32():
    """The same in float32, as training runs it (an LSTM LM's first layer, lengths, two
    layers): equal to rounding."""
    want = _ids_grad("lstm", 2, False, True, jnp.float32)
    got = _ids_grad("lstm", 2, True, True, jnp.float32)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert a.dtype == jnp.float32
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_apply_ids_takes_the_lookup_only_where_it_pays():
    """``bptt.lookup_pays``: a table of at most B * T rows and one loop (B < 64); and
    ``apply_ids`` refuses float ids in one line."""
    assert bptt.lookup_pays(40, 16, 64) and bptt.lookup_pays(15, 3, 5)
    assert not bptt.lookup_pays(16, 3, 5)  # more token types than tokens
    assert not bptt.lookup_pays(40, 64, 64)  # layer() splits B >= 64 into two loops
    layer = sequence.RecurrentLayer("lstm", 4)
    params = layer.init(jax.random.PRNGKey(0), 3)
    with pytest.raises(ValueError, match="ids must be integer token ids"):
        layer.apply_ids(params, jnp.ones((5, 3)), jnp.ones((2, 4)))
