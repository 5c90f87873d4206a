"""Data sets, the Keras-compatible tokenizer, and encoding to padded id arrays.

``make_emotions``, ``write_table`` and ``EMOTIONS`` (from ``jaxrnn.data.generators.synthetic``),
``load_compositional`` and ``make_compositional`` (from ``jaxrnn.data.generators.compositional``)
are loaded on first use, so ``python -m jaxrnn.data.synthetic`` (or ``.compositional``)
runs cleanly.
"""

from typing import Any

from jaxrnn.data.checks import data_summary, label_warnings
from jaxrnn.data.files import RawTable, load_dataset, load_table, stratified_split
from jaxrnn.data.sentiment import Split, TextDataset, load_sentiment
from jaxrnn.data.tokenizer import (
    FILTER_MODES,
    KERAS_FILTERS,
    Tokenizer,
    pad_sequences,
    text_to_words,
)

_LAZY = {
    "EMOTIONS": "synthetic",
    "make_emotions": "synthetic",
    "write_table": "synthetic",
    "load_compositional": "compositional",
    "make_compositional": "compositional",
}

__all__ = [
    "EMOTIONS",
    "FILTER_MODES",
    "KERAS_FILTERS",
    "RawTable",
    "Split",
    "TextDataset",
    "Tokenizer",
    "data_summary",
    "label_warnings",
    "load_compositional",
    "load_dataset",
    "load_sentiment",
    "load_table",
    "make_compositional",
    "make_emotions",
    "pad_sequences",
    "stratified_split",
    "text_to_words",
    "write_table",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"jaxrnn.data.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
