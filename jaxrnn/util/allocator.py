"""The C allocator's policy of the command-line tools: glibc's malloc asked for transparent
huge pages, by running the process again under glibc's tunable (it is read only when a
process starts).

Standard library only, so that a command can run itself again before it imports anything
heavy: the first process then costs under 0.1 s, where it imported NumPy and the command's
modules for nothing before (``python -m jaxrnn.train`` with a missing data file: 0.97 ->
0.61 s of CPU, 0.76 -> 0.50 s of wall time; measured 2026-12-07, quiet 2-core AMD EPYC).
``jaxrnn.runs.memory``, where these names lived before, re-exports them.
"""

from __future__ import annotations

import os

# The environment variable that chooses the C allocator's policy: "hugepages" (the default
# of the command-line tools) or "glibc" (leave glibc's defaults alone).
ALLOCATOR_ENV = "JAXRNN_ALLOCATOR"
ALLOCATOR_POLICIES = ("hugepages", "glibc")
# glibc's tunable (2.35 and later; older ones ignore it) that makes malloc ask for
# transparent huge pages (madvise) for the blocks it maps.
HUGE_PAGES_TUNABLE = "glibc.malloc.hugetlb=1"
_THP_SETTING = "/sys/kernel/mm/transparent_hugepage/enabled"


def thp_mode(path: str = _THP_SETTING) -> str | None:
    """The kernel's transparent-huge-page mode (``"always"``, ``"madvise"``, ``"never"``);
    None where there is none (not Linux)."""
    try:
        with open(path, encoding="ascii") as fh:
            text = fh.read()
    except OSError:
        return None
    start, end = text.find("["), text.find("]")
    return text[start + 1 : end] if 0 <= start < end else None


def _has_tunable(environ: dict[str, str]) -> bool:
    return HUGE_PAGES_TUNABLE in environ.get("GLIBC_TUNABLES", "").split(":")


def huge_pages_env(environ: dict[str, str] | None = None, thp: str | None = "read"
                   ) -> dict[str, str] | None:  # fmt: skip
    """The environment under which to run this process again so that glibc's malloc asks
    for transparent huge pages; None when there is nothing to do.

    Why: a compiled CPU program allocates its buffers on every call and frees them at the
    end; glibc maps each large block afresh, so every call touches new pages and the kernel
    faults each 4 KB page in (zeroing it) on its first write. Measured on a quiet 2-core
    AMD EPYC, a minGRU training step (``benchmarks/parallel.py``, ``T = 1024``, 8 streams,
    width 256) faulted 20,700 pages a call and took 71 ms; with the tunable it faulted 334
    (2 MB pages) and took 44 ms, and the process's peak memory did not change (a program
    of 48 MB buffers: 0.50 GB with and without, 50,742 faults a call against 665).

    Nothing to do (None): ``$JAXRNN_ALLOCATOR`` is ``glibc``; not Linux, or the kernel's
    huge pages are off (``thp`` ``"never"`` or None; ``"read"`` reads the kernel's mode);
    or ``GLIBC_TUNABLES`` already has the tunable. A ``ValueError`` for another policy.
    """
    env = dict(os.environ if environ is None else environ)
    policy = env.get(ALLOCATOR_ENV) or "hugepages"
    if policy not in ALLOCATOR_POLICIES:
        raise ValueError(f"{ALLOCATOR_ENV} must be one of {ALLOCATOR_POLICIES}, got {policy!r}")
    if thp == "read":
        thp = thp_mode()
    if policy == "glibc" or thp in (None, "never") or _has_tunable(env):
        return None
    tunables = env.get("GLIBC_TUNABLES", "")
    env["GLIBC_TUNABLES"] = f"{tunables}:{HUGE_PAGES_TUNABLE}" if tunables else HUGE_PAGES_TUNABLE
    return env


def use_huge_pages() -> None:
    """Run this process again (``os.execv``, same arguments) under ``huge_pages_env``, when
    that says so; else return. The command-line tools call it first thing, before they
    import anything else or read any input (``python -m jaxrnn.*``: ``jaxrnn._aliases``);
    a library user sets ``GLIBC_TUNABLES=glibc.malloc.hugetlb=1`` before Python starts (it
    must be set when the process starts: glibc reads it only then)."""
    import sys

    env = huge_pages_env()
    if env is None or not getattr(sys, "orig_argv", None):
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, list(sys.orig_argv), env)


def allocator_policy() -> str:
    """The policy this process runs under: ``"hugepages"`` when it started with glibc's
    tunable and the kernel's huge pages are on, else ``"glibc"``."""
    on = _has_tunable(dict(os.environ)) and thp_mode() not in (None, "never")
    return "hugepages" if on else "glibc"
