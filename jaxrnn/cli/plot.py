"""``python -m jaxrnn.plot RUN.json [--out curves.png]``: draw a run's training curves.

``RUN.json`` is what ``python -m jaxrnn.train --json`` wrote (any task, one seed or
several): the loss and the task's metric per epoch, train and validation/test splits,
seeds as a band (``jaxrnn.evaluation.curves``). A checkpoint (``--save CK``) of any task
serves as well: it keeps the history of the epochs it holds. ``--out`` defaults to the
file's name with ``.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from jaxrnn.cli._common import Parser, check_outputs, run
from jaxrnn.errors import UsageError


def _checkpoint_run(path: str) -> dict | None:
    """The model, backend and histories of the checkpoint at ``path`` in a run JSON's keys
    (None: not a checkpoint; ``CheckpointError`` for a damaged one). Reads no JAX."""
    from jaxrnn.training import checkpoint_file

    with open(path, "rb") as fh:
        if fh.read(len(checkpoint_file.MAGIC)) != checkpoint_file.MAGIC:
            return None
    meta, _ = checkpoint_file.load(path)
    config, histories = meta.get("config") or {}, meta.get("histories") or [[]]
    run = {"model": config.get("model"), "backend": config.get("backend", "jax"),
           "history": histories[0]}  # fmt: skip
    if len(histories) > 1:
        run["per_seed"] = [{"seed": s, "history": h}
                           for s, h in zip(meta.get("seeds") or [], histories, strict=False)]
    return run


def main(argv: Sequence[str] | None = None) -> int:
    p = Parser(prog="python -m jaxrnn.plot", description=__doc__.split("\n\n")[0],
               formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("run", metavar="RUN.json", help="a run's JSON (python -m jaxrnn.train --json) "
                   "or a checkpoint (--save CK)")
    p.add_argument("--out", metavar="PNG", help="the figure (default: RUN.png)")
    p.add_argument("--title", help="the figure's title (default: the model and backend)")
    args = p.parse_args(argv)
    out = args.out or os.path.splitext(args.run)[0] + ".png"
    try:
        check_outputs([("--out", out)], [("RUN", args.run)], figures={"--out"})
        try:
            run = _checkpoint_run(args.run)
            if run is None:
                with open(args.run, encoding="utf-8-sig") as fh:  # a byte-order mark is fine
                    run = json.load(fh)
        except UsageError:  # a damaged checkpoint says so (CheckpointError is a ValueError)
            raise
        except OSError as e:
            raise UsageError(f"cannot read {args.run}: {e.strerror}") from None
        except ValueError:
            raise UsageError(f"{args.run} is not a JSON file (python -m jaxrnn.train --json "
                             "writes one)") from None  # fmt: skip
        if not isinstance(run, dict) or not (run.get("history") or run.get("per_seed")):
            raise UsageError(f"{args.run} has no per-epoch history: is it a run's --json or "
                             "a checkpoint?")
        from jaxrnn.evaluation.curves import plot_curves

        try:
            shown = plot_curves(run, out, args.title)
        except (KeyError, TypeError, ValueError, OverflowError) as e:  # a hand-made JSON
            raise UsageError(f"cannot draw {args.run}: its history is not a run's "
                             f"({type(e).__name__}: {e})") from None  # fmt: skip
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    print(f"wrote {out} ({' and '.join(shown)} per epoch)")
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
