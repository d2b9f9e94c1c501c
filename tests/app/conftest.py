"""Launch the app once per test module on a free port, over small fake services."""

from __future__ import annotations

import os
import socket

import pytest

_app_env = pytest.MonkeyPatch()


def pytest_configure(config):
    """No analytics calls from the apps the tests launch (unless the caller set the variable); undone at the end."""
    if "GRADIO_ANALYTICS_ENABLED" not in os.environ:
        _app_env.setenv("GRADIO_ANALYTICS_ENABLED", "False")


def pytest_unconfigure(config):
    _app_env.undo()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """(url, demo) of the app on fake services."""
    from lafg.app.ui import build_demo, launch
    from tests.app.fakes import fake_services

    demo = build_demo(fake_services(tmp_path_factory.mktemp("app")))
    port = free_port()
    launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/", demo
    demo.close()


@pytest.fixture()
def client(app):
    from gradio_client import Client

    return Client(app[0], verbose=False)
