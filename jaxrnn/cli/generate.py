"""``python -m jaxrnn.generate``: sample text from a ``--task lm`` checkpoint.

::

    python -m jaxrnn.train --task lm --model lstm --data corpus.txt --save lm.ckpt
    python -m jaxrnn.generate --checkpoint lm.ckpt --prime "The " --length 300 \\
        --temperature 0.8 --top-k 10 --seed 0 --num-samples 2

Sampling is ``jaxrnn.nn.lm.sample``: one compiled ``lax.scan`` over the tokens, all samples
in one batch, the same text for the same seed. The prime text warms the state and is
printed before its continuation; without one, sampling starts after a line break (char
level) or ``<eos>`` (word level). A checkpoint of several seeds samples from the first.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from jaxrnn.cli._common import Parser, run
from jaxrnn.errors import CheckpointError, ConfigError, UsageError


def build_parser() -> argparse.ArgumentParser:
    """The flags of ``python -m jaxrnn.generate``."""
    p = Parser(prog="python -m jaxrnn.generate",
                description="Sample text from a language model trained with "
                "python -m jaxrnn.train --task lm --save CK.")  # fmt: skip
    p.add_argument("--checkpoint", required=True, metavar="CK", help="a --task lm checkpoint")
    p.add_argument("--prime", default=None, metavar="TEXT",
                   help="text that warms the state, printed before what follows it")
    p.add_argument("--length", type=int, default=200, metavar="N", help="tokens to draw [200]")
    p.add_argument("--temperature", type=float, default=1.0, metavar="T",
                   help="divide the logits by T: below 1 safer, above 1 wilder [1.0]")
    p.add_argument("--top-k", type=int, default=0, metavar="K",
                   help="draw from the K most likely tokens only, 0 = all [0]")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="sampling seed [0]")
    p.add_argument("--num-samples", type=int, default=1, metavar="M",
                   help="independent samples, drawn together [1]")
    p.add_argument("--quiet", action="store_true", help="no sample headers, no speed line")
    return p  # fmt: skip


def _checked(args: argparse.Namespace) -> None:
    if args.length < 1:
        raise ConfigError(f"--length must be at least 1, got {args.length}")
    if args.num_samples < 1:
        raise ConfigError(f"--num-samples must be at least 1, got {args.num_samples}")
    if not (args.temperature > 0 and args.temperature < float("inf")):
        raise ConfigError(f"--temperature must be a positive number, got {args.temperature}")
    if args.top_k < 0:
        raise ConfigError(f"--top-k must be >= 0 (0 = all tokens), got {args.top_k}")


def generate(args: argparse.Namespace) -> tuple[list[str], float]:
    """The samples (prime included) and the tokens drawn per second (compile excluded)."""
    from jaxrnn.runs.checkpoints import load_checkpoint
    from jaxrnn.runs.predictor import LanguageModelPredictor
    from jaxrnn.runs.registry import PREDICT_INPUTS, task_info

    _checked(args)
    r = load_checkpoint(args.checkpoint)
    info = task_info(r.config)
    if not info.generates:
        # one line that names the command that serves it
        raise CheckpointError(f"{args.checkpoint} is a --task {info.name} checkpoint, not a "
                              f"language model (--task lm): "
                              f"{PREDICT_INPUTS[info.predict_input][0]}")  # fmt: skip
    lm = LanguageModelPredictor.from_parts(r.model, r.state.params, r.tokenizer,
                                           num_seeds=len(r.seeds))  # fmt: skip
    kw = dict(seed=args.seed, temperature=args.temperature, top_k=args.top_k,
              num_samples=args.num_samples)  # fmt: skip
    lm.sample_ids(args.prime, args.length, **kw)  # compile (and warm up)
    t = time.perf_counter()
    toks = lm.sample_ids(args.prime, args.length, **kw)
    rate = toks.size / (time.perf_counter() - t)
    return lm.decode(args.prime, toks), rate


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m jaxrnn.generate``; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        from jaxrnn.training import checkpoint_file

        checkpoint_file.check_readable(args.checkpoint)  # before JAX starts
        from jaxrnn.util import cache as _cache

        _cache.enable()
        samples, rate = generate(args)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    for i, text in enumerate(samples):
        if not args.quiet and len(samples) > 1:
            print(f"--- sample {i + 1} ---")
        print(text)
    if not args.quiet:
        print(f"({len(samples)} x {args.length} tokens, {rate:,.0f} tokens/s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
