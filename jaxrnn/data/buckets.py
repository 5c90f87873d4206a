"""Length bucketing: texts of similar length batched together, each bucket padded to its own
length (NumPy only; the compiled loop that trains on buckets is ``jaxrnn.training.loop``).

::

    bounds = bucket_bounds(lengths, 4)            # e.g. [9, 15, 27, 100]: bucket b holds
                                                  # lengths in (bounds[b-1], bounds[b]]
    parts, inverse = split_buckets(arrays, bounds)  # Arrays [N_b, bounds[b]] per bucket
    bucket, idx = batch_schedule(order, arrays.lengths, bounds, batch_size)

The bounds minimise the padded tokens ``sum over texts of the bound of its bucket`` (an exact
dynamic programme over the distinct lengths). An epoch's schedule comes from that epoch's
sample order (``jaxrnn.data.orders.shuffle_orders``, so it is seeded as every other order here):
each bucket's rows in the order's order, cut into batches (the last one of a bucket partial,
its empty slots ``-1``), and the batches of all buckets interleaved by where their first row
stands in the order, so buckets are shuffled across the epoch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jaxrnn.data.arrays import Arrays


def padded_tokens(lengths: Any, bounds: list[int]) -> int:
    """Tokens the batches hold when ``lengths`` are padded to ``bounds`` (each text to the
    bound of its bucket)."""
    lengths = np.maximum(np.asarray(lengths), 1)
    b = np.searchsorted(np.asarray(bounds), lengths, side="left")
    return int(np.asarray(bounds)[np.minimum(b, len(bounds) - 1)].sum())


def bucket_bounds(lengths: Any, k: int) -> list[int]:
    """At most ``k`` bucket lengths (ascending, the last the longest of ``lengths``) that
    minimise ``padded_tokens``. Lengths of 0 count as 1 (a scan of at least one step)."""
    lengths = np.maximum(np.asarray(lengths, np.int64), 1)
    u, c = np.unique(lengths, return_counts=True)
    m, k = len(u), max(1, min(int(k), len(u)))
    csum = np.concatenate([[0], np.cumsum(c)])  # csum[j] = texts of the j shortest lengths
    # best[j]: least tokens for the j shortest distinct lengths; cut[kk, j]: where its last
    # bucket starts
    best = csum[1:] * u  # one bucket
    best = np.concatenate([[0], best]).astype(np.float64)
    cuts = np.zeros((k + 1, m + 1), np.int64)
    for kk in range(2, k + 1):
        new = best.copy()
        for j in range(kk, m + 1):  # the last bucket holds distinct lengths i..j-1
            i = np.arange(kk - 1, j)
            cost = best[i] + (csum[j] - csum[i]) * u[j - 1]
            a = int(np.argmin(cost))
            new[j], cuts[kk, j] = cost[a], i[a]
        best = new
        cuts[kk, :kk] = 0
    bounds, j = [], m
    for kk in range(k, 0, -1):
        bounds.append(int(u[j - 1]))
        j = int(cuts[kk, j]) if kk > 1 else 0
        if j == 0:
            break
    return sorted(set(bounds))


def bucket_of(lengths: Any, bounds: list[int]) -> np.ndarray:
    """The bucket of each text ``[N]`` (texts beyond the last bound go to the last bucket)."""
    b = np.searchsorted(np.asarray(bounds), np.maximum(np.asarray(lengths), 1), side="left")
    return np.minimum(b, len(bounds) - 1).astype(np.int32)


def split_buckets(arrays: Arrays, bounds: list[int]) -> tuple[list[Arrays], np.ndarray]:
    """``arrays`` (``ids [N, T]``, lengths, labels) cut into one ``Arrays`` per non-empty bucket,
    ``ids [N_b, bounds[b]]`` (the padding beyond it dropped), in row order; and ``inverse [N]``:
    row ``n`` of ``arrays`` is row ``inverse[n]`` of the buckets' rows concatenated."""
    which = bucket_of(arrays.lengths, bounds)
    parts, rows = [], []
    for b, t in enumerate(bounds):
        r = np.flatnonzero(which == b)
        if len(r):
            parts.append(Arrays(np.ascontiguousarray(arrays.ids[r, :t]), arrays.lengths[r],
                                arrays.labels[r]))  # fmt: skip
            rows.append(r)
    inverse = np.empty(len(arrays.lengths), np.int32)
    inverse[np.concatenate(rows)] = np.arange(len(arrays.lengths), dtype=np.int32)
    return parts, inverse


def num_batches(lengths: Any, bounds: list[int], batch_size: int) -> int:
    """Batches an epoch has: ``sum over buckets of ceil(N_b / batch_size)``."""
    counts = np.bincount(bucket_of(lengths, bounds), minlength=len(bounds))
    return int(sum(-(-int(n) // batch_size) for n in counts))


def length_order(lengths: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(order, inverse)`` of rows sorted by ``lengths [N]`` (stable): ``order[i]`` is the
    row at sorted position ``i``, ``inverse[n]`` the sorted position of row ``n``."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    inverse = np.empty(len(order), np.int32)
    inverse[order] = np.arange(len(order), dtype=np.int32)
    return order, inverse


def sort_by_length(arrays: Any) -> tuple[Any, np.ndarray]:
    """``arrays`` (``Arrays``, or any NamedTuple of per-row arrays with ``lengths``, e.g.
    ``tasks.TagRows``) with its rows sorted by length (stable; every row keeps all ``T`` columns)
    and ``inverse [N]``: row ``n`` of ``arrays`` is row ``inverse[n]`` of the sorted ones.
    What a chunked model (``jaxrnn.nn.bptt.layer(chunk=)``) trains and evaluates on: batches
    of neighbouring rows have similar lengths, and each runs to about its own longest."""
    order, inverse = length_order(arrays.lengths)
    rows = type(arrays)(*(None if a is None else np.ascontiguousarray(np.asarray(a)[order])
                          for a in arrays))  # fmt: skip
    return rows, inverse


def batch_schedule(order: Any, lengths: Any, bounds: list[int], batch_size: int,
                   positions: Any = None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """One epoch's batches for the sample order ``order [N]`` (a permutation of the rows):
    ``(part [NB] int32, idx [NB, batch_size] int32)``: batch ``i`` takes rows ``idx[i]`` of
    non-empty bucket ``part[i]`` (rows counted within that bucket, in ``split_buckets``'
    order); ``-1`` marks an empty slot (weight 0). ``positions [N]``: write row ``n`` as
    ``positions[n]`` instead (e.g. ``sort_by_length``'s inverse), and every ``part`` as 0."""
    order = np.asarray(order)
    which = bucket_of(lengths, bounds)
    nonempty = np.flatnonzero(np.bincount(which, minlength=len(bounds)))
    part_of = np.full(len(bounds), -1, np.int32)
    part_of[nonempty] = np.arange(len(nonempty), dtype=np.int32)
    # the position of each row within its bucket (split_buckets keeps row order)
    within = np.empty(len(which), np.int32)
    for b in nonempty:
        r = np.flatnonzero(which == b)
        within[r] = np.arange(len(r), dtype=np.int32)
    parts, idxs, firsts = [], [], []
    pos = np.empty(len(order), np.int64)
    pos[order] = np.arange(len(order))
    for b in nonempty:
        rows = order[which[order] == b]  # this bucket's rows, in the epoch's order
        nb = -(-len(rows) // batch_size)
        idx = np.full(nb * batch_size, -1, np.int32)
        idx[: len(rows)] = within[rows] if positions is None else np.asarray(positions)[rows]
        parts.append(np.full(nb, 0 if positions is not None else part_of[b], np.int32))
        idxs.append(idx.reshape(nb, batch_size))
        firsts.append(pos[rows[::batch_size]])
    mix = np.argsort(np.concatenate(firsts), kind="stable")  # buckets interleaved
    return np.concatenate(parts)[mix], np.concatenate(idxs)[mix]
