"""What a run prints and reports: epoch lines, per-epoch records, the test report."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jaxrnn.evaluation.curves import is_scored
from jaxrnn.evaluation.metrics import classification_report
from jaxrnn.runs.config import METRIC_NAMES
from jaxrnn.runs.prepare import EvalSet, Prepared, num_classes


def format_epoch(rec: dict, epochs: int, names: Sequence[str] = METRIC_NAMES) -> str:
    """One log line per epoch, like the study's: ``train loss 0.6890 acc 0.552 | test ...``."""
    w = len(str(epochs))
    parts = []
    for split in ("train", "test", "val"):
        items = [(k[len(split) + 1 :], rec[k]) for k in names
                 if k.startswith(split + "_") and k in rec]  # (absent: an unscored epoch)
        if not items:
            continue
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


SCORED_SPLITS = ("test_", "val_")  # what an unscored epoch's record leaves out


def scored_records(recs: list[dict], every: int | None, epochs: int) -> list[dict]:
    """``recs`` with the test and validation figures taken out of the epochs ``is_scored``
    skips (their values were not computed: the compiled loop returns zeros there)."""
    return [rec if is_scored(rec["epoch"], every, epochs) else
            {k: v for k, v in rec.items() if not k.startswith(SCORED_SPLITS)}
            for rec in recs]  # fmt: skip


def mean_record(recs: list[dict]) -> dict:
    """The mean over seeds of one epoch's records."""
    if len(recs) == 1:
        return recs[0]
    return {k: recs[0][k] if k == "epoch" else float(np.mean([r[k] for r in recs]))
            for k in recs[0]}  # fmt: skip


def test_report(pred: np.ndarray, data: Prepared) -> dict:
    """``jaxrnn.evaluation.metrics.classification_report`` of test predictions ``[N_test]``."""
    names = data.label_names
    return classification_report(data.test.labels, pred, num_classes(data), names)


def default_log_every(epochs: int) -> int:
    """Every epoch up to 20 epochs, else a tenth of them."""
    return 1 if epochs <= 20 else max(1, epochs // 10)


# ----------------------------------------------------------------------------- --eval-data


def eval_report(e: EvalSet, metrics: np.ndarray, pred: np.ndarray, label_names: Sequence[str]
                ) -> dict:  # fmt: skip
    """One seed on one ``--eval-data`` set: ``file``, ``n``, ``loss``, ``acc``,
    ``constructions`` (per tag of the ``construction`` column -- ``"negation+earlier"`` counts
    for ``negation`` and for ``earlier`` -- ``{"n", "acc"}``; empty without the column) and
    the ``report`` of ``jaxrnn.evaluation.metrics.classification_report``."""
    y = np.asarray(e.arrays.labels)
    ok = np.asarray(pred) == y
    tags: dict[str, list[int]] = {}
    for i, c in enumerate(e.constructions):
        for t in filter(None, c.split("+")):
            tags.setdefault(t, []).append(i)
    return {
        "file": e.path,
        "n": int(len(y)),
        "loss": float(metrics[0]),
        "acc": float(metrics[1]),
        "constructions": {t: {"n": len(ix), "acc": float(ok[ix].mean())}
                          for t, ix in sorted(tags.items())},
        "report": classification_report(y, pred, max(2, len(label_names)), list(label_names)),
    }  # fmt: skip


def eval_final_metrics(reports: dict[str, dict]) -> dict[str, float]:
    """The ``final`` entries of one seed's eval reports: ``eval_<name>_loss``,
    ``eval_<name>_acc`` per set."""
    out = {}
    for name, r in reports.items():
        out[f"eval_{name}_loss"] = r["loss"]
        out[f"eval_{name}_acc"] = r["acc"]
    return out


def eval_log_lines(result) -> list[str]:
    """Log lines after training: per ``--eval-data`` set, loss and accuracy (means over seeds)
    and the accuracy per construction; ``best epoch`` with a validation split."""
    lines = []
    finals = [result.seed_final(i) for i in range(len(result.seeds))]
    if "best_epoch" in finals[0]:
        eps = [f["best_epoch"] for f in finals]
        what = "kept" if result.kept_epochs else "lowest validation loss"
        lines.append(f"best epoch ({what}): " + (str(eps[0]) if len(eps) == 1 else
                                                  f"{', '.join(map(str, eps))} (per seed)"))
    for name in (result.evals[0] if result.evals else {}):
        reps = [ev[name] for ev in result.evals]
        mean = f" (mean of {len(reps)} seeds)" if len(reps) > 1 else ""
        lines.append(f"eval {name} ({reps[0]['n']} texts): loss "
                     f"{np.mean([r['loss'] for r in reps]):.4f} acc "
                     f"{np.mean([r['acc'] for r in reps]):.3f}{mean}")  # fmt: skip
        tags = reps[0]["constructions"]
        if tags:
            lines.append("  by construction: " + ", ".join(
                f"{t} {np.mean([r['constructions'][t]['acc'] for r in reps]):.3f} (n={c['n']})"
                for t, c in tags.items()))  # fmt: skip
    return lines
