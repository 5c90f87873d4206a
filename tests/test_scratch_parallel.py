"""jaxrnn.scratch.parallel_cells: the NumPy twins' forward equals the JAX parallel form and
their hand-written BPTT equals jax.grad of it (float64, 1e-8) and finite differences."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrnn.nn import parallel_cells as pc
from jaxrnn.scratch import parallel_cells as sp
from jaxrnn.weights import parallel_init as pinit

B, T, D, H = 3, 6, 4, 3
LENGTHS = np.array([6, 3, 1])
CASES = list(itertools.product([False, True], [None, LENGTHS]))
CASE_IDS = ["fwd-full", "fwd-pad", "rev-full", "rev-pad"]


def _case(cell: str, seed: int):
    rng = np.random.default_rng(seed)
    params = pinit.init_params(rng, cell, D, H)
    x = rng.standard_normal((B, T, D))
    out_dim = D if cell == "lru" else H
    w_out = rng.standard_normal((B, T, out_dim))
    w_re, w_im = rng.standard_normal((B, H)), rng.standard_normal((B, H))
    return params, x, w_out, w_re, w_im


@pytest.mark.parametrize("cell", list(pc.CELLS))
@pytest.mark.parametrize(("reverse", "lengths"), CASES, ids=CASE_IDS)
def test_backward_matches_jax_grad(cell, reverse, lengths):
    """Loss ``sum(w_out * hs) + sum(w_re * Re h_T) + sum(w_im * Im h_T)``: its gradient w.r.t.
    the final state is ``w_re + i w_im`` (the LRU's complex convention; ``w_re`` otherwise)."""
    params, x, w_out, w_re, w_im = _case(cell, 0)
    lens = None if lengths is None else jnp.asarray(lengths)

    def loss(p, x):
        hs, h_last = pc.get_cell(cell).apply(p, x, lens, reverse)
        tail = jnp.sum(w_re * jnp.real(h_last))
        if cell == "lru":
            tail = tail + jnp.sum(w_im * jnp.imag(h_last))
        return jnp.sum(w_out * hs) + tail

    jp, jx = pc.to_jax(params), jnp.asarray(x)
    g_params, g_x = jax.grad(loss, (0, 1))(jp, jx)
    hs_j, h_last_j = pc.get_cell(cell).apply(jp, jx, lens, reverse)

    hs, cache = sp.forward(params, x, lengths, reverse)
    assert np.max(np.abs(hs - np.asarray(hs_j))) < 1e-10
    assert np.max(np.abs(cache.h_T - np.asarray(h_last_j))) < 1e-10
    dh_T = w_re + 1j * w_im if cell == "lru" else w_re
    grads, dx = sp.backward(w_out, dh_T, cache)
    assert type(grads) is type(params)
    for name, mine, ref in zip(params._fields, grads, g_params, strict=True):
        assert mine.shape == ref.shape, name
        assert np.max(np.abs(mine - np.asarray(ref))) < 1e-8, name
    assert np.max(np.abs(dx - np.asarray(g_x))) < 1e-8


@pytest.mark.parametrize("cell", list(pc.CELLS))
def test_backward_matches_finite_differences(cell):
    """NumPy only: centred differences of ``forward``, every parameter array and x, padded
    and reversed, with an initial state."""
    params, x, w_out, w_re, w_im = _case(cell, 1)
    rng = np.random.default_rng(2)
    h0 = sp.zero_state(params, B) + rng.uniform(0.1, 1.0, (B, H))
    if cell == "lru":
        h0 = h0 + 1j * rng.uniform(-1, 1, (B, H))

    def loss(p, x):
        hs, cache = sp.forward(p, x, LENGTHS, True, h0)
        return np.sum(w_out * hs) + np.sum(w_re * cache.h_T.real) + np.sum(w_im * cache.h_T.imag)

    _, cache = sp.forward(params, x, LENGTHS, True, h0)
    grads, dx = sp.backward(w_out, w_re + 1j * w_im if cell == "lru" else w_re, cache)
    eps = 1e-6
    for name, value, grad in [*zip(params._fields, params, grads, strict=True), ("x", x, dx)]:
        for _ in range(3):
            idx = tuple(rng.integers(0, s) for s in value.shape)
            bump = np.zeros_like(value)
            bump[idx] = eps

            def at(v, name=name):
                return loss(params._replace(**{name: v}), x) if name != "x" else loss(params, v)

            fd = (at(value + bump) - at(value - bump)) / (2 * eps)
            assert abs(fd - grad[idx]) < 1e-7 * max(1.0, abs(fd)), (name, idx)


def test_step_backward_is_the_step_forward_adjoint():
    """One LRU step alone: complex-input gradient convention on ``x_{t-1}``."""
    rng = np.random.default_rng(3)
    p = pinit.lru_params(rng, D, H)
    h = rng.standard_normal((2, H)) + 1j * rng.standard_normal((2, H))
    u = rng.standard_normal((2, D))
    gx = rng.standard_normal((2, H)) + 1j * rng.standard_normal((2, H))

    def loss(h):
        out, _ = sp.lru_step_forward(p, h, u)
        return np.sum(gx.real * out.real + gx.imag * out.imag)

    _, cache = sp.lru_step_forward(p, h, u)
    dh, _, _ = sp.lru_step_backward(gx, cache)
    eps = 1e-6
    for delta, part in ((eps, "real"), (1j * eps, "imag")):
        bump = np.zeros_like(h)
        bump[1, 2] = delta
        fd = (loss(h + bump) - loss(h - bump)) / (2 * eps)
        assert abs(fd - getattr(dh[1, 2], part)) < 1e-8


def test_unknown_params_type_is_one_line_error():
    with pytest.raises(TypeError, match="not parallel-cell params"):
        sp.forward((np.zeros(1),), np.zeros((1, 1, 1)))


@pytest.mark.parametrize("cell", list(pc.CELLS))
def test_unroll_backward_matches_finite_differences(cell):
    """The layer-cell form (``unroll_forward`` / ``unroll_backward``, what
    ``jaxrnn.scratch.layers`` runs): outputs zero past each end, a final carry (the LRU:
    ``LRUState(h, x)``), from a given carry, a length-0 row included; the gradient of
    ``sum(w_y * ys) + <w_c, final carry>`` w.r.t. the params, x and the initial carry equals
    centred differences; without ``d_ys`` only the carry's part. The LRU: ``O != N != D``."""
    from jaxrnn.scratch import layers as sl

    rng = np.random.default_rng(5)
    lengths = np.array([6, 0, 2])
    if cell == "lru":
        params = pinit.lru_params(rng, D, H, output_size=5)
        out = 5
        carry = sl.LRUState(
            rng.standard_normal((B, out)),
            rng.standard_normal((B, H)) + 1j * rng.standard_normal((B, H)),
        )
    else:
        params, out = pinit.init_params(rng, cell, D, H), H
        carry = rng.uniform(0.1, 1.0, (B, H))
    assert sl.numpy_cell(cell).sizes(params) == (D, out)
    x = rng.standard_normal((B, T, D))
    w_y = rng.standard_normal((B, T, out))
    w_h = rng.standard_normal((B, out))
    w_x = rng.standard_normal((B, H)) + 1j * rng.standard_normal((B, H))

    def loss(p, x, carry, with_ys=True):
        ys, final, _ = sp.unroll_forward(p, x, lengths, carry)
        total = np.sum(w_y * ys) if with_ys else 0.0
        if cell == "lru":
            return (
                total
                + np.sum(w_h * final.h)
                + np.sum(w_x.real * final.x.real + w_x.imag * final.x.imag)
            )
        return total + np.sum(w_h * final)

    ys, final, ucache = sp.unroll_forward(params, x, lengths, carry)
    assert not ys[1].any() and not ys[2, 2:].any()
    if cell == "lru":  # the empty row's carry: the initial state's output, its input held at 0
        h0 = carry.x[1]
        np.testing.assert_allclose(final.h[1], h0.real @ params.c_re.T - h0.imag @ params.c_im.T,
                                   rtol=1e-12)  # fmt: skip
    d_carry = (w_h, w_x) if cell == "lru" else w_h
    eps = 1e-6
    for with_ys in (True, False):
        grads, dx, d_init = sp.unroll_backward(params, ucache, w_y if with_ys else None, d_carry)
        assert np.isfinite(dx).all() and not dx[1].any()  # the empty row reads no input
        if cell == "lru":
            assert not d_init.h.any()
            d_init = d_init.x
        c0 = carry.x if cell == "lru" else carry
        checks = [*zip(params._fields, params, grads, strict=True), ("x", x, dx),
                  ("carry", c0, d_init)]  # fmt: skip
        for name, value, grad in checks:
            for _ in range(2):
                idx = tuple(rng.integers(0, s) for s in value.shape)
                for part, delta in (("real", eps), ("imag", 1j * eps)):
                    if part == "imag" and not np.iscomplexobj(value):
                        continue
                    bump = np.zeros_like(value)
                    bump[idx] = delta

                    def at(v, name=name, with_ys=with_ys):
                        if name == "x":
                            return loss(params, v, carry, with_ys)
                        if name == "carry":
                            c = carry._replace(x=v) if cell == "lru" else v
                            return loss(params, x, c, with_ys)
                        return loss(params._replace(**{name: v}), x, carry, with_ys)

                    fd = (at(value + bump) - at(value - bump)) / (2 * eps)
                    got = getattr(np.asarray(grad[idx]), part)
                    assert abs(fd - got) < 1e-7 * max(1.0, abs(fd)), (name, idx, part, with_ys)


def test_g_and_its_derivative_equal_jaxs_on_both_sides_and_at_zero():
    """The NumPy ``g`` and hand-written ``g'`` equal the JAX ``g`` and ``jax.grad`` of it,
    on both branches and exactly at ``k = 0``, where ``g`` is continuous (1/2) but its
    derivative jumps (1 on the ``k >= 0`` side that both take, 1/4 from below)."""
    k = np.array([-3.0, -1e-3, 0.0, 1e-3, 2.0])
    want = np.asarray(pc.g(jnp.asarray(k)))  # float64: conftest enables x64
    dwant = np.asarray(jax.vmap(jax.grad(pc.g))(jnp.asarray(k)))
    np.testing.assert_allclose(sp.g(k), want, rtol=1e-14)
    np.testing.assert_allclose(sp.g_prime(k), dwant, rtol=1e-14)
    assert sp.g(np.array(0.0)) == 0.5 and sp.g_prime(np.array(0.0)) == 1.0
