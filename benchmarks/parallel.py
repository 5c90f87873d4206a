"""Parallel-in-time cells (minGRU, minLSTM, LRU) against the LSTM and PyTorch: training tokens/s.

    python benchmarks/parallel.py [--json PATH] [--quick] [--lengths 64,256,1024,4096]
        [--batch 8] [--width 256] [--input-width 256] [--reps 10] [--max-seconds 20]
        [--sides ours_lstm,ours_mingru_parallel,...]

One training step = forward over ``x [B, T, D]``, a per-step linear readout of every
output to ``C = 16`` classes, the softmax cross-entropy averaged over all ``B * T`` steps
(random labels: a fixed amount of work, not a learning task), the backward pass and an
Adam step (lr 1e-3) on every parameter (cell and readout). float32, no padding, zero
initial state, one layer. The sides, each with its own parameters and optimizer state
(updated from call to call, as in training):

* ``ours_lstm``: ``jaxrnn.nn.sequence.RecurrentLayer("lstm", H)`` (the library default,
  its custom-VJP BPTT), sequential over T;
* ``ours_<cell>_parallel``: ``jaxrnn.nn.parallel_cells.CELLS[cell].apply`` (minGRU and
  minLSTM in log space on ``lax.associative_scan``; the LRU complex, on the same scan;
  ``method="associative"``, the accelerators' default);
* ``ours_<cell>_scan``: the same ``apply`` with ``method="scan"`` (the CPU default: minGRU
  and minLSTM in real space, one time-major ``lax.scan`` each way with a custom VJP; see
  ``jaxrnn.nn.linear_scan``);
* ``ours_<cell>_sequential``: ``parallel_cells.scan_steps`` (``lax.scan`` of the step);
* ``torch_lstm``: ``torch.nn.LSTM(batch_first=True)`` from our LSTM's weights;
* ``torch_<cell>_logcumsumexp`` (minGRU, minLSTM): the paper's log-space form in plain
  PyTorch ops, one fused ``nn.Linear`` for the gates, then the official minRNN code's
  ``parallel_scan_log`` (``a* = cumsum(log a)``, ``log h = a* + logcumsumexp(log b - a*)``;
  ``h_0 = 0`` drops its first slot);
* ``torch_<cell>_loop``: the same gates, then a Python loop ``h = a_t * h + b_t``
  (the paper's sequential mode, projection hoisted out of the loop);
* ``torch_lru_scan``: the LRU in plain PyTorch complex ops (``lambda``, ``gamma B u`` as
  ours), all states by a doubling (Hillis-Steele) scan of ``(a, b)`` pairs, ``log2 T``
  rounds of ``b[t] += a[t] b[t - d]``, ``a[t] *= a[t - d]`` (PyTorch has no associative
  scan; ``O(T log T)`` work where ours is ``O(T)``); ``torch_lru_loop``: a Python loop.

All sides of one cell start from the same weights (ours, copied into the torch modules):
the script checks that they compute the same loss on their first step (rtol 1e-3; it
stops if they do not) before anything is timed.

What is timed, per T, in one process: every side compiled (JAX: ``jit(...).lower(...)
.compile()``, reported apart as ``compile_s``), one warm-up step, then ``--reps`` steps
each, round-robin with rotating order; the median step. A side whose warm-up step
(the faster of two, when the first is over the limit) predicts more than
``--max-seconds`` for its reps at this T, or whose previous T's median
does (scaled by the length ratio), is skipped at this T and every longer one (noted in the
table and JSON). PyTorch runs with ``torch.set_num_threads(usable cores)`` (recorded;
``--torch-threads`` sets another count: on a busy machine its threads wait on each other).

Reported per side and T: median step time, tokens/s (``B * T`` / step), GFLOP/s of the
matmuls (formulas below, per cell) and its share of the float32 peak, ratios of its
tokens/s to ``ours_lstm``'s and ``torch_lstm``'s (> 1: faster than that LSTM), and, for
the parallel forms, the memory-traffic floor and the step's multiple of it.

JSON (``--json``), after ``QuietCheck``'s keys and ``machine``: ``config``, ``sides``,
``torch_threads``, ``peak`` (``gflops``, ``description``, ``clock_mhz``, ``clock_source``,
``isa``, ``flops_per_cycle``, ``note``), ``bandwidth`` (``gb_per_s``, ``description``),
``flop_formulas`` (per cell), ``memory_floor_formula``, ``results[side][str(T)]``
(``step_s``, ``tokens_per_s``, ``matmul_gflop``, ``gflops_per_s``, ``peak_share``,
``compile_s``, ``first_loss``, ``step_ms`` (samples), ``floor_bytes``/``floor_s``/
``over_floor`` for the parallel forms, ``tokens_over_ours_lstm``/``tokens_over_torch_lstm``;
or ``skipped`` with the reason), ``first_loss[str(T)][side]``,
``same_first_loss[str(T)][cell]`` and ``notes``.

Matmul FLOPs of one training step (forward + backward), ``B`` streams, ``T`` steps,
input width ``D``, width ``H`` (the LRU's state ``N = H``), readout to ``C`` classes from
the output width ``O`` (``H``; the LRU's output is ``D`` wide). A matmul of ``[m, k]`` by
``[k, n]`` is ``2 m k n``; the backward pass needs every weight's gradient (as many FLOPs
as the forward product) and the gradient of every input that depends on weights (as many
again), not that of the data ``x``::

    readout   6 B T O C                      forward, d(W_o), d(outputs)
    lstm      2 B T 4H (D + H)               forward: x W_ih^T, h W_hh^T
            + 2 B T 4H (D + 2H)              backward: d(W_ih), d(W_hh), d(h) = dz W_hh
    mingru    4 B T D 2H                     2 gate blocks (z, h): forward + d(W)
    minlstm   4 B T D 3H                     3 gate blocks (f, i, h)
    lru       4 B T D 2N                     B_re, B_im: forward + d(B)
            + 6 B T N 2D                     C_re, C_im: forward + d(C) + d(state)

Elementwise work (gates, the scans), biases and Adam are not counted: for the parallel
cells they are most of the time, so their GFLOP/s is low by design; the memory floor is
the bound that matters there.

Peak float32 FLOP/s = usable cores x clock x FLOPs per cycle per core: 64 with AVX-512
(``avx512f`` in ``/proc/cpuinfo`` flags: two 16-lane FMA units, 2 FLOPs each), 32 with
AVX2 + FMA, 16 otherwise; the clock is ``cpu MHz`` from ``/proc/cpuinfo`` (the first
core's), else the ``CPU max MHz`` of ``lscpu``; where neither is readable the peak is
``null`` and the JSON says so. (AMD Zen 4, CPU family 25 with AVX-512, runs 512-bit
instructions as two 256-bit halves: there the rule's peak is twice what the chip can do;
``peak.note`` says so when it applies.)

Memory-traffic floor of a parallel cell: every ``[B, T, H]`` float32 tensor its forward
pass makes (the gate pre-activations, ``k`` of them: minGRU 2, minLSTM 3, LRU 2 real =
``B u`` complex; the scan's two coefficient tensors; the states; the LRU's complex ones
count twice) is written once and read once forward, and in the backward pass read once
more, its gradient written once and read once: ``5 x 4 bytes x B T H x n`` with ``n`` =
minGRU 2 + 2 + 1 = 5, minLSTM 3 + 2 + 1 = 6, LRU 2 + 4 + 2 (+ 1 for its ``[B, T, D]``
output) = 9, over the bandwidth of a large ``numpy`` copy measured at the start (read +
write bytes / time, one thread). An estimate of the least traffic of an unfused program,
not a prediction: the associative scan reads and writes its tensors about twice (a tree of
halving levels), while XLA may fuse some of them away.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
sys.path.insert(0, os.path.dirname(_HERE))  # this checkout's jaxrnn, not an installed one

from _common import QuietCheck, finish, header, parser, table  # noqa: E402
from _timing import read_cpuinfo  # noqa: E402

CLASSES = 16
LR = 1e-3
PAR_CELLS = ("mingru", "minlstm", "lru")
TORCH_CELLS = ("mingru", "minlstm", "lru")
# the torch sides' parallel form per cell (the other is "loop")
TORCH_PARALLEL = {"mingru": "logcumsumexp", "minlstm": "logcumsumexp", "lru": "scan"}
GATES = {"mingru": 2, "minlstm": 3}  # gate blocks of the fused projection
FULL_LENGTHS = (64, 256, 1024, 4096)
QUICK_LENGTHS = (8,)  # one short length: each T compiles every JAX side again
# [B, T, H]-sized float32 tensors per parallel cell (see the docstring's memory floor)
FLOOR_TENSORS = {"mingru": 5, "minlstm": 6, "lru": 9}


def all_sides() -> list[str]:
    """Every side's name, in table order."""
    sides = ["ours_lstm", "torch_lstm"]
    for c in PAR_CELLS:
        sides += [f"ours_{c}_parallel", f"ours_{c}_scan", f"ours_{c}_sequential"]
    for c in TORCH_CELLS:
        sides += [f"torch_{c}_{TORCH_PARALLEL[c]}", f"torch_{c}_loop"]
    return sides


def side_cell(side: str) -> str:
    """The cell a side runs: ``lstm``, ``mingru``, ``minlstm`` or ``lru``."""
    return side.split("_")[1]


# ----------------------------------------------------------------------------- FLOPs, peak


def matmul_flops(cell: str, B: int, T: int, D: int, H: int, C: int = CLASSES) -> int:
    """Matmul FLOPs of one training step, forward + backward (formulas in the module
    docstring): the cell's and the readout's."""
    bt = B * T
    if cell == "lstm":
        return 2 * bt * 4 * H * (D + H) + 2 * bt * 4 * H * (D + 2 * H) + 6 * bt * H * C
    if cell in GATES:
        return 4 * bt * D * GATES[cell] * H + 6 * bt * H * C
    if cell == "lru":
        return 4 * bt * D * 2 * H + 6 * bt * H * 2 * D + 6 * bt * D * C
    raise ValueError(f"unknown cell {cell!r}")


FLOP_FORMULAS = {
    "readout": "6 B T O C (O = H; the LRU's O = D)",
    "lstm": "2 B T 4H (D + H) + 2 B T 4H (D + 2H) + readout",
    "mingru": "4 B T D 2H + readout",
    "minlstm": "4 B T D 3H + readout",
    "lru": "4 B T D 2N + 6 B T N 2D + readout (N = H)",
}


def floor_bytes(cell: str, B: int, T: int, D: int, H: int) -> int:
    """Bytes a parallel cell's forward + backward must move at least (module docstring;
    the LRU's output tensor is ``[B, T, D]``)."""
    if cell == "lru":
        return 5 * 4 * B * T * ((FLOOR_TENSORS[cell] - 1) * H + D)
    return 5 * 4 * B * T * H * FLOOR_TENSORS[cell]


MEMORY_FORMULA = ("5 x 4 bytes x B T H x n: each [B, T, H] float32 tensor written and read "
                  "forward, read again, its gradient written and read backward; n = "
                  + ", ".join(f"{c} {n}" for c, n in FLOOR_TENSORS.items())
                  + " (one of the LRU's is its [B, T, D] output)")  # fmt: skip


def _cpuinfo() -> tuple[set[str], float | None, str]:
    """``(flags, cpu MHz, "vendor_id family")`` of the first core in ``/proc/cpuinfo``."""
    info = read_cpuinfo()
    return info["flags"], info["mhz"], f"{info['vendor'] or ''} {info['family'] or ''}".strip()


def _lscpu_max_mhz() -> float | None:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"CPU max MHz:\s*([\d.]+)", out)
    return float(m.group(1)) if m else None


def float32_peak(cores: int) -> dict[str, Any]:
    """The chip's float32 peak as ``cores x clock x FLOPs/cycle`` (module docstring)."""
    flags, mhz, vendor = _cpuinfo()
    source = "cpu MHz in /proc/cpuinfo"
    if not mhz:
        mhz, source = _lscpu_max_mhz(), "CPU max MHz from lscpu (cpu MHz not readable)"
    if "avx512f" in flags:
        isa, per_cycle = "avx512f", 64
    elif "avx2" in flags and "fma" in flags:
        isa, per_cycle = "avx2+fma", 32
    else:
        isa, per_cycle = "sse/avx without fma", 16
    gflops = cores * mhz * per_cycle / 1e3 if mhz else None
    desc = (f"{cores} usable cores x {mhz} MHz ({source}) x {per_cycle} float32 FLOP/cycle "
            f"({isa}: 64 for AVX-512 with 2 FMA units, 32 for AVX2) = "
            f"{gflops:.1f} GFLOP/s" if gflops else
            f"clock not readable (neither cpu MHz in /proc/cpuinfo nor lscpu's max MHz): "
            f"no peak; {cores} cores x {per_cycle} FLOP/cycle ({isa})")  # fmt: skip
    note = None
    if vendor == "AuthenticAMD 25" and isa == "avx512f":
        note = ("AMD Zen 4 executes 512-bit instructions as two 256-bit halves: its real "
                "float32 peak is likely half of this")  # fmt: skip
    return {"gflops": gflops, "cores": cores, "clock_mhz": mhz, "clock_source": source if mhz
            else None, "isa": isa, "flops_per_cycle": per_cycle, "description": desc,
            "note": note}  # fmt: skip


def copy_bandwidth(mbytes: int, reps: int) -> dict[str, Any]:
    """GB/s of ``np.copyto`` of a ``mbytes`` MB float32 array (read + write bytes / time,
    median of ``reps``; one thread)."""
    import numpy as np

    n = mbytes * 2**20 // 4
    src = np.ones(n, np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # touch the pages first
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        np.copyto(dst, src)
        ts.append(time.perf_counter() - t)
    gbs = 2 * src.nbytes / statistics.median(ts) / 1e9
    return {"gb_per_s": gbs, "array_mb": mbytes, "reps": reps,
            "description": f"np.copyto of a {mbytes} MB float32 array, median of {reps}, "
                           "(read + write bytes) / time, one thread"}  # fmt: skip


# ----------------------------------------------------------------------------- sides


@dataclass
class Side:
    """One implementation at one shape: ``step()`` trains one step (blocking) and returns
    its loss, computed before the update, as a 0-d array or tensor."""

    name: str
    step: Callable[[], Any]
    compile_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _data(B: int, T: int, D: int, dtype, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, T, D)).astype(dtype)
    y = rng.integers(0, CLASSES, (B, T)).astype(np.int32)
    return x, y


def _weights(D: int, H: int, dtype, seed: int = 0) -> dict[str, Any]:
    """Initial NumPy weights of every cell and readout (shared by our and torch's sides)."""
    import numpy as np

    from jaxrnn.weights import parallel_init as pinit

    rng = np.random.default_rng(seed)
    w: dict[str, Any] = {}
    for c in PAR_CELLS:
        w[c] = pinit.init_params(rng, c, D, H, dtype)
    for c, o in (("lstm", H), ("mingru", H), ("minlstm", H), ("lru", D)):
        bound = 1.0 / np.sqrt(o)
        w[f"readout_{c}"] = (rng.uniform(-bound, bound, (CLASSES, o)).astype(dtype),
                             rng.uniform(-bound, bound, CLASSES).astype(dtype))  # fmt: skip
    return w


def jax_side(name: str, w: dict[str, Any], x, y, D: int, H: int, dtype) -> Side:
    """Our side ``name``: a jitted train step (compiled here, timed) on ``(x, y)``."""
    import jax
    import jax.numpy as jnp
    import optax

    from jaxrnn.nn import parallel_cells as pc
    from jaxrnn.nn.sequence import lstm

    cell = side_cell(name)
    if cell == "lstm":
        layer = lstm(H)
        cell_params = layer.init(jax.random.PRNGKey(0), D, dtype)

        def forward(p, x):
            return layer.apply(p, x)[0]
    else:
        cell_params = pc.to_jax(w[cell])
        if name.endswith(("_parallel", "_scan")):
            method = "associative" if name.endswith("_parallel") else "scan"

            def forward(p, x):
                return pc.CELLS[cell].apply(p, x, method=method)[0]
        else:

            def forward(p, x):
                return pc.scan_steps(cell, p, x)[0]

    w_o, b_o = w[f"readout_{cell}"]
    params = {"cell": cell_params, "w_o": jnp.asarray(w_o), "b_o": jnp.asarray(b_o)}

    def loss_fn(p, x, y):
        logits = forward(p["cell"], x) @ p["w_o"].T + p["b_o"]  # [B, T, C]
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    opt = optax.adam(LR)

    def train_step(p, s, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(p, x, y)
        updates, s = opt.update(grads, s, p)
        return optax.apply_updates(p, updates), s, loss

    xj, yj = jnp.asarray(x), jnp.asarray(y)
    state = [params, opt.init(params)]
    t = time.perf_counter()
    compiled = jax.jit(train_step, donate_argnums=(0, 1)).lower(*state, xj, yj).compile()
    compile_s = time.perf_counter() - t

    def step():
        state[0], state[1], loss = compiled(state[0], state[1], xj, yj)
        return jax.block_until_ready(loss)

    return Side(name, step, compile_s, {"lstm_params": cell_params} if cell == "lstm" else {})


def _log_g(torch, k):
    """The minRNN code's ``log_g``: ``log(k + 1/2)`` for ``k >= 0``, else ``-softplus(-k)``."""
    F = torch.nn.functional
    return torch.where(k >= 0, (F.relu(k) + 0.5).log(), -F.softplus(-k))


def _g(torch, k):
    return torch.where(k >= 0, k + 0.5, torch.sigmoid(k))


def torch_min_module(torch, cell: str, params, form: str, dtype=None):
    """minGRU/minLSTM in plain PyTorch ops from our weights: ``[B, T, D] -> [B, T, H]``.

    ``form="logcumsumexp"``: the paper's log-space form with the official code's
    ``parallel_scan_log``; ``"loop"``: a Python loop over time in ordinary space. ``dtype``:
    the module's torch dtype (float32 if None)."""
    import numpy as np

    F = torch.nn.functional
    if cell == "mingru":
        ws, bs = (params.w_z, params.w_h), (params.b_z, params.b_h)
    else:
        ws, bs = (params.w_f, params.w_i, params.w_h), (params.b_f, params.b_i, params.b_h)
    H, D = ws[0].shape

    class MinCell(torch.nn.Module):
        def __init__(self):
            super().__init__()
            # one fused projection for all gates
            self.gates = torch.nn.Linear(D, len(ws) * H, dtype=dtype)
            with torch.no_grad():
                self.gates.weight.copy_(torch.from_numpy(np.concatenate(ws)))
                self.gates.bias.copy_(torch.from_numpy(np.concatenate(bs)))

        def log_coeffs(self, k):
            if cell == "mingru":
                k_z, k_h = k.chunk(2, dim=-1)
                return -F.softplus(k_z), -F.softplus(-k_z) + _log_g(torch, k_h)
            k_f, k_i, k_h = k.chunk(3, dim=-1)
            diff = F.softplus(-k_f) - F.softplus(-k_i)
            return -F.softplus(diff), -F.softplus(-diff) + _log_g(torch, k_h)

        def coeffs(self, k):
            if cell == "mingru":
                k_z, k_h = k.chunk(2, dim=-1)
                z = torch.sigmoid(k_z)
                return 1 - z, z * _g(torch, k_h)
            k_f, k_i, k_h = k.chunk(3, dim=-1)
            f, i = torch.sigmoid(k_f), torch.sigmoid(k_i)
            s = f + i
            return f / s, (i / s) * _g(torch, k_h)

        def forward(self, x):
            k = self.gates(x)
            if form == "logcumsumexp":
                log_a, log_b = self.log_coeffs(k)
                a_star = torch.cumsum(log_a, dim=1)
                return torch.exp(a_star + torch.logcumsumexp(log_b - a_star, dim=1))
            a, b = self.coeffs(k)
            h = torch.zeros_like(a[:, 0])
            hs = []
            for t in range(a.shape[1]):
                h = a[:, t] * h + b[:, t]
                hs.append(h)
            return torch.stack(hs, dim=1)

    return MinCell()


def torch_lru_module(torch, params, form: str, dtype=None):
    """The LRU in plain PyTorch ops from our weights: ``u [B, T, D] -> y [B, T, D]``.

    ``form="scan"``: a doubling scan over time; ``"loop"``: a Python loop. ``dtype``: the
    real parameters' torch dtype (float32 if None); the state is complex."""

    class LRU(torch.nn.Module):
        def __init__(self):
            super().__init__()
            for k, v in params._asdict().items():
                setattr(self, k, torch.nn.Parameter(torch.tensor(v, dtype=dtype)))

        def forward(self, u):
            lam = torch.exp(torch.complex(-torch.exp(self.nu_log), torch.exp(self.theta_log)))
            bu = torch.complex(u @ self.b_re.T, u @ self.b_im.T) * torch.exp(self.gamma_log)
            if form == "scan":
                a, xs, d = lam.expand_as(bu), bu, 1
                while d < xs.shape[1]:  # after the round for d, xs[t] sums steps t-2d+1..t
                    xs = torch.cat([xs[:, :d], a[:, d:] * xs[:, :-d] + xs[:, d:]], dim=1)
                    a = torch.cat([a[:, :d], a[:, d:] * a[:, :-d]], dim=1)
                    d *= 2
            else:
                x, out = torch.zeros_like(bu[:, 0]), []
                for t in range(bu.shape[1]):
                    x = lam * x + bu[:, t]
                    out.append(x)
                xs = torch.stack(out, dim=1)
            return xs.real @ self.c_re.T - xs.imag @ self.c_im.T + self.d * u

    return LRU()


def torch_side(name: str, w: dict[str, Any], x, y, lstm_params=None, H: int = 0,
               dtype=None) -> Side:  # fmt: skip
    """PyTorch's side ``name`` (float32 unless ``dtype`` is float64) on ``(x, y)``."""
    import numpy as np
    import torch

    from jaxrnn.nn.interop import to_torch
    from jaxrnn.nn.sequence import lstm

    tdtype = torch.float64 if dtype is not None and np.dtype(dtype) == np.float64 else torch.float32
    cell = side_cell(name)
    if cell == "lstm":
        # to_torch copies the weights as float32 (a float64 run compares at that precision)
        rnn = to_torch(lstm(H), lstm_params, batch_first=True).to(tdtype)

        def body(x):
            return rnn(x)[0]

        core = rnn
    elif cell == "lru":
        core = torch_lru_module(torch, w[cell], name.rsplit("_", 1)[1], tdtype)
        body = core
    else:
        core = torch_min_module(torch, cell, w[cell], name.rsplit("_", 1)[1], tdtype)
        body = core
    w_o, b_o = w[f"readout_{cell}"]
    readout = torch.nn.Linear(w_o.shape[1], CLASSES, dtype=tdtype)
    with torch.no_grad():
        readout.weight.copy_(torch.from_numpy(np.asarray(w_o)))
        readout.bias.copy_(torch.from_numpy(np.asarray(b_o)))
    model = torch.nn.ModuleList([core, readout])
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    tx = torch.from_numpy(np.asarray(x)).to(tdtype)
    ty = torch.from_numpy(np.asarray(y)).long().reshape(-1)
    xent = torch.nn.CrossEntropyLoss()

    def step():
        logits = readout(body(tx))
        loss = xent(logits.reshape(-1, CLASSES), ty)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()

    return Side(name, step, None)


def build_sides(names: Sequence[str], B: int, T: int, D: int, H: int, dtype,
                seed: int = 0) -> dict[str, Side]:  # fmt: skip
    """Every side in ``names`` at ``(B, T, D, H)``, from the same initial weights and data
    (``torch_lstm`` takes ``ours_lstm``'s LSTM weights, built here if it is not asked for)."""
    import jax

    from jaxrnn.nn.sequence import lstm

    w = _weights(D, H, dtype, seed)
    x, y = _data(B, T, D, dtype, seed)
    sides: dict[str, Side] = {}
    lstm_params = None
    for n in names:
        if n.startswith("ours_"):
            sides[n] = jax_side(n, w, x, y, D, H, dtype)
            if n == "ours_lstm":
                lstm_params = sides[n].extra["lstm_params"]
    for n in names:
        if n.startswith("torch_"):
            if n == "torch_lstm" and lstm_params is None:
                lstm_params = lstm(H).init(jax.random.PRNGKey(0), D, dtype)
            sides[n] = torch_side(n, w, x, y, lstm_params, H, dtype)
    return {n: sides[n] for n in names}


def same_first_loss(first: dict[str, float], rtol: float) -> dict[str, Any]:
    """Per cell, whether every side's first-step loss agrees with the first side's."""
    out: dict[str, Any] = {}
    for cell in ("lstm", *PAR_CELLS):
        vals = {n: v for n, v in first.items() if side_cell(n) == cell}
        if len(vals) < 2:
            continue
        ref = next(iter(vals.values()))
        spread = max(abs(v - ref) for v in vals.values())
        out[cell] = {"losses": vals, "max_abs_diff": spread,
                     "equal": spread <= rtol * abs(ref)}  # fmt: skip
    return out


# ----------------------------------------------------------------------------- main


def skip_reason(
    prev: tuple[int, float] | None,
    T: int,
    reps: int,
    max_seconds: float,
    warm_s: float | None = None,
) -> str | None:
    """Why a side is not timed at length ``T`` (None: it is): its ``reps`` steps would take
    longer than ``max_seconds``, judged from its warm-up step at this T (``warm_s``) or, before
    that, from ``prev = (T', median step s)`` at its previous length, scaled by ``T / T'``
    (every side's step grows at least linearly in T)."""
    if warm_s is not None:
        if warm_s * reps > max_seconds:
            return f"warm-up step {warm_s:.3g} s x {reps} reps > --max-seconds {max_seconds:g}"
        return None
    if prev is not None:
        t_prev, s_prev = prev
        est = s_prev * T / t_prev * reps
        if est > max_seconds:
            return (f"predicted {est:.3g} s for {reps} reps (median {s_prev:.3g} s at T "
                    f"{t_prev}, scaled by length) > --max-seconds {max_seconds:g}")  # fmt: skip
    return None


def _ints(s: str) -> list[int]:
    try:
        vals = [int(v) for v in s.split(",") if v.strip()]
    except ValueError:
        raise SystemExit(f"error: expected comma-separated integers, got {s!r}") from None
    if not vals or min(vals) < 1:
        raise SystemExit(f"error: expected positive integers, got {s!r}")
    return vals


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--lengths", help="sequence lengths T [64,256,1024,4096; --quick: 8]")
    ap.add_argument("--batch", type=int, default=8, help="streams B [8]")
    ap.add_argument("--width", type=int, default=None, help="width H [256; --quick: 32]")
    ap.add_argument("--input-width", type=int, default=None,
                    help="input width D [256; --quick: 32]")  # fmt: skip
    ap.add_argument("--reps", type=int, default=None, help="timed steps per side [10; quick 2]")
    ap.add_argument("--max-seconds", type=float, default=20.0,
                    help="skip a side at a T whose reps would take longer [20]")  # fmt: skip
    ap.add_argument("--torch-threads", type=int, default=None,
                    help="torch.set_num_threads [the usable cores]")  # fmt: skip
    ap.add_argument("--sides", help=f"comma-separated subset of {','.join(all_sides())}")
    args = ap.parse_args()
    quick = args.quick
    lengths = _ints(args.lengths) if args.lengths else list(QUICK_LENGTHS if quick
                                                            else FULL_LENGTHS)  # fmt: skip
    H = args.width or (32 if quick else 256)
    D = args.input_width or (32 if quick else 256)
    B = args.batch
    reps = args.reps or (2 if quick else 10)
    names = all_sides()
    if args.sides:
        names = [s.strip() for s in args.sides.split(",") if s.strip()]
        bad = [s for s in names if s not in all_sides()]
        if bad:
            raise SystemExit(f"error: unknown sides {bad}; choose from {','.join(all_sides())}")
    threads = 1 if args.torch_threads is None else args.torch_threads
    if min(B, H, D, reps, threads) < 1 or args.max_seconds <= 0:
        raise SystemExit("error: --batch, --width, --input-width, --reps, --max-seconds and "
                         "--torch-threads must be positive")  # fmt: skip

    t0 = time.perf_counter()
    check = QuietCheck()

    import numpy as np
    import torch
    from _timing import bench

    info = header(("torch",))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    torch.set_num_threads(args.torch_threads or cores)
    peak = float32_peak(cores)
    bw = copy_bandwidth(64 if quick else 512, 3 if quick else 5)
    print(f"peak: {peak['description']}" + (f" ({peak['note']})" if peak["note"] else ""))
    print(f"bandwidth: {bw['gb_per_s']:.1f} GB/s ({bw['description']})")
    print(f"B {B}, D {D}, H {H}, T {lengths}, {reps} reps, torch threads {torch.get_num_threads()}")

    results: dict[str, dict[str, Any]] = {n: {} for n in names}
    first_losses: dict[str, dict[str, float]] = {}
    same: dict[str, Any] = {}
    notes: list[str] = []
    last_median: dict[str, tuple[int, float]] = {}  # side -> (T, median s) at its last T
    dropped: set[str] = set()
    for T in lengths:
        key = str(T)
        todo = []
        for n in names:
            if n in dropped:
                results[n][key] = {"skipped": "skipped at a shorter T"}
                continue
            why = skip_reason(last_median.get(n), T, reps, args.max_seconds)
            if why:
                results[n][key] = {"skipped": why}
                notes.append(f"{n} skipped from T {T}: {why}")
                dropped.add(n)
                continue
            todo.append(n)
        print(f"\nT {T}: compiling and warming up {len(todo)} sides", flush=True)
        sides = build_sides(todo, B, T, D, H, np.float32)
        first: dict[str, float] = {}
        timed_sides = {}
        for n, side in sides.items():
            t = time.perf_counter()
            first[n] = float(side.step())
            warm = time.perf_counter() - t
            if skip_reason(None, T, reps, args.max_seconds, warm):
                # a first call carries one-time costs (allocations, torch's thread pool):
                # judge a slow side on its second step before dropping it for good
                t = time.perf_counter()
                side.step()
                warm = min(warm, time.perf_counter() - t)
            why = skip_reason(None, T, reps, args.max_seconds, warm)
            if why:
                results[n][key] = {"skipped": why, "compile_s": side.compile_s}
                notes.append(f"{n} skipped from T {T}: {why}")
                dropped.add(n)
            else:
                timed_sides[n] = side
        first_losses[key] = first
        same[key] = same_first_loss(first, 1e-3)
        for cell, s in same[key].items():
            print(f"  first-step loss, {cell}: " + ", ".join(
                f"{n} {v:.6f}" for n, v in s["losses"].items()) +
                f" ({'equal' if s['equal'] else 'DIFFERENT'})")  # fmt: skip
        bad = [c for c, s in same[key].items() if not s["equal"]]
        if bad:
            raise SystemExit(f"error: the sides of {bad} do not compute the same first-step "
                             f"loss from the same weights at T {T}")  # fmt: skip
        timed = {n: s.step for n, s in timed_sides.items()}
        stats = bench(timed, reps=reps, warmup=0) if timed else {}  # warmed up above
        for n, st in stats.items():
            med = st.median_ms / 1e3
            last_median[n] = (T, med)
            flops = matmul_flops(side_cell(n), B, T, D, H)
            row: dict[str, Any] = {
                "step_s": med, "tokens_per_s": B * T / med, "matmul_gflop": flops / 1e9,
                "gflops_per_s": flops / med / 1e9,
                "peak_share": flops / med / 1e9 / peak["gflops"] if peak["gflops"] else None,
                "compile_s": sides[n].compile_s, "first_loss": first[n],
                "step_ms": st.to_json(),
            }  # fmt: skip
            cell = side_cell(n)
            if n.endswith(("_parallel", "_logcumsumexp", "_scan")):
                fb = floor_bytes(cell, B, T, D, H)
                floor_s = fb / (bw["gb_per_s"] * 1e9)
                row.update(floor_bytes=fb, floor_s=floor_s, over_floor=med / floor_s)
            results[n][key] = row
        for n in stats:
            row = results[n][key]
            for ref in ("ours_lstm", "torch_lstm"):
                r = results.get(ref, {}).get(key, {})
                if "tokens_per_s" in r:
                    row[f"tokens_over_{ref}"] = row["tokens_per_s"] / r["tokens_per_s"]

    # ------------------------------------------------------------------ tables
    out_rows = []
    for n in names:
        for T in lengths:
            r = results[n].get(str(T), {})
            if "skipped" in r:
                out_rows.append({"side": n, "T": T, "ms": "skipped"})
                continue
            out_rows.append({
                "side": n, "T": T, "ms": r["step_s"] * 1e3, "tok/s": r["tokens_per_s"],
                "GF/s": r["gflops_per_s"],
                "% peak": None if r["peak_share"] is None else 100 * r["peak_share"],
                "x floor": r.get("over_floor"), "/ours_lstm": r.get("tokens_over_ours_lstm"),
                "/torch_lstm": r.get("tokens_over_torch_lstm"), "compile s": r["compile_s"],
            })  # fmt: skip
    table(f"training step (B {B}, D {D}, H {H}, Adam, cross-entropy over every step; "
          "median ms, tokens/s, matmul GFLOP/s, % of float32 peak, x memory floor, "
          "tokens/s ratios)", out_rows,
          ["side", "T", "ms", "tok/s", "GF/s", "% peak", "x floor", "/ours_lstm",
           "/torch_lstm", "compile s"])  # fmt: skip
    for note in notes:
        print(f"note: {note}")
    payload = {
        "machine": info,
        "config": {"batch": B, "input_width": D, "width": H, "classes": CLASSES, "lr": LR,
                   "optimizer": "adam", "loss": "softmax cross-entropy of a per-step linear "
                   "readout, mean over every output step", "dtype": "float32",
                   "lengths": lengths, "reps": reps, "max_seconds": args.max_seconds,
                   "quick": quick},
        "sides": names,
        "torch_threads": torch.get_num_threads(),
        "peak": peak,
        "bandwidth": bw,
        "flop_formulas": FLOP_FORMULAS,
        "flops_doc": matmul_flops.__doc__,
        "memory_floor_formula": MEMORY_FORMULA,
        "results": results,
        "first_loss": first_losses,
        "same_first_loss": same,
        "notes": notes,
    }  # fmt: skip
    finish(args, payload, t0, check)


if __name__ == "__main__":
    main()
