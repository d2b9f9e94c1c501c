"""Slow down guessing passwords at the login page: after a few failures a user name, and (with a larger
allowance, a class may share one address) a client address, must wait before the next attempt, the wait doubling
with every further failure up to a cap. A success clears the user's count. Installed as an ASGI middleware in front
of Gradio's ``/login`` (``launch(app_kwargs={"middleware": [...]})``); everything else passes untouched."""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs

log = logging.getLogger("lafg.app")
MAX_LOGIN_BODY = 64 * 1024  # a login form is a user name and a password


@dataclass
class LoginThrottle:
    """Failure counts per user and per address, and how long each must wait (exponential, capped)."""

    free_per_user: int = 5  # failures a user name may have before waiting
    free_per_address: int = 20  # failures one client address may have (several users behind one NAT)
    base_s: float = 1.0  # the first wait; doubles with each further failure
    cap_s: float = 300.0  # the longest wait
    forget_s: float = 3600.0  # a key without failures for this long starts again from zero
    max_keys: int = 100_000  # counts kept (the oldest are dropped first): random user names cannot fill memory
    clock: Callable[[], float] = time.monotonic
    _fails: OrderedDict = field(default_factory=OrderedDict, repr=False)  # key -> (failures, time of the last)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _keys(self, user: str, address: str) -> list[tuple[str, int]]:
        return [(f"u:{user}", self.free_per_user), (f"a:{address}", self.free_per_address)]

    def wait_s(self, user: str, address: str) -> float:
        """Seconds before ``user`` from ``address`` may try again (0: now)."""
        now, wait = self.clock(), 0.0
        with self._lock:
            for key, free in self._keys(user, address):
                n, last = self._fails.get(key, (0, now))
                if now - last > self.forget_s:
                    self._fails.pop(key, None)
                elif n >= free:
                    wait = max(wait, last + min(self.cap_s, self.base_s * 2 ** (n - free)) - now)
        return max(0.0, wait)

    def failed(self, user: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            for key, _free in self._keys(user, address):
                n, _ = self._fails.pop(key, (0, now))
                self._fails[key] = (n + 1, now)
            while len(self._fails) > self.max_keys:
                self._fails.popitem(last=False)

    def succeeded(self, user: str) -> None:
        with self._lock:
            self._fails.pop(f"u:{user}", None)


class LoginThrottleMiddleware:
    """ASGI middleware: a POST to ``…/login`` waits its turn (429 until then) and its outcome is counted."""

    def __init__(self, app, throttle: LoginThrottle | None = None):
        self.app = app
        self.throttle = throttle or LoginThrottle()

    async def __call__(self, scope, receive, send):
        if scope.get("type") != "http" or scope.get("method") != "POST" or not scope.get("path", "").rstrip("/").endswith("/login"):
            return await self.app(scope, receive, send)
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > MAX_LOGIN_BODY:
                return await _answer(send, 413, "login form too large")
        user = (parse_qs(body.decode("utf-8", "replace")).get("username") or [""])[0].strip()
        address = (scope.get("client") or ("unknown", 0))[0]
        wait = self.throttle.wait_s(user, address)
        if wait > 0:
            log.info("login refused for %d s after repeated failures (user %r, address %s)", math.ceil(wait), user[:40], address)
            return await _answer(send, 429, f"Too many failed logins: try again in {math.ceil(wait)} s.")
        status: dict[str, int] = {}
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def watch(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        await self.app(scope, replay, watch)
        if status.get("code") == 200:
            self.throttle.succeeded(user)
        elif status.get("code") in (400, 401, 403):
            self.throttle.failed(user, address)


async def _answer(send, code: int, detail: str) -> None:
    data = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": code,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})
