"""The encoded form of a split, shared by the JAX loop and the NumPy reference (no JAX here)."""

from typing import Any, NamedTuple


class Arrays(NamedTuple):
    """An encoded split: ``ids [N, T]`` int32 (0 = padding), ``lengths [N]``, ``labels [N]``."""

    ids: Any
    lengths: Any
    labels: Any
