"""The app against a hostile visitor, second pass (issue 18): the operator's key, requests to the server's
neighbours (SSRF), and one visitor starving the others. End to end: the app launched on loopback, gradio_client
and raw ``/gradio_api/queue/join``, listeners on 127.0.0.1 standing in for a visitor's server or a tarpit. Each
test failed on the app before this pass."""

from __future__ import annotations

import socket
import threading
import uuid
from pathlib import Path

import pytest
import requests
from gradio_client import Client
from gradio_client.exceptions import AppError

from lafg.app.datasets import DEMO_LABEL
from lafg.app.limits import Limits
from lafg.errors import InputError
from tests.app.conftest import free_port
from tests.language.llm.test_openai_backend import _Server
from tests.loopback import LoopbackServer

SECRET = "sk-operator-secret-issue18"
DEMO_SET = DEMO_LABEL
PRETRAINED = "pretrained backbone (no training)"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)


def services(work: Path, **settings):
    from lafg.app.services import default_describe, default_llm
    from tests.app.fakes import fake_services

    svc = fake_services(work)
    svc.llm_factory, svc.describe_fn = default_llm, default_describe
    for k, v in settings.items():
        setattr(svc, k, v)
    return svc


class Launched:
    """The app over ``svc`` on a free loopback port (closed on exit)."""

    def __init__(self, svc, **kw):
        from lafg.app.ui import build_demo

        self.svc, self.kw, self.demo = svc, kw, build_demo(svc)
        self.url = f"http://127.0.0.1:{free_port()}/"

    def __enter__(self):
        from lafg.app.ui import launch

        port = int(self.url.rsplit(":", 1)[1].strip("/"))
        launch(self.demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **self.kw)
        return self

    def __exit__(self, *exc):
        self.demo.close()

    def client(self, auth=None) -> Client:
        return Client(self.url, verbose=False, auth=auth)


def generate(client, url, key_source="none", typed=""):
    return client.predict("openai", "m", url, key_source, typed, "Describe {class_name}", 1, api_name="/generate_descriptions")


# ---- 1. the operator's key goes only to an endpoint the operator listed ----------------------------------------
def test_a_key_variable_without_an_endpoint_list_is_refused_at_start_up(tmp_path):
    """The old Space recipe (a key variable, no endpoint): the app refuses to start; had it started, the key
    would have gone to the visitor's listener."""
    svc = services(tmp_path, llm_key_envs=["OPENAI_API_KEY"])
    with _Server() as rogue:
        app = Launched(svc)
        with pytest.raises(InputError, match="--llm-key-env needs --llm-endpoint"):
            with app:
                client = app.client()
                client.predict("Blue Jay", None, None, api_name="/set_names")
                generate(client, rogue.url, "OPENAI_API_KEY")
    assert not any(SECRET in (r["auth"] or "") for r in rogue.requests)


def test_the_key_goes_to_the_listed_endpoint_only(tmp_path):
    with _Server() as listed, _Server() as rogue:
        with Launched(services(tmp_path, llm_key_envs=["OPENAI_API_KEY"], llm_endpoints=[listed.url])) as app:
            client = app.client()
            client.predict("Blue Jay", None, None, api_name="/set_names")
            generate(client, listed.url, "OPENAI_API_KEY")
            for url in (rogue.url, rogue.url + "/", rogue.url.replace("127.0.0.1", "localhost")):
                with pytest.raises(AppError, match="not allowed on this app"):
                    generate(client, url, "OPENAI_API_KEY")
            # the key is bound to the list even when the policy itself changes under it
            app.svc.llm_endpoints, app.svc.public = [], False
            with pytest.raises(AppError):
                generate(client, rogue.url, "OPENAI_API_KEY")
    assert [r["auth"] for r in listed.requests] == [f"Bearer {SECRET}"]
    assert rogue.requests == []


def test_app_py_refuses_a_key_variable_without_an_endpoint(tmp_path, monkeypatch):
    from tests.app.test_auth import app_module

    module = app_module()
    monkeypatch.setattr("lafg.app.ui.launch", lambda demo, **kw: pytest.fail("the app must not start"))
    monkeypatch.setattr(module, "ensure_bundled_llm", lambda: None)
    monkeypatch.setenv("LAFG_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(SystemExit, match="--llm-key-env needs --llm-endpoint"):
        module.main(["--llm-key-env", "OPENAI_API_KEY", "--work-dir", str(tmp_path / "work")])


# ---- 4. no request to the server's neighbours ------------------------------------------------------------------
def loopback_spellings(port: int) -> list[str]:
    return [f"http://127.0.0.1:{port}/admin/delete?id=1#", f"http://localhost:{port}/v1", f"http://127.1:{port}/v1",
            f"http://2130706433:{port}/v1", f"http://[::1]:{port}/v1", f"http://[::ffff:127.0.0.1]:{port}/v1",
            f"http://0.0.0.0:{port}/v1", f"http://10.0.0.1:{port}/v1", f"http://169.254.169.254:{port}/latest",
            "http://no-such-host.invalid/v1"]


def test_no_request_reaches_a_loopback_or_private_address_and_every_refusal_reads_the_same(tmp_path):
    closed = free_port()
    with _Server() as open_server:
        port = int(open_server.url.rsplit(":", 1)[1].split("/")[0])
        for public in (False, True):  # on 127.0.0.1 (a local user), and served beyond it
            with Launched(services(tmp_path / str(public), public=public)) as app:
                client = app.client()
                client.predict("Blue Jay", None, None, api_name="/set_names")
                messages = set()
                served = ["https://8.8.8.8/v1"] if public else []  # served beyond 127.0.0.1: even public ones, unless listed
                for url in loopback_spellings(port) + loopback_spellings(closed) + served:
                    with pytest.raises(AppError) as err:
                        generate(client, url)
                    messages.add(str(err.value))
                assert len(messages) == 1 and "not allowed on this app" in messages.pop()
    assert open_server.requests == []


def test_a_listed_private_endpoint_works_and_redirects_are_not_followed(tmp_path):
    with _Server() as target, Redirector(target.url) as listed:
        with Launched(services(tmp_path, llm_endpoints=[listed.url])) as app:
            client = app.client()
            client.predict("Blue Jay", None, None, api_name="/set_names")
            with pytest.raises(AppError, match="redirect"):
                generate(client, listed.url)
    assert listed.hits == 1 and target.requests == []


class Redirector(LoopbackServer):
    """An endpoint that answers every request with a 307 to ``target`` (which would re-POST there)."""

    def __init__(self, target: str):
        from http.server import BaseHTTPRequestHandler

        owner = self
        self.hits = 0

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server API)
                owner.hits += 1
                self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(307)
                self.send_header("Location", f"{target}/chat/completions")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        super().__init__(Handler)


# ---- 5. one client cannot starve the others ----------------------------------------------------------------------
class Tarpit:
    """A loopback listener that accepts connections and never answers until released (bounded wait)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.held = threading.Event()  # at least one connection is being held
        self.release = threading.Event()
        self.accepted = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        conns = []
        self.sock.settimeout(0.2)
        while not self.release.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            conns.append(conn)
            self.accepted += 1
            self.held.set()
        for conn in conns:
            conn.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.thread.join(timeout=10)
        self.sock.close()


def join(http: requests.Session, url: str, fn_index: int, data: list) -> int:
    """One raw ``/gradio_api/queue/join`` from a fresh session hash (what a script minting sessions does)."""
    body = {"data": data, "fn_index": fn_index, "session_hash": uuid.uuid4().hex[:11], "event_data": None, "trigger_id": None}
    return http.post(url + "gradio_api/queue/join", json=body, timeout=30).status_code


def fn_index(demo, api_name: str) -> int:
    return next(i for i, fn in demo.fns.items() if fn.api_name == api_name)


class FromAddress(requests.adapters.HTTPAdapter):
    """Connections from another loopback source address (127.0.0.2): a second client address on one machine."""

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = ("127.0.0.2", 0)
        super().init_poolmanager(*args, **kwargs)


def test_a_tarpitting_visitor_cannot_delay_another_visitors_search(tmp_path):
    """Mallory (127.0.0.2, no login) mints 70 sessions pointing "generate descriptions" at a tarpit; while the
    tarpit still holds her call, Alice (127.0.0.1) searches: the search completes and the queue has room.
    (Before: two of Mallory's sessions held both slots for the whole per-class timeout and her 70 joins filled
    the 64-event queue, so Alice's search was refused with "Queue is full".)"""
    with Tarpit() as tarpit:
        svc = services(tmp_path, llm_endpoints=[tarpit.url])
        with Launched(svc) as app:
            alice = app.client()
            alice.predict(PRETRAINED, DEMO_SET, api_name="/build_index")
            mallory = requests.Session()
            mallory.trust_env = False
            mallory.mount("http://", FromAddress())
            data = [None, "openai", "m", tarpit.url, "none", "", "Describe {class_name}", 1]
            codes = [join(mallory, app.url, fn_index(app.demo, "generate_descriptions"), data) for _ in range(70)]
            assert tarpit.held.wait(60)  # Mallory's call is being held by the tarpit now
            results, *_ = alice.predict("red wings", api_name="/search_text")
            assert results and not tarpit.release.is_set()  # done while the tarpit still holds Mallory's call
            assert len(app.demo._queue) < svc.limits.queue_size  # the queue still has room for everyone else
            assert tarpit.accepted == 1  # Mallory holds one endpoint slot, whatever her number of sessions
    assert codes.count(200) >= 1


def test_the_whole_request_has_one_deadline(tmp_path):
    """However many classes, one visitor's request against an endpoint ends at ``limits.external_seconds``: with
    the deadline already spent, no call is made and the visitor is told."""
    with _Server() as server:
        svc = services(tmp_path, llm_endpoints=[server.url], limits=Limits(external_seconds=0.0))
        with Launched(svc) as app:
            client = app.client()
            client.predict("Blue Jay\nRobin", None, None, api_name="/set_names")
            generate(client, server.url)
    assert server.requests == []


def test_fairness_is_keyed_by_user_or_address_not_the_session(tmp_path):
    """Two sessions of one address share the per-address heavy limit; the endpoint pool holds one call per
    visitor key whatever session hash the client sends."""
    from types import SimpleNamespace

    from lafg.app.limits import visitor_key

    svc = services(tmp_path, limits=Limits(heavy_per_address=1))
    a1 = SimpleNamespace(username=None, client=SimpleNamespace(host="203.0.113.5"), session_hash="one")
    a2 = SimpleNamespace(username=None, client=SimpleNamespace(host="203.0.113.5"), session_hash="two")
    assert visitor_key(a1) == visitor_key(a2) == "a:203.0.113.5"
    assert visitor_key(SimpleNamespace(username="bob", client=a1.client)) == "u:bob"
    with svc.heavy("b:token-one", a1):
        with pytest.raises(InputError, match="your address"):
            with svc.heavy("b:token-two", a2):
                pass
    with svc.external(visitor_key(a1)):
        with pytest.raises(InputError, match="already have a call"):
            with svc.external(visitor_key(a2)):
                pass
        with svc.external("u:bob"), pytest.raises(InputError, match="all LLM endpoint slots"):
            with svc.external("u:carol"):
                pass
    assert svc._busy == {} and svc._external == {}




# ---- 7. every entry point applies the same limits ---------------------------------------------------------------
def test_a_run_bundle_and_an_edit_pass_the_same_limits_as_the_form(app, tmp_path):
    from gradio_client import handle_file

    from lafg.store.export import RunBundle, write_bundle

    client = Client(app[0], verbose=False)
    lim = Limits()
    many = [f"class {i}" for i in range(lim.names + 1)]
    too_many_names = write_bundle(RunBundle(many, {}), tmp_path / "names.zip")
    long_class = write_bundle(RunBundle(["a", "b"], {"a": [f"s{i}" for i in range(lim.sentences_per_class + 1)]}), tmp_path / "sent.zip")
    long_sentence = write_bundle(RunBundle(["a", "b"], {"a": ["x" * (lim.sentence_chars + 1)]}), tmp_path / "chars.zip")
    for path, message in ((too_many_names, "at most 2000"), (long_class, "at most 500"), (long_sentence, "over 2000 characters")):
        with pytest.raises(AppError, match=message):
            client.predict(handle_file(str(path)), api_name="/load_bundle")
    names_info = client.predict("Blue Jay\nMallard", None, None, api_name="/set_names")[1]
    assert "2 classes" in names_info  # the session was left as it was, then used normally
    with pytest.raises(AppError, match="at most 500"):
        client.predict("Blue Jay", "\n".join(f"s{i}" for i in range(lim.sentences_per_class + 1)), api_name="/save_descriptions")


# ---- 8. a zip the server cannot or will not keep leaves nothing behind ---------------------------------------------
def zip_of(path: Path, members: dict[str, bytes]) -> str:
    import zipfile

    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return str(path)


def test_a_refused_zip_gets_one_line_and_leaves_no_file(app, tmp_path, caplog):
    from gradio_client import handle_file

    client, svc = Client(app[0], verbose=False), app[1].services
    jpg = (Path(__file__).resolve().parents[2] / "assets/demo/images/010.Red_winged_Blackbird/0000.jpg").read_bytes()
    deep = "d/" * 2100 + "x.jpg"  # a 4,205-character path of short names: the file system refuses it
    zips = [zip_of(tmp_path / "deep.zip", {"a/0.jpg": jpg, "b/1.jpg": jpg, deep: jpg}),
            zip_of(tmp_path / "outside.zip", {  # unpacked, then refused (its list points outside the upload)
                "classes.csv": b"class_id,name,split\n1,a,train\n2,b,test\n",
                "images.csv": b"path,class_id,split\nin/x.jpg,1,train\n../../../../etc/x.jpg,2,test\n", "in/x.jpg": jpg})]
    before = sorted(p for p in (svc.work_dir / "uploads").rglob("*") if p.is_file())
    with caplog.at_level("INFO"):
        for path in zips:
            with pytest.raises(AppError) as err:
                client.predict(handle_file(path), api_name="/upload_dataset")
            message = str(err.value)
            assert "\n" not in message.strip() and str(svc.work_dir) not in message and "/tmp" not in message
    assert "Traceback" not in caplog.text and len(caplog.text) < 2_000
    after = sorted(p for p in (svc.work_dir / "uploads").rglob("*") if p.is_file())
    assert after == before
