"""The compiled training loop: pure functions over a ``TrainState`` pytree.

::

    state = init_state(model, optimizer, seed)               # TrainState(params, opt_state, key)
    run = jax.jit(make_run_epochs(model, optimizer, batch_size, num_epochs))
    state, metrics = run(state, train, test, orders)         # orders [E, N] -> metrics [E, 4]
    # metrics columns (after each epoch): train_loss, train_acc, test_loss, test_acc

One call runs ``num_epochs`` epochs: ``lax.scan`` over epochs around
``lax.scan`` over the batches of each epoch, so Python dispatches once per call,
not once per step. Everything is a pytree of arrays (the PRNG key is stored as
raw key data), so a state can be ``vmap``-ed over a leading seed axis and
written to a checkpoint as a flat list of arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxrnn.data.arrays import Arrays

Array = jax.Array


class TrainState(NamedTuple):
    """Everything that changes during training; a pytree of arrays."""

    params: Any
    opt_state: Any
    key: Any  # uint32 PRNG key data (jax.random.key_data): shuffles are host-side, this is dropout


def seed_key(seed: int) -> np.ndarray:
    """Raw key data of ``jax.random.key(seed)`` (what ``TrainState.key`` holds).

    Computed on the host (threefry's key is the seed's two 32-bit halves), so starting
    a run compiles nothing; ``tests/test_loop.py`` checks it against JAX.
    """
    if jax.config.jax_default_prng_impl != "threefry2x32":
        return np.asarray(jax.random.key_data(jax.random.key(seed)))
    s = int(seed) & 0xFFFF_FFFF_FFFF_FFFF
    return np.array([s >> 32, s & 0xFFFF_FFFF], np.uint32)


def zero_opt_state(optimizer, params):
    """``optimizer.init(params)`` built on the host: every leaf zero.

    Right for the transforms ``jaxrnn.train`` uses (SGD, Adam, clip: counts and moments
    start at zero; checked against ``optimizer.init`` in the tests) and compiles nothing.
    """
    shapes = jax.eval_shape(optimizer.init, params)
    return jax.tree.map(lambda s: jax.device_put(np.zeros(s.shape, s.dtype)), shapes)


def init_state(model, optimizer, seed: int, dtype=jnp.float32, params=None) -> TrainState:
    """Params (given, or ``jaxrnn.models.init_params_numpy(model, seed)``), a zero
    optimizer state and the seed's key: all built on the host, nothing compiled."""
    from jaxrnn.models import init_params_numpy

    if params is None:
        params = init_params_numpy(model, seed, np.dtype(dtype))
    params = jax.tree.map(jax.device_put, params)
    return TrainState(params, zero_opt_state(optimizer, params), jax.device_put(seed_key(seed)))


def init_states(model, optimizer, seeds: list[int], dtype=jnp.float32, params=None) -> TrainState:
    """``init_state`` for several seeds, stacked on a leading axis ``[S, ...]``.

    ``params``, when given, must already be stacked ``[S, ...]``.
    """
    from jaxrnn.models import init_params_numpy

    if params is None:
        per_seed = [init_params_numpy(model, s, np.dtype(dtype)) for s in seeds]
        params = jax.tree.map(lambda *a: np.stack(a), *per_seed)
    params = jax.tree.map(jax.device_put, params)
    one = jax.tree.map(lambda a: a[0], params)
    opt = jax.tree.map(lambda a: jnp.broadcast_to(a, (len(seeds), *a.shape)),
                       zero_opt_state(optimizer, one))  # fmt: skip
    keys = jax.device_put(np.stack([seed_key(s) for s in seeds]))
    return TrainState(params, opt, keys)


def loss_terms(logits: Array, labels: Array) -> Array:
    """Per-example loss ``[B]``: sigmoid BCE for ``[B, 1]`` logits, softmax CE otherwise."""
    if logits.shape[-1] == 1:
        return optax.sigmoid_binary_cross_entropy(logits[:, 0], labels.astype(logits.dtype))
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels)


def probabilities(logits: Array) -> Array:
    """Class probabilities ``[B, C]`` from logits ``[B, K]`` (K = 1: sigmoid, C = 2)."""
    if logits.shape[-1] == 1:
        p = jax.nn.sigmoid(logits[:, 0])
        return jnp.stack([1.0 - p, p], axis=-1)
    return jax.nn.softmax(logits, axis=-1)


def predictions(logits: Array) -> Array:
    """Class index per example ``[B]`` from logits ``[B, K]``."""
    if logits.shape[-1] == 1:
        return (logits[:, 0] > 0).astype(jnp.int32)
    return jnp.argmax(logits, axis=-1).astype(jnp.int32)


def evaluate(model, params, data: Arrays) -> tuple[Array, Array]:
    """Mean loss and accuracy over a whole split (no dropout)."""
    loss, acc, _ = evaluate_with_predictions(model, params, data)
    return loss, acc


def evaluate_with_predictions(model, params, data: Arrays) -> tuple[Array, Array, Array]:
    """``evaluate``'s mean loss and accuracy, and the predicted class per example ``[N]``."""
    logits = model.apply(params, data.ids, data.lengths)
    return _summary(loss_terms(logits, data.labels), predictions(logits), data.labels)


def _summary(losses: Array, pred: Array, labels: Array) -> tuple[Array, Array, Array]:
    """``(mean loss, accuracy, pred)`` from per-example losses and predictions ``[N]``."""
    return jnp.mean(losses), jnp.mean((pred == labels).astype(losses.dtype)), pred


def weighted_loss(model, params, ids, lengths, labels, weights, key, total) -> Array:
    """``sum(weights * per-example loss) / total`` of one batch (dropout from ``key``)."""
    logits = model.apply(params, ids, lengths, key=key)
    return jnp.sum(weights * loss_terms(logits, labels)) / total


def sharded_evaluate(model, mesh, params, data: Arrays, axis: str = "data"):
    """``evaluate_with_predictions`` with the examples split over ``mesh``'s ``axis`` by
    ``jax.shard_map`` (rows padded to a multiple of the device count, padding dropped):
    ``(mean loss, accuracy, predictions [N])``."""
    from jax.sharding import PartitionSpec as P

    n = data.ids.shape[0]
    pad = -n % mesh.shape[axis]

    def rows(a):
        return jnp.pad(a, ((0, pad),) + ((0, 0),) * (a.ndim - 1))

    def local(params, ids, lengths, labels):
        logits = model.apply(params, ids, lengths)
        return loss_terms(logits, labels), predictions(logits)

    split = P(axis)
    loss, pred = jax.shard_map(
        local, mesh=mesh, in_specs=(P(), split, split, split), out_specs=(split, split)
    )(params, rows(data.ids), rows(data.lengths), rows(data.labels))
    return _summary(loss[:n], pred[:n], data.labels)


def data_parallel_grad(model, mesh, axis: str = "data") -> Callable:
    """``grad(params, ids, lengths, labels, weights, key)`` of the weighted mean loss, with
    the batch split over ``mesh``'s ``axis`` by ``jax.shard_map``.

    Each device computes its slice's share of the loss (its weighted sum over the batch's
    total weight) and the gradient of that; inside ``shard_map`` the gradient of the
    replicated parameters comes back summed over devices, i.e. the whole batch's. On CPU
    this is how the recurrence uses several cores: XLA runs one device's loops on one
    thread (``benchmarks/profile_step.py``).
    """
    from jax.sharding import PartitionSpec as P

    def local(params, ids, lengths, labels, weights, key):
        total = jax.lax.psum(jnp.sum(weights), axis)
        key = jax.random.fold_in(key, jax.lax.axis_index(axis))  # own dropout masks

        def loss(p):
            return weighted_loss(model, p, ids, lengths, labels, weights, key, total)

        return jax.grad(loss)(params)

    split = P(axis)
    return jax.shard_map(
        local, mesh=mesh, in_specs=(P(), split, split, split, split, P()), out_specs=P()
    )


def make_run_epochs(
    model,
    optimizer,
    batch_size: int,
    num_epochs: int,
    *,
    batch_sharding=None,
    pad_multiple: int = 1,
    with_predictions: bool = False,
    grad_mesh=None,
) -> Callable:
    """Build ``run(state, train, test, orders=None) -> (state, metrics [E, 4])``.

    Each epoch visits the training set in the order ``orders[e]`` (``[E, N]``;
    None draws ``jax.random.permutation`` from the state's key), in batches of
    ``batch_size`` (the last one partial: missing slots get weight 0, so the loss
    is the mean over the real examples, as in Keras), takes one optimizer step
    per batch, and then evaluates both splits. Not jitted here: wrap it with
    ``jax.jit`` (and ``jax.vmap`` over seeds).

    Data parallelism: with ``batch_sharding`` (a ``NamedSharding`` over the
    batch axis) every batch is constrained to it, so XLA splits the forward and
    backward pass across devices and all-reduces the gradients itself. Batches
    are padded to a multiple of ``pad_multiple`` (the device count) with
    zero-weight slots, which leaves the loss and its gradient unchanged.

    ``grad_mesh`` (a ``Mesh`` with one axis ``"data"``, with ``batch_sharding`` over it):
    take the gradients with ``jax.shard_map`` instead: each device runs forward and
    backward on its slice of the batch and the replicated parameters' gradients are
    summed over devices (``data_parallel_grad``); the per-epoch evaluation is split the
    same way (``sharded_evaluate``). Same loss and gradient, except that each device
    draws its own dropout masks (the key folded with the device index).

    ``with_predictions``: return ``(state, (metrics, test_predictions [E, N_test]))``,
    the predicted class of every test example after each epoch (what the final
    report needs, without compiling a second program).
    """
    extra = -(-batch_size // pad_multiple) * pad_multiple - batch_size

    def batch_loss(params, ids, lengths, labels, weights, key):
        return weighted_loss(model, params, ids, lengths, labels, weights, key, jnp.sum(weights))

    grad_fn = jax.grad(batch_loss) if grad_mesh is None else data_parallel_grad(model, grad_mesh)

    def run(state: TrainState, train: Arrays, test: Arrays, orders=None):
        n = train.ids.shape[0]
        nb = -(-n // batch_size)
        pad = nb * batch_size - n
        dtype = jax.tree.leaves(state.params)[0].dtype

        def epoch(state, order):
            key, k_perm, k_drop = jax.random.split(jax.random.wrap_key_data(state.key), 3)
            perm = jax.random.permutation(k_perm, n) if order is None else order
            idx = jnp.concatenate([perm, perm[:pad]]).reshape(nb, batch_size)
            w = jnp.concatenate([jnp.ones(n, dtype), jnp.zeros(pad, dtype)]).reshape(nb, batch_size)
            if extra:  # zero-weight slots so every device gets an equal share of the batch
                idx = jnp.concatenate([idx, jnp.zeros((nb, extra), idx.dtype)], axis=1)
                w = jnp.concatenate([w, jnp.zeros((nb, extra), dtype)], axis=1)

            def step(carry, xs):
                params, opt_state = carry
                bidx, bw, bkey = xs
                batch = (train.ids[bidx], train.lengths[bidx], train.labels[bidx], bw)
                if batch_sharding is not None:
                    batch = jax.lax.with_sharding_constraint(batch, batch_sharding)
                grads = grad_fn(params, *batch, bkey)
                updates, opt_state = optimizer.update(grads, opt_state, params)
                return (optax.apply_updates(params, updates), opt_state), None

            (params, opt_state), _ = jax.lax.scan(
                step, (state.params, state.opt_state), (idx, w, jax.random.split(k_drop, nb))
            )
            if grad_mesh is None:
                *test_metrics, pred = evaluate_with_predictions(model, params, test)
                train_metrics = evaluate(model, params, train)
            else:  # the evaluation split over the devices too
                *test_metrics, pred = sharded_evaluate(model, grad_mesh, params, test)
                train_metrics = sharded_evaluate(model, grad_mesh, params, train)[:2]
            metrics = jnp.stack([*train_metrics, *test_metrics])
            out = (metrics, pred) if with_predictions else metrics
            return TrainState(params, opt_state, jax.random.key_data(key)), out

        if orders is None:
            return jax.lax.scan(lambda s, _: epoch(s, None), state, None, length=num_epochs)
        return jax.lax.scan(epoch, state, orders)

    return run
