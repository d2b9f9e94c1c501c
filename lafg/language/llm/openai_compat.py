"""``openai`` backend: any OpenAI-compatible ``/chat/completions`` endpoint (OpenAI, Ollama, vLLM, llama.cpp server).

The API key is given directly (``api_key``: the app's password field; never part of options, cache keys, logs
or errors) or read from the environment variable named by ``api_key_env`` (default ``OPENAI_API_KEY``; the CLI's
choice, the app's operator's allow-list); when there is none no ``Authorization`` header is sent, which is what
local servers such as Ollama expect. One call has one overall deadline (``timeout`` seconds, retries included):
the answer is read in chunks and abandoned when the deadline passes, so a server that drips bytes or stays silent
costs at most ``timeout``. Retries with exponential backoff on connection errors, 429 and 5xx answers; everything
else fails at once with a one-line :class:`BackendError` that quotes no more of a foreign server's reply than a
short, escaped status line. Redirects are never followed (a redirect could lead a call, and its key, elsewhere);
``public_only`` refuses any connection to a non-public address (:mod:`lafg.language.llm.endpoints`), and ``until`` (a
``time.monotonic()`` value) ends every call at that moment however many calls are made: the app's deadline for
one visitor's whole request.
"""

from __future__ import annotations

import html
import os
import time
from typing import Any

from lafg.errors import BackendError
from lafg.language.llm.base import LLM, chat_messages

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-4o-mini"
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class OpenAICompatLLM(LLM):
    """Chat completions over HTTP with ``requests``."""

    name = "openai"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        base_url: str = DEFAULT_BASE_URL,
        api_key_env: str = "OPENAI_API_KEY",
        connect_timeout: float = 3.0,
        read_timeout: float = 120.0,
        retries: int = 2,
        backoff: float = 0.5,
        timeout: float = 120.0,
        api_key: str | None = None,
        max_response_bytes: int = 4 * 1024 * 1024,
        public_only: bool = False,
        until: float | None = None,
    ):
        if not base_url or not base_url.startswith(("http://", "https://")):
            raise BackendError(f"LLM base URL must start with http:// or https://, got {_status_text(base_url, 80)!r}")
        if not float(timeout) > 0:
            raise BackendError(f"the LLM timeout must be positive, got {timeout}")
        self.base_url = base_url.rstrip("/")
        self.model_id = str(model)
        self.api_key_env = api_key_env
        self._api_key = api_key or ""  # typed by the user: kept on this object only (not in options or repr)
        self.timeout = (float(connect_timeout), float(read_timeout))
        self.deadline_s = float(timeout)
        self.max_response_bytes = int(max_response_bytes)
        self.retries = max(0, int(retries))
        self.backoff = float(backoff)
        self.public_only = bool(public_only)
        self.until = until
        self._session = None

    @property
    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    @property
    def options(self) -> dict[str, Any]:
        return {"base_url": self.base_url}

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        key = self._api_key or (os.environ.get(self.api_key_env, "") if self.api_key_env else "")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _read(self, resp, deadline: float) -> bytes:
        """The whole body, chunk by chunk, abandoned at the deadline or past ``max_response_bytes``."""
        chunks, size = [], 0
        while True:
            # read1: whatever bytes have arrived (read(n) would wait for n bytes of a dripping server)
            chunk = resp.raw.read1(65536, decode_content=True) if hasattr(resp.raw, "read1") else resp.raw.read(65536)
            if not chunk:
                break
            size += len(chunk)
            if size > self.max_response_bytes:
                raise BackendError(f"LLM endpoint {self.base_url} answered more than {self.max_response_bytes // 1024} KiB")
            chunks.append(chunk)
            if time.monotonic() > deadline:
                raise _Deadline()
        return b"".join(chunks)

    def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        import json

        import requests

        if self._session is None:
            self._session = requests.Session()
            if self.public_only:
                from lafg.language.llm.endpoints import public_only_adapter

                self._session.trust_env = False  # no proxy from the environment: the peer checked is the endpoint
                for scheme in ("http://", "https://"):
                    self._session.mount(scheme, public_only_adapter())
        attempts = self.retries + 1
        deadline = time.monotonic() + self.deadline_s
        if self.until is not None:
            deadline = min(deadline, self.until)
        last = ""
        for attempt in range(attempts):
            if attempt:
                time.sleep(min(self.backoff * 2 ** (attempt - 1), max(0.0, deadline - time.monotonic())))
            left = deadline - time.monotonic()
            if left <= 0:
                break
            timeout = (min(self.timeout[0], left), min(self.timeout[1], left))
            try:
                with self._session.post(self.url, json=payload, headers=self._headers(), timeout=timeout, stream=True,
                                        allow_redirects=False) as resp:
                    status = f"HTTP {resp.status_code} {_status_text(resp.reason or '')}".strip()
                    body = self._read(resp, deadline) if 200 <= resp.status_code < 300 else b""
            except _Deadline:
                last = f"no complete answer within {self.deadline_s:g} s"
                break
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = _one_line(exc)
                continue
            except requests.RequestException as exc:
                raise BackendError(f"LLM endpoint {self.base_url} request failed: {_one_line(exc)}") from exc
            if resp.status_code in RETRY_STATUS:
                last = status
                if attempt + 1 < attempts:
                    continue
                raise BackendError(f"LLM endpoint {self.base_url} failed after {attempts} attempts: {last}")
            if 300 <= resp.status_code < 400:
                raise BackendError(f"LLM endpoint {self.base_url} answered with a redirect ({status}); give the final URL")
            if resp.status_code in (401, 403):
                how = "check the API key you typed" if self._api_key else f"set the API key in ${self.api_key_env}"
                raise BackendError(f"LLM endpoint {self.base_url} refused the request ({status}); {how}")
            if resp.status_code >= 400:
                raise BackendError(f"LLM endpoint {self.base_url} rejected the request: {status}")
            try:
                return json.loads(body.decode("utf-8"))
            except ValueError as exc:
                raise BackendError(f"LLM endpoint {self.base_url} did not answer JSON ({status})") from exc
        if time.monotonic() >= deadline and "within" not in last:
            last = f"no complete answer within {self.deadline_s:g} s" + (f" (last: {last})" if last else "")
        raise BackendError(f"LLM endpoint {self.base_url} is not reachable: {last}")

    def generate(self, prompt: str, max_new_tokens: int, temperature: float = 0.0) -> str:
        body = self._post({
            "model": self.model_id,
            "messages": chat_messages(prompt),
            "max_tokens": int(max_new_tokens),
            "temperature": float(temperature),
        })
        try:
            content = body["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise BackendError(f"LLM endpoint {self.base_url} answered without choices[0].message.content") from exc
        usage = body.get("usage") or {}
        self.tokens_generated += int(usage.get("completion_tokens") or 0)
        return (content or "").strip()


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return html.escape(text[:300]) or type(exc).__name__


class _Deadline(Exception):
    """The overall deadline of one call passed while reading an answer."""


def _status_text(text: str, limit: int = 60) -> str:
    """A foreign server's status reason (or URL), made safe to show: one line, printable, escaped, short."""
    text = "".join(ch for ch in " ".join(str(text or "").split()) if ch.isprintable())
    return html.escape(text[:limit] + ("…" if len(text) > limit else ""))
