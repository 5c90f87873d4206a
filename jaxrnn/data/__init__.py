"""Data sets, the Keras-compatible tokenizer, and encoding to padded id arrays."""

from jaxrnn.data.sentiment import Split, TextDataset, load_sentiment
from jaxrnn.data.tokenizer import KERAS_FILTERS, Tokenizer, pad_sequences, text_to_words

__all__ = [
    "KERAS_FILTERS",
    "Split",
    "TextDataset",
    "Tokenizer",
    "load_sentiment",
    "pad_sequences",
    "text_to_words",
]
