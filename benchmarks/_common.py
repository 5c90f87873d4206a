"""Helpers shared by the benchmark scripts.

On top of ``_timing`` (which belongs to ``vs_peers.py``'s author and is not edited
here): a common command line (``--json``, ``--quick``), the check that the machine was
quiet during a run (``QuietCheck``, used by every script), round-robin end-to-end
runs that keep each call's return value, compiled training programs built the
way ``jaxrnn.runs.fit`` builds them (so their timings are the library's), XLA
compiler options, fusion counts, and the JSON payload skeleton.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from jaxrnn.util import allocator as _allocator

# The C allocator's policy of the command-line tools (``jaxrnn.util.allocator``): the script
# runs again at once with glibc's huge-page tunable unless ``$JAXRNN_ALLOCATOR=glibc``. It
# is process-wide: PyTorch's side runs under the same policy. ``header()`` records it.
# Before the imports below (NumPy and more: ~0.3 s of CPU that the first process would
# spend for nothing).
if os.path.dirname(os.path.abspath(sys.argv[0])) == os.path.dirname(os.path.abspath(__file__)):
    _allocator.use_huge_pages()  # a benchmark script run as one (not a test importing this)
ALLOCATOR = _allocator.allocator_policy()

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _timing import cpu_brief, machine_info, print_table, write_json  # noqa: E402

# XLA compiler option sets compared by compile_time.py (``Lowered.compile(compiler_options)``).
XLA_OPTION_SETS: dict[str, dict[str, Any]] = {
    "default": {},
    "O0": {"xla_backend_optimization_level": 0},
    "O0+llvm_cheap": {
        "xla_backend_optimization_level": 0,
        "xla_llvm_disable_expensive_passes": True,
    },
    "no_fusion_emitters": {"xla_cpu_use_fusion_emitters": False},
    # what `--compile fast` uses on CPU (jaxrnn.runs.FAST_COMPILE_OPTIONS)
    "fast": {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False},
}


FLAG = "xla_force_host_platform_device_count"


def force_host_devices(n: int) -> None:
    """Ask XLA:CPU for ``n`` devices, unless XLA_FLAGS already says how many (before jax)."""
    if "jax" in sys.modules:
        raise RuntimeError("force_host_devices must run before JAX is imported")
    flags = os.environ.get("XLA_FLAGS", "")
    if FLAG not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --{FLAG}={n}".strip()


def parser(doc: str | None) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` with the flags every script has: ``--json PATH``, ``--quick``."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--json", metavar="PATH", help="write every number and the machine info here")
    ap.add_argument("--quick", action="store_true", help="smallest case, fewest reps (smoke test)")
    return ap


def median(xs: Sequence[float]) -> float | None:
    return statistics.median(xs) if xs else None


def header(extra_modules: Sequence[str] = (), persistent_cache: bool = False) -> dict[str, Any]:
    """``machine_info`` plus what else bears on the timings; prints a one-line summary.

    Unless ``persistent_cache``, JAX's persistent compilation cache is switched off
    for this process (``jaxrnn``'s command-line tools turn it on; a benchmark that
    reports compile times must compile for real).
    """
    import jax

    if not persistent_cache:
        jax.config.update("jax_enable_compilation_cache", False)
    info = machine_info(extra_modules=("optax", "flax", *extra_modules))
    info["git"] = _git_state()
    info["allocator"] = ALLOCATOR
    info["jax_compilation_cache"] = {
        "enabled": bool(jax.config.jax_enable_compilation_cache),
        "dir": jax.config.jax_compilation_cache_dir,
    }
    load = info.get("loadavg")
    vs = ", ".join(f"{k} {v}" for k, v in info["versions"].items() if v)
    print(
        f"{info['cpu_model']} ({cpu_brief(info['cpu'])}), "
        f"{info['cpu_affinity'] or info['cpu_count']} cores usable, "
        f"load average {'/'.join(f'{x:.1f}' for x in load) if load else '?'}; {vs}; "
        f"allocator {ALLOCATOR}",
        flush=True,
    )
    return info


def _git_state() -> dict[str, Any] | None:
    """The commit the library was measured at, and its uncommitted files (numbers from a
    dirty tree describe code that no commit holds)."""
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "jaxrnn"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"head": head, "jaxrnn_uncommitted": [ln[3:] for ln in dirty.splitlines()]}


# ----------------------------------------------------------------------------- quiet machines
#
# Figures taken while other work shares the cores measure the sharing, not the code. Every
# script reads the machine before and after its run (``QuietCheck``) and says in its JSON
# whether the run had the machine to itself; benchmarks/README.md, "Quiet machines".

LOAD_MARGIN = 0.5  # a 1-minute load above usable cores + this: threads queued for a core
MAX_OTHERS_CORES = 0.5  # other processes busier than this on average: the cores were shared


@dataclass(frozen=True)
class Reading:
    """One look at the machine (``read_machine``); ``None`` where the OS does not tell.

    ``load``: the 1-, 5- and 15-minute load averages; ``cpu_count``: the machine's CPUs;
    ``cpus``: those this process may run on (``os.sched_getaffinity``); ``busy_s``:
    CPU-seconds all CPUs have spent busy since boot, every process together
    (``/proc/stat``: user, nice, system, irq, softirq, steal); ``own_s``: CPU-seconds of
    this process and of its children that have been waited for (``getrusage``);
    ``t``: ``time.monotonic()`` seconds.
    """

    load: tuple[float, float, float] | None
    cpu_count: int | None
    cpus: int | None
    busy_s: float | None
    own_s: float
    t: float


def _busy_s(path: str = "/proc/stat") -> float | None:
    """CPU-seconds spent busy since boot by all CPUs (the ``cpu`` line of ``/proc/stat``)."""
    try:
        with open(path) as f:
            fields = f.readline().split()
        ticks = [int(x) for x in fields[1:9]] + [0] * 8  # older kernels have fewer columns
        tick_s = 1.0 / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None
    if not fields or fields[0] != "cpu":
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks[:8]
    # guest time is already inside user; steal is time a hypervisor gave another machine
    return (user + nice + system + irq + softirq + steal) * tick_s


def _own_cpu_s() -> float:
    """CPU-seconds (user + system) of this process and its waited-for children."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        total += r.ru_utime + r.ru_stime
    return total


def read_machine() -> Reading:
    """Load averages, CPU counts, all processes' and this process tree's CPU time, now."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return Reading(load=load, cpu_count=os.cpu_count(), cpus=usable or os.cpu_count(),
                   busy_s=_busy_s(), own_s=_own_cpu_s(), t=time.monotonic())  # fmt: skip


def judge(
    load_before: Sequence[float] | None,
    load_after: Sequence[float] | None,
    cpus: int | None,
    others_cores: float | None,
) -> tuple[bool, list[str]]:
    """The rule: ``(quiet, reasons)``; not quiet when the 1-minute load before or after the run
    is above ``cpus + LOAD_MARGIN``, when other processes used more than
    ``MAX_OTHERS_CORES`` cores on average during it, or when nothing could be read."""
    reasons = []
    if cpus:
        for when, load in (("before", load_before), ("after", load_after)):
            if load is not None and load[0] > cpus + LOAD_MARGIN:
                reasons.append(f"1-minute load {load[0]:.2f} {when} the run is above "
                               f"{cpus} usable cores + {LOAD_MARGIN:g}")  # fmt: skip
    if others_cores is not None and others_cores > MAX_OTHERS_CORES:
        reasons.append(f"other processes used {others_cores:.2f} cores on average, "
                       f"above {MAX_OTHERS_CORES:g}")  # fmt: skip
    if (not cpus or (load_before is None and load_after is None)) and others_cores is None:
        reasons.append("neither the load average nor the CPU time of other processes "
                       "could be read")  # fmt: skip
    return not reasons, reasons


def quiet_verdict(before: Reading, after: Reading) -> dict[str, Any]:
    """The JSON fields that say whether the run between two readings had the machine alone.

    ``others_cores``: CPU time all processes spent busy, less this process tree's own,
    over the wall time: the cores other processes kept busy on average (clipped at 0;
    ``/proc/stat`` counts in ticks of 10 ms). Top-level keys: ``quiet``, ``load``
    (``before``/``after``: 1-, 5-, 15-minute), ``cpus`` (usable; the fewer of the two
    readings), ``others_cores``; the rest under ``quiet_check``.
    """
    wall = after.t - before.t
    own = after.own_s - before.own_s
    others = None
    if before.busy_s is not None and after.busy_s is not None and wall > 0:
        others = max(0.0, (after.busy_s - before.busy_s - own) / wall)
    counts = [c for c in (before.cpus, after.cpus) if c]
    cpus = min(counts) if counts else None
    quiet, reasons = judge(before.load, after.load, cpus, others)
    loads = [r.load[0] for r in (before, after) if r.load is not None]
    return {
        "quiet": quiet,
        "load": {"before": list(before.load) if before.load else None,
                 "after": list(after.load) if after.load else None},
        "cpus": cpus,
        "others_cores": others,
        "quiet_check": {
            "reasons": reasons,
            "max_load_1min": max(loads) if loads else None,
            "load_limit": cpus + LOAD_MARGIN if cpus else None,
            "others_cores_limit": MAX_OTHERS_CORES,
            "cpu_count": {"before": before.cpu_count, "after": after.cpu_count},
            "cpus": {"before": before.cpus, "after": after.cpus},
            "wall_s": wall,
            "own_cpu_s": own,
            "all_busy_cpu_s": (after.busy_s - before.busy_s
                               if before.busy_s is not None and after.busy_s is not None
                               else None),
        },
    }  # fmt: skip


def busy_warning(fields: dict[str, Any]) -> str:
    """The one-line warning for a run that was not quiet (``quiet_verdict``'s fields)."""
    load = fields["quiet_check"]["max_load_1min"]
    others = fields["others_cores"]
    return (f"warning: the machine was busy (load {'?' if load is None else f'{load:.1f}'} on "
            f"{fields['cpus'] or '?'} cores, others used "
            f"{'?' if others is None else f'{others:.1f}'} cores): "
            "figures from this run are not results")  # fmt: skip


class QuietCheck:
    """Did this run have the machine to itself? Read at creation (before the run) and at
    ``stop()`` (after it); the verdict goes to the script's JSON at the top level::

        check = QuietCheck()              # first thing in main
        ...                               # the run
        payload = check.stamp(payload)    # or finish(args, payload, t0, check)

    Also a context manager (``with QuietCheck() as check: ...``, then ``check.result``).
    ``read`` replaces ``read_machine`` (tests inject readings); a run that was not quiet
    prints ``busy_warning`` to ``stream`` (stderr), once.
    """

    def __init__(self, read: Callable[[], Reading] = read_machine, stream: Any = None):
        self._read = read
        self._stream = stream
        self.before = read()
        self.result: dict[str, Any] | None = None

    def stop(self) -> dict[str, Any]:
        """Take the "after" reading (once; later calls return the same fields) and judge."""
        if self.result is None:
            self.result = quiet_verdict(self.before, self._read())
            if not self.result["quiet"]:
                print(busy_warning(self.result), file=self._stream or sys.stderr, flush=True)
        return self.result

    def stamp(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``payload`` with the verdict's keys first (a key it already has is an error)."""
        fields = self.stop()
        clash = sorted(set(fields) & set(payload))
        if clash:
            raise ValueError(f"payload already has the quiet-check keys {clash}")
        return {**fields, **payload}

    def __enter__(self) -> QuietCheck:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def finish(
    args: argparse.Namespace,
    payload: dict[str, Any],
    t0: float,
    check: QuietCheck | None = None,
) -> dict[str, Any]:
    """Stamp the total wall time, the final load average and ``check``'s verdict; write
    ``--json`` if asked."""
    if check is not None:
        payload = check.stamp(payload)
    payload["script_wall_s"] = time.perf_counter() - t0
    payload["loadavg_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    if args.json:
        write_json(args.json, payload)
        print(f"wrote {args.json}")
    return payload


def table(title: str, rows: list[dict[str, Any]], columns: Sequence[str] | None = None) -> None:
    """A titled ``print_table``; columns default to the union of the rows' keys, in order."""
    if not rows:
        return
    if columns is None:
        columns = []
        for r in rows:
            columns += [k for k in r if k not in columns and not isinstance(r[k], dict | list)]
    print()
    print(title)
    print_table(rows, columns)


# ----------------------------------------------------------------------------- timing


def alternate(
    sides: dict[str, Callable[[int], dict[str, Any]]], reps: int, warmup: int = 1
) -> dict[str, list[dict[str, Any]]]:
    """Run long end-to-end callables round-robin and keep what each returns.

    ``sides[name](rep)`` runs once and returns a dict of numbers (it measures
    itself: e.g. ``wall_s``); ``rep`` is the repetition index (a seed), negative
    for warm-up calls, which are discarded. The order rotates every round, so no
    side always follows the same other side.
    """
    names = list(sides)
    for w in range(warmup):
        for n in names:
            sides[n](-1 - w)
    out: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    for r in range(reps):
        order = names[r % len(names) :] + names[: r % len(names)]
        for n in order:
            out[n].append(sides[n](r))
            print(f"  rep {r} {n}: " + _brief(out[n][-1]), flush=True)
    return out


def _brief(d: dict[str, Any]) -> str:
    return ", ".join(
        f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
        for k, v in d.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    )


def summarize(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Median of every numeric key over a side's samples, plus the samples themselves."""
    keys = [k for k, v in samples[0].items() if isinstance(v, int | float) and v is not None]
    out: dict[str, Any] = {k: median([s[k] for s in samples if s.get(k) is not None]) for k in keys}
    out["n"] = len(samples)
    out["samples"] = samples
    return out


def timed_median(fn: Callable[[], Any], reps: int) -> float:
    """Median seconds of ``reps`` calls of a blocking ``fn`` (after the caller's warm-up)."""
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


# ----------------------------------------------------------------------------- XLA programs


def count_fusions(compiled: Any) -> int | None:
    """Number of fusion kernels in a compiled XLA program (each one is code generated by
    LLVM on CPU, so on CPU compile time grows with this count)."""
    try:
        return len(re.findall(r"= \S+ fusion\(", compiled.as_text()))
    except Exception:  # noqa: BLE001 - as_text is not available on every backend
        return None


def staged_compile(
    jitted: Any, args: Sequence[Any], compiler_options: dict[str, Any] | None = None
) -> tuple[Any, dict[str, float]]:
    """``jitted.trace(*args).lower().compile(options)``, each stage timed apart (seconds)."""
    t0 = time.perf_counter()
    traced = jitted.trace(*args)
    t1 = time.perf_counter()
    lowered = traced.lower()
    t2 = time.perf_counter()
    compiled = lowered.compile(compiler_options or None)
    t3 = time.perf_counter()
    return compiled, {"trace_s": t1 - t0, "lower_s": t2 - t1, "compile_s": t3 - t2}


class Program:
    """A model's training program as ``jaxrnn.runs.fit`` compiles it, for timing.

    ``fit`` builds the model, optimizer, initial state and device placement in
    ``JaxRun``, then jits ``make_run(...)`` (``vmap``-ed over seeds when
    there are several) and calls it once per chunk of epochs. This does the
    same with ``epochs_per_call`` epochs per call, but keeps the compiled
    program so that the caller can time calls of it, and can compile it with
    other XLA options. The state is not updated between timed calls (each call
    trains the same epochs from the same start; the work per call is fixed).

    ``make_run`` is called again for every ``compile()``: a new function object, so
    JAX's in-memory caches (keyed on the function) cannot hand back the previous
    executable and every compile is a real one.
    """

    def __init__(
        self,
        cfg: Any,
        data: Any,
        num_seeds: int = 1,
        epochs_per_call: int = 1,
        group: int | str | None = None,
    ):
        """``group``: seeds per vmapped group (``None``: all vmapped; ``"fit"``: what fit
        picks, ``jaxrnn.runs.seed_group``); the groups run in a ``lax.map``."""
        import jax

        from jaxrnn import runs as train

        self.cfg = cfg = train.resolve_config(cfg)
        self.data = data
        self.num_seeds = num_seeds
        if epochs_per_call < 1:
            raise ValueError(f"epochs_per_call must be >= 1, got {epochs_per_call}")
        self.epochs = epochs_per_call
        seeds = [cfg.seed + i for i in range(num_seeds)]
        # What fit does before compiling: model, optimizer, initial state(s),
        # plan_parallel and device placement.
        t0 = time.perf_counter()
        self.session = s = train.JaxRun(cfg, data, seeds)
        jax.block_until_ready(s.state)
        self.session_s = time.perf_counter() - t0
        orders = s.orders(epochs_per_call)  # [S, E, N]: one seed is S = 1
        par = s.parallel
        if par is not None:
            orders = jax.device_put(orders, par.sharded if par.axis == "seed" else par.replicated)
        self.args = (s.state, s.train_arrays, s.test_arrays, orders)
        if group == "fit":
            group = train.seed_group(cfg, num_seeds, par) if hasattr(train, "seed_group") else None
        self.group = num_seeds if group is None else group
        self.compiled = None
        self.times: dict[str, float] = {}
        self.last: Any = None

    def build(self, shared_order: bool = False) -> Callable:
        """A fresh (un-jitted) runner, as fit builds it: test predictions included where
        this version of ``make_run`` can return them (fit then needs no predict program).
        ``shared_order``: several seeds take one sample order ``[E, N]`` (not vmapped)."""
        import inspect

        import jax

        from jaxrnn import runs as train

        s = self.session
        kw = {}
        if "with_predictions" in inspect.signature(train.make_run).parameters:
            kw["with_predictions"] = True
        run = train.make_run(self.cfg, s.model, s.optimizer, self.epochs, self.data, s.parallel,
                             **kw)  # fmt: skip
        if shared_order or 1 < self.num_seeds <= self.group:
            return jax.vmap(run, in_axes=(0, None, None, None if shared_order else 0))
        return train.over_seeds(run, self.num_seeds, self.group)

    @property
    def devices(self) -> int:
        return self.session.parallel.size if self.session.parallel else 1

    @property
    def parallel_axis(self) -> str | None:
        return self.session.parallel.axis if self.session.parallel else None

    def compile(self, compiler_options: dict[str, Any] | None = None) -> Program:
        """Compile a freshly built runner; stage times (and ``fusions``) in ``times``."""
        import jax

        fn = jax.jit(self.build())
        self.compiled, self.times = staged_compile(fn, self.args, compiler_options)
        self.times["fusions"] = count_fusions(self.compiled)
        return self

    def __call__(self) -> Any:
        """One blocking call: ``epochs_per_call`` epochs of every seed."""
        import jax

        if self.compiled is None:
            self.compile()
        self.last = jax.block_until_ready(self.compiled(*self.args))
        return self.last

    def test_predictions(self) -> Any:
        """``[S, N_test]`` test predictions of the last call, or None if the program does not
        return them (older ``make_run``)."""
        import numpy as np

        out = self.last[1] if self.last is not None else None
        if not isinstance(out, tuple):
            return None
        pred = np.asarray(out[1])
        return pred.reshape(self.num_seeds, self.epochs, -1)[:, -1]

    def steps_per_epoch(self) -> int:
        n = len(self.data.train.labels)
        return n if self.cfg.batch_size == 1 else -(-n // self.cfg.batch_size)


def sentiment_data(model: str, max_len: int | None = None, **overrides: Any) -> tuple[Any, Any]:
    """``(resolved TrainConfig, Prepared)`` for the bundled data, Keras-equivalent encoding
    (``Tokenizer(num_words=25)``, post padding to the preset's ``max_len`` unless given)."""
    from jaxrnn import runs as train

    cfg = train.resolve_config(train.TrainConfig(model=model, max_len=max_len, **overrides))
    return cfg, train.prepare_data(cfg)
