import math

import pytest
import torch

from lafg.training.losses.relational import RelationalKLLoss


def _unit(v):
    return v / v.norm()


def test_matches_explicit_loop():
    torch.manual_seed(0)
    z = torch.randn(5, 4)
    protos = torch.randn(3, 6)
    labels = torch.tensor([0, 0, 1, 2, 2])
    tau_v, tau_t = 0.2, 0.3
    total = 0.0
    for i in range(5):
        others = [j for j in range(5) if j != i]
        s_img = [float(_unit(z[i]) @ _unit(z[j])) / tau_v for j in others]
        s_pro = [float(_unit(protos[labels[i]]) @ _unit(protos[labels[j]])) / tau_t for j in others]
        q = [math.exp(s) / sum(math.exp(x) for x in s_pro) for s in s_pro]
        p = [math.exp(s) / sum(math.exp(x) for x in s_img) for s in s_img]
        total += sum(a * math.log(a / b) for a, b in zip(q, p, strict=True))
    got = RelationalKLLoss(tau_v, tau_t)(z, labels, protos)
    assert got.item() == pytest.approx(total / 5, rel=1e-5)


def test_zero_when_image_similarities_equal_prototype_similarities():
    protos = torch.nn.functional.normalize(torch.randn(4, 3), dim=1)
    labels = torch.tensor([0, 1, 2, 3])
    assert RelationalKLLoss(0.5, 0.5)(protos[labels], labels, protos).item() == pytest.approx(0.0, abs=1e-6)
