"""In-process A/B of the parallel cells' two training forms: ``associative`` against the CPU
``scan`` (one time-major ``lax.scan`` with a hand-written reverse-scan VJP).

    python benchmarks/scan_ab.py [T] [B] [reps]     # defaults 1024 8 7; width 256

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

from jaxrnn.nn import parallel_cells as pc
from jaxrnn.weights import parallel_init as pinit


def main() -> None:
    T = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    B = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 7
    D = H = 256
    x = jnp.asarray(np.random.default_rng(0).standard_normal((B, T, D)), jnp.float32)
    for cell in ("mingru", "minlstm", "lru"):
        p = pc.to_jax(pinit.init_params(np.random.default_rng(1), cell, D, H, np.float32))
        fns = {}
        for m in ("associative", "scan"):

            def loss(p, x, m=m, cell=cell):
                ys, hl = pc.get_cell(cell).apply(p, x, None, False, None, m)
                return jnp.sum(ys**2) + jnp.sum(jnp.abs(hl))

            fns[m] = jax.jit(jax.grad(loss))
            jax.block_until_ready(fns[m](p, x))
        ts: dict[str, list[float]] = {m: [] for m in fns}
        for _ in range(reps):
            for m, f in fns.items():
                t0 = time.perf_counter()
                jax.block_until_ready(f(p, x))
                ts[m].append(time.perf_counter() - t0)
        med = {m: float(np.median(v)) * 1e3 for m, v in ts.items()}
        ratio = med["associative"] / med["scan"]
        print(f"{cell} T={T} B={B}: associative {med['associative']:.1f} ms, "
              f"scan {med['scan']:.1f} ms, associative/scan {ratio:.2f}", flush=True)


if __name__ == "__main__":
    main()
