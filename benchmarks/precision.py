"""Mixed precision (``--dtype bfloat16``) against float32 and PyTorch: the train step's
speed, its share of the chip's float32 peak, and what bfloat16 does to a language model.

    python benchmarks/precision.py [--json PATH] [--quick] [--reps N] [--lm-epochs N]

Issue 26, item 2. One train step (forward, the custom-VJP backward, Adam) of a recurrent
layer with a per-step dense readout and softmax cross-entropy over ``C`` classes, at

* ``32x15x32x128`` and ``64x50x128x128`` (B, T, D, H; C = 16), LSTM and GRU;
* the LM shape (``benchmarks/lm.py``): char LSTM, embedding 32 (D), hidden 256, 32 streams
  of 64 (B, T), C = the vocabulary of ``make_text`` (one-hot targets, embedding inputs
  replaced by dense inputs of width 32: the matmuls are the same).

Sides, timed round robin in one process (``_timing.bench``): ours float32, ours bfloat16
(``sequence._Options(precision="bfloat16")``: bfloat16 operands, float32 accumulation,
float32 params and Adam state), PyTorch float32 at its default thread count and at 1
(the faster is compared: ``torch_f32``), and PyTorch float32 weights under
``torch.autocast("cpu", torch.bfloat16)`` (its best thread count too), when it runs.

Reported per shape and side: ms per step (median), achieved GFLOP/s = matmul FLOPs of the
step / time (``2 B T G H (D + H)`` forward, ``2 B T G H (D + 2H)`` backward, ``6 B T H C``
the readout; G = 4 LSTM, 3 GRU), their share of the float32 peak (``parallel.float32_peak``:
cores x clock x FLOPs per cycle from ``/proc/cpuinfo``'s flags and ``cpu MHz``, printed),
and ours / PyTorch ratios of time.

Then the language model: ``jaxrnn.runs.fit`` of the char LSTM (``--task lm``, the LM shape,
Adam 2e-3, seed 0) on ``make_text(0, 35_000)`` for ``--lm-epochs`` epochs, float32 and
bfloat16, and their final test bits/char (goal: within 0.02).

``--quick``: small shapes, few reps, a tiny LM (the smoke test). The QuietCheck verdict is
recorded at the top of the JSON: figures from a busy machine are not results.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
import time
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
sys.path.insert(0, os.path.dirname(_HERE))  # this checkout's jaxrnn, not an installed one

from _common import QuietCheck, finish, header, parser, table  # noqa: E402
from _timing import bench, with_torch_threads  # noqa: E402

GATES = {"lstm": 4, "gru": 3}
LR = 2e-3


def step_flops(cell: str, B: int, T: int, D: int, H: int, C: int) -> int:
    """Matmul FLOPs of one train step: the cell forward and backward, the readout's three."""
    g, bt = GATES[cell], B * T
    return 2 * bt * g * H * (D + H) + 2 * bt * g * H * (D + 2 * H) + 6 * bt * H * C


def ours_step(cell: str, B: int, T: int, D: int, H: int, C: int, precision: str):
    """A blocking ``() -> loss`` running one jitted train step (params and Adam state float32)."""
    import jax
    import jax.numpy as jnp
    import optax

    from jaxrnn.nn import sequence

    layer = sequence.RecurrentLayer(cell, H, _options=sequence._Options(precision=precision))
    k1, k2, k3, k4 = jax.random.split(jax.random.PRNGKey(0), 4)
    params = {"rnn": layer.init(k1, D), "w": jax.random.normal(k2, (C, H)) * 0.05,
              "b": jnp.zeros((C,))}  # fmt: skip
    x = jax.random.normal(k3, (B, T, D))
    y = jax.random.randint(k4, (B, T), 0, C)
    opt = optax.adam(LR)
    state = [params, opt.init(params)]

    def loss(p):
        ys, _ = layer.apply(p["rnn"], x)
        logits = layer.dense(ys, p["w"], p["b"])
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    @jax.jit
    def step(p, s):
        value, g = jax.value_and_grad(loss)(p)
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s, value

    def run():
        p, s, v = step(*state)
        state[:] = [p, s]
        return jax.block_until_ready(v)

    run()  # compile
    floats = [a for a in jax.tree.leaves(state) if jnp.issubdtype(a.dtype, jnp.floating)]
    assert all(a.dtype == jnp.float32 for a in floats)  # params and Adam moments
    return run


def torch_step(cell: str, B: int, T: int, D: int, H: int, C: int, autocast: bool):
    """The same step in PyTorch (``nn.LSTM``/``nn.GRU``, ``nn.Linear``, Adam), float32
    weights; ``autocast``: forward under ``torch.autocast("cpu", torch.bfloat16)``."""
    import torch

    torch.manual_seed(0)
    rnn = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(D, H, batch_first=True)
    out = torch.nn.Linear(H, C)
    ps = list(rnn.parameters()) + list(out.parameters())
    opt = torch.optim.Adam(ps, lr=LR)
    x, y = torch.randn(B, T, D), torch.randint(0, C, (B * T,))
    xent = torch.nn.CrossEntropyLoss()

    def run():
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            ys, _ = rnn(x)
            logits = out(ys).reshape(B * T, C)
        value = xent(logits.float(), y)
        value.backward()
        opt.step()
        return value.item()

    run()
    return run


def shapes(quick: bool, vocab: int) -> list[tuple[str, str, tuple[int, ...]]]:
    """``(label, cell, (B, T, D, H, C))`` to time."""
    if quick:
        return [("tiny", "lstm", (4, 5, 8, 16, 8))]
    out = []
    for b, t, d, h in ((32, 15, 32, 128), (64, 50, 128, 128)):
        out += [(f"{b}x{t}x{d}x{h}", c, (b, t, d, h, 16)) for c in ("lstm", "gru")]
    return out + [("lm 32x64x32x256", "lstm", (32, 64, 32, 256, vocab))]


def time_shape(cell: str, dims: tuple[int, ...], reps: int, peak: float | None) -> list[dict]:
    """One table row per side (module docstring)."""
    import torch

    B, T, D, H, C = dims
    sides = {"ours_f32": ours_step(cell, *dims, "float32"),
             "ours_bf16": ours_step(cell, *dims, "bfloat16")}  # fmt: skip
    threads = sorted({torch.get_num_threads(), 1}, reverse=True)
    for name, ac in (("torch_f32", False), ("torch_bf16_autocast", True)):
        try:
            fn = torch_step(cell, *dims, ac)
        except Exception as e:  # autocast may not run on this CPU / build
            print(f"  {name}: does not run here ({type(e).__name__}: {e})", flush=True)
            continue
        for n in threads:
            sides[f"{name}@{n}"] = with_torch_threads(fn, n)
    stats = bench(sides, reps=reps, warmup=1)
    ms = {k: s.median_ms for k, s in stats.items()}
    for base in ("torch_f32", "torch_bf16_autocast"):  # its best thread count
        found = {k: v for k, v in ms.items() if k.startswith(base + "@")}
        if found:
            best = min(found, key=found.get)
            ms[base] = found[best]
            ms[base + "_threads"] = int(best.split("@")[1])
    flop = step_flops(cell, *dims)
    rows = []
    for side in ("ours_f32", "ours_bf16", "torch_f32", "torch_bf16_autocast"):
        if side not in ms:
            continue
        gf = flop / (ms[side] / 1e3) / 1e9
        row = {"side": side, "ms": ms[side], "gflops": gf,
               "peak_share": gf / peak if peak else None,
               "torch_f32_over_this": ms.get("torch_f32", float("nan")) / ms[side]}  # fmt: skip
        if side + "_threads" in ms:
            row["threads"] = ms[side + "_threads"]
        rows.append(row)
    return rows


def lm_quality(quick: bool, epochs: int) -> dict[str, Any]:
    """Final test bits/char of the char LSTM, float32 and bfloat16, same seed and steps."""
    from jaxrnn.data.text import make_text
    from jaxrnn.runs import TrainConfig, fit

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "text.txt")
        with open(path, "w") as f:
            f.write(make_text(0, 3_000 if quick else 35_000))
        cfg = TrainConfig(task="lm", data=path, model="lstm", hidden=32 if quick else 256,
                          embed_dim=32, seq_len=64, batch_size=32, epochs=epochs,
                          optimizer="adam", lr=LR, clip_norm=5.0, seed=0)  # fmt: skip
        out: dict[str, Any] = {"epochs": epochs, "hidden": cfg.hidden}
        for dtype in ("float32", "bfloat16"):
            t = time.perf_counter()
            res = fit(dataclasses.replace(cfg, dtype=dtype))
            last = res.histories[0][-1]
            bpc = {k: v for k, v in last.items() if "bpc" in k}
            out[dtype] = {**bpc, "train_loss": last.get("train_loss"),
                          "wall_s": time.perf_counter() - t}  # fmt: skip
        keys = [k for k in out["float32"] if "bpc" in k and "test" in k] or \
            [k for k in out["float32"] if "bpc" in k]
        if keys:
            out["bpc_key"] = keys[0]
            out["bpc_gap"] = out["bfloat16"][keys[0]] - out["float32"][keys[0]]
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = parser(__doc__)
    ap.add_argument("--reps", type=int, default=None, help="timed steps per side [30]")
    ap.add_argument("--lm-epochs", type=int, default=None,
                    help="LM epochs per dtype [40: 600 steps, as lm.py]")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    check = QuietCheck()
    info = header(extra_modules=("torch",))
    from parallel import float32_peak

    from jaxrnn.data.text import make_text

    peak = float32_peak(os.cpu_count() or 1)
    print("float32 peak:", peak["description"], f"({peak['note']})" if peak["note"] else "")
    vocab = len(set(make_text(0, 35_000))) + 1
    reps = args.reps or (2 if args.quick else 30)
    rows = []
    for label, cell, dims in shapes(args.quick, vocab):
        print(f"... {cell} {label} (B, T, D, H, C = {dims})", flush=True)
        for r in time_shape(cell, dims, reps, peak["gflops"]):
            rows.append({"shape": label, "cell": cell, **r})
    table("train step: ms, GFLOP/s, share of the float32 peak, PyTorch f32 time / this", rows)
    lm = lm_quality(args.quick, args.lm_epochs or (1 if args.quick else 40))
    print(f"\nLM ({lm['epochs']} epochs, hidden {lm['hidden']}): float32 {lm['float32']}, "
          f"bfloat16 {lm['bfloat16']}, gap {lm.get('bpc_gap')}")
    payload = {"machine": info, "peak": peak, "steps": rows, "lm": lm,
               "flop_formula": "2BTGH(D+H) + 2BTGH(D+2H) + 6BTHC, G = 4 LSTM, 3 GRU"}
    return finish(args, payload, t0, check)


if __name__ == "__main__":
    main()
