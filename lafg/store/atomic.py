"""The one atomic writer: a file is either its old content or its new content, never half written (a killed job,
two visitors building the same gallery, a full disk mid-write)."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A unique temporary file beside ``path`` for writers that need a file name (``np.save``, an ONNX export,
    a zip): renamed over ``path`` when the block ends cleanly, removed when it raises. The name is unique per
    call (``mkstemp``), so two threads or processes writing the same file never share a temp file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes, fsync: bool = True) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder and an atomic rename. ``fsync=False`` for
    files that are rewritten often or can be rebuilt (job status, thumbnails): still never half-written."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        if fsync:
            f.flush()
            os.fsync(f.fileno())


def atomic_write_text(path: str | Path, text: str, fsync: bool = True) -> None:
    """:func:`atomic_write_bytes` of UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"), fsync)


def write_json(path: str | Path, obj: Any, indent: int = 1) -> None:
    """UTF-8 JSON (non-ASCII kept as is), written atomically: the one JSON writer of the library and the app."""
    atomic_write_bytes(path, (json.dumps(obj, ensure_ascii=False, indent=indent) + "\n").encode("utf-8"))
