"""Multi-host training: start JAX's distributed runtime from flags or environment variables.

Every process runs the same command with its own ``--process-id`` (or
``JAX_PROCESS_ID``)::

    # host 0                                    # host 1
    python -m jaxrnn.train --model bilstm \\      python -m jaxrnn.train --model bilstm \\
      --coordinator host0:1234 \\                  --coordinator host0:1234 \\
      --num-processes 2 --process-id 0            --num-processes 2 --process-id 1

After ``initialize``, ``jax.devices()`` lists the devices of every process, the
training mesh spans them all, and XLA's collectives (Gloo on CPU, NCCL on GPU)
reduce the gradients across hosts. Every process loads the same data and
computes the same replicated results; only process 0 prints and writes files.
"""

from __future__ import annotations

import os

from jaxrnn.errors import ConfigError

ENV = {
    "coordinator": "JAX_COORDINATOR_ADDRESS",
    "num_processes": "JAX_NUM_PROCESSES",
    "process_id": "JAX_PROCESS_ID",
}


def settings(
    coordinator: str | None, num_processes: int | None, process_id: int | None
) -> tuple[str, int, int] | None:
    """Flags, else the ``JAX_*`` environment variables; None when not distributed."""
    coordinator = coordinator or os.environ.get(ENV["coordinator"])
    if not coordinator:
        if num_processes is not None or process_id is not None:
            raise ConfigError("--num-processes/--process-id need --coordinator HOST:PORT")
        return None
    try:
        n = num_processes if num_processes is not None else int(os.environ[ENV["num_processes"]])
        i = process_id if process_id is not None else int(os.environ[ENV["process_id"]])
    except (KeyError, ValueError):
        raise ConfigError(
            "--coordinator needs --num-processes and --process-id (or JAX_NUM_PROCESSES and "
            "JAX_PROCESS_ID)"
        ) from None
    if n < 1 or not 0 <= i < n:
        raise ConfigError(f"--process-id must be in 0..{n - 1} for {n} processes, got {i}")
    return coordinator, n, i


def initialize(coordinator: str, num_processes: int, process_id: int) -> None:
    """Start the distributed runtime (call before any other JAX use)."""
    import jax

    # CPU devices need a collectives library to talk across processes; Gloo ships with jaxlib.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=coordinator, num_processes=num_processes, process_id=process_id
    )


def is_main_process() -> bool:
    """True on process 0 (or when not distributed): the one that prints and writes files."""
    import jax

    return jax.process_index() == 0


def to_host(x):
    """A (possibly cross-process sharded) array or pytree as NumPy, gathered to every process."""
    import jax
    import numpy as np

    if jax.process_count() == 1:
        return jax.tree.map(np.asarray, x)
    from jax.experimental import multihost_utils

    return multihost_utils.process_allgather(x, tiled=True)
