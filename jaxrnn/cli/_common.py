"""What every command shares: the parser with one-line errors, the reader of texts given as
arguments or piped in, and the one way to run an entry point (``run``, which first makes sure
that glibc's malloc asks for huge pages: ``jaxrnn.runs.memory.use_huge_pages``; set
``JAXRNN_ALLOCATOR=glibc`` to leave glibc's defaults).

Each command module ends with::

    if __name__ == "__main__":
        sys.exit(run(main))
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from jaxrnn.errors import UsageError
from jaxrnn.util.pipes import run_main

__all__ = ["Parser", "read_texts", "run"]


def run(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """``main(argv)`` as a command runs it: first the process is run again with glibc's
    huge-page tunable when it lacks it (``use_huge_pages``: a compiled step's fresh buffers
    then fault in 2 MB pages, not 4 KB ones; 1.6x faster for a long minGRU step), then
    ``jaxrnn.util.pipes.run_main``."""
    from jaxrnn.runs.memory import use_huge_pages

    use_huge_pages()
    return run_main(main, argv)


class Parser(argparse.ArgumentParser):
    """``argparse`` with one-line errors (exit code 2, no usage dump)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def read_texts(given: Sequence[str], what: str = "texts") -> list[str]:
    """The texts given as arguments, else one per line from standard input (``what`` names
    them in the one-line errors: none given on a terminal, input not UTF-8)."""
    if given:
        return list(given)
    if sys.stdin.isatty():
        raise UsageError(f"give {what} as arguments, or pipe them in, one per line")
    try:
        return [line.rstrip("\r\n") for line in sys.stdin]
    except UnicodeDecodeError:
        raise UsageError("standard input is not valid UTF-8 text") from None
