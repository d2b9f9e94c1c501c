"""``app.py --auth``: a login in front of the app; owners are login names (one user's jobs across sessions)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from tests.app.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def app_module():
    """The top-level app.py (``import app`` would find the tests/app package)."""
    spec = importlib.util.spec_from_file_location("lafg_app_main", ROOT / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_read_auth_pairs_and_file(tmp_path):
    read_auth = app_module().read_auth

    f = tmp_path / "users.txt"
    f.write_text("# lab members\nbob:s3cret:with:colons\n\ncarol:x\n", encoding="utf-8")
    assert read_auth(["alice:pw"], str(f)) == [("alice", "pw"), ("bob", "s3cret:with:colons"), ("carol", "x")]
    with pytest.raises(SystemExit, match="user:password"):
        read_auth(["nopassword"], None)


def test_app_refuses_a_missing_data_root(tmp_path):
    main = app_module().main

    with pytest.raises(SystemExit, match="--data-root folder not found"):
        main(["--data-root", str(tmp_path / "missing")])


def test_login_required_and_jobs_follow_the_user(tmp_path):
    from lafg.app.ui import build_demo, launch
    from tests.app.fakes import fake_services

    svc = fake_services(tmp_path)
    demo = build_demo(svc)
    port = free_port()
    launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, auth=[("alice", "pw"), ("bob", "pw2")])
    url = f"http://127.0.0.1:{port}/"
    try:
        with pytest.raises(Exception):  # noqa: B017 (no login, no app)
            Client(url, verbose=False).predict(api_name="/list_jobs")
        job = svc.jobs.submit(lambda ctx: {}, {}, "alice's run", owner="u:alice")
        svc.jobs.wait(job, 30)
        alice_again = Client(url, auth=("alice", "pw"), verbose=False)  # a new session of the same user
        assert [c[1] for c in alice_again.predict(api_name="/list_jobs")["choices"]] == [job]
        bob = Client(url, auth=("bob", "pw2"), verbose=False)
        assert bob.predict(api_name="/list_jobs")["choices"] == []
        with pytest.raises(AppError, match="no such job"):
            bob.predict(job, api_name="/attach_job")
    finally:
        demo.close()


def test_space_settings_come_from_variables(tmp_path, monkeypatch):
    """A Space runs `python app.py` without flags: the operator's settings are read from variables."""
    module = app_module()
    seen = {}

    def fake_launch(demo, **kw):
        seen.update(kw, services=demo.services)

    monkeypatch.setattr("lafg.app.ui.launch", fake_launch)
    monkeypatch.setattr(module, "ensure_bundled_llm", lambda: None)
    monkeypatch.setenv("LAFG_AUTH", "alice:pw, bob:pw2")
    monkeypatch.setenv("LAFG_DATA_ROOT", str(tmp_path))
    monkeypatch.setenv("LAFG_LLM_KEY_ENV", "OPENAI_API_KEY")
    monkeypatch.setenv("LAFG_LLM_ENDPOINT", "https://api.openai.com/v1")  # a key variable needs its endpoint
    monkeypatch.setenv("LAFG_CACHE_DIR", str(tmp_path / "cache"))
    module.main(["--host", "0.0.0.0", "--work-dir", str(tmp_path / "work")])
    svc = seen["services"]
    assert seen["auth"] == [("alice", "pw"), ("bob", "pw2")]
    assert svc.data_roots == [tmp_path.resolve()] and svc.llm_key_envs == ["OPENAI_API_KEY"]
    assert svc.llm_endpoints == ["https://api.openai.com/v1"]
    assert svc.llm_models == [] and svc.public  # served beyond 127.0.0.1: no visitor-named models or endpoints
