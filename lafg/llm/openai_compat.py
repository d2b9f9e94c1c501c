"""``openai`` backend: any OpenAI-compatible ``/chat/completions`` endpoint (OpenAI, Ollama, vLLM, llama.cpp server).

The API key is read from the environment variable named by ``api_key_env`` (default ``OPENAI_API_KEY``); when
it is unset no ``Authorization`` header is sent, which is what local servers such as Ollama expect. Requests
use connect/read timeouts and a few retries with exponential backoff on connection errors, timeouts, 429 and
5xx answers; everything else fails at once with a one-line :class:`BackendError`.
"""

from __future__ import annotations

import os
import time
from typing import Any

from lafg.errors import BackendError
from lafg.llm.base import LLM, chat_messages

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
    ):
        if not base_url or not base_url.startswith(("http://", "https://")):
            raise BackendError(f"LLM base URL must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.model_id = str(model)
        self.api_key_env = api_key_env
        self.timeout = (float(connect_timeout), float(read_timeout))
        self.retries = max(0, int(retries))
        self.backoff = float(backoff)
        self._session = None

    @property
    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    @property
    def options(self) -> dict[str, Any]:
        return {"base_url": self.base_url}

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env, "") if self.api_key_env else ""
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        import requests

        if self._session is None:
            self._session = requests.Session()
        attempts = self.retries + 1
        last = ""
        for attempt in range(attempts):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                resp = self._session.post(self.url, json=payload, headers=self._headers(), timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = _one_line(exc)
                continue
            except requests.RequestException as exc:
                raise BackendError(f"LLM endpoint {self.base_url} request failed: {_one_line(exc)}") from exc
            if resp.status_code in RETRY_STATUS:
                last = f"HTTP {resp.status_code}: {_snippet(resp.text)}"
                if attempt + 1 < attempts:
                    continue
                raise BackendError(f"LLM endpoint {self.base_url} failed after {attempts} attempts: {last}")
            if resp.status_code in (401, 403):
                raise BackendError(
                    f"LLM endpoint {self.base_url} refused the request (HTTP {resp.status_code}); "
                    f"set the API key in ${self.api_key_env}"
                )
            if resp.status_code >= 400:
                raise BackendError(f"LLM endpoint {self.base_url} rejected the request: HTTP {resp.status_code}: {_snippet(resp.text)}")
            try:
                return resp.json()
            except ValueError as exc:
                raise BackendError(f"LLM endpoint {self.base_url} did not answer JSON: {_snippet(resp.text)}") from exc
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
    return text[:300] or type(exc).__name__


def _snippet(text: str, limit: int = 200) -> str:
    text = " ".join((text or "").split())
    return text[:limit] + ("…" if len(text) > limit else "")
