"""The app as a hostile visitor sees it (gradio_client and raw HTTP on loopback): secrets, server folders, zip
bombs, CSV traversal, other visitors' uploads and jobs. Each test here failed on the app before it was made
safe to host."""

from __future__ import annotations

import io
import os
import threading
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from lafg.app.limits import Limits
from tests.app.conftest import free_port
from tests.language.llm.test_openai_backend import _Server
from tests.waiting import GUARD_S, wait_event, wait_until

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "assets" / "demo"
IMAGE = DEMO / "images" / "010.Red_winged_Blackbird" / "0000.jpg"
SECRET = "sk-operator-secret-0123456789"
CLOSED = "http://127.0.0.1:1/v1"


def call(client, name, *args):
    return client.predict(*args, api_name=f"/{name}")


@pytest.fixture(scope="module")
def hosted(tmp_path_factory):
    """The app over fake models but the real LLM factory and describer, with one allowed key variable (the
    environment is restored when the module's tests are done)."""
    from lafg.app.services import default_describe, default_llm
    from lafg.app.ui import build_demo, launch
    from tests.app.fakes import fake_services

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LAFG_TEST_SECRET", SECRET)
        mp.setenv("LAFG_ALLOWED_KEY", "sk-allowed")
        mp.setenv("OPENAI_API_KEY", "sk-default-variable")
        for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
            mp.delenv(var, raising=False)
        mp.setenv("NO_PROXY", "127.0.0.1,localhost")
        work = tmp_path_factory.mktemp("hosted")
        svc = fake_services(work)
        svc.llm_factory = default_llm
        svc.describe_fn = default_describe
        svc.llm_key_envs = ["LAFG_ALLOWED_KEY"]
        svc.llm_endpoints = [CLOSED]  # a key variable needs an endpoint list; each test lists its own server too
        demo = build_demo(svc)
        port = free_port()
        launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
        yield f"http://127.0.0.1:{port}/", svc
        demo.close()


def new_client(hosted) -> Client:
    return Client(hosted[0], verbose=False)


def generate(client, url, key_source, typed=""):
    return call(client, "generate_descriptions", "openai", "m", url, key_source, typed, "Describe {class_name}", 2)


def test_a_client_can_never_pick_an_environment_variable(hosted):
    client = new_client(hosted)
    call(client, "set_names", "Blue Jay", None, None)
    with _Server() as server:
        hosted[1].llm_endpoints = [CLOSED, server.url]
        for source in ("LAFG_TEST_SECRET", "OPENAI_API_KEY", "PATH"):
            with pytest.raises(AppError):
                generate(client, server.url, source)
        generate(client, server.url, "none")  # no key at all: not even the default variable is read
        generate(client, server.url, "LAFG_ALLOWED_KEY")
        generate(client, server.url, "none", "sk-typed-by-visitor")
    seen = [r["auth"] for r in server.requests]
    assert not any(SECRET in (a or "") or "sk-default-variable" in (a or "") for a in seen)
    assert seen == [None, "Bearer sk-allowed", "Bearer sk-typed-by-visitor"]
    hosted[1].llm_endpoints = [CLOSED]


def test_endpoint_allow_list_and_escaped_status(hosted):
    client = new_client(hosted)
    call(client, "set_names", "Blue Jay", None, None)
    svc = hosted[1]
    with _Server(statuses=[400]) as server:
        svc.llm_endpoints = [CLOSED]
        with pytest.raises(AppError, match="not allowed on this app"):
            generate(client, server.url, "none")
        svc.llm_endpoints = [CLOSED, server.url]
        try:
            with pytest.raises(AppError) as err:
                generate(client, server.url, "none")
        finally:
            svc.llm_endpoints = [CLOSED]
    assert len(server.requests) == 1 and "exploded" not in str(err.value) and "HTTP 400" in str(err.value)


def test_server_folders_are_off_and_confined(hosted, tmp_path):
    client, svc = new_client(hosted), hosted[1]
    with pytest.raises(AppError, match="turned off"):
        call(client, "add_folder", str(DEMO))
    root = tmp_path / "root"
    (root / "set" / "cls_a").mkdir(parents=True)
    (root / "set" / "cls_a" / "x.jpg").write_bytes(IMAGE.read_bytes())
    (root / "escape").symlink_to("/etc")
    svc.data_roots = [root]
    try:
        messages = []
        for path in ("/etc", str(svc.work_dir / "uploads"), str(root / "escape"), str(root / "missing"), str(root / ".." / "root" / ".." )):
            with pytest.raises(AppError) as err:
                call(client, "add_folder", path)
            messages.append(str(err.value).split(":")[0])
        assert set(messages) == {"folder not found or not allowed"}, messages
        assert "set (folder, 1 classes)" in call(client, "add_folder", str(root / "set"))["value"]
    finally:
        svc.data_roots = []


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_zip_bomb_refused_before_writing(hosted, tmp_path, monkeypatch):
    client, svc = new_client(hosted), hosted[1]
    bomb = tmp_path / "bomb.zip"
    bomb.write_bytes(zip_bytes({"a/x.jpg": IMAGE.read_bytes(), "a/huge.png": bytes(64 * 2**20)}))
    assert bomb.stat().st_size < 200_000
    before = set((svc.work_dir / "uploads").rglob("*"))
    unpacked = []  # members the app opened (decompressed); the app runs in this process
    real_open = zipfile.ZipFile.open

    def recording_open(self, name, *args, **kwargs):
        unpacked.append(getattr(name, "filename", name))
        return real_open(self, name, *args, **kwargs)

    with monkeypatch.context() as mp:
        mp.setattr(zipfile.ZipFile, "open", recording_open)
        with pytest.raises(AppError, match="zip bomb"):
            call(client, "upload_dataset", handle_file(str(bomb)))
    assert unpacked == []  # refused from the zip's directory: not one member was decompressed
    assert not [p for p in set((svc.work_dir / "uploads").rglob("*")) - before if p.suffix == ".png"]
    many = tmp_path / "many.zip"
    many.write_bytes(zip_bytes({f"a/{i}.jpg": b"x" for i in range(30)}))
    svc.limits = Limits(zip_entries=20, zip_unpacked_bytes=2 * 2**20)
    try:
        with pytest.raises(AppError, match="30 entries"):
            call(client, "upload_dataset", handle_file(str(many)))
        big = tmp_path / "big.zip"
        big.write_bytes(zip_bytes({f"a/{i}.jpg": IMAGE.read_bytes() * 300 for i in range(6)}))
        with pytest.raises(AppError, match="unpacks to"):
            call(client, "upload_dataset", handle_file(str(big)))
    finally:
        svc.limits = Limits()


def test_two_uploads_never_share_a_folder(hosted, tmp_path):
    client, svc = new_client(hosted), hosted[1]
    good = tmp_path / "set.zip"
    good.write_bytes(zip_bytes({f"{c}/{i}.jpg": IMAGE.read_bytes() for c in ("a_bird", "b_bird") for i in range(2)}))
    call(client, "upload_dataset", handle_file(str(good)))
    call(client, "upload_dataset", handle_file(str(good)))
    sets = [p for p in (svc.work_dir / "uploads").glob("*/set-*")]
    assert len({p.name for p in sets}) == len(sets) >= 2


def test_images_csv_cannot_reach_outside_the_upload(hosted, tmp_path):
    client = new_client(hosted)
    for bad_path in (str(IMAGE), "../../../../../../" + str(IMAGE).lstrip("/")):
        evil = tmp_path / "csv.zip"
        evil.write_bytes(zip_bytes({
            "classes.csv": b"class_id,name,split\n1,a,train\n2,b,test\n",
            "images.csv": f"path,class_id,split\nin/x.jpg,1,train\n{bad_path},2,test\n".encode(),
            "in/x.jpg": IMAGE.read_bytes(),
        }))
        with pytest.raises(AppError, match="outside its folder"):
            call(client, "upload_dataset", handle_file(str(evil)))


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_another_visitors_uploads_are_invisible_and_not_servable(hosted, tmp_path):
    a, b, svc = new_client(hosted), new_client(hosted), hosted[1]
    good = tmp_path / "mine.zip"
    good.write_bytes(zip_bytes({f"{c}/{i}.jpg": IMAGE.read_bytes() for c in ("a_bird", "b_bird") for i in range(2)}))
    label = call(a, "upload_dataset", handle_file(str(good)))["value"]
    assert label.startswith("mine (upload")
    assert label not in [c[0] for c in call(b, "list_models")[1]["choices"]]
    with pytest.raises(AppError, match="choose a data set"):
        call(b, "build_index", "pretrained backbone (no training)", label)
    info, browse = call(a, "build_index", "pretrained backbone (no training)", label)
    thumb = browse[0]["image"]["path"] if isinstance(browse[0]["image"], dict) else browse[0]["image"]
    own_dir = svc.visitor_dir(f"s:{a.session_hash}")
    assert own_dir.name not in (a.session_hash, b.session_hash) and len(own_dir.name) == 32
    # the folder a visitor's id would give under the old layout, the uploads root itself, the jobs and caches
    base = hosted[0] + "gradio_api/file="
    for path in (svc.work_dir / "uploads" / a.session_hash / "query.jpg", svc.work_dir / "uploads", svc.work_dir / "jobs", svc.work_dir / "cache" / "arrays" / "cache.db"):
        assert http_status(base + str(path)) in (403, 404), path
    assert thumb  # a's own gallery is served to a


class HeldJob:
    """A job that never looks at its cancel flag (like a feature extraction), only reports progress: it reports
    once, waits until the test lets it go on, then reports for ever (until a guard) unless Stop ends it."""

    def __init__(self):
        self.reporting, self.go_on, self.give_up, self.returned = (threading.Event() for _ in range(4))

    def __call__(self, ctx):
        ctx.progress(0, 10_000, "extracting")
        self.reporting.set()
        self.go_on.wait(GUARD_S)
        step = 0
        while not self.give_up.wait(0.02):
            step += 1
            ctx.progress(step % 10_000, 10_000, "extracting")
        self.returned.set()
        return {}

    def release(self):
        self.go_on.set()
        self.give_up.set()


def test_only_the_owner_lists_and_stops_a_job_and_stop_is_prompt(hosted):
    a, b, svc = new_client(hosted), new_client(hosted), hosted[1]
    held = HeldJob()
    try:
        job = svc.jobs.submit(held, {}, "a's secret title", owner=f"s:{a.session_hash}")
        assert call(a, "attach_job", job)[0] == job
        with pytest.raises(AppError, match="no such job"):
            call(b, "attach_job", job)
        assert call(b, "list_jobs")["choices"] == []
        with pytest.raises(AppError, match="no job attached"):
            call(b, "stop_training")
        with pytest.raises(Exception, match="no such job"):
            svc.jobs.cancel(job, owner=f"s:{b.session_hash}")
        wait_event(held.reporting, "the job running")
        assert svc.jobs.status(job).state == "running"  # b's attempts did not touch it
        html = call(a, "stop_training")[0]
        # prompt: Stop answered while the job is still held mid-step (it did not wait for the job to end)
        assert "stopping after the current step" in html and svc.jobs.status(job).state == "running"
        held.go_on.set()
        st = wait_until(lambda: (s := svc.jobs.status(job)).state not in ("running", "queued") and s, "the stopped job ending")
        assert st.state == "cancelled" and not held.returned.is_set()  # ended by Stop, not by finishing
    finally:
        held.release()


def test_limits_queue_names_and_one_heavy_call_per_visitor(hosted):
    client, svc = new_client(hosted), hosted[1]
    with pytest.raises(AppError, match="at most 2000 are accepted"):
        call(client, "set_names", "\n".join(f"class {i}" for i in range(2001)), None, None)
    with svc.heavy("s:someone"):
        with pytest.raises(Exception, match="already have a heavy task running"):
            with svc.heavy("s:someone"):
                pass
        with svc.heavy("s:someone-else"):  # other visitors are not held up by this limit
            pass
    assert svc._busy == {}


def test_queue_and_uploads_are_bounded(hosted, tmp_path):
    from lafg.app.ui import build_demo, launch
    from tests.app.fakes import fake_services

    svc = fake_services(Path(hosted[1].work_dir) / "second")
    svc.limits = Limits(zip_bytes=100_000)
    demo = build_demo(svc)
    port = free_port()
    launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        assert demo._queue.max_size == 64
        big = tmp_path / "big.zip"
        big.write_bytes(zip_bytes({f"a/{i}.jpg": os.urandom(30_000) for i in range(8)}))
        assert big.stat().st_size > 100_000
        with pytest.raises(Exception, match="(?i)exceed|too large|maximum"):
            call(Client(f"http://127.0.0.1:{port}/", verbose=False), "upload_dataset", handle_file(str(big)))
        assert not list((svc.work_dir / "uploads").rglob("*.jpg"))
    finally:
        demo.close()


def test_transformers_models_are_hub_ids_or_the_operators_list(hosted):
    client, svc = new_client(hosted), hosted[1]
    call(client, "set_names", "Blue Jay", None, None)
    for bad in ("/etc", "../models/x", str(ROOT), "~/.cache/x"):
        with pytest.raises(AppError, match="Hub model id"):
            call(client, "generate_descriptions", "transformers", bad, "", "none", "", "Describe {class_name}", 2)
    svc.llm_models = []  # served beyond 127.0.0.1 without --llm-model
    try:
        with pytest.raises(AppError, match="not offered here"):
            call(client, "generate_descriptions", "transformers", "Qwen/Qwen2.5-0.5B-Instruct", "", "none", "", "Describe {class_name}", 2)
    finally:
        svc.llm_models = None


class HeldEmbedder:
    """The fake backbone as a long feature extraction that reports progress like the real extractor (per batch
    of 4) and never looks at the cancel flag: after its first report it waits until the test lets it go on, then
    keeps reporting the same batch until Stop ends it (or a guard passes, after which it finishes normally)."""

    def __init__(self, inner):
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.reporting, self.go_on = threading.Event(), threading.Event()
        self.returned = 0  # embed calls that ran to the end

    def embed(self, paths, views: int = 1, progress=None):
        if progress:
            progress(min(4, len(paths)), len(paths), "embedding")
            self.reporting.set()
            self.go_on.wait(GUARD_S)
            deadline = time.monotonic() + GUARD_S
            while time.monotonic() < deadline:  # a guard only: a working Stop ends this loop from progress()
                progress(min(4, len(paths)), len(paths), "embedding")
                time.sleep(0.02)
        out = self.inner.embed(paths, views)
        self.returned += 1
        return out


def test_stop_during_feature_extraction_of_a_real_training_job(hosted):
    client, svc = new_client(hosted), hosted[1]
    fast = svc.image_embedder()
    held = HeldEmbedder(fast)
    svc._models["image"] = held
    try:
        job = call(client, "start_training", "demo (20 CUB birds, embedded)", "lafg", "head", 1, 0.001, False)[0]
        wait_event(held.reporting, "the training job's feature extraction")
        assert "embedding" in svc.jobs.status(job).message  # inside the feature extraction
        html = call(client, "stop_training")[0]
        assert "stopping after the current step" in html
        held.go_on.set()
        st = wait_until(lambda: (s := svc.jobs.status(job)).state not in ("queued", "waiting", "running") and s,
                        "the stopped job ending")
        assert st.state == "cancelled", (st.state, st.message)
        assert held.returned == 0  # stopped inside the extraction: it never got to training
    finally:
        held.go_on.set()
        svc._models["image"] = fast


def test_each_visitor_has_a_disk_quota_and_old_folders_are_swept(hosted, tmp_path):
    from lafg.app.uploads import sweep_uploads

    client, svc = new_client(hosted), hosted[1]
    good = tmp_path / "set.zip"
    good.write_bytes(zip_bytes({f"{c}/{i}.jpg": IMAGE.read_bytes() for c in ("a_bird", "b_bird") for i in range(2)}))
    svc.limits = Limits(visitor_bytes=int(1.5 * 4 * IMAGE.stat().st_size))  # room for one upload, not two
    try:
        call(client, "upload_dataset", handle_file(str(good)))
        with pytest.raises(AppError, match="allowed per visitor"):
            call(client, "upload_dataset", handle_file(str(good)))
    finally:
        svc.limits = Limits()
    old = svc.work_dir / "uploads" / ("0" * 32)
    (old / "set-x").mkdir(parents=True)
    (old / "set-x" / "a.jpg").write_bytes(b"x")
    for p in [old, old / "set-x", old / "set-x" / "a.jpg"]:
        os.utime(p, (0, 0))
    assert sweep_uploads(svc.work_dir, 7) >= 1 and not old.exists()
    assert svc.visitor_dir(f"s:{client.session_hash}").exists()  # a fresh one stays
