import numpy as np
import torch

from lafg.training.model import ModelConfig, RetrievalModel


def test_shapes_and_centroid_init():
    centroids = np.random.default_rng(0).standard_normal((6, 5)).astype(np.float32)
    model = RetrievalModel(ModelConfig(in_dim=8, embed_dim=4, text_dim=5, n_outputs=6), centroids=centroids)
    z = model(torch.randn(3, 8))
    assert z.shape == (3, 4)
    assert model.project_image(z).shape == (3, 6)
    t = torch.randn(2, 5)
    unit = centroids / np.linalg.norm(centroids, axis=1, keepdims=True)
    expected = (t / t.norm(dim=1, keepdim=True)).numpy() @ unit.T
    assert np.allclose(model.project_text(t).detach().numpy(), expected, atol=1e-5)
    assert not any(p.requires_grad for p in model.mean_v.parameters())


def test_mean_projector_ema():
    model = RetrievalModel(ModelConfig(in_dim=3, embed_dim=3, text_dim=3, n_outputs=2, ema_alpha=0.25))
    before = model.mean_v.weight.clone()
    with torch.no_grad():
        model.proj_v.weight.add_(1.0)
    model.update_mean_projectors()
    assert torch.allclose(model.mean_v.weight, 0.75 * before + 0.25 * model.proj_v.weight)
