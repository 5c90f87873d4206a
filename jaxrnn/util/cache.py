"""JAX's persistent compilation cache, on by default for the command-line tools.

Compiling the training program is a large part of a short run (about a second
on a 2-core CPU). JAX can keep compiled programs on disk and reuse them when
the same program (same model, shapes, flags, jax version) is built again, so
a second ``python -m jaxrnn.train`` with the same settings starts at once.

Location: ``$JAXRNN_CACHE_DIR``, else ``$XDG_CACHE_HOME/jaxrnn/xla``, else
``~/.cache/jaxrnn/xla``. ``JAXRNN_CACHE_DIR=off`` (or the ``--no-compile-cache``
flag) disables it.

JAX's cache key holds the directory's path (XLA's autotuning directory inside it is one
of the compile options), so entries only serve processes that use the same path: a moved
or copied cache starts empty, and processes that should share programs (the test suite's
workers) must be given one directory, not one each.
"""

from __future__ import annotations

import os
import sys


def cache_dir() -> str | None:
    """Where compiled programs are kept, or None when caching is off."""
    env = os.environ.get("JAXRNN_CACHE_DIR")
    if env is not None:
        return None if env.strip().lower() in ("", "0", "off", "none", "false") else env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "jaxrnn", "xla")


def enable(path: str | None = None) -> str | None:
    """Turn the cache on (at ``path`` or ``cache_dir()``); returns the directory used. Also
    in a process that already compiled with another directory: the next programs go here."""
    path = path or cache_dir()
    if path is None:
        return None
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return None  # an unwritable cache is not worth failing a run for
    # Cache every program, however quick to compile: ours are all small.
    settings = {"jax_compilation_cache_dir": path,
                "jax_persistent_cache_min_compile_time_secs": 0.0,
                "jax_persistent_cache_min_entry_size_bytes": 0}  # fmt: skip
    if "jax" in sys.modules:
        import jax
        from jax.experimental.compilation_cache import compilation_cache

        moved = jax.config.jax_compilation_cache_dir != path
        for name, value in settings.items():
            jax.config.update(name, value)
        if moved:
            # JAX opens its cache once, at the first compile with a directory set: a process
            # that compiled with another one would go on writing there, not here.
            compilation_cache.reset_cache()
    else:
        # JAX reads these when it is imported: turning the cache on costs no JAX start-up
        # (~1.5 s), so a command that then finds a bad flag or a missing file says so at once.
        # Processes this one starts inherit them, as they would the directory.
        for name, value in settings.items():
            os.environ[name.upper()] = str(value)
    return path
