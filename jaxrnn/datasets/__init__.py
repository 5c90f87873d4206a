"""Public data sets read from locally installed packages; nothing is downloaded at run time.

Each loader returns what the command line takes: numeric sequences for ``--task classify``
(:func:`mnist1d`), tagged sentences for ``--task tag`` (:func:`turkish_web_treebank`), a
text for ``--task lm`` (:func:`python_manual_text`) and a series for ``--task regress``
(:func:`sunspots`). The packages they read are the ``datasets`` extra::

    pip install "jaxrnn[datasets]"

A loader whose package is missing raises :class:`jaxrnn.errors.UsageError`, one line
naming that command. ``python -m jaxrnn.datasets NAME --out DIR`` writes a data set as the
files the commands read (:mod:`jaxrnn.datasets.export`).
"""

from jaxrnn.datasets.export import NAMES, write_dataset
from jaxrnn.datasets.public import (
    NumericSplits,
    TreebankSplits,
    mnist1d,
    python_manual_text,
    sunspots,
    turkish_web_treebank,
    turkish_web_treebank_path,
)

__all__ = [
    "NAMES",
    "NumericSplits",
    "TreebankSplits",
    "mnist1d",
    "python_manual_text",
    "sunspots",
    "turkish_web_treebank",
    "turkish_web_treebank_path",
    "write_dataset",
]
