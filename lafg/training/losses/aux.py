"""L_aux: the pairwise cross-entropy of Hyp-ViT (Ermolov et al., CVPR 2022), on the unit sphere.

For L2-normalised embeddings ẑ and the squared distance D(i, j) = ‖ẑ_i − ẑ_j‖² = 2 − 2 ẑ_i·ẑ_j,

    ℓ(i, j) = −log( exp(−D(i, j)/τ) / Σ_{k≠i} exp(−D(i, k)/τ) )

for every ordered positive pair (i, j), j ≠ i, y_j = y_i; the loss is the mean of ℓ over all such pairs
(with the class-balanced sampler's N classes × m images, m − 1 positives per anchor).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PairwiseCrossEntropyLoss(nn.Module):
    """Hyp-ViT pairwise cross-entropy on the sphere; ``forward(z (B, d), labels (B,)) -> scalar``."""

    def __init__(self, tau: float = 0.1):
        super().__init__()
        self.tau = tau

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        z = F.normalize(z.float(), dim=1)
        dist = (2.0 - 2.0 * z @ z.T).clamp_min(0.0)
        eye = torch.eye(len(z), dtype=torch.bool, device=z.device)
        logits = (-dist / self.tau).masked_fill(eye, float("-inf"))
        log_prob = logits.log_softmax(dim=1)
        positive = (labels[:, None] == labels[None, :]) & ~eye
        if not positive.any():
            return z.sum() * 0.0
        return -log_prob[positive].mean()
