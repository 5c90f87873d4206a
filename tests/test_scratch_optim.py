"""jaxrnn.scratch.optim (NumPy optimizers) == optax, step for step, float64.

Each optimizer runs 10 steps on random gradients (some of them large, so that the
clips bite) from the same params as its optax twin; the updates, the params and
the state leaves must agree to 1e-12. The params tree is the Classifier's shape:
a dict holding a tuple of tuples of ``CellParams`` (one with None biases).
"""

import jax
import numpy as np
import optax
import pytest

from jaxrnn.nn.cells import CellParams
from jaxrnn.scratch import optim

RTOL, ATOL = 1e-12, 1e-15


def make_params(rng):
    def cell(bias):
        b = (lambda: rng.normal(size=8)) if bias else (lambda: None)
        return CellParams(rng.normal(size=(8, 3)), rng.normal(size=(8, 2)), b(), b())

    return {
        "embed": rng.normal(size=(5, 3)),
        "rnn": ((cell(True), cell(False)),),
        "w_out": rng.normal(size=(1, 4)),
        "b_out": np.zeros(1),
    }


CASES = {
    "sgd": (lambda: optim.sgd(0.1), lambda: optax.sgd(0.1)),
    "sgd-momentum": (lambda: optim.sgd(0.1, 0.9), lambda: optax.sgd(0.1, 0.9)),
    "sgd-nesterov": (
        lambda: optim.sgd(0.1, 0.8, nesterov=True),
        lambda: optax.sgd(0.1, 0.8, nesterov=True),
    ),
    "adam": (lambda: optim.adam(1e-2), lambda: optax.adam(1e-2)),
    "adam-eps_root": (
        lambda: optim.adam(3e-2, b1=0.5, b2=0.9, eps=1e-6, eps_root=1e-4),
        lambda: optax.adam(3e-2, b1=0.5, b2=0.9, eps=1e-6, eps_root=1e-4),
    ),
    "adagrad": (lambda: optim.adagrad(0.1), lambda: optax.adagrad(0.1)),
    "adagrad-zero-acc": (
        lambda: optim.adagrad(0.1, initial_accumulator_value=0.0),
        lambda: optax.adagrad(0.1, initial_accumulator_value=0.0),
    ),
    "rmsprop": (lambda: optim.rmsprop(1e-2), lambda: optax.rmsprop(1e-2)),
    "rmsprop-scale": (
        lambda: optim.rmsprop(1e-2, decay=0.5, eps=1e-6, initial_scale=1.0),
        lambda: optax.rmsprop(1e-2, decay=0.5, eps=1e-6, initial_scale=1.0),
    ),
    "clip-sgd": (
        lambda: optim.chain(optim.clip(1.0), optim.sgd(0.1)),
        lambda: optax.chain(optax.clip(1.0), optax.sgd(0.1)),
    ),
    "clip-adam": (
        lambda: optim.chain(optim.clip(0.5), optim.adam(1e-2)),
        lambda: optax.chain(optax.clip(0.5), optax.adam(1e-2)),
    ),
    "global-norm-adagrad": (
        lambda: optim.chain(optim.clip_by_global_norm(5.0), optim.adagrad(0.1)),
        lambda: optax.chain(optax.clip_by_global_norm(5.0), optax.adagrad(0.1)),
    ),
    # The transforms on their own, with their defaults (the optimizers above pass theirs).
    "scale_by_adam": (lambda: optim.scale_by_adam(), lambda: optax.scale_by_adam()),
    "scale_by_rss": (lambda: optim.scale_by_rss(), lambda: optax.scale_by_rss()),
    "scale_by_rms": (lambda: optim.scale_by_rms(), lambda: optax.scale_by_rms()),
    "global-norm-clip-rmsprop": (
        lambda: optim.chain(optim.clip_by_global_norm(3.0), optim.clip(0.4), optim.rmsprop(1e-2)),
        lambda: optax.chain(optax.clip_by_global_norm(3.0), optax.clip(0.4), optax.rmsprop(1e-2)),
    ),
}


def assert_trees_close(actual, desired, what):
    a, d = optim.tree_leaves(actual), jax.tree.leaves(desired)
    assert len(a) == len(d), what
    for k, (x, y) in enumerate(zip(a, d, strict=True)):
        assert np.shape(x) == np.shape(y), (what, k)
        np.testing.assert_allclose(x, np.asarray(y), rtol=RTOL, atol=ATOL, err_msg=f"{what} {k}")


@pytest.mark.parametrize("name", list(CASES))
def test_equals_optax_step_for_step(name, rng):
    make_np, make_ox = CASES[name]
    ours, theirs = make_np(), make_ox()
    params = make_params(rng)
    original = jax.tree.map(np.copy, params)
    p_np, p_ox = params, jax.tree.map(np.copy, params)
    s_np, s_ox = ours.init(p_np), theirs.init(p_ox)
    assert_trees_close(s_np, s_ox, "init state")
    update_ox = jax.jit(theirs.update)
    for step in range(10):
        scale = 10.0 if step % 3 == 0 else 0.3  # large steps: the clips bite
        grads = optim.tree_map(lambda p, s=scale: rng.normal(size=p.shape) * s, params)
        u_np, s_np = ours.update(grads, s_np, p_np)
        u_ox, s_ox = update_ox(grads, s_ox, p_ox)
        assert_trees_close(u_np, u_ox, f"updates step {step}")
        assert_trees_close(s_np, s_ox, f"state step {step}")
        p_np, p_ox = optim.apply_updates(p_np, u_np), optax.apply_updates(p_ox, u_ox)
        assert_trees_close(p_np, p_ox, f"params step {step}")
    # Pure functions: the caller's params were not modified in place.
    assert_trees_close(params, original, "the caller's params")


def test_global_norm_clip_only_past_the_threshold():
    g = {"a": np.array([3.0, 0.0]), "b": (np.array([[4.0]]), None)}
    kept, _ = optim.clip_by_global_norm(5.5).update(g, optim.EmptyState())
    assert kept is g
    clipped, _ = optim.clip_by_global_norm(2.5).update(g, optim.EmptyState())
    np.testing.assert_allclose(clipped["a"], [1.5, 0.0])
    np.testing.assert_allclose(clipped["b"][0], [[2.0]])
    assert clipped["b"][1] is None
    assert optim.global_norm(g) == 5.0


def test_tree_map_structure_errors():
    with pytest.raises(ValueError, match="dict keys"):
        optim.tree_map(np.add, {"a": 1}, {"b": 1})
    with pytest.raises(ValueError, match="tuple"):
        optim.tree_map(np.add, (1, 2), (1,))
    with pytest.raises(ValueError, match="states"):
        optim.chain(optim.sgd(1.0)).update({"a": np.ones(1)}, ())


def test_global_norm_clip_scales_at_exactly_the_threshold():
    """``n >= max_norm`` clips: at ``n == max_norm`` the updates are rescaled (a new tree,
    ``(g / n) * max_norm``), as optax's ``where(n < max_norm, g, g / n * max_norm)``."""
    g = {"a": np.array([0.1, 0.7, 0.3]), "b": (np.array([[0.9]]), None)}
    n = optim.global_norm(g)
    clipped, _ = optim.clip_by_global_norm(n).update(g, optim.EmptyState())
    assert clipped is not g
    np.testing.assert_array_equal(clipped["a"], (g["a"] / n) * n)
    np.testing.assert_allclose(clipped["a"], g["a"], rtol=1e-15)


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # where's other branch
def test_adagrad_gives_no_step_where_the_sum_of_squares_is_zero():
    """``scale_by_rss``: ``where(s > 0, 1 / sqrt(s + eps), 0) * g``: where the accumulator
    and the gradient's square are 0 (a zero gradient, or one so small that its square
    underflows), the update is exactly 0, even with ``eps = 0`` (no ``0 * inf = nan``)."""
    tiny = 1e-170  # tiny**2 underflows to 0.0
    g = {"w": np.array([0.0, tiny, 2.0, -3.0])}
    rss = optim.scale_by_rss(initial_accumulator_value=0.0, eps=0.0)
    u, s = rss.update(g, rss.init(g))
    np.testing.assert_array_equal(u["w"], [0.0, 0.0, 1.0, -1.0])
    np.testing.assert_array_equal(s.sum_of_squares["w"], [0.0, 0.0, 4.0, 9.0])
    u_ox, _ = optax.scale_by_rss(initial_accumulator_value=0.0, eps=0.0).update(
        g, optax.scale_by_rss(initial_accumulator_value=0.0, eps=0.0).init(g)
    )
    np.testing.assert_array_equal(u["w"], np.asarray(u_ox["w"]))
