import math

import pytest
import torch

from lafg.training.losses.alignment import MeanProjectorKLLoss, SymmetricKLLoss, kl_rows


def _softmax(row):
    m = max(row)
    e = [math.exp(v - m) for v in row]
    return [v / sum(e) for v in e]


def _kl(q_logits, p_logits):
    q, p = _softmax(q_logits), _softmax(p_logits)
    return sum(a * math.log(a / b) for a, b in zip(q, p, strict=True))


def _rows(t):
    return t.tolist()


def test_kl_rows_matches_loop():
    torch.manual_seed(0)
    a, b = torch.randn(3, 5), torch.randn(3, 5)
    expected = sum(_kl(x, y) for x, y in zip(_rows(a), _rows(b), strict=True)) / 3
    assert kl_rows(a, b).item() == pytest.approx(expected, rel=1e-5)


def test_symmetric_kl_matches_loop_and_is_symmetric():
    torch.manual_seed(1)
    v, t = torch.randn(4, 6), torch.randn(4, 6)
    expected = sum(0.5 * (_kl(x, y) + _kl(y, x)) for x, y in zip(_rows(v), _rows(t), strict=True)) / 4
    loss = SymmetricKLLoss()
    assert loss(v, t).item() == pytest.approx(expected, rel=1e-5)
    assert loss(t, v).item() == pytest.approx(expected, rel=1e-5)
    assert loss(v, v).item() == pytest.approx(0.0, abs=1e-6)


def test_mean_projector_kl_matches_loop_and_stops_gradient():
    torch.manual_seed(2)
    v = torch.randn(3, 4, requires_grad=True)
    t = torch.randn(3, 4, requires_grad=True)
    v_mean = torch.randn(3, 4, requires_grad=True)
    t_mean = torch.randn(3, 4, requires_grad=True)
    loss = MeanProjectorKLLoss()(v, t, v_mean, t_mean)
    expected = (
        sum(
            0.5 * (_kl(tm, vv) + _kl(vm, tt))
            for vv, tt, vm, tm in zip(_rows(v), _rows(t), _rows(v_mean), _rows(t_mean), strict=True)
        )
        / 3
    )
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    loss.backward()
    assert v.grad is not None and t.grad is not None
    assert v_mean.grad is None and t_mean.grad is None
