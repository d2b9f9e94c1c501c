import math

import pytest
import torch

from lafg.training.losses.onehot import NormalizedSoftmaxLoss


def test_matches_explicit_loop():
    torch.manual_seed(0)
    loss_fn = NormalizedSoftmaxLoss(n_classes=3, dim=4, temperature=0.1)
    z = torch.randn(5, 4)
    labels = torch.tensor([0, 2, 1, 1, 0])
    w = loss_fn.weight.detach()
    total = 0.0
    for i in range(5):
        cos = [float(z[i] @ w[c] / (z[i].norm() * w[c].norm())) / 0.1 for c in range(3)]
        total += -(cos[labels[i]] - math.log(sum(math.exp(v) for v in cos)))
    assert loss_fn(z, labels).item() == pytest.approx(total / 5, rel=1e-5)
