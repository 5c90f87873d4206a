"""What a run prints and reports: epoch lines, per-epoch records, the test report."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jaxrnn.config import METRIC_NAMES
from jaxrnn.metrics import classification_report
from jaxrnn.train.data import Prepared, num_classes


def format_epoch(rec: dict, epochs: int, names: Sequence[str] = METRIC_NAMES) -> str:
    """One log line per epoch, like the study's: ``train loss 0.6890 acc 0.552 | test ...``."""
    w = len(str(epochs))
    parts = []
    for split in ("train", "test"):
        items = [(k[len(split) + 1 :], rec[k]) for k in names if k.startswith(split + "_")]
        parts.append(f"{split} " + " ".join(
            f"{m} {v:.4f}" if m == "loss" else f"{m} {v:.3f}" for m, v in items))  # fmt: skip
    return f"Epoch {rec['epoch']:>{w}}/{epochs}  " + " | ".join(parts)


def records(metrics: np.ndarray, first_epoch: int, names: Sequence[str] = METRIC_NAMES
            ) -> list[dict]:  # fmt: skip
    """``metrics [E, M]`` -> one dict per epoch, keys ``names``."""
    return [
        {"epoch": first_epoch + i, **{k: float(v) for k, v in zip(names, row, strict=True)}}
        for i, row in enumerate(metrics)
    ]


def mean_record(recs: list[dict]) -> dict:
    """The mean over seeds of one epoch's records."""
    if len(recs) == 1:
        return recs[0]
    return {k: recs[0][k] if k == "epoch" else float(np.mean([r[k] for r in recs]))
            for k in recs[0]}  # fmt: skip


def test_report(pred: np.ndarray, data: Prepared) -> dict:
    """``jaxrnn.metrics.classification_report`` of test predictions ``[N_test]``."""
    names = data.label_names
    return classification_report(data.test.labels, pred, num_classes(data), names)


def default_log_every(epochs: int) -> int:
    """Every epoch up to 20 epochs, else a tenth of them."""
    return 1 if epochs <= 20 else max(1, epochs // 10)
