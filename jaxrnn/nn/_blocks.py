"""Small array helpers shared by the cells' hand-written VJP pieces (``jaxrnn.nn.cells``)
and the loops that run them (``jaxrnn.nn.bptt``): gate blocks and time indexing."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

Array = jax.Array


def split(a: Array, g: int) -> tuple[Array, ...]:
    """``[.., G*H]`` -> G arrays ``[.., H]``."""
    return tuple(jnp.split(a, g, axis=-1)) if g > 1 else (a,)


def cat(blocks: tuple[Array, ...]) -> Array:
    """Concatenate gate blocks along the last axis (one block: itself)."""
    return jnp.concatenate(blocks, axis=-1) if len(blocks) > 1 else blocks[0]


def index(a: Array, t: Array) -> Array:
    """``a[t]`` along the leading (time) axis, ``t`` traced."""
    return lax.dynamic_index_in_dim(a, t, keepdims=False)


def before(seq: Array, first: Array, t: Array) -> Array:
    """``seq[t - 1]``, or ``first`` at ``t = 0``."""
    return jnp.where(t > 0, index(seq, jnp.maximum(t - 1, 0)), first)


def rec_back(dz: tuple[Array, ...], w: Array, fused: bool) -> Array:
    """``cat(dz) [B, G*H] @ w [G*H, K]``: one matmul, or a sum of one per gate block."""
    if fused or len(dz) == 1:
        return cat(dz) @ w
    ws = jnp.split(w, len(dz), axis=0)
    out = dz[0] @ ws[0]
    for d, wk in zip(dz[1:], ws[1:], strict=True):
        out = out + d @ wk
    return out
