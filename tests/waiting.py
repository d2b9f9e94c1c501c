"""Waiting in tests: on a condition or an event, never for a fixed time.

The timeouts here only keep a broken test from hanging; they are failure guards, not measurements, so they are
generous (a loaded machine may be slow, never wrong).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

GUARD_S = 60.0  # how long a test waits for something that should happen at once before calling it broken

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], what: str = "the condition", timeout: float = GUARD_S, interval: float = 0.02) -> T:
    """Poll ``predicate`` until it returns something truthy and return that; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still not true after {timeout:g} s (a guard against hanging)")
        time.sleep(interval)


def wait_event(event: threading.Event, what: str = "the event", timeout: float = GUARD_S) -> None:
    """Block until ``event`` is set; fail the test after ``timeout``."""
    if not event.wait(timeout):
        raise AssertionError(f"{what}: did not happen within {timeout:g} s (a guard against hanging)")
