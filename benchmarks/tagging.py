"""Per-token tagging, training throughput: jaxrnn vs PyTorch (``pack_padded_sequence``).

The same model on both sides: embedding 32 (padding row 0), a one-layer LSTM of 64 per
direction (BiLSTM, and the forward LSTM), a dense readout per token, softmax
cross-entropy averaged over the real tokens, Adam 1e-2, batches of 32 sentences of
``jaxrnn.data.generators.entities``'s generated task (2000 sentences, 5-16 tokens),
in the same order.

* ours: ``jaxrnn.SequenceTagger`` + ``jaxrnn.training.tasks.tagging()``, one epoch = one jitted
  ``lax.scan`` of ``jaxrnn.train_step`` over the batches (each padded to the longest
  sentence of the data set, masked by lengths), as ``python -m jaxrnn.train --task tag``
  trains;
* PyTorch: ``nn.Embedding`` -> ``pack_padded_sequence(enforce_sorted=False)`` -> ``nn.LSTM``
  -> ``pad_packed_sequence`` -> ``nn.Linear``, ``CrossEntropyLoss(ignore_index=-1)``,
  ``torch.optim.Adam``; one epoch = a Python loop over the same batches.

Before timing, both start from the same weights (``jaxrnn.nn.interop.to_torch``) and must
give the same loss on the first batch, and the same loss again after one Adam step on
it (so the gradients agree too); the JSON records both pairs. Then whole epochs are
timed in alternation (``_timing.bench``), and tokens/s counts real tokens only.
``--quick`` (the smoke test): the BiLSTM alone on 64 sentences (two batches), one timed
epoch.

JSON (``--json``): ``machine``, ``settings``, ``cases`` (per model: ``check``
{loss_ours, loss_torch, loss_after_step_ours, loss_after_step_torch}, ``ours_ms``,
``torch_ms`` (per epoch: median, min, samples), ``tokens_per_epoch``,
``ours_tokens_per_s``, ``torch_tokens_per_s``, ``speedup``), ``script_wall_s``; at the top,
whether the machine was quiet (``quiet``, ``load``, ``cpus``, ``others_cores``,
``quiet_check``: README, "Quiet machines").
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# first: the script runs again under the allocator's tunable (_common) before the imports
import _common  # noqa: E402, F401, I001
import numpy as np  # noqa: E402

from _common import QuietCheck, finish, header, parser, table  # noqa: E402
from _timing import bench  # noqa: E402

EMBED, HIDDEN, LR, BATCH = 32, 64, 1e-2, 32


def data(n: int):
    """Encoded generated sentences and their vocabulary."""
    from jaxrnn.data.conll import TagVocab
    from jaxrnn.data.generators.entities import make_tagging

    sents = make_tagging(n, seed=0)
    vocab = TagVocab.fit(sents)
    return vocab.encode(sents), vocab


def ours(model, params, enc, batches):
    """``(epoch(), loss(rows), step(rows))`` for jaxrnn: epoch trains over every batch."""
    import jax
    import jax.numpy as jnp
    import optax

    import jaxrnn
    from jaxrnn.training import loop, tasks

    opt = optax.adam(LR)
    task = tasks.tagging()
    step = loop.train_step(model, opt, task)
    rows = tasks.TagRows(jnp.asarray(enc.ids), jnp.asarray(enc.lengths), jnp.asarray(enc.tags))
    ones = jnp.ones(BATCH, jnp.float32)

    def batch_of(idx):
        return jaxrnn.Batch(jax.tree.map(lambda a: a[idx], rows), ones)

    @jax.jit
    def run_epoch(state, order):  # order [nb, BATCH]
        return jax.lax.scan(lambda s, idx: (step(s, batch_of(idx), None)[0], None), state,
                            order)[0]  # fmt: skip

    @jax.jit
    def loss(params, idx):
        return loop.batch_loss(model, task, params, batch_of(idx), (), None)[0]

    state = [loop.TrainState(params, opt.init(params), loop.seed_key(0))]
    order = jnp.asarray(batches)

    def epoch():
        state[0] = jax.block_until_ready(run_epoch(state[0], order))

    def one_step(idx):
        s = jax.jit(step)(loop.TrainState(params, opt.init(params), loop.seed_key(0)),
                          batch_of(jnp.asarray(idx)), None)[0]  # fmt: skip
        return float(loss(s.params, jnp.asarray(idx)))

    return epoch, lambda idx: float(loss(params, jnp.asarray(idx))), one_step


def torch_side(model, params, enc, batches, num_tags: int):
    """The same for PyTorch, from the same weights."""
    import torch
    from _torch_models import Tagger, tag_loss

    ids, tags, lengths = (torch.from_numpy(np.asarray(a, np.int64))
                          for a in (enc.ids, enc.tags, enc.lengths))  # fmt: skip

    def loss_of(net, idx):
        idx = torch.from_numpy(np.asarray(idx))
        return tag_loss(net, ids[idx], lengths[idx], tags[idx])

    def fresh():
        net = Tagger.from_ours(model, params)
        return net, torch.optim.Adam(net.parameters(), lr=LR)

    net, opt = fresh()

    def epoch():
        for idx in batches:
            opt.zero_grad()
            loss_of(net, idx).backward()
            opt.step()

    def loss(idx):
        with torch.no_grad():
            return float(loss_of(fresh()[0], idx))

    def one_step(idx):
        n2, o2 = fresh()
        o2.zero_grad()
        loss_of(n2, idx).backward()
        o2.step()
        with torch.no_grad():
            return float(loss_of(n2, idx))

    return epoch, loss, one_step


def run_case(name: str, bidirectional: bool, enc, vocab, reps: int) -> dict:
    import jax

    from jaxrnn.nn import models, sequence

    layer = sequence.RecurrentLayer("lstm", HIDDEN, 1, bidirectional)
    model = models.SequenceTagger(layer, vocab.vocab_size, vocab.num_tags, EMBED)
    params = jax.tree.map(np.asarray, models.init_params_numpy(model, 0))
    rng = np.random.default_rng(0)
    nb = len(enc.ids) // BATCH  # whole batches only, the same on both sides
    batches = rng.permutation(len(enc.ids))[: nb * BATCH].reshape(nb, BATCH)
    ep_ours, loss_ours, step_ours = ours(model, jax.tree.map(jax.numpy.asarray, params), enc,
                                         batches)  # fmt: skip
    ep_torch, loss_torch, step_torch = torch_side(model, params, enc, batches, vocab.num_tags)
    check = {"loss_ours": loss_ours(batches[0]), "loss_torch": loss_torch(batches[0]),
             "loss_after_step_ours": step_ours(batches[0]),
             "loss_after_step_torch": step_torch(batches[0])}  # fmt: skip
    for a, b in (("loss_ours", "loss_torch"), ("loss_after_step_ours", "loss_after_step_torch")):
        if not np.isclose(check[a], check[b], rtol=1e-4, atol=1e-6):
            raise SystemExit(f"{name}: {a} {check[a]} != {b} {check[b]}: not the same model")
    stats = bench({"ours": ep_ours, "torch": ep_torch}, reps=reps, warmup=1)
    tokens = int(enc.lengths[batches].sum())
    o, t = stats["ours"].median_ms, stats["torch"].median_ms
    return {"case": name, "check": check, "ours_ms": stats["ours"].to_json(),
            "torch_ms": stats["torch"].to_json(), "batches": nb, "tokens_per_epoch": tokens,
            "ours_tokens_per_s": tokens / o * 1e3, "torch_tokens_per_s": tokens / t * 1e3,
            "speedup": t / o}  # fmt: skip


def main() -> int:
    ap = parser(__doc__)
    ap.add_argument("--torch-threads", type=int, help="torch.set_num_threads (default: torch's)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    check = QuietCheck()
    import torch

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)

    info = header(("torch",))
    n, reps = (64, 1) if args.quick else (2000, 7)  # --quick: two batches, one timed epoch
    enc, vocab = data(n)
    cases = [("bilstm", True)] if args.quick else [("bilstm", True), ("lstm", False)]
    rows = [run_case(name, bi, enc, vocab, reps) for name, bi in cases]
    table("tagging, one training epoch (median ms; tokens/s: real tokens)", [
        {"case": r["case"], "ours ms": r["ours_ms"]["median_ms"],
         "torch ms": r["torch_ms"]["median_ms"], "ours tok/s": r["ours_tokens_per_s"],
         "torch tok/s": r["torch_tokens_per_s"], "speedup": r["speedup"],
         "loss ours/torch": f"{r['check']['loss_ours']:.6f}/{r['check']['loss_torch']:.6f}"}
        for r in rows])  # fmt: skip
    payload = {"machine": info, "settings": {"sentences": n, "embed": EMBED, "hidden": HIDDEN,
               "lr": LR, "batch": BATCH, "max_len": int(enc.ids.shape[1]), "reps": reps,
               "torch_threads": torch.get_num_threads()}, "cases": rows}  # fmt: skip
    finish(args, payload, t0, check)
    return 0


if __name__ == "__main__":
    sys.exit(main())
