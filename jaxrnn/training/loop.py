"""The training step, batched evaluation, and the compiled epoch loop built from them.

::

    step = jax.jit(train_step(model, optimizer, task))       # task: jaxrnn.training.tasks.Task
    state = init_state(model, optimizer, seed)               # TrainState(params, opt_state, key)
    state, metrics = step(state, Batch(rows, weights), key)  # one optimizer step
    metrics, pred = evaluate(model, task, state.params, rows, batch_size=256)

    run = jax.jit(make_run_epochs(model, optimizer, batch_size, num_epochs))
    state, metrics = run(state, train, test, orders)         # orders [E, N] -> metrics [E, 4]
    # metrics columns (after each epoch): train_loss, train_acc, test_loss, test_acc

``make_run_epochs`` runs ``num_epochs`` epochs in one call: ``lax.scan`` over
epochs around ``lax.scan`` over the batches of each epoch (each iteration is
``train_step``), so Python dispatches once per call, not once per step; with
``count`` (``run(..., count=n)``) the epochs loop is a ``lax.fori_loop`` of runtime
trip count ``n``, so one compiled program runs chunks of any length with the same
arithmetic (``loop_epochs``; what makes a resumed run bit for bit). The
per-epoch evaluation is ``evaluate``: a ``lax.scan`` over fixed-size batches,
so its memory does not grow with the size of a split. Everything is a pytree
of arrays (the PRNG key is stored as raw key data), so a state can be
``vmap``-ed over a leading seed axis and written to a checkpoint as a flat list
of arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from jaxrnn.data.arrays import Arrays
from jaxrnn.evaluation.curves import is_scored
from jaxrnn.training import tasks
from jaxrnn.training.tasks import Batch, Task

Array = jax.Array

__all__ = [
    "Arrays",
    "Batch",
    "Best",
    "Bucketed",
    "Schedule",
    "TrainState",
    "evaluate",
    "evaluate_splits",
    "init_best",
    "is_scored",
    "init_opt_state",
    "init_state",
    "init_states",
    "loop_epochs",
    "make_run_epochs",
    "seed_key",
    "train_step",
]

# Rows per evaluation batch when none is given: large enough that a small split is one
# batch (its numbers are then those of a single whole-split pass), small enough that the
# activations of a batch stay in the megabytes.
EVAL_BATCH = 256

# Kept for callers of the classification helpers (they live in jaxrnn.training.tasks).
loss_terms = tasks.losses
probabilities = tasks.probabilities
predictions = tasks.predictions


class TrainState(NamedTuple):
    """Everything that changes during training; a pytree of arrays."""

    params: Any
    opt_state: Any
    key: Any  # uint32 PRNG key data (jax.random.key_data): shuffles are host-side, this is dropout
    carry: Any = ()  # the task's state between batches of an epoch (``Task.init_carry``)
    best: Any = ()  # early stopping's ``Best`` (``init_best``); () without early stopping


def seed_key(seed: int) -> np.ndarray:
    """Raw key data of ``jax.random.key(seed)`` (what ``TrainState.key`` holds).

    Computed on the host (threefry's key is the seed's two 32-bit halves), so starting
    a run compiles nothing; ``tests/test_loop.py`` checks it against JAX.
    """
    if jax.config.jax_default_prng_impl != "threefry2x32":
        return np.asarray(jax.random.key_data(jax.random.key(seed)))
    s = int(seed) & 0xFFFF_FFFF_FFFF_FFFF
    return np.array([s >> 32, s & 0xFFFF_FFFF], np.uint32)


def init_opt_state(optimizer: optax.GradientTransformation, params: Any) -> Any:
    """``optimizer.init(params)``, computed on the host CPU.

    Whatever the transform's initial state is (Adam's zero moments, Adagrad's
    accumulators starting at 0.1, ...), this is it: ``optimizer.init`` itself runs,
    on the CPU device, so nothing is assumed about its values.
    """
    cpu = jax.local_devices(backend="cpu")[0]
    # One compiled program for the whole tree: eagerly, each leaf's op compiles its own.
    state = jax.jit(optimizer.init)(jax.tree.map(lambda a: jax.device_put(np.asarray(a), cpu),
                                                 params))
    return jax.tree.map(lambda a: jax.device_put(np.asarray(a)), state)


def init_state(model, optimizer, seed: int, dtype=jnp.float32, params=None) -> TrainState:
    """Params (given, or ``jaxrnn.nn.models.init_params_numpy(model, seed)``), the optimizer's
    initial state (``init_opt_state``) and the seed's key, all built on the host."""
    from jaxrnn.nn.models import init_params_numpy

    if params is None:
        params = init_params_numpy(model, seed, np.dtype(dtype))
    params = jax.tree.map(jax.device_put, params)
    return TrainState(params, init_opt_state(optimizer, params), jax.device_put(seed_key(seed)))


def init_states(model, optimizer, seeds: list[int], dtype=jnp.float32, params=None) -> TrainState:
    """``init_state`` for several seeds, stacked on a leading axis ``[S, ...]``.

    ``params``, when given, must already be stacked ``[S, ...]``.
    """
    from jaxrnn.nn.models import init_params_numpy

    if params is None:
        per_seed = [init_params_numpy(model, s, np.dtype(dtype)) for s in seeds]
        params = jax.tree.map(lambda *a: np.stack(a), *per_seed)
    host = jax.tree.map(np.asarray, params)
    params = jax.tree.map(jax.device_put, params)
    # Each seed's slice cut on the host: an eager a[i] on a device array compiles one small
    # program per leaf (about 0.05 s each, a third of a small run's set-up).
    opts = [init_opt_state(optimizer, jax.tree.map(lambda a, i=i: a[i], host))
            for i in range(len(seeds))]  # fmt: skip
    opt = jax.tree.map(lambda *a: jax.device_put(np.stack(a)), *opts)
    keys = jax.device_put(np.stack([seed_key(s) for s in seeds]))
    return TrainState(params, opt, keys)


class Bucketed(NamedTuple):
    """A split cut into length buckets (``jaxrnn.data.buckets.split_buckets``): ``parts`` holds
    one pytree of rows per bucket (``Arrays``, ``ids [N_b, T_b]``); row ``n`` of the split is
    row ``inverse[n]`` of the parts' rows concatenated (``[N]`` int32)."""

    parts: tuple[Any, ...]
    inverse: Any


class Schedule(NamedTuple):
    """One epoch's batches over a ``Bucketed`` training split
    (``jaxrnn.data.buckets.batch_schedule``); what ``orders`` holds for bucketed data, with
    the leading epoch axis ``[E, ...]`` (and seed axis ``[S, E, ...]``)."""

    part: Any  # [NB] int32: the bucket of each batch
    idx: Any  # [NB, B] int32: its rows within that bucket, -1 = an empty slot (weight 0)


# ----------------------------------------------------------------------------- the step


def batch_loss(model, task: Task, params, batch: Batch, carry, key, total=None):
    """``(sum(weights * losses) / total, (carry, outputs))`` of one batch; ``total`` defaults
    to the batch's ``sum(weights)``, i.e. the weighted mean loss. Dropout from ``key``."""
    out, carry = task.apply(model, params, batch, carry, key)
    losses, w = task.loss(out, batch)
    total = jnp.sum(w) if total is None else total
    return jnp.sum(w * losses) / total, (carry, out)


def _local_grad(model, task: Task) -> Callable:
    """``grad(params, batch, carry, key) -> (grads, (loss, carry, (sums, counts)))`` on one
    device; ``sums, counts`` are ``task.stats`` of the same forward pass (the batch's
    metrics before the step, what a running mean over an epoch is made of)."""

    def grad(params, batch, carry, key):
        (loss, (carry, out)), g = jax.value_and_grad(
            lambda p: batch_loss(model, task, p, batch, carry, key), has_aux=True
        )(params)
        return g, (loss, carry, task.stats(jax.lax.stop_gradient(out), batch))

    return grad


def split_specs(task: Task, axis: str = "data") -> tuple[Any, Any]:
    """``(batch spec, carry spec)``: the ``PartitionSpec`` prefixes that split a ``Batch`` and
    the task's carry over the mesh axis ``axis`` along ``task.split_axis``: the rows and their
    weights (axis 0), or a language model's streams (axis 1 of the data ``[R, S, T]`` and of
    the carry ``[L, S, H]``; the weights ``[R]`` are the chunks', replicated)."""
    from jax.sharding import PartitionSpec as P

    if task.split_axis == 0:
        return P(axis), P()
    split = P(*([None] * task.split_axis), axis)
    return Batch(split, P()), split


def _check_split(task: Task, batch: Batch, carry: Any, devices: int) -> None:
    """At trace time: refuse a split that would not give every device an equal share of the
    rows (or streams), or a carry that the rows' axis cannot split."""
    ax = task.split_axis
    if ax == 0 and jax.tree.leaves(carry):
        raise ValueError("shard_map data parallelism splits a task's carry only along its "
                         "streams (Task.split_axis > 0)")  # fmt: skip
    for leaf in jax.tree.leaves((batch.data, carry)):
        if leaf.ndim <= ax or leaf.shape[ax] % devices:
            what = "rows" if ax == 0 else "streams"
            raise ValueError(f"{what} {leaf.shape[ax] if leaf.ndim > ax else 0} do not split "
                             f"evenly over {devices} devices (shape {leaf.shape}, axis {ax})")


def data_parallel_grad(model, mesh, task: Task | None = None, axis: str = "data") -> Callable:
    """``grad(params, batch, carry, key) -> (grads, (loss, carry, (sums, counts)))`` of the
    weighted mean loss, with the batch split over ``mesh``'s ``axis`` by ``jax.shard_map``
    (``sums, counts``: ``task.stats`` of the forward pass, summed over devices): its rows, or
    for a task with ``split_axis`` > 0 (a language model) its streams and their carried state.

    Each device computes its share of the loss (the weighted sum of its losses over the
    batch's total weight) and the gradient of that; inside ``shard_map`` the gradient of the
    replicated parameters comes back summed over devices, i.e. the whole batch's. On CPU
    this is how the recurrence uses several cores: XLA runs one device's loops on one
    thread (``benchmarks/profile_step.py``).
    """
    from jax.sharding import PartitionSpec as P

    task = task or tasks.classification()
    batch_spec, carry_spec = split_specs(task, axis)

    def local(params, batch, carry, key):
        if key is not None:  # own dropout masks (and a language model's own windows)
            key = jax.random.fold_in(key, jax.lax.axis_index(axis))

        def loss(p):  # this device's weighted sum of losses, and of weights
            out, new = task.apply(model, p, batch, carry, key)
            losses, w = task.loss(out, batch)
            return jnp.sum(w * losses), (jnp.sum(w), out, new)

        # The params as this device's own copy (varying over the axis), so its gradient is
        # its own share, not summed where each weight is used: everything the devices add up
        # (gradients, loss, weight, stats) then goes through one all-reduce of one flat
        # vector. Summed where used, a language model's step had ~8 rendezvous of the two
        # devices' threads, each a wake-up of the other core (4-5 ms of a 19 ms step).
        mine = jax.tree.map(lambda a: jax.lax.pcast(a, (axis,), to="varying"), params)
        (value, (wsum, out, carry)), g = jax.value_and_grad(loss, has_aux=True)(mine)
        sums, counts = task.stats(jax.lax.stop_gradient(out), batch)
        flat, unflatten = ravel_pytree((g, value, wsum, sums, counts))
        g, value, total, sums, counts = unflatten(jax.lax.psum(flat, axis))
        return jax.tree.map(lambda x: x / total, g), value / total, carry, (sums, counts)

    sharded = jax.shard_map(local, mesh=mesh, in_specs=(P(), batch_spec, carry_spec, P()),
                            out_specs=(P(), P(), carry_spec, P()))  # fmt: skip

    def grad(params, batch, carry, key):
        _check_split(task, batch, carry, mesh.shape[axis])
        g, loss, carry, stats = sharded(params, batch, carry, key)
        return g, (loss, carry, stats)

    return grad


def train_step(
    model, optimizer: optax.GradientTransformation, task: Task | None = None, *, grad_fn=None
) -> Callable:
    """``step(state, batch, key) -> (state, metrics)``: one optimizer step on one batch.

    ``state`` is a ``TrainState``; ``batch`` a ``jaxrnn.training.tasks.Batch``; ``key`` the
    dropout key of this step (a typed key, ``jax.random.key``). ``metrics`` is ``{"loss": the
    batch's weighted mean loss before the step, "sums": [M], "counts": [M]}``, the
    ``task.stats`` of that forward pass (``sums / counts`` are the batch's metrics,
    ``task.metric_names``; added up over an epoch's steps they give its running means).
    Pure: jit it (and vmap it) as you like. ``task`` defaults to
    ``jaxrnn.training.tasks.classification()``; ``grad_fn`` replaces the one-device gradient
    (``data_parallel_grad``; one of your own may return ``(grads, (loss, carry))`` only: the
    metrics then hold the loss alone).
    """
    task = task or tasks.classification()
    grad_fn = grad_fn or _local_grad(model, task)

    def step(state: TrainState, batch: Batch, key) -> tuple[TrainState, dict[str, Array]]:
        grads, aux = grad_fn(state.params, batch, state.carry, key)
        loss, carry = aux[0], aux[1]
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics = {"loss": loss}
        if len(aux) > 2:
            metrics["sums"], metrics["counts"] = aux[2]
        return state._replace(params=params, opt_state=opt_state, carry=carry), metrics

    return step


# ----------------------------------------------------------------------------- evaluation


def _num_rows(data: Any) -> int:
    return jax.tree.leaves(data)[0].shape[0]


def _take(data: Any, idx: Array) -> Any:
    return jax.tree.map(lambda a: a[idx], data)


def evaluate(
    model,
    task: Task | None,
    params,
    data: Any,
    batch_size: int = EVAL_BATCH,
    *,
    mesh=None,
    axis: str = "data",
) -> tuple[Array, Array]:
    """Metrics over a whole split, in batches: ``(metrics [M], predictions [N, ...])``.

    ``metrics`` follow ``task.metric_names`` (classification: mean loss, accuracy), each
    ``sum over batches of sums / sum of counts``. The split is read ``batch_size`` rows
    at a time in a ``lax.scan`` (the last batch padded with weight-0 rows), so peak
    memory is one batch's, whatever ``N``. The task's carry starts from ``task.init_carry``
    once and goes on from batch to batch (a language model's text streams). No dropout.
    ``mesh``: each batch's rows are split over the mesh's ``axis`` with ``jax.shard_map``
    (``batch_size`` rounded up to a multiple of the device count).
    """
    task = task or tasks.classification()
    if isinstance(data, Bucketed):
        return evaluate_buckets(model, task, params, data, batch_size, mesh=mesh, axis=axis)
    sums, counts, preds = _evaluate_sums(model, task, params, data, batch_size, mesh, axis)
    return sums / counts, preds


def evaluate_buckets(model, task: Task, params, data: Bucketed, batch_size: int = EVAL_BATCH,
                     *, mesh=None, axis: str = "data") -> tuple[Array, Array]:  # fmt: skip
    """``evaluate`` of a bucketed split: each bucket at its own length, the sums and counts
    added over buckets, the predictions put back in the split's row order."""
    out = [_evaluate_sums(model, task, params, part, batch_size, mesh, axis)
           for part in data.parts]  # fmt: skip
    sums, counts = out[0][0], out[0][1]
    for o in out[1:]:
        sums, counts = sums + o[0], counts + o[1]
    preds = jnp.concatenate([o[2] for o in out])[data.inverse]
    return sums / counts, preds


def _eval_rows(batch_size: int, n: int, mesh, axis: str) -> int:
    """Rows per evaluation batch: ``batch_size``, at most ``n``, rounded up to a multiple of
    the mesh's ``axis`` size."""
    dev = 1 if mesh is None else mesh.shape[axis]
    return -(-min(batch_size, n) // dev) * dev


def _slots(n: int, nb: int, bs: int, dtype) -> tuple[Array, Array]:
    """``(idx [nb, bs], weights [nb, bs])`` of ``n`` rows in ``nb`` batches of ``bs``: the last
    batch filled up with the last row at weight 0."""
    pos = jnp.arange(nb * bs).reshape(nb, bs)
    return jnp.minimum(pos, n - 1), (pos < n).astype(dtype)


def _batch_stats(model, task: Task, mesh, axis: str, carry) -> Callable:
    """``local(params, rows, w, carry) -> (sums, counts, predictions, carry)`` of one
    evaluation batch; with a ``mesh`` the rows are split over ``axis`` by ``shard_map`` and
    the sums and counts added over it (a task's ``carry`` is then refused)."""

    def one_batch(params, rows, w, carry):
        batch = Batch(rows, w)
        out, carry = task.apply(model, params, batch, carry, None)
        sums, counts = task.stats(out, batch)
        return sums, counts, task.predict(out), carry

    if mesh is None:
        return one_batch
    from jax.sharding import PartitionSpec as P

    if jax.tree.leaves(carry):
        raise ValueError("evaluate over a mesh does not split a task's carry")

    def shard(params, rows, w, carry):
        sums, counts, pred, carry = one_batch(params, rows, w, carry)
        return jax.lax.psum(sums, axis), jax.lax.psum(counts, axis), pred, carry

    split = P(axis)
    return jax.shard_map(shard, mesh=mesh, in_specs=(P(), split, split, P()),
                         out_specs=(P(), P(), split, P()))  # fmt: skip


def _evaluate_sums(model, task: Task, params, data: Any, batch_size: int, mesh, axis: str
                   ) -> tuple[Array, Array, Array]:  # fmt: skip
    """``(sums [M], counts [M], predictions [N, ...])`` of ``evaluate``."""
    n = _num_rows(data)
    bs = _eval_rows(batch_size, n, mesh, axis)
    nb = -(-n // bs)
    dtype = jax.tree.leaves(params)[0].dtype
    idx, weights = _slots(n, nb, bs, dtype)
    # Initialised once and threaded through the batches: a language model's streams go on
    # from one batch of chunks to the next (classification's carry is ()).
    carry = task.init_carry(model, params, bs)
    local = _batch_stats(model, task, mesh, axis, carry)

    def body(acc, xs):
        bidx, w = xs
        sums, counts, pred, carry = local(params, _take(data, bidx), w, acc[2])
        return (acc[0] + sums, acc[1] + counts, carry), pred

    m = len(task.metric_names)
    zero = (jnp.zeros(m, dtype), jnp.zeros(m, dtype), carry)
    if nb == 1:  # one batch: no loop (a small split's numbers are a single pass's)
        sums, counts, pred, _ = local(params, _take(data, idx[0]), weights[0], carry)
        preds = pred[None]
    else:
        (sums, counts, _), preds = jax.lax.scan(body, zero, (idx, weights))
    preds = preds.reshape(nb * bs, *preds.shape[2:])[:n]
    return sums, counts, preds


def evaluate_splits(model, task: Task, params, splits: list, batch_size: int = EVAL_BATCH,
                    *, mesh=None, axis: str = "data") -> list[tuple[Array, Array]]:  # fmt: skip
    """``[evaluate(split) for split in splits]`` with one copy of the model's forward in the
    program: the batches of every split in one ``lax.scan``, each batch gathered from its
    own split (the gathers are cheap, a forward pass per split is not, in compile time and
    compile memory). The splits must hold rows of one shape (``ids [N_s, T]``, the same T;
    a ``Bucketed`` split of one part counts as its part) and the task no carry; otherwise
    (or for one split) each split is evaluated on its own. Same numbers as ``evaluate``."""
    rows = [s.parts[0] if isinstance(s, Bucketed) and len(s.parts) == 1 else s for s in splits]
    carry = task.init_carry(model, params, 1)
    shapes = {tuple(a.shape[1:] for a in jax.tree.leaves(r)) for r in rows}
    if (len(splits) < 2 or jax.tree.leaves(carry) or len(shapes) > 1
            or any(isinstance(r, Bucketed) for r in rows)):  # fmt: skip
        return [evaluate(model, task, params, s, batch_size, mesh=mesh, axis=axis)
                for s in splits]  # fmt: skip
    ns = [_num_rows(r) for r in rows]
    bs = _eval_rows(batch_size, max(ns), mesh, axis)
    nbs = [-(-n // bs) for n in ns]
    dtype = jax.tree.leaves(params)[0].dtype
    slots = [_slots(n, nb, bs, dtype) for n, nb in zip(ns, nbs, strict=True)]
    which = jnp.concatenate([jnp.full(nb, k, jnp.int32) for k, nb in enumerate(nbs)])
    idx, weights = (jnp.concatenate(a) for a in zip(*slots, strict=True))
    local = _batch_stats(model, task, mesh, axis, carry)

    def gather(k, bidx):  # batch rows of split k: every split gathered, k's kept
        taken = [_take(r, jnp.minimum(bidx, n - 1)) for r, n in zip(rows, ns, strict=True)]
        return jax.tree.map(lambda *a: jnp.stack(a)[k], *taken)

    def body(acc, xs):
        k, bidx, w = xs
        sums, counts, pred, _ = local(params, gather(k, bidx), w, carry)
        return (acc[0].at[k].add(sums), acc[1].at[k].add(counts)), pred

    m = len(task.metric_names)
    zero = (jnp.zeros((len(rows), m), dtype), jnp.zeros((len(rows), m), dtype))
    (sums, counts), preds = jax.lax.scan(body, zero, (which, idx, weights))
    out, start = [], 0
    for k, (s, n, nb) in enumerate(zip(splits, ns, nbs, strict=True)):
        p = preds[start : start + nb].reshape(nb * bs, *preds.shape[2:])[:n]
        start += nb
        if isinstance(s, Bucketed):
            p = p[s.inverse]
        out.append((sums[k] / counts[k], p))
    return out


# ----------------------------------------------------------------------------- eval schedule


# ----------------------------------------------------------------------------- early stopping


class Best(NamedTuple):
    """Early stopping's record of one seed, carried in ``TrainState.best`` from epoch to epoch
    (and from chunk to chunk), so stopping needs no host round trip."""

    params: Any  # the params of the lowest validation loss so far
    loss: Array  # [] that validation loss (inf before the first epoch)
    epoch: Array  # [] int32, its epoch (1-based; 0 before the first)
    epochs: Array  # [] int32, epochs trained so far (frozen once stopped)
    stopped: Array  # [] bool: no more updates; ``params`` of the state are the best again


def init_best(params: Any, lead: tuple[int, ...] = ()) -> Best:
    """The ``Best`` before the first epoch: a copy of ``params``, loss inf, no epoch.
    ``lead``: leading (seed) axes of stacked params, e.g. ``(S,)``; the scalars get them too."""
    dtype = jax.tree.leaves(params)[0].dtype
    return Best(jax.tree.map(jnp.array, params), jnp.full(lead, jnp.inf, dtype),
                jnp.zeros(lead, jnp.int32), jnp.zeros(lead, jnp.int32),
                jnp.zeros(lead, bool))  # fmt: skip


def _tree_where(pred: Array, a: Any, b: Any) -> Any:
    return jax.tree.map(lambda x, y: jnp.where(pred, x, y), a, b)


def early_stop_update(state: TrainState, val_loss: Array, patience: int, total_epochs: int,
                      scored: Array | bool = True) -> TrainState:  # fmt: skip
    """After an epoch: remember the params if ``val_loss`` is the lowest so far (strictly
    lower: the first of equal losses is kept); stop when ``patience`` epochs have passed
    without improvement or the last of ``total_epochs`` is done, and then put the best
    params back into the state (what is kept, saved and reported).

    ``scored`` False (an epoch ``--eval-every`` skips, ``is_scored``): ``val_loss`` is not
    read and nothing is decided; the epoch still counts, so patience is in epochs and a
    stop falls on the first scored epoch at least ``patience`` epochs after the best one
    (the run's last epoch is always scored)."""
    b: Best = state.best
    e = b.epochs + 1
    improved = (val_loss < b.loss) & ~b.stopped & scored
    best_params = _tree_where(improved, state.params, b.params)
    loss = jnp.where(improved, val_loss, b.loss).astype(b.loss.dtype)
    epoch = jnp.where(improved, e, b.epoch)
    stop = ~b.stopped & scored & ((e - epoch >= patience) | (e >= total_epochs))
    params = _tree_where(stop, best_params, state.params)
    best = Best(best_params, loss, epoch, jnp.where(b.stopped, b.epochs, e), b.stopped | stop)
    return state._replace(params=params, best=best)


def reopen_early_stop(state: TrainState, patience: int) -> TrainState:
    """A saved state resumed for more epochs: a seed that stopped only because its run's last
    epoch came (not ``patience`` epochs without improvement) trains on, from the best params
    the stop put back; a seed stopped by patience stays stopped."""
    b: Best = state.best
    by_patience = (b.epochs - b.epoch) >= patience
    return state._replace(best=b._replace(stopped=jnp.logical_and(b.stopped, by_patience)))


# ----------------------------------------------------------------------------- epochs


def make_run_epochs(
    model,
    optimizer,
    batch_size: int,
    num_epochs: int,
    *,
    task: Task | None = None,
    eval_batch_size: int = EVAL_BATCH,
    batch_sharding=None,
    pad_multiple: int = 1,
    with_predictions: bool = False,
    grad_mesh=None,
    early_stopping: int = 0,
    total_epochs: int | None = None,
    eval_train: bool = True,
    eval_every: int = 1,
) -> Callable:
    """Build ``run(state, train, test, orders=None, val=None, count=None, first=None,
    total_epochs=None) -> (state, metrics [E, 2M])``.

    Each epoch visits the training rows in the order ``orders[e]`` (``[E, N]``;
    None draws ``jax.random.permutation`` from the state's key), in batches of
    ``batch_size`` (the last one partial: missing slots get weight 0, so the loss
    is the mean over the real examples, as in Keras), takes one ``train_step`` per
    batch, and then evaluates both splits with ``evaluate``. ``metrics`` per epoch:
    the train split's ``task.metric_names``, then the test split's (classification:
    train_loss, train_acc, test_loss, test_acc). Not jitted here: wrap it with
    ``jax.jit`` (and ``jax.vmap`` over seeds).

    ``eval_train=False``: the train split's metrics are the running means of the epoch's
    training steps (each batch scored by the forward pass that took its gradient, before
    its update, dropout on: what Keras and the usual PyTorch loops report) instead of a
    second pass over the split with the epoch's final params; the same columns, no
    evaluation of the train split (except with ``early_stopping``, where a stopped seed,
    which trains no batch, reports the evaluation of its kept params).

    Data parallelism: with ``batch_sharding`` (a ``NamedSharding`` over the
    batch axis) every batch is constrained to it, so XLA splits the forward and
    backward pass across devices and all-reduces the gradients itself. Batches
    are padded to a multiple of ``pad_multiple`` (the device count) with
    zero-weight slots, which leaves the loss and its gradient unchanged.

    ``grad_mesh`` (a ``Mesh`` with one axis ``"data"``, with ``batch_sharding`` over it):
    take the gradients with ``jax.shard_map`` instead (``data_parallel_grad``); the
    per-epoch evaluation is split the same way. Same loss and gradient, except that
    each device draws its own dropout masks (the key folded with the device index). A task
    with ``split_axis`` > 0 (a language model: its streams are split, ``batch_size`` 1 chunk
    a step, no ``pad_multiple``) evaluates unsplit.

    ``with_predictions``: return ``(state, (metrics, test_predictions [E, N_test]))``,
    the prediction for every test row after each epoch (what the final report needs,
    without compiling a second program).

    ``val`` (a validation split): its metrics follow the test split's (``[E, 3M]``).
    ``early_stopping`` (patience N > 0, needs ``val`` and ``state.best = init_best(params)``):
    ``early_stop_update`` after every epoch; a stopped state is no longer trained (its
    epochs still evaluate the kept params). ``total_epochs`` (default ``num_epochs``): the
    run's last epoch, where the best params are put back even without a stop; ``run``'s
    ``total_epochs`` (a traced integer), where given, replaces it at run time, so the
    compiled program does not depend on the run's length.

    Length buckets: ``train`` a ``Bucketed`` split and ``orders`` a ``Schedule`` with a leading
    epoch axis (``jaxrnn.data.buckets``): each batch is drawn from one bucket, and the step
    runs at that bucket's length (``lax.switch`` over one branch per bucket, so one compiled
    program serves every bucket; under ``vmap`` with per-seed schedules the switch becomes
    a select that runs every branch). A ``Bucketed`` split of one part (the rows sorted by
    length, what ``python -m jaxrnn.train`` gives a model whose loops run in chunks,
    ``jaxrnn.nn.bptt.layer(chunk=)``) has no switch: each batch runs to about its own longest
    row in the one copy of the model. ``test`` and ``val`` may be ``Bucketed`` too
    (``evaluate_buckets``); all splits are evaluated in one scan where they can be
    (``evaluate_splits``).

    ``count`` (a traced integer scalar, at most ``num_epochs``): run only the first ``count``
    epochs, with a runtime trip count (``loop_epochs``): one compiled program serves chunks
    of any length and computes every epoch with the same arithmetic. Rows from ``count``
    on of ``metrics`` are zero, and the predictions are the last epoch's only ``[N_test]``.

    ``eval_every`` N > 1 (``--eval-every``): the test and validation splits are evaluated only
    at the epochs ``is_scored(epoch, N, total_epochs)`` (the first, every multiple of N, the
    last), under a ``lax.cond``, so the other epochs cost no evaluation; their test and
    validation columns are zero (the caller drops them: ``scored_epochs``). ``first`` (a
    runtime integer, default 0): the epochs trained before this call, so that a run cut into
    calls (chunks, a resume) keeps one schedule. Early stopping decides at scored epochs
    only (``early_stop_update``). What still evaluates every epoch: ``eval_train`` (the
    whole pass, all splits, the test and validation figures then dropped where not scored)
    and, with early stopping, a seed already stopped (its train figures).
    """
    task = task or tasks.classification()
    padded = -(-batch_size // pad_multiple) * pad_multiple
    grad_fn = None if grad_mesh is None else data_parallel_grad(model, grad_mesh, task)
    step = train_step(model, optimizer, task, grad_fn=grad_fn)
    # a language model's evaluation reads one stream, which no mesh splits: replicated
    eval_mesh = grad_mesh if task.split_axis == 0 else None

    total = total_epochs or num_epochs

    def run(state: TrainState, train: Any, test: Any, orders=None, val: Any = None, count=None,
            first=None, total_epochs=None):
        bucketed = isinstance(train, Bucketed)
        if bucketed and not isinstance(orders, Schedule):
            raise ValueError("a Bucketed training split needs Schedule orders (batch_schedule)")
        n = _num_rows(train.inverse if bucketed else train)
        nb = -(-n // batch_size)
        pad = nb * batch_size - n
        dtype = jax.tree.leaves(state.params)[0].dtype

        def batches(order, k_perm):
            """``(xs, body, number of batches)`` of one epoch's ``lax.scan``."""
            if bucketed:  # a Schedule: each batch from one bucket, at that bucket's length
                idx = order.idx
                if padded > batch_size:
                    idx = jnp.concatenate([idx, jnp.full((idx.shape[0], padded - batch_size),
                                                         -1, idx.dtype)], 1)  # fmt: skip

                def body(carry, xs):
                    state, acc = carry
                    part, bidx, bkey = xs
                    w, bidx = (bidx >= 0).astype(dtype), jnp.maximum(bidx, 0)
                    branches = [lambda s, rows=rows: one_step(s, _take(rows, bidx), w, bkey)
                                for rows in train.parts]  # fmt: skip
                    if len(branches) == 1:  # one part (sorted rows for a chunked model)
                        state, stats = branches[0](state)
                    else:
                        state, stats = jax.lax.switch(part, branches, state)
                    return (state, _add(acc, stats)), None

                return (order.part, idx), body, idx.shape[0]
            perm = jax.random.permutation(k_perm, n) if order is None else order
            idx = jnp.concatenate([perm, perm[:pad]]).reshape(nb, batch_size)
            w = jnp.concatenate([jnp.ones(n, dtype), jnp.zeros(pad, dtype)]).reshape(nb, batch_size)
            if padded > batch_size:  # zero-weight slots so every device gets an equal share
                idx = jnp.concatenate([idx, jnp.zeros((nb, padded - batch_size), idx.dtype)], 1)
                w = jnp.concatenate([w, jnp.zeros((nb, padded - batch_size), dtype)], 1)

            def body(carry, xs):
                state, acc = carry
                bidx, bw, bkey = xs
                state, stats = one_step(state, _take(train, bidx), bw, bkey)
                return (state, _add(acc, stats)), None

            return (idx, w), body, nb

        def one_step(state, rows, w, key):
            batch = Batch(rows, w)
            if batch_sharding is not None:
                batch = jax.lax.with_sharding_constraint(batch, batch_sharding)
            state, m = step(state, batch, key)
            return state, (m["sums"], m["counts"])

        m = len(task.metric_names)

        done = jnp.zeros((), jnp.int32) if first is None else jnp.asarray(first, jnp.int32)
        # the run's length: a runtime value where given, so that one compiled program serves
        # runs of any length (a resume to more epochs, a budget's probe and its run)
        last = total if total_epochs is None else jnp.asarray(total_epochs, jnp.int32)

        def epoch(state, order_e):
            order, e = order_e
            scored = is_scored(done + e + 1, eval_every, last)
            key, k_perm, k_drop = jax.random.split(jax.random.wrap_key_data(state.key), 3)
            xs, body, num = batches(order, k_perm)
            zero = (jnp.zeros(m, dtype), jnp.zeros(m, dtype))

            def train_epoch(state):
                state = state._replace(carry=task.init_carry(model, state.params, padded))
                (state, acc), _ = jax.lax.scan(body, (state, zero),
                                               (*xs, jax.random.split(k_drop, num)))  # fmt: skip
                return state._replace(carry=()), acc

            if early_stopping:  # a stopped seed keeps its params (vmapped: a select)
                state, acc = jax.lax.cond(state.best.stopped, lambda s: (s, zero), train_epoch,
                                          state)  # fmt: skip
            else:
                state, acc = train_epoch(state)
            params = state.params
            # A seed stopped early trains no batch: its train metrics stay an evaluation of
            # its kept params, so with early stopping the train split is still evaluated.
            score_train = eval_train or bool(early_stopping)
            splits = [test] + ([train] if score_train else []) + ([val] if val is not None else [])

            def scores(params):
                return evaluate_splits(model, task, params, splits, eval_batch_size,
                                       mesh=eval_mesh)  # fmt: skip

            if eval_every > 1 and not eval_train:  # skipped epochs evaluate nothing
                need = scored | state.best.stopped if early_stopping else scored
                scores = jax.jit(scores)  # one trace for the shapes and the branch
                shapes = jax.eval_shape(scores, params)
                evals = jax.lax.cond(need, scores, lambda p: jax.tree.map(
                    lambda a: jnp.zeros(a.shape, a.dtype), shapes), params)  # fmt: skip
            else:
                evals = scores(params)
            test_metrics, pred = evals[0]
            if eval_train:
                train_metrics = evals[1][0]
            elif early_stopping:
                train_metrics = jnp.where(state.best.stopped, evals[1][0],
                                          acc[0] / jnp.maximum(acc[1], 1))  # fmt: skip
            else:
                train_metrics = acc[0] / acc[1]
            metrics = jnp.concatenate([train_metrics, test_metrics])
            if val is not None:
                val_metrics = evals[-1][0]
                metrics = jnp.concatenate([metrics, val_metrics])
                if early_stopping:
                    state = early_stop_update(state, val_metrics[0], early_stopping, last,
                                              scored)  # fmt: skip
            out = (metrics, pred) if with_predictions else metrics
            state = state._replace(key=jax.random.key_data(key), carry=())
            return state, out

        return loop_epochs(epoch, state, orders, num_epochs, count, with_predictions,
                           indexed=True)  # fmt: skip

    return run


def _add(acc: tuple[Array, Array], stats: tuple[Array, Array]) -> tuple[Array, Array]:
    return acc[0] + stats[0], acc[1] + stats[1]


def loop_epochs(
    epoch: Callable,
    state: Any,
    orders: Array | None,
    num_epochs: int,
    count: Array | None = None,
    last_of_second: bool = False,
    indexed: bool = False,
) -> tuple[Any, Any]:
    """Run ``epoch(state, order) -> (state, out)`` over ``num_epochs`` epochs; ``out`` stacked.

    ``count`` None: all ``num_epochs``, a ``lax.scan`` (over ``orders [E, N]``, or over
    ``None`` orders). ``count`` a traced integer scalar ``<= num_epochs``: only the first
    ``count`` epochs run, in a ``lax.fori_loop`` with that dynamic trip count, writing each
    epoch's ``out`` into row ``e`` of a buffer of ``num_epochs`` rows (rows ``count ..`` stay
    zero). Why: XLA specialises a loop of known trip count (a one-epoch loop is inlined,
    short ones unrolled, ...), and in float32 differently compiled arithmetic rounds
    differently; with a runtime count every call of one program, whatever its length,
    executes the same compiled epoch body, so a run cut into chunks anywhere computes the
    same bits as an uninterrupted one. ``last_of_second`` (with ``count``): ``out`` is a
    pair whose second part is returned for the last epoch run only, not stacked (the test
    predictions: one epoch's are what the report needs). ``indexed``: ``epoch`` is called
    as ``epoch(state, (order, e))``, ``e`` the epoch's index in this call (int32, from 0).
    """
    if indexed and count is None:
        index = jnp.arange(num_epochs, dtype=jnp.int32)
        if orders is None:
            return jax.lax.scan(lambda s, e: epoch(s, (None, e)), state, index)
        return jax.lax.scan(epoch, state, (orders, index))
    if count is None:
        if orders is None:
            return jax.lax.scan(lambda s, _: epoch(s, None), state, None, length=num_epochs)
        return jax.lax.scan(epoch, state, orders)
    first = None if orders is None else jax.tree.map(lambda o: o[0], orders)
    if indexed:
        first = (first, jnp.zeros((), jnp.int32))
    # One trace of the epoch serves both the shapes and the loop body (jit's trace cache);
    # XLA inlines the call, so the compiled loop is the same.
    epoch = jax.jit(epoch)
    shapes = jax.eval_shape(epoch, state, first)[1]
    stacked, last = shapes if last_of_second else (shapes, None)
    buf = jax.tree.map(lambda s: jnp.zeros((num_epochs, *s.shape), s.dtype), stacked)
    last = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), last)

    def body(e, carry):
        state, buf, last = carry
        order = None if orders is None else jax.tree.map(
            lambda o: jax.lax.dynamic_index_in_dim(o, e, 0, False), orders)
        state, out = epoch(state, (order, e) if indexed else order)
        out, last = out if last_of_second else (out, last)
        buf = jax.tree.map(lambda b, o: jax.lax.dynamic_update_index_in_dim(b, o, e, 0), buf, out)
        return state, buf, last

    init = (state, buf, last)
    # int32 bounds: an index of the type eval_shape saw (a Python 0 makes it weak-typed)
    state, buf, last = jax.lax.fori_loop(jnp.int32(0), jnp.asarray(count, jnp.int32), body,
                                         init)
    return state, ((buf, last) if last_of_second else buf)
