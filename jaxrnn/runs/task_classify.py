"""``--task classify``: a label per text (the study's task; the default)."""

from __future__ import annotations

from jaxrnn.training import tasks
from jaxrnn.data import Tokenizer
from jaxrnn.runs import build, prepare, report
from jaxrnn.runs.registry import TaskSpec, register

SPEC = register(TaskSpec(
    "classify",
    prepare=lambda cfg, vocab: prepare.prepare_data(cfg, tokenizer=vocab),
    build_model=lambda cfg, vocab, labels: build.build_model(cfg, vocab.vocab_size,
                                                             max(2, len(labels))),
    task=lambda cfg, model: tasks.classification(),
    vocab_from_dict=Tokenizer.from_dict,
    test_report=report.test_report,
))  # fmt: skip
