"""Background jobs (training runs) for the app: one at a time per machine, the rest queued.

Each job lives in its own folder ``<root>/<job_id>/`` with a ``status.json`` that is rewritten atomically as the
job runs, so a page reload (or a second browser tab) can re-attach to it by id and see its progress, curves and
result. Jobs run in one worker thread per registry; an exclusive file lock on ``<root>/machine.lock`` keeps two
app processes on the same machine from training at the same time (the second one waits, with a message).

A job function takes a :class:`JobContext` and returns a JSON-serialisable dict (its result). It reports progress
with ``ctx.progress(done, total, message)``, curves with ``ctx.log(series, x, y)``, and should return early when
``ctx.cancelled()`` is true (the registry then records the job as ``cancelled``; its last checkpoint stays).
A job that does not look (e.g. while extracting features) is stopped by its next ``ctx.progress`` call once
:data:`CANCEL_GRACE_S` have passed since Stop, so Stop takes effect within seconds whatever the job is doing.

Jobs have an ``owner`` (the app's visitor); ``list``/``cancel``/``status`` given an owner see only that owner's
jobs, and a foreign job reads exactly like a missing one.
"""

from __future__ import annotations

import collections
import fcntl
import json
import os
import secrets
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lafg.errors import LafgError

CANCEL_GRACE_S = 2.0  # after Stop, a job's next progress report stops it if it has not stopped by itself
STOPPING = "stopping after the current step (the last checkpoint is kept)"
ACTIVE = ("queued", "waiting", "running")  # states of a job that has not finished
FINISHED = ("done", "failed", "cancelled", "interrupted")


@dataclass
class JobStatus:
    id: str
    title: str  # shown to the user ("lafg · head · 3 epochs")
    params: dict[str, Any]
    state: str = "queued"  # queued | waiting | running | done | failed | cancelled | interrupted
    message: str = ""
    done: int = 0
    total: int = 0
    eta_s: float | None = None
    history: dict[str, list[list[float]]] = field(default_factory=dict)  # series -> [[x, y], ...]
    result: dict[str, Any] | None = None
    error: str | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    pid: int = field(default_factory=os.getpid)
    owner: str = ""  # who may see and stop it (the app's visitor); "" = nobody through the app

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0


class JobCancelled(Exception):
    """Raised inside a job by :meth:`JobContext.check_cancelled` to stop it cleanly."""


class JobContext:
    """What a running job sees: its params, its folder, progress/curve reporting and the cancel flag."""

    def __init__(self, registry: JobRegistry, status: JobStatus, cancel: threading.Event):
        self._registry = registry
        self._status = status
        self._cancel = cancel
        self.params = status.params
        self.dir = registry.job_dir(status.id)
        self._stage = (-1, time.time(), 0)  # (total, start time, done at start) of the current stage

    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        if self._cancel.is_set():
            raise JobCancelled()

    def progress(self, done: int, total: int, message: str = "") -> None:
        """Report ``done`` of ``total``; the ETA is estimated within a stage (a new ``total`` starts a stage).

        Raises :class:`JobCancelled` when Stop was pressed more than :data:`CANCEL_GRACE_S` ago and the job
        is still reporting (it did not check ``cancelled()`` itself)."""
        asked = self._registry._cancel_time.get(self._status.id)
        if asked is not None and time.time() - asked > CANCEL_GRACE_S:
            raise JobCancelled()
        if self._cancel.is_set():
            message = STOPPING  # what the user asked for stays on screen until the job ends
        st = self._status
        if int(total) != self._stage[0]:
            self._stage = (int(total), time.time(), int(done))
        st.done, st.total, st.message = int(done), int(total), message
        _, t0, done0 = self._stage
        if done > done0 and total:
            st.eta_s = max(0.0, (time.time() - t0) * (total - done) / (done - done0))
        self._registry._save(st, throttle=True)

    def log(self, series: str, x: float, y: float) -> None:
        self._status.history.setdefault(series, []).append([float(x), float(y)])
        self._registry._save(self._status, throttle=True)


JobFn = Callable[[JobContext], dict]


class JobRegistry:
    """Queue + single worker thread + on-disk status; safe to share between all sessions of one app."""

    def __init__(self, root: str | Path, machine_lock: bool = True, poll_s: float = 0.2):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._machine_lock = machine_lock
        self._poll_s = poll_s
        self._lock = threading.Lock()
        self._queue: collections.deque[tuple[JobStatus, JobFn]] = collections.deque()
        self._cancel: dict[str, threading.Event] = {}
        self._cancel_time: dict[str, float] = {}
        self._live: dict[str, JobStatus] = {}
        self._last_save: dict[str, float] = {}
        self._wakeup = threading.Event()
        self._worker: threading.Thread | None = None
        self._running: str | None = None  # id of the job this registry is running now
        self._mark_orphans()

    # ---- public API -------------------------------------------------------------------------------------
    def job_dir(self, job_id: str) -> Path:
        """Folder of a job; the id must be one this registry made (no path tricks)."""
        if not job_id or not all(c.isalnum() or c == "-" for c in job_id):
            raise LafgError(f"not a job id: {job_id!r}")
        return self.root / job_id

    def submit(self, fn: JobFn, params: dict[str, Any], title: str = "job", owner: str = "") -> str:
        """Queue ``fn`` and return the new job's id (it starts when the machine is free)."""
        job_id = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(8)
        status = JobStatus(id=job_id, title=title, params=json.loads(json.dumps(params)), owner=owner)
        self.job_dir(job_id).mkdir(parents=True)
        with self._lock:
            self._live[job_id] = status
            self._cancel[job_id] = threading.Event()
            self._queue.append((status, fn))
            status.message = self._queue_message(len(self._queue) - 1 + (self._running is not None))
        self._save(status)
        self._ensure_worker()
        self._wakeup.set()
        return job_id

    def status(self, job_id: str, owner: str | None = None) -> JobStatus:
        """Latest status (from memory for this process's jobs, else from disk). With ``owner``, another owner's
        job raises the same error as a missing one."""
        st = self._status(job_id)
        if owner is not None and (not owner or st.owner != owner):
            raise LafgError(f"no such job: {job_id}")
        return st

    def _status(self, job_id: str) -> JobStatus:
        with self._lock:
            if job_id in self._live:
                st = self._live[job_id]
                return JobStatus(**json.loads(json.dumps(asdict(st))))
        path = self.job_dir(job_id) / "status.json"
        if not path.is_file():
            raise LafgError(f"no such job: {job_id}")
        return JobStatus(**json.loads(path.read_text(encoding="utf-8")))

    def list(self, owner: str | None = None) -> list[JobStatus]:
        """All jobs under the root (only ``owner``'s when given; none for an empty owner), newest first."""
        if owner is not None and not owner:
            return []
        out = []
        for path in sorted(self.root.glob("*/status.json"), reverse=True):
            try:
                st = self._status(path.parent.name)
            except (LafgError, ValueError, TypeError):
                continue  # a half-written or foreign folder: skip it
            if owner is None or st.owner == owner:
                out.append(st)
        return out

    def view(self, owner: str) -> JobView:
        """The registry as one owner sees it (``list``/``status``/``active``/``cancel`` of own jobs only)."""
        return JobView(self, owner)

    def cancel(self, job_id: str, owner: str | None = None) -> bool:
        """Ask a job to stop; a queued job is dropped at once. Returns False if it had already finished.
        With ``owner``, another owner's job raises the same error as a missing one (and is not touched)."""
        if owner is not None:
            self.status(job_id, owner)
        with self._lock:
            event = self._cancel.get(job_id)
            if event is None:
                return False
            event.set()
            self._cancel_time.setdefault(job_id, time.time())
            live = self._live.get(job_id)
            if live is not None and live.state in ("running", "waiting"):
                live.message = STOPPING
                self._save(live)
            for i, (st, _fn) in enumerate(self._queue):
                if st.id == job_id:
                    del self._queue[i]
                    st.state, st.message, st.finished = "cancelled", "cancelled before it started", time.time()
                    self._save(st)
                    self._cancel.pop(job_id, None)
                    break
        return True

    def active(self, owner: str | None = None) -> list[JobStatus]:
        return [s for s in self.list(owner) if s.state in ACTIVE]

    def wait(self, job_id: str, timeout: float = 60.0) -> JobStatus:
        """Block until the job finishes (tests, CLI); returns its final status."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            st = self.status(job_id)
            if st.state in FINISHED:
                return st
            time.sleep(self._poll_s / 2)
        raise TimeoutError(f"job {job_id} still {self.status(job_id).state} after {timeout:.0f}s")

    # ---- internals --------------------------------------------------------------------------------------
    def _queue_message(self, ahead: int) -> str:
        if ahead <= 0:
            return "queued: starts as soon as the machine is free"
        return f"queued: {ahead} training job(s) ahead of this one (one training runs at a time on this machine)"

    def _save(self, st: JobStatus, throttle: bool = False) -> None:
        now = time.time()
        if throttle and now - self._last_save.get(st.id, 0.0) < 0.5:
            return
        self._last_save[st.id] = now
        path = self.job_dir(st.id) / "status.json"
        from lafg.store.atomic import atomic_write_text

        atomic_write_text(path, json.dumps(asdict(st), ensure_ascii=False), fsync=False)  # rewritten twice a second

    def _mark_orphans(self) -> None:
        """Jobs left active by a process that no longer exists are recorded as interrupted."""
        for path in self.root.glob("*/status.json"):
            try:
                st = JobStatus(**json.loads(path.read_text(encoding="utf-8")))
            except (ValueError, TypeError):
                continue
            if st.state in ACTIVE and not _pid_alive(st.pid):
                st.state, st.finished = "interrupted", time.time()
                st.message = "interrupted: the app stopped while this job was active (its last checkpoint is kept)"
                self._save(st)

    def _ensure_worker(self) -> None:
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name="lafg-jobs", daemon=True)
                self._worker.start()

    def _work(self) -> None:
        while True:
            with self._lock:
                item = self._queue.popleft() if self._queue else None
                self._running = item[0].id if item else None
                for ahead, (queued, _fn) in enumerate(self._queue):
                    queued.message = self._queue_message(ahead + 1)
                    self._save(queued)
            if item is None:
                self._wakeup.wait(timeout=5.0)
                self._wakeup.clear()
                continue
            self._run(*item)
            with self._lock:
                self._running = None

    def _run(self, st: JobStatus, fn: JobFn) -> None:
        cancel = self._cancel[st.id]
        lock_fh = self._acquire_machine(st, cancel)
        try:
            if cancel.is_set():
                st.state, st.message = "cancelled", "cancelled before it started"
                return
            st.state, st.started, st.message = "running", time.time(), "starting"
            self._save(st)
            try:
                st.result = fn(JobContext(self, st, cancel)) or {}
                st.state = "cancelled" if cancel.is_set() else "done"
                st.message = "stopped: the last checkpoint is kept" if cancel.is_set() else "finished"
            except JobCancelled:
                st.state, st.message = "cancelled", "stopped: the last checkpoint is kept"
            except LafgError as exc:
                st.state, st.error, st.message = "failed", str(exc), f"failed: {exc}"
            except Exception as exc:  # a bug in a job must not kill the worker; keep the trace in the job folder
                (self.job_dir(st.id) / "error.txt").write_text(traceback.format_exc(), encoding="utf-8")
                st.state, st.error = "failed", f"{type(exc).__name__}: {exc}"
                st.message = f"failed: {st.error} (details in {self.job_dir(st.id) / 'error.txt'})"
        finally:
            st.finished, st.eta_s = time.time(), None
            self._save(st)
            with self._lock:
                self._cancel.pop(st.id, None)
                self._cancel_time.pop(st.id, None)
            if lock_fh is not None:
                fcntl.flock(lock_fh, fcntl.LOCK_UN)
                lock_fh.close()

    def _acquire_machine(self, st: JobStatus, cancel: threading.Event):
        """Exclusive machine-wide lock; waits (with a visible message) while another process trains."""
        if not self._machine_lock:
            return None
        fh = open(self.root / "machine.lock", "a+")  # noqa: SIM115 (held until the job ends)
        while not cancel.is_set():
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fh
            except BlockingIOError:
                if st.state != "waiting":
                    st.state = "waiting"
                    st.message = "waiting: another training is running on this machine (another app process)"
                    self._save(st)
                time.sleep(self._poll_s)
        fh.close()
        return None


class JobView:
    """One owner's window on a :class:`JobRegistry` (what the app hands to code that lists or stops jobs)."""

    def __init__(self, registry: JobRegistry, owner: str):
        self.registry, self.owner = registry, owner

    def list(self) -> list[JobStatus]:
        return self.registry.list(self.owner)

    def active(self) -> list[JobStatus]:
        return self.registry.active(self.owner)

    def status(self, job_id: str) -> JobStatus:
        return self.registry.status(job_id, self.owner)

    def cancel(self, job_id: str) -> bool:
        return self.registry.cancel(job_id, self.owner)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # another registry in this very process (tests) owns it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
