"""Entry points that end quietly when their reader goes away (``... | head -1``), and in one
line when a write fails (``... > /dev/full``).

Python ignores SIGPIPE, so a write to a closed pipe raises ``BrokenPipeError`` -- from a
``print`` in the middle of a run or from the final flush at exit -- and prints a
traceback. ``run_main`` turns that into a quiet exit with status 141 (128 + SIGPIPE, what
a shell reports for ``yes | head -1``'s ``yes``), and points stdout at ``/dev/null`` so
that the interpreter's own flush at exit cannot raise again.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

EXIT_BROKEN_PIPE = 141


def run_main(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None
             ) -> int:  # fmt: skip
    """``main(argv)``, its output flushed; 141 and no traceback if stdout's reader left."""
    try:
        code = main(argv)
        sys.stdout.flush()  # a pipe is block-buffered: the broken pipe shows up here
        return code
    except BrokenPipeError:
        _stdout_to_devnull()
        return EXIT_BROKEN_PIPE
    except OSError as e:  # a write that failed late (a full disk, ``> /dev/full``): one line
        where = f"{e.filename}: " if e.filename else ""
        print(f"error: {where}{e.strerror or e}", file=sys.stderr)
        if e.filename is None:  # perhaps stdout itself
            _stdout_to_devnull()
        return 1


def _stdout_to_devnull() -> None:
    """Point stdout at ``/dev/null``, so that the interpreter's flush at exit cannot raise
    again on a stdout that failed."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
