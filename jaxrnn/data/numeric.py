"""Labelled numeric sequences (sensor readings, ECG, motion) for sequence classification.

Every reader returns a :class:`NumericSet`: ``x`` ``[N, T, F]`` float32 (``N`` series,
``T`` the longest series' steps, ``F`` channels), ``lengths`` ``[N]`` (real steps of each
series; steps ``>= lengths[i]`` are padding and hold 0), ``labels`` ``[N]`` class indices,
``label_names`` (class ``k`` is ``label_names[k]``), ``feature_names`` (or ``None``) and
``source`` (the file, for messages).

Formats (:func:`load_numeric` picks one from the extension or ``data_format=``):

* ``"npz"`` (``.npz``): arrays ``x`` ``[N, T, F]`` (or ``[N, T]``, read as ``F = 1``) and
  ``y`` ``[N]`` (integers or strings); optional ``lengths`` ``[N]`` (each in ``1..T``,
  values after a row's length are ignored) and ``feature_names`` ``[F]``. Without
  ``lengths``, a row is as long as its first step whose channels are all NaN (NaN steps
  may only end a row). Saved without pickling (``np.savez``; object arrays are refused);
* ``"ucr"`` (``.tsv``, ``.txt``, the UCR archive's text files): one series per line, the
  label first, then one value per time step, separated by tabs, commas or whitespace
  (a line with a tab is split on tabs, else a line with a comma on commas, else on
  whitespace). A shorter series ends early or with ``NaN`` values; ``F = 1``. A label
  written as a number with an integral value (``1.0000000e+00``, as in the archive's
  2015 release) is read as that integer;
* ``"ts"`` (``.ts``, the UEA/sktime/aeon format): ``#`` comment lines, header lines
  (``@problemName``, ``@timeStamps false``, ``@missing``, ``@univariate``, ``@dimensions``,
  ``@equalLength``, ``@seriesLength``, ``@classLabel true a b c``; names are
  case-insensitive), then ``@data`` and one case per line: the dimensions separated by
  ``:`` (values within one separated by commas, ``?`` or ``NaN`` for missing), the class
  label last. Variable lengths are fine; all dimensions of one case must have the same
  length. Time-stamped (``@timeStamps true``) and regression (``@targetLabel true``)
  files are not supported.

Missing values (NaN, ``?``) may only pad the end of a series: one inside a series is an
error naming the line and step (fill or interpolate it first). Every problem with a file
raises :class:`jaxrnn.errors.DataError`, one line naming the file, the line (or row) and
the problem.

Labels follow the text classifier's rule (:func:`jaxrnn.data.files.encode_labels`): if
every label is an integer, classes are the distinct values in numeric order named
``str(int)``, otherwise the distinct strings in sorted order. For a train/test pair use
:func:`load_numeric_split` (or :func:`check_compatible` and :func:`align_labels`), which
orders the classes by the training file and rejects unseen test labels.

Standardisation: :func:`fit_standardizer` fits :class:`jaxrnn.data.series.Standardizer`
per channel on the real (non-padding) steps of the training set only;
:func:`standardize` applies it and leaves padded steps at 0.
"""

from __future__ import annotations

import io
import math
import os
import re
import zipfile
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from jaxrnn.data.files import (
    _fail,
    _q,
    _qlist,
    _same_file,
    encode_labels,
    read_utf8,
    stratified_split,
    write_text_atomic,
)
from jaxrnn.data.series import F32_MAX, Standardizer
from jaxrnn.errors import DataError
from jaxrnn.util.atomic import atomic_write

__all__ = [
    "NUMERIC_FORMATS",
    "NumericSet",
    "align_labels",
    "check_compatible",
    "detect_numeric_format",
    "fit_standardizer",
    "from_arrays",
    "load_npz",
    "load_numeric",
    "load_numeric_split",
    "load_ts",
    "load_ucr",
    "standardize",
    "step_mask",
    "subset",
    "write_npz",
    "write_ts",
    "write_ucr",
]

#: Accepted ``data_format=`` values.
NUMERIC_FORMATS = ("npz", "ucr", "ts")
_EXTENSIONS = {".npz": "npz", ".tsv": "ucr", ".txt": "ucr", ".ts": "ts"}
_MISSING = {"?", "nan", "NaN", "NAN"}


class NumericSet(NamedTuple):
    """Labelled numeric sequences (conventions: module docstring).

    ``x`` ``[N, T, F]`` float32, zero after each row's length; ``lengths`` ``[N]`` int64 in
    ``1..T``; ``labels`` ``[N]`` int64 in ``0..C-1``; ``label_names`` ``[C]``;
    ``feature_names`` ``[F]`` or ``None``; ``source`` the file it came from.
    """

    x: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray
    label_names: list[str]
    feature_names: list[str] | None
    source: str

    @property
    def num_classes(self) -> int:
        """Number of classes ``C``."""
        return len(self.label_names)

    @property
    def num_features(self) -> int:
        """Number of channels ``F``."""
        return int(self.x.shape[2])


def step_mask(lengths: Any, steps: int) -> np.ndarray:
    """``[N, T]`` bool, ``True`` on the real steps (``t < lengths[i]``)."""
    return np.arange(int(steps))[None, :] < np.asarray(lengths).reshape(-1, 1)


# ----------------------------------------------------------------------------- assembling


def _raw_names(s: NumericSet) -> list[str]:
    return [s.label_names[int(i)] for i in s.labels]


def _assemble(
    rows: list[np.ndarray],
    raw_labels: list[str | int],
    shown: str,
    feature_names: list[str] | None = None,
) -> NumericSet:
    """Rows ``[T_i, F]`` (already checked: finite, ``T_i >= 1``) -> a zero-padded set."""
    if not rows:
        raise _fail(f"{shown} has no series; it needs one labelled series per line")
    n, t_max, f = len(rows), max(len(r) for r in rows), rows[0].shape[1]
    x = np.zeros((n, t_max, f), np.float32)
    lengths = np.empty(n, np.int64)
    for i, r in enumerate(rows):
        x[i, : len(r)] = r
        lengths[i] = len(r)
    labels, _, names = encode_labels(raw_labels)
    return NumericSet(x, lengths, np.asarray(labels, np.int64), names, feature_names, shown)


def _trim_missing(values: np.ndarray, shown: str, where: str) -> np.ndarray:
    """``[T, F]`` with NaN for missing -> the rows before trailing all-missing steps.

    A missing value inside the series, or a series with no values, is a ``DataError``.
    """
    missing = np.isnan(values)
    step_missing = missing.all(axis=1)
    length = len(values)
    while length and step_missing[length - 1]:
        length -= 1
    if length == 0:
        raise _fail(f"{shown}: {where}: the series has no values (empty or only missing values)")
    inside = np.argwhere(missing[:length])
    if len(inside):
        t, c = (int(v) for v in inside[0])
        chan = f" of channel {c + 1}" if values.shape[1] > 1 else ""
        raise _fail(
            f"{shown}: {where}: missing value at step {t + 1}{chan} inside the series; "
            "missing values (NaN, ?) may only pad the end: fill or interpolate it first"
        )
    return values[:length]


def _check_finite(values: np.ndarray, shown: str, where: str) -> None:
    """Infinite values, or values that overflow float32 (``x`` is float32), are errors."""
    bad = np.argwhere(np.abs(values) > F32_MAX)
    if len(bad):
        t, c = (int(v) for v in bad[0])
        v = values[t, c]
        what = "an infinite value" if np.isinf(v) else f"{float(v)!r}, too large for float32,"
        raise _fail(f"{shown}: {where}: {what} at step {t + 1}; "
                    "every value must be a finite number")


_NUMBER_RE = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _value(cell: str, shown: str, where: str, step: int) -> float:
    cell = cell.strip()
    if cell in _MISSING:
        return math.nan
    if not _NUMBER_RE.fullmatch(cell):
        what = "an empty value" if not cell else f"{_q(cell)}, not a number"
        raise _fail(f"{shown}: {where}: step {step} has {what}; every value must be a number "
                    "(NaN or ? only at the end of a series)")
    return float(cell)


def _values(cells: list[str], shown: str, where: str) -> np.ndarray:
    """``[len(cells)]`` float64 with NaN for missing (``?``, ``NaN``); one-line errors."""
    try:  # fast path: NumPy parses plain numbers and NaN
        return np.array(cells, dtype=np.float64)
    except ValueError:
        return np.array([_value(c, shown, where, k) for k, c in enumerate(cells, 1)])


def _int_label(cell: str) -> str:
    """``"1.0000000e+00"`` -> ``"1"``; anything else unchanged (stripped)."""
    cell = cell.strip()
    if _NUMBER_RE.fullmatch(cell) and not re.fullmatch(r"[+-]?\d+", cell):
        v = float(cell)
        if math.isfinite(v) and v == int(v):
            return str(int(v))
    return cell


# ----------------------------------------------------------------------------- formats


def detect_numeric_format(path: str | os.PathLike, data_format: str | None = None) -> str:
    """``"npz"``, ``"ucr"`` or ``"ts"``: ``data_format`` if given, else from the extension."""
    if data_format is not None:
        key = str(data_format).lower().lstrip(".")
        if key not in NUMERIC_FORMATS:
            raise _fail(f"unknown numeric data format {_q(data_format)}; use one of: "
                        + ", ".join(NUMERIC_FORMATS))
        return key
    suffix = Path(os.fspath(path)).suffix.lower()
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    what = f"extension {_q(suffix)}" if suffix else "no extension"
    raise _fail(f"{os.fspath(path)}: cannot tell the format from {what}; rename it to .npz, "
                ".tsv/.txt (UCR) or .ts (UEA), or name the format (npz, ucr or ts)")


def load_numeric(path: str | os.PathLike, data_format: str | None = None) -> NumericSet:
    """Read one file of labelled numeric sequences (formats: module docstring).

    ``data_format`` is ``"npz"``, ``"ucr"`` or ``"ts"``, or ``None`` to choose by the
    extension (``.npz``; ``.tsv``/``.txt``; ``.ts``). Raises ``DataError`` (one line).
    """
    fmt = detect_numeric_format(path, data_format)
    return {"npz": load_npz, "ucr": load_ucr, "ts": load_ts}[fmt](path)


def load_npz(path: str | os.PathLike) -> NumericSet:
    """Read ``x`` ``[N, T(, F)]``, ``y`` ``[N]`` and optional ``lengths``/``feature_names``."""
    shown = os.fspath(path)
    p = Path(shown)
    if not p.is_file():
        where = "" if p.is_absolute() else f" (relative to {os.getcwd()})"
        kind = "a directory, not a file" if p.is_dir() else "no such file"
        raise _fail(f"{shown}: {kind}{where}; pass the path of a .npz file")
    if p.stat().st_size == 0:
        raise _fail(f"{shown} is empty; it needs arrays x [N, T, F] and y [N] (np.savez)")
    with open(shown, "rb") as fh:  # np.load reads a non-zip file as a pickle: said plainly
        if fh.read(4) != b"PK\x03\x04":
            raise _fail(f"{shown} is not a .npz archive (a zip file); write one with "
                        "np.savez(path, x=..., y=...), or give --format for a text format")
    try:
        archive = np.load(shown, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise _fail(f"{shown}: not a readable .npz archive ({e}); write it with "
                    "np.savez(path, x=..., y=...)") from None
    with archive:
        keys = list(archive.files)
        missing = [k for k in ("x", "y") if k not in keys]
        if missing:
            raise _fail(f"{shown}: no array {_qlist(missing)}; it has {_qlist(keys)}; it needs "
                        "x [N, T, F] (or [N, T]) and y [N]")

        def get(key: str) -> np.ndarray:
            try:
                return archive[key]
            except ValueError as e:  # object arrays need pickling, which is refused
                if "allow_pickle" in str(e) or "Object arrays" in str(e):
                    raise _fail(
                        f"{shown}: array {_q(key)} is an object array (ragged rows?); pad the "
                        "rows to one length with NaN (or pass lengths) and save numbers"
                    ) from None
                raise _fail(f"{shown}: cannot read array {_q(key)} ({e})") from None

        x, y = get("x"), get("y")
        lengths = get("lengths") if "lengths" in keys else None
        feats = get("feature_names") if "feature_names" in keys else None
    return _from_arrays(x, y, lengths, feats, shown)


def from_arrays(x: Any, y: Any, lengths: Any = None, feature_names: Any = None,
                source: str = "arrays") -> NumericSet:  # fmt: skip
    """A :class:`NumericSet` from arrays in memory, checked as a ``.npz`` file's are.

    ``x`` ``[N, T, F]`` (or ``[N, T]``, ``F = 1``) numbers, NaN only to pad a row's end;
    ``y`` ``[N]`` integer or string labels; ``lengths`` ``[N]`` (default: each row up to its
    first all-NaN step); ``source`` names the data in error messages.
    """
    arrays = [np.asarray(a) if a is not None else None for a in (x, y, lengths, feature_names)]
    return _from_arrays(*arrays, source)


def _from_arrays(x: np.ndarray, y: np.ndarray, lengths: np.ndarray | None,
                 feats: np.ndarray | None, shown: str) -> NumericSet:  # fmt: skip
    if x.ndim == 2:
        x = x[:, :, None]
    if x.ndim != 3:
        raise _fail(f"{shown}: x has shape {x.shape}; it must be [N, T, F] or [N, T]")
    if x.dtype.kind not in "biuf":
        raise _fail(f"{shown}: x holds non-numeric values (dtype {x.dtype}); "
                    "every value must be a number (NaN only to pad the end of a row)")
    n, t_len, f = x.shape
    if n == 0 or t_len == 0 or f == 0:
        raise _fail(f"{shown}: x has shape {x.shape}: no series (empty file)")
    x = x.astype(np.float64)
    if y.ndim != 1 or len(y) != n:
        raise _fail(f"{shown}: y has shape {y.shape} but x has {n} rows; y must be [N]")
    raw = _npz_labels(y, shown)
    names = None
    if feats is not None:
        names = [str(v) for v in np.asarray(feats).reshape(-1)]
        if len(names) != f:
            raise _fail(f"{shown}: feature_names has {len(names)} names but x has {f} channels")
    rows: list[np.ndarray] = []
    if lengths is not None:
        if lengths.shape != (n,) or lengths.dtype.kind not in "iu":
            raise _fail(f"{shown}: lengths must be [N] = [{n}] integers, got shape "
                        f"{lengths.shape} ({lengths.dtype})")
        bad = np.flatnonzero((lengths < 1) | (lengths > t_len))
        if len(bad):
            i = int(bad[0])
            raise _fail(f"{shown}: row {i}: lengths[{i}] = {int(lengths[i])} is out of range; "
                        f"each length must be in 1..{t_len} (x has {t_len} steps)")
        for i in range(n):
            rows.append(_trim_missing(x[i, : int(lengths[i])], shown, f"row {i}"))
            if len(rows[-1]) != int(lengths[i]):  # trailing NaN inside the given length
                raise _fail(f"{shown}: row {i}: missing values (NaN) before lengths[{i}] = "
                            f"{int(lengths[i])}; fill them or shorten the length")
    else:
        rows = [_trim_missing(x[i], shown, f"row {i}") for i in range(n)]
    for i, r in enumerate(rows):
        _check_finite(r, shown, f"row {i}")
    return _assemble(rows, raw, shown, names)


def _npz_labels(y: np.ndarray, shown: str) -> list[str | int]:
    if y.dtype.kind in "iu":
        return [int(v) for v in y]
    if y.dtype.kind == "b":
        return [str(bool(v)).lower() for v in y]
    if y.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(y) | (y != np.round(y)))
        if len(bad):
            i = int(bad[0])
            what = "missing (NaN)" if np.isnan(y[i]) else f"{float(y[i])!r}, not an integer"
            raise _fail(f"{shown}: row {i}: label y[{i}] is {what}; labels must be integers "
                        "or strings")
        return [int(v) for v in y]
    if y.dtype.kind in "US":
        out = [v.decode() if isinstance(v, bytes) else str(v) for v in y.tolist()]
        empty = [i for i, v in enumerate(out) if not v.strip()]
        if empty:
            raise _fail(f"{shown}: row {empty[0]}: label y[{empty[0]}] is empty; "
                        "every series needs a label")
        return [v.strip() for v in out]
    raise _fail(f"{shown}: y holds {y.dtype} values; labels must be integers or strings")


def _split_fields(line: str) -> list[str]:
    if "\t" in line:
        fields = line.split("\t")
    elif "," in line:
        fields = line.split(",")
    else:
        return line.split()
    fields = [c.strip() for c in fields]
    while fields and not fields[-1]:  # a trailing separator
        fields.pop()
    return fields


def load_ucr(path: str | os.PathLike) -> NumericSet:
    """Read a UCR archive text file: per line a label, then one value per step (``F = 1``)."""
    shown = os.fspath(path)
    text = read_utf8(path, need="one series per line: the label, then its values",
                     kind="a UCR .tsv/.txt file")
    rows, raw = [], []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"line {lineno}"
        fields = _split_fields(line)
        label = fields[0].strip() if fields else ""
        if not label or label in _MISSING:
            raise _fail(f"{shown}: {where}: the label (first field) is missing; each line "
                        "needs the label first, then the series' values")
        if len(fields) < 2:
            raise _fail(f"{shown}: {where}: only a label ({_q(label)}), no values; each line "
                        "needs the label first, then the series' values")
        values = _trim_missing(_values(fields[1:], shown, where)[:, None], shown, where)
        _check_finite(values, shown, where)
        rows.append(values)
        raw.append(_int_label(label))
    return _assemble(rows, raw, shown)


_TS_BOOL = {"true": True, "false": False}
_TS_FLAGS = ("timestamps", "classlabel", "univariate", "equallength", "missing", "targetlabel")


def load_ts(path: str | os.PathLike) -> NumericSet:
    """Read a UEA/sktime ``.ts`` file (header, ``@data``, ``dim:dim:...:label`` lines)."""
    shown = os.fspath(path)
    text = read_utf8(path, need="a header (@problemName ..., @classLabel true ...), @data "
                     "and one case per line", kind="a .ts file")
    header: dict[str, str] = {}
    classes: list[str] | None = None
    in_data = False
    dims: int | None = None
    rows: list[np.ndarray] = []
    raw: list[str | int] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        where = f"line {lineno}"
        if not in_data and s.startswith("@"):
            key, _, rest = s[1:].partition(" ")
            key, rest = key.lower(), rest.strip()
            if key == "data":
                if classes is None:
                    raise _fail(f"{shown}: {where}: @data comes before @classLabel true ...; a "
                                "classifier needs the class labels declared in the header")
                in_data = True
                if header.get("univariate", "").lower() == "true":
                    dims = 1
                elif "dimensions" in header or "dimension" in header:
                    d = header.get("dimensions", header.get("dimension", ""))
                    if not d.isdigit() or int(d) < 1:
                        raise _fail(f"{shown}: @dimensions {_q(d)} is not a positive integer")
                    dims = int(d)
                continue
            if key in _TS_FLAGS:
                word = rest.split()[0].lower() if rest else ""
                if word not in _TS_BOOL:
                    raise _fail(f"{shown}: {where}: @{key} must be followed by true or false, "
                                f"got {_q(rest)}")
                if key == "timestamps" and _TS_BOOL[word]:
                    raise _fail(f"{shown}: {where}: @timeStamps true is not supported; write "
                                "the values without time stamps")
                if key == "classlabel":
                    if not _TS_BOOL[word]:
                        raise _fail(f"{shown}: {where}: @classLabel false: the file has no class "
                                    "labels; a classifier needs @classLabel true a b c ...")
                    classes = rest.split()[1:]
                    if not classes:
                        raise _fail(f"{shown}: {where}: @classLabel true lists no labels; "
                                    "write @classLabel true followed by the class labels")
                if key == "targetlabel" and _TS_BOOL[word]:
                    raise _fail(f"{shown}: {where}: @targetLabel true (a regression file) is not "
                                "supported; numeric sequence files need class labels")
            header[key] = rest
            continue
        if not in_data:
            raise _fail(f"{shown}: {where}: a data line before @data ({_q(s)}); the header "
                        "must end with @data")
        parts = s.split(":")
        label = parts[-1].strip()
        if len(parts) < 2 or not label:
            raise _fail(f"{shown}: {where}: the class label is missing; each line needs the "
                        "dimensions separated by ':' and the label last (e.g. 1,2,3:a)")
        n_dims = len(parts) - 1
        if dims is None:
            dims = n_dims
        if n_dims != dims:
            raise _fail(f"{shown}: {where}: {n_dims} dimension(s), but the file has {dims} "
                        "(separate dimensions with ':' and put the label last)")
        if classes is not None and label not in classes:
            raise _fail(f"{shown}: {where}: label {_q(label)} is not among the declared "
                        f"@classLabel values {_qlist(classes)}")
        chans = []
        for d, part in enumerate(parts[:-1]):
            cells = part.split(",") if part.strip() else []
            vals = _values(cells, shown, f"{where}, dimension {d + 1}")
            chans.append(_trim_missing(vals[:, None], shown, f"{where}, dimension {d + 1}")[:, 0]
                         if len(vals) else vals)
        lens = [len(c) for c in chans]
        if min(lens) == 0:
            raise _fail(f"{shown}: {where}: dimension {lens.index(0) + 1} has no values")
        if len(set(lens)) > 1:
            raise _fail(f"{shown}: {where}: the dimensions have different lengths "
                        f"({', '.join(map(str, lens))}); all dimensions of a case need the "
                        "same number of steps")
        values = np.stack(chans, axis=1)
        _check_finite(values, shown, where)
        rows.append(values)
        raw.append(label)
    if not in_data:
        raise _fail(f"{shown}: no @data line; a .ts file needs a header, then @data, then "
                    "one case per line")
    return _assemble(rows, raw, shown)


# ----------------------------------------------------------------------------- writing


def write_npz(path: str | os.PathLike, data: NumericSet) -> Path:
    """Save ``x``, ``y`` (label names), ``lengths`` (and ``feature_names``) with ``np.savez``."""
    arrays: dict[str, np.ndarray] = {
        "x": np.asarray(data.x),
        "y": np.asarray(_raw_names(data)),
        "lengths": np.asarray(data.lengths, np.int64),
    }
    if data.feature_names is not None:
        arrays["feature_names"] = np.asarray(data.feature_names)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return atomic_write(path, buf.getvalue())


def _fmt(v: float) -> str:
    return repr(float(v))


def write_ucr(path: str | os.PathLike, data: NumericSet, sep: str = "\t") -> Path:
    """Write a one-channel set as UCR text: label, then the real steps (shorter lines)."""
    if data.x.shape[2] != 1:
        raise ValueError(f"the UCR format holds one channel, got {data.x.shape[2]}")
    lines = []
    for row, k, name in zip(data.x[:, :, 0], data.lengths, _raw_names(data), strict=True):
        lines.append(sep.join([name, *(_fmt(v) for v in row[: int(k)])]))
    return write_text_atomic(path, "\n".join(lines) + "\n")


def write_ts(path: str | os.PathLike, data: NumericSet, problem: str = "data") -> Path:
    """Write a set in the UEA ``.ts`` format (variable lengths allowed)."""
    f = data.x.shape[2]
    equal = bool(np.all(data.lengths == data.x.shape[1]))
    head = [
        f"@problemName {problem}",
        "@timeStamps false",
        "@missing false",
        f"@univariate {'true' if f == 1 else 'false'}",
        f"@dimensions {f}",
        f"@equalLength {'true' if equal else 'false'}",
        *([f"@seriesLength {data.x.shape[1]}"] if equal else []),
        "@classLabel true " + " ".join(data.label_names),
        "@data",
    ]
    lines = []
    for row, k, name in zip(data.x, data.lengths, _raw_names(data), strict=True):
        dims = [",".join(_fmt(v) for v in row[: int(k), c]) for c in range(f)]
        lines.append(":".join([*dims, name]))
    return write_text_atomic(path, "\n".join(head + lines) + "\n")


# ----------------------------------------------------------------------------- train / test


def check_compatible(train: NumericSet, test: NumericSet) -> None:
    """``DataError`` if ``test`` has another number of channels (or other channel names)."""
    ft, fs = train.num_features, test.num_features
    if ft != fs:
        raise _fail(f"{test.source}: {fs} channel(s) per step, but the training file "
                    f"{train.source} has {ft}; both files need the same channels")
    if train.feature_names is not None and test.feature_names is not None and (
        list(train.feature_names) != list(test.feature_names)
    ):
        raise _fail(f"{test.source}: channels {_qlist(test.feature_names)} differ from the "
                    f"training file's {_qlist(train.feature_names)}")


def align_labels(train: NumericSet, test: NumericSet) -> tuple[NumericSet, NumericSet]:
    """Re-index both sets' labels by the training classes (rule: module docstring).

    ``DataError`` naming the first row of a test label that training lacks.
    """
    tr_raw, te_raw = _raw_names(train), _raw_names(test)
    tr, te, names = encode_labels(tr_raw, te_raw)
    unseen = [i for i, k in enumerate(te) if k < 0]
    if unseen:
        labels = list(dict.fromkeys(te_raw[i] for i in unseen))
        raise _fail(f"{test.source}: labels never seen in training: {_qlist(labels)} (first in "
                    f"series {unseen[0] + 1}); the training classes are {_qlist(names)}")
    return (
        train._replace(labels=np.asarray(tr, np.int64), label_names=names),
        test._replace(labels=np.asarray(te, np.int64), label_names=names),
    )


def subset(data: NumericSet, index: Any) -> NumericSet:
    """Rows ``index`` of a set (``T`` trimmed to the longest kept row)."""
    idx = np.asarray(index, np.int64)
    lengths = data.lengths[idx]
    t_len = int(lengths.max()) if len(lengths) else 1
    return data._replace(x=data.x[idx, :t_len], lengths=lengths, labels=data.labels[idx])


def load_numeric_split(
    train_path: str | os.PathLike,
    test_path: str | os.PathLike | None = None,
    *,
    data_format: str | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> tuple[NumericSet, NumericSet]:
    """A training and a test set with one class order (the training file's).

    With ``test_path``: both files read, :func:`check_compatible` and
    :func:`align_labels`. Without: the training file is split by
    :func:`jaxrnn.data.files.stratified_split` (``test_fraction``, ``seed``).
    """
    train = load_numeric(train_path, data_format)
    if len(train.label_names) < 2:
        raise _fail(f"{train.source}: every series has the label {_q(train.label_names[0])}; "
                    "a classifier needs at least 2 classes")
    if test_path is not None:
        if _same_file(os.fspath(train_path), os.fspath(test_path)):
            raise _fail(f"the training and test files are the same file ({train.source}); pass "
                        "a separate test file, or none to split the training file")
        test = load_numeric(test_path, data_format)
        check_compatible(train, test)
        return align_labels(train, test)
    tr_idx, te_idx = stratified_split(train.labels.tolist(), test_fraction, seed)
    if len(te_idx) == 0:
        raise _fail(f"{train.source}: too few series to split ({len(train.labels)}, no class "
                    "has 2 or more); add series or pass a separate test file")
    return subset(train, tr_idx), subset(train, te_idx)


# ----------------------------------------------------------------------------- scaling


def fit_standardizer(train: NumericSet) -> Standardizer:
    """Per-channel mean and population std over the real steps of ``train`` only."""
    return Standardizer.fit(train.x, train.feature_names, lengths=train.lengths)


def standardize(data: NumericSet, scaler: Standardizer) -> NumericSet:
    """``data`` with ``x`` standardized per channel (float32); padded steps stay 0."""
    if scaler.mean.shape[0] != data.num_features:
        raise DataError(f"{data.source}: {data.num_features} channel(s), but the scaler was "
                        f"fitted on {scaler.mean.shape[0]}")
    x = scaler.transform(data.x, lengths=data.lengths)
    return data._replace(x=x.astype(np.float32))
