"""The per-epoch orders in which a run visits its training rows (NumPy, imports no JAX).

One definition for both backends: the JAX run and the NumPy reference draw the same
orders from a seed, so their histories can be compared step for step.
"""

from __future__ import annotations

import numpy as np


def shuffle_orders(n: int, epochs: int, seed: int) -> np.ndarray:
    """The per-epoch sample orders ``[epochs, n]`` the NumPy trainer uses for ``seed``."""
    rng = np.random.default_rng([seed, 1])  # a stream apart from init_params(seed)
    return (
        np.stack([rng.permutation(n) for _ in range(epochs)]) if epochs else np.zeros((0, n), int)
    )
