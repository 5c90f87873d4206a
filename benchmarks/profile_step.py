"""Where one train step spends its time, kernel by kernel, and the matmuls it depends on.

    python benchmarks/profile_step.py [--json PATH] [--quick] [--cell lstm] [--shape 32,15,32,128]

The evidence behind ``benchmarks/README.md``'s explanation of the PyTorch gap (CPU):

1. **Kernels of one step.** ``jax.jit(jax.grad(...))`` of one ``RecurrentLayer``
   (the same step as ``vs_peers.py``'s ``ours``), traced with ``jax.profiler`` for
   ``--steps`` calls and read back with ``jax.profiler.ProfileData``: every XLA
   kernel (thunk) with its count per step, mean and total microseconds, and the
   thread it ran on. Kernels inside the time loops run once per time step, so a
   count of ``T`` (or ``T`` per batch group) marks them; ``while.*`` rows are whole
   loops (their time includes their kernels); ``threads seen`` counts the threads
   a kernel ran on over all profiled steps (XLA may pick another thread for each
   call). The profiler adds roughly a microsecond per kernel: read the shares, not
   the absolute step time.
2. **One time step's matmul alone** (``[B, H] @ [H, G*H]`` in a ``fori_loop`` of
   ``T`` steps) on one device, against PyTorch with 1 and 2 threads: whether the
   step matmul uses both cores.
3. **Weight-gradient products**: ``dz^T @ x`` over ``N = T * B`` rows as written
   (both operands contracted on their major axis) and after a transposed copy of
   ``dz`` (``jaxrnn.nn.bptt``'s ``transpose_dz``), and square GEMMs, XLA against
   PyTorch: GFLOP/s.

Timings in parts 2 and 3 alternate between the sides in one process (medians).
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)

# first: the script runs again under the allocator's tunable (_common) before the imports
import _common  # noqa: E402, F401, I001

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from _common import QuietCheck, finish, header, parser, table, timed_median  # noqa: E402
from _timing import bench, with_torch_threads  # noqa: E402
from jax import lax  # noqa: E402

import jaxrnn  # noqa: E402
from jaxrnn.weights.layout import num_gates  # noqa: E402


def kernel_profile(cell: str, B: int, T: int, D: int, H: int, steps: int) -> dict[str, Any]:
    """Part 1: per-kernel time of ``steps`` train steps (after warm-up)."""
    from jax.profiler import ProfileData

    layer = jaxrnn.RecurrentLayer(cell, H)
    params = layer.init(jax.random.key(0), D, jnp.float32)
    x = jax.random.normal(jax.random.key(1), (B, T, D), jnp.float32)

    def loss(p, x):
        return jnp.sum(layer.apply(p, x)[0])

    step = jax.jit(jax.grad(loss, argnums=(0, 1)))
    for _ in range(3):
        jax.block_until_ready(step(params, x))
    wall = []
    for _ in range(steps):
        t0 = time.perf_counter()
        jax.block_until_ready(step(params, x))
        wall.append(time.perf_counter() - t0)
    out = tempfile.mkdtemp(prefix="jaxrnn-profile-")
    try:
        with jax.profiler.trace(out):
            for _ in range(steps):
                jax.block_until_ready(step(params, x))
        prof = ProfileData.from_file(glob.glob(f"{out}/**/*.xplane.pb", recursive=True)[0])
        agg: dict[str, list] = collections.defaultdict(lambda: [0, 0, set()])
        for plane in prof.planes:
            for line in plane.lines:
                if "python" in line.name.lower():
                    continue
                for ev in line.events:
                    name = ev.name
                    # XLA's kernels only: no runtime markers (ThunkExecutor::..., Await, ...)
                    if name.startswith(("end:", "Rendezvous", "Wait:")) or "::" in name:
                        continue
                    if "Await" in name:
                        continue
                    agg[name][0] += 1
                    agg[name][1] += ev.duration_ns
                    agg[name][2].add(line.name)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    rows = []
    for name, (n, ns, threads) in sorted(agg.items(), key=lambda kv: -kv[1][1]):
        rows.append({
            "kernel": name, "per step": n / steps, "mean us": ns / n / 1e3,
            "us per step": ns / steps / 1e3, "threads seen": len(threads),
        })  # fmt: skip
    in_loop = [r for r in rows if not r["kernel"].startswith("while") and r["per step"] >= T]
    return {
        "cell": cell, "B": B, "T": T, "D": D, "H": H, "steps": steps,
        "step_ms_unprofiled": 1e3 * float(np.median(wall)),
        "kernels": rows,
        "loop_kernels_per_time_step": sum(r["per step"] for r in in_loop) / T,
    }  # fmt: skip


def step_matmul(cell: str, B: int, T: int, H: int, reps: int) -> dict[str, Any]:
    """Part 2: ``T`` dependent ``[B, H] @ [H, G*H]`` products (the recurrence's matmul
    alone), XLA on one device vs PyTorch with 1 and 2 threads; ``xla_feature_major``: the
    same products as ``(w @ h.T).T`` (``jaxrnn.nn._blocks.feature_major``, what
    ``jaxrnn.nn.bptt`` runs from H = 256 at <= 32 rows)."""
    import torch

    from jaxrnn.nn._blocks import feature_major

    g = num_gates(cell)
    w = np.random.default_rng(0).normal(0, 0.05, (g * H, H)).astype(np.float32)
    h0 = np.full((B, H), 0.1, np.float32)

    @jax.jit
    def loop(w, h):
        return lax.fori_loop(0, T, lambda t, h: jnp.tanh(h @ w.T)[:, :H], h)

    @jax.jit
    def loop_fm(w, h):
        return lax.fori_loop(0, T, lambda t, h: jnp.tanh(feature_major(w, h))[:, :H], h)

    wj, hj = jnp.asarray(w), jnp.asarray(h0)
    wt, ht = torch.from_numpy(w), torch.from_numpy(h0)

    def torch_loop(threads: int):
        def run():
            h = ht
            for _ in range(T):
                h = torch.tanh(h @ wt.T)[:, :H].contiguous()
            return h

        return with_torch_threads(run, threads)

    jax.block_until_ready(loop(wj, hj))
    jax.block_until_ready(loop_fm(wj, hj))
    stats = bench(
        {
            "xla": lambda: jax.block_until_ready(loop(wj, hj)),
            "xla_feature_major": lambda: jax.block_until_ready(loop_fm(wj, hj)),
            "torch_1_thread": torch_loop(1),
            "torch_2_threads": torch_loop(2),
        },
        reps=reps,
        warmup=3,
    )
    us = {k: 1e3 * s.median_ms / T for k, s in stats.items()}
    return {"B": B, "H": H, "G": g, "T": T, "us_per_time_step": us}


def between_kernels(cell: str, B: int, T: int, H: int, reps: int, kernels=(0, 1, 3)
                    ) -> dict[str, float]:  # fmt: skip
    """Part 4 (one process): us per time step of ``T`` dependent step matmuls with ``k``
    small elementwise kernels between consecutive ones (kept apart by optimisation
    barriers), as the recurrent loops have (``k = 0``: the matmul and its fused epilogue)."""
    g = num_gates(cell)
    w = jnp.asarray(np.random.default_rng(0).normal(0, 0.05, (H, g * H)).astype(np.float32))
    h0 = jnp.full((B, H), 0.1, jnp.float32)
    out = {}
    for k in kernels:

        @jax.jit
        def loop(w, h, k=k):
            def body(t, h):
                y = (h @ w)[:, :H]
                for _ in range(k):  # each its own kernel
                    y = jnp.concatenate([jnp.tanh(y[:, : H // 2]), jax.nn.sigmoid(y[:, H // 2 :])],
                                        -1)  # fmt: skip
                    y = lax.optimization_barrier(y)
                return jnp.tanh(y)

            return lax.fori_loop(0, T, body, h)

        jax.block_until_ready(loop(w, h0))
        s = timed_median(lambda loop=loop: jax.block_until_ready(loop(w, h0)), reps)
        out[f"{k} kernels between"] = 1e6 * s / T
    return out


def between_kernels_one_core(args: argparse.Namespace, B: int, T: int, H: int, reps: int
                             ) -> dict[str, float] | None:  # fmt: skip
    """Part 4 again in a child process pinned to one core (XLA then runs every kernel on one
    thread: no hand-off between threads). None where affinity cannot be set."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    core = min(os.sched_getaffinity(0))
    # the child pins itself before JAX starts its threads
    call = f"p.between_kernels({args.cell!r}, {B}, {T}, {H}, {reps})"
    code = (f"import json, os, sys; os.sched_setaffinity(0, {{{core}}}); "
            f"sys.argv = ['profile_step']; sys.path.insert(0, {_HERE!r}); "
            f"import profile_step as p; print(json.dumps({call}))")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    if proc.returncode != 0:
        print(proc.stderr[-2000:])
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def weight_grad_products(shapes: list[tuple[int, int, int]], reps: int) -> list[dict[str, Any]]:
    """Part 3: ``dz^T @ x`` for ``dz [N, G]``, ``x [N, K]`` as written and after a transposed
    copy of ``dz``; XLA vs PyTorch, GFLOP/s."""
    import torch

    direct = jax.jit(lambda x, d: (x.T @ d).T)  # as jaxrnn.nn.bptt writes it untransposed
    copied = jax.jit(lambda x, d: lax.optimization_barrier(d.T) @ x)  # transpose_dz=True

    def sides(x: np.ndarray, dz: np.ndarray) -> dict[str, Any]:
        xj, dj = jnp.asarray(x), jnp.asarray(dz)
        xt, dt = torch.from_numpy(x), torch.from_numpy(dz)
        return {
            "xla_direct": lambda: jax.block_until_ready(direct(xj, dj)),
            "xla_transposed_copy": lambda: jax.block_until_ready(copied(xj, dj)),
            "torch": lambda: dt.T @ xt,
        }

    rows = []
    for n, k, gh in shapes:
        rng = np.random.default_rng(0)
        x = rng.normal(size=(n, k)).astype(np.float32)
        dz = rng.normal(size=(n, gh)).astype(np.float32)
        stats = bench(sides(x, dz), reps=reps, warmup=2)
        flop = 2.0 * n * k * gh
        rows.append({
            "N": n, "K": k, "G*H": gh,
            **{f"{name} GF/s": flop / 1e6 / s.median_ms for name, s in stats.items()},
        })  # fmt: skip
    return rows


def square_gemms(sizes: list[int], reps: int) -> list[dict[str, Any]]:
    """Part 3b: ``[n, n] @ [n, n]``, XLA vs PyTorch, GFLOP/s (the machine's matmul peak)."""
    import torch

    f = jax.jit(lambda a, b: a @ b)

    def sides(a: np.ndarray) -> dict[str, Any]:
        aj, at = jnp.asarray(a), torch.from_numpy(a)
        return {"xla": lambda: jax.block_until_ready(f(aj, aj)), "torch": lambda: at @ at}

    rows = []
    for n in sizes:
        stats = bench(sides(np.random.default_rng(0).normal(size=(n, n)).astype(np.float32)),
                      reps=reps, warmup=2)  # fmt: skip
        flop = 2.0 * n**3
        rows.append({"n": n, **{f"{k} GF/s": flop / 1e6 / s.median_ms for k, s in stats.items()}})
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = parser(__doc__)
    ap.add_argument("--cell", default="lstm", choices=("lstm", "gru", "rnn"))
    ap.add_argument("--shape", default="32,15,32,128", help="B,T,D,H of part 1 and 2")
    ap.add_argument("--steps", type=int, default=10, help="profiled train steps")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    check = QuietCheck()
    info = header(extra_modules=("torch",))
    B, T, D, H = (int(v) for v in args.shape.split(","))
    reps = 3 if args.quick else 30
    steps = 2 if args.quick else args.steps
    if args.quick:
        B, T, D, H = 8, 4, 8, 16

    print(f"... kernels of one {args.cell} train step B{B} T{T} D{D} H{H}", flush=True)
    prof = kernel_profile(args.cell, B, T, D, H, steps)
    table(
        f"1. kernels per train step ({steps} profiled steps; unprofiled step "
        f"{prof['step_ms_unprofiled']:.3f} ms; {prof['loop_kernels_per_time_step']:.1f} "
        "kernels per time step inside the loops)",
        prof["kernels"][: 8 if args.quick else 30],
    )
    print(f"... the step matmul alone, {T} steps", flush=True)
    mm = step_matmul(args.cell, B, T, H, reps)
    table("2. one time step's matmul, us (median)", [{**mm["us_per_time_step"]}])
    wg_shapes = [(T * B, D, num_gates(args.cell) * H), (T * B, H, num_gates(args.cell) * H)]
    if not args.quick:
        wg_shapes += [(3200, 128, 512), (25600, 512, 2048)]
    wg_shapes = list(dict.fromkeys(wg_shapes))  # each shape once
    print("... weight-gradient products", flush=True)
    wg = weight_grad_products(wg_shapes, max(3, reps // 3) if not args.quick else 3)
    table("3. weight-gradient products dz^T @ x, GFLOP/s", wg)
    sizes = [64] if args.quick else [512, 1024, 2048]
    gemm = square_gemms(sizes, 3 if args.quick else 10)
    table("3b. square matmuls, GFLOP/s", gemm)
    print("... the step matmul with kernels between, all cores and one core", flush=True)
    between = {"all_cores": between_kernels(args.cell, B, T, H, reps),
               "one_core": between_kernels_one_core(args, B, T, H, reps)}  # fmt: skip
    table("4. step matmul with k small kernels between consecutive ones, us per time step",
          [{"cpus": k, **v} for k, v in between.items() if v])  # fmt: skip
    payload = {
        "machine": info,
        "kernels": prof,
        "step_matmul": mm,
        "between_kernels": between,
        "weight_grad_products": wg,
        "square_gemms": gemm,
    }
    return finish(args, payload, t0, check)


if __name__ == "__main__":
    main()
