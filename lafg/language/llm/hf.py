"""``transformers`` backend: any causal LM by hub id or local folder (optionally a GGUF file inside it).

Models load once per process (module-level cache behind a lock) and on first use, so building the backend
is free and a run answered entirely from the description cache never loads a model. ``HF_HUB_OFFLINE=1`` is
honoured by ``transformers`` itself; a model that cannot be loaded becomes a one-line :class:`BackendError`.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from lafg.errors import BackendError
from lafg.language.llm.base import LLM, chat_messages

DEFAULT_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"


@dataclass
class _Loaded:
    tokenizer: Any
    model: Any
    chat: bool  # the tokenizer has a chat template
    lock: threading.Lock = field(default_factory=threading.Lock)  # one generate() at a time per model


_MODELS: dict[tuple, _Loaded] = {}
_LOAD_LOCK = threading.Lock()


def _resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _load_gguf_model(source: str, gguf_file: str, dtype: Any) -> Any:
    """Dequantise a GGUF checkpoint into a float ``transformers`` model.

    ``from_pretrained(gguf_file=...)`` needs ``accelerate``; without it the same steps are done by hand
    (config from the GGUF header, empty model, dequantised tensors mapped onto it by ``transformers``).
    """
    from transformers import AutoConfig, AutoModelForCausalLM

    if importlib.util.find_spec("accelerate") is not None:
        return AutoModelForCausalLM.from_pretrained(source, gguf_file=gguf_file, dtype=dtype)
    import transformers.modeling_gguf_pytorch_utils as gguf_utils

    config = AutoConfig.from_pretrained(source, gguf_file=gguf_file)
    model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    path = Path(source) / gguf_file if not os.path.isabs(gguf_file) else Path(gguf_file)
    quiet = functools.partial(gguf_utils.tqdm, disable=True)  # its per-tensor bar would litter CLI output
    with mock.patch.object(gguf_utils, "tqdm", quiet):
        parsed = gguf_utils.load_gguf_checkpoint(str(path), return_tensors=True, model_to_load=model, torch_dtype=dtype)
    tensors = parsed["tensors"]
    result = model.load_state_dict(tensors, strict=False)
    model.tie_weights()
    tied = {"lm_head.weight"} if getattr(config, "tie_word_embeddings", False) else set()
    missing = set(result.missing_keys) - tied
    if missing:
        raise BackendError(f"GGUF file {path.name} lacks weights for: {', '.join(sorted(missing)[:5])}")
    return model


def load_causal_lm(source: str, gguf_file: str | None = None, device: str = "cpu", dtype: str = "float32") -> _Loaded:
    """Tokenizer + eval-mode model for ``source`` (hub id or folder), shared by every caller in the process."""
    key = (str(source), gguf_file, device, dtype)
    with _LOAD_LOCK:
        if key in _MODELS:
            return _MODELS[key]
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
            from transformers.utils import logging as hf_logging
        except ImportError as exc:
            raise BackendError(f"the transformers backend needs torch and transformers: {exc}") from exc
        if gguf_file and importlib.util.find_spec("gguf") is None:
            raise BackendError("loading a GGUF model needs the gguf package: pip install gguf")
        torch_dtype = getattr(torch, dtype, None)
        if not isinstance(torch_dtype, torch.dtype):
            raise BackendError(f"unknown torch dtype {dtype!r}")
        hf_logging.disable_progress_bar()
        kwargs = {"gguf_file": gguf_file} if gguf_file else {}
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(source), **kwargs)
            if gguf_file:
                model = _load_gguf_model(str(source), gguf_file, torch_dtype)
            else:
                model = AutoModelForCausalLM.from_pretrained(str(source), dtype=torch_dtype)
        except BackendError:
            raise
        except Exception as exc:  # OSError (missing / offline), ValueError (bad config), HTTP errors, ...
            offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0", "false", "False")
            hint = (
                " (HF_HUB_OFFLINE is set: use a local folder or a model already in the Hugging Face cache)"
                if offline
                else " (a hub id needs internet the first time; a local folder works offline)"
            )
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BackendError(f"cannot load LLM {source!r}: {first_line}{hint}") from exc
        model = model.eval().to(_resolve_device(device))
        tokenizer.padding_side = "left"  # generation continues every row from its last real token
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        loaded = _Loaded(tokenizer=tokenizer, model=model, chat=bool(getattr(tokenizer, "chat_template", None)))
        _MODELS[key] = loaded
        return loaded


class TransformersLLM(LLM):
    """A causal LM run with ``transformers`` ``generate`` (chat template when the tokenizer has one)."""

    name = "transformers"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        gguf_file: str | None = None,
        device: str = "cpu",
        dtype: str = "float32",
        repetition_penalty: float = 1.15,
        top_p: float = 0.95,
    ):
        self.source = str(model)
        self.gguf_file = gguf_file
        self.device = device
        self.dtype = dtype
        self.repetition_penalty = float(repetition_penalty)
        self.top_p = float(top_p)
        self.model_id = f"{self.source}:{gguf_file}" if gguf_file else self.source

    @property
    def options(self) -> dict[str, Any]:
        return {"engine": "transformers", "repetition_penalty": self.repetition_penalty, "top_p": self.top_p}

    def load(self) -> _Loaded:
        """Load (once per process) and return the model; raises :class:`BackendError` when it cannot."""
        return load_causal_lm(self.source, self.gguf_file, self.device, self.dtype)

    def _render(self, loaded: _Loaded, prompt: str) -> str:
        if loaded.chat:
            return loaded.tokenizer.apply_chat_template(chat_messages(prompt), tokenize=False, add_generation_prompt=True)
        return prompt

    def generate(self, prompt: str, max_new_tokens: int, temperature: float = 0.0) -> str:
        return self.generate_batch([prompt], max_new_tokens, temperature)[0]

    def generate_batch(self, prompts: list[str], max_new_tokens: int, temperature: float = 0.0) -> list[str]:
        """Left-padded batched generation; greedy when ``temperature`` is 0, else nucleus sampling."""
        if not prompts:
            return []
        import torch

        loaded = self.load()
        tok, model = loaded.tokenizer, loaded.model
        texts = [self._render(loaded, p) for p in prompts]
        # A chat template already writes the special tokens (BOS etc.) into the text.
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=not loaded.chat).to(model.device)
        gen: dict[str, Any] = {
            "max_new_tokens": int(max_new_tokens),
            "repetition_penalty": self.repetition_penalty,
            "pad_token_id": tok.pad_token_id,
        }
        if temperature > 0:
            gen.update(do_sample=True, temperature=float(temperature), top_p=self.top_p)
        else:
            gen.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        with loaded.lock, torch.inference_mode():
            out = model.generate(**enc, **gen)
        new = out[:, enc["input_ids"].shape[1] :]
        stop = {tok.pad_token_id, tok.eos_token_id}
        self.tokens_generated += int(sum(int(t) not in stop for t in new.reshape(-1).tolist()))
        return [tok.decode(row, skip_special_tokens=True).strip() for row in new]
