"""Pickle-free on-disk caches.

Values are stored either as JSON (descriptions, small metadata) or as raw ``.npy`` bytes read back with
``allow_pickle=False`` (embeddings), so nothing a user or another process wrote can execute code on load.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import zlib
from pathlib import Path
from typing import Any

import diskcache
import numpy as np

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """``$LAFG_CACHE_DIR`` if set, else ``~/.cache/lafg``."""
    return Path(os.environ.get("LAFG_CACHE_DIR", Path.home() / ".cache" / "lafg"))


def cache_key(parts: dict[str, Any]) -> str:
    """Stable hex key for a dict of JSON-serialisable parts (order-independent)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def content_key(*parts: Any) -> str:
    """Short stable hash (16 hex) of JSON-able parts, anything else by ``str``: the key of a folder or file named
    after what shaped it (galleries, indexes, maps, image lists)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


class CacheTampered(ValueError):
    """A cache row in a format LaFG never writes (e.g. diskcache's pickle mode): refused, never decoded."""


class JsonOnlyDisk(diskcache.Disk):
    """diskcache disk whose values are UTF-8 JSON bytes and whose keys are strings.

    Whatever mode a row *says* it has, only raw/binary bytes are read and only ``json.loads`` decodes them:
    a row in pickle or text mode (which LaFG never writes) raises :class:`CacheTampered` before any byte of it
    is interpreted. diskcache's own ``JSONDisk`` is not enough: it still unpickles pickle-mode rows.
    """

    def put(self, key):
        if not isinstance(key, str):
            raise TypeError("JsonOnlyDisk keys are strings")
        return super().put(key)

    def get(self, key, raw):
        if not raw or not isinstance(key, str):
            raise CacheTampered("refusing to unpickle a cache key")
        return key

    def store(self, value, read, key=diskcache.core.UNKNOWN):
        if read:
            raise TypeError("JsonOnlyDisk stores JSON values, not files")
        blob = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return super().store(blob, False, key=key)

    def fetch(self, mode, filename, value, read):
        if read or mode not in (diskcache.core.MODE_RAW, diskcache.core.MODE_BINARY):
            raise CacheTampered(f"refusing a cache row in mode {mode} (only JSON bytes are read)")
        data = super().fetch(mode, filename, value, False)
        if not isinstance(data, bytes):
            raise CacheTampered("refusing a cache row that is not JSON bytes")
        try:
            return json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            try:  # rows of the earlier JSONDisk store (zlib-framed JSON); still only JSON is decoded
                return json.loads(zlib.decompress(data).decode("utf-8"))
            except (zlib.error, UnicodeDecodeError, ValueError) as exc:
                raise CacheTampered("refusing a cache row that is not JSON") from exc


class JsonCache:
    """Key → JSON value store (diskcache with :class:`JsonOnlyDisk`: no pickle on read or write).

    A row that is not LaFG's JSON (a tampered ``cache.db``) is reported once in the log, deleted without being
    decoded, and treated as a miss, so the value is rebuilt.
    """

    def __init__(self, directory: str | Path | None = None, name: str = "json"):
        path = Path(directory) if directory is not None else default_cache_dir()
        self._path = path / name
        self._cache = diskcache.Cache(str(self._path), disk=JsonOnlyDisk)
        self.tampered = 0  # rows refused since this cache was opened

    def get(self, parts: dict[str, Any]) -> Any | None:
        key = cache_key(parts)
        try:
            return self._cache.get(key)
        except CacheTampered as exc:
            self.tampered += 1
            log.warning("cache %s: refused a row not written by LaFG (%s); it was deleted and will be rebuilt", self._path, exc)
            self._cache.delete(key)
            return None

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
