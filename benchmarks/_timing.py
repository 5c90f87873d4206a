"""Shared helpers for the benchmark scripts: timing, machine info, tables, JSON.

The machines here are small and shared, so timings are noisy. The rule this
module supports: compare implementations *in one process*, calling them in
alternation (round-robin), after warm-up, and quote medians and ratios::

    from _timing import bench, print_table, machine_info, write_json

    stats = bench({"ours": f, "torch": g}, reps=20, warmup=3)
    stats["ours"].median_ms, stats["torch"].median_ms / stats["ours"].median_ms

Every callable must block until its result is ready (``jax.block_until_ready``;
torch on CPU is synchronous).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Stats:
    """Wall-clock samples of one callable, in milliseconds."""

    samples_ms: list[float] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def min_ms(self) -> float:
        return min(self.samples_ms)

    @property
    def iqr_ms(self) -> float:
        """Inter-quartile range (a noise measure)."""
        if len(self.samples_ms) < 4:
            return 0.0
        q = statistics.quantiles(self.samples_ms, n=4)
        return q[2] - q[0]

    def to_json(self) -> dict[str, Any]:
        return {
            "median_ms": self.median_ms,
            "min_ms": self.min_ms,
            "iqr_ms": self.iqr_ms,
            "reps": len(self.samples_ms),
            "samples_ms": self.samples_ms,
        }


def time_once(fn: Callable[[], Any]) -> float:
    """Milliseconds of one call of ``fn`` (which must block until done)."""
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def bench(
    fns: dict[str, Callable[[], Any]],
    reps: int = 10,
    warmup: int = 2,
    min_time_s: float = 0.0,
    max_time_s: float = float("inf"),
) -> dict[str, Stats]:
    """Time several callables in one process, alternating between them.

    Each callable is called ``warmup`` times first (also round-robin), then the
    rounds run until each callable has ``reps`` samples and at least
    ``min_time_s`` seconds have passed, or ``max_time_s`` has (never fewer than
    ``reps`` rounds). The order within a round rotates, so no callable always
    runs first after another's (cache, thread-pool and frequency effects).
    """
    names = list(fns)
    for _ in range(warmup):
        for n in names:
            fns[n]()
    out = {n: Stats() for n in names}
    t_start = time.perf_counter()
    r = 0
    while True:
        elapsed = time.perf_counter() - t_start
        if r >= reps and (elapsed >= min_time_s or elapsed >= max_time_s):
            break
        order = names[r % len(names) :] + names[: r % len(names)]
        for n in order:
            out[n].samples_ms.append(time_once(fns[n]))
        r += 1
    return out


def with_torch_threads(fn: Callable[[], Any], threads: int) -> Callable[[], Any]:
    """``fn`` run with ``torch.set_num_threads(threads)``, the previous count restored after."""
    import torch

    def run():
        default = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return fn()
        finally:
            torch.set_num_threads(default)

    return run


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``(fn(), seconds)``: e.g. the compile time of ``jax.jit(f).lower(x).compile``."""
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


# The instruction sets that bound a float32 / bfloat16 matmul: two chips sold under one
# ``model name`` (a VM's "AMD EPYC" is Zen 3 with AVX2 or Zen 4 with AVX-512 and BF16 dots)
# differ in speed by 1.5x here, so a result names them.
SIMD_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")


def read_cpuinfo(path: str = "/proc/cpuinfo") -> dict[str, Any]:
    """The first core's ``model name``, ``vendor_id``, ``cpu family``, ``model``,
    ``stepping``, ``cpu MHz`` and ``flags`` (a set) from ``/proc/cpuinfo``; missing fields
    are None (an empty set for the flags, e.g. off Linux)."""
    keys = {"model name": "model_name", "vendor_id": "vendor", "cpu family": "family",
            "model": "model", "stepping": "stepping", "cpu MHz": "mhz", "flags": "flags"}
    info: dict[str, Any] = {v: None for v in keys.values()}
    try:
        with open(path) as f:
            for line in f:
                key, _, val = line.partition(":")
                name = keys.get(key.strip())
                if name is None or info[name] is not None:
                    continue
                val = val.strip()
                if name == "flags":
                    info[name] = set(val.split())
                elif name == "mhz":
                    info[name] = float(val)
                else:
                    info[name] = val
    except (OSError, ValueError):
        pass
    if info["flags"] is None:
        info["flags"] = set()
    return info


def cpu_identity(info: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{vendor, family, model, stepping, simd}``: which chip behind the model name, and
    which of ``SIMD_FLAGS`` it has (JSON-ready); ``info``: ``read_cpuinfo()``'s, read here
    when None."""
    info = read_cpuinfo() if info is None else info
    ident = {k: info[k] for k in ("vendor", "family", "model", "stepping")}
    ident["simd"] = [f for f in SIMD_FLAGS if f in info["flags"]]
    return ident


def cpu_brief(ident: dict[str, Any]) -> str:
    """One line for a header: ``"AuthenticAMD family 25 model 1; avx2 fma"``."""
    chip = " ".join(f"{k} {ident[k]}" for k in ("family", "model") if ident.get(k) is not None)
    chip = " ".join(x for x in (ident.get("vendor") or "", chip) if x)
    return f"{chip}; {' '.join(ident.get('simd') or ()) or 'no avx2'}"


def _version(mod: str) -> str | None:
    """``mod``'s version: its ``__version__`` when this process imported it, else the installed
    package's metadata (importing flax, torch or Keras only to read it cost a script 1-5 s
    of CPU); ``None`` when it is not installed."""
    from importlib import metadata

    if mod in sys.modules:
        return getattr(sys.modules[mod], "__version__", "?")
    try:
        return metadata.version(mod)
    except metadata.PackageNotFoundError:
        return None


def machine_info(extra_modules: Sequence[str] = ()) -> dict[str, Any]:
    """CPU model and ``cpu_identity``, core counts, OS, Python, versions of numpy/jax/jaxlib
    and ``extra_modules`` (``_version``)."""
    cpu = read_cpuinfo()
    info: dict[str, Any] = {
        "cpu_model": cpu["model_name"] or platform.processor() or platform.machine(),
        "cpu": cpu_identity(cpu),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loadavg": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "versions": {},
    }
    for mod in ("numpy", "jax", "jaxlib", *extra_modules):
        info["versions"][mod] = _version(mod)
    try:
        import jax

        info["jax_devices"] = [str(d) for d in jax.devices()]
    except ImportError:
        pass
    return info


def print_table(rows: list[dict[str, Any]], columns: Sequence[str], floatfmt: str = ".3g") -> None:
    """Print ``rows`` (dicts) as an aligned text table with the given ``columns``."""

    def fmt(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return format(v, floatfmt)
        return str(v)

    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)))


def _default(o: Any) -> Any:
    if isinstance(o, Stats):
        return o.to_json()
    if hasattr(o, "__dataclass_fields__"):
        return asdict(o)
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)


def write_json(path: str, payload: dict[str, Any]) -> None:
    """Write ``payload`` (Stats, dataclasses and arrays allowed) as indented JSON."""
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    with open(path, "w") as f:
        json.dump(payload, f, indent=1, default=_default)
        f.write("\n")
