"""Batch-1 recurrent steps: a layer's forward over one long stream, and sampling.

    python benchmarks/batch1.py [--json PATH] [--quick]

What a user waits on at batch 1: ``jaxrnn.nn.lm.sample`` draws one character per step, and
a language model's test text is read as one stream (``--task lm``'s evaluation). Each
step is a ``[1, H] @ [H, G*H]`` product, so what matters is what else the loop body does.
XLA:CPU keeps a ``w.T`` written inside a loop body there and copies the transposed matrix
on every step; jaxrnn transposes the weights once, before the loop (``cells.Transposed``,
``RecurrentLayer.step_params``, ``bptt``'s forward loops).

Timed, in one process, compile excluded, medians of ``--reps`` runs:

* ``layer``: ``lstm(H).apply`` over ``[1, T, 32]`` (the custom-VJP forward and the autodiff
  scan), microseconds a step;
* ``torch``: ``torch.nn.LSTM`` forward over the same ``[1, T, 32]`` (no grad), if installed;
* ``greedy``: 2000 greedy steps of a char LSTM's ``model.step`` (embedding 32, hidden H) in
  a ``lax.scan``, its params prepared before the loop (``step_params``, what sampling does)
  or handed in plain (the transposes then inside the loop body, as before), chars/s and
  whether both drew the same tokens;
* ``sample``: ``lm.sample`` of 2000 characters from that model, chars/s.

Defaults: H = 256, T = 3584 (the 35 KB LM benchmark's test text). ``--quick``: H 32, T 64.
"""

from __future__ import annotations

import os
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)

from _common import QuietCheck, finish, header, parser, table, timed_median  # noqa: E402


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    check = QuietCheck()
    t0 = time.perf_counter()
    info = header(["torch"])
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxrnn.nn import lm
    from jaxrnn.nn.sequence import lstm

    h, t, d, v = (32, 64, 8, 11) if args.quick else (256, 3584, 32, 60)
    reps = 2 if args.quick else args.reps
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((1, t, d)), jnp.float32)

    def median_s(fn) -> float:
        """Median seconds of ``reps`` blocking calls of ``fn``, after one (compile, warm)."""
        jax.block_until_ready(fn())
        return timed_median(lambda: jax.block_until_ready(fn()), reps)

    rows = []
    for impl in ("custom_vjp", "autodiff"):
        layer = lstm(h, impl=impl)
        p = layer.init(jax.random.key(0), d)
        f = jax.jit(lambda p, x, layer=layer: layer.apply(p, x)[0])
        rows.append({"side": f"layer ({impl})", "us_per_step": median_s(lambda f=f, p=p: f(p, x))
                     / t * 1e6})  # fmt: skip
    try:
        import torch

        net = torch.nn.LSTM(d, h, batch_first=True)
        xt = torch.from_numpy(np.array(x))

        def torch_fwd():
            with torch.no_grad():
                return net(xt)[0]

        torch_fwd()
        rows.append({"side": f"torch.nn.LSTM ({torch.get_num_threads()} threads)",
                     "us_per_step": timed_median(torch_fwd, reps) / t * 1e6})  # fmt: skip
    except ImportError:
        pass
    table(f"LSTM {h} forward over one stream of {t} steps at batch 1", rows)

    model = lm.LanguageModel(lstm(h), v, 32 if not args.quick else 4)
    params = jax.tree.map(jnp.asarray, model.init_numpy(0, np.float32))
    n = 200 if args.quick else 2000

    def greedy(prepare: bool):
        """``n`` greedy steps of ``model.step`` in a ``lax.scan``, its params prepared once
        before the loop (``step_params``) or handed in plain (each step then transposes
        the weights inside the loop body: what sampling did before)."""

        def run(params):
            p = model.step_params(params) if prepare else params

            def body(c, _):
                state, tok = c
                logits, state = model.step(p, state, tok)
                tok = jnp.argmax(logits, -1).astype(jnp.int32)
                return (state, tok), tok

            first = (model.zero_state(1), jnp.zeros(1, jnp.int32))
            return jax.lax.scan(body, first, None, length=n)[1]

        return jax.jit(run)

    steps, tokens = [], []
    for name, prepare in (("plain params in the loop", False), ("step_params", True)):
        f = greedy(prepare)
        steps.append({"side": name, "chars_per_s": n / median_s(lambda f=f: f(params))})
        tokens.append(f(params))
    same = bool(jnp.all(tokens[0] == tokens[1]))
    table(f"greedy decoding, {n} characters, one stream (same tokens: {same})", steps)
    lm.sample(model, params, [1, 2], n, seed=0)  # compile, warm
    chars = n / timed_median(lambda: lm.sample(model, params, [1, 2], n, seed=1), reps)
    print(f"\nlm.sample, one sample of {n} characters: {chars:,.0f} chars/s")
    payload = {"machine": info, "config": {"hidden": h, "steps": t, "input": d, "reps": reps,
                                           "quick": args.quick},
               "forward": rows, "greedy": steps, "greedy_same_tokens": same,
               "sample_chars_per_s": chars}  # fmt: skip
    finish(args, payload, t0, check)


if __name__ == "__main__":
    main()
