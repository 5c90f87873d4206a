"""The ``python -m jaxrnn.train`` argument parser (flags map one-to-one onto ``TrainConfig``)."""

from __future__ import annotations

import argparse
import dataclasses

from jaxrnn.config import MODEL_NAMES, PRESETS, TrainConfig


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit code 2, no usage dump
        self.exit(2, f"{self.prog}: error: {message}\n")


def _max_len(text: str) -> int:
    if text == "auto":
        return 0
    v = int(text) if text.strip().lstrip("-").isdigit() else 0
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'auto', got {text!r}")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m jaxrnn.train",
        description="Train a recurrent text classifier (the bundled sentiment data unless "
        "--data is given). Unset flags take the chosen model's preset, shown in brackets.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )

    def preset(key):
        return ", ".join(f"{m}: {PRESETS[m][key]}" for m in MODEL_NAMES)

    g = p.add_argument_group("model and training")
    g.add_argument(
        "--model",
        default="rnn",
        choices=MODEL_NAMES,
        help="rnn = the study's scratch RNN; simple_rnn = the study's Keras model; "
        "lstm, gru; bilstm = 3 bidirectional LSTM layers of 128",
    )
    g.add_argument(
        "--backend",
        default="jax",
        choices=("jax", "numpy"),
        help="numpy = the scratch NumPy reference (model rnn only)",
    )
    g.add_argument("--optimizer", choices=("sgd", "adam"), help=f"[{preset('optimizer')}]")
    g.add_argument("--lr", type=float, help=f"learning rate [{preset('lr')}]")
    g.add_argument("--epochs", type=int, help=f"[{preset('epochs')}]")
    g.add_argument(
        "--batch-size", type=int, help=f"1 = per-sample updates [{preset('batch_size')}]"
    )
    g.add_argument("--hidden", type=int, help=f"hidden units per direction [{preset('hidden')}]")
    g.add_argument("--layers", type=int, help=f"stacked recurrent layers [{preset('layers')}]")
    g.add_argument(
        "--embed-dim", type=int, help=f"embedding size, 0 = one-hot [{preset('embed_dim')}]"
    )
    g.add_argument(
        "--dropout", type=float, help=f"dropout before the readout [{preset('dropout')}]"
    )
    g.add_argument(
        "--layer-dropout",
        type=float,
        help=f"dropout between stacked layers [{preset('layer_dropout')}]",
    )
    g.add_argument(
        "--clip", type=float, help=f"element-wise gradient clip, 0 = none [{preset('clip')}]"
    )
    g.add_argument(
        "--mask",
        action=argparse.BooleanOptionalAction,
        help="mask the padding (the cells stop at each text's length); --no-mask feeds it to "
        f"the cells as Keras does without mask_zero [{preset('mask')}]",
    )
    g.add_argument(
        "--bptt",
        default="exact",
        choices=("exact", "study"),
        help="numpy backend: exact gradient, or the study's W_hh·delta propagation",
    )
    g.add_argument(
        "--loop",
        default="auto",
        choices=("auto", "generic"),
        help="auto: hand-written-BPTT fast path for --model rnn with per-sample SGD; "
        "generic: jax.grad + optax for everything",
    )
    g.add_argument("--seed", type=int, default=0, help="seeds init, shuffling and dropout")
    g.add_argument(
        "--seeds",
        type=int,
        default=1,
        metavar="N",
        help="train N seeds (seed .. seed+N-1) at once, vmapped in one program",
    )
    g.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    g.add_argument(
        "--seed-group",
        type=int,
        default=0,
        metavar="K",
        help="with --seeds: train K seeds at a time vmapped, the groups one after another in "
        "the same compiled program (lax.map); K >= seeds vmaps them all. 0 = auto: all at "
        "once, except on CPU where one seed's steps already fill the cores (per-sample SGD, "
        "LSTM/GRU/BiLSTM presets), which run one seed at a time [0]",
    )
    g.add_argument(
        "--compile",
        dest="compile_mode",
        default="auto",
        metavar="{auto,fast,full}",
        help="XLA optimisation of the training program: fast (backend level 0, classic CPU loop "
        "emitters) compiles in 0.28-0.61x the time and runs 2.6-3.7x slower, worth it for short "
        "runs; auto picks fast on CPU when the estimated training work is under a quarter of a "
        "second [auto]",
    )
    g.add_argument(
        "--devices",
        type=int,
        default=0,
        metavar="N",
        help="spread training over the first N JAX devices, 0 = all (several seeds: "
        "seeds are split; one model: each batch is split)",
    )
    g.add_argument(
        "--data-parallel",
        default="xla",
        metavar="{xla,shard_map}",
        help="how a batch is split over devices: xla (sharded inputs, XLA partitions the step; "
        "the same numbers as one device, dropout included) or shard_map (each device runs the "
        "step on its slice, gradients summed; dropout masks drawn per device; faster on CPU "
        "devices for larger batches) [xla]",
    )

    d = p.add_argument_group("data")
    d.add_argument(
        "--data", metavar="PATH", help="CSV, TSV or JSONL with a text and a label column"
    )
    d.add_argument(
        "--test-data", metavar="PATH", help="test file (else a stratified split of --data)"
    )
    d.add_argument(
        "--test-fraction", type=float, default=0.2, help="test share when splitting --data"
    )
    d.add_argument(
        "--format",
        dest="data_format",
        choices=("csv", "tsv", "jsonl"),
        help="file format (default: from the extension: .csv, .tsv/.tab, .jsonl/.ndjson)",
    )
    d.add_argument("--text-column", default="text", help="name of the text column / JSON key")
    d.add_argument("--label-column", default="label", help="name of the label column / JSON key")
    d.add_argument(
        "--num-words",
        type=int,
        help=f"keep word ids below this (Keras num_words), 0 = all [{preset('num_words')}]",
    )
    d.add_argument(
        "--max-len",
        type=_max_len,
        metavar="N|auto",
        help="pad/truncate to N tokens; auto = longest training text "
        f"[{preset('max_len')}, 0 = auto]",
    )
    d.add_argument(
        "--oov-token",
        metavar="TOKEN",
        help="map words unseen in training to this token (default: drop them)",
    )

    m = p.add_argument_group("multi-host (see jaxrnn.distributed)")
    m.add_argument(
        "--coordinator",
        metavar="HOST:PORT",
        help="process 0's address; starts jax.distributed (env JAX_COORDINATOR_ADDRESS)",
    )
    m.add_argument("--num-processes", type=int, metavar="N", help="env JAX_NUM_PROCESSES")
    m.add_argument("--process-id", type=int, metavar="I", help="0..N-1, env JAX_PROCESS_ID")

    o = p.add_argument_group("output and checkpoints")
    o.add_argument("--json", metavar="PATH", help="write config, history and timings as JSON")
    o.add_argument(
        "--save", metavar="PATH", help="write a checkpoint here (at the end, and see --save-every)"
    )
    o.add_argument("--save-every", type=int, metavar="N", help="also checkpoint every N epochs")
    o.add_argument(
        "--resume",
        metavar="PATH",
        help="continue training from this checkpoint "
        "(its settings are used; --epochs may extend the run)",
    )
    o.add_argument(
        "--confusion-png",
        metavar="PATH",
        help="draw the test confusion matrix (first seed) to this PNG",
    )
    o.add_argument(
        "--log-every",
        type=int,
        metavar="N",
        help="log every N epochs (default: every epoch up to 20, else epochs/10)",
    )
    o.add_argument("--quiet", action="store_true", help="no per-epoch lines, no progress bar")
    o.add_argument(
        "--no-compile-cache",
        action="store_true",
        help="do not keep compiled programs on disk (see JAXRNN_CACHE_DIR)",
    )
    return p  # fmt: skip


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in vars(args).items() if k in names})
