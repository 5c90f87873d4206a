"""Loops inside ``jax.shard_map``: keep carry types consistent (varying manual axes).

With ``check_vma=True`` (the default) every value records the mesh axes it varies
over. A loop whose initial state is invariant (zeros, fresh buffers) but whose body
mixes in per-shard inputs fails ("carry input and carry output must have equal
types"), and a custom-VJP backward rule must return gradients of the primal inputs'
types. Outside ``shard_map`` nothing varies and both helpers return their input.
"""

from __future__ import annotations

from typing import Any

import jax
from jax import lax


def varying(x: Any) -> frozenset:
    """The ``shard_map`` mesh axes ``x`` varies over (empty outside ``shard_map``)."""
    aval = jax.typeof(x)
    vma = getattr(aval, "vma", None)  # older JAX
    if vma is None:
        vma = getattr(getattr(aval, "mat", None), "varying", ())
    return frozenset(vma)


def vary_like(tree: Any, *refs: Any) -> Any:
    """Cast the leaves of ``tree`` (a loop's initial state) to vary over every mesh axis some
    leaf of ``refs`` (the loop's inputs) varies over, so the loop's carry keeps one type."""
    axes = frozenset().union(*map(varying, jax.tree.leaves(refs)))
    if not axes:
        return tree

    def cast(a):
        missing = tuple(sorted(axes - varying(a)))
        return lax.pcast(a, missing, to="varying") if missing else a

    return jax.tree.map(cast, tree)


def sum_to_primal_type(grads: Any, primals: Any) -> Any:
    """``psum`` each gradient over the mesh axes it varies over and its primal does not: an
    invariant input (replicated weights) was used by every shard, so its gradient is the sum
    of theirs, which is what ``jax.grad`` of a plain scan returns. ``None`` leaves stay."""

    def fix(g, p):
        if g is None:
            return g
        extra = tuple(sorted(varying(g) - varying(p)))
        return lax.psum(g, extra) if extra else g

    return jax.tree.map(fix, grads, primals, is_leaf=lambda x: x is None)
