"""The LLM interface every backend implements: a prompt in, generated text out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any


class LLM(ABC):
    """A text generator. Backends are cheap to construct; heavy models load on first use."""

    name: str = "llm"  # registry name; part of every cache key
    model_id: str = ""  # which model inside the backend; part of every cache key
    cacheable: bool = True  # False when answers are free to recompute (stored descriptions)
    tokens_generated: int = 0  # running count of generated tokens (for speed measurements)

    @abstractmethod
    def generate(self, prompt: str, max_new_tokens: int, temperature: float = 0.0) -> str:
        """Answer one user prompt (sent as a chat message when the model has a chat format)."""

    def generate_batch(self, prompts: list[str], max_new_tokens: int, temperature: float = 0.0) -> list[str]:
        """Answer several prompts; backends that can batch override this."""
        return [self.generate(p, max_new_tokens, temperature) for p in prompts]

    @property
    def options(self) -> dict[str, Any]:
        """Generation settings that change the output besides the prompt (part of every cache key)."""
        return {}

    def stored_descriptions(self, names: list[str]) -> dict[str, list[str]] | None:
        """Ready-made descriptions for ``names`` (import backends), or ``None`` for a generating backend."""
        return None

    def describe(self) -> dict[str, Any]:
        """What produced the descriptions, for ``describe_config.json``."""
        return {"backend": self.name, "model": self.model_id, "options": self.options}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, model_id={self.model_id!r})"


def chat_messages(prompt: str) -> list[dict[str, str]]:
    """One user turn: the prompt already carries all instructions."""
    return [{"role": "user", "content": prompt}]
