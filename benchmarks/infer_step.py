"""The recurrent forward without a gradient (evaluation, prediction): the cell's ``infer`` step
against its training step, and PyTorch.

    python benchmarks/infer_step.py [--json PATH] [--quick] [--reps N]

``jaxrnn.nn.bptt`` steps the loop with the cell's ``CellVJP.infer`` when nothing is
differentiated: the same step as ``CellVJP.forward`` with its gate activations materialised
behind ``lax.optimization_barrier``. Fused into the cell update instead, XLA:CPU's kernel
for them ran slower than the whole step should (``benchmarks/README.md``). This script
measures, in one process, compile excluded, medians of ``--reps`` calls taken round robin:

* ``infer``: ``RecurrentLayer(cell, H).apply`` over ``[B, T, D]`` as it runs now;
* ``forward``: the same with the cell's ``infer`` removed (``CellVJP.forward``, no residuals
  kept: what ran before);
* ``torch``: ``torch.nn.LSTM``/``nn.GRU`` forward under ``no_grad`` (its threads as set), if
  installed;

for the LSTM and the GRU at ``vs_peers.py``'s two smaller shapes, the language model's
(B32 T64 D32 H256) and one stream of 512 steps; it checks both jaxrnn sides give the same
outputs (to 1e-5; the LSTM's are bit-equal). ``--quick``: one small shape.
"""

from __future__ import annotations

import os
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)

from _common import QuietCheck, finish, header, parser, table  # noqa: E402

SHAPES = ((32, 15, 32, 128), (64, 50, 128, 128), (32, 64, 32, 256), (1, 512, 32, 256))


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--reps", type=int, default=30)
    args = ap.parse_args()
    check = QuietCheck()
    t0 = time.perf_counter()
    info = header(["torch"])
    import jax
    import jax.numpy as jnp
    import numpy as np

    import jaxrnn
    from jaxrnn.nn import cells

    try:
        import torch
    except ImportError:
        torch = None
    shapes = ((4, 8, 4, 8),) if args.quick else SHAPES
    reps = 2 if args.quick else args.reps
    rows = []
    for cell in ("lstm", "gru"):
        for b, t, d, h in shapes:
            layer = jaxrnn.RecurrentLayer(cell, h)
            params = layer.init(jax.random.key(0), d, jnp.float32)
            x = jnp.asarray(np.random.default_rng(1).standard_normal((b, t, d)), jnp.float32)
            orig = cells.CELLS[cell]
            sides = {}
            try:  # each side traced and compiled with its own step
                for name, vjp in (("infer", orig.vjp), ("forward", orig.vjp._replace(infer=None))):
                    cells.CELLS[cell] = orig._replace(vjp=vjp)
                    f = jax.jit(lambda p, x, layer=layer: layer.apply(p, x)[0])
                    sides[name] = f.lower(params, x).compile()
            finally:
                cells.CELLS[cell] = orig
            diff = float(jnp.max(jnp.abs(sides["infer"](params, x) - sides["forward"](params, x))))
            if diff > 1e-5:
                raise SystemExit(f"{cell} {b}x{t}x{d}x{h}: the two forwards differ by {diff}")
            calls = {n: (lambda f=f, p=params, x=x: jax.block_until_ready(f(p, x)))
                     for n, f in sides.items()}  # fmt: skip
            if torch is not None:
                net = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(d, h, batch_first=True)
                xt = torch.from_numpy(np.array(x))

                def torch_fwd(net=net, xt=xt):
                    with torch.no_grad():
                        return net(xt)[0]

                calls["torch"] = torch_fwd
            times = {n: [] for n in calls}
            for fn in calls.values():
                fn()
            for r in range(reps):
                names = list(calls)
                for n in names[r % len(names) :] + names[: r % len(names)]:
                    s = time.perf_counter()
                    calls[n]()
                    times[n].append(time.perf_counter() - s)
            ms = {n: 1e3 * float(np.median(v)) for n, v in times.items()}
            row = {"cell": cell, "shape": f"B{b} T{t} D{d} H{h}", "infer_ms": ms["infer"],
                   "forward_ms": ms["forward"], "forward_over_infer": ms["forward"] / ms["infer"],
                   "max_abs_diff": diff}  # fmt: skip
            if "torch" in ms:
                row["torch_ms"] = ms["torch"]
                row["torch_over_infer"] = ms["torch"] / ms["infer"]
            rows.append(row)
            print(f"  {cell} {row['shape']}: infer {ms['infer']:.2f} ms, forward "
                  f"{ms['forward']:.2f} ms" + (f", torch {ms['torch']:.2f} ms" if "torch" in ms
                                                else ""), flush=True)  # fmt: skip
    threads = torch.get_num_threads() if torch is not None else None
    table(f"forward without a gradient, ms (median of {reps}; torch at {threads} threads)", rows)
    payload = {"machine": info, "config": {"reps": reps, "quick": args.quick,
                                           "torch_threads": threads}, "rows": rows}  # fmt: skip
    finish(args, payload, t0, check)


if __name__ == "__main__":
    main()
