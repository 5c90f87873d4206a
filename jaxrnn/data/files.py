"""Load labelled text from CSV, TSV, JSONL or JSON files into a ``TextDataset``.

Formats (picked from the extension, or forced with ``fmt=``):

* ``.csv``: comma-separated, first line is the header; RFC 4180 quoting
  (``"a, b"``, ``""`` for a quote inside a quoted field, newlines inside quotes);
* ``.tsv`` / ``.tab``: the same with tabs (Python's ``excel-tab`` dialect);
* ``.jsonl`` / ``.ndjson``: one JSON object per line, e.g. ``{"text": "...", "label": "joy"}``;
* ``.json``: an array of such objects (``[{"text": ..., "label": ...}, ...]``, as
  ``pandas.DataFrame.to_json(orient="records")`` writes it); or an object whose ``"train"``
  and ``"test"`` members are such arrays, the shape of the bundled ``sentiment.json`` (the
  training file's ``"test"`` array is then its test split, and a test or ``--eval-data``
  file of that shape gives its ``"test"`` array); or one object per line (JSON Lines in a
  ``.json`` file, as Hugging Face ``datasets``' ``to_json`` writes it).

Files are read as UTF-8 (a leading byte-order mark is ignored). Blank lines are
skipped. Any problem with a file raises :class:`jaxrnn.errors.DataError` whose
message is one line naming the file, the problem (with the line number where
there is one) and the fix; nothing from inside ``csv`` or ``json`` escapes.

Rules:

* **Empty texts are an error**, not dropped: a row whose text is empty or only
  whitespace almost always means a wrong column or a broken export, and training
  on it silently would be wrong. The message says how many and the first line.
* **Missing labels are an error** the same way (empty cell, JSON ``null`` or no key).
* **Label order.** If every label (training and test file together) is an
  integer (``3``, ``"3"``, ``" -1 "``), the classes are the distinct training
  values in numeric order and ``label_names`` are ``str(int)`` (``"01"`` and
  ``"1"`` are the same class). Otherwise labels are strings (stripped of
  surrounding whitespace, case-sensitive; JSON ``true``/``false`` become
  ``"true"``/``"false"``) and the classes are the distinct training values in
  sorted (code point) order. Class ``i`` is ``label_names[i]``.
* **Stratified split** (no test file): see :func:`stratified_split`. Each class
  with ``n >= 2`` rows puts ``clamp(round_half_up(test_fraction * n), 1, n - 1)``
  randomly chosen rows (seeded) in the test split, so it appears in both splits;
  a class with a single row stays in training (``jaxrnn.data.checks.label_warnings``
  reports such a class: it cannot be measured). Both splits keep file order.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
import os
import re
import stat
from collections.abc import Sequence
from numbers import Integral, Real
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from jaxrnn.data.sentiment import Split, TextDataset
from jaxrnn.errors import ConfigError, DataError
from jaxrnn.util.atomic import atomic_write

__all__ = [
    "FORMATS",
    "RawTable",
    "detect_format",
    "encode_labels",
    "json_rows_text",
    "load_dataset",
    "load_table",
    "merge_case_variants",
    "read_utf8",
    "stratified_split",
    "write_text_atomic",
]

#: Accepted ``fmt=`` values (``ndjson`` is an alias of ``jsonl``).
FORMATS = ("csv", "tsv", "jsonl", "json")
_FMT_ALIASES = {"csv": "csv", "tsv": "tsv", "jsonl": "jsonl", "ndjson": "jsonl", "json": "json"}
_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
               ".json": "json"}  # fmt: skip
#: The members of a ``.json`` file that hold its splits (the bundled ``sentiment.json``).
JSON_SPLITS = ("train", "test")
_INT_RE = re.compile(r"[+-]?[0-9]+")


class RawTable(NamedTuple):
    """Rows of one file before labels become class indices.

    ``labels`` are stripped strings (CSV/TSV) or, for JSONL, ints or strings.
    ``lines[i]`` is the 1-based line where row ``i`` starts, for messages.
    """

    texts: list[str]
    labels: list[str | int]
    lines: list[int]
    columns: list[str]
    path: str
    fmt: str
    # Rows left out under ``skip_bad_rows``: ``(line, reason, the row's text or fields)``.
    skipped: tuple[tuple[int, str, str], ...] = ()
    # The splits a ``.json`` file holds (``("train", "test")``; ``()``: one table) and the
    # one these rows come from.
    splits: tuple[str, ...] = ()
    split: str | None = None


# ----------------------------------------------------------------------------- messages


def _fail(msg: str) -> DataError:
    """A ``DataError`` whose message is guaranteed one printable line."""
    one = " ".join(msg.splitlines())
    return DataError(one.encode("utf-8", "backslashreplace").decode("utf-8"))


def split_tail(a: Any, test_fraction: float, too_short: str) -> tuple[Any, Any]:
    """``(a[:N - k], a[N - k:])``: the first rows for training, the last
    ``k = round(test_fraction * N)`` (at least 1, at most N - 1) for test. ``ConfigError``
    for a fraction not strictly between 0 and 1; ``DataError`` with ``too_short`` (formatted
    with ``n``) when ``N < 2``."""
    ok = isinstance(test_fraction, Real) and not isinstance(test_fraction, bool)
    if not ok or not 0.0 < float(test_fraction) < 1.0:
        raise ConfigError(f"test_fraction must be strictly between 0 and 1, got {test_fraction!r}")
    n = len(a)
    if n < 2:
        raise _fail(too_short.format(n=n))
    n_test = min(max(math.floor(test_fraction * n + 0.5), 1), n - 1)
    return a[: n - n_test], a[n - n_test :]


def _q(value: object, limit: int = 40) -> str:
    """Quote a user-supplied value for a message: repr (escapes newlines), shortened."""
    s = str(value)
    if len(s) > limit:
        s = s[: limit - 3] + "..."
    return repr(s)


def _qlist(values: Sequence[object], limit: int = 12) -> str:
    shown = ", ".join(_q(v) for v in values[:limit])
    more = len(values) - limit
    return shown + (f" (and {more} more)" if more > 0 else "") if values else "(none)"


# ----------------------------------------------------------------------------- reading


def detect_format(path: str | os.PathLike, fmt: str | None = None) -> str:
    """``"csv"``, ``"tsv"``, ``"jsonl"`` or ``"json"``: ``fmt`` if given, else from the
    extension."""
    if fmt is not None:
        key = str(fmt).lower().lstrip(".")
        if key not in _FMT_ALIASES:
            raise _fail(f"unknown data format {_q(fmt)}; use one of: csv, tsv, jsonl, json")
        return _FMT_ALIASES[key]
    suffix = Path(os.fspath(path)).suffix.lower()
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    what = f"extension {_q(suffix)}" if suffix else "no extension"
    raise _fail(
        f"{path}: cannot tell the format from {what}; rename it to .csv, .tsv, .jsonl or "
        ".json, or name the format (--format / fmt= csv, tsv, jsonl or json)"
    )


def _read_text(path: str | os.PathLike, fmt: str) -> str:
    """The file's contents as text, or a ``DataError`` saying why not."""
    need = {
        "jsonl": "one JSON object per line",
        "json": "a JSON array of objects, one per example",
    }.get(fmt, "a header line naming the columns, then one row per example")
    return read_utf8(path, need=need, kind="a .csv, .tsv, .jsonl or .json file")


def _no_such_file(shown: str) -> DataError:
    where = "" if os.path.isabs(shown) else f" (relative to {os.getcwd()})"
    return _fail(f"no such file: {shown}{where}; check the path")


def check_exists(path: str | os.PathLike) -> None:
    """Raise the ``DataError`` ``read_utf8`` gives for a path that does not exist, without
    reading anything: the commands call it before JAX starts (~1.5 s), so a mistyped data
    path is one line at once. Everything else about the file is the loader's to check."""
    shown = os.fspath(path)
    try:
        os.stat(shown)
    except (FileNotFoundError, NotADirectoryError):
        raise _no_such_file(shown) from None
    except (OSError, ValueError):
        pass  # the loader words it


def read_utf8(path: str | os.PathLike, *, need: str, kind: str = "the data file") -> str:
    """A data file's contents as text (UTF-8, a leading BOM dropped), or a one-line ``DataError``.

    Shared by every loader in ``jaxrnn.data``. Rejects a missing path, a
    directory or other non-regular file (the message suggests ``kind``, e.g.
    ``"a .conll file"``), unreadable or UTF-16 bytes, invalid UTF-8 (with line,
    column and byte offset) and a file that is empty or only whitespace (the
    message says it needs ``need``).
    """
    shown = os.fspath(path)
    p = Path(shown)
    try:
        st = p.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise _no_such_file(shown) from None
    except (OSError, ValueError) as e:
        raise _fail(f"cannot open {shown}: {_reason(e)}; check the path") from None
    if stat.S_ISDIR(st.st_mode):
        raise _fail(f"{shown} is a directory, not a file; pass the path of the data file inside it")
    if not stat.S_ISREG(st.st_mode):
        raise _fail(f"{shown} is not a regular file; pass the path of {kind}")
    try:
        data = p.read_bytes()
    except (OSError, ValueError) as e:
        raise _fail(f"cannot read {shown}: {_reason(e)}; check the file's permissions") from None

    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise _fail(f"{shown} is UTF-16 encoded; re-save it as UTF-8")
    if _looks_utf16(data):
        raise _fail(f"{shown} looks like UTF-16 without a BOM (NUL bytes); re-save it as UTF-8")
    base = 0
    if data.startswith(codecs.BOM_UTF8):
        data, base = data[len(codecs.BOM_UTF8) :], len(codecs.BOM_UTF8)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise _fail(
            f"{shown}: not valid UTF-8 at line {line}, column {col} (byte 0x{data[e.start]:02x} "
            f"at offset {base + e.start}); re-save the file as UTF-8 "
            "(e.g. iconv -f latin1 -t utf-8 IN > OUT)"
        ) from None
    if not text.strip():
        raise _fail(f"{shown} is empty; it needs {need}")
    return text


def _looks_utf16(data: bytes) -> bool:
    """ASCII-range text in UTF-16 has a NUL in every other byte; real UTF-8 text does not."""
    head = data[:2000]
    if len(head) < 8:
        return False
    return any(half.count(0) >= 0.9 * len(half) for half in (head[0::2], head[1::2]))


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"


def _reason(e: BaseException) -> str:
    return getattr(e, "strerror", None) or str(e) or type(e).__name__


def _column_error(
    shown: str, kind: str, name: str, columns: Sequence[str], fmt: str, flag: str
) -> DataError:
    json_like = fmt in ("jsonl", "json")
    word = "keys" if json_like else "columns"
    hint = ""
    lower = [c for c in columns if c.lower() == name.lower()]
    if lower:
        hint = f" (did you mean {_q(lower[0])}? names are case-sensitive)"
    elif not json_like and len(columns) == 1:
        other = "\t" if fmt == "csv" else ","
        if other in columns[0]:
            real = "TSV" if fmt == "csv" else "CSV"
            hint = f" (the header is one column containing {_q(other)}: is this {real}?)"
    where = "the objects have" if json_like else "the header (first line) has"
    return _fail(
        f"{shown}: no {kind} {word[:-1]} {_q(name)}{hint}; {where} {word}: "
        f"{_qlist(list(columns))}; pass {flag} NAME to choose the {kind} {word[:-1]}"
    )


FIELD_CHARS = 1 << 24  # the longest CSV/TSV field read: 16 Mi characters


def _csv_rows(text: str, shown: str, fmt: str) -> list[tuple[int, list[str]]]:
    """Non-blank records as (first line, fields), with csv errors turned into DataError."""
    delim = "\t" if fmt == "tsv" else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=True)
    rows: list[tuple[int, list[str]]] = []
    prev = 0
    name = fmt.upper()
    # csv's default cap (131,072 characters a field) refuses long documents that JSONL takes;
    # an unclosed quote is still caught, at the end of the text ("never closed")
    limit = csv.field_size_limit(max(csv.field_size_limit(), FIELD_CHARS))
    try:
        for fields in reader:
            start, prev = prev + 1, reader.line_num
            if fields and any(f.strip() for f in fields):
                rows.append((start, fields))
    except (csv.Error, ValueError) as e:
        start = prev + 1
        msg = str(e)
        if "end of data" in msg:
            problem = "a quoted field is never closed"
            fix = 'close the quote, or write a quote inside a quoted field as ""'
        elif "field limit" in msg:
            problem = f"a field is longer than {csv.field_size_limit()} characters"
            fix = "look for an unclosed quote there"
        elif "expected after" in msg:
            problem = f"bad quoting ({msg})"
            fix = 'a field that starts with " must be wholly quoted, with "" for a quote inside'
        else:
            problem = f"cannot parse as {name} ({msg})"
            fix = "check the quoting on that line"
        raise _fail(f"{shown}: line {start}: {problem}; {fix}") from None
    finally:
        csv.field_size_limit(limit)
    return rows


def _load_csv(
    text: str, shown: str, fmt: str, text_column: str, label_column: str,
    skip: list | None = None,
) -> tuple[list[str], list[str | int], list[int], list[str]]:
    rows = _csv_rows(text, shown, fmt)
    if not rows:  # pragma: no cover - _read_text already rejects blank files
        raise _fail(f"{shown} is empty; it needs a header line and one row per example")
    _, head = rows[0]
    header = [h.strip() for h in head]
    idx = []
    for kind, name, flag in (
        ("text", text_column, "--text-column"),
        ("label", label_column, "--label-column"),
    ):
        n = header.count(name)
        if n == 0:
            raise _column_error(shown, kind, name, header, fmt, flag)
        if n > 1:
            raise _fail(
                f"{shown}: column {_q(name)} appears {n} times in the header; "
                "rename the duplicates so each column name is unique"
            )
        idx.append(header.index(name))
    if len(rows) == 1:
        raise _fail(
            f"{shown} has a header ({_qlist(header)}) but no data rows; add one row per example"
        )
    ti, li = idx
    sep = "commas" if fmt == "csv" else "tabs"
    texts, labels, lines = [], [], []
    for line, fields in rows[1:]:
        if len(fields) != len(header):
            if skip is not None:
                skip.append((line, "wrong number of fields", "\t".join(fields)))
                continue
            raise _fail(
                f"{shown}: line {line} has {len(fields)} fields but the header has "
                f"{len(header)} ({_qlist(header)}); quote fields that contain {sep} "
                '("like, this") and give every row the same columns'
            )
        texts.append(fields[ti])
        labels.append(fields[li].strip())
        lines.append(line)
    return texts, labels, lines, header


_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}


def _json_type(v: object) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    return _JSON_TYPES.get(type(v), type(v).__name__)


def _json_line_error(e: BaseException, line: str, lineno: int, shown: str) -> None:
    """Raise the one-line ``DataError`` for a JSONL line that is not JSON."""
    if isinstance(e, json.JSONDecodeError):
        hint = " (a pretty-printed .json file?)" if line in ("{", "[") else ""
        raise _fail(
            f"{shown}: line {lineno} is not valid JSON ({e.msg} at column {e.colno}){hint}; "
            "JSONL needs one complete JSON object per line"
        ) from None
    raise _fail(
        f"{shown}: line {lineno} cannot be read as JSON ({_reason(e)[:80]}); "
        "JSONL needs one JSON object per line"
    ) from None


def _load_jsonl(
    text: str, shown: str, text_column: str, label_column: str, skip: list | None = None
) -> tuple[list[str], list[str | int], list[int], list[str]]:
    items: list[tuple[int, object]] = []
    # Split on "\n" only: JSON strings may legally hold U+2028 and friends unescaped.
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if not line:
            continue
        try:
            items.append((lineno, json.loads(line)))
        except (ValueError, RecursionError) as e:
            if skip is not None:
                skip.append((lineno, "not valid JSON", line))
                continue
            _json_line_error(e, line, lineno, shown)
    return _json_objects(items, shown, text_column, label_column, skip, "jsonl")


_JSON_WS = re.compile(r"[ \t\n\r]*")


def _json_array_lines(text: str, i: int, decoder: json.JSONDecoder) -> list[int]:
    """The 1-based line where each element of the JSON array at ``text[i] == "["`` starts
    (``text`` is valid JSON: ``json.loads`` has read it)."""
    lines: list[int] = []
    line, last = 1 + text.count("\n", 0, i), i
    i = _JSON_WS.match(text, i + 1).end()
    while text[i] != "]":
        line, last = line + text.count("\n", last, i), i
        lines.append(line)
        i = _JSON_WS.match(text, decoder.raw_decode(text, i)[1]).end()
        if text[i] == ",":
            i = _JSON_WS.match(text, i + 1).end()
    return lines


def _json_member_start(text: str, i: int, key: str, decoder: json.JSONDecoder) -> int:
    """Where the value of member ``key`` of the JSON object at ``text[i] == "{"`` starts (its
    last occurrence, the one ``json.loads`` keeps)."""
    found = -1
    i = _JSON_WS.match(text, i + 1).end()
    while text[i] != "}":
        name, i = decoder.raw_decode(text, i)
        i = _JSON_WS.match(text, _JSON_WS.match(text, i).end() + 1).end()  # past the ":"
        if name == key:
            found = i
        i = _JSON_WS.match(text, decoder.raw_decode(text, i)[1]).end()
        if text[i] == ",":
            i = _JSON_WS.match(text, i + 1).end()
    return found


def _json_shape_hint(text_column: str, label_column: str) -> str:
    row = f'{{"{text_column}": "...", "{label_column}": "..."}}'
    return (f"a .json file holds an array of objects like [{row}, ...], an object whose "
            f'"train" and "test" members are such arrays, or one object per line')  # fmt: skip


def _load_json(
    text: str, shown: str, text_column: str, label_column: str, skip: list | None,
    split: str | None,
) -> tuple[list[str], list[str | int], list[int], list[str], tuple[str, ...]]:
    """Rows of a ``.json`` file (shapes: module docstring), and the splits it holds (``()``
    for one array). ``split``: which of ``JSON_SPLITS`` to read from a file that holds them
    (None: ``"train"``)."""
    try:
        whole = json.loads(text)
    except json.JSONDecodeError as e:
        if e.msg == "Extra data" and text.lstrip().startswith("{"):
            # One object per line (JSON Lines saved as .json, as Hugging Face writes it).
            return (*_load_jsonl(text, shown, text_column, label_column, skip), ())
        raise _fail(
            f"{shown}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno}); "
            + _json_shape_hint(text_column, label_column)
        ) from None
    except (ValueError, RecursionError) as e:
        raise _fail(f"{shown}: cannot be read as JSON ({_reason(e)[:80]}); "
                    + _json_shape_hint(text_column, label_column)) from None  # fmt: skip
    decoder = json.JSONDecoder()
    start = _JSON_WS.match(text).end()
    splits: tuple[str, ...] = ()
    if isinstance(whole, dict):
        splits = tuple(k for k in JSON_SPLITS if isinstance(whole.get(k), list))
        if not splits:  # a single row: JSON Lines of one line
            return (*_load_jsonl(text, shown, text_column, label_column, skip), ())
        want = split or "train"
        if want not in splits:
            raise _fail(
                f'{shown}: has no "{want}" array (its members: {_qlist(list(whole))}); a file '
                f'of train and test splits needs both, or pass a file that holds one array'
            )
        whole = whole[want]
        start = _json_member_start(text, start, want, decoder)
    elif not isinstance(whole, list):
        raise _fail(f"{shown}: holds a JSON {_json_type(whole)}; "
                    + _json_shape_hint(text_column, label_column))  # fmt: skip
    if not whole:
        where = f'its "{split or "train"}" array' if splits else "the array"
        raise _fail(f"{shown}: {where} holds no rows; "
                    + _json_shape_hint(text_column, label_column))  # fmt: skip
    lines = _json_array_lines(text, start, decoder)
    items = list(zip(lines, whole, strict=True))
    return (*_json_objects(items, shown, text_column, label_column, skip, "json"), splits)


def _json_where(lineno: int, fmt: str) -> str:
    return f"line {lineno}" if fmt == "jsonl" else f"the row at line {lineno}"


def _json_objects(
    items: list[tuple[int, object]], shown: str, text_column: str, label_column: str,
    skip: list | None, fmt: str,
) -> tuple[list[str], list[str | int], list[int], list[str]]:
    """Texts, labels, lines and keys of JSON rows ``(line, value)`` (JSONL or JSON)."""
    objs: list[tuple[int, dict]] = []
    keys: dict[str, None] = {}
    what = "line" if fmt == "jsonl" else "row"
    for lineno, obj in items:
        if not isinstance(obj, dict):
            if skip is not None:
                skip.append((lineno, "not a JSON object", json.dumps(obj, ensure_ascii=False)))
                continue
            raise _fail(
                f"{shown}: {_json_where(lineno, fmt)} is a JSON {_json_type(obj)}, not an "
                f'object; each {what} must be an object like {{"{text_column}": "...", '
                f'"{label_column}": "..."}}'
            )
        objs.append((lineno, obj))
        keys.update(dict.fromkeys(obj))
    columns = list(keys)
    for kind, name, flag in (
        ("text", text_column, "--text-column"),
        ("label", label_column, "--label-column"),
    ):
        if name not in keys:
            raise _column_error(shown, kind, name, columns, fmt, flag)

    texts: list[str] = []
    labels: list[str | int] = []
    lines: list[int] = []
    for lineno, obj in objs:
        if skip is not None:  # a row that cannot be read is left out, with its reason
            t, v = obj.get(text_column), obj.get(label_column)
            why = ("text is not a string" if t is not None and not isinstance(t, str)
                   else "label is not a string or integer"
                   if v is not None and not (isinstance(v, str | int) or (
                       isinstance(v, float) and math.isfinite(v) and v.is_integer()))
                   else None)  # fmt: skip
            if why is not None:
                skip.append((lineno, why, json.dumps(obj, ensure_ascii=False)))
                continue
        if text_column not in obj:
            if skip is not None:  # no text: an empty text, left out below
                obj = {**obj, text_column: ""}
            else:
                raise _fail(
                    f"{shown}: {_json_where(lineno, fmt)} has no {_q(text_column)} key (its keys: "
                    f"{_qlist(list(obj))}); give every {what} a text"
                )
        t = obj[text_column]
        if t is None:
            t = ""
        if not isinstance(t, str):
            raise _fail(
                f"{shown}: line {lineno}: {_q(text_column)} is a JSON {_json_type(t)}, "
                "not a string; write the text as a JSON string"
            )
        texts.append(t)
        labels.append(_json_label(obj.get(label_column), shown, lineno, label_column))
        lines.append(lineno)
    return texts, labels, lines, columns


def _json_label(v: object, shown: str, lineno: int, column: str) -> str | int:
    """A JSON label value as an int or a string ("" stands for missing)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return v
    if isinstance(v, float) and math.isfinite(v) and v.is_integer():
        return int(v)
    if isinstance(v, str):
        return v.strip()
    raise _fail(
        f"{shown}: line {lineno}: label {_q(column)} is a JSON {_json_type(v)} ({_q(v, 20)}); "
        "labels must be strings or integers"
    )


def load_table(
    path: str | os.PathLike,
    *,
    text_column: str = "text",
    label_column: str = "label",
    fmt: str | None = None,
    skip_bad_rows: bool = False,
    split: str | None = None,
) -> RawTable:
    """Read one CSV/TSV/JSONL/JSON file into texts and raw labels, checking every row.

    Raises ``DataError`` (one line: path, problem, fix) for a missing file, a
    directory, an empty or header-only file, undecodable bytes, bad quoting,
    a malformed or non-object JSON line, missing columns (listing those that
    exist), rows with the wrong number of fields, empty texts or missing labels.
    ``skip_bad_rows``: the row-level problems (empty text, missing label, wrong number of
    fields, a JSONL line that is not a JSON object or holds a text or label of the wrong
    type) leave that row out instead, recorded in ``RawTable.skipped``; a file-level
    problem (missing columns, bad quoting, undecodable bytes) still raises.
    ``split``: which array of a ``.json`` file of ``"train"`` and ``"test"`` arrays to read
    (None: ``"train"``; ignored for a file that holds one table).
    """
    shown = os.fspath(path)
    kind = detect_format(path, fmt)
    if text_column == label_column:
        raise _fail(
            f"the text and label columns are both {_q(text_column)}; "
            "pass different --text-column and --label-column"
        )
    text = _read_text(path, kind)
    skip: list | None = [] if skip_bad_rows else None
    splits: tuple[str, ...] = ()
    if kind == "jsonl":
        texts, labels, lines, columns = _load_jsonl(text, shown, text_column, label_column,
                                                    skip)  # fmt: skip
    elif kind == "json":
        texts, labels, lines, columns, splits = _load_json(text, shown, text_column,
                                                           label_column, skip, split)  # fmt: skip
    else:
        texts, labels, lines, columns = _load_csv(text, shown, kind, text_column, label_column,
                                                  skip)  # fmt: skip
    if skip is not None:
        keep = []
        for i, (t, lab, ln) in enumerate(zip(texts, labels, lines, strict=True)):
            if not t.strip():
                skip.append((ln, "empty text", f"{lab}"))
            elif lab == "":
                skip.append((ln, "missing label", t))
            else:
                keep.append(i)
        texts, labels, lines = ([a[i] for i in keep] for a in (texts, labels, lines))
        if not texts:
            raise _fail(f"{shown}: every row was left out by --skip-bad-rows "
                        f"({_skip_counts(skip)}); fix the file")  # fmt: skip

    empty = [ln for t, ln in zip(texts, lines, strict=True) if not t.strip()]
    if empty:
        raise _fail(
            f"{shown}: {_rows(len(empty))} of {len(texts)} with an empty text in "
            f"{_q(text_column)} (first at line {empty[0]}); remove those rows or fill in "
            "their text (or pass --text-column if that is the wrong column)"
        )
    missing = [ln for lab, ln in zip(labels, lines, strict=True) if lab == ""]
    if missing:
        raise _fail(
            f"{shown}: {_rows(len(missing))} of {len(labels)} with no label in "
            f"{_q(label_column)} (first at line {missing[0]}); label those rows or remove them"
        )
    return RawTable(texts, labels, lines, columns, shown, kind,
                    tuple(sorted(skip)) if skip else (), splits,
                    (split or "train") if splits else None)  # fmt: skip


def _skip_counts(skipped: Sequence[tuple[int, str, str]]) -> str:
    """``"2 empty text, 1 missing label"``: rows left out, counted by reason."""
    counts: dict[str, int] = {}
    for _, why, _ in skipped:
        counts[why] = counts.get(why, 0) + 1
    return ", ".join(f"{n} {why}" for why, n in sorted(counts.items(), key=lambda kv: -kv[1]))


# ----------------------------------------------------------------------------- labels and splits


def _as_int(v: str | int) -> int | None:
    if isinstance(v, int):
        return v
    if _INT_RE.fullmatch(v.strip()):
        try:
            return int(v)
        except ValueError:  # more digits than int() accepts
            return None
    return None


def encode_labels(
    train: Sequence[str | int], test: Sequence[str | int] = ()
) -> tuple[list[int], list[int], list[str]]:
    """Raw labels -> (train indices, test indices, label_names).

    If every label of ``train`` and ``test`` together is an integer, the classes
    are the distinct training values in numeric order, named ``str(int)``;
    otherwise the distinct training strings in sorted order. A test label whose
    class is not in training gets index ``-1`` (:func:`load_dataset` reports them).
    """
    ints = [_as_int(v) for v in [*train, *test]]
    keys: list[int] | list[str]
    if all(i is not None for i in ints):
        keys = [int(i) for i in ints if i is not None]
        classes: list = sorted(set(keys[: len(train)]))
        names = [str(c) for c in classes]
    else:
        keys = [str(v).strip() for v in [*train, *test]]
        classes = sorted(set(keys[: len(train)]))
        names = list(classes)
    index = {c: i for i, c in enumerate(classes)}
    tr = [index[k] for k in keys[: len(train)]]
    te = [index.get(k, -1) for k in keys[len(train) :]]
    return tr, te, names


def merge_case_variants(train: Sequence[str | int], test: Sequence[str | int] = ()
                        ) -> tuple[list[str | int], list[str | int], list[str]]:  # fmt: skip
    """Labels that differ only by case (surrounding whitespace is stripped on reading) are
    one class, everywhere: each spelling becomes the one most frequent in ``train`` (ties:
    the first in sorted order). Returns the relabelled ``train`` and ``test`` and one note
    per merged class. Integer labels are left as they are."""
    if all(_as_int(v) is not None for v in [*train, *test]):
        return list(train), list(test), []
    counts: dict[str, dict[str, int]] = {}
    for v in [*train, *test]:
        s = str(v).strip()
        counts.setdefault(s.casefold(), {}).setdefault(s, 0)
    for v in train:
        s = str(v).strip()
        counts[s.casefold()][s] += 1
    canon, notes = {}, []
    for spellings in counts.values():
        best = sorted(spellings, key=lambda s: (-spellings[s], s))[0]
        canon.update(dict.fromkeys(spellings, best))
        if len(spellings) > 1:
            shown = " and ".join(f"{_q(s)} ({_rows(spellings[s])} in training)"
                                 for s in sorted(spellings))  # fmt: skip
            notes.append(f"labels {shown} differ only by case: merged as {_q(best)}")
    return ([canon[str(v).strip()] for v in train], [canon[str(v).strip()] for v in test],
            notes)  # fmt: skip


def _check_fraction(test_fraction: object) -> float:
    ok = isinstance(test_fraction, Real) and not isinstance(test_fraction, bool)
    if not ok or not (0.0 < float(test_fraction) < 1.0):  # NaN fails here too
        raise _fail(
            f"test_fraction must be strictly between 0 and 1, got {test_fraction!r}; "
            "e.g. 0.2 holds out 20% of each class (or pass a test file)"
        )
    return float(test_fraction)


def _check_seed(seed: object) -> int:
    if not isinstance(seed, Integral) or isinstance(seed, bool) or int(seed) < 0:
        raise _fail(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def stratified_split(
    labels: Sequence[int], test_fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified split of row indices -> (train_idx, test_idx), both sorted.

    The rule: a class with ``n >= 2`` rows sends
    ``k = clamp(floor(test_fraction * n + 0.5), 1, n - 1)`` of them, chosen by a
    ``numpy.random.default_rng(seed)`` permutation, to the test split; a class
    with one row stays in training only (``jaxrnn.data.checks.label_warnings``
    warns about it). So every class with at least 2 rows is in
    both splits, and the test share of each class is ``test_fraction`` up to
    rounding. Classes are visited in sorted order, so the result depends only on
    ``labels``, ``test_fraction`` and ``seed``.
    """
    frac = _check_fraction(test_fraction)
    rng = np.random.default_rng(_check_seed(seed))
    y = np.asarray(labels)
    test_parts = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        n = len(idx)
        if n < 2:
            continue
        k = min(max(math.floor(frac * n + 0.5), 1), n - 1)
        test_parts.append(rng.permutation(idx)[:k])
    test_idx = np.sort(np.concatenate(test_parts)) if test_parts else np.zeros(0, np.int64)
    mask = np.ones(len(y), bool)
    mask[test_idx] = False
    return np.flatnonzero(mask), test_idx


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def load_dataset(
    train_path: str | os.PathLike,
    test_path: str | os.PathLike | None = None,
    *,
    test_fraction: float = 0.2,
    seed: int = 0,
    text_column: str = "text",
    label_column: str = "label",
    fmt: str | None = None,
    skip_bad_rows: bool = False,
) -> TextDataset:
    """Load a labelled text file (and optionally a separate test file) as a ``TextDataset``.

    Without ``test_path`` the training file is split by :func:`stratified_split`
    with ``test_fraction`` and ``seed``, unless it is a ``.json`` file of ``"train"`` and
    ``"test"`` arrays: its own test split is then the test set (a note says so). Labels
    become class indices ``0..C-1`` (see the module docstring for the order);
    ``label_names[i]`` names class ``i``.
    ``fmt`` forces the format of both files. Every problem raises ``DataError``, except
    row-level ones under ``skip_bad_rows`` (``load_table``): those rows are left out and
    listed in ``TextDataset.skipped``, counted in ``TextDataset.notes``. Labels that differ
    only by case are one class (``merge_case_variants``; a note says so).
    """
    if test_path is None:  # check the flags before reading anything
        _check_fraction(test_fraction)
        _check_seed(seed)
    cols = dict(text_column=text_column, label_column=label_column, fmt=fmt,
                skip_bad_rows=skip_bad_rows)  # fmt: skip
    train = load_table(train_path, **cols)
    notes0: list[str] = []
    if test_path is None and "test" in train.splits:  # the file's own split (sentiment.json)
        test = load_table(train_path, **cols, split="test")
        notes0.append(f'{train.path}: the file\'s own "test" array is the test set')
    else:
        test = load_table(test_path, **cols, split="test") if test_path is not None else None
        if test is not None and _same_file(train.path, test.path):
            raise _fail(
                f"the training and test files are the same file ({train.path}); "
                "pass a separate test file, or none to split the training file"
            )
        if test is not None and "test" in train.splits:
            notes0.append(f'{train.path}: its "test" array is not used (a test file is given)')

    raw_tr, raw_te, notes = merge_case_variants(train.labels,
                                                test.labels if test is not None else ())
    notes = notes0 + notes
    tr, te, names = encode_labels(raw_tr, raw_te)
    skipped = tuple((t.path, *row) for t in (train, test) if t is not None for row in t.skipped)
    for t in (train, test):
        if t is not None and t.skipped:
            notes.append(f"{t.path}: left out {_rows(len(t.skipped))} (--skip-bad-rows): "
                         f"{_skip_counts(t.skipped)}")  # fmt: skip
    extra = dict(notes=tuple(notes), skipped=skipped)
    if len(names) < 2:
        raise _fail(
            f"{train.path}: every training row has the label {_q(names[0])}; a classifier "
            f"needs at least 2 classes (is {_q(label_column)} the right --label-column?)"
        )

    if test is not None:
        unseen: dict[str, list[int]] = {}
        for i, raw, line in zip(te, test.labels, test.lines, strict=True):
            if i < 0:
                unseen.setdefault(str(raw), []).append(line)
        if unseen:
            parts = [f"{_q(k)} ({_rows(len(v))}, first at line {v[0]})" for k, v in unseen.items()]
            raise _fail(
                f"{test.path}: labels never seen in training: {', '.join(parts[:8])}"
                f"{' ...' if len(parts) > 8 else ''}; the training classes are "
                f"{_qlist(names)}: fix the test labels or add training rows for them"
            )
        return TextDataset(Split(train.texts, tr), Split(test.texts, te), names, **extra)

    tr_idx, te_idx = stratified_split(tr, test_fraction, seed)
    if len(te_idx) == 0:
        raise _fail(
            f"{train.path}: too few rows to split ({len(tr)} rows, no class has 2 or more); "
            "add rows (at least 2 per class) or pass a separate test file"
        )

    def take(idx: np.ndarray) -> Split:
        return Split([train.texts[i] for i in idx], [tr[i] for i in idx])

    return TextDataset(take(tr_idx), take(te_idx), names, **extra)


# ----------------------------------------------------------------------------- writing


def json_rows_text(rows: Sequence[str], fmt: str) -> str:
    """A file's text from its rows, each one JSON object already dumped: one a line
    (``"jsonl"``), or those lines as one array (``"json"``), so a reader's messages can still
    name a row by its line."""
    if fmt == "jsonl":
        return "".join(r + "\n" for r in rows)
    return "[\n" + ",\n".join(rows) + "\n]\n"


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` as UTF-8 to ``path`` atomically; returns the path.

    The text goes to a temporary file in the same folder, which is then renamed
    over ``path`` (keeping an existing file's permissions), so a reader never
    sees half a file; missing parent folders are created.
    """
    return atomic_write(path, text)
