"""MNIST-1D wall time, ours against PyTorch, one configuration, in one process.

    python benchmarks/mnist1d_wall.py [--json PATH] [--seeds N] [--torch-threads N]
        [--config '{"model": "gru", "hidden": 128, "epochs": 60, ...}'] [--quick]

Issue 25's MNIST-1D goal asks for test accuracy >= 0.97 "in less wall time than" PyTorch's
GRU of 128 trained 60 epochs with Adam (the data set's reference run). ``real_data.py``
times both sides only as a by-product of its selection and seeds; this script times just
the two trainings of one configuration, in one process, on the same data as
``real_data.py`` (``jaxrnn.datasets.mnist1d``: 4,000 training and 1,000 test sequences of
40 steps, the same standardisation, ``real_data.torch_classify``'s PyTorch loop).

Per side: wall seconds of the whole training over ``--seeds`` seeds (ours: one ``fit`` that
trains the seeds together, its compile included and also reported apart; PyTorch: one seed
after another, each its loop and test pass) and the mean test accuracy.
Default configuration: the reference run's (GRU 128, 60 epochs, batch 64, Adam 3e-3,
no dropout). ``--quick``: 200/100 sequences, 2 epochs, width 16, PyTorch on one thread unless
``--torch-threads`` says otherwise (the smoke test; figures mean nothing; on a busy machine
torch's threads spin waiting on each other). Time it only on a quiet machine: the JSON
carries the load verdict.
"""

from __future__ import annotations

import json
import os
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)

from _common import QuietCheck, finish, header, parser, table  # noqa: E402

REFERENCE = dict(model="gru", hidden=128, epochs=60, lr=3e-3, batch_size=64, dropout=0.0)


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--config", default=json.dumps(REFERENCE),
                    help="TrainConfig fields as JSON [the reference run's]")  # fmt: skip
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--torch-threads", type=int, default=None, metavar="N",
                    help="PyTorch's intra-op threads [its default; --quick: 1]")  # fmt: skip
    args = ap.parse_args()
    check = QuietCheck()
    t0 = time.perf_counter()
    info = header(["torch"])
    import numpy as np
    from real_data import _subset, torch_classify, train_ours

    from jaxrnn.datasets import mnist1d

    cand = json.loads(args.config)
    train, test = mnist1d()
    if args.quick:
        train, test = _subset(train, np.arange(200)), _subset(test, np.arange(100))
        cand = {**cand, "epochs": 2, "hidden": 16}
        if args.torch_threads is None:
            args.torch_threads = 1
    ours = train_ours("classify", cand, args.seeds, (train, test))
    pt = torch_classify(train, test, cand, ours["seeds"], args.torch_threads)
    rows = [{"side": "jaxrnn", "test_acc": ours["mean"], "wall_s": ours["wall_s"],
             "compile_s": ours["compile_s"]},
            {"side": f"PyTorch ({pt['torch_threads']} threads)", "test_acc": pt["mean"],
             "wall_s": pt["wall_s"], "compile_s": None}]  # fmt: skip
    table(f"MNIST-1D, {cand}, {args.seeds} seed(s)", rows)
    ratio = pt["wall_s"] / ours["wall_s"]
    print(f"\nPyTorch wall / ours: {ratio:.2f}x (ours faster when > 1)")
    payload = {"machine": info, "config": cand, "seeds": args.seeds, "ours": ours, "pytorch": pt,
               "pytorch_over_ours": ratio}  # fmt: skip
    finish(args, payload, t0, check)


if __name__ == "__main__":
    main()
