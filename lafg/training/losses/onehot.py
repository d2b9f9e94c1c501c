"""The label-only baseline: normalised-softmax cross-entropy over the seen classes (Zhai & Wu, BMVC 2019).

With learnable class weights w_c and a temperature T,

    L_onehot = −log( exp(cos(z, w_y)/T) / Σ_c exp(cos(z, w_c)/T) ).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class NormalizedSoftmaxLoss(nn.Module):
    """Cosine classifier + cross-entropy; holds its own class weights. ``forward(z, labels) -> scalar``."""

    def __init__(self, n_classes: int, dim: int, temperature: float = 0.05, seed: int = 0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.weight = nn.Parameter(torch.randn(n_classes, dim, generator=generator) / dim**0.5)
        self.temperature = temperature

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        """Cosine similarities to each class weight, divided by the temperature: (B, C)."""
        return F.normalize(z.float(), dim=1) @ F.normalize(self.weight, dim=1).T / self.temperature

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.logits(z), labels)
