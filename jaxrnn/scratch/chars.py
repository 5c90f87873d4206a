"""NumPy twin of ``jaxrnn.nn.chars.CharEncoder``, with its hand-written backward.

``char_encoder_forward(params, chars [N, L], lengths [N], cell) -> (feats [N, dirs * H],
cache)`` runs the scratch stack (``layers.layer_forward``) over the words' characters;
``char_encoder_backward(params, cache, d_feats [N, dirs * H]) -> grads`` (``embed`` and
``rnn``, the structure of ``params``) is its BPTT: the gradient enters through the last
layer's final states only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jaxrnn.scratch import layers


def _final_h(final: Any) -> np.ndarray:
    return final.h if hasattr(final, "h") else final


def char_encoder_forward(params: dict, chars: np.ndarray, lengths: np.ndarray,
                         cell: str = "lstm") -> tuple[np.ndarray, tuple]:  # fmt: skip
    """``[N, dirs * H]``: the last layer's final states, forward then backward, and a cache."""
    chars = np.asarray(chars)
    x = params["embed"][chars]  # [N, L, Dc]
    _, final, cache = layers.layer_forward(cell, params["rnn"], x, lengths)
    h = _final_h(final)  # [layers * dirs, N, H]
    dirs = len(params["rnn"][0])
    feats = np.concatenate([h[h.shape[0] - dirs + d] for d in range(dirs)], axis=-1)
    return feats, (chars, cell, h.shape, cache)


def char_encoder_backward(params: dict, cache: tuple, d_feats: np.ndarray) -> dict:
    """The gradients of ``sum(d_feats * feats)`` wrt ``params`` (``embed [C, Dc]``, ``rnn``)."""
    chars, cell, shape, lcache = cache
    dirs, hidden = len(params["rnn"][0]), shape[-1]
    dh = np.zeros(shape, np.asarray(d_feats).dtype)
    for d in range(dirs):  # the encoding reads the last layer's final h of each direction
        dh[shape[0] - dirs + d] = d_feats[:, d * hidden : (d + 1) * hidden]
    d_final = (dh, None) if cell == "lstm" else dh
    g_rnn, dx, _ = layers.layer_backward(cell, params["rnn"], lcache, None, d_final)
    d_embed = np.zeros_like(params["embed"])
    np.add.at(d_embed, chars, dx)  # padded characters get dx 0: never read into a state
    return {"embed": d_embed, "rnn": g_rnn}
