"""The retrieval model: a trunk (identity, the last backbone stages, or the whole backbone), an embedding
head, and the two projectors of L_ali with their mean (EMA) copies.

    z = W_h · trunk(x) + b_h                 (embedding; retrieval uses cos(z_i, z_j))
    P_v : R^embed_dim → R^N,  P_t : R^text_dim → R^N   (N attribute-aligned outputs, no bias)
    E ← (1 − α) E + α θ                       (mean projectors, updated after every optimiser step)

P_t starts as the vocabulary's atom centroids (when given), so P_t T_c begins as the prototype's cosine to
each atom and the N outputs are indexed by atoms (N = vocabulary size; K is only ever the atoms per prototype).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class ModelConfig:
    in_dim: int  # trunk output width (1280 for EfficientNet-Lite0)
    embed_dim: int = 512  # retrieval embedding width
    text_dim: int = 384  # prototype width (MiniLM: 384)
    n_outputs: int = 128  # N: width of the attribute-aligned space (= vocabulary atoms)
    ema_alpha: float = 0.01  # α of the mean projectors' EMA


class RetrievalModel(nn.Module):
    """``forward(x) -> z`` (B, embed_dim), not normalised; ``project_*`` give the attribute-space logits."""

    def __init__(self, cfg: ModelConfig, trunk: nn.Module | None = None, centroids: np.ndarray | None = None):
        super().__init__()
        self.cfg = cfg
        self.trunk = trunk if trunk is not None else nn.Identity()
        self.head = nn.Linear(cfg.in_dim, cfg.embed_dim)
        self.proj_v = nn.Linear(cfg.embed_dim, cfg.n_outputs, bias=False)
        self.proj_t = nn.Linear(cfg.text_dim, cfg.n_outputs, bias=False)
        if centroids is not None:
            with torch.no_grad():
                self.proj_t.weight.copy_(F.normalize(torch.as_tensor(centroids, dtype=torch.float32), dim=1))
        self.mean_v = _frozen_copy(self.proj_v)
        self.mean_t = _frozen_copy(self.proj_t)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))

    def project_image(self, z: torch.Tensor, mean: bool = False) -> torch.Tensor:
        """P_v ẑ (or E_v ẑ with ``mean``): (B, N)."""
        return (self.mean_v if mean else self.proj_v)(F.normalize(z, dim=1))

    def project_text(self, t: torch.Tensor, mean: bool = False) -> torch.Tensor:
        """P_t T (or E_t T with ``mean``): (C, N)."""
        return (self.mean_t if mean else self.proj_t)(F.normalize(t, dim=1))

    @torch.no_grad()
    def update_mean_projectors(self) -> None:
        """E ← (1 − α) E + α θ for both projectors."""
        a = self.cfg.ema_alpha
        for mean, online in ((self.mean_v, self.proj_v), (self.mean_t, self.proj_t)):
            for e, p in zip(mean.parameters(), online.parameters(), strict=True):
                e.mul_(1.0 - a).add_(p.detach(), alpha=a)


def _frozen_copy(module: nn.Module) -> nn.Module:
    clone = copy.deepcopy(module)
    for p in clone.parameters():
        p.requires_grad_(False)
    return clone
