"""Small, fast stand-ins for the app's heavy services (text encoder, image backbone, LLM)."""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path

import numpy as np
from PIL import Image

from lafg.app.datasets import available_datasets
from lafg.app.jobs import JobRegistry
from lafg.app.services import Services, default_describe
from lafg.app.training import train_job
from lafg.errors import BackendError
from lafg.store.cache import ArrayCache


class FakeTextEncoder:
    """Bag of hashed words → 64-d unit vectors: sentences sharing words are close."""

    name = "fake-bow"
    dim = 64

    def encode(self, texts, batch_size: int = 64, progress=None):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"[a-z]+", text.lower()):
                out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        out += 1e-3
        return out / np.linalg.norm(out, axis=1, keepdims=True)


class FakeEmbedder:
    """8×8 RGB thumbnails as 192-d features; unreadable files are skipped like the real one."""

    name = "fake-thumbs"
    dim = 192

    def embed(self, paths, views: int = 1, progress=None):
        rows, kept = [], []
        for i, p in enumerate(paths):
            try:
                with Image.open(p) as im:
                    rows.append(np.asarray(im.convert("RGB").resize((8, 8)), dtype=np.float32).reshape(-1) / 255.0)
                    kept.append(i)
            except OSError:
                continue
        feats = np.stack(rows) if rows else np.zeros((0, self.dim), np.float32)
        views_out = [feats] + [feats[:, ::-1].copy() for _ in range(views - 1)]
        return np.concatenate(views_out), np.asarray(kept, dtype=np.int64)


class FakeLLM:
    def generate(self, prompt: str, max_new_tokens: int = 256) -> str:
        name = prompt.split(" a ", 1)[-1].split(" from", 1)[0]
        return "\n".join(f"- {name} with feature {i}" for i in range(3))


def fake_llm_factory(backend: str, options: dict):
    if backend == "openai":
        raise BackendError(f"cannot reach the LLM endpoint {options.get('base_url') or '(none)'}: connection refused")
    return FakeLLM()


def fake_describe(names, llm, prompt, n, progress=None):
    out = {}
    for i, name in enumerate(names):
        out[name] = [f"a {name} with a distinctive {w}" for w in ("crown", "wing bar", "tail")][:n]
        if progress:
            progress(i + 1, len(names), "describing")
        time.sleep(0.01)
    return out


def fake_services(work_dir: Path) -> Services:
    cache = ArrayCache(work_dir / "cache")
    return Services(
        text_encoder_factory=FakeTextEncoder,
        image_embedder_factory=FakeEmbedder,
        llm_factory=fake_llm_factory,
        describe_fn=fake_describe,
        train_job=train_job,
        jobs=JobRegistry(work_dir / "jobs"),
        work_dir=work_dir,
        cache=cache,
        datasets=available_datasets(),
    )


__all__ = ["fake_services", "default_describe"]
