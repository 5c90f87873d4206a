"""What every command shares: the parser with one-line errors, the reader of texts given as
arguments or piped in, and the one way to run an entry point (``run``).

Each command module ends with::

    if __name__ == "__main__":
        sys.exit(run(main))
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from jaxrnn.errors import UsageError
from jaxrnn.util.pipes import run_main as run

__all__ = ["Parser", "read_texts", "run"]


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
