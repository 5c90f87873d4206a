"""What a run prints and reports: epoch lines, per-epoch records, the test report."""

from __future__ import annotations

import numpy as np

from jaxrnn.config import METRIC_NAMES
from jaxrnn.metrics import classification_report
from jaxrnn.train.data import Prepared, num_classes


def format_epoch(rec: dict, epochs: int) -> str:
    """One log line per epoch, like the study's."""
    w = len(str(epochs))
    return (
        f"Epoch {rec['epoch']:>{w}}/{epochs}  train loss {rec['train_loss']:.4f} "
        f"acc {rec['train_acc']:.3f} | test loss {rec['test_loss']:.4f} acc {rec['test_acc']:.3f}"
    )


def records(metrics: np.ndarray, first_epoch: int) -> list[dict]:
    """``metrics [E, 4]`` -> one dict per epoch."""
    return [
        {"epoch": first_epoch + i, **{k: float(v) for k, v in zip(METRIC_NAMES, row, strict=True)}}
        for i, row in enumerate(metrics)
    ]


def mean_record(recs: list[dict]) -> dict:
    """The mean over seeds of one epoch's records."""
    if len(recs) == 1:
        return recs[0]
    return {"epoch": recs[0]["epoch"], **{k: float(np.mean([r[k] for r in recs]))
                                          for k in METRIC_NAMES}}  # fmt: skip


def test_report(pred: np.ndarray, data: Prepared) -> dict:
    """``jaxrnn.metrics.classification_report`` of test predictions ``[N_test]``."""
    names = data.label_names
    return classification_report(data.test.labels, pred, num_classes(data), names)
