"""The frozen image backbone the app embeds galleries and queries with (shared by every session)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

import numpy as np

from lafg.store.cache import ArrayCache

Progress = Callable[[int, int, str], None]


class ImageEmbedder(Protocol):
    name: str  # backbone name; checkpoints remember it
    dim: int

    def embed(self, paths: list[str], views: int = 1, progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Pooled features ``(views * n_kept, dim)`` float32 (view-major, view 0 unaugmented) and the kept
        indices (unreadable images are skipped)."""


class BackboneEmbedder:
    """A frozen :mod:`lafg.vision.backbones` backbone whose features go through :func:`lafg.vision.features.extract_features`
    (cached per image and view)."""

    def __init__(self, name: str = "efficientnet_lite0", cache: ArrayCache | None = None, batch_size: int = 32, **backbone_kw):
        from lafg.vision.backbones import create_backbone

        self.backbone = create_backbone(name, **backbone_kw)
        self.spec = {"name": name, "kwargs": dict(backbone_kw)}  # how to build it again (a run spec records it)
        self.name = self.backbone.name
        self.dim = self.backbone.feature_dim
        self.cache = cache
        self.batch_size = batch_size
        self._lock = threading.Lock()

    def embed(self, paths: list[str], views: int = 1, progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
        from lafg.vision.features import extract_features

        with self._lock:  # one forward pass at a time: the model is shared by every session
            feats, kept = extract_features(
                self.backbone, [str(p) for p in paths], self.backbone.eval_transform(), self.batch_size, views,
                self.cache, progress, num_workers=2, return_kept=True,
            )
        return feats, kept
