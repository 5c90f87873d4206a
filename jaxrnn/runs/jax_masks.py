"""The dropout masks a JAX run draws, for the NumPy run: both backends drop the same units.

``jaxrnn.training.loop.make_run_epochs`` draws dropout from the state's key: per epoch
``key, k_perm, k_drop = split(key, 3)``, per batch ``split(k_drop, nb)[b]``, and
``Classifier.apply`` splits that into the layer's key and the readout's
(``k_rnn, k_out = split(key)``; one ``k_rnn, sub = split(k_rnn)`` per gap between
stacked layers, ``bernoulli(sub, 1 - rate, [B, T, F])``; ``bernoulli(k_out, 1 - rate,
[B, F])`` before the readout). ``dropout_masks`` replays exactly that from
``loop.seed_key(seed)`` (what the JAX run's state starts with) and returns the masks
as ``jaxrnn.scratch.classifier_train``'s ``masks(e, b)``::

    fit_numpy(cfg, data, [seed], ..., masks=lambda s: dropout_masks(cfg, data, s))

gives the JAX run's history (one device; ``--data-parallel shard_map`` draws per device).
This module imports JAX; the NumPy run itself does not.
"""

from __future__ import annotations

import jax
import numpy as np

from jaxrnn.runs.config import MODEL_CELLS, TrainConfig
from jaxrnn.runs.prepare import Prepared
from jaxrnn.scratch.classifier_train import Masks
from jaxrnn.scratch.layers import DropoutMasks
from jaxrnn.training.loop import seed_key


def dropout_masks(cfg: TrainConfig, data: Prepared, seed: int) -> Masks:
    """``masks(e, b) -> DropoutMasks`` of batch ``b`` of epoch ``e`` (both from 0) of the
    JAX run of ``cfg`` at ``seed``: keep masks ``[batch_size, T, dirs * H]`` between layers
    and ``[batch_size, dirs * H]`` before the readout (True = kept)."""
    _, bidirectional = MODEL_CELLS[cfg.model]
    features = (2 if bidirectional else 1) * cfg.hidden
    n, steps = data.train.ids.shape
    b_size = cfg.batch_size
    nb = -(-n // b_size)
    epoch_keys = []  # k_drop of each epoch, made on demand
    key = jax.random.wrap_key_data(seed_key(seed))

    def masks(e: int, b: int) -> DropoutMasks:
        nonlocal key
        while len(epoch_keys) <= e:
            key, _, k_drop = jax.random.split(key, 3)
            epoch_keys.append(k_drop)
        k_rnn, k_out = jax.random.split(jax.random.split(epoch_keys[e], nb)[b])
        between = []
        if cfg.layer_dropout > 0.0:
            for _ in range(cfg.layers - 1):
                k_rnn, sub = jax.random.split(k_rnn)
                keep = jax.random.bernoulli(sub, 1.0 - cfg.layer_dropout,
                                            (b_size, steps, features))  # fmt: skip
                between.append(np.asarray(keep))
        readout = None
        if cfg.dropout > 0.0:
            readout = np.asarray(jax.random.bernoulli(k_out, 1.0 - cfg.dropout,
                                                      (b_size, features)))  # fmt: skip
        return DropoutMasks(tuple(between), readout)

    return masks
