"""A character-level word encoder (Lample et al. 2016): a character BiLSTM over each word.

``CharEncoder.apply(params, chars [N, L], lengths [N]) -> [N, 2 * H]``: each word's characters
(ids ``0`` = padding, ``1`` = an unknown character) are embedded and read by a
``RecurrentLayer`` in both directions, masked by the word's length; the encoding is the
forward direction's state after the last character, then the backward direction's after
the first (as the classifiers' readout), meant to be concatenated with the word embedding.
Its NumPy twin, with a hand-written backward, is ``jaxrnn.scratch.chars``.
``jaxrnn.nn.models.SequenceTagger(char_encoder=...)`` is the tagger that reads it
(``python -m jaxrnn.train --task tag --char-embed D``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from jaxrnn.nn.sequence import RecurrentLayer

Array = jax.Array


@dataclass(frozen=True)
class CharEncoder:
    """Character embedding ``[num_chars, char_dim]`` -> ``layer`` (bidirectional: Lample et al.'s
    BiLSTM) -> final states ``[N, num_directions * H]``.

    Params: ``{"embed": [num_chars, char_dim], "rnn": LayerParams}``.
    """

    layer: RecurrentLayer
    num_chars: int  # 0 = padding, 1 = unknown character
    char_dim: int

    @property
    def output_size(self) -> int:
        """``num_directions * H``, the width of a word's encoding."""
        return self.layer.output_size

    def init(self, key: Array, dtype=jnp.float32) -> dict[str, Any]:
        """uniform(-0.05, 0.05) embedding (as the word embedding), the layer's own init."""
        k_emb, k_rnn = jax.random.split(key)
        return {"embed": jax.random.uniform(k_emb, (self.num_chars, self.char_dim), dtype,
                                            -0.05, 0.05),
                "rnn": self.layer.init(k_rnn, self.char_dim, dtype)}  # fmt: skip

    def apply(self, params: dict, chars: Array, lengths: Array) -> Array:
        """``chars [N, L]`` (character ids), ``lengths [N]`` (characters per word) -> ``[N, F]``."""
        x = params["embed"][chars]  # [N, L, Dc]
        _, final = self.layer.apply(params["rnn"], x, lengths)
        h = final.h if hasattr(final, "h") else final  # [L * dirs, N, H]
        nd = self.layer.num_directions  # the last layer's directions, forward first
        return jnp.concatenate([h[-nd + d] for d in range(nd)], axis=-1)
