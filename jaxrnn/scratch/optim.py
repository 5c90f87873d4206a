"""Optimizers in NumPy, written the way optax writes them (no JAX here).

Each optimizer is a ``GradientTransformation``: a pair of pure functions ::

    opt = chain(clip(1.0), adam(1e-3))
    state = opt.init(params)
    updates, state = opt.update(grads, state, params)
    params = apply_updates(params, updates)          # params + updates

over pytrees: nested dicts, tuples, lists and NamedTuples (``CellParams``,
``LSTMState``, optimizer states) with NumPy arrays (or None, an empty subtree,
as a missing bias) at the leaves. ``init`` and ``update`` never modify their
arguments. The formulas, defaults and step order are optax 0.2's, so that with
the same gradients both give the same numbers (``tests/test_scratch_train.py``
checks each against optax in float64)::

    sgd:      u = -lr * g                       (momentum m: t = g + m t, u = -lr * t;
                                                 nesterov: u = -lr * (g + m t))
    adam:     m = (1-b1) g + b1 m,  v = (1-b2) g^2 + b2 v,  n = n + 1
              u = -lr * (m / (1 - b1^n)) / (sqrt(v / (1 - b2^n) + eps_root) + eps)
    adagrad:  s = s + g^2  (s starts at initial_accumulator_value)
              u = -lr * g / sqrt(s + eps)   (0 where s = 0)
    rmsprop:  v = (1-decay) g^2 + decay v  (v starts at initial_scale)
              u = -lr * g / sqrt(v + eps)
    clip(c):                 g = clip(g, -c, c) element-wise
    clip_by_global_norm(c):  n = sqrt(sum over all leaves of g^2);  g = g if n < c else g / n * c

``clip_by_global_norm`` is ``torch.nn.utils.clip_grad_norm_`` up to torch's
epsilon: torch scales by ``min(1, c / (n + 1e-6))`` always, optax (and this) by
``c / n`` only when ``n >= c``; the two differ by a factor ``n / (n + 1e-6)`` on
clipped steps and not at all on the others.

Optimizer states are NamedTuples with the same fields as optax's (``count``
is a 0-d int32 array, as there), so ``jax.tree.leaves`` of one side lines up
with the other's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

Tree = Any  # nested dict / tuple / list / NamedTuple of np.ndarray (None: an empty subtree)


# ----------------------------------------------------------------------------- pytrees


def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def tree_map(fn: Callable[..., Any], tree: Tree, *rest: Tree) -> Tree:
    """``fn`` applied leaf-wise over trees of the same structure (``jax.tree.map``'s way).

    Containers: dict (same keys), tuple, list, NamedTuple; None is an empty subtree
    and stays None (the other trees must hold None there too). Anything else is a leaf.
    """
    if tree is None:
        return None
    if isinstance(tree, dict):
        if any(not isinstance(r, dict) or r.keys() != tree.keys() for r in rest):
            raise ValueError(f"tree structures differ: dict keys {sorted(tree)}")
        return {k: tree_map(fn, tree[k], *(r[k] for r in rest)) for k in tree}
    if isinstance(tree, tuple | list):
        if any(not isinstance(r, tuple | list) or len(r) != len(tree) for r in rest):
            raise ValueError(f"tree structures differ at a {type(tree).__name__} of {len(tree)}")
        items = [tree_map(fn, *leaves) for leaves in zip(tree, *rest, strict=True)]
        if _is_namedtuple(tree):
            return type(tree)(*items)
        return type(tree)(items)
    return fn(tree, *rest)


def tree_leaves(tree: Tree) -> list[Any]:
    """The leaves of ``tree`` in ``jax.tree.leaves``' order (dict keys sorted, None skipped)."""
    if tree is None:
        return []
    if isinstance(tree, dict):
        return [leaf for k in sorted(tree) for leaf in tree_leaves(tree[k])]
    if isinstance(tree, tuple | list):
        return [leaf for item in tree for leaf in tree_leaves(item)]
    return [tree]


def apply_updates(params: Tree, updates: Tree) -> Tree:
    """``params + updates`` leaf-wise, in each param's dtype (``optax.apply_updates``)."""
    return tree_map(lambda p, u: np.asarray(p + u, dtype=np.asarray(p).dtype), params, updates)


def global_norm(tree: Tree) -> float:
    """``sqrt(sum of every leaf's squares)`` (``optax.tree.norm``)."""
    return float(np.sqrt(sum(np.sum(np.square(x)) for x in tree_leaves(tree))))


# ----------------------------------------------------------------------------- transformations


class GradientTransformation(NamedTuple):
    """``init(params) -> state`` and ``update(updates, state, params=None) -> (updates, state)``."""

    init: Callable[[Tree], Any]
    update: Callable[..., tuple[Tree, Any]]


class EmptyState(NamedTuple):
    """The state of a stateless transformation (``optax.EmptyState``)."""


class TraceState(NamedTuple):
    """SGD momentum: ``trace`` like the params."""

    trace: Tree


class ScaleByAdamState(NamedTuple):
    """Adam: step ``count`` (0-d int32), first and second moments ``mu``, ``nu`` like the params."""

    count: np.ndarray
    mu: Tree
    nu: Tree


class ScaleByRssState(NamedTuple):
    """Adagrad: running ``sum_of_squares`` like the params."""

    sum_of_squares: Tree


class ScaleByRmsState(NamedTuple):
    """RMSprop: moving average of squared gradients ``nu`` like the params."""

    nu: Tree


def _zeros_like(tree: Tree) -> Tree:
    return tree_map(np.zeros_like, tree)


def _full_like(tree: Tree, value: float) -> Tree:
    return tree_map(lambda x: np.full_like(x, value), tree)


def _stateless(fn: Callable[[Tree], Tree]) -> GradientTransformation:
    def update(updates: Tree, state: Any, params: Tree = None) -> tuple[Tree, Any]:
        return fn(updates), state

    return GradientTransformation(lambda params: EmptyState(), update)


def identity() -> GradientTransformation:
    """Leaves the updates as they are."""
    return _stateless(lambda u: u)


def scale(step_size: float) -> GradientTransformation:
    """``u = step_size * u`` (``optax.scale``)."""
    return _stateless(lambda u: tree_map(lambda g: step_size * g, u))


def clip(max_delta: float) -> GradientTransformation:
    """Element-wise ``clip(u, -max_delta, max_delta)`` (``optax.clip``)."""
    return _stateless(lambda u: tree_map(lambda g: np.clip(g, -max_delta, max_delta), u))


def clip_by_global_norm(max_norm: float) -> GradientTransformation:
    """Scale all updates by ``max_norm / n`` when their global norm ``n >= max_norm``
    (``optax.clip_by_global_norm``; torch's ``clip_grad_norm_`` up to its eps, see the
    module docstring)."""

    def fn(updates: Tree) -> Tree:
        norm = global_norm(updates)
        if norm < max_norm:
            return updates
        return tree_map(lambda g: (g / np.asarray(norm, g.dtype)) * max_norm, updates)

    return _stateless(fn)


def trace(decay: float, nesterov: bool = False) -> GradientTransformation:
    """Momentum: ``t = u + decay * t``; returns ``t`` (nesterov: ``u + decay * t``)."""

    def update(updates: Tree, state: TraceState, params: Tree = None) -> tuple[Tree, TraceState]:
        new = tree_map(lambda g, t: g + decay * t, updates, state.trace)
        out = tree_map(lambda g, t: g + decay * t, updates, new) if nesterov else new
        return out, TraceState(new)

    return GradientTransformation(lambda params: TraceState(_zeros_like(params)), update)


def scale_by_adam(
    b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, eps_root: float = 0.0
) -> GradientTransformation:
    """Adam's rescaling with bias correction (``optax.scale_by_adam``, nesterov=False)."""

    def init(params: Tree) -> ScaleByAdamState:
        return ScaleByAdamState(np.zeros((), np.int32), _zeros_like(params), _zeros_like(params))

    def update(
        updates: Tree, state: ScaleByAdamState, params: Tree = None
    ) -> tuple[Tree, ScaleByAdamState]:
        mu = tree_map(lambda g, m: (1 - b1) * g + b1 * m, updates, state.mu)
        nu = tree_map(lambda g, v: (1 - b2) * g**2 + b2 * v, updates, state.nu)
        count = np.minimum(state.count + 1, np.iinfo(np.int32).max).astype(np.int32)
        c1, c2 = 1 - b1 ** float(count), 1 - b2 ** float(count)
        out = tree_map(
            lambda m, v: (
                (m / np.asarray(c1, m.dtype))
                / (np.sqrt(v / np.asarray(c2, v.dtype) + eps_root) + eps)
            ),
            mu,
            nu,
        )
        return out, ScaleByAdamState(count, mu, nu)

    return GradientTransformation(init, update)


def scale_by_rss(
    initial_accumulator_value: float = 0.1, eps: float = 1e-7
) -> GradientTransformation:
    """Adagrad's rescaling by the root of the sum of squares (``optax.scale_by_rss``)."""

    def update(
        updates: Tree, state: ScaleByRssState, params: Tree = None
    ) -> tuple[Tree, ScaleByRssState]:
        sums = tree_map(lambda g, s: g**2 + s, updates, state.sum_of_squares)
        out = tree_map(
            lambda g, s: np.where(s > 0, 1.0 / np.sqrt(s + eps), 0.0).astype(g.dtype) * g,
            updates,
            sums,
        )
        return out, ScaleByRssState(sums)

    return GradientTransformation(
        lambda params: ScaleByRssState(_full_like(params, initial_accumulator_value)), update
    )


def scale_by_rms(
    decay: float = 0.9, eps: float = 1e-8, initial_scale: float = 0.0
) -> GradientTransformation:
    """RMSprop's rescaling (``optax.scale_by_rms``: eps inside the root, no bias correction)."""

    def update(
        updates: Tree, state: ScaleByRmsState, params: Tree = None
    ) -> tuple[Tree, ScaleByRmsState]:
        nu = tree_map(lambda g, v: (1 - decay) * g**2 + decay * v, updates, state.nu)
        out = tree_map(lambda g, v: (1.0 / np.sqrt(v + eps)) * g, updates, nu)
        return out, ScaleByRmsState(nu)

    return GradientTransformation(
        lambda params: ScaleByRmsState(_full_like(params, initial_scale)), update
    )


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Apply ``transforms`` in order; the state is the tuple of their states (``optax.chain``)."""

    def init(params: Tree) -> tuple:
        return tuple(t.init(params) for t in transforms)

    def update(updates: Tree, state: tuple, params: Tree = None) -> tuple[Tree, tuple]:
        if len(state) != len(transforms):
            raise ValueError(f"chain of {len(transforms)} transforms got {len(state)} states")
        new_states = []
        for t, s in zip(transforms, state, strict=True):
            updates, s = t.update(updates, s, params)
            new_states.append(s)
        return updates, tuple(new_states)

    return GradientTransformation(init, update)


# ----------------------------------------------------------------------------- optimizers


def sgd(
    learning_rate: float, momentum: float | None = None, nesterov: bool = False
) -> GradientTransformation:
    """``optax.sgd``: (optional momentum trace, then) ``u = -lr * u``."""
    first = trace(momentum, nesterov) if momentum is not None else identity()
    return chain(first, scale(-learning_rate))


def adam(
    learning_rate: float,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
) -> GradientTransformation:
    """``optax.adam``: ``scale_by_adam`` then ``-lr``."""
    return chain(scale_by_adam(b1, b2, eps, eps_root), scale(-learning_rate))


def adagrad(
    learning_rate: float, initial_accumulator_value: float = 0.1, eps: float = 1e-7
) -> GradientTransformation:
    """``optax.adagrad``: ``scale_by_rss`` then ``-lr``."""
    return chain(scale_by_rss(initial_accumulator_value, eps), scale(-learning_rate))


def rmsprop(
    learning_rate: float, decay: float = 0.9, eps: float = 1e-8, initial_scale: float = 0.0
) -> GradientTransformation:
    """``optax.rmsprop`` (not centered, no momentum): ``scale_by_rms`` then ``-lr``."""
    return chain(scale_by_rms(decay, eps, initial_scale), scale(-learning_rate))


__all__ = [
    "EmptyState",
    "GradientTransformation",
    "ScaleByAdamState",
    "ScaleByRmsState",
    "ScaleByRssState",
    "TraceState",
    "adagrad",
    "adam",
    "apply_updates",
    "chain",
    "clip",
    "clip_by_global_norm",
    "global_norm",
    "identity",
    "rmsprop",
    "scale",
    "scale_by_adam",
    "scale_by_rms",
    "scale_by_rss",
    "sgd",
    "tree_leaves",
    "tree_map",
    "trace",
]
