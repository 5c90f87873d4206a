"""``--task classify``: a label per text (the study's task; the default), or per numeric
sequence (``.npz``, UCR ``.tsv``/``.txt``, UEA ``.ts`` files: ``jaxrnn.runs.prepare_numeric``).

Which one a run is follows its data (``prepare_numeric.is_numeric``) and, once trained, its
vocabulary: a ``Tokenizer`` for texts, a ``NumericVocab`` (channels and the training split's
standardiser) for numeric sequences.
"""

from __future__ import annotations

from typing import Any

from jaxrnn.data import Tokenizer
from jaxrnn.runs import prepare, report
from jaxrnn.runs.predictor import NumericPredictor, Predictor
from jaxrnn.runs.prepare_numeric import NumericVocab, is_numeric, prepare_numeric
from jaxrnn.runs.registry import TaskSpec, register

# ``build`` and ``jaxrnn.training.tasks`` import JAX (~1 s): imported where used, so a run on
# a malformed data file says so before JAX starts (``fit`` reads the data first).


def predictor(cfg, model, params, vocab, label_names, num_seeds: int, batch_size: int = 512
              ) -> Predictor | NumericPredictor:  # fmt: skip
    """A label and class probabilities per text (``jaxrnn.runs.predictor.Predictor``) or per
    numeric sequence (``NumericPredictor``)."""
    cls = NumericPredictor if isinstance(vocab, NumericVocab) else Predictor
    return cls.from_parts(model, params, vocab, label_names, num_seeds=num_seeds,
                          batch_size=batch_size)  # fmt: skip


def prepare_classify(cfg, vocab: Any = None):
    """The run's data: numeric sequences or texts (``vocab``: the checkpoint's, to resume)."""
    if is_numeric(cfg, vocab):
        return prepare_numeric(cfg, vocab)
    return prepare.prepare_data(cfg, tokenizer=vocab)


def build_model(cfg, vocab: Any, labels: list[str]):
    """``build.build_numeric_model`` for numeric sequences, else ``build.build_model``."""
    from jaxrnn.runs import build

    if isinstance(vocab, NumericVocab):
        return build.build_numeric_model(cfg, vocab.num_features, max(2, len(labels)))
    return build.build_model(cfg, vocab.vocab_size, max(2, len(labels)))


def vocab_from_dict(d: dict) -> Tokenizer | NumericVocab:
    """A checkpoint's ``"tokenizer"`` entry: a ``NumericVocab`` or a ``Tokenizer``."""
    if isinstance(d, dict) and d.get("kind") == "numeric_vocab":
        return NumericVocab.from_dict(d)
    return Tokenizer.from_dict(d)


def classification_task(cfg, model, data):
    """The classification ``jaxrnn.training.tasks.Task`` (the same for every run)."""
    from jaxrnn.training import tasks

    return tasks.classification()


SPEC = register(TaskSpec(
    "classify",
    prepare=prepare_classify,
    build_model=build_model,
    task=classification_task,
    vocab_from_dict=vocab_from_dict,
    test_report=report.test_report,
    predictor=predictor,
))  # fmt: skip
