"""``--task classify``: a label per text (the study's task; the default)."""

from __future__ import annotations

from jaxrnn.data import Tokenizer
from jaxrnn.runs import build, prepare, report
from jaxrnn.runs.predictor import Predictor
from jaxrnn.runs.registry import TaskSpec, register
from jaxrnn.training import tasks


def predictor(cfg, model, params, vocab, label_names, num_seeds: int, batch_size: int = 512
              ) -> Predictor:  # fmt: skip
    """A label and class probabilities per text (``jaxrnn.runs.predictor.Predictor``)."""
    return Predictor.from_parts(model, params, vocab, label_names, num_seeds=num_seeds,
                                batch_size=batch_size)  # fmt: skip

SPEC = register(TaskSpec(
    "classify",
    prepare=lambda cfg, vocab: prepare.prepare_data(cfg, tokenizer=vocab),
    build_model=lambda cfg, vocab, labels: build.build_model(cfg, vocab.vocab_size,
                                                             max(2, len(labels))),
    task=lambda cfg, model: tasks.classification(),
    vocab_from_dict=Tokenizer.from_dict,
    test_report=report.test_report,
    predictor=predictor,
))  # fmt: skip
