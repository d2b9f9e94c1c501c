"""One training per run folder: an exclusive lock file, and a ``--resume`` that must keep the checkpoint's settings.

``acquire_run_lock(folder)`` takes an exclusive, non-blocking ``fcntl`` lock on ``folder/.lafg-run.lock`` and
returns its handle: the lock lasts as long as the handle (a killed process releases it, so ``kill -9`` never
leaves a stale lock). A second training in the same folder gets a one-line :class:`InputError`.
``check_resume(saved, wanted)`` names every setting a resumed run would silently change.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

from lafg.errors import InputError

LOCK_FILE = ".lafg-run.lock"
FREE_ON_RESUME = ("epochs",)  # a resumed run may train for more epochs; everything else must match


class RunLock:
    """An exclusive lock on a run folder (released by :meth:`release`, on garbage collection or process exit)."""

    def __init__(self, folder: str | Path):
        self.path = Path(folder) / LOCK_FILE
        self._fh = open(self.path, "a+")  # noqa: SIM115 (held for the lock's lifetime)
        try:
            fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._fh.seek(0)
            holder = self._fh.read().strip() or "another process"
            self._fh.close()
            raise InputError(
                f"run folder {Path(folder)} is in use by another training ({holder}); wait for it or choose another --out"
            ) from None
        self._fh.seek(0)
        self._fh.truncate()
        self._fh.write(f"pid {os.getpid()}")
        self._fh.flush()

    def release(self) -> None:
        if not self._fh.closed:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()

    def __del__(self):
        self.release()


def acquire_run_lock(folder: str | Path) -> RunLock:
    return RunLock(folder)


def resume_differences(saved: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """``["lr 0.001 → 0.01", ...]``: settings of ``wanted`` that differ from the checkpoint's ``saved``."""
    out = []
    for key in sorted(set(saved) | set(wanted)):
        if key in FREE_ON_RESUME:
            continue
        if saved.get(key) != wanted.get(key):
            out.append(f"{key} {saved.get(key)!r} → {wanted.get(key)!r}")
    return out


def check_resume(saved: dict[str, Any], wanted: dict[str, Any], override: bool = False) -> None:
    """Refuse a resume that changes settings (unless ``override``): a run must be one configuration."""
    diff = resume_differences(saved, wanted)
    if diff and not override:
        shown = "; ".join(diff[:6]) + (" …" if len(diff) > 6 else "")
        raise InputError(f"--resume with settings that differ from the checkpoint's: {shown} (start a new --out, or pass --override)")
