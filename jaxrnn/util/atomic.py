"""Atomic file writes: a reader, or a kill at any instant, sees the old file or the new one.

``atomic_write(path, data)`` writes ``data`` to a temporary file in ``path``'s directory
(same filesystem, so the rename cannot turn into a copy), flushes and fsyncs it, renames
it over ``path`` with ``os.replace`` (atomic on POSIX and Windows), then fsyncs the
directory so the rename itself is durable. On an error the temporary file is removed
and ``path`` is untouched. A SIGKILL cannot be caught: one during the write leaves the
previous ``path`` whole and a stray ``.<name>.*.tmp`` beside it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

# Test hook: called with the temporary file's path once half the data is written (and
# flushed to the file), before the rest, the fsync and the rename. tests/test_checkpoint.py
# sets it in a subprocess to block there and SIGKILL the writer mid-write.
_mid_write_hook: Callable[[str], None] | None = None


def atomic_write(
    path: str | os.PathLike,
    data: bytes | str,
    *,
    fsync: bool = True,
    mode: int | None = None,
    encoding: str = "utf-8",
) -> Path:
    """Write ``data`` (``str`` is encoded with ``encoding``) to ``path`` atomically.

    Missing parent directories are created. ``mode``: the file's permission bits; None
    keeps those of the file being replaced, or 0o644 for a new file (``mkstemp``'s 0o600
    is not kept). ``fsync=False`` skips both fsyncs (atomic against other readers and a
    killed process, not against a power cut). Returns ``path`` as a ``Path``.
    """
    target = Path(os.fspath(path))
    blob = data.encode(encoding) if isinstance(data, str) else bytes(data)
    target.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        try:
            mode = target.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = 0o644
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            if _mid_write_hook is not None:
                half = len(blob) // 2
                fh.write(blob[:half])
                fh.flush()
                _mid_write_hook(tmp)
                fh.write(blob[half:])
            else:
                fh.write(blob)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if fsync:
        _fsync_dir(target.parent)
    return target


def _fsync_dir(d: Path) -> None:
    """Make a rename in ``d`` durable (not possible everywhere, e.g. Windows: skipped)."""
    try:
        dfd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)
