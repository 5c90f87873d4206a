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


def _tiny_split(n=7, t=5, v=9, seed=0):
    from jaxrnn.data.arrays import Arrays

    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, t + 1, n).astype(np.int32)
    ids = (rng.integers(1, v, (n, t)) * (np.arange(t) < lengths[:, None])).astype(np.int32)
    return Arrays(ids, lengths, rng.integers(0, 2, n).astype(np.int32))


@pytest.mark.parametrize("bucketed", [False, True])
def test_pad_multiple_fills_each_batch_with_zero_weight_slots(bucketed):
    """``pad_multiple`` (the device count): every training batch has ``batch_size`` rounded up
    to a multiple of it rows (3 -> 4), the extra slots weigh 0, so the trained params are
    those of the unpadded run; plain batches and length buckets. float64."""
    from jaxrnn.data.buckets import batch_schedule, bucket_bounds, split_buckets
    from jaxrnn.training import tasks

    data = _tiny_split()
    model = models.Classifier(sequence.RecurrentLayer("rnn", 3), 9, 4, num_classes=2)
    opt = optax.sgd(0.5)
    state = loop.init_state(model, opt, 0, jnp.float64)
    order = np.random.default_rng(1).permutation(7)
    train = jax.tree.map(jnp.asarray, data)
    orders = jnp.asarray(order[None])
    if bucketed:
        bounds = bucket_bounds(data.lengths, 2)
        parts, inverse = split_buckets(data, bounds)
        train = jax.tree.map(jnp.asarray, loop.Bucketed(tuple(parts), inverse))
        orders = loop.Schedule(*(jnp.asarray(a[None]) for a in
                                 batch_schedule(order, data.lengths, bounds, 3)))  # fmt: skip
    base = tasks.classification()
    for multiple, rows in ((1, 3), (4, 4)):
        seen = set()

        def apply(model, params, batch, carry, key, seen=seen):
            if key is not None:  # a training step (evaluation has no key)
                seen.add(batch.weights.shape[0])
            return base.apply(model, params, batch, carry, key)

        run = loop.make_run_epochs(model, opt, 3, 1, task=base._replace(apply=apply),
                                   pad_multiple=multiple)  # fmt: skip
        got, metrics = jax.jit(run)(state, train, jax.tree.map(jnp.asarray, data), orders)
        assert seen == {rows}
        if multiple == 1:
            want, want_metrics = got, metrics
    for a, b in zip(jax.tree.leaves(got.params), jax.tree.leaves(want.params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(metrics, want_metrics, rtol=1e-12)


def test_eval_every_scores_the_first_every_nth_and_last_epoch():
    """``eval_every=3`` over 4 epochs without ``eval_train``: the test columns of epochs 1, 3
    and 4 are evaluated, epoch 2's are zero (not evaluated); with ``eval_train`` every epoch
    is still a whole evaluation pass (no zero column), the same figures. float64."""
    from jaxrnn.training import tasks

    data = jax.tree.map(jnp.asarray, _tiny_split())
    model = models.Classifier(sequence.RecurrentLayer("rnn", 3), 9, 4, num_classes=2)
    opt = optax.sgd(0.5)
    state = loop.init_state(model, opt, 0, jnp.float64)
    orders = jnp.asarray(np.stack([np.random.default_rng(e).permutation(7) for e in range(4)]))
    kw = dict(task=tasks.classification(), eval_every=3)
    _, whole = jax.jit(loop.make_run_epochs(model, opt, 3, 4, **kw))(state, data, data, orders)
    assert np.all(whole > 0)  # every epoch evaluated
    _, run = jax.jit(loop.make_run_epochs(model, opt, 3, 4, eval_train=False, **kw))(
        state, data, data, orders)  # fmt: skip
    np.testing.assert_allclose(run[[0, 2, 3], 2:], whole[[0, 2, 3], 2:], rtol=1e-12)
    np.testing.assert_array_equal(run[1, 2:], 0.0)
    assert np.all(run[:, :2] > 0)  # the running train means, every epoch


@pytest.mark.parametrize("since,stays", [(2, True), (1, False)])
def test_reopen_early_stop_keeps_a_patience_stop_and_reopens_a_last_epoch_stop(since, stays):
    """A seed stopped ``patience`` (2) epochs after its best stays stopped on resume; one that
    stopped only because the run's last epoch came (1 epoch after its best) trains on."""
    params = {"w": jnp.ones(2)}
    best = loop.init_best(params)._replace(epoch=jnp.int32(3), epochs=jnp.int32(3 + since),
                                           stopped=jnp.bool_(True))  # fmt: skip
    state = loop.TrainState(params, None, None, best=best)
    assert bool(loop.reopen_early_stop(state, 2).best.stopped) == stays


def test_batch_loss_is_the_weighted_mean_of_the_task_losses():
    """``batch_loss``: ``sum(w * losses) / sum(w)`` (padding slots weigh 0), or over a given
    ``total``; its gradient the weighted mean of the rows' (a linear forecaster, squared
    error, against NumPy). float64."""
    from jaxrnn.training import tasks

    class Linear:
        def apply(self, params, x, key=None):
            return x @ params

    rng = np.random.default_rng(0)
    x, y, p = rng.normal(size=(4, 3)), rng.normal(size=(4, 2)), rng.normal(size=(3, 2))
    w = np.array([1.0, 2.0, 1.0, 0.0])
    batch = tasks.Batch(tasks.SeriesRows(jnp.asarray(x), jnp.asarray(y)), jnp.asarray(w))
    task = tasks.regression()
    err = x @ p - y
    rows = np.mean(err**2, -1)
    loss, _ = loop.batch_loss(Linear(), task, jnp.asarray(p), batch, (), None)
    np.testing.assert_allclose(loss, np.sum(w * rows) / w.sum(), rtol=1e-12)
    total, _ = loop.batch_loss(Linear(), task, jnp.asarray(p), batch, (), None, total=8.0)
    np.testing.assert_allclose(total, np.sum(w * rows) / 8.0, rtol=1e-12)
    grad = jax.grad(lambda q: loop.batch_loss(Linear(), task, q, batch, (), None)[0])
    want = x.T @ (w[:, None] * 2 * err / err.shape[1]) / w.sum()
    np.testing.assert_allclose(grad(jnp.asarray(p)), want, rtol=1e-12)


def test_tag_splits_evaluated_together_equal_one_by_one():
    """``evaluate_splits`` on two tagging splits of the same padded length (one scan over
    both) gives each split's ``evaluate`` metrics and per-token predictions ``[N, T]``."""
    from jaxrnn.training import tasks

    rng = np.random.default_rng(3)
    t, v, k = 6, 9, 4
    model = models.SequenceTagger(sequence.RecurrentLayer("gru", 3), v, k, 2)
    params = model.init(jax.random.key(0), jnp.float64)

    def rows(n):
        lengths = rng.integers(1, t + 1, n)
        real = np.arange(t) < lengths[:, None]
        ids = rng.integers(1, v, (n, t)) * real
        tags = np.where(real, rng.integers(0, k, (n, t)), -1)
        return tasks.TagRows(jnp.asarray(ids), jnp.asarray(lengths), jnp.asarray(tags))

    splits, task = [rows(7), rows(3)], tasks.tagging()
    got = jax.jit(lambda p, s: loop.evaluate_splits(model, task, p, s, 4))(params, splits)
    for (m, pred), d in zip(got, splits, strict=True):
        m0, p0 = loop.evaluate(model, task, params, d, 4)
        assert pred.shape == d.tags.shape
        np.testing.assert_allclose(m, m0, rtol=1e-12)
        np.testing.assert_array_equal(pred, p0)


def test_a_shard_map_step_reports_the_one_device_steps_loss_and_update():
    """``train_step(grad_fn=data_parallel_grad(...))`` on a one-device mesh (in process):
    the metrics' ``loss`` (the batch's weighted mean, zero-weight slots out), the stats and
    the updated params equal the plain step's."""
    from jaxrnn.data.arrays import Arrays
    from jaxrnn.training import tasks

    rng = np.random.default_rng(1)
    n, t, v = 4, 5, 7
    lengths = rng.integers(1, t + 1, n)
    ids = np.where(np.arange(t) < lengths[:, None], rng.integers(1, v, (n, t)), 0)
    x = Arrays(jnp.asarray(ids), jnp.asarray(lengths), jnp.asarray(rng.integers(0, 2, n)))
    batch = tasks.Batch(x, jnp.array([1.0, 1.0, 1.0, 0.0]))
    model = models.Classifier(sequence.gru(3), vocab_size=v, embed_dim=2, num_classes=2)
    opt = optax.sgd(0.1)
    state = loop.init_state(model, opt, 0, jnp.float64)
    mesh = jax.make_mesh((1,), ("data",), devices=jax.devices()[:1])
    plain = jax.jit(loop.train_step(model, opt))(state, batch, None)
    dp = jax.jit(loop.train_step(model, opt, grad_fn=loop.data_parallel_grad(model, mesh)))
    rows = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
    split = dp(state, jax.device_put(batch, rows), jax.random.key(0))
    logits = model.apply(state.params, x.ids, x.lengths)
    want = float(jnp.mean(tasks.losses(logits, x.labels)[:3]))
    np.testing.assert_allclose(plain[1]["loss"], want, rtol=1e-12)
    np.testing.assert_allclose(split[1]["loss"], want, rtol=1e-12)
    for a, b in zip(jax.tree.leaves(split), jax.tree.leaves(plain), strict=True):
        if not jnp.issubdtype(a.dtype, jax.dtypes.prng_key):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("num_epochs", [1, 3])
def test_loop_epochs_runtime_count_matches_the_scan(num_epochs):
    """``loop_epochs`` with a runtime ``count`` (the CLI's chunked program) runs the same
    epochs as the plain scan: the same final state and stacked outputs, the test-prediction
    part of the last epoch only; rows past ``count`` stay zero. One epoch included (a
    one-epoch program of ``count`` 1)."""
    orders = jnp.arange(num_epochs * 4, dtype=jnp.int32).reshape(num_epochs, 4)

    def epoch(state, inp):
        order, e = inp
        state = state * 2.0 + jnp.sum(order) + e
        return state, (jnp.stack([state, jnp.max(order)]), order * e)

    state0 = jnp.float32(1.0)
    s_scan, (out_scan, last_scan) = loop.loop_epochs(epoch, state0, orders, num_epochs,
                                                     indexed=True)  # fmt: skip
    s_cnt, (out_cnt, last_cnt) = loop.loop_epochs(
        epoch, state0, orders, num_epochs, jnp.int32(num_epochs), last_of_second=True,
        indexed=True)  # fmt: skip
    np.testing.assert_array_equal(s_cnt, s_scan)
    np.testing.assert_array_equal(out_cnt, out_scan)
    np.testing.assert_array_equal(last_cnt, last_scan[-1])
    if num_epochs > 1:  # a shorter run: its epochs, then zero rows
        one = jnp.int32(1)
        s_short, (out_short, _) = loop.loop_epochs(epoch, state0, orders, num_epochs, one,
                                                   last_of_second=True, indexed=True)  # fmt: skip
        s_one, (out_one, _) = loop.loop_epochs(epoch, state0, orders[:1], 1, indexed=True)
        np.testing.assert_array_equal(s_short, s_one)
        np.testing.assert_array_equal(out_short[:1], out_one)
        assert not np.any(np.asarray(out_short[1:]))


def _with_validation(seed: int):
    """A tiny classification run with a validation split: ``(model, opt, state0, train,
    test, val, orders [2, N], task)``, float64."""
    from jaxrnn.data.arrays import Arrays
    from jaxrnn.training import tasks

    train = _tiny_split(n=10, seed=seed)
    test, val = (Arrays(train.ids[a:b], train.lengths[a:b], train.labels[a:b])
                 for a, b in ((0, 4), (4, 10)))  # fmt: skip
    val = val._replace(labels=1 - val.labels)  # not the test rows' figures
    model = models.Classifier(sequence.gru(5), vocab_size=9, embed_dim=4, num_classes=2)
    opt = optax.adam(0.05)
    rng = np.random.default_rng(seed)
    orders = jnp.asarray(np.stack([rng.permutation(10) for _ in range(2)]))
    return (model, opt, loop.init_state(model, opt, 0, jnp.float64), train, test, val, orders,
            tasks.classification())  # fmt: skip


def test_validation_columns_score_the_validation_split():
    """With a validation split the epoch's metrics are ``[train, test, val]``: the val
    columns are ``evaluate`` of the validation rows, not of the test rows (after each
    epoch, the last one checked against the final params)."""
    model, opt, state0, train, test, val, orders, task = _with_validation(1)
    run = jax.jit(loop.make_run_epochs(model, opt, 4, 2, task=task, eval_train=False))
    state, m = run(state0, train, test, orders, val)
    assert m.shape == (2, 6)
    want_test = loop.evaluate(model, task, state.params, test)[0]
    want_val = loop.evaluate(model, task, state.params, val)[0]
    np.testing.assert_allclose(m[-1, 2:4], want_test, rtol=1e-12)
    np.testing.assert_allclose(m[-1, 4:6], want_val, rtol=1e-12)
    assert not np.allclose(want_val, want_test)


def test_running_train_metrics_with_early_stopping_before_any_stop():
    """With early stopping (patience longer than the run: no seed stops) the train columns
    are still the running means of the epoch's steps, as without it; the test and
    validation columns too."""
    model, opt, state0, train, test, val, orders, task = _with_validation(2)
    kw = dict(task=task, eval_train=False)
    plain = jax.jit(loop.make_run_epochs(model, opt, 4, 2, **kw))
    stopping = jax.jit(loop.make_run_epochs(model, opt, 4, 2, early_stopping=5, **kw))
    _, m_plain = plain(state0, train, test, orders, val)
    state_es = state0._replace(best=loop.init_best(state0.params))
    _, m_es = stopping(state_es, train, test, orders, val)
    np.testing.assert_allclose(m_es, m_plain, rtol=1e-12)
