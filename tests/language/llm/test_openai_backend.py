"""The openai backend against real HTTP servers started on 127.0.0.1 inside the test (loopback only)."""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lafg.errors import BackendError
from lafg.language.describe import DescribeConfig, describe_classes
from lafg.language.llm import create_llm
from tests.loopback import LoopbackServer


class _Server(LoopbackServer):
    """A chat-completions server; ``statuses`` lists the HTTP status of each successive request (then 200)."""

    def __init__(self, statuses=(), content="1. Red breast.\n2. Grey back."):
        self.statuses = list(statuses)
        self.content = content
        self.requests = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server API)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                status = owner.statuses.pop(0) if owner.statuses else 200
                if status == 200:
                    payload = {
                        "id": "chatcmpl-1", "object": "chat.completion", "model": body["model"],
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": owner.content}, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29},
                    }
                else:
                    payload = {"error": {"message": "server exploded"}}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        super().__init__(Handler)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def test_openai_ok_sends_chat_request(monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-test-123")
    with _Server() as server:
        llm = create_llm("openai", base_url=server.url, model="tiny-chat", api_key_env="MY_KEY", backoff=0.01)
        assert llm.generate("Describe a robin.", max_new_tokens=32, temperature=0.2) == "1. Red breast.\n2. Grey back."
    assert len(server.requests) == 1
    req = server.requests[0]
    assert req["path"] == "/v1/chat/completions"
    assert req["auth"] == "Bearer sk-test-123"
    assert req["body"] == {
        "model": "tiny-chat", "messages": [{"role": "user", "content": "Describe a robin."}],
        "max_tokens": 32, "temperature": 0.2,
    }
    assert llm.tokens_generated == 9


def test_openai_no_key_sends_no_auth_header(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with _Server() as server:
        llm = create_llm("openai", base_url=server.url, model="llama3.2")
        out = describe_classes(["American Robin"], llm, DescribeConfig(n=5))
    assert out == {"American Robin": ["Red breast.", "Grey back."]}
    assert server.requests[0]["auth"] is None
    assert '"American Robin"' in server.requests[0]["body"]["messages"][0]["content"]


def test_openai_retries_500_then_succeeds():
    with _Server(statuses=[500, 503]) as server:
        llm = create_llm("openai", base_url=server.url, model="m", retries=2, backoff=0.01)
        assert llm.generate("hi", 8) == "1. Red breast.\n2. Grey back."
    assert len(server.requests) == 3


def test_openai_500_every_time_gives_backend_error():
    with _Server(statuses=[500] * 10) as server:
        llm = create_llm("openai", base_url=server.url, model="m", retries=2, backoff=0.01)
        with pytest.raises(BackendError, match=r"failed after 3 attempts: HTTP 500 Internal Server Error$"):
            llm.generate("hi", 8)
    assert len(server.requests) == 3


def test_openai_401_fails_at_once_and_names_the_key_variable():
    with _Server(statuses=[401]) as server:
        llm = create_llm("openai", base_url=server.url, model="m", api_key_env="MY_KEY", backoff=0.01)
        with pytest.raises(BackendError, match=r"HTTP 401.*\$MY_KEY"):
            llm.generate("hi", 8)
    assert len(server.requests) == 1


def posts(monkeypatch) -> list[tuple[float, float]]:
    """The (connect, read) timeouts of every HTTP request the backend makes, recorded as it makes them."""
    import requests

    seen, real_post = [], requests.Session.post

    def post(self, url, *args, **kwargs):
        seen.append(kwargs["timeout"])
        return real_post(self, url, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "post", post)
    return seen


def test_openai_closed_port_is_unreachable_fast(monkeypatch):
    from types import SimpleNamespace

    from lafg.language.llm import openai_compat

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    llm = create_llm("openai", base_url=f"http://127.0.0.1:{port}/v1", model="m", retries=2, backoff=0.05)
    attempts, slept = posts(monkeypatch), []
    monkeypatch.setattr(openai_compat, "time", SimpleNamespace(monotonic=time.monotonic, sleep=slept.append))
    with pytest.raises(BackendError, match=rf"^LLM endpoint http://127.0.0.1:{port}/v1 is not reachable: "):
        llm.generate("hi", 8)
    # every attempt is refused by the closed port; the only waits are the backoff between them
    assert len(attempts) == 3 and slept == [0.05, 0.1]


def test_openai_rejects_non_http_url():
    with pytest.raises(BackendError, match="must start with http"):
        create_llm("openai", base_url="ftp://127.0.0.1/v1")


class _DripServer:
    """Answers 200 with a body that arrives one byte every ``every`` seconds (or never, when ``silent``); after
    ``guard_s`` it gives up (closes the connection), so a client that ignores its deadline fails instead of hanging."""

    def __init__(self, every=0.3, silent=False, guard_s=60.0):
        owner = self
        self.stop = threading.Event()
        self.sent = 0  # body bytes sent (of the 100000 announced)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server API)
                self.rfile.read(int(self.headers["Content-Length"]))
                if silent:
                    owner.stop.wait(guard_s)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "100000")
                self.end_headers()
                deadline = time.monotonic() + guard_s
                while not owner.stop.is_set() and time.monotonic() < deadline:
                    try:
                        self.wfile.write(b" ")
                        self.wfile.flush()
                    except OSError:
                        return
                    owner.sent += 1
                    owner.stop.wait(every)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize("silent", [False, True])
def test_openai_one_overall_deadline_per_call(silent, monkeypatch):
    """A server that drips a byte every 0.3 s (each read well inside the read timeout) or stays silent is
    abandoned at the call's overall deadline, retries included."""
    with _DripServer(silent=silent) as server:
        llm = create_llm("openai", base_url=server.url, model="m", timeout=1.5, read_timeout=1.0, retries=2, backoff=0.01)
        attempts = posts(monkeypatch)
        with pytest.raises(BackendError, match=r"within 1.5 s"):
            llm.generate("hi", 8)
        if silent:
            # each retry waits only what is left of the call's deadline: the read timeouts granted add up to
            # at most the deadline (three full read timeouts would be 3 s)
            assert 1 <= len(attempts) <= 2 and sum(read for _connect, read in attempts) <= 1.5
        else:
            # abandoned in the middle of the answer, with bytes still coming, and not retried
            assert len(attempts) == 1 and 0 < server.sent < 100_000


def test_openai_error_text_quotes_no_foreign_body(monkeypatch):
    """A foreign reply's body (which could hold anything the server wants shown) never reaches the message."""
    with _Server(statuses=[400]) as server:
        llm = create_llm("openai", base_url=server.url, model="m", backoff=0.01)
        with pytest.raises(BackendError) as err:
            llm.generate("hi", 8)
    assert str(err.value).endswith("rejected the request: HTTP 400 Bad Request") and "exploded" not in str(err.value)


def test_openai_typed_key_is_sent_but_kept_out_of_options_and_repr(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    with _Server() as server:
        llm = create_llm("openai", base_url=server.url, model="m", api_key="sk-typed")
        llm.generate("hi", 8)
    assert server.requests[0]["auth"] == "Bearer sk-typed"
    assert "sk-typed" not in repr(llm) + json.dumps(llm.options) + json.dumps(llm.describe())
