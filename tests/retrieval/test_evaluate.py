import numpy as np
import pytest
import torch

from lafg.retrieval.evaluate import embed, evaluate_embeddings, projected
from lafg.training.model import ModelConfig, RetrievalModel


def _clusters(seed=0, n_classes=5, per_class=6, dim=8):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_classes), per_class)
    x = rng.standard_normal((n_classes, dim))[labels] + 0.8 * rng.standard_normal((len(labels), dim))
    return x.astype(np.float32), labels


def test_retrieval_metrics_agree_with_pytorch_metric_learning():
    from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator

    x, labels = _clusters()
    ours = evaluate_embeddings(x, labels)
    calc = AccuracyCalculator(include=("precision_at_1", "mean_average_precision_at_r"), k="max_bin_count")
    unit = torch.nn.functional.normalize(torch.as_tensor(x), dim=1)
    ref = calc.get_accuracy(unit, torch.as_tensor(labels), unit, torch.as_tensor(labels), True)
    assert ours["R@1"] == pytest.approx(100 * ref["precision_at_1"], abs=1e-4)
    assert ours["MAP@R"] == pytest.approx(100 * ref["mean_average_precision_at_r"], abs=1e-4)


def test_recall_at_k_matches_explicit_loop():
    x, labels = _clusters(seed=3)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    sim = unit @ unit.T
    got = evaluate_embeddings(x, labels)
    for k in (1, 2, 4, 8):
        hits = 0
        for i in range(len(x)):
            order = [j for j in np.argsort(-sim[i], kind="stable") if j != i][:k]
            hits += any(labels[j] == labels[i] for j in order)
        assert got[f"R@{k}"] == pytest.approx(100 * hits / len(x), abs=1e-4)


def test_embed_in_batches_and_project_for_zero_shot():
    x, labels = _clusters()
    model = RetrievalModel(ModelConfig(in_dim=8, embed_dim=4, text_dim=3, n_outputs=6)).eval()
    z = embed(model, x, batch_size=7)
    assert z.shape == (30, 4)
    np.testing.assert_allclose(z, model(torch.as_tensor(x)).detach().numpy(), atol=1e-6)  # batching changes nothing
    protos = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    v, t = projected(model, z, protos)
    assert v.shape == (30, 6) and t.shape == (5, 6)
