"""Character language model: jaxrnn vs PyTorch vs the NumPy reference, training and sampling.

    python benchmarks/lm.py [--json PATH] [--quick] [--steps N] [--ours-only] [--bf16]

The issue's configuration on both sides: a character LSTM, embedding 32, hidden 256,
chunks of 64 characters, 32 streams, Adam 2e-3, gradient clipped by global norm 5, on
``jaxrnn.data.text.make_text(0, 35_000)`` (35 KB of generated English-like prose; the
last 10% is the test text). Both sides start from the same weights (ours, copied into
``nn.Embedding`` / ``nn.LSTM`` (``jaxrnn.nn.interop.to_torch``) / ``nn.Linear``) and read the
same chunks in the same order, the state carried from chunk to chunk and reset at each
pass over the text.

Before timing, the script checks that both sides compute the same loss from the same
weights on the first chunk (float32, rtol 1e-4) and stops if they do not.

What is measured, in one process:

* training: ``--steps`` optimizer steps (600; ``--quick``: 5, hidden 64, on the first
  12,000 characters: one pass of 5 chunks), run as passes over the text (15 chunks each),
  the two sides alternating pass by pass. Ours: the
  library's ``jaxrnn.train_step`` with ``jaxrnn.nn.lm.lm_task``, one pass compiled as one
  ``lax.scan`` (as ``python -m jaxrnn.train`` runs it), compile timed apart. PyTorch: the
  usual loop (forward, ``CrossEntropyLoss``, backward, ``clip_grad_norm_``, ``Adam.step``,
  state detached), its thread count alternating pass by pass between its default and 1
  (the faster median is compared: on these shared machines 2 threads were measured 3-30x
  slower than 1). tokens/s = tokens of a pass / its time, median over passes (the first
  pass of each, which warms up, left out);
* the same for ours with the streams split over 2 CPU devices (``ours_dp``: one per core,
  ``jax.shard_map`` via ``jaxrnn.training.loop.data_parallel_grad``, each device 16 streams
  and their state, the gradients summed; what ``python -m jaxrnn.train --task lm`` does on
  a machine of 2 or more cores), from the same weights on the same chunks, in the same
  rotation; skipped on one core;
* test bits per character after the same steps, the test text read as one stream with
  the state carried (ours: ``jaxrnn.evaluate``), and the unigram entropy for reference;
* the NumPy reference (``jaxrnn.scratch.seq.lm_loss_and_grads`` with hand-written BPTT +
  ``jaxrnn.scratch.optim``'s Adam and clip) at the same configuration: a few steps timed;
* generation: ``jaxrnn.nn.lm.sample`` (one compiled ``lax.scan``), characters per second for
  one sample and for 32 drawn together (``--quick``: one), compile excluded.

``--bf16``: also our two sides in mixed precision (``ours_bf16``, ``ours_dp_bf16``:
``--dtype bfloat16``, the LSTM's and the readout's matmuls with bfloat16 operands and float32
accumulation, params and Adam state float32), from the same weights on the same chunks in the
same rotation, with their test bits/char (issue 26's goal: ``ours_dp_bf16`` >= 1.5x PyTorch
float32 tokens/s, test bits/char within 0.02 of float32's).

``--ours-only``: our sides alone (no PyTorch, no NumPy reference, no generation; their
keys are null), for ``benchmarks/cli_lm.py``, which reads nothing else.

Targets (issue 15): >= 1.2x PyTorch's tokens/s; test bits/char within 0.05 of PyTorch's or
better; >= 20x the NumPy reference's tokens/s; generation >= 10k chars/s.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
sys.path.insert(0, os.path.dirname(_HERE))  # this checkout's jaxrnn, not an installed one

from _common import QuietCheck, finish, header, parser, table  # noqa: E402


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--steps", type=int, default=None, help="optimizer steps per side [600]")
    ap.add_argument("--ours-only", action="store_true",
                    help="time our sides alone: no PyTorch, NumPy or generation")  # fmt: skip
    ap.add_argument("--bf16", action="store_true",
                    help="also time our sides in mixed precision (--dtype bfloat16)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    check = QuietCheck()
    # ours_dp's devices, asked of XLA before JAX starts (ours runs on the first alone)
    n_dev = 2 if (os.cpu_count() or 1) >= 2 else 1
    if n_dev > 1 and "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS",
                                                                                  ""):
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                                   + f" --xla_force_host_platform_device_count={n_dev}").strip()

    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax
    peers = not args.ours_only
    if peers:
        import torch
        from _torch_models import CharLM, stream_bpc, stream_pass

    from jaxrnn.data.text import TextVocab, make_text, split_text
    from jaxrnn.nn import lm
    from jaxrnn.nn.sequence import RecurrentLayer, _Options
    from jaxrnn.runs.prepare_lm import one_stream_rows, train_rows
    from jaxrnn.scratch import optim
    from jaxrnn.scratch import seq as npseq
    from jaxrnn.training import loop, tasks
    from jaxrnn.training.tasks import Batch

    info = header(("torch",) if peers else ())
    quick = args.quick
    E, H, T, B, LR, CLIP = 32, (64 if quick else 256), 64, 32, 2e-3, 5.0
    steps = args.steps or (5 if quick else 600)
    text = make_text(0, 12_000 if quick else 35_000)
    vocab = TextVocab.fit(text, "char")
    tr_ids, te_ids = split_text(vocab.encode(text), 0.1)
    rows, test = train_rows(tr_ids, B, T), one_stream_rows(te_ids, T)
    K, V = rows.inputs.shape[0], vocab.size
    passes = -(-steps // K)
    tokens_per_pass = K * B * T
    counts = np.bincount(tr_ids, minlength=V) + 1e-12
    p_uni = counts / counts.sum()
    unigram_bpc = float(-np.mean(np.log2(p_uni[te_ids[1:]])))
    print(f"text {len(text)} chars, vocab {V}, train {len(tr_ids)} / test {len(te_ids)}, "
          f"{K} chunks of [{B}, {T}] per pass, {passes} passes = {passes * K} steps; "
          f"hidden {H}")  # fmt: skip

    # ------------------------------------------------------------------ ours
    def lm_model(precision: str) -> lm.LanguageModel:
        return lm.LanguageModel(RecurrentLayer("lstm", H, _options=_Options(precision=precision)),
                                V, E)  # fmt: skip

    model = lm_model("float32")
    params0 = model.init_numpy(0, np.float32)
    opt = optax.chain(optax.clip_by_global_norm(CLIP), optax.adam(LR))
    jrows = tasks.LMRows(*map(jnp.asarray, rows))
    jtest = tasks.LMRows(*map(jnp.asarray, test))
    ones = jnp.ones(1, jnp.float32)

    def make_pass(step, model, task):
        """One pass over the text's chunks, the streams' state carried: ``(state, losses)``."""

        def one_pass(state, data):
            state = state._replace(carry=task.init_carry(model, state.params, 1))

            def body(s, xs):
                s, m = step(s, Batch(tasks.LMRows(*(a[None] for a in xs)), ones), None)
                return s, m["loss"]

            state, losses = jax.lax.scan(body, state, data)
            return state._replace(carry=()), losses

        return one_pass

    # ours_dp: the streams split over n_dev devices (the CLI's --data-parallel auto)
    n_dev = min(n_dev, len(jax.devices()))
    if n_dev > 1:
        from jax.sharding import Mesh, NamedSharding, PartitionSpec

        mesh = Mesh(np.array(jax.devices()[:n_dev]), ("data",))
        replicated = NamedSharding(mesh, PartitionSpec())

    def our_side(precision: str, devices: int) -> dict:
        """One of our sides, compiled: its pass, state and rows (replicated over the
        devices' mesh when ``devices > 1``), compile time, and lists for its pass times."""
        m = lm_model(precision)
        t = tasks.lm_task(m, B)
        grad_fn = loop.data_parallel_grad(m, mesh, t) if devices > 1 else None
        st = loop.init_state(m, opt, 0, params=params0)
        data = jrows
        if devices > 1:
            st, data = jax.device_put(st, replicated), jax.device_put(jrows, replicated)
        tc = time.perf_counter()
        run = jax.jit(make_pass(loop.train_step(m, opt, t, grad_fn=grad_fn), m, t))
        run = run.lower(st, data).compile()
        return {"run": run, "compile_s": time.perf_counter() - tc, "state": st, "rows": data,
                "devices": devices, "precision": precision, "times": [], "curve": [],
                # its test bits/char, in the precision it trained in
                "evaluate": jax.jit(lambda p, d: loop.evaluate(m, t, p, d, 64)[0])}

    ours_sides = {"ours": our_side("float32", 1)}
    if n_dev > 1:
        ours_sides["ours_dp"] = our_side("float32", n_dev)
    if args.bf16:
        ours_sides["ours_bf16"] = our_side("bfloat16", 1)
        if n_dev > 1:
            ours_sides["ours_dp_bf16"] = our_side("bfloat16", n_dev)
    dp = ours_sides.get("ours_dp")
    compile_s = ours_sides["ours"]["compile_s"]

    # ------------------------------------------------------------------ PyTorch
    if peers:
        torch.manual_seed(0)
        tmodel = CharLM.from_ours(model, params0)
        topt = torch.optim.Adam(tmodel.parameters(), lr=LR)
        xent = torch.nn.CrossEntropyLoss()
        tx, ty = torch.from_numpy(rows.inputs).long(), torch.from_numpy(rows.targets).long()

        def torch_pass():
            return stream_pass(tmodel, topt, tx, ty, clip_norm=CLIP)

        # same loss, same weights
        logits_j, _ = model.apply(jax.tree.map(jnp.asarray, params0), jrows.inputs[0])
        loss_j = float(optax.softmax_cross_entropy_with_integer_labels(logits_j, jrows.targets[0])
                       .mean())  # fmt: skip
        with torch.no_grad():
            logits_t, _ = tmodel(tx[0])
            loss_t = float(xent(logits_t.reshape(-1, V), ty[0].reshape(-1)))
        same = abs(loss_j - loss_t) <= 1e-4 * abs(loss_t)
        print(f"first-chunk loss from the same weights: ours {loss_j:.6f}, torch {loss_t:.6f} "
              f"({'equal' if same else 'DIFFERENT'})")  # fmt: skip
        if not same:
            raise SystemExit("the two sides do not compute the same loss from the same weights")

    # ------------------------------------------------------------------ train, alternating
    # torch's thread count alternates pass by pass between its default and 1: on a shared
    # 2-core machine its 2 threads were measured 3-30x slower than 1 (busy-waiting threads
    # when the cores are taken); the comparison uses the faster of the two medians.
    threads = sorted({torch.get_num_threads(), 1}, reverse=True) if peers else [0]
    curve_torch: list[float] = []
    t_torch: dict[int, list[float]] = {n: [] for n in threads}
    sides = ("ours",) + (("torch",) if peers else ()) + tuple(ours_sides)[1:]
    for p in range(passes):
        n_threads = threads[p % len(threads)]
        for side in sides[p % len(sides):] + sides[:p % len(sides)]:  # rotated pass by pass
            t = time.perf_counter()
            if side in ours_sides:
                o = ours_sides[side]
                o["state"], losses = o["run"](o["state"], o["rows"])
                losses = np.asarray(jax.block_until_ready(losses))
                o["times"].append(time.perf_counter() - t)
                o["curve"].append(float(losses.mean()))
            else:
                torch.set_num_threads(n_threads)
                t = time.perf_counter()
                curve_torch.append(float(np.mean(torch_pass())))
                t_torch[n_threads].append(time.perf_counter() - t)
        print(f"  pass {p + 1}/{passes}: "
              + ", ".join(f"{k} {o['times'][-1]:.2f} s" for k, o in ours_sides.items())
              + (f", torch ({n_threads} thread(s)) {t_torch[n_threads][-1]:.2f} s"
                 if peers else ""), flush=True)  # fmt: skip
    if peers:
        torch.set_num_threads(threads[0])
    for o in ours_sides.values():
        o["tokens_per_s"] = tokens_per_pass / statistics.median(o["times"][1:] or o["times"])
        o["test_bpc"] = float(o["evaluate"](jax.device_get(o["state"].params), jtest)[2])
    state = ours_sides["ours"]["state"]
    curve_ours = ours_sides["ours"]["curve"]
    tps_ours, bpc_ours = ours_sides["ours"]["tokens_per_s"], ours_sides["ours"]["test_bpc"]
    for k, o in ours_sides.items():
        # same weights, same chunks, no dropout: the same curve up to float32 rounding (or,
        # in bfloat16, up to what its rounding moves)
        if k != "ours":
            ref = ours_sides["ours_dp" if k == "ours_dp_bf16" and dp else "ours"]["curve"]
            o["max_rel_loss_diff"] = max(abs(a - b) / abs(b)
                                         for a, b in zip(o["curve"], ref, strict=True))

    def side_out(k: str) -> dict | None:
        o = ours_sides.get(k)
        if o is None:
            return None
        out = {"tokens_per_s": o["tokens_per_s"], "test_bpc": o["test_bpc"],
               "compile_s": o["compile_s"], "pass_s": o["times"], "pass_loss": o["curve"]}
        if k != "ours":
            out = {"devices": o["devices"], "precision": o["precision"], **out,
                   "max_rel_loss_diff": o["max_rel_loss_diff"]}
        return out

    ours_out = {
        "config": {"embed": E, "hidden": H, "seq_len": T, "batch": B, "lr": LR,
                   "clip_norm": CLIP, "steps": passes * K, "passes": passes,
                   "chunks_per_pass": K, "text_chars": len(text), "vocab": V,
                   "test_chars": len(te_ids), "quick": quick, "ours_only": not peers,
                   "bf16": args.bf16},
        "unigram_bpc": unigram_bpc,
        **{k: side_out(k) for k in ("ours", "ours_dp", "ours_bf16", "ours_dp_bf16")},
    }  # fmt: skip
    if args.bf16:  # issue 26's bits/char goal: bfloat16 within 0.02 of float32
        ours_out["test_bpc_bf16_minus_f32"] = {
            k: ours_out[k + "_bf16"]["test_bpc"] - ours_out[k]["test_bpc"]
            for k in ("ours", "ours_dp") if ours_out[k + "_bf16"]}  # fmt: skip
    if not peers:  # --ours-only: the peers' keys are null
        table(f"training, {passes * K} steps each (median pass)",
              [{"side": k, **{f: v[f] for f in ("tokens_per_s", "test_bpc", "compile_s")}}
               for k, v in ours_out.items() if k in ours_sides])
        finish(args, {"machine": info, **ours_out, **dict.fromkeys(
            ("same_weights_first_loss", "torch", "numpy", "generation", "ratios", "sample"))},
            t0, check)  # fmt: skip
        return
    tps_by_threads = {n: tokens_per_pass / statistics.median(ts[1:] or ts)
                      for n, ts in t_torch.items() if ts}  # fmt: skip
    best_threads = max(tps_by_threads, key=tps_by_threads.get)
    tps_torch = tps_by_threads[best_threads]
    bpc_torch = stream_bpc(tmodel, test)

    # ------------------------------------------------------------------ NumPy reference
    np_params = jax.tree.map(lambda a: np.asarray(a, np.float64), params0)
    np_params["rnn"] = tuple(tuple(npseq.CellParams(*c) for c in layer)
                             for layer in np_params["rnn"])  # fmt: skip
    np_opt = optim.chain(optim.clip_by_global_norm(CLIP), optim.adam(LR))
    np_state, np_h, np_times = np_opt.init(np_params), None, []
    for k in range(2 if quick else 4):
        t = time.perf_counter()
        r = npseq.lm_loss_and_grads(np_params, rows.inputs[k], rows.targets[k], np_h, "lstm")
        upd, np_state = np_opt.update(r.grads, np_state, np_params)
        np_params, np_h = optim.apply_updates(np_params, upd), r.final_state
        np_times.append(time.perf_counter() - t)
    tps_numpy = B * T / statistics.median(np_times)

    # ------------------------------------------------------------------ generation
    gen = {}
    prime = vocab.encode("The ")
    for n in (1,) if quick else (1, 32):
        length = 200 if quick else 2000
        kw = dict(seed=0, temperature=0.8, top_k=10, num_samples=n)
        tc = time.perf_counter()
        lm.sample(model, state.params, prime, length, **kw)
        c_s = time.perf_counter() - tc
        ts = []
        for _ in range(1 if quick else 3):
            t = time.perf_counter()
            out = lm.sample(model, state.params, prime, length, **kw)
            ts.append(time.perf_counter() - t)
        gen[f"samples_{n}"] = {"length": length, "compile_s": c_s,
                               "chars_per_s": n * length / statistics.median(ts)}  # fmt: skip
        if n == 1:
            sample_text = "The " + vocab.decode(out[0])

    rows_out = [
        {"side": "ours (jaxrnn)", "tokens_per_s": tps_ours, "test_bpc": bpc_ours,
         "last_pass_loss": curve_ours[-1], "compile_s": compile_s},
        *({"side": f"ours, {o['devices']} device(s), {o['precision']}",
           "tokens_per_s": o["tokens_per_s"], "test_bpc": o["test_bpc"],
           "last_pass_loss": o["curve"][-1], "compile_s": o["compile_s"]}
          for k, o in ours_sides.items() if k != "ours"),
        *({"side": f"torch, {n} thread(s)", "tokens_per_s": v,
           **({"test_bpc": bpc_torch, "last_pass_loss": curve_torch[-1]}
              if n == best_threads else {})} for n, v in tps_by_threads.items()),
        {"side": "numpy reference", "tokens_per_s": tps_numpy},
    ]  # fmt: skip
    table(f"training, {passes * K} steps each (median pass; unigram {unigram_bpc:.3f} bits/char)",
          rows_out, ["side", "tokens_per_s", "test_bpc", "last_pass_loss", "compile_s"])
    ratios = {
        "tokens_per_s_ours_over_torch": tps_ours / tps_torch,
        "tokens_per_s_ours_over_numpy": tps_ours / tps_numpy,
        "test_bpc_ours_minus_torch": bpc_ours - bpc_torch,
        **({"tokens_per_s_ours_dp_over_torch": dp["tokens_per_s"] / tps_torch,
            "tokens_per_s_ours_dp_over_ours": dp["tokens_per_s"] / tps_ours} if dp else {}),
        **{f"tokens_per_s_{k}_over_torch": ours_sides[k]["tokens_per_s"] / tps_torch
           for k in ("ours_bf16", "ours_dp_bf16") if k in ours_sides},
    }
    table("ratios (targets: >= 1.2, >= 20, <= 0.05)", [ratios])
    table("generation (compile excluded; target >= 10k chars/s)",
          [{"samples": k, **v} for k, v in gen.items()])  # fmt: skip
    print(f"\nsample after training (temperature 0.8, top-k 10):\n{sample_text[:300]}")
    payload = {
        "machine": info,
        **ours_out,
        "same_weights_first_loss": {"ours": loss_j, "torch": loss_t, "equal": same},
        "torch": {"tokens_per_s": tps_torch, "test_bpc": bpc_torch, "pass_loss": curve_torch,
                  "threads": best_threads, "pass_s_by_threads": t_torch,
                  "tokens_per_s_by_threads": tps_by_threads},
        "numpy": {"tokens_per_s": tps_numpy, "step_s": np_times},
        "generation": gen,
        "ratios": ratios,
        "sample": sample_text,
    }  # fmt: skip
    finish(args, payload, t0, check)


if __name__ == "__main__":
    main()
