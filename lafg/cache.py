"""Pickle-free on-disk caches.

Values are stored either as JSON (descriptions, small metadata) or as raw ``.npy`` bytes read back with
``allow_pickle=False`` (embeddings), so nothing a user or another process wrote can execute code on load.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import diskcache
import numpy as np


def default_cache_dir() -> Path:
    """``$LAFG_CACHE_DIR`` if set, else ``~/.cache/lafg``."""
    return Path(os.environ.get("LAFG_CACHE_DIR", Path.home() / ".cache" / "lafg"))


def cache_key(parts: dict[str, Any]) -> str:
    """Stable hex key for a dict of JSON-serialisable parts (order-independent)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class JsonCache:
    """Key → JSON value store (diskcache with ``JSONDisk``: no pickle on read or write)."""

    def __init__(self, directory: str | Path | None = None, name: str = "json"):
        path = Path(directory) if directory is not None else default_cache_dir()
        self._cache = diskcache.Cache(str(path / name), disk=diskcache.JSONDisk, disk_compress_level=0)

    def get(self, parts: dict[str, Any]) -> Any | None:
        return self._cache.get(cache_key(parts))

    def set(self, parts: dict[str, Any], value: Any) -> None:
        self._cache.set(cache_key(parts), value)

    def close(self) -> None:
        self._cache.close()


class RawBytesDisk(diskcache.Disk):
    """diskcache disk that stores and returns only raw bytes: it refuses to unpickle anything it reads."""

    def store(self, value, read, key=diskcache.core.UNKNOWN):
        if not isinstance(value, bytes):
            raise TypeError("RawBytesDisk stores bytes only")
        return super().store(value, read, key=key)

    def fetch(self, mode, filename, value, read):
        if mode == diskcache.core.MODE_PICKLE:
            raise ValueError("refusing to unpickle a cache entry")
        return super().fetch(mode, filename, value, read)

    def get(self, key, raw):
        if not raw:
            raise ValueError("refusing to unpickle a cache key")
        return super().get(key, raw)


class ArrayCache:
    """Key → numpy array store; arrays are kept as raw ``.npy`` bytes and loaded without pickle."""

    def __init__(self, directory: str | Path | None = None, name: str = "arrays"):
        path = Path(directory) if directory is not None else default_cache_dir()
        self._cache = diskcache.Cache(str(path / name), disk=RawBytesDisk)

    def get(self, parts: dict[str, Any]) -> np.ndarray | None:
        raw = self._cache.get(cache_key(parts))
        if raw is None:
            return None
        return np.load(io.BytesIO(raw), allow_pickle=False)

    def set(self, parts: dict[str, Any], array: np.ndarray) -> None:
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
        self._cache.set(cache_key(parts), buf.getvalue())

    def close(self) -> None:
        self._cache.close()
