"""Progress for long CLI steps: one bar with ETA per step, and timed stages for model loading.

The library reports progress through ``progress(done, total, message)`` callbacks (see docs/ARCHITECTURE.md);
:class:`ProgressBar` is such a callback. On a terminal it draws a tqdm bar whose elapsed time keeps ticking while
a slow first batch runs; elsewhere (logs, CI, captured output) it prints a plain line at most every ``every_s``
seconds and always the last one, so a log shows how far a job got and how long the rest will take. Work found
already cached (the first ``done`` reported) does not count towards the rate, so the ETA is the real one.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


def quiet_library_bars() -> None:
    """Silence the per-file / per-tensor bars of transformers and huggingface_hub ("Loading weights ...").

    They would interleave with our own bars and say nothing a user can act on. Works whether or not those
    libraries are imported yet (environment variable for later imports, their switch for loaded ones).
    """
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()


def format_seconds(seconds: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class ProgressBar:
    """A ``progress(done, total, message)`` callback drawing one bar with ETA (see the module docstring)."""

    def __init__(
        self,
        desc: str,
        unit: str = "it",
        stream: TextIO | None = None,
        enabled: bool = True,
        every_s: float = 10.0,
        tty: bool | None = None,
    ):
        self.desc, self.unit, self.enabled, self.every_s = desc, unit, enabled, every_s
        self.stream = stream if stream is not None else sys.stderr
        self.tty = _is_tty(self.stream) if tty is None else tty
        self.done = self.total = 0
        self.message = ""
        self._start = self._base = None  # time and count of the first report
        self._last_line = 0.0
        self._printed_final = False
        self._bar = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ the callback
    def __call__(self, done: int, total: int, message: str = "") -> None:
        if not self.enabled:
            return
        with self._lock:
            now = time.monotonic()
            if self._start is None:
                self._start, self._base = now, done
            self.done, self.total, self.message = int(done), int(total), message
            if self.tty:
                self._draw_tty()
            elif done >= total or now - self._last_line >= self.every_s or self._last_line == 0.0:
                self._print_line(now)

    def eta_s(self) -> float | None:
        """Seconds left at the rate measured since the first report, or None before any new work finished."""
        if self._start is None or self.done <= (self._base or 0):
            return None
        rate = (self.done - self._base) / max(time.monotonic() - self._start, 1e-9)
        return max(self.total - self.done, 0) / rate

    def line(self) -> str:
        """The plain-text form: ``extract: 64/200 images (32%), 12s elapsed, ETA 25s [message]``."""
        pct = 100.0 * self.done / self.total if self.total else 100.0
        elapsed = time.monotonic() - (self._start or time.monotonic())
        text = f"{self.desc}: {self.done}/{self.total} {self.unit} ({pct:.0f}%), {format_seconds(elapsed)} elapsed"
        if self.done < self.total:
            eta = self.eta_s()
            text += f", ETA {format_seconds(eta)}" if eta is not None else ", ETA --"
        if self.message:
            text += f" [{self.message[:60]}]"
        return text

    def _print_line(self, now: float) -> None:
        self._last_line = now
        self._printed_final = self.done >= self.total
        print(self.line(), file=self.stream, flush=True)

    def _draw_tty(self) -> None:
        from tqdm import tqdm

        if self._bar is None:
            self._bar = tqdm(
                total=self.total, initial=self.done, desc=self.desc, unit=self.unit, file=self.stream,
                dynamic_ncols=True, leave=True,
            )
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()
        self._bar.total = self.total
        self._bar.set_postfix_str(self.message[:40], refresh=False)
        self._bar.update(self.done - self._bar.n)  # update(), not n=: tqdm's rate (and so its ETA) needs it

    def _tick(self) -> None:
        """Redraw every second so the elapsed time moves while a long first batch (or model load) runs."""
        while not self._stop.wait(1.0):
            with self._lock:
                if self._bar is not None:
                    self._bar.refresh()

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2)
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
            elif self.enabled and not self.tty and self._start is not None and not self._printed_final:
                self._print_line(time.monotonic())

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextmanager
def stage(what: str, stream: TextIO | None = None, enabled: bool = True) -> Iterator[None]:
    """Announce a step without a count (loading a model) and say how long it took: ``loading X ...`` then
    ``loading X: done in 4s``. On a terminal the wait shows a ticking elapsed time."""
    stream = stream if stream is not None else sys.stderr
    if not enabled:
        yield
        return
    start = time.monotonic()
    bar = None
    if _is_tty(stream):
        from tqdm import tqdm

        bar = tqdm(total=None, desc=what, bar_format="{desc} ... {elapsed}", file=stream, leave=False)
        stop = threading.Event()

        def tick() -> None:
            while not stop.wait(1.0):
                bar.refresh()

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
    else:
        print(f"{what} ...", file=stream, flush=True)
    try:
        yield
    finally:
        if bar is not None:
            stop.set()
            ticker.join(timeout=2)
            bar.close()
    print(f"{what}: done in {format_seconds(time.monotonic() - start)}", file=stream, flush=True)
