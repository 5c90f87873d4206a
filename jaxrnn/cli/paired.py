"""Compare two models honestly: ``python -m jaxrnn.paired A B --seeds N [train flags]``.

::

    python -m jaxrnn.paired lstm gru --seeds 10
    python -m jaxrnn.paired lstm gru --seeds 10 --data emotions.csv --resplit --json cmp.json

Both models train on the same splits with the same seeds (every other flag is passed to
``python -m jaxrnn.train`` for both), so seed ``s`` of A and seed ``s`` of B form a pair:
the comparison is the mean of the per-seed differences ``A_s - B_s`` of the final metric
(``--metric``, default ``test_acc``) with its 95% t-interval (``jaxrnn.runs.results.summarize``).
A paired interval is narrower than two separate ones whenever the split and the seed move
both models alike. With ``--resplit`` every seed also draws its own train/test split of
``--data``, so the interval covers the spread over splits too.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence

from jaxrnn.errors import ConfigError, UsageError
from jaxrnn.runs.config import MODEL_NAMES, resolve_config
from jaxrnn.runs.results import better_direction, bounds_of, summarize, write_json


def paired_difference(a: Sequence[float], b: Sequence[float], metric: str = "test_acc") -> dict:
    """``summarize`` of ``a[i] - b[i]`` (clipped to ``[-1, 1]`` for a metric in ``[0, 1]``)."""
    if len(a) != len(b) or len(a) < 2:
        raise ConfigError("a paired comparison needs the same seeds, at least 2, for both models")
    bounds = (-1.0, 1.0) if bounds_of(metric) else None
    return summarize([x - y for x, y in zip(a, b, strict=True)], bounds)


def _note(line: str) -> None:
    print(line, file=sys.stderr)


METRIC_PREFIXES = ("train_", "test_", "val_", "eval_", "cv_", "ensemble_")


def paired_verdict(a: str, b: str, metric: str, diff: dict) -> str:
    """What the interval of ``A - B`` (``diff["mean"]``, ``diff["ci95"]``) says: no difference
    shown, or which model is better; for a loss, an error or bits/char the lower value is the
    better one (``better_direction``)."""
    lo, hi = diff["ci95"]
    if lo <= 0 <= hi:
        return "the interval contains 0: no difference shown at this many seeds"
    higher, lower = (a, b) if diff["mean"] > 0 else (b, a)
    way = better_direction(metric)
    if way > 0:
        return f"{higher} is better"
    if way < 0:
        return f"{lower} is better (lower {metric})"
    return f"{higher} is higher"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m jaxrnn.paired``; returns the exit code."""
    from jaxrnn.cli._common import Parser, check_outputs
    from jaxrnn.cli.train import (
        build_parser,
        config_from_args,
        given_on_command_line,
        refuse_ignored,
    )

    p = Parser(prog="python -m jaxrnn.paired", description=__doc__.split("\n\n")[0],
               epilog="Any other flag is a python -m jaxrnn.train flag, applied to both models "
               "(--seeds N is required, N >= 2).")  # fmt: skip
    p.add_argument("a", metavar="A", choices=MODEL_NAMES, help="the first model (a --model name)")
    p.add_argument("b", metavar="B", choices=MODEL_NAMES, help="the second model")
    p.add_argument("--metric", default="test_acc",
                   help="the final metric to compare (default: test_acc)")  # fmt: skip
    args, rest = p.parse_known_args(argv)
    train_parser = build_parser()
    train_parser.prog = "python -m jaxrnn.paired"  # its errors name the command typed
    train_args = train_parser.parse_args(rest)
    try:
        if "--model" in rest or any(r.startswith("--model=") for r in rest):
            raise ConfigError("give the two models as A B, not --model")
        for flag in ("save", "resume", "confusion_png"):
            if getattr(train_args, flag):
                hint = ("; it trains two new models: python -m jaxrnn.train --resume CK "
                        "continues a checkpoint" if flag == "resume" else "")  # fmt: skip
                raise ConfigError(f"--{flag.replace('_', '-')} is not supported by a "
                                  f"comparison{hint}")  # fmt: skip
        refuse_ignored(train_args.task, given_on_command_line(rest))
        check_outputs([("--json", train_args.json)],
                      [("--data", train_args.data), ("--test-data", train_args.test_data)])
        if train_args.seeds < 2:
            raise ConfigError("a paired comparison needs --seeds N with N >= 2")
        # a name no run reports is refused before training (the exact list comes after)
        if not args.metric.startswith(METRIC_PREFIXES) and args.metric != "best_epoch":
            raise ConfigError(f"--metric {args.metric}: a final metric starts with "
                              f"{', '.join(METRIC_PREFIXES)} (e.g. test_acc, test_loss)")
        from jaxrnn.runs.run import fit

        base = config_from_args(train_args)
        results = {}
        for name in (args.a, args.b):
            cfg = resolve_config(dataclasses.replace(base, model=name))
            print(f"training {name}: {train_args.seeds} seeds"
                  + (", a split per seed" if cfg.resplit else ""), file=sys.stderr)  # fmt: skip
            results[name] = fit(cfg, seeds=train_args.seeds, note=_note)
        values = {}
        for name, r in results.items():
            finals = [r.seed_final(i) for i in range(len(r.seeds))]
            if args.metric not in finals[0]:
                raise ConfigError(f"--metric {args.metric} is not a final metric; choose from "
                                  f"{', '.join(finals[0])}")  # fmt: skip
            values[name] = [f[args.metric] for f in finals]
        diff = paired_difference(values[args.a], values[args.b], args.metric)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    seeds = results[args.a].seeds
    a, b, m = args.a, args.b, args.metric
    w = max(len(a), len(b), 6)
    print(f"{'seed':>4}  {a:>{w}}  {b:>{w}}  {'A - B':>{w}}")
    for s, x, y in zip(seeds, values[a], values[b], strict=True):
        print(f"{s:>4}  {x:>{w}.3f}  {y:>{w}.3f}  {x - y:>+{w}.3f}")
    lo, hi = diff["ci95"]
    verdict = paired_verdict(a, b, m, diff)
    split = "a split per seed" if base.resplit else "one split"
    print(f"{a} - {b}, {m}: mean difference {diff['mean']:+.3f}, 95% interval "
          f"[{lo:+.3f}, {hi:+.3f}] over {len(seeds)} paired seeds ({split}); "
          f"{verdict}")  # fmt: skip
    if train_args.json:
        write_json(train_args.json, {
            "a": a, "b": b, "metric": m, "seeds": seeds, "resplit": bool(base.resplit),
            "values": values, "difference": diff,
            "summary": {n: summarize(v, bounds_of(m)) for n, v in values.items()},
        })  # fmt: skip
    return 0


if __name__ == "__main__":
    from jaxrnn.cli._common import run

    sys.exit(run(main))
