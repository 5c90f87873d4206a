"""What every command shares: the parser with one-line errors, the reader of texts given as
arguments or piped in, and the one way to run an entry point (``run``, which first makes sure
that glibc's malloc asks for huge pages: ``jaxrnn.util.allocator.use_huge_pages``; set
``JAXRNN_ALLOCATOR=glibc`` to leave glibc's defaults). Under ``python -m jaxrnn.NAME`` the
alias loader (``jaxrnn._aliases``) has done that already, before the command's imports.

Each command module ends with::

    if __name__ == "__main__":
        sys.exit(run(main))
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Collection, Sequence

from jaxrnn.errors import ConfigError, UsageError
from jaxrnn.util.pipes import run_main

__all__ = ["FIGURE_SUFFIXES", "Parser", "check_output_folder", "check_outputs", "read_texts", "run"]

# What matplotlib writes, by the file name's suffix (a name without one would get ".png"
# appended: the user would not find the file they named).
FIGURE_SUFFIXES = (".png", ".pdf", ".svg", ".svgz", ".jpg", ".jpeg", ".tif", ".tiff", ".webp",
                   ".eps", ".ps")  # fmt: skip


def run(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """``main(argv)`` as a command runs it: first the process is run again with glibc's
    huge-page tunable when it lacks it (``use_huge_pages``: a compiled step's fresh buffers
    then fault in 2 MB pages, not 4 KB ones; 1.6x faster for a long minGRU step), then
    ``jaxrnn.util.pipes.run_main``."""
    from jaxrnn.util.allocator import use_huge_pages

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
    bad = UsageError("standard input is not valid UTF-8 text")
    lines = []
    try:
        for i, line in enumerate(sys.stdin):
            line = line.rstrip("\r\n")
            if i == 0:
                line = line.removeprefix("\ufeff")  # a byte-order mark is not text
            # under a UTF-8 locale Python reads stdin with surrogateescape: a bad byte
            # arrives as a lone surrogate, not as a UnicodeDecodeError
            line.encode("utf-8")
            lines.append(line)
    except UnicodeDecodeError:
        raise bad from None
    except UnicodeEncodeError:
        raise UsageError(f"{bad} (line {len(lines) + 1})") from None
    return lines


def check_outputs(
    outputs: Sequence[tuple[str, str | None]],
    inputs: Sequence[tuple[str, str | None]] = (),
    may_replace: Collection[tuple[str, str]] = (),
    figures: Collection[str] = (),
) -> None:
    """Refuse, before any work is done, an output path that cannot take the file: a folder, a
    path under a file, a folder this process cannot write in, a file the run reads, or a
    path two outputs share (the later write would destroy the earlier). ``outputs`` and
    ``inputs``: ``(flag, path)`` pairs, ``None`` paths skipped; ``may_replace``: ``(output
    flag, input flag)`` pairs that may name one file (``--save`` over ``--resume``: the
    checkpoint continued in place); ``figures``: output flags that matplotlib writes, whose
    suffix must be one of ``FIGURE_SUFFIXES``. Raises ``ConfigError``, one line naming the
    flag and the path. A folder that does not exist yet is fine (the writers create it):
    the write test is made in its nearest existing ancestor."""
    reads = [(os.path.realpath(p), flag) for flag, p in inputs if p]
    taken: dict[str, str] = {}
    for flag, path in outputs:
        if not path:
            continue
        real = os.path.realpath(path)
        if os.path.isdir(real):
            raise ConfigError(f"{flag} {path} is a folder: give a file name")
        if os.path.exists(path) and not os.path.isfile(path):  # the atomic rename would
            # replace the device or pipe itself (/dev/stdout, as root), not write to it
            raise ConfigError(f"{flag} {path} is not a regular file (a device or a pipe): give "
                              "a file name")  # fmt: skip
        for read, source in reads:
            if read == real and (flag, source) not in may_replace:
                raise ConfigError(f"{flag} {path} is the {source} file this run reads: writing "
                                  f"it would destroy it; give another name")  # fmt: skip
        if real in taken:
            raise ConfigError(f"{taken[real]} and {flag} both name {path}: the second write would "
                              f"destroy the first; give two names")  # fmt: skip
        taken[real] = flag
        if flag in figures and os.path.splitext(real)[1].lower() not in FIGURE_SUFFIXES:
            raise ConfigError(f"{flag} {path}: a figure's name ends in one of "
                              f"{', '.join(FIGURE_SUFFIXES)}")  # fmt: skip
        _check_writable_folder(flag, path, os.path.dirname(real))


def check_output_folder(flag: str, path: str) -> None:
    """Refuse, before any work, an output folder (``study --out``, ``sweep --out``) that is
    a file, lies under one, or cannot be written in (``ConfigError``, one line); one that
    does not exist yet is fine (the writers create it)."""
    _check_writable_folder(flag, path, os.path.realpath(path))


def _check_writable_folder(flag: str, path: str, folder: str) -> None:
    """``folder`` (where ``path`` goes), or its nearest existing ancestor, is a folder this
    process can create a file in."""
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder):
        raise ConfigError(f"{flag} {path}: {folder} is a file, not a folder")
    try:  # a real write: permission bits do not tell for root or a read-only mount
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".jaxrnn-write-check-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ConfigError(f"{flag} {path}: cannot write in {folder} "
                          f"({e.strerror or e})") from None  # fmt: skip
