"""Data sets, the Keras-compatible tokenizer, and encoding to padded id arrays.

``make_emotions``, ``write_table`` and ``EMOTIONS`` (from ``jaxrnn.data.synthetic``)
are loaded on first use, so ``python -m jaxrnn.data.synthetic`` runs cleanly.
"""

from typing import Any

from jaxrnn.data.files import RawTable, load_dataset, load_table, stratified_split
from jaxrnn.data.sentiment import Split, TextDataset, load_sentiment
from jaxrnn.data.tokenizer import KERAS_FILTERS, Tokenizer, pad_sequences, text_to_words

_SYNTHETIC = ("EMOTIONS", "make_emotions", "write_table")

__all__ = [
    "EMOTIONS",
    "KERAS_FILTERS",
    "RawTable",
    "Split",
    "TextDataset",
    "Tokenizer",
    "load_dataset",
    "load_sentiment",
    "load_table",
    "make_emotions",
    "pad_sequences",
    "stratified_split",
    "text_to_words",
    "write_table",
]


def __getattr__(name: str) -> Any:
    if name in _SYNTHETIC:
        from jaxrnn.data import synthetic

        return getattr(synthetic, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
