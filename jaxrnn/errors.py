"""Errors that reach the user as one line and a non-zero exit code, never a traceback.

The command-line entry points catch ``UsageError`` (and its subclasses), print
``error: <message>`` to stderr and exit with ``exit_code``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable


class UsageError(Exception):
    """Something the user can fix: the message names the problem and the fix."""

    exit_code = 2


class ConfigError(UsageError, ValueError):
    """A bad flag value or an unusable combination of flags."""


class DataError(UsageError, ValueError):
    """A data file that cannot be used: missing, empty, undecodable, wrong columns, ..."""


class ShortValidation(DataError):
    """The training data are too short to hold out the validation part asked for (a series
    with ``--val-fraction``): ``--model auto``, which asked for it itself, trains without one.
    ``brief``: the reason without the advice, for that note."""

    def __init__(self, message: str, brief: str = "") -> None:
        super().__init__(message)
        self.brief = brief or message


class CheckpointError(UsageError, ValueError):
    """A checkpoint that is truncated, corrupted, of another format or version."""


class OutOfMemory(UsageError, MemoryError):
    """A run whose estimated peak memory exceeds what is available: said before compiling,
    with the flag to change (``jaxrnn.runs.memory``)."""


class TrainingDiverged(UsageError, FloatingPointError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""

    exit_code = 1


class Interrupted(UsageError):
    """Ctrl-C (SIGINT) stopped a run between compiled chunks; what was done is saved when a
    checkpoint path was given. The message is the whole line the user sees."""

    exit_code = 130  # 128 + SIGINT, as a shell reports a program stopped by Ctrl-C


def run_writer(write: Callable[[], str], out: str) -> int:
    """The body of a data generator's command line: run ``write`` (which writes the files
    and returns the line to print), print that line and return 0; a ``UsageError`` or an
    ``OSError`` becomes one ``error:`` line on stderr and its exit code."""
    try:
        message = write()
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except OSError as e:
        print(f"error: cannot write {e.filename or out}: {e.strerror or e}", file=sys.stderr)
        return 2
    print(message)
    return 0
