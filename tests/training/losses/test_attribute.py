import math

import pytest
import torch

from lafg.training.losses.attribute import AttributeDistributionLoss, atom_logits


def test_atom_logits_are_scaled_cosines():
    protos, centroids = torch.randn(2, 3), torch.randn(4, 3)
    got = atom_logits(protos, centroids, 0.5)
    for c in range(2):
        for n in range(4):
            cos = float(protos[c] @ centroids[n] / (protos[c].norm() * centroids[n].norm()))
            assert got[c, n].item() == pytest.approx(cos / 0.5, rel=1e-5)


def test_matches_explicit_loop():
    torch.manual_seed(0)
    v, target = torch.randn(3, 4), torch.randn(3, 4)
    total = 0.0
    for i in range(3):
        q = [math.exp(x) / sum(math.exp(y) for y in target[i].tolist()) for x in target[i].tolist()]
        p = [math.exp(x) / sum(math.exp(y) for y in v[i].tolist()) for x in v[i].tolist()]
        total += sum(a * math.log(a / b) for a, b in zip(q, p, strict=True))
    assert AttributeDistributionLoss()(v, target).item() == pytest.approx(total / 3, rel=1e-5)
