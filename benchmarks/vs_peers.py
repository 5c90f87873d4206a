"""Train-step speed of jaxrnn against PyTorch ``nn.LSTM/GRU/RNN`` and Flax ``nn.RNN``, CPU.

    python benchmarks/vs_peers.py [--json PATH] [--quick] [--reps N] [--cells lstm,gru]
    python benchmarks/vs_peers.py --variants [--shapes 0,1] [--cells lstm]   # our options

One train step = forward over the whole sequence, a scalar loss (the sum of the
output sequence), and the backward pass: gradients w.r.t. all parameters *and*
the inputs. float32, no masking (``lengths=None``), zero initial state, for:

* one layer, (B, T, D, H) in ``SHAPES``, cells lstm / gru / rnn (tanh);
* a 3-layer bidirectional LSTM (``BILSTM``).

Implementations, timed in one process, in alternation (round-robin, rotating
order), after warm-up; medians of ``--reps`` (>= 10) samples:

* ``ours``: ``jaxrnn.RecurrentLayer`` with the default ``impl`` (the custom-VJP
  BPTT), ``jax.jit(jax.grad(...))``;
* ``autodiff``: the same layer with ``impl="autodiff"`` (``jax.grad`` of the scan);
* ``ours_dp``: ``ours`` data-parallel over the process's CPU devices (``jax.shard_map``:
  each device runs the step on its slice of the batch, the weight gradients are summed
  across devices). XLA:CPU runs one device's loops on one thread, whatever the
  thread pool; torch splits each step's matmuls over its threads. To give JAX the same
  cores, this script starts with ``--cpu-devices`` CPU devices (default: the usable
  cores; an ``XLA_FLAGS`` that sets ``--xla_force_host_platform_device_count`` wins).
  ``ours``, ``autodiff`` and ``flax`` use one device, as before;
* ``torch``: ``torch.nn.LSTM/GRU/RNN(batch_first=True)``, ``zero_grad``-free (grads
  set to None), ``loss.backward()``; ``torch.get_num_threads()`` left at its default;
* ``torch1t``: the same with ``torch.set_num_threads(1)`` around each step (for
  reference: on a busy 2-core machine torch's OpenMP threads wait on each other);
* ``flax``: ``flax.linen.RNN(OptimizedLSTMCell | GRUCell | SimpleCell)`` (stacked
  ``nn.Bidirectional`` for the BiLSTM), ``jax.jit(jax.grad(...))``.

Compile time (``jit(...).lower(...).compile()``) is reported apart, not in the
step time. Achieved GFLOP/s counts only matmul FLOPs (see ``matmul_flops``).
The machines here are small and shared: the ratios ``peer / ours`` from one run
are what to read, not absolute times.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _cpu_devices_flag(argv: list[str]) -> int:
    """``--cpu-devices N`` (default: usable cores), read before JAX starts."""
    for i, a in enumerate(argv):
        if a.startswith("--cpu-devices="):
            return int(a.split("=", 1)[1])
        if a == "--cpu-devices" and i + 1 < len(argv):
            return int(argv[i + 1])
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    from _common import force_host_devices

    force_host_devices(_cpu_devices_flag(sys.argv[1:]))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from _common import QuietCheck  # noqa: E402
from _timing import (  # noqa: E402
    bench,
    cpu_brief,
    machine_info,
    print_table,
    timed,
    with_torch_threads,
    write_json,
)

import jaxrnn  # noqa: E402
from jaxrnn.weights.layout import num_gates  # noqa: E402

SHAPES = [(32, 15, 32, 128), (64, 50, 128, 128), (256, 100, 256, 512)]  # (B, T, D, H)
BILSTM = {"B": 32, "T": 15, "D": 32, "H": 128, "layers": 3}
CELLS = ("lstm", "gru", "rnn")
# --quick (a smoke run: every side's code once, numbers mean nothing): one tiny shape, the
# LSTM alone unless --cells says otherwise (the cells go through the same functions)
QUICK_SHAPE = (8, 5, 8, 16)
QUICK_CELLS = ("lstm",)


def matmul_flops(cell: str, B: int, T: int, D: int, H: int, layers: int = 1, dirs: int = 1) -> int:
    """Matmul FLOPs of one train step (forward + backward), all layers and directions.

    Per layer and direction, with ``G`` gate blocks (lstm 4, gru 3, rnn 1) and
    ``D_l`` its input width (``D`` for layer 0, ``dirs * H`` above)::

        forward   2 * T * B * (D_l + H) * G * H      x @ W_ih.T and h @ W_hh.T
        backward  2 * forward                        d(inputs) and d(weights) of both

    so ``6 * T * B * (D_l + H) * G * H`` in all. Elementwise work, biases and the
    loss are not counted.
    """
    g = num_gates(cell)
    total = 0
    for layer in range(layers):
        d_in = D if layer == 0 else dirs * H
        total += dirs * 6 * T * B * (d_in + H) * g * H
    return total


# ----------------------------------------------------------------------------- implementations


def _jax_step(
    loss: Callable, params: Any, x: jax.Array, wrap: Callable | None = None
) -> tuple[Callable[[], Any], float]:
    """Compile ``grad(loss)`` w.r.t. (params, x), optionally ``wrap``-ped (``shard_map``);
    return (a blocking step, compile seconds)."""
    grad = jax.grad(loss, argnums=(0, 1))
    step = jax.jit(grad if wrap is None else wrap(grad))
    compiled, compile_s = timed(lambda: step.lower(params, x).compile())
    jax.block_until_ready(compiled(params, x))
    return (lambda: jax.block_until_ready(compiled(params, x))), compile_s


def _ours_problem(cell: str, B: int, T: int, D: int, H: int, layers: int, bidir: bool, **kw):
    """``(loss, params, x)``: a ``jaxrnn.RecurrentLayer`` and the summed-output loss."""
    layer = jaxrnn.RecurrentLayer(cell, H, layers, bidir, **kw)
    params = layer.init(jax.random.key(0), D, jnp.float32)
    x = jax.random.normal(jax.random.key(1), (B, T, D), jnp.float32)

    def loss(params, x):
        return jnp.sum(layer.apply(params, x)[0])

    return loss, params, x


def ours(cell: str, B: int, T: int, D: int, H: int, layers: int, bidir: bool, impl: str | None):
    kw = {} if impl is None else {"impl": impl}
    return _jax_step(*_ours_problem(cell, B, T, D, H, layers, bidir, **kw))


def ours_data_parallel(cell: str, B: int, T: int, D: int, H: int, layers: int, bidir: bool):
    """``ours`` with the batch split over the CPU devices by ``jax.shard_map`` (as many
    devices as divide ``B``). Returns ``(step, compile_s, devices)``."""
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    n = max(d for d in range(1, len(jax.devices()) + 1) if B % d == 0)
    mesh = Mesh(np.array(jax.devices()[:n]), ("data",))
    loss, params, x = _ours_problem(cell, B, T, D, H, layers, bidir)  # loss: this shard's part
    params = jax.device_put(params, NamedSharding(mesh, P()))
    x = jax.device_put(x, NamedSharding(mesh, P("data")))

    # Inside shard_map, the gradient of the replicated params comes back summed over the
    # devices (jaxrnn's loops and custom VJP keep shard_map's varying-axis types).
    def wrap(grad):
        return jax.shard_map(grad, mesh=mesh, in_specs=(P(), P("data")), out_specs=(P(), P("data")))

    return *_jax_step(loss, params, x, wrap), n


def flax_rnn(cell: str, B: int, T: int, D: int, H: int, layers: int, bidir: bool):
    import flax.linen as nn

    cell_cls = {"lstm": nn.OptimizedLSTMCell, "gru": nn.GRUCell, "rnn": nn.SimpleCell}[cell]

    class Stack(nn.Module):
        @nn.compact
        def __call__(self, x):
            for _ in range(layers):
                if bidir:
                    x = nn.Bidirectional(nn.RNN(cell_cls(H)), nn.RNN(cell_cls(H)))(x)
                else:
                    x = nn.RNN(cell_cls(H))(x)
            return x

    model = Stack()
    x = jax.random.normal(jax.random.key(1), (B, T, D), jnp.float32)
    params = model.init(jax.random.key(0), x)

    def loss(params, x):
        return jnp.sum(model.apply(params, x))

    return _jax_step(loss, params, x)


def torch_rnn(
    cell: str, B: int, T: int, D: int, H: int, layers: int, bidir: bool, threads: int | None = None
):
    import torch

    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell]
    torch.manual_seed(0)
    module = cls(D, H, num_layers=layers, bidirectional=bidir, batch_first=True)
    x = torch.randn(B, T, D, requires_grad=True)
    params = list(module.parameters())

    def step():
        for p in params:
            p.grad = None
        x.grad = None
        out, _ = module(x)
        out.sum().backward()
        return x.grad

    if threads is not None:  # run with this many threads, then restore the default
        step = with_torch_threads(step, threads)

    _, first_s = timed(step)
    return step, first_s


# ----------------------------------------------------------------------------- our variants

VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "fused=False": {"fused": False},
    "hoist=False": {"hoist": False},
    "unroll=2": {"unroll": 2},
    "batch_groups=1": {"batch_groups": 1},
    "batch_groups=2": {"batch_groups": 2},
    "transpose_dz=False": {"transpose_dz": False},
    "transpose_dz=True": {"transpose_dz": True},
    # default: on from H = 256 at <= 32 rows per loop (bptt.FEATURE_MAJOR_*)
    "feature_major=False": {"feature_major": False},
    "feature_major=True": {"feature_major": True},
}


def run_variants(
    cell: str, B: int, T: int, D: int, H: int, reps: int, warmup: int
) -> dict[str, Any]:
    """One layer, our options (``jaxrnn.nn.bptt.layer``) and ``impl="autodiff"``, timed
    alternating; ratios are variant / default (< 1: the variant is faster)."""
    from jaxrnn.nn import bptt

    layer = jaxrnn.RecurrentLayer(cell, H)
    params = layer.init(jax.random.key(0), D, jnp.float32)
    x = jax.random.normal(jax.random.key(1), (B, T, D), jnp.float32)
    carry = layer.zero_state(B, jnp.float32)
    carry = jax.tree.map(lambda a: a[0], carry)
    steps: dict[str, tuple[Callable[[], Any], float]] = {}
    for name, kw in VARIANTS.items():

        def loss(p, x, kw=kw):
            return jnp.sum(bptt.layer(cell, p[0][0], x, None, carry, **kw)[0])

        steps[name] = _jax_step(loss, params, x)
    steps["autodiff"] = ours(cell, B, T, D, H, 1, False, "autodiff")
    return _variant_rows(f"{cell} B{B} T{T} D{D} H{H}", steps, reps, warmup)


def run_bidir_variants(reps: int, warmup: int) -> dict[str, Any]:
    """The BiLSTM stack: two loops per layer (default) vs both directions stacked in one."""
    b = BILSTM
    x = jax.random.normal(jax.random.key(1), (b["B"], b["T"], b["D"]), jnp.float32)
    steps = {}
    for name, kw in [
        ("separate", {}),
        ("stack_directions", {"_options": jaxrnn.nn.sequence._Options(stack_directions=True)}),
        ("autodiff", {"impl": "autodiff"}),
    ]:
        layer = jaxrnn.RecurrentLayer("lstm", b["H"], b["layers"], True, **kw)
        params = layer.init(jax.random.key(0), b["D"], jnp.float32)

        def loss(p, x, layer=layer):
            return jnp.sum(layer.apply(p, x)[0])

        steps[name] = _jax_step(loss, params, x)
    name = f"bilstm x{b['layers']} B{b['B']} T{b['T']} D{b['D']} H{b['H']}"
    return _variant_rows(name, steps, reps, warmup)


def _variant_rows(case: str, steps: dict, reps: int, warmup: int) -> dict[str, Any]:
    stats = bench({k: v[0] for k, v in steps.items()}, reps=reps, warmup=warmup)
    base = next(iter(stats.values()))
    return {
        "case": case,
        "variants": {
            k: {
                **s.to_json(),
                "compile_s": steps[k][1],
                "ratio_vs_default": s.median_ms / base.median_ms,
                "ratio_vs_default_min": s.min_ms / base.min_ms,
            }
            for k, s in stats.items()
        },
    }


# ----------------------------------------------------------------------------- driver


def run_case(
    name: str,
    cell: str,
    B: int,
    T: int,
    D: int,
    H: int,
    layers: int,
    bidir: bool,
    reps: int,
    warmup: int,
    with_autodiff: bool,
) -> dict[str, Any]:
    impls: dict[str, tuple[Callable[[], Any], float]] = {}
    impls["ours"] = ours(cell, B, T, D, H, layers, bidir, None)
    dp_devices = 1
    if len(jax.devices()) > 1:
        *impls["ours_dp"], dp_devices = ours_data_parallel(cell, B, T, D, H, layers, bidir)
    if with_autodiff:
        impls["autodiff"] = ours(cell, B, T, D, H, layers, bidir, "autodiff")
    impls["torch"] = torch_rnn(cell, B, T, D, H, layers, bidir)
    impls["torch1t"] = torch_rnn(cell, B, T, D, H, layers, bidir, threads=1)
    impls["flax"] = flax_rnn(cell, B, T, D, H, layers, bidir)
    stats = bench({k: v[0] for k, v in impls.items()}, reps=reps, warmup=warmup)
    flops = matmul_flops(cell, B, T, D, H, layers, 2 if bidir else 1)
    row: dict[str, Any] = {
        "case": name,
        "cell": cell,
        "B": B,
        "T": T,
        "D": D,
        "H": H,
        "layers": layers,
        "bidirectional": bidir,
        "matmul_gflop": flops / 1e9,
        "ours_dp_devices": dp_devices,
        "impls": {},
    }
    base = stats["ours"].median_ms
    for k, s in stats.items():
        row["impls"][k] = {
            **s.to_json(),
            "gflops_per_s": flops / 1e6 / s.median_ms,
            "first_call_s" if k.startswith("torch") else "compile_s": impls[k][1],
            "ratio_vs_ours": s.median_ms / base,
            "ratio_vs_ours_min": s.min_ms / stats["ours"].min_ms,
        }
        if "ours_dp" in stats:
            row["impls"][k]["ratio_vs_ours_dp"] = s.median_ms / stats["ours_dp"].median_ms
            row["impls"][k]["ratio_vs_ours_dp_min"] = s.min_ms / stats["ours_dp"].min_ms
    return row


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    out = {"case": row["case"], "cell": row["cell"]}
    im = row["impls"]
    for k in ("ours", "ours_dp", "autodiff", "torch", "torch1t", "flax"):
        if k in im:
            out[f"{k} ms"] = im[k]["median_ms"]
    out["ours GF/s"] = im["ours"]["gflops_per_s"]
    if "ours_dp" in im:
        out["ours_dp GF/s"] = im["ours_dp"]["gflops_per_s"]
        out["torch/ours_dp"] = im["torch"]["ratio_vs_ours_dp"]
        out["torch/ours_dp(min)"] = im["torch"]["ratio_vs_ours_dp_min"]
    for k in ("torch", "torch1t", "flax", "autodiff"):
        if k in im:
            out[f"{k}/ours"] = im[k]["ratio_vs_ours"]
            out[f"{k}/ours(min)"] = im[k]["ratio_vs_ours_min"]
    out["compile ours s"] = im["ours"]["compile_s"]
    out["compile flax s"] = im["flax"]["compile_s"]
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--json", metavar="PATH", help="write every number and the machine info here")
    ap.add_argument("--quick", action="store_true",
                    help="one tiny shape (B,T,D,H = 8,5,8,16), the LSTM only unless --cells,\n"
                    "few reps (smoke)")
    ap.add_argument("--reps", type=int, default=None, help="timed samples per impl (default 15)")
    ap.add_argument("--cells", default=None,
                    help="comma-separated, of lstm,gru,rnn (default all; --quick: lstm)")
    ap.add_argument("--shapes", default=None, help="indices into SHAPES, e.g. 0,1 (default all)")
    ap.add_argument("--shape", default=None, metavar="B,T,D,H",
                    help="one shape of your own instead of SHAPES (e.g. 16,64,32,256: a\n"
                    "language model's streams on one of 2 devices)")
    ap.add_argument("--no-bilstm", action="store_true", help="skip the 3-layer BiLSTM case")
    ap.add_argument("--no-autodiff", action="store_true", help="skip impl='autodiff'")
    ap.add_argument(
        "--cpu-devices",
        type=int,
        default=None,
        help="CPU devices for ours_dp (default: usable cores; read before JAX starts)",
    )
    ap.add_argument(
        "--variants",
        action="store_true",
        help="instead of the peers: our options (fused, hoist, unroll, batch_groups,\n"
        "transpose_dz, feature_major, "
        "autodiff) per shape and cell, and the BiLSTM direction layouts",
    )
    args = ap.parse_args(argv)
    check = QuietCheck()

    import torch

    reps = args.reps or (3 if args.quick else 15)
    warmup = 1 if args.quick else 2
    shapes = [QUICK_SHAPE] if args.quick else SHAPES
    if args.shapes is not None:
        shapes = [SHAPES[int(i)] for i in args.shapes.split(",")]
    if args.shape is not None:
        try:
            shape = tuple(int(v) for v in args.shape.split(","))
        except ValueError:
            shape = ()
        if len(shape) != 4 or min(shape) < 1:
            ap.error(f"--shape takes four positive integers B,T,D,H, got {args.shape!r}")
        shapes = [shape]
    if args.cells is None:
        args.cells = ",".join(QUICK_CELLS if args.quick else CELLS)
    cells = [c for c in args.cells.split(",") if c]
    info = machine_info(extra_modules=("torch", "flax", "optax"))
    info["torch_num_threads"] = torch.get_num_threads()
    info["torch_num_interop_threads"] = torch.get_num_interop_threads()
    print(
        f"{info['cpu_model']} ({cpu_brief(info['cpu'])}), {info['cpu_count']} cores; "
        f"torch {info['versions']['torch']} "
        f"({info['torch_num_threads']} threads), jax {info['versions']['jax']}, "
        f"flax {info['versions']['flax']}; {len(jax.devices())} JAX CPU devices; reps={reps}",
        flush=True,
    )

    rows = []
    t0 = time.perf_counter()
    if args.variants:
        for B, T, D, H in shapes:
            for cell in cells:
                print(f"... variants {cell} B{B} T{T} D{D} H{H}", flush=True)
                rows.append(run_variants(cell, B, T, D, H, reps, warmup))
        if not args.quick and not args.no_bilstm:
            print("... variants bilstm", flush=True)
            rows.append(run_bidir_variants(reps, warmup))
        flat = []
        for r in rows:
            for k, v in r["variants"].items():
                flat.append(
                    {
                        "case": r["case"],
                        "variant": k,
                        "ms": v["median_ms"],
                        "min ms": v["min_ms"],
                        "/default": v["ratio_vs_default"],
                        "/default(min)": v["ratio_vs_default_min"],
                        "compile s": v["compile_s"],
                    }
                )
        print("\nms per train step (median); ratio variant/default < 1: variant faster")
        print_table(flat, list(flat[0]))
        wall = time.perf_counter() - t0
        payload = {"machine": info, "reps": reps, "warmup": warmup, "variants": rows,
                   "script_wall_s": wall, "wall_s": wall}
        payload = check.stamp(payload)
        if args.json:
            write_json(args.json, payload)
            print(f"wrote {args.json}")
        return payload
    for B, T, D, H in shapes:
        for cell in cells:
            name = f"{cell} B{B} T{T} D{D} H{H}"
            print(f"... {name}", flush=True)
            rows.append(
                run_case(name, cell, B, T, D, H, 1, False, reps, warmup, not args.no_autodiff)
            )
    if not args.quick and not args.no_bilstm:
        b = BILSTM
        name = f"bilstm x{b['layers']} B{b['B']} T{b['T']} D{b['D']} H{b['H']}"
        print(f"... {name}", flush=True)
        rows.append(
            run_case(
                name, "lstm", b["B"], b["T"], b["D"], b["H"], b["layers"], True, reps, warmup,
                not args.no_autodiff,
            )
        )  # fmt: skip
    flat = [_flat(r) for r in rows]
    columns = [c for c in flat[0] if any(c in f for f in flat)]
    print()
    print("ms per train step (median); ratios peer/ours > 1 mean ours is faster")
    print_table(flat, columns)
    payload = {
        "machine": info,
        "reps": reps,
        "warmup": warmup,
        "wall_s": time.perf_counter() - t0,
        "script_wall_s": time.perf_counter() - t0,
        "flops_formula": matmul_flops.__doc__,
        "results": rows,
    }
    payload = check.stamp(payload)
    if args.json:
        write_json(args.json, payload)
        print(f"wrote {args.json}")
    return payload


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
