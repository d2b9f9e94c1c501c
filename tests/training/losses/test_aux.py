import math

import pytest
import torch

from lafg.training.losses.aux import PairwiseCrossEntropyLoss


def _loop_loss(z, labels, tau):
    z = [v / v.norm() for v in z]
    terms = []
    for i in range(len(z)):
        for j in range(len(z)):
            if j == i or labels[j] != labels[i]:
                continue
            d = lambda a, b: float(((a - b) ** 2).sum())  # noqa: E731
            denom = sum(math.exp(-d(z[i], z[k]) / tau) for k in range(len(z)) if k != i)
            terms.append(-math.log(math.exp(-d(z[i], z[j]) / tau) / denom))
    return sum(terms) / len(terms)


@pytest.mark.parametrize("tau", [0.1, 0.5])
def test_matches_explicit_loop(tau):
    torch.manual_seed(0)
    z = torch.randn(6, 4, dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    got = PairwiseCrossEntropyLoss(tau)(z.float(), labels)
    assert got.item() == pytest.approx(_loop_loss(z, labels.tolist(), tau), rel=1e-5)


def test_three_images_per_class_and_gradient():
    torch.manual_seed(1)
    z = torch.randn(6, 3, requires_grad=True)
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    loss = PairwiseCrossEntropyLoss(0.2)(z, labels)
    assert loss.item() == pytest.approx(_loop_loss(z.detach().double(), labels.tolist(), 0.2), rel=1e-5)
    loss.backward()
    assert torch.isfinite(z.grad).all()


def test_no_positive_pair_gives_zero():
    z = torch.randn(3, 4, requires_grad=True)
    assert PairwiseCrossEntropyLoss()(z, torch.tensor([0, 1, 2])).item() == 0.0
