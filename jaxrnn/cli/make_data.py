"""The data generators' commands: ``python -m jaxrnn.data.synthetic``, ``compositional``,
``tagging``, ``series`` and ``text``, one function each (``argv`` -> exit code).

The generators themselves are library code (``jaxrnn.data.generators``, ``jaxrnn.data.series``,
``jaxrnn.data.text``). ``python -m`` reaches these functions through
``jaxrnn._aliases.COMMANDS`` for the old generator names, and through a two-line hook in
``jaxrnn.data.series`` and ``jaxrnn.data.text`` (real modules, which no alias can
intercept); each data module's ``main`` forwards here too.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from jaxrnn.cli._common import Parser, check_outputs, run
from jaxrnn.data.conll import write_conll
from jaxrnn.data.files import FORMATS, _q, write_text_atomic
from jaxrnn.data.generators.compositional import (
    DEFAULT_N,
    DEFAULT_SEED,
    DEV_N,
    DEV_SEED,
    make_compositional,
    make_compositional_dev,
    write_compositional,
)
from jaxrnn.data.generators.entities import make_tagging
from jaxrnn.data.generators.synthetic import EMOTIONS, make_emotions, spread_lengths, write_table
from jaxrnn.data.series import make_periodic, write_series_csv
from jaxrnn.data.text import make_text
from jaxrnn.errors import DataError, UsageError, run_writer

__all__ = ["COMMANDS", "compositional", "series", "synthetic", "tagging", "text"]


def synthetic(argv: Sequence[str] | None = None) -> int:
    """``python -m jaxrnn.data.synthetic``: write a synthetic emotion data set to a file."""
    p = Parser(
        prog="python -m jaxrnn.data.synthetic",
        description="Write a seeded synthetic emotion data set (text,label rows) to "
        "CSV/TSV/JSONL/JSON.",
    )
    p.add_argument("--out", required=True, metavar="PATH",
                   help="output file (.csv/.tsv/.jsonl/.json)")  # fmt: skip
    p.add_argument(
        "--test-out",
        metavar="PATH",
        help="write the test split here and only the training split to --out "
        "(default: both splits to --out, for load_dataset to split)",
    )
    p.add_argument("--n-per-class", type=int, default=200, help="sentences per class [200]")
    p.add_argument("--seed", type=int, default=0, help="[0]")
    p.add_argument("--noise", type=float, default=0.0, help="training label noise in [0, 1) [0]")
    p.add_argument(
        "--classes", default=",".join(EMOTIONS), help=f"comma-separated subset of {EMOTIONS}"
    )
    p.add_argument("--test-fraction", type=float, default=0.2, help="[0.2]")
    p.add_argument("--format", choices=FORMATS, help="[from the extension]")
    p.add_argument("--length-spread", action="store_true",
                   help="texts of spread lengths (log-normal, median --median-words, clipped "
                   "to 5..--max-words: a long tail), as real data; see spread_lengths")
    p.add_argument("--median-words", type=int, default=15, help="with --length-spread [15]")
    p.add_argument("--max-words", type=int, default=100, help="with --length-spread [100]")
    p.add_argument("--outliers", type=int, default=0, metavar="N",
                   help="add N training rows of --outlier-words words each [0]")
    p.add_argument("--outlier-words", type=int, default=20_000, help="[20000]")
    args = p.parse_args(argv)

    def write() -> str:
        check_outputs([("--out", args.out), ("--test-out", getattr(args, "test_out", None))])
        ds = make_emotions(
            args.n_per_class, args.seed, args.classes, args.noise, args.test_fraction
        )
        if args.length_spread or args.outliers:
            ds = spread_lengths(ds, args.seed, args.median_words if args.length_spread else 1,
                                5 if args.length_spread else 1,
                                args.max_words if args.length_spread else 1, args.outliers,
                                args.outlier_words)  # fmt: skip
        if args.test_out:
            write_table(ds.train, args.out, args.format, label_names=ds.label_names)
            write_table(ds.test, args.test_out, args.format, label_names=ds.label_names)
            where = f"{len(ds.train.texts)} training rows to {args.out} and "
            where += f"{len(ds.test.texts)} test rows to {args.test_out}"
        else:
            write_table(ds, args.out, args.format)
            where = f"{len(ds.train.texts) + len(ds.test.texts)} rows to {args.out}"
        return f"wrote {where} ({len(ds.label_names)} classes: {', '.join(ds.label_names)})"

    return run_writer(write, args.out)


def compositional(argv: Sequence[str] | None = None) -> int:
    """``python -m jaxrnn.data.compositional``: write the compositional test set (or, with
    ``--split dev``, its dev split) to a file."""
    p = Parser(
        prog="python -m jaxrnn.data.compositional",
        description="Write held-out sentences composed from the training words by the "
        "training data's constructions (text,label,construction rows).",
    )
    p.add_argument("--out", required=True, metavar="PATH",
                   help="output file (.jsonl/.json/.csv/.tsv)")  # fmt: skip
    p.add_argument("--split", choices=("test", "dev"), default="test",
                   help="test: the held-out test set; dev: new combinations apart from it, to "
                   "choose on [test]")  # fmt: skip
    p.add_argument("--seed", type=int, help=f"[{DEFAULT_SEED} test, {DEV_SEED} dev]")
    p.add_argument("--n", type=int, help=f"number of sentences [{DEFAULT_N} test, {DEV_N} dev]")
    p.add_argument("--format", choices=FORMATS, help="[from the extension]")
    args = p.parse_args(argv)
    dev = args.split == "dev"
    n = args.n if args.n is not None else (DEV_N if dev else DEFAULT_N)
    seed = args.seed if args.seed is not None else (DEV_SEED if dev else DEFAULT_SEED)
    try:
        check_outputs([("--out", args.out)])
        data = (make_compositional_dev if dev else make_compositional)(n, seed)
        out = write_compositional(data, args.out, args.format)
    except (UsageError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    neg = data.split.labels.count(0)
    print(f"wrote {len(data.split.texts)} sentences ({neg} negative) to {out}")
    return 0


def tagging(argv: Sequence[str] | None = None) -> int:
    """``python -m jaxrnn.data.tagging``: write the entity-tagging task as CoNLL files."""
    p = Parser(
        prog="python -m jaxrnn.data.tagging",
        description="Write a seeded entity-tagging task (IOB2, token<TAB>tag lines) whose "
        "ambiguous names are typed by a cue before or after them.",
    )
    p.add_argument("--out", required=True, metavar="PATH", help="output CoNLL file")
    p.add_argument("--n", type=int, default=2000, help="sentences [2000]")
    p.add_argument("--seed", type=int, default=0, help="[0]")
    p.add_argument("--cue-after", type=float, default=0.5, help="fraction with the cue after [0.5]")
    p.add_argument("--ambiguous", type=float, default=0.5, help="fraction of ambiguous names [0.5]")
    p.add_argument("--test-out", metavar="PATH", help="also write a test split here")
    p.add_argument("--n-test", type=int, default=500, help="test sentences [500]")
    args = p.parse_args(argv)

    def write() -> str:
        check_outputs([("--out", args.out), ("--test-out", getattr(args, "test_out", None))])
        common = dict(seed=args.seed, cue_after=args.cue_after, ambiguous=args.ambiguous)
        train = make_tagging(args.n, **common)
        test = make_tagging(args.n_test, split="test", **common) if args.test_out else None
        write_conll(args.out, train)
        msg = f"wrote {len(train)} sentences to {args.out}"
        if test is not None:
            write_conll(args.test_out, test)
            msg += f" and {len(test)} to {args.test_out}"
        return msg

    return run_writer(write, args.out)


def series(argv: Sequence[str] | None = None) -> int:
    """``python -m jaxrnn.data.series``: write a seeded periodic series as CSV."""
    p = Parser(
        prog="python -m jaxrnn.data.series",
        description="Write a seeded noisy periodic series (time,load,temp,season) as CSV; "
        "forecast 'load'.",
    )
    p.add_argument("--out", required=True, metavar="PATH", help="output .csv file")
    p.add_argument("--n", type=int, default=2000, help="rows [2000]")
    p.add_argument("--period", type=int, default=24, help="steps per cycle [24]")
    p.add_argument("--noise", type=float, default=0.3, help="noise standard deviation [0.3]")
    p.add_argument("--seed", type=int, default=0, help="[0]")
    args = p.parse_args(argv)

    def write() -> str:
        check_outputs([("--out", args.out), ("--test-out", getattr(args, "test_out", None))])
        s = make_periodic(args.n, args.period, args.noise, args.seed)
        write_series_csv(args.out, s)
        return f"wrote {len(s.values)} rows to {args.out} (columns: time, {', '.join(s.columns)})"

    return run_writer(write, args.out)


def text(argv: Sequence[str] | None = None) -> int:
    """``python -m jaxrnn.data.text``: write the seeded demo text to a file."""
    p = Parser(
        prog="python -m jaxrnn.data.text",
        description="Write seeded English-like prose (for character/word language models).",
    )
    p.add_argument("--out", required=True, metavar="PATH", help="output text file")
    p.add_argument("--seed", type=int, default=0, help="[0]")
    p.add_argument("--n-chars", type=int, default=40_000, help="at least this many [40000]")
    args = p.parse_args(argv)

    def write() -> str:
        check_outputs([("--out", args.out), ("--test-out", getattr(args, "test_out", None))])
        text = make_text(args.seed, args.n_chars)
        write_text_atomic(args.out, text)
        return f"wrote {len(text)} characters to {args.out} ({_q(text[:30])}...)"

    return run_writer(write, args.out)


# python -m name -> the function it runs (jaxrnn._aliases.COMMANDS, or the data module's hook).
COMMANDS = {"jaxrnn.data.synthetic": synthetic, "jaxrnn.data.compositional": compositional,
            "jaxrnn.data.tagging": tagging, "jaxrnn.data.series": series,
            "jaxrnn.data.text": text}  # fmt: skip


def run_command(name: str) -> int:
    """Run the command ``python -m name`` (a key of ``COMMANDS``) on ``sys.argv``."""
    return run(COMMANDS[name])


if __name__ == "__main__":  # python -m jaxrnn.cli.make_data NAME [flags]
    if len(sys.argv) < 2 or sys.argv[1] not in {n.rsplit(".", 1)[1] for n in COMMANDS}:
        print(f"usage: python -m jaxrnn.cli.make_data "
              f"{{{','.join(n.rsplit('.', 1)[1] for n in COMMANDS)}}} [flags]", file=sys.stderr)
        sys.exit(2)
    name = sys.argv.pop(1)
    sys.exit(run_command(f"jaxrnn.data.{name}"))
