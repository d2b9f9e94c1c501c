import os
from pathlib import Path

import pytest

# Set before any test module is imported (huggingface_hub reads HF_HUB_OFFLINE at import), kept unless the
# caller set them, and undone when the session ends.
TEST_ENV = {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
_session_env = pytest.MonkeyPatch()


def pytest_configure(config):
    for name, value in TEST_ENV.items():
        if name not in os.environ:
            _session_env.setenv(name, value)


def pytest_unconfigure(config):
    _session_env.undo()


REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LAFG_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own cache folder so nothing leaks between tests or into ~/.cache."""
    monkeypatch.setenv("LAFG_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared evaluation data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def minilm():
    from lafg.language.encoders import create_text_encoder

    return create_text_encoder("minilm")
