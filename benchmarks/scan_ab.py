"""In-process A/B of the parallel cells' two training forms: ``associative`` against the CPU
``scan`` (one time-major ``lax.scan`` with a hand-written reverse-scan VJP).

    python benchmarks/scan_ab.py [T] [B] [reps]     # defaults 1024 8 7; width 256
    python benchmarks/scan_ab.py --unroll 1,2,4,16 [T] [B] [reps]

``--unroll`` instead times the ``scan`` form at each ``linear_scan.SCAN_UNROLL`` given
(steps per loop iteration, forward and backward), in one process, and prints ms per
gradient for each.

Times ``jax.jit(jax.grad(loss))`` of one cell's ``apply`` (forward, backward), the two forms
alternating in one process, medians of ``reps``; prints ms per gradient and the ratio
associative / scan. A quick check, not a benchmark of record: ``benchmarks/parallel.py``
times whole training steps against PyTorch with the quiet-machine check.
"""

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxrnn.nn import linear_scan
from jaxrnn.nn import parallel_cells as pc
from jaxrnn.weights import parallel_init as pinit


def main() -> None:
    argv = sys.argv[1:]
    unrolls = None
    if argv[:1] == ["--unroll"]:
        unrolls, argv = [int(u) for u in argv[1].split(",")], argv[2:]
    T = int(argv[0]) if len(argv) > 0 else 1024
    B = int(argv[1]) if len(argv) > 1 else 8
    reps = int(argv[2]) if len(argv) > 2 else 7
    D = H = 256
    x = jnp.asarray(np.random.default_rng(0).standard_normal((B, T, D)), jnp.float32)
    forms = [(f"unroll {u}", "scan", u) for u in unrolls] if unrolls else [
        ("associative", "associative", None), ("scan", "scan", None)]
    for cell in ("mingru", "minlstm", "lru"):
        p = pc.to_jax(pinit.init_params(np.random.default_rng(1), cell, D, H, np.float32))
        fns = {}
        for name, m, u in forms:

            def loss(p, x, m=m, cell=cell):
                ys, hl = pc.get_cell(cell).apply(p, x, None, False, None, m)
                return jnp.sum(ys**2) + jnp.sum(jnp.abs(hl))

            default = linear_scan.SCAN_UNROLL
            linear_scan.SCAN_UNROLL = u or default  # read when the function is traced
            fns[name] = jax.jit(jax.grad(loss))
            jax.block_until_ready(fns[name](p, x))
            linear_scan.SCAN_UNROLL = default
        ts: dict[str, list[float]] = {m: [] for m in fns}
        for _ in range(reps):
            for m, f in fns.items():
                t0 = time.perf_counter()
                jax.block_until_ready(f(p, x))
                ts[m].append(time.perf_counter() - t0)
        med = {m: float(np.median(v)) * 1e3 for m, v in ts.items()}
        if unrolls:
            print(f"{cell} T={T} B={B}: " + ", ".join(f"{m} {v:.1f} ms" for m, v in med.items()),
                  flush=True)  # fmt: skip
            continue
        ratio = med["associative"] / med["scan"]
        print(f"{cell} T={T} B={B}: associative {med['associative']:.1f} ms, "
              f"scan {med['scan']:.1f} ms, associative/scan {ratio:.2f}", flush=True)


if __name__ == "__main__":
    main()
