"""jaxrnn.nn.linear_scan and jaxrnn.nn.parallel_cells: the parallel forms equal the sequential
ones (values and gradients, float64, 1e-10), with padding and in both directions."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrnn.nn import parallel_cells as pc
from jaxrnn.nn.linear_scan import hold_last, linear_scan, log_linear_scan, logcumsumexp
from jaxrnn.weights import parallel_init as pinit

B, T, D, H = 3, 7, 4, 3
LENGTHS = np.array([7, 4, 1])
CASES = list(itertools.product([False, True], [None, LENGTHS]))  # (reverse, lengths)
CASE_IDS = ["fwd-full", "fwd-pad", "rev-full", "rev-pad"]
TOL = 1e-10


def _lens(lengths):
    return None if lengths is None else jnp.asarray(lengths)


def _max_diff(a, b) -> float:
    return max(
        float(jnp.max(jnp.abs(jnp.asarray(x) - jnp.asarray(y))))
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


def _loop_reference(a, b, h0, lengths, reverse):
    """``h_t = a_t h_{t-1} + b_t`` by a Python loop per sequence (NumPy): ``(hs, h_T)``."""
    a, b = np.broadcast_arrays(np.asarray(a), np.asarray(b))
    hs = np.zeros(b.shape, b.dtype)
    h_last = np.zeros((b.shape[0], b.shape[2]), b.dtype)
    for i in range(b.shape[0]):
        n = b.shape[1] if lengths is None else int(lengths[i])
        order = list(range(n))[::-1] if reverse else list(range(n))
        h = np.broadcast_to(h0, h_last.shape)[i].copy()
        for t in order:
            h = a[i, t] * h + b[i, t]
            hs[i, t] = h
        hs[i, n:] = h  # padding holds the state after the last step taken
        h_last[i] = h
    return hs, h_last


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="module")
def x(rng):
    return jnp.asarray(rng.standard_normal((B, T, D)))


@pytest.fixture(scope="module")
def params():
    rng = np.random.default_rng(1)
    return {c: pc.to_jax(pc.get_cell(c).init_params(rng, D, H)) for c in pc.CELLS}


# --------------------------------------------------------------------------- linear_scan


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize(("reverse", "lengths"), CASES, ids=CASE_IDS)
def test_linear_scan_matches_loop(dtype, reverse, lengths):
    rng = np.random.default_rng(2)

    def draw(*shape):
        z = rng.uniform(-1, 1, shape)
        return (z + 1j * rng.uniform(-1, 1, shape)).astype(dtype) if dtype == np.complex128 else z

    a, b, h0 = draw(B, T, H), draw(B, T, H), draw(B, H)
    ref = _loop_reference(a, b, h0, lengths, reverse)
    for method in ("associative", "sequential", "scan"):
        out = linear_scan(jnp.asarray(a), jnp.asarray(b), jnp.asarray(h0), _lens(lengths),
                          reverse, method)  # fmt: skip
        assert _max_diff(out, ref) < TOL, method


@pytest.mark.parametrize(("reverse", "lengths"), CASES, ids=CASE_IDS)
def test_linear_scan_gradients_agree(reverse, lengths):
    rng = np.random.default_rng(3)
    a, b, h0 = (jnp.asarray(rng.uniform(-1, 1, s)) for s in [(B, T, H), (B, T, H), (B, H)])
    w = jnp.asarray(rng.standard_normal((B, T, H)))

    def loss(method, a, b, h0):
        hs, h_last = linear_scan(a, b, h0, _lens(lengths), reverse, method)
        return jnp.sum(w * hs) + jnp.sum(h_last**2)

    g_par = jax.grad(lambda *z: loss("associative", *z), (0, 1, 2))(a, b, h0)
    g_seq = jax.grad(lambda *z: loss("sequential", *z), (0, 1, 2))(a, b, h0)
    g_scan = jax.grad(lambda *z: loss("scan", *z), (0, 1, 2))(a, b, h0)  # the custom VJP
    assert _max_diff(g_par, g_seq) < TOL and _max_diff(g_scan, g_seq) < TOL
    if lengths is not None:  # padded steps are the identity: no gradient reaches their a, b
        pad = ~(np.arange(T)[None, :] < lengths[:, None])
        assert np.all(np.asarray(g_par[0])[pad] == 0) and np.all(np.asarray(g_par[1])[pad] == 0)


def test_scan_custom_vjp_matches_finite_differences():
    """``method="scan"``'s hand-written VJP against centred differences (tiny, float64)."""
    rng = np.random.default_rng(12)
    a, b = (jnp.asarray(rng.uniform(-1, 1, (2, 5, 3))) for _ in range(2))
    w = jnp.asarray(rng.standard_normal((2, 5, 3)))
    lens = jnp.array([5, 3])

    @jax.jit
    def f(a, b):
        hs, h_last = linear_scan(a, b, 0.5, lens, True, "scan")
        return jnp.sum(w * jnp.sin(hs)) + jnp.sum(h_last**2)

    ga, gb = jax.grad(f, (0, 1))(a, b)
    eps = 1e-6
    for i, (v, gv) in enumerate([(a, ga), (b, gb)]):
        for idx in [(0, 0, 0), (0, 4, 2), (1, 2, 1), (1, 1, 0)]:
            bump = jnp.zeros_like(v).at[idx].set(eps)
            args = [(a, b), (a, b)]
            args[0] = (a + bump, b) if i == 0 else (a, b + bump)
            args[1] = (a - bump, b) if i == 0 else (a, b - bump)
            fd = (f(*args[0]) - f(*args[1])) / (2 * eps)
            assert abs(float(fd) - float(gv[idx])) < 1e-7 * max(1.0, abs(float(fd))), (i, idx)


def test_default_method_is_chosen_per_backend():
    from jaxrnn.nn.linear_scan import default_method, resolve_method

    want = "scan" if jax.default_backend() == "cpu" else "associative"
    assert default_method() == want == resolve_method("auto")
    assert resolve_method("associative") == "associative"


@pytest.mark.parametrize(("reverse", "lengths"), CASES, ids=CASE_IDS)
def test_log_linear_scan_methods_match_linear_scan(reverse, lengths):
    rng = np.random.default_rng(4)
    log_a = jnp.asarray(-rng.uniform(0.05, 2.0, (B, T, H)))
    log_b = jnp.asarray(rng.normal(0, 1, (B, T, H)))
    log_h0 = jnp.asarray(rng.normal(0, 1, (B, H)))
    lens = _lens(lengths)
    for h0 in (None, log_h0):
        ref = linear_scan(jnp.exp(log_a), jnp.exp(log_b), 0.0 if h0 is None else jnp.exp(h0),
                          lens, reverse)  # fmt: skip
        grads = []
        for method in ("cumsum", "associative", "sequential"):
            out = log_linear_scan(log_a, log_b, h0, lens, reverse, method)
            assert _max_diff(jax.tree.map(jnp.exp, out), ref) < TOL, method

            def loss(la, lb, method=method, h0=h0):
                hs, h_last = log_linear_scan(la, lb, h0, lens, reverse, method)
                return jnp.sum(jnp.exp(hs) * jnp.cos(hs)) + jnp.sum(h_last)

            g = jax.grad(loss, (0, 1))(log_a, log_b)
            assert all(bool(jnp.all(jnp.isfinite(v))) for v in g), method  # no nan from padding
            grads.append(g)
        assert _max_diff(grads[0], grads[1]) < TOL and _max_diff(grads[1], grads[2]) < TOL


def test_log_cumsum_form_loses_precision_in_float32_where_the_associative_does_not():
    """The documented numerics: float32 against float64, T = 2000, log a ~ U(-1.2, -0.2)."""
    rng = np.random.default_rng(5)
    log_a, log_b = -rng.uniform(0.2, 1.2, (1, 2000, 2)), rng.normal(0, 1, (1, 2000, 2))
    ref = log_linear_scan(jnp.asarray(log_a), jnp.asarray(log_b), method="sequential")[0]
    a32, b32 = jnp.asarray(log_a, jnp.float32), jnp.asarray(log_b, jnp.float32)
    err = {
        m: float(jnp.max(jnp.abs(log_linear_scan(a32, b32, method=m)[0] - ref)))
        for m in ("cumsum", "associative")
    }
    assert err["associative"] < 5e-6
    assert err["cumsum"] > 10 * err["associative"]


def test_logcumsumexp_matches_numpy():
    z = np.random.default_rng(6).normal(0, 30, (2, 9, 3))
    ref = np.log(np.cumsum(np.exp(z - z.max()), axis=1)) + z.max()
    assert np.max(np.abs(np.asarray(logcumsumexp(jnp.asarray(z))) - ref)) < 1e-10


def test_hold_last():
    xs = jnp.arange(2 * 4, dtype=jnp.float64).reshape(2, 4, 1)
    lens = jnp.array([2, 0])
    assert np.asarray(hold_last(xs, lens))[..., 0].tolist() == [[0, 1, 1, 1], [0, 0, 0, 0]]
    assert np.asarray(hold_last(xs, lens, reverse=True))[0, :, 0].tolist() == [0, 1, 0, 0]


def test_bad_method_is_one_line_error():
    a = jnp.ones((1, 2, 1))
    with pytest.raises(ValueError, match="method must be one of"):
        linear_scan(a, a, method="fast")
    with pytest.raises(ValueError, match="cell must be one of"):
        pc.get_cell("mamba")


# --------------------------------------------------------------------------- cells


def _loss(out_w, h_w):
    """A scalar of ``(ys, h_T)``: weighted sums, touching real and imaginary state parts."""

    def loss(ys, h_last):
        return (jnp.sum(out_w * jnp.sin(ys)) + jnp.sum(h_w * jnp.real(h_last))
                + jnp.sum(h_w * jnp.imag(h_last) ** 2))  # fmt: skip

    return loss


@pytest.mark.parametrize("cell", list(pc.CELLS))
def test_parallel_equals_sequential_values_and_gradients(cell, params, x):
    p = params[cell]
    out_dim = D if cell == "lru" else H
    rng = np.random.default_rng(7)
    loss = _loss(jnp.asarray(rng.standard_normal((B, T, out_dim))),
                 jnp.asarray(rng.standard_normal((B, H))))  # fmt: skip
    for (reverse, lengths), method in itertools.product(CASES, ("associative", "scan")):
        lens = _lens(lengths)
        par = pc.get_cell(cell).apply(p, x, lens, reverse, None, method)
        seq = pc.scan_steps(cell, p, x, lens, reverse)
        assert par[0].shape == (B, T, out_dim) and par[1].shape == (B, H)
        assert _max_diff(par, seq) < TOL, (reverse, lengths, method)

        def f_par(p, x, lens=lens, reverse=reverse, method=method):
            return loss(*pc.get_cell(cell).apply(p, x, lens, reverse, None, method))

        def f_seq(p, x, lens=lens, reverse=reverse):
            return loss(*pc.scan_steps(cell, p, x, lens, reverse))

        g_par = jax.grad(f_par, (0, 1))(p, x)
        g_seq = jax.grad(f_seq, (0, 1))(p, x)
        assert _max_diff(g_par, g_seq) < TOL, (reverse, lengths, method)
        if lengths is not None:  # padding's inputs reach nothing
            pad = ~(np.arange(T)[None, :] < lengths[:, None])
            assert np.all(np.asarray(g_par[1])[pad] == 0)


@pytest.mark.parametrize("cell", list(pc.CELLS))
def test_padding_holds_the_last_valid_step(cell, params, x):
    """Padded outputs and the final state are those of the last step taken (forward: step
    ``len - 1``; reverse: step 0), and equal a run on the unpadded sequence alone."""
    p = params[cell]
    lens = jnp.asarray(LENGTHS)
    for reverse in (False, True):
        ys, h_last = pc.get_cell(cell).apply(p, x, lens, reverse)
        for i, n in enumerate(LENGTHS):
            last = 0 if reverse else n - 1
            assert np.array_equal(np.asarray(ys[i, n:]), np.broadcast_to(ys[i, last], (T - n,
                                  ys.shape[-1])))  # fmt: skip
            alone, h_alone = pc.get_cell(cell).apply(p, x[i : i + 1, :n], None, reverse)
            assert _max_diff(alone[0], ys[i, :n]) < TOL and _max_diff(h_alone[0], h_last[i]) < TOL
            if cell != "lru":
                assert _max_diff(h_last[i], ys[i, last]) < TOL


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_min_cells_initial_state_and_log_methods(cell, params, x):
    p = params[cell]
    h0 = jnp.asarray(np.random.default_rng(8).uniform(0.1, 2.0, (B, H)))
    lens = jnp.asarray(LENGTHS)
    seq = pc.scan_steps(cell, p, x, lens, False, h0)
    for method in ("associative", "cumsum", "sequential", "scan"):
        par = pc.get_cell(cell).apply(p, x, lens, False, h0, method)
        assert _max_diff(par, seq) < TOL, method


def test_lru_initial_state(params, x):
    h0 = jnp.asarray(np.random.default_rng(9).standard_normal((B, H, 2)) @ np.array([1, 1j]))
    par = pc.get_cell("lru").apply(params["lru"], x, jnp.asarray(LENGTHS), True, h0)
    assert (
        _max_diff(par, pc.scan_steps("lru", params["lru"], x, jnp.asarray(LENGTHS), True, h0)) < TOL
    )


def test_g_and_log_g():
    k = jnp.linspace(-30, 30, 121)
    gk = pc.g(k)
    assert bool(jnp.all(gk > 0))
    assert _max_diff(jnp.log(gk), pc.log_g(k)) < 1e-12
    assert float(pc.g(jnp.array(0.0))) == 0.5


@pytest.mark.parametrize("cell", list(pc.CELLS))
def test_gradients_match_finite_differences(cell, params):
    """Centred differences of the parallel form (the CPU default, ``method="scan"``: its
    custom VJP), tiny case, every parameter array."""
    rng = np.random.default_rng(10)
    p = params[cell]
    x = jnp.asarray(rng.standard_normal((2, 5, D)))
    lens = jnp.array([5, 3])

    def f(p, x):
        ys, h_last = pc.get_cell(cell).apply(p, x, lens, True)
        return jnp.sum(jnp.sin(ys)) + jnp.sum(jnp.abs(h_last) ** 2)

    gp, gx = jax.grad(f, (0, 1))(p, x)
    f = jax.jit(f)  # one compilation for every perturbed evaluation
    eps = 1e-6
    for name, value, grad in [*zip(p._fields, p, gp, strict=True), ("x", x, gx)]:
        idx = tuple(rng.integers(0, s) for s in value.shape)
        bump = jnp.zeros_like(value).at[idx].set(eps)

        def at(v, name=name):
            return f(p._replace(**{name: v}), x) if name != "x" else f(p, v)

        fd = (at(value + bump) - at(value - bump)) / (2 * eps)
        assert abs(float(fd) - float(grad[idx])) < 1e-7 * max(1.0, abs(float(fd))), name


# --------------------------------------------------------------------------- blocks


@pytest.mark.parametrize("cell", list(pc.CELLS))
def test_stack_parallel_equals_sequential(cell, x):
    stack = pc.to_jax(pinit.stack_params(np.random.default_rng(11), cell, 2, D, H, ff_mult=2))
    lens = jnp.asarray(LENGTHS)
    key = jax.random.PRNGKey(0)

    def f(method, reverse):
        def loss(stack, x):
            y, finals = pc.stack_apply(cell, stack, x, lens, key=key, rate=0.25, reverse=reverse,
                                       method=method)  # fmt: skip
            return jnp.sum(jnp.tanh(y)) + sum(jnp.sum(jnp.abs(h) ** 2) for h in finals)

        return loss

    for reverse in (False, True):
        ys = [pc.stack_apply(cell, stack, x, lens, key=key, rate=0.25, reverse=reverse,
                             method=m) for m in ("parallel", "sequential")]  # fmt: skip
        assert ys[0][0].shape == (B, T, D)
        assert _max_diff(ys[0], ys[1]) < TOL
        g = [jax.grad(f(m, reverse), (0, 1))(stack, x) for m in ("parallel", "sequential")]
        assert _max_diff(g[0], g[1]) < TOL
    # dropout is applied (between blocks): another key gives other numbers
    other = pc.stack_apply(cell, stack, x, lens, key=jax.random.PRNGKey(1), rate=0.25)[0]
    assert _max_diff(other, pc.stack_apply(cell, stack, x, lens, key=key, rate=0.25)[0]) > 1e-3


def test_block_method_is_checked(params, x):
    blk = pc.to_jax(pinit.block_params(np.random.default_rng(12), "mingru", D, H))
    with pytest.raises(ValueError, match="method must be"):
        pc.block_apply("mingru", blk, x, method="fast")


# --------------------------------------------------------------------------- init


def test_lru_ring_initialisation():
    p = pinit.lru_params(np.random.default_rng(13), 5, 64, r_min=0.4, r_max=0.8, max_phase=1.0)
    lam = np.exp(-np.exp(p.nu_log) + 1j * np.exp(p.theta_log))
    assert np.all((np.abs(lam) >= 0.4 - 1e-12) & (np.abs(lam) <= 0.8 + 1e-12))
    assert np.all((np.angle(lam) >= 0) & (np.angle(lam) <= 1.0))
    assert np.allclose(np.exp(p.gamma_log), np.sqrt(1 - np.abs(lam) ** 2), rtol=1e-12)
    assert p.b_re.shape == (64, 5) and p.c_re.shape == (5, 64) and p.d.shape == (5,)
    with pytest.raises(ValueError, match="r_min"):
        pinit.lru_params(np.random.default_rng(0), 2, 2, r_min=0.9, r_max=0.5)


@pytest.mark.parametrize("cell", list(pc.CELLS))
def test_init_is_a_function_of_the_generator(cell):
    a = pinit.init_params(np.random.default_rng(14), cell, D, H)
    b = pinit.init_params(np.random.default_rng(14), cell, D, H)
    assert isinstance(a, pc.get_cell(cell).params_type)
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    assert all(isinstance(u, np.ndarray) and u.dtype == np.float64 for u in a)
    with pytest.raises(ValueError, match="sizes must be"):
        pinit.init_params(np.random.default_rng(0), cell, 0, H)
