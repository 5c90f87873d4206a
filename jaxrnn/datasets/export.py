"""Write a public data set as the files the command line reads; command line::

    python -m jaxrnn.datasets NAME --out DIR [--tag upos|xpos]

=====================  ==========================================================  ==========
NAME                   files written in DIR                                        for
=====================  ==========================================================  ==========
``mnist1d``            ``mnist1d_train.npz``, ``mnist1d_test.npz``                  classify
``turkish-treebank``   ``twt_web_train.conll``, ``twt_web_validation.conll``,       tag
                       ``twt_web_test.conll`` (``token<TAB>tag`` lines)
``python-manual``      ``python_manual.txt``                                        lm
``sunspots``           ``sunspots.csv`` (one column, ``SUNACTIVITY``)               regress
=====================  ==========================================================  ==========

Files are written atomically; nothing is downloaded (see :mod:`jaxrnn.datasets`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from jaxrnn.data.conll import write_conll
from jaxrnn.data.files import write_text_atomic
from jaxrnn.data.numeric import write_npz
from jaxrnn.data.series import write_series_csv
from jaxrnn.datasets.public import mnist1d, python_manual_text, sunspots, turkish_web_treebank
from jaxrnn.errors import ConfigError, run_writer

__all__ = ["NAMES", "main", "write_dataset"]

#: The data sets :func:`write_dataset` knows.
NAMES = ("mnist1d", "turkish-treebank", "python-manual", "sunspots")


def write_dataset(name: str, out: str | os.PathLike, tag: str = "upos") -> list[Path]:
    """Write data set ``name`` (one of :data:`NAMES`) into folder ``out``; the paths written.

    ``tag`` picks the treebank's tag column (``"upos"`` or ``"xpos"``).
    """
    folder = Path(os.fspath(out))
    if name == "mnist1d":
        train, test = mnist1d()
        return [write_npz(folder / "mnist1d_train.npz", train),
                write_npz(folder / "mnist1d_test.npz", test)]  # fmt: skip
    if name == "turkish-treebank":
        tb = turkish_web_treebank(tag)
        return [write_conll(folder / f"twt_web_{part}.conll", getattr(tb, part))
                for part in ("train", "validation", "test")]  # fmt: skip
    if name == "python-manual":
        return [write_text_atomic(folder / "python_manual.txt", python_manual_text())]
    if name == "sunspots":
        return [write_series_csv(folder / "sunspots.csv", sunspots(), start=None)]
    raise ConfigError(f"unknown data set {name!r}; use one of: {', '.join(NAMES)}")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m jaxrnn.datasets``: write a public data set's files."""
    p = argparse.ArgumentParser(
        prog="python -m jaxrnn.datasets",
        description="Write a public data set (read from installed packages, never downloaded) "
        "as the files jaxrnn's commands read.",
    )
    p.add_argument("name", choices=NAMES, help="the data set")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--tag", choices=("upos", "xpos"), default="upos",
                   help="the treebank's tag column [upos]")  # fmt: skip
    args = p.parse_args(argv)

    def write() -> str:
        paths = write_dataset(args.name, args.out, args.tag)
        return f"wrote {', '.join(str(q) for q in paths)}"

    return run_writer(write, args.out)


if __name__ == "__main__":
    sys.exit(main())
