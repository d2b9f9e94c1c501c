"""L_ali, the paper's wording: a symmetric KL between the visual and linguistic projectors' distributions.

An image embedding z of class c and its class prototype T_c pass through two linear projectors into an N-way
attribute-aligned space (N = the vocabulary's atoms; P_t starts as the atom centroids, so its outputs are
the prototype's cosine to each atom):

    p_v = softmax(P_v ẑ / τ),  p_t = softmax(P_t T_c / τ).

Faithful reading (:class:`MeanProjectorKLLoss`): each online projector is pulled towards the *mean projector*
of the other side, an EMA copy of that projector's weights, E ← (1 − α) E + α θ, that receives no gradient:

    L_ali = ½ [ KL( p̄_t ‖ p_v ) + KL( p̄_v ‖ p_t ) ],  p̄_v = softmax(E_v ẑ / τ), p̄_t = softmax(E_t T_c / τ),

with p̄ detached. Plain reading (:class:`SymmetricKLLoss`, the ablation): both sides online,

    L_ali = ½ [ KL( p_t ‖ p_v ) + KL( p_v ‖ p_t ) ].

Both losses take logits (already divided by τ), rows matched one-to-one, and average over rows.
"""

from __future__ import annotations

import torch
from torch import nn


def kl_rows(target_logits: torch.Tensor, pred_logits: torch.Tensor) -> torch.Tensor:
    """Mean over rows of KL(softmax(target) ‖ softmax(pred)), both given as logits (B, N)."""
    log_q = target_logits.float().log_softmax(dim=1)
    log_p = pred_logits.float().log_softmax(dim=1)
    return (log_q.exp() * (log_q - log_p)).sum(dim=1).mean()


def symmetric_kl(a_logits: torch.Tensor, b_logits: torch.Tensor) -> torch.Tensor:
    """½ [KL(a ‖ b) + KL(b ‖ a)] of the row softmaxes, averaged over rows."""
    return 0.5 * (kl_rows(a_logits, b_logits) + kl_rows(b_logits, a_logits))


class SymmetricKLLoss(nn.Module):
    """Plain symmetric KL: ``forward(v_logits, t_logits) -> scalar``; gradients reach both sides."""

    def forward(self, v_logits: torch.Tensor, t_logits: torch.Tensor) -> torch.Tensor:
        return symmetric_kl(v_logits, t_logits)


class MeanProjectorKLLoss(nn.Module):
    """Symmetric KL against the other side's mean (EMA) projector.

    ``forward(v_logits, t_logits, v_mean_logits, t_mean_logits) -> scalar``: the ``*_mean_logits`` come from
    the EMA projectors and are detached here, so each online projector only chases the other's mean.
    """

    def forward(
        self,
        v_logits: torch.Tensor,
        t_logits: torch.Tensor,
        v_mean_logits: torch.Tensor,
        t_mean_logits: torch.Tensor,
    ) -> torch.Tensor:
        return 0.5 * (kl_rows(t_mean_logits.detach(), v_logits) + kl_rows(v_mean_logits.detach(), t_logits))
