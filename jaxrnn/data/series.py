"""Time series for forecasting: CSV loading, windows, a chronological split, scaling.

Conventions (``N`` rows in time order, ``D`` columns, window ``W``, horizon ``H``):

* :func:`load_series_csv` reads a CSV (or ``.tsv``) with a header row. With
  ``features=None`` it keeps every column whose first non-empty data cell is a
  number (so a date/time column is skipped) plus the target; every cell of a kept
  column must then be a finite number within float32's range (the models train in
  float32). Columns keep their file order;
  ``Series.target_index`` says where the target is;
* :func:`make_windows` makes ``M = N - W - H + 1`` windows; window ``m`` holds
  rows ``m .. m+W-1`` (``inputs[m]``, ``[W, D]``) and

  - many-to-one (``per_step=False``): ``targets[m]`` (``[H]``) are the next ``H``
    target values after the window, rows ``m+W .. m+W+H-1``;
  - per step (``per_step=True``): ``targets[m, t]`` (``[W, H]``) are the ``H``
    target values after step ``t``, rows ``m+t+1 .. m+t+H``, i.e. at every
    step the model forecasts what comes next (with ``H=1``, the target column
    shifted by one). The last step's targets equal the many-to-one targets, and
    both layouts give the same ``M`` windows;
* :func:`chronological_split` cuts the rows into a first (train) and a last
  (test) part, no shuffling; windows are then made from each part separately,
  so no window (inputs or targets) straddles the split;
* :class:`Standardizer` takes mean and standard deviation from the TRAIN rows
  only (population std; a constant column, one whose std is at most 1e-12 of its mean's
  size, gets std 1); windows are built from
  standardized rows, and :meth:`Standardizer.inverse_target` maps forecasts back;
* :func:`apply_target_transform` / :func:`invert_target_transform`: ``--target-transform``
  (``none``, ``sqrt``, ``log1p``), a variance-stabilising map of the target column taken
  before standardisation (as square roots of counts in the sunspot literature) and its
  inverse, applied to the forecasts before any metric;
* :func:`naive_forecast` is the last-value baseline: every forecast equals the
  last target value seen (it commutes with standardization, so it can be
  computed and scored in either unit).

:func:`prepare_forecast` does split -> fit scaler -> windows in one call.
:func:`make_periodic` generates a seeded noisy periodic series; command line::

    python -m jaxrnn.data.series --out series.csv [--n 2000 --period 24 --noise 0.3 --seed 0]
"""

from __future__ import annotations

import datetime as _dt
import importlib
import math
import os
import sys
from collections.abc import Sequence
from numbers import Integral, Real
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from jaxrnn.data.files import (
    _csv_rows,
    _fail,
    _q,
    _qlist,
    read_utf8,
    split_tail,
    write_text_atomic,
)
from jaxrnn.errors import ConfigError, DataError, UsageError

__all__ = [
    "ForecastData",
    "ForecastErrors",
    "Series",
    "SeriesSplit",
    "Standardizer",
    "TARGET_TRANSFORMS",
    "Windows",
    "apply_target_transform",
    "chronological_split",
    "forecast_errors",
    "invert_target_transform",
    "load_series_csv",
    "main",
    "make_periodic",
    "make_windows",
    "naive_forecast",
    "prepare_forecast",
    "write_series_csv",
]


class Series(NamedTuple):
    """``values`` ``[N, D]`` float64 in time order; ``columns[d]`` names column ``d``."""

    values: np.ndarray
    columns: list[str]
    target_index: int


class Windows(NamedTuple):
    """``inputs`` ``[M, W, D]``; ``targets`` ``[M, H]`` or ``[M, W, H]`` (per step), float32.

    ``start[m]`` is the row (within the rows given to :func:`make_windows`)
    where window ``m`` begins.
    """

    inputs: np.ndarray
    targets: np.ndarray
    start: np.ndarray


class SeriesSplit(NamedTuple):
    """``train`` rows ``[:split]`` and ``test`` rows ``[split:]`` of a series."""

    train: np.ndarray
    test: np.ndarray
    split: int


class ForecastErrors(NamedTuple):
    """Mean absolute error and root mean squared error over every forecast value."""

    mae: float
    rmse: float


# ----------------------------------------------------------------------------- loading


F32_MAX = float(np.finfo(np.float32).max)  # the largest value the models' float32 holds


def _number(cell: str) -> float | None:
    try:
        v = float(cell.strip())
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _first_filled(cells: Sequence[str]) -> str:
    """The first non-empty cell of a column ("" if none): what says whether it is numeric."""
    return next((c for c in cells if c.strip()), "")


def load_series_csv(
    path: str | os.PathLike, target: str, features: Sequence[str] | None = None
) -> Series:
    """Read numeric columns of a CSV/TSV file with a header row (rules: module docstring).

    ``target`` is the column to forecast; ``features`` the input columns (the
    target is always added), or ``None`` for every numeric column. Raises
    ``DataError`` (one line) for a missing/empty/undecodable file, missing
    columns (naming those that exist), a duplicate column name, a row with the
    wrong number of fields, or an empty, non-numeric or non-finite cell (with
    its line number and column).
    """
    shown = os.fspath(path)
    fmt = "tsv" if Path(shown).suffix.lower() in (".tsv", ".tab") else "csv"
    text = read_utf8(
        path, need="a header row naming the columns, then one row per time step",
        kind="a .csv file",
    )
    rows = _csv_rows(text, shown, fmt)
    header = [h.strip() for h in rows[0][1]]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise _fail(f"{shown}: column names repeat in the header: {_qlist(dupes)}; rename them")
    wanted = [target] if features is None else [*features, target]
    missing = list(dict.fromkeys(c for c in wanted if c not in header))
    if missing:
        word = "column" if len(missing) == 1 else "columns"
        raise _fail(
            f"{shown}: no {word} {_qlist(missing)}; the header (first line) has columns: "
            f"{_qlist(header)}; pick the target and feature columns from those"
        )
    data = rows[1:]
    if not data:
        raise _fail(f"{shown} has a header ({_qlist(header)}) but no data rows")
    sep = "commas" if fmt == "csv" else "tabs"
    for line, fields in data:
        if len(fields) != len(header):
            raise _fail(
                f"{shown}: line {line} has {len(fields)} fields but the header has "
                f"{len(header)}; give every row the same columns, separated by {sep}"
            )
    if features is None:  # numeric columns: by their first filled cell (an empty one is
        # then a clear error below, not a column silently dropped)
        keep = {h for i, h in enumerate(header)
                if _number(_first_filled([f[i] for _, f in data])) is not None}  # fmt: skip
        keep.add(target)
    else:
        keep = set(wanted)
    cols = [i for i, h in enumerate(header) if h in keep]
    values = np.empty((len(data), len(cols)), np.float64)
    for r, (line, fields) in enumerate(data):
        for c, i in enumerate(cols):
            v = _number(fields[i])
            if v is None or abs(v) > F32_MAX:
                cell = fields[i].strip()
                what = ("is empty" if not cell else f"has {_q(cell)}, too large for float32"
                        if v is not None else f"has {_q(cell)}, not a finite number")  # fmt: skip
                raise _fail(
                    f"{shown}: line {line}: column {_q(header[i])} {what}; every cell of "
                    "the target and feature columns must be a number (fill or drop that row)"
                )
            values[r, c] = v
    names = [header[i] for i in cols]
    return Series(values, names, names.index(target))


def write_series_csv(
    path: str | os.PathLike, series: Series, *, start: str | None = "2024-01-01T00:00"
) -> Path:
    """Write a series as CSV (header, then one row per step), atomically.

    With ``start`` (ISO date-time), a first ``time`` column holds hourly time
    stamps from it (skipped again by ``load_series_csv(..., features=None)``).
    Values are written with ``repr``, so they read back exactly.
    """
    values = np.asarray(series.values, np.float64)
    head = list(series.columns)
    times: list[str] | None = None
    if start is not None:
        t0 = _dt.datetime.fromisoformat(start)
        times = [(t0 + _dt.timedelta(hours=i)).isoformat(timespec="minutes")
                 for i in range(len(values))]
        head = ["time", *head]
    lines = [",".join(head)]
    for i, row in enumerate(values):
        cells = [repr(float(v)) for v in row]
        lines.append(",".join(([times[i]] if times is not None else []) + cells))
    return write_text_atomic(path, "\n".join(lines) + "\n")


# ----------------------------------------------------------------------------- windows


def _pos_int(name: str, value: object) -> int:
    if not isinstance(value, Integral) or isinstance(value, bool) or int(value) < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _matrix(values: Any) -> np.ndarray:
    a = np.asarray(values, np.float64)
    if a.ndim != 2:
        raise ValueError(f"values must be [N, D] (rows, columns), got shape {a.shape}")
    return a


def make_windows(
    values: Any, target_index: int, window: int, horizon: int = 1, per_step: bool = False
) -> Windows:
    """Sliding windows over ``values`` ``[N, D]`` (layouts: module docstring), float32.

    Raises ``ConfigError`` for a bad window/horizon/target index and
    ``DataError`` when ``N < window + horizon`` (no complete window).
    """
    a = _matrix(values)
    w, h = _pos_int("window", window), _pos_int("horizon", horizon)
    n, d = a.shape
    if not isinstance(target_index, Integral) or not 0 <= int(target_index) < d:
        raise ConfigError(f"target_index must be in 0..{d - 1}, got {target_index!r}")
    m = n - w - h + 1
    if m < 1:
        raise _fail(
            f"{n} rows are too few for a window of {w} and a horizon of {h} "
            f"(need at least {w + h}); use a shorter window or more data"
        )
    view = np.lib.stride_tricks.sliding_window_view
    inputs = view(a, w, axis=0)[:m].transpose(0, 2, 1)  # [M, W, D]
    y = a[:, int(target_index)]
    ahead = view(y[1:], h)  # [N - H, H]: row r holds y[r+1 .. r+H]
    if per_step:
        targets = view(ahead, w, axis=0)[:m].transpose(0, 2, 1)  # [M, W, H]
    else:
        targets = ahead[w - 1 : w - 1 + m]  # [M, H]
    return Windows(
        inputs.astype(np.float32), targets.astype(np.float32), np.arange(m, dtype=np.int64)
    )


def chronological_split(values: Any, test_fraction: float = 0.2) -> SeriesSplit:
    """First rows for training, the last ``round(test_fraction * N)`` (at least 1) for test."""
    train, test = split_tail(_matrix(values), test_fraction,
                             "a series of {n} row(s) cannot be split into train and test rows")
    return SeriesSplit(train, test, len(train))


# --target-transform: name -> (forward, inverse, the values it accepts). The inverse of sqrt
# clips a negative forecast to 0 (a square root has no negative values), so the forecast of a
# count is never negative; log1p's inverse is expm1, defined everywhere.
TARGET_TRANSFORMS = ("none", "sqrt", "log1p")
_DOMAIN = {"sqrt": (lambda v: v >= 0, "values >= 0"), "log1p": (lambda v: v > -1, "values > -1")}


def _transform_name(name: str) -> str:
    if name not in TARGET_TRANSFORMS:
        raise ConfigError(f"unknown target transform {name!r}; known: "
                          f"{', '.join(TARGET_TRANSFORMS)}")  # fmt: skip
    return name


def apply_target_transform(values: Any, name: str, *, what: str = "the target") -> np.ndarray:
    """``name``'s forward map of ``values`` (any shape; float64): ``none`` (as they are),
    ``sqrt`` (needs values >= 0) or ``log1p`` (``log(1 + v)``, needs values > -1).

    A value outside the map's domain raises ``DataError`` naming ``what``, the first such
    value and its position (the row, for a column ``[N]``)."""
    v = np.asarray(values, np.float64)
    if _transform_name(name) == "none":
        return v.copy()
    ok, need = _DOMAIN[name]
    bad = ~ok(v)
    if np.any(bad):
        i = np.unravel_index(int(np.argmax(bad)), v.shape)
        at = f"row {i[0] + 1}" if v.ndim == 1 else f"index {tuple(int(k) for k in i)}"
        raise DataError(f"--target-transform {name} needs {need}: {what} has "
                        f"{int(bad.sum())} value(s) that are not, the first {v[i]:g} at "
                        f"{'data ' if v.ndim == 1 else ''}{at}")  # fmt: skip
    return np.sqrt(v) if name == "sqrt" else np.log1p(v)


def invert_target_transform(values: Any, name: str) -> np.ndarray:
    """The inverse of :func:`apply_target_transform` (float64, same shape): ``v ** 2`` for
    ``sqrt`` (a negative value, which no square root gives, maps to 0), ``expm1(v)`` for
    ``log1p``, the values themselves for ``none``."""
    v = np.asarray(values, np.float64)
    if _transform_name(name) == "none":
        return v.copy()
    if name == "sqrt":
        return np.square(np.maximum(v, 0.0))
    return np.expm1(v)


def naive_forecast(
    inputs: Any, target_index: int, horizon: int = 1, per_step: bool = False
) -> np.ndarray:
    """Last-value forecasts for windows ``[M, W, D]``: ``[M, H]``, or ``[M, W, H]`` per step.

    Many-to-one: the target's value at the window's last step, repeated ``H``
    times; per step: at each step, that step's target value, repeated.
    """
    x = np.asarray(inputs)
    h = _pos_int("horizon", horizon)
    if x.ndim != 3:
        raise ValueError(f"inputs must be [M, W, D], got shape {x.shape}")
    y = x[:, :, int(target_index)]
    last = y if per_step else y[:, -1]
    return np.repeat(last[..., None], h, axis=-1)


def forecast_errors(y_true: Any, y_pred: Any) -> ForecastErrors:
    """MAE and RMSE over all values of two equal-shape arrays (0 for empty arrays)."""
    t, p = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    if t.shape != p.shape:
        raise ValueError(f"shapes differ: y_true {t.shape}, y_pred {p.shape}")
    if t.size == 0:
        return ForecastErrors(0.0, 0.0)
    e = p - t
    return ForecastErrors(float(np.abs(e).mean()), float(np.sqrt((e * e).mean())))


# ----------------------------------------------------------------------------- scaling


class Standardizer:
    """Per-column ``(x - mean) / std``; ``mean``/``std`` are ``[D]`` float64 arrays."""

    def __init__(self, mean: Any, std: Any, columns: Sequence[str] | None = None):
        self.mean = np.asarray(mean, np.float64).reshape(-1)
        self.std = np.asarray(std, np.float64).reshape(-1)
        if self.mean.shape != self.std.shape or not np.all(self.std > 0):
            raise ValueError("mean and std must have one value per column, std > 0")
        self.columns = None if columns is None else list(columns)

    @classmethod
    def fit(
        cls, train_values: Any, columns: Sequence[str] | None = None, *, lengths: Any = None
    ) -> Standardizer:
        """Mean and population std of each column of the training rows ``[N, D]``.

        With ``lengths`` ``[N]``, ``train_values`` are padded sequences ``[N, T, D]`` and only
        the real steps (``t < lengths[i]``) count; padding is ignored.
        """
        if lengths is None:
            a = _matrix(train_values)
        else:
            a = _real_steps(train_values, lengths)
        if len(a) == 0:
            raise ValueError("cannot fit a Standardizer on 0 rows")
        mean, std = a.mean(axis=0), a.std(axis=0)
        # constant: a spread that is rounding beside the column's size (relative, so that a
        # feature measured in 1e-13 units is scaled, not passed through as near-zeros)
        varies = (std > 0) & (std > 1e-12 * np.abs(mean))
        return cls(mean, np.where(varies, std, 1.0), columns)

    def transform(self, values: Any, *, lengths: Any = None) -> np.ndarray:
        """``[..., D]`` -> standardized ``[..., D]`` (float64).

        With ``lengths`` ``[N]`` (``values`` ``[N, T, D]``), padded steps are set to 0.
        """
        out = (np.asarray(values, np.float64) - self.mean) / self.std
        if lengths is not None:
            out[~_step_mask(out, lengths)] = 0.0
        return out

    def inverse_transform(self, values: Any) -> np.ndarray:
        """Standardized ``[..., D]`` -> original units."""
        return np.asarray(values, np.float64) * self.std + self.mean

    def inverse_target(self, y: Any, target_index: int) -> np.ndarray:
        """Standardized target values (any shape, e.g. forecasts ``[M, H]``) -> original units."""
        t = int(target_index)
        return np.asarray(y, np.float64) * self.std[t] + self.mean[t]

    def to_dict(self) -> dict:
        """Plain JSON-able data for a checkpoint; :meth:`from_dict` restores it."""
        return {
            "kind": "standardizer",
            "version": 1,
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "columns": self.columns,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Standardizer:
        """Rebuild from :meth:`to_dict`'s output; ``ValueError`` if it is something else."""
        if not isinstance(d, dict) or d.get("kind") != "standardizer" or d.get("version") != 1:
            raise ValueError("not a standardizer (expected kind 'standardizer', version 1)")
        return cls(d["mean"], d["std"], d.get("columns"))


def _step_mask(x: np.ndarray, lengths: Any) -> np.ndarray:
    """``[N, T]`` True on the real steps of padded sequences ``x`` ``[N, T, D]``."""
    lens = np.asarray(lengths).reshape(-1)
    if x.ndim != 3 or lens.shape != (x.shape[0],):
        raise ValueError(f"need values [N, T, D] and lengths [N], got {x.shape} and {lens.shape}")
    return np.arange(x.shape[1])[None, :] < lens[:, None]


def _real_steps(values: Any, lengths: Any) -> np.ndarray:
    """The real steps of padded sequences ``[N, T, D]`` as rows ``[sum(lengths), D]``."""
    x = np.asarray(values, np.float64)
    return x[_step_mask(x, lengths)]


class ForecastData(NamedTuple):
    """Standardized train/test windows, the scaler fitted on train rows, and the split row."""

    train: Windows
    test: Windows
    scaler: Standardizer
    split: int


def prepare_forecast(
    values: Any,
    target_index: int,
    window: int,
    horizon: int = 1,
    *,
    per_step: bool = False,
    test_fraction: float = 0.2,
    columns: Sequence[str] | None = None,
) -> ForecastData:
    """Split chronologically, fit a :class:`Standardizer` on the train rows, make windows.

    Test windows start at ``split + test.start`` in the original rows. Raises
    ``DataError`` if either part is shorter than ``window + horizon`` rows.
    """
    parts = chronological_split(values, test_fraction)
    scaler = Standardizer.fit(parts.train, columns)
    made = []
    for name, rows in (("train", parts.train), ("test", parts.test)):
        try:
            made.append(
                make_windows(scaler.transform(rows), target_index, window, horizon, per_step)
            )
        except UsageError as e:
            if isinstance(e, ConfigError):
                raise
            raise _fail(
                f"the {name} part ({len(rows)} of {len(parts.train) + len(parts.test)} rows) "
                f"is too short for a window of {window} and a horizon of {horizon}; "
                "use a shorter window, a different test fraction or more data"
            ) from None
    return ForecastData(made[0], made[1], scaler, parts.split)


# ----------------------------------------------------------------------------- synthetic


def make_periodic(
    n: int = 2000, period: int = 24, noise: float = 0.3, seed: int = 0
) -> Series:
    """A seeded noisy periodic series: columns ``load`` (the target), ``temp``, ``season``.

    With ``t = 0..n-1`` and ``phi = 2 pi t / period``: ``season = sin(phi)`` (a
    known calendar feature, no noise); ``temp = 20 + 5 sin(phi - 0.5) + noise e1``;
    ``load = 10 + 3 sin(phi) + sin(2 phi + 1) + 0.2 (temp - 20) + noise e2``, with
    ``e1``, ``e2`` standard normal. Same arguments, same series.
    """
    n = _pos_int("n", n)
    period = _pos_int("period", period)
    ok = isinstance(noise, Real) and not isinstance(noise, bool) and float(noise) >= 0
    if not ok or not math.isfinite(float(noise)):
        raise ConfigError(f"noise must be a finite number >= 0, got {noise!r}")
    if not isinstance(seed, Integral) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    rng = np.random.default_rng(int(seed))
    phi = 2 * np.pi * np.arange(n) / period
    e = rng.standard_normal((2, n))
    season = np.sin(phi)
    temp = 20 + 5 * np.sin(phi - 0.5) + noise * e[0]
    load = 10 + 3 * np.sin(phi) + np.sin(2 * phi + 1) + 0.2 * (temp - 20) + noise * e[1]
    return Series(np.stack([load, temp, season], axis=1), ["load", "temp", "season"], 0)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m jaxrnn.data.series``: ``jaxrnn.cli.make_data.series``
    (the command lives there; kept here for code that calls it by this name)."""
    # By name, at call time: the data layer does not import the commands (jaxrnn/cli).
    return importlib.import_module("jaxrnn.cli.make_data").series(argv)


# python -m jaxrnn.data.series: a real module, so no alias can take its -m; it forwards here.
if __name__ == "__main__":
    sys.exit(main())
