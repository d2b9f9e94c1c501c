"""The bad-input suite drives the launched app through gradio_client (fixtures shared with tests/app)."""

from tests.app.conftest import app, client  # noqa: F401 (fixtures)
