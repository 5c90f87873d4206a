"""Training checkpoints: the whole state of a run in one file (the format:
``jaxrnn.training.checkpoint_file``).

``meta`` holds the configuration, the tokenizer's index, the label names, the seeds, the
epoch and the history so far; the arrays are the leaves of the ``loop.TrainState``
(params, optimizer state, PRNG key data), stacked ``[S, ...]`` for several seeds and
unstacked for one (the layout every earlier version wrote).
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxrnn import __version__
from jaxrnn.errors import CheckpointError
from jaxrnn.nn.models import init_params_numpy
from jaxrnn.runs.build import make_optimizer
from jaxrnn.runs.config import TrainConfig, saved_config
from jaxrnn.runs.registry import get_spec
from jaxrnn.training import checkpoint_file as checkpoint
from jaxrnn.training import loop
from jaxrnn.training.distributed import is_main_process, to_host

CHECKPOINT_KIND = "jaxrnn.train"  # the file format's name, from before runs/ was train/


def save_checkpoint(path: str, run: Any, epoch: int, histories: list[list[dict]]) -> None:
    """Write the whole training state of ``run`` (a ``JaxRun``) atomically, so that
    ``--resume`` continues it bit for bit."""
    meta = {
        "kind": CHECKPOINT_KIND,
        "jaxrnn_version": __version__,
        "config": dataclasses.asdict(run.cfg),
        "tokenizer": run.data.vocab.to_dict(),
        "label_names": run.data.label_names,
        "seeds": run.seeds,
        "epoch": epoch,
        "histories": histories,
    }
    state = to_host(run.state)
    if len(run.seeds) == 1:
        state = jax.tree.map(lambda a: a[0], state)
    leaves = [np.asarray(x) for x in jax.tree.leaves(state)]
    if is_main_process():  # every process holds the same replicated state; one writes it
        checkpoint.save(path, meta, leaves)


class Restored(NamedTuple):
    """A checkpoint turned back into objects."""

    config: TrainConfig
    tokenizer: Any  # the task's vocabulary (classify: a jaxrnn.data.Tokenizer)
    label_names: list[str]
    seeds: list[int]
    epoch: int
    histories: list[list[dict]]
    model: Any
    state: Any  # loop.TrainState: unstacked for one seed, [S, ...] for several


def _template(model, optimizer, seeds: list[int], dtype, early_stopping: bool = False
              ) -> loop.TrainState:  # fmt: skip
    """Shapes and dtypes of the state a checkpoint of ``seeds`` holds."""
    params = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype),
                          init_params_numpy(model, seeds[0], np.dtype(dtype)))  # fmt: skip
    one = loop.TrainState(params, jax.eval_shape(optimizer.init, params),
                          jax.ShapeDtypeStruct(loop.seed_key(0).shape, np.uint32))  # fmt: skip
    if early_stopping:  # the early-stopping record travels with the state
        one = one._replace(best=jax.eval_shape(loop.init_best, params))
    if len(seeds) == 1:
        return one
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct((len(seeds), *s.shape), s.dtype), one)


def load_checkpoint(path: str) -> Restored:
    """Read a checkpoint written by ``save_checkpoint``; ``CheckpointError`` if unusable."""
    meta, arrays = checkpoint.load(path)
    if meta.get("kind") != CHECKPOINT_KIND:
        raise CheckpointError(f"{path}: not a jaxrnn training checkpoint")
    try:
        cfg = saved_config(meta["config"])
        spec = get_spec(cfg)
        tok = spec.vocab_from_dict(meta["tokenizer"])
        label_names = [str(x) for x in meta["label_names"]]
        seeds = [int(s) for s in meta["seeds"]]
        epoch, histories = int(meta["epoch"]), meta["histories"]
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"{path}: checkpoint metadata is incomplete") from None
    if cfg.dtype == "float64" and not jax.config.jax_enable_x64:
        jax.config.update("jax_enable_x64", True)
    model = spec.build_model(cfg, tok, label_names)
    template = _template(model, make_optimizer(cfg), seeds, jnp.dtype(cfg.param_dtype),
                         bool(cfg.early_stopping))  # fmt: skip
    leaves, treedef = jax.tree.flatten(template)
    if len(leaves) != len(arrays) or any(
        tuple(a.shape) != tuple(t.shape) or a.dtype != t.dtype
        for a, t in zip(arrays, leaves, strict=False)
    ):
        raise CheckpointError(f"{path}: checkpoint arrays do not match its configuration")
    state = jax.tree.unflatten(treedef, [jax.device_put(a) for a in arrays])
    return Restored(cfg, tok, label_names, seeds, epoch, histories, model, state)
