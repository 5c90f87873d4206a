"""Ctrl-C during training: finish the running chunk, then stop cleanly.

``StopOnSigint`` replaces Python's SIGINT handler (``KeyboardInterrupt`` at an arbitrary
point: mid-compile, mid-checkpoint) by a flag that the training loop reads between
compiled chunks of epochs; there the loop saves (with ``--save``) and raises
``jaxrnn.errors.Interrupted``. A second Ctrl-C raises ``KeyboardInterrupt`` at once, for
a user who does not want to wait. Chunks are kept short (``max_chunk_epochs``) so the
first Ctrl-C is answered within about a second.
"""

from __future__ import annotations

import math
import signal
import threading
from typing import Any

from jaxrnn.runs.config import TrainConfig

# How long a chunk may take at most, by estimate (the wait for a Ctrl-C to be answered).
CHUNK_TARGET_S = 1.0
# Rough CPU costs for the estimate, on the safe (slow) side: multiply-adds per second
# (``jaxrnn.runs.plan``'s figure) and the fixed cost of one step of a recurrent scan.
_MACS_PER_S = 2e9
_SCAN_STEP_S = 2e-5


class StopOnSigint:
    """``with StopOnSigint() as stop: ... if stop.requested: ...`` (a no-op off the main
    thread, where Python cannot install signal handlers)."""

    def __init__(self) -> None:
        self.requested = False
        self._old: Any = None
        self._installed = False

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:  # the second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> StopOnSigint:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._old)


def epoch_seconds(cfg: TrainConfig, rows: int, length: int, seeds: int = 1) -> float:
    """A pessimistic estimate of one epoch's time on a CPU: the multiply-adds of forward and
    backward over the training split (``rows`` texts of ``length`` tokens) plus a fixed cost
    per scan step (training steps, and the evaluation of both splits)."""
    from jaxrnn.runs.plan import macs_per_token

    macs = 3.0 * rows * length * macs_per_token(cfg)  # forward + backward ~ 3x forward
    steps = math.ceil(rows / cfg.batch_size) * length * cfg.layers
    return seeds * (macs / _MACS_PER_S + steps * _SCAN_STEP_S)


def max_chunk_epochs(cfg: TrainConfig, rows: int, length: int, seeds: int = 1) -> int:
    """Epochs per compiled chunk that, by ``epoch_seconds``, take at most ``CHUNK_TARGET_S``."""
    return max(1, int(CHUNK_TARGET_S / max(epoch_seconds(cfg, rows, length, seeds), 1e-9)))
