"""L_ali, attribute-distribution reading: the image predicts its class's distribution over vocabulary atoms.

With the vocabulary's atom centroids a_1..a_N and the class prototype T_c (L2-normalised),

    q_c(n) = softmax_n( T_c·a_n / τ_t ),   p(n) = softmax_n( P_v ẑ / τ )_n,   L_ali = KL( q_c ‖ p ),

averaged over the batch. ``forward`` takes the visual projector's logits (already divided by τ) and the
target logits (already divided by τ_t): q is fixed, only the image side learns.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lafg.training.losses.alignment import kl_rows


def atom_logits(prototypes: torch.Tensor, centroids: torch.Tensor, tau: float) -> torch.Tensor:
    """(C, N) logits T_c·a_n / τ of each class over the atoms (both inputs re-normalised)."""
    return F.normalize(prototypes.float(), dim=1) @ F.normalize(centroids.float(), dim=1).T / tau


class AttributeDistributionLoss(nn.Module):
    """``forward(v_logits (B, N), target_logits (B, N)) -> scalar`` = mean KL(softmax(target) ‖ softmax(v))."""

    def forward(self, v_logits: torch.Tensor, target_logits: torch.Tensor) -> torch.Tensor:
        return kl_rows(target_logits.detach(), v_logits)
