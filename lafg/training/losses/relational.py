"""L_ali, relational reading (in the spirit of Roth et al., CVPR 2022, "Integrating language guidance into
vision-based deep metric learning"): the batch's image–image similarity distribution is pulled towards the
similarity distribution of the images' class prototypes.

For a batch of embeddings z_i with classes y_i and prototypes T_c (all L2-normalised), for each anchor i
over the other batch members j ≠ i:

    q_i(j) = softmax_j( T_{y_i}·T_{y_j} / τ_t ),   p_i(j) = softmax_j( ẑ_i·ẑ_j / τ_v ),
    L_ali = (1/B) Σ_i KL( q_i ‖ p_i ).

The prototypes are fixed (no gradient); only the image side learns.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lafg.training.losses.alignment import kl_rows


class RelationalKLLoss(nn.Module):
    """``forward(z (B, d), labels (B,), prototypes (C, d_t)) -> scalar``; labels index prototype rows."""

    def __init__(self, tau_image: float = 0.2, tau_proto: float = 0.2):
        super().__init__()
        self.tau_image = tau_image
        self.tau_proto = tau_proto

    def forward(self, z: torch.Tensor, labels: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
        z = F.normalize(z.float(), dim=1)
        t = F.normalize(prototypes.float(), dim=1)[labels]
        eye = torch.eye(len(z), dtype=torch.bool, device=z.device)
        image_logits = (z @ z.T / self.tau_image).masked_fill(eye, -1e9)
        proto_logits = (t @ t.T / self.tau_proto).masked_fill(eye, -1e9)
        return kl_rows(proto_logits.detach(), image_logits)
