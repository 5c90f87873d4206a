"""Checkpoints: one file, no pickle, versioned, checksummed, written atomically.

File layout (little-endian)::

    offset  size  field
    0       8     magic  b"JAXRNNCK"
    8       4     format version (uint32), currently 1
    12      8     payload length in bytes (uint64)
    20      32    SHA-256 of the payload
    52      n     payload: msgpack map {"meta": <JSON-like>, "arrays": [<array>, ...]}

An ``<array>`` is the msgpack map ``{"dtype": str, "shape": [int], "data": bytes}``
(C order, dtype from a fixed whitelist). msgpack decodes only plain data, so
loading a file can never run code (unlike pickle). What the arrays mean is
decided by the caller: ``jaxrnn.runs`` stores the leaves of its ``TrainState``
(params, optimizer state, PRNG key data) and rebuilds the tree from the model
configuration in ``meta``.

Writing (``jaxrnn.util.atomic.atomic_write``) goes to a temporary file in the same
directory, is flushed and fsync'ed, then renamed over the target (``os.replace``
is atomic on POSIX), and the directory is fsync'ed: a kill at any instant leaves
either the previous checkpoint or the new one, whole (and, killed mid-write, a
stray ``.<name>.*.tmp`` file beside it).
"""

from __future__ import annotations

import hashlib
import os
import struct
from typing import Any

import numpy as np

from jaxrnn.errors import CheckpointError
from jaxrnn.util.atomic import atomic_write

MAGIC = b"JAXRNNCK"
VERSION = 1
_HEADER = struct.Struct("<8sIQ32s")
_DTYPES = {"float16", "float32", "float64", "int8", "int32", "int64", "uint8", "uint32", "bool"}


def _encode_array(a: np.ndarray) -> dict:
    a = np.asarray(a, order="C")  # (ascontiguousarray would turn a 0-d array into 1-d)
    if a.dtype.name not in _DTYPES:
        raise TypeError(f"cannot store dtype {a.dtype} in a checkpoint")
    return {"dtype": a.dtype.name, "shape": list(a.shape), "data": a.tobytes()}


def _decode_array(d: Any, path: str) -> np.ndarray:
    try:
        dtype = d["dtype"]
        if dtype not in _DTYPES:
            raise ValueError(dtype)
        return np.frombuffer(d["data"], dtype=dtype).reshape(tuple(d["shape"])).copy()
    except Exception:
        raise CheckpointError(f"{path}: an array in the checkpoint is malformed") from None


def _check_keys(obj: Any) -> None:
    """``TypeError`` if a map in ``obj`` has a key that is not a str (``loads`` reads only
    string keys: such a file could be written but never read back)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"checkpoint metadata keys must be strings, got {k!r}")
            _check_keys(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _check_keys(v)


def dumps(meta: dict, arrays: list[np.ndarray]) -> bytes:
    """Serialise ``meta`` (JSON-like: dict with str keys, list, str, int, float, bool, None)
    and arrays. ``TypeError`` for what ``loads`` would refuse (a key that is not a str, an
    array dtype outside the whitelist)."""
    import msgpack

    _check_keys(meta)
    payload = msgpack.packb(
        {"meta": meta, "arrays": [_encode_array(np.asarray(a)) for a in arrays]},
        use_bin_type=True,
    )
    return _HEADER.pack(MAGIC, VERSION, len(payload), hashlib.sha256(payload).digest()) + payload


def loads(blob: bytes, path: str = "<bytes>") -> tuple[dict, list[np.ndarray]]:
    """Inverse of ``dumps``. Raises ``CheckpointError`` (one line) on anything wrong."""
    import msgpack

    if not blob:
        raise CheckpointError(f"{path}: checkpoint file is empty")
    if not (blob.startswith(MAGIC) or MAGIC.startswith(blob)):
        raise CheckpointError(f"{path}: not a jaxrnn checkpoint (wrong magic bytes)")
    if len(blob) < _HEADER.size:
        raise CheckpointError(f"{path}: checkpoint is truncated ({len(blob)} bytes)")
    _, version, n, digest = _HEADER.unpack_from(blob)
    if version > VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {version} is newer than this jaxrnn reads ({VERSION}); "
            "upgrade jaxrnn"
        )
    payload = blob[_HEADER.size :]
    if len(payload) < n:
        raise CheckpointError(
            f"{path}: checkpoint is truncated ({len(payload)} of {n} payload bytes)"
        )
    if len(payload) > n or hashlib.sha256(payload).digest() != digest:
        raise CheckpointError(f"{path}: checkpoint is corrupted (checksum mismatch)")
    try:
        obj = msgpack.unpackb(payload, raw=False, strict_map_key=True)
        meta, arrays = obj["meta"], obj["arrays"]
    except Exception:
        raise CheckpointError(f"{path}: checkpoint payload cannot be decoded") from None
    if not isinstance(meta, dict) or not isinstance(arrays, list):
        raise CheckpointError(f"{path}: checkpoint payload has the wrong structure")
    return meta, [_decode_array(a, path) for a in arrays]


def save(path: str | os.PathLike, meta: dict, arrays: list[np.ndarray]) -> None:
    """Write a checkpoint atomically (``jaxrnn.util.atomic.atomic_write``: temp file, fsync,
    rename, fsync the directory)."""
    atomic_write(path, dumps(meta, arrays))


def _read(path: str, size: int = -1) -> bytes:
    """The first ``size`` bytes of ``path`` (-1: all); ``CheckpointError`` when it cannot
    be opened or read."""
    try:
        with open(path, "rb") as fh:
            return fh.read(size)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint file") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path}: is a directory, not a checkpoint file") from None
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read checkpoint ({e.strerror})") from None


def check_readable(path: str | os.PathLike) -> None:
    """Raise the ``CheckpointError`` that ``load`` would for a path that cannot be opened
    (missing, a directory, no permission), without reading the file: the commands call it
    before importing JAX, so a mistyped path is one line at once, not after ~2 s."""
    _read(os.fspath(path), 0)


def load(path: str | os.PathLike) -> tuple[dict, list[np.ndarray]]:
    """Read a checkpoint. Raises ``CheckpointError`` with one line on any problem."""
    path = os.fspath(path)
    return loads(_read(path), path)
