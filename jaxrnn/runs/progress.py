"""A progress bar for long runs, with ``rich``, on a terminal only.

Off a terminal (a pipe, a file, CI) nothing is drawn. Log lines written through
``Progress.write`` appear above the bar instead of breaking it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


class Progress:
    """``with Progress(total, "epochs", enabled) as bar: bar.update(done)``."""

    def __init__(self, total: int, unit: str, enabled: bool = True, stream: Any = None):
        self.stream = stream if stream is not None else sys.stderr
        self.total, self.unit = total, unit
        self._bar: Any = None
        if enabled and getattr(self.stream, "isatty", lambda: False)():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn(unit), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                TimeRemainingColumn(), console=Console(file=self.stream), transient=True,
            )  # fmt: skip
            self._task = self._bar.add_task(unit, total=total)

    def __enter__(self) -> Progress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.stop()

    def update(self, done: int) -> None:
        """``done`` of ``total`` finished."""
        if self._bar is not None:
            self._bar.update(self._task, completed=done)

    def write(self, line: str, log: Callable[[str], None]) -> None:
        """Pass ``line`` to ``log``; when ``log`` is ``print`` to a terminal, print it above
        the bar (on the bar's stream) so that the bar is redrawn below it."""
        if self._bar is not None and log is print and sys.stdout.isatty():
            self._bar.console.print(line, highlight=False, markup=False, soft_wrap=True)
        else:
            log(line)
