"""Length buckets by hand (jaxrnn.data.buckets, NumPy only): which bucket a length goes to,
the bounds, the split, the epoch's schedule. tests/test_scale.py holds the bounds against a
brute force and the compiled loop on buckets."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from jaxrnn.data.arrays import Arrays
from jaxrnn.data.buckets import (
    batch_schedule,
    bucket_bounds,
    bucket_of,
    length_order,
    num_batches,
    padded_tokens,
    sort_by_length,
    split_buckets,
)


def test_a_length_goes_to_the_first_bound_at_least_as_long():
    # a length equal to a bound is in that bucket; 0 counts as 1; beyond the last: the last
    assert bucket_of([0, 1, 4, 5, 9, 12], [4, 9]).tolist() == [0, 0, 0, 1, 1, 1]
    assert bucket_of([3], [4, 9]).dtype == np.int32
    assert padded_tokens([0, 3, 4, 5, 9], [4, 9]) == 4 + 4 + 4 + 9 + 9
    assert padded_tokens([12], [4, 9]) == 9 and padded_tokens([0], [1, 9]) == 1


def test_bucket_bounds_by_hand():
    assert bucket_bounds([1, 1, 1, 10], 2) == [1, 10]
    assert bucket_bounds([1, 1, 1, 10], 1) == [10]
    assert bucket_bounds([1, 1, 1, 10], 0) == [10]  # at least one bucket
    assert bucket_bounds([0, 0, 5], 2) == [1, 5]  # 0 counts as 1
    assert bucket_bounds([2, 3, 7], 5) == [2, 3, 7]  # at most one bucket a distinct length
    # three buckets: {2, 2, 2} {6, 6} {20}: 6 + 12 + 20 = 38 tokens, the least
    lengths = [2, 2, 2, 6, 6, 20]
    assert bucket_bounds(lengths, 3) == [2, 6, 20]
    assert padded_tokens(lengths, [2, 6, 20]) == 38
    # two buckets: {2, 2, 2, 6, 6} at 6 + {20} = 50 beats {2, 2, 2} + {6, 6, 20} = 66
    assert bucket_bounds(lengths, 2) == [6, 20]
    # {1 x4} {3, 3, 5, 5} {9}: 4 + 20 + 9 = 33 beats [1, 3, 9] (4 + 6 + 27) and [3, 5, 9] (37)
    assert bucket_bounds([5, 5, 1, 1, 1, 1, 3, 3, 9], 3) == [1, 5, 9]


def test_split_buckets_cuts_the_padding_and_keeps_row_order():
    ids = np.arange(5 * 6, dtype=np.int32).reshape(5, 6)
    data = Arrays(ids, np.array([5, 1, 6, 2, 1], np.int32), np.array([10, 11, 12, 13, 14]))
    parts, inverse = split_buckets(data, [2, 3, 6])  # the bucket of 3 is empty
    assert len(parts) == 2
    assert parts[0].ids.tolist() == ids[[1, 3, 4], :2].tolist()
    assert parts[0].lengths.tolist() == [1, 2, 1] and parts[0].labels.tolist() == [11, 13, 14]
    assert parts[1].ids.tolist() == ids[[0, 2]].tolist() and parts[1].labels.tolist() == [10, 12]
    assert parts[0].ids.flags["C_CONTIGUOUS"]
    assert inverse.tolist() == [3, 0, 4, 1, 2] and inverse.dtype == np.int32


def test_num_batches_counts_each_bucket_rounded_up():
    assert num_batches([1, 1, 1, 5, 5], [1, 5], 2) == 2 + 1
    assert num_batches([1, 1, 1, 5, 5], [1, 3, 5], 3) == 1 + 0 + 1
    assert num_batches([1, 1, 1, 1], [1, 5], 2) == 2


def test_length_order_is_stable_with_its_inverse():
    order, inverse = length_order([3, 1, 2, 1])
    assert order.tolist() == [1, 3, 2, 0] and inverse.tolist() == [3, 0, 2, 1]
    assert inverse.dtype == np.int32


class _Rows(NamedTuple):
    ids: np.ndarray
    lengths: np.ndarray
    extra: object


def test_sort_by_length_sorts_every_field_and_keeps_none():
    rows = _Rows(np.array([[1, 2, 3], [4, 0, 0], [5, 6, 0]]), np.array([3, 1, 2]), None)
    out, inverse = sort_by_length(rows)
    assert type(out) is _Rows and out.extra is None
    assert out.ids.tolist() == [[4, 0, 0], [5, 6, 0], [1, 2, 3]]
    assert out.lengths.tolist() == [1, 2, 3] and inverse.tolist() == [2, 0, 1]


def test_batch_schedule_by_hand():
    lengths, order = [1, 5, 1, 5, 1], [4, 3, 2, 1, 0]
    # bucket 0: rows 0, 2, 4 (within it 0, 1, 2), in the order's order 4, 2, 0: batches
    # [2, 1] and [0, -1], first rows at positions 0 and 4; bucket 1: rows 3, 1 (within 1, 0):
    # one batch [1, 0] at position 1. Interleaved by position: 0, 1, 4.
    part, idx = batch_schedule(order, lengths, [1, 5], 2)
    assert part.tolist() == [0, 1, 0] and idx.tolist() == [[2, 1], [1, 0], [0, -1]]
    assert part.dtype == np.int32 and idx.dtype == np.int32
    # an empty bucket between them is no part: parts count the non-empty buckets
    part, idx = batch_schedule(order, lengths, [1, 3, 5], 2)
    assert part.tolist() == [0, 1, 0] and idx.tolist() == [[2, 1], [1, 0], [0, -1]]
    # positions: rows written as positions[row], every part 0
    part, idx = batch_schedule(order, lengths, [1, 5], 2, positions=[10, 11, 12, 13, 14])
    assert part.tolist() == [0, 0, 0] and idx.tolist() == [[14, 12], [13, 11], [10, -1]]
    # batch size 3: bucket 0 whole in one batch [2, 1, 0], bucket 1 [1, 0, -1]
    part, idx = batch_schedule(order, lengths, [1, 5], 3)
    assert part.tolist() == [0, 1] and idx.tolist() == [[2, 1, 0], [1, 0, -1]]
