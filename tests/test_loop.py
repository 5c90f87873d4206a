"""The host-side initialisation the trainer uses (nothing compiled) matches JAX's own."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxrnn.nn import models, sequence
from jaxrnn.training import loop
from jaxrnn.weights.layout import num_gates


@pytest.mark.parametrize("seed", [0, 1, 7, 2**31 + 5, 2**40 + 3, -1, -12345])
def test_seed_key_is_jaxs_key_data(seed):
    np.testing.assert_array_equal(
        loop.seed_key(seed), np.asarray(jax.random.key_data(jax.random.key(seed)))
    )


@pytest.mark.parametrize(
    "opt",
    [
        optax.sgd(0.1),
        optax.adam(1e-3),
        optax.chain(optax.clip(1.0), optax.sgd(0.1)),
        optax.chain(optax.clip(1.0), optax.adam(1e-2)),
        optax.adagrad(0.1),  # accumulators start at 0.1, not zero
        optax.chain(optax.clip_by_global_norm(5.0), optax.rmsprop(1e-2, initial_scale=0.5)),
    ],
    ids=["sgd", "adam", "clip+sgd", "clip+adam", "adagrad", "clipnorm+rmsprop"],
)
def test_init_opt_state_is_optax_init(opt):
    params = {"a": jnp.ones((3, 2), jnp.float32), "b": (jnp.ones(4), None)}
    want = opt.init(params)
    got = loop.init_opt_state(opt, params)
    assert jax.tree.structure(got) == jax.tree.structure(want)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize(
    "cell,layers,bi,embed", [("lstm", 2, True, 16), ("gru", 1, False, None), ("rnn", 1, True, 8)]
)
def test_numpy_init_has_the_structure_and_distributions_of_model_init(cell, layers, bi, embed):
    layer = sequence.RecurrentLayer(cell, 16, layers, bi)
    model = models.Classifier(layer, 25, embed, num_classes=3)
    want = jax.eval_shape(lambda: model.init(jax.random.key(0)))
    got = models.init_params_numpy(model, 3)
    assert jax.tree.structure(got) == jax.tree.structure(want)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert g.shape == w.shape and g.dtype == w.dtype
    g = num_gates(cell)
    for p in jax.tree.leaves(got["rnn"], is_leaf=lambda x: hasattr(x, "w_hh")):
        for k in range(g):  # each recurrent gate block is orthogonal
            blk = p.w_hh[k * 16 : (k + 1) * 16]
            np.testing.assert_allclose(blk @ blk.T, np.eye(16), atol=1e-5)
        limit = (6 / (p.w_ih.shape[1] + g * 16)) ** 0.5
        assert np.abs(p.w_ih).max() <= limit and np.abs(p.w_ih).max() > 0.8 * limit
        if cell == "lstm":
            np.testing.assert_array_equal(p.b_ih[16:32], 1.0)
    assert not np.array_equal(got["w_out"], models.init_params_numpy(model, 4)["w_out"])
    np.testing.assert_array_equal(got["w_out"], models.init_params_numpy(model, 3)["w_out"])


def test_init_states_stack_single_seed_states():
    model = models.Classifier(sequence.gru(4), 10, 4)
    opt = optax.adam(1e-3)
    many = loop.init_states(model, opt, [3, 9])
    for i, s in enumerate([3, 9]):
        one = loop.init_state(model, opt, s)
        for a, b in zip(jax.tree.leaves(many), jax.tree.leaves(one), strict=True):
            np.testing.assert_array_equal(a[i], b)


def test_running_train_metrics_are_the_steps_own_scores():
    """``eval_train=False``: the train columns are the means over the epoch's steps of each
    batch's loss and accuracy from the forward pass that took its gradient (computed here
    one step at a time with ``model.apply`` before each update), weighted by the batch's
    real rows; the test columns are unchanged."""
    from jaxrnn.data.arrays import Arrays
    from jaxrnn.training import tasks

    rng = np.random.default_rng(0)
    n, t, v = 11, 6, 9
    lengths = rng.integers(1, t + 1, n)
    ids = np.where(np.arange(t) < lengths[:, None], rng.integers(1, v, (n, t)), 0)
    train = Arrays(jnp.asarray(ids), jnp.asarray(lengths), jnp.asarray(rng.integers(0, 2, n)))
    test = Arrays(train.ids[:5], train.lengths[:5], train.labels[:5])
    model = models.Classifier(sequence.gru(5), vocab_size=v, embed_dim=4, num_classes=2)
    opt = optax.adam(0.05)
    state0 = loop.init_state(model, opt, 0, jnp.float64)
    orders = jnp.asarray(np.stack([rng.permutation(n) for _ in range(2)]))  # [E, N]
    kw = dict(task=tasks.classification())
    run_eval = jax.jit(loop.make_run_epochs(model, opt, 4, 2, **kw))
    run_mean = jax.jit(loop.make_run_epochs(model, opt, 4, 2, eval_train=False, **kw))
    _, m_eval = run_eval(state0, train, test, orders)
    state, m_mean = run_mean(state0, train, test, orders)
    np.testing.assert_allclose(m_mean[:, 2:], m_eval[:, 2:], rtol=1e-12)  # test columns
    assert not np.allclose(m_mean[:, :2], m_eval[:, :2])  # a different figure

    step = jax.jit(loop.train_step(model, opt))
    apply = jax.jit(model.apply)
    s = state0
    for e in range(2):
        loss_sum = correct = rows = 0.0
        for b in range(0, n, 4):
            idx = np.asarray(orders[e, b : b + 4])
            x = Arrays(train.ids[idx], train.lengths[idx], train.labels[idx])
            logits = apply(s.params, x.ids, x.lengths)
            losses = tasks.losses(logits, x.labels)
            loss_sum += float(jnp.sum(losses))
            correct += float(jnp.sum(tasks.predictions(logits) == x.labels))
            rows += len(idx)
            w = jnp.ones(len(idx))
            if len(idx) < 4:  # the epoch's last, partial batch: zero-weight slots
                pad = np.asarray(orders[e, : 4 - len(idx)])
                x = Arrays(*(jnp.concatenate([a, a2[pad]]) for a, a2 in zip(x, train, strict=True)))
                w = jnp.concatenate([w, jnp.zeros(4 - len(idx))])
            s, _ = step(s, tasks.Batch(x, w), None)
        np.testing.assert_allclose(m_mean[e, :2], [loss_sum / rows, correct / rows],
                                   rtol=1e-9)  # fmt: skip
    for a, b in zip(jax.tree.leaves(s.params), jax.tree.leaves(state.params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9)


def test_classification_helpers_one_logit_and_several():
    """``tasks.losses / probabilities / predictions``: one logit is a sigmoid (BCE, ``[1 - p,
    p]``, class 1 iff the logit is > 0: a logit of exactly 0 is class 0, the argmax of
    ``[0.5, 0.5]``); K logits a softmax. float64."""
    from jaxrnn.training import tasks

    y = jnp.asarray([[-1.5], [0.0], [0.5], [2.0]], jnp.float64)
    lab = jnp.asarray([1, 0, 0, 1])
    p = 1 / (1 + np.exp(-np.asarray(y[:, 0])))
    np.testing.assert_allclose(tasks.losses(y, lab), -np.log(np.where(lab == 1, p, 1 - p)),
                               rtol=1e-12)  # fmt: skip
    probs = tasks.probabilities(y)
    np.testing.assert_allclose(probs, np.stack([1 - p, p], -1), rtol=1e-12)
    np.testing.assert_array_equal(tasks.predictions(y), [0, 0, 1, 1])
    np.testing.assert_array_equal(tasks.predictions(y), np.argmax(probs, -1))
    z = jnp.asarray([[0.1, 2.0, -1.0], [3.0, 0.0, 0.5]], jnp.float64)
    logp = np.asarray(jax.nn.log_softmax(z))
    np.testing.assert_allclose(tasks.losses(z, jnp.asarray([2, 0])), -logp[[0, 1], [2, 0]],
                               rtol=1e-12)  # fmt: skip
    np.testing.assert_allclose(tasks.probabilities(z), np.exp(logp), rtol=1e-12)
    np.testing.assert_array_equal(tasks.predictions(z), [1, 0])
