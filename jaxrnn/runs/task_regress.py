"""``--task regress``: forecast a column of a time series (``jaxrnn.data.series``).

::

    python -m jaxrnn.train --task regress --model lstm --data series.csv --target load \\
        [--features temp,season] --window 24 [--horizon 1] [--per-step] [--test-data FILE]

Windows of ``--window`` rows predict the next ``--horizon`` target values (many-to-one), or
with ``--per-step`` the next values after every step (many-to-many). Without ``--test-data``
the last ``--test-fraction`` of the rows is the test part (chronological, windows never
straddle the cut). ``--val-fraction F`` holds out the last F of the training rows the same
way (the validation part, for ``--early-stopping N`` on its loss); the statistics are then
the remaining training rows'. Every column is standardised with the training rows' mean and
standard deviation, which the checkpoint keeps (``SeriesVocab``) so that
``python -m jaxrnn.predict`` scales new data the same way.

``--target-transform sqrt|log1p`` trains on the square root (or ``log(1 + v)``) of the
target column, as an input and as the forecast, before standardisation; the vocabulary keeps
the transform, and every forecast is mapped back (``v ** 2``, negatives to 0; ``expm1``)
before the test metrics and in ``predict``, so both report the target's own units.

The loss and the per-epoch metrics (``loss``, ``mae_std``) are in standardised (and, with a
target transform, transformed) units; the test report (and the JSON ``final`` keys
``test_mse``, ``test_mae``, ``test_naive_mse``) is in the target's own units, with the
last-value forecast's errors on the same windows for comparison.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jaxrnn.data.series import (
    Standardizer,
    apply_target_transform,
    chronological_split,
    invert_target_transform,
    load_series_csv,
    make_windows,
    naive_forecast,
)
from jaxrnn.errors import ConfigError, DataError, ShortValidation
from jaxrnn.nn import models, sequence
from jaxrnn.runs.build import block_options
from jaxrnn.runs.config import MODEL_CELLS, TrainConfig
from jaxrnn.runs.predictor import Forecaster
from jaxrnn.runs.prepare import Prepared
from jaxrnn.runs.registry import TaskSpec, register
from jaxrnn.training import tasks


class SeriesVocab:
    """What a forecaster needs to read new data: the input ``columns`` in order, which one is
    the ``target``, the training statistics (``Standardizer``, one mean/std per column, of
    the transformed target) and the ``target_transform`` (``none``, ``sqrt``, ``log1p``)."""

    def __init__(self, columns: list[str], target: str, scaler: Standardizer,
                 target_transform: str = "none"):  # fmt: skip
        if target not in columns:
            raise ValueError(f"target {target!r} is not one of the columns {columns}")
        self.columns, self.target, self.scaler = list(columns), target, scaler
        invert_target_transform(0.0, target_transform)  # an unknown name fails here
        self.target_transform = target_transform

    def transformed(self, rows: np.ndarray, what: str = "the target column") -> np.ndarray:
        """``rows`` ``[N, D]`` (original units) with the target column transformed (float64;
        a value outside the transform's domain raises ``DataError`` naming ``what``)."""
        out = np.array(rows, np.float64)
        if self.target_transform != "none":
            t = self.target_index
            out[:, t] = apply_target_transform(out[:, t], self.target_transform, what=what)
        return out

    def encode(self, rows: np.ndarray, what: str = "the target column") -> np.ndarray:
        """``rows`` ``[N, D]`` (original units) -> the model's inputs ``[N, D]``: the target
        transformed, then every column standardised."""
        return self.scaler.transform(self.transformed(rows, what))

    def decode_target(self, y: np.ndarray) -> np.ndarray:
        """Forecasts of the target ``y`` (any shape, the model's units) -> the target's own
        units: un-standardised, then the transform inverted."""
        return invert_target_transform(self.scaler.inverse_target(y, self.target_index),
                                       self.target_transform)  # fmt: skip

    @property
    def target_index(self) -> int:
        return self.columns.index(self.target)

    @property
    def features(self) -> list[str]:
        """The input columns other than the target."""
        return [c for c in self.columns if c != self.target]

    def to_dict(self) -> dict:
        return {"kind": "series_vocab", "version": 1, "columns": self.columns,
                "target": self.target, "scaler": self.scaler.to_dict(),
                "target_transform": self.target_transform}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict) -> SeriesVocab:
        if not isinstance(d, dict) or d.get("kind") != "series_vocab" or d.get("version") != 1:
            raise ValueError("not a series vocabulary (expected kind 'series_vocab', version 1)")
        # checkpoints written before --target-transform have no such key: none
        return cls(list(d["columns"]), str(d["target"]), Standardizer.from_dict(d["scaler"]),
                   str(d.get("target_transform", "none")))  # fmt: skip


def _features(cfg: TrainConfig) -> list[str] | None:
    if cfg.features is None:
        return None
    cols = [c.strip() for c in cfg.features.split(",") if c.strip()]
    if not cols:
        raise ConfigError(f"--features must name columns (comma-separated), got {cfg.features!r}")
    return cols


def windows(cfg: TrainConfig, rows: np.ndarray, vocab: SeriesVocab, part: str
            ) -> tasks.SeriesRows:  # fmt: skip
    """Standardised windows of ``rows`` (``[N, D]``, the target already transformed)."""
    try:
        w = make_windows(vocab.scaler.transform(rows), vocab.target_index, cfg.window,
                         cfg.horizon, cfg.per_step)  # fmt: skip
    except DataError:
        brief = (f"the {part} part has {len(rows)} rows, too few for --window {cfg.window} and "
                 f"--horizon {cfg.horizon}")
        if part != "validation":
            raise DataError(f"{brief}: shorten them or give more data") from None
        raise ShortValidation(f"{brief}: shorten them, give more data or --val-fraction 0 (no "
                              "validation part, no early stopping)", brief) from None
    # in the run's float type (make_windows gives float32; --dtype float64 computes in float64)
    return tasks.SeriesRows(w.inputs.astype(cfg.param_dtype, copy=False),
                            w.targets.astype(cfg.param_dtype, copy=False))  # fmt: skip


def _check_model(cfg: TrainConfig) -> None:
    if MODEL_CELLS[cfg.model][1] and cfg.per_step:
        raise ConfigError(f"--per-step needs a forward-only model: --model {cfg.model} reads "
                          "each window backwards too, so it would see the values it forecasts")


def prepare(cfg: TrainConfig, vocab: SeriesVocab | None) -> Prepared:
    """Load the CSV(s), split, standardise with the training rows' statistics, window."""
    _check_model(cfg)
    if cfg.data is None or cfg.target is None:
        raise ConfigError("--task regress needs --data FILE.csv and --target COLUMN (python -m "
                          "jaxrnn.data.series writes an example series)")  # fmt: skip
    feats = vocab.features if vocab is not None else _features(cfg)
    series = load_series_csv(cfg.data, cfg.target, feats)
    tf = vocab.target_transform if vocab is not None else cfg.target_transform

    def transformed(rows: np.ndarray, path: str) -> np.ndarray:  # the target column mapped
        if tf == "none":
            return rows
        out = np.array(rows, np.float64)
        t = series.columns.index(cfg.target)
        out[:, t] = apply_target_transform(out[:, t], tf, what=f"{path}'s column {cfg.target}")
        return out
    if cfg.test_data is not None:
        test_series = load_series_csv(cfg.test_data, cfg.target,
                                      [c for c in series.columns if c != cfg.target])
        if test_series.columns != series.columns:
            raise DataError(f"{cfg.test_data} has the columns {test_series.columns}, but "
                            f"{cfg.data} has {series.columns}")  # fmt: skip
        train_rows = transformed(series.values, cfg.data)
        test_rows = transformed(test_series.values, cfg.test_data)
    else:
        parts = chronological_split(transformed(series.values, cfg.data), cfg.test_fraction)
        train_rows, test_rows = parts.train, parts.test
    val_rows = None
    if cfg.val_fraction:
        # The validation rows are the last val_fraction of the training rows, cut as the test
        # part is cut: windows are made in each part on its own, so every training window
        # (inputs and targets) lies before the cut and every validation window (inputs and
        # targets) after it; no validation target is a training target or input. The price:
        # the first --window validation rows are inputs only, never forecast.
        try:
            held = chronological_split(train_rows, cfg.val_fraction)
        except DataError:
            raise ShortValidation(f"the training part has {len(train_rows)} rows: too few to "
                                  f"hold out --val-fraction {cfg.val_fraction:g}") from None
        train_rows, val_rows = held.train, held.test
    if vocab is None:  # the statistics of the rows trained on (not the validation rows)
        vocab = SeriesVocab(series.columns, cfg.target,
                            Standardizer.fit(train_rows, series.columns), tf)  # fmt: skip
    elif vocab.columns != series.columns:
        raise DataError(f"{cfg.data} has the columns {series.columns}, the checkpoint "
                        f"{vocab.columns}")  # fmt: skip
    val = None if val_rows is None else windows(cfg, val_rows, vocab, "validation")
    return Prepared(windows(cfg, train_rows, vocab, "train"),
                    windows(cfg, test_rows, vocab, "test"), vocab, [cfg.target], 0,
                    val)  # fmt: skip


def build_model(cfg: TrainConfig, vocab: SeriesVocab, labels: Any = None) -> models.Regressor:
    """``Regressor``: ``--model``'s cell and directions, ``--hidden``, ``--layers``."""
    _check_model(cfg)
    cell, bidirectional = MODEL_CELLS[cfg.model]
    layer = sequence.RecurrentLayer(cell, cfg.hidden, cfg.layers, bidirectional,
                                    cfg.layer_dropout,
                                    _options=sequence._Options(precision=cfg.precision),
                                    **block_options(cfg))  # fmt: skip
    return models.Regressor(layer, input_size=len(vocab.columns), horizon=cfg.horizon,
                            per_step=cfg.per_step)  # fmt: skip


def errors(pred: np.ndarray, data: Prepared) -> dict:
    """MSE and MAE of forecasts ``pred`` (the model's units, shaped as ``data.test.y``) and of
    the last-value forecast on the same windows, in the target's units (un-standardised and,
    with ``--target-transform``, mapped back)."""
    vocab: SeriesVocab = data.vocab
    t = vocab.target_index
    per_step = np.ndim(data.test.y) == 3
    naive = naive_forecast(data.test.x, t, np.shape(data.test.y)[-1], per_step)
    y = vocab.decode_target(data.test.y)
    out: dict[str, Any] = {"target": vocab.target, "windows": int(len(y))}
    for name, p in (("", pred), ("naive_", naive)):
        e = vocab.decode_target(p) - y
        out[f"{name}mse"] = float(np.mean(e * e))
        out[f"{name}mae"] = float(np.mean(np.abs(e)))
    out["naive_over_model_mse"] = out["naive_mse"] / out["mse"] if out["mse"] > 0 else None
    return out


def report_final(report: dict) -> dict:
    """``test_mse``, ``test_mae``, ``test_naive_mse`` (the target's units)."""
    return {"test_mse": report["mse"], "test_mae": report["mae"],
            "test_naive_mse": report["naive_mse"]}  # fmt: skip


def format_report(report: dict) -> str:
    ratio = report["naive_over_model_mse"]
    return "\n".join([
        f"{'':<22} {'MSE':>10} {'MAE':>10}   ({report['windows']} windows, {report['target']})",
        f"{'model':<22} {report['mse']:>10.4f} {report['mae']:>10.4f}",
        f"{'last value (naive)':<22} {report['naive_mse']:>10.4f} {report['naive_mae']:>10.4f}",
        f"naive MSE / model MSE: {ratio:.2f}" if ratio is not None else
        "model MSE is 0" if report["mse"] == 0 else f"model MSE is {report['mse']}",
    ])  # fmt: skip


def predictor(cfg, model, params, vocab, label_names, num_seeds: int, batch_size: int = 1
              ) -> Forecaster:  # fmt: skip
    """The forecast after a series' last window (``jaxrnn.runs.predictor.Forecaster``)."""
    return Forecaster.from_parts(cfg, model, params, vocab, num_seeds=num_seeds)

SPEC = register(TaskSpec(
    "regress",
    prepare=prepare,
    build_model=build_model,
    task=lambda cfg, model, data: tasks.regression(standardized=True),
    vocab_from_dict=SeriesVocab.from_dict,
    test_report=errors,
    report_final=report_final,
    predictor=predictor,
))  # fmt: skip
