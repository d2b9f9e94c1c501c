"""What one visitor may ask of a hosted app, and how many threads the server gives itself."""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Any

MAX_UPLOAD_BYTES = 200 * 1024 * 1024  # zip uploads larger than this are refused
QUERIES_AT_ONCE = 8  # concurrent searches/explanations per endpoint (faiss and ONNX are thread-safe); jobs queue


@dataclass(frozen=True)
class Limits:
    """What one visitor may ask of a hosted app (checked before any work is done)."""

    zip_bytes: int = MAX_UPLOAD_BYTES  # compressed size of an uploaded zip
    zip_entries: int = 20_000  # members of an uploaded zip
    zip_unpacked_bytes: int = 1024 * 1024 * 1024  # total uncompressed size of the kept members
    zip_ratio: float = 200.0  # uncompressed / compressed size of any member
    visitor_bytes: int = 2 * 1024 * 1024 * 1024  # everything one visitor's folder may hold
    visitor_days: float = 7.0  # visitor folders untouched this long are removed when the app starts
    json_bytes: int = 5 * 1024 * 1024  # descriptions JSON imports
    json_depth: int = 4  # {class: [sentence]} is 2 deep; a little slack for nothing else
    names: int = 2_000  # class names per session
    sentences_per_class: int = 500
    sentence_chars: int = 2_000
    heavy_per_session: int = 1  # heavy calls (describe, vocabulary, index, search) one visitor may run at once
    heavy_per_address: int = 8  # ... and all anonymous visitors of one client address together (a class behind NAT)
    queue_size: int = 64  # events waiting in Gradio's queue, all visitors together
    queue_per_visitor: int = 16  # of which one visitor (login user, else client address) may hold at most this many
    external_calls: int = 2  # calls to LLM endpoints running at once, all visitors together (one per visitor)
    external_seconds: float = 300.0  # one visitor's whole "generate descriptions" request against an endpoint

    def check_session(self, names: list[str], descriptions: dict[str, list[str]]) -> None:
        """Raise :class:`~lafg.errors.InputError` when class names or descriptions from any entry point (the form,
        a names file, a JSON import, a run bundle) pass the limits the form applies."""
        from lafg.errors import InputError

        if len(names) > self.names:
            raise InputError(f"{len(names)} class names; at most {self.names} are accepted here")
        for sentences in descriptions.values():
            if len(sentences) > self.sentences_per_class:
                raise InputError(f"{len(sentences)} sentences for one class; at most {self.sentences_per_class} are accepted here")
            if any(len(x) > self.sentence_chars for x in sentences):
                raise InputError(f"a sentence of over {self.sentence_chars} characters; shorten it")

    def json_limits(self) -> dict[str, int]:
        """The keyword limits of :func:`lafg.language.describe.load_descriptions_json` for a descriptions import."""
        return {"max_bytes": self.json_bytes, "max_depth": self.json_depth, "max_classes": self.names,
                "max_sentences": self.sentences_per_class, "max_chars": self.sentence_chars}


def visitor_key(request: Any) -> str:
    """Who a request comes from, for fairness: the login user, else the client's address. Unlike Gradio's session
    hash or the browser token, a client cannot mint new ones at will (behind a proxy every anonymous visitor
    shares the proxy's address: use a login there)."""
    user = getattr(request, "username", None)
    if user:
        return f"u:{user}"
    client = getattr(request, "client", None)
    return f"a:{getattr(client, 'host', None) or 'unknown'}"


def install_fair_queue(demo: Any, per_visitor: int) -> None:
    """Refuse a visitor's event at the door when that visitor (:func:`visitor_key`) already has ``per_visitor``
    events waiting in Gradio's queue, so one client cannot fill the shared queue for everyone else."""
    queue = demo._queue
    push = queue.push

    async def fair_push(body, request, username):
        key = visitor_key(types.SimpleNamespace(username=username, client=getattr(request, "client", None)))
        waiting = sum(1 for q in queue.event_queue_per_concurrency_id.values() for e in q.queue
                      if visitor_key(types.SimpleNamespace(username=e.username, client=getattr(e.request, "client", None))) == key)
        if waiting >= per_visitor:
            return False, f"{waiting} requests from you (your login, else your network address) are waiting already: wait for them to finish.", "queue_full"
        return await push(body, request, username)

    queue.push = fair_push


def limit_threads(n_cpu: int | None = None) -> None:
    """Leave one core to the web server: torch and ONNX Runtime use n−1 threads (at least 1, through
    :mod:`lafg.threads`), faiss 1 (concurrent queries each search on their own thread)."""
    from lafg.threads import available_cpus, set_threads

    set_threads(max(1, (n_cpu or available_cpus()) - 1))
    try:
        import faiss

        faiss.omp_set_num_threads(1)
    except ImportError:
        pass
