import numpy as np
import pytest
import torch

from lafg.training.losses import PairwiseCrossEntropyLoss
from lafg.training.losses.readings import READINGS, create_reading
from lafg.training.model import ModelConfig, RetrievalModel


def test_aux_equals_pytorch_metric_learning_supcon_at_half_the_temperature():
    from pytorch_metric_learning.losses import SupConLoss

    torch.manual_seed(0)
    z = torch.randn(24, 16)
    labels = torch.arange(8).repeat_interleave(3)  # class-balanced: every anchor has the same positives
    for tau in (0.05, 0.1, 0.3):
        ours = PairwiseCrossEntropyLoss(tau)(z, labels)
        theirs = SupConLoss(temperature=tau / 2)(z, labels)
        assert ours.item() == pytest.approx(theirs.item(), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("name", list(READINGS))
def test_every_reading_has_one_signature_and_declares_what_it_trains(name):
    torch.manual_seed(0)
    protos, cents = np.random.default_rng(0).standard_normal((2, 4, 6)).astype(np.float32)
    model = RetrievalModel(ModelConfig(in_dim=8, embed_dim=5, text_dim=6, n_outputs=4), centroids=cents)
    reading = create_reading(name, protos, cents)
    z = model(torch.randn(8, 8))
    loss = reading(z, torch.arange(4).repeat(2), model)
    loss.backward()
    reached = {p for p in ("proj_v", "proj_t") if getattr(model, p).weight.grad is not None}
    assert reached == set(reading.trains) and loss.item() >= 0
