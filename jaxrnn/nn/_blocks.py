"""Small array helpers shared by the cells' hand-written VJP pieces (``jaxrnn.nn.cells``)
and the loops that run them (``jaxrnn.nn.bptt``): gate blocks and time indexing."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from jaxrnn.nn._vma import sum_to_primal_type

Array = jax.Array

# Mixed precision (``--dtype bfloat16``): a bfloat16 operand makes a matmul take bfloat16
# operands with float32 accumulation and a float32 result (``mm``); everything else (gate
# math, carries, biases, the loss) stays float32. ``cast_weights`` gives a layer's weight
# matrices that dtype inside the differentiated function, so parameters, their gradients
# and the optimizer state stay float32 (the cast's VJP casts the gradient back).
BF16 = jnp.bfloat16


def mixed(*arrays: Array | None) -> bool:
    """True when one of ``arrays`` is bfloat16 (the matmuls then run mixed)."""
    return any(a is not None and a.dtype == BF16 for a in arrays)


def mm(a: Array, b: Array) -> Array:
    """``a [.., K] @ b [K, N]``; with a bfloat16 operand: both operands bfloat16, accumulated
    and returned in float32 (PyTorch's autocast matmul)."""
    if mixed(a, b):
        return jnp.matmul(a.astype(BF16), b.astype(BF16), preferred_element_type=jnp.float32)
    return a @ b


def rows_last(a: Array) -> Array:
    """``a [.., K]`` as ``[K, N]`` (N: the product of the leading axes), a copy: the left
    operand of a weight gradient ``a^T @ x``. Written as a transpose of the whole array
    moving the last axis first, not as ``.T`` of the ``[N, K]`` matrix: XLA:CPU makes that
    2-D transpose a change of layout, which YNNPACK's bfloat16 dot does not take (the
    product then runs in float32 on upcast operands, 1.85x as long at ``[1024, 1024] @
    [1024, 256]`` on an AVX-512 BF16 core). The barrier keeps the copy a copy."""
    moved = jnp.transpose(a, (a.ndim - 1, *range(a.ndim - 1)))
    return lax.optimization_barrier(moved.reshape(a.shape[-1], -1))


@jax.custom_vjp
def mixed_dense(x: Array, w: Array) -> Array:
    """``x [.., F] @ w.T`` for ``w [K, F]`` with bfloat16 operands, float32 accumulation and
    result (``mm``), and a backward written for the same kernels: ``dx = g @ w`` and
    ``dw = g^T @ x`` (``rows_last``), each bfloat16 in, float32 out. ``jax.grad`` of the
    plain product transposed ``x``'s cotangent product into a float32 Eigen dot on this
    layout (0.8 ms of a 17.6 ms language-model step at B16 T64 H256 V40, one core)."""
    return jnp.matmul(x.astype(BF16), w.T.astype(BF16), preferred_element_type=jnp.float32)


def _mixed_dense_fwd(x: Array, w: Array) -> tuple[Array, tuple]:
    xb = x.astype(BF16)
    y = jnp.matmul(xb, w.T.astype(BF16), preferred_element_type=jnp.float32)
    # x.ravel()[:0]: no data, x's dtype and (inside shard_map) the mesh axes it varies over
    return y, (xb, w, x.ravel()[:0])


def _mixed_dense_bwd(res: tuple, g: Array) -> tuple[Array, Array]:
    xb, w, x_like = res
    gb = g.astype(BF16)
    dx = jnp.matmul(gb, w.astype(BF16), preferred_element_type=jnp.float32)
    dw = jnp.matmul(rows_last(gb), xb.reshape(-1, xb.shape[-1]),
                    preferred_element_type=jnp.float32)  # fmt: skip
    dx, dw = sum_to_primal_type((dx, dw), (x_like, w))
    return dx.astype(x_like.dtype), dw.astype(w.dtype)


mixed_dense.defvjp(_mixed_dense_fwd, _mixed_dense_bwd)


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


def feature_major(w: Array, a: Array) -> Array:
    """``a [B, K] @ w.T`` for ``w [N, K]``, computed as ``(w @ a.T).T``: the step matmul of a
    recurrence in feature-major form. XLA:CPU's kernel for ``[N, K] @ [K, B]`` ran 1.4-2x
    as fast as the one for ``[B, K] @ [K, N]`` at a hidden size of 256-512 and 8-32 rows
    (one core, AMD EPYC, ``jaxrnn.nn.bptt``'s ``feature_major``); the two small transposes
    cost little. The barriers keep XLA from folding them back into the slower product."""
    return lax.optimization_barrier(mm(w, lax.optimization_barrier(a.T))).T


def rec_back(dz: tuple[Array, ...], w: Array, fused: bool, w_t: Array | None = None) -> Array:
    """``cat(dz) [B, G*H] @ w [G*H, K]``: one matmul, or a sum of one per gate block.
    ``w_t``: ``w.T``, made before the loop; given, the fused product runs feature-major
    (``feature_major``)."""
    if w_t is not None and (fused or len(dz) == 1):
        return feature_major(w_t, cat(dz))
    if fused or len(dz) == 1:
        return mm(cat(dz), w)
    ws = jnp.split(w, len(dz), axis=0)
    out = mm(dz[0], ws[0])
    for d, wk in zip(dz[1:], ws[1:], strict=True):
        out = out + mm(d, wk)
    return out
