"""The NumPy Classifier trainer (hand-written BPTT + scratch.optim) == optax over jax.grad.

From the same initial params, sample orders and dropout masks, ``train_classifier``'s
history and final params equal a plain Python loop (written here, independent of
``jaxrnn.training.loop``) of optax steps on ``jax.grad`` of ``Classifier.apply``'s weighted
batch loss, float64, to 1e-8. The layer is ``impl="autodiff"``: the reference is
``jax.grad`` of the plain scan, not the library's own hand-written VJP.

Dropout: the JAX step gets a key per batch and ``Classifier.apply`` draws its masks
from it; ``jax_dropout_masks`` draws the same masks from the same key the way
``apply`` does (split into the layer's and the readout's key; one split per gap
between layers; ``bernoulli(1 - rate)`` on the batch-major shape) and hands them to
the NumPy trainer through its ``masks(e, b)`` callable.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxrnn.data.arrays import Arrays
from jaxrnn.nn.models import Classifier, init_params_numpy
from jaxrnn.nn.sequence import RecurrentLayer
from jaxrnn.scratch import classifier_train as ct
from jaxrnn.scratch import optim
from jaxrnn.scratch.layers import DropoutMasks

V, T = 7, 5
RTOL, ATOL = 1e-8, 1e-10
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False}


def make_split(rng, n, num_classes):
    lengths = rng.integers(1, T + 1, size=n)
    lengths[0] = T
    ids = rng.integers(1, V, size=(n, T))
    ids[np.arange(T)[None, :] >= lengths[:, None]] = 0  # real padding: id 0
    return Arrays(ids.astype(np.int32), lengths.astype(np.int32), rng.integers(0, num_classes, n))


def loss_terms(logits, labels):
    if logits.shape[1] == 1:
        return optax.sigmoid_binary_cross_entropy(logits[:, 0], labels.astype(logits.dtype))
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels)


@functools.cache
def jax_functions(model: Classifier, optimizer):
    def batch_loss(params, ids, lengths, labels, w, key):
        logits = model.apply(params, ids, lengths, key=key)
        return jnp.sum(w * loss_terms(logits, labels)) / jnp.sum(w)

    def evaluate(params, ids, lengths, labels):
        logits = model.apply(params, ids, lengths)
        pred = jnp.argmax(logits, 1) if logits.shape[1] > 1 else (logits[:, 0] > 0).astype(int)
        return jnp.mean(loss_terms(logits, labels)), jnp.mean((pred == labels).astype(logits.dtype))

    def step(params, opt_state, ids, lengths, labels, w, key):
        grads = jax.grad(batch_loss)(params, ids, lengths, labels, w, key)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    jit = functools.partial(jax.jit, compiler_options=FAST_COMPILE)
    return jit(step), jit(evaluate)


def batch_key(e, b):
    return jax.random.fold_in(jax.random.key(17), 100 * e + b)


def jax_train(model, optimizer, params, train, test, batch_size, orders):
    """optax steps on jax.grad, batched as jaxrnn.training.loop (last batch padded, weight 0)."""
    step, evaluate = jax_functions(model, optimizer)
    opt_state = optimizer.init(params)
    n = train.ids.shape[0]
    nb = -(-n // batch_size)
    pad = nb * batch_size - n
    history = []
    for e, order in enumerate(orders):
        idx = np.concatenate([order, order[:pad]]).reshape(nb, batch_size)
        w = np.concatenate([np.ones(n), np.zeros(pad)]).reshape(nb, batch_size)
        for b in range(nb):
            rows = idx[b]
            params, opt_state = step(
                params, opt_state, train.ids[rows], train.lengths[rows], train.labels[rows],
                w[b], batch_key(e, b),
            )  # fmt: skip
        metrics = [float(x) for split in (train, test) for x in evaluate(params, *split)]
        names = ("train_loss", "train_acc", "test_loss", "test_acc")
        history.append(dict(zip(names, metrics, strict=True)))
    return params, history


def jax_dropout_masks(model: Classifier, batch_size):
    """``masks(e, b)``: the keep masks ``model.apply`` draws from ``batch_key(e, b)``."""
    layer = model.layer
    f = layer.output_size

    def masks(e, b):
        k_rnn, k_out = jax.random.split(batch_key(e, b))
        between = []
        if layer.dropout > 0.0:
            for _ in range(layer.num_layers - 1):
                k_rnn, sub = jax.random.split(k_rnn)
                between.append(jax.random.bernoulli(sub, 1.0 - layer.dropout, (batch_size, T, f)))
        readout = None
        if model.dropout > 0.0:
            readout = jax.random.bernoulli(k_out, 1.0 - model.dropout, (batch_size, f))
        return DropoutMasks(
            tuple(np.asarray(m) for m in between), None if readout is None else np.asarray(readout)
        )

    return masks


CASES = {  # model, (numpy optimizer, optax optimizer), N, batch size, epochs
    "lstm-embed-adam-clip-dropout": (
        Classifier(RecurrentLayer("lstm", 6, impl="autodiff"), V, 4, dropout=0.3),
        (optim.chain(optim.clip(0.05), optim.adam(0.05)),
         optax.chain(optax.clip(0.05), optax.adam(0.05))),
        8, 4, 3,
    ),
    "bigru-2layer-partial-batch-dropout": (
        Classifier(
            RecurrentLayer("gru", 4, 2, bidirectional=True, dropout=0.25, impl="autodiff"),
            V, 3, dropout=0.2,
        ),
        (optim.chain(optim.clip_by_global_norm(0.5), optim.rmsprop(0.02)),
         optax.chain(optax.clip_by_global_norm(0.5), optax.rmsprop(0.02))),
        7, 3, 2,
    ),
    "rnn-onehot-per-sample-sgd": (
        Classifier(RecurrentLayer("rnn", 5, impl="autodiff"), V, None),
        (optim.chain(optim.clip(1.0), optim.sgd(0.1)),
         optax.chain(optax.clip(1.0), optax.sgd(0.1))),
        6, 1, 2,
    ),
    "lstm-unmasked-adagrad": (
        Classifier(RecurrentLayer("lstm", 4, impl="autodiff"), V, 3, mask=False),
        (optim.adagrad(0.1), optax.adagrad(0.1)),
        6, 4, 2,
    ),
    "gru-3-classes-softmax-sgd-momentum": (
        Classifier(RecurrentLayer("gru", 5, impl="autodiff"), V, 3, num_classes=3),
        (optim.sgd(0.2, momentum=0.9), optax.sgd(0.2, momentum=0.9)),
        9, 4, 2,
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(CASES))
def test_trainer_equals_optax_over_jax_grad(name, rng):
    model, (opt_np, opt_ox), n, batch_size, epochs = CASES[name]
    train = make_split(rng, n, model.num_classes)
    test = make_split(rng, 4, model.num_classes)
    orders = np.stack([rng.permutation(n) for _ in range(epochs)])
    params = jax.tree.map(np.asarray, model.init(jax.random.key(3), jnp.float64))
    has_dropout = model.dropout > 0 or model.layer.dropout > 0

    params_j, history_j = jax_train(model, opt_ox, params, train, test, batch_size, orders)
    calls = []
    masks = jax_dropout_masks(model, batch_size) if has_dropout else None
    result = ct.train_classifier(
        params, train, test, optimizer=opt_np, batch_size=batch_size, orders=orders,
        masks=masks and (lambda e, b: calls.append((e, b)) or masks(e, b)),
        **ct.classifier_options(model),
    )  # fmt: skip

    assert [r["epoch"] for r in result.history] == list(range(1, epochs + 1))
    for rec, rec_j in zip(result.history, history_j, strict=True):
        for k, v in rec_j.items():
            np.testing.assert_allclose(rec[k], v, rtol=RTOL, atol=ATOL, err_msg=k)
    leaves, leaves_j = optim.tree_leaves(result.params), jax.tree.leaves(params_j)
    assert len(leaves) == len(leaves_j)
    for a, b in zip(leaves, leaves_j, strict=True):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)
    # Training moved the params; the caller's params are untouched.
    assert not np.allclose(params["w_out"], result.params["w_out"])
    if has_dropout:
        nb = -(-n // batch_size)
        assert calls == [(e, b) for e in range(epochs) for b in range(nb)]


def test_numpy_drawn_dropout_masks_and_batches(rng):
    """No ``masks``: drawn with NumPy from ``seed`` (reproducible, and they do drop)."""
    model = Classifier(RecurrentLayer("gru", 4, 2, dropout=0.5), V, 3, dropout=0.5)
    params = ct.to_numpy(model.init(jax.random.key(0), jnp.float64))
    train = make_split(rng, 5, 2)
    orders = np.stack([rng.permutation(5) for _ in range(2)])
    kw = dict(optimizer=optim.sgd(0.5), batch_size=2, orders=orders, **ct.classifier_options(model))
    runs = [
        ct.train_classifier(params, train, **kw, seed=1).history,
        ct.train_classifier(params, train, **kw, seed=1).history,
        ct.train_classifier(params, train, **kw, seed=2).history,
        ct.train_classifier(params, train, **{**kw, "dropout": 0.0, "layer_dropout": 0.0}).history,
    ]
    a, b, c, off = ([r["train_loss"] for r in h] for h in runs)
    assert a == b and a != c and a != off
    for only in ({"dropout": 0.0}, {"layer_dropout": 0.0}):  # one rate alone draws masks too
        one = ct.train_classifier(params, train, **{**kw, **only}, seed=1).history
        assert [r["train_loss"] for r in one] not in (off, a)
    assert np.isnan(runs[0][0]["test_loss"]) and np.isnan(runs[0][0]["test_acc"])

    m = ct.draw_dropout_masks(
        rng, batch=3, steps=T, features=4, num_layers=3, dropout=0.5, layer_dropout=0.5
    )
    assert [x.shape for x in m.between] == [(3, T, 4)] * 2 and m.readout.shape == (3, 4)

    idx, w = ct.batches(np.array([4, 2, 0, 1, 3]), 2)
    np.testing.assert_array_equal(idx, [[4, 2], [0, 1], [3, 4]])
    np.testing.assert_array_equal(w, [[1, 1], [1, 1], [1, 0]])
    idx, w = ct.batches(np.array([1, 0]), 5)  # a batch larger than the split wraps round
    np.testing.assert_array_equal(idx, [[1, 0, 1, 0, 1]])
    np.testing.assert_array_equal(w, [[1, 1, 0, 0, 0]])


def test_dropout_needs_its_masks(rng):
    model = Classifier(RecurrentLayer("rnn", 3, 2, dropout=0.5), V, 3, dropout=0.5)
    params = ct.to_numpy(model.init(jax.random.key(0), jnp.float64))
    train = make_split(rng, 3, 2)
    kw = dict(optimizer=optim.sgd(0.1), batch_size=3, orders=np.arange(3)[None])
    opts = ct.classifier_options(model)
    with pytest.raises(ValueError, match="readout keep mask"):
        ct.train_classifier(
            params, train, **kw, **{**opts, "layer_dropout": 0.0}, masks=lambda e, b: DropoutMasks()
        )
    with pytest.raises(ValueError, match="one mask per gap"):
        ct.train_classifier(
            params, train, **kw, **{**opts, "dropout": 0.0}, masks=lambda e, b: DropoutMasks()
        )
    with pytest.raises(ValueError, match="orders"):
        ct.train_classifier(params, train, **{**kw, "orders": np.arange(4)[None]}, **opts)


@pytest.mark.parametrize("k", [1, 3])
def test_loss_predictions_probabilities_equal_the_jax_tasks(k):
    """``loss_terms`` / ``predictions`` / ``probabilities`` == ``jaxrnn.training.tasks``'s, one
    logit (sigmoid, a logit of exactly 0 is class 0) and several (softmax), finite for logits
    of hundreds (exp would overflow unshifted); float64."""
    from jaxrnn.training import tasks

    rng = np.random.default_rng(k)
    logits = rng.normal(0, 2, (6, k))
    logits[0] = 0.0
    logits[1] = np.linspace(800.0, -800.0, k) if k > 1 else 800.0
    labels = rng.integers(0, max(k, 2), 6)
    np.testing.assert_allclose(ct.loss_terms(logits, labels),
                               tasks.losses(jnp.asarray(logits), jnp.asarray(labels)),
                               rtol=1e-12)  # fmt: skip
    np.testing.assert_array_equal(ct.predictions(logits), tasks.predictions(jnp.asarray(logits)))
    np.testing.assert_allclose(ct.probabilities(logits),
                               tasks.probabilities(jnp.asarray(logits)), rtol=1e-12)  # fmt: skip


def test_drawn_masks_keep_one_minus_the_rate_and_cover_every_step(rng):
    """``draw_dropout_masks`` keeps each unit with probability ``1 - rate`` (readout and between
    layers), and the masks the trainer draws itself cover the split's steps: an unmasked model
    (every step read) with layer dropout trains on 3 texts of ``T = 5`` steps."""
    m = ct.draw_dropout_masks(np.random.default_rng(0), batch=200, steps=5, features=20,
                              num_layers=2, dropout=0.25, layer_dropout=0.4)  # fmt: skip
    assert m.readout.shape == (200, 20) and len(m.between) == 1
    assert abs(m.readout.mean() - 0.75) < 0.02 and abs(m.between[0].mean() - 0.6) < 0.02
    none = ct.draw_dropout_masks(rng, batch=2, steps=5, features=3, num_layers=2, dropout=0.0,
                                 layer_dropout=0.0)  # fmt: skip
    assert none == DropoutMasks((), None)

    model = Classifier(RecurrentLayer("rnn", 3, 2, dropout=0.5), V, 3, mask=False)
    params = init_params_numpy(model, 0, np.float64)
    train = make_split(rng, 3, 2)
    kw = dict(optimizer=optim.sgd(0.5), batch_size=2, orders=np.arange(3)[None], seed=1,
              **ct.classifier_options(model))  # fmt: skip
    a, b = (ct.train_classifier(params, train, **kw).history[0]["train_loss"] for _ in range(2))
    assert a == b and np.isfinite(a)


def test_evaluate_is_the_masked_models_mean_loss_and_accuracy(rng):
    """``evaluate`` (default ``mask=True``, as ``Classifier``) == the masked model's mean loss
    and accuracy over the split (``classifier_logits``, itself tested against the JAX model),
    in any chunking; NaN for an empty split, numbers for one text. float64."""
    model = Classifier(RecurrentLayer("gru", 4), V, 3, num_classes=3)
    params = init_params_numpy(model, 1, np.float64)
    split = make_split(rng, 5, 3)
    assert split.lengths.min() < T  # padding, where masking matters
    logits = ct.classifier_logits(params, split.ids, split.lengths, cell="gru",
                                  bidirectional=False, mask=True)  # fmt: skip
    unmasked = ct.classifier_logits(params, split.ids, split.lengths, cell="gru",
                                    bidirectional=False, mask=False)  # fmt: skip
    assert not np.allclose(logits, unmasked)
    want = [np.mean(ct.loss_terms(logits, split.labels)),
            np.mean(ct.predictions(logits) == split.labels)]  # fmt: skip
    for chunk in (1024, 2):
        got = ct.evaluate(params, split, cell="gru", bidirectional=False, chunk=chunk)
        np.testing.assert_allclose(got, want, rtol=1e-10)
    empty = Arrays(split.ids[:0], split.lengths[:0], split.labels[:0])
    assert all(np.isnan(ct.evaluate(params, empty, cell="gru", bidirectional=False)))
    one = Arrays(split.ids[:1], split.lengths[:1], split.labels[:1])
    assert all(np.isfinite(ct.evaluate(params, one, cell="gru", bidirectional=False)))
