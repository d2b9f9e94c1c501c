import numpy as np
import pytest
import torch

from lafg.retrieval.metrics import map_at_r, recall_at_k, retrieval_metrics, zero_shot_accuracy


def _loop_reference(emb: np.ndarray, labels: np.ndarray, ks=(1, 2, 4, 8)):
    """Recall@K and MAP@R by explicit loops (queries without another same-class item left out)."""
    x = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    hits = {k: [] for k in ks}
    aps = []
    for q in range(len(x)):
        others = [j for j in range(len(x)) if j != q]
        order = sorted(others, key=lambda j: -float(x[q] @ x[j]))
        r = sum(labels[j] == labels[q] for j in others)
        if r == 0:
            continue
        for k in ks:
            hits[k].append(any(labels[j] == labels[q] for j in order[:k]))
        found, ap = 0, 0.0
        for i, j in enumerate(order[:r], start=1):
            if labels[j] == labels[q]:
                found += 1
                ap += found / i
        aps.append(ap / r)
    return {k: 100 * np.mean(v) for k, v in hits.items()}, 100 * np.mean(aps)


def test_hand_made_values():
    # Points on a circle at these angles; label 2 is alone, so that query is left out.
    angles = np.array([0.0, 0.3, 1.0, 1.2, 2.5])
    emb = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    labels = np.array([0, 1, 0, 1, 2])
    # Rankings (nearest first): q0 → 1,2,3  q1 → 0,2,3  q2 → 3,1,0  q3 → 2,1,0
    # first same-class hit at rank:  q0: 2   q1: 3   q2: 3   q3: 2
    rec = recall_at_k(emb, labels, ks=(1, 2, 3))
    assert rec == pytest.approx({1: 0.0, 2: 50.0, 3: 100.0})
    expected_rec, expected_map = _loop_reference(emb, labels, ks=(1, 2, 3))
    assert rec == pytest.approx(expected_rec)
    # R = 1 for every valid query and no nearest neighbour matches → MAP@R = 0.
    assert map_at_r(emb, labels) == pytest.approx(expected_map) == 0.0


def test_perfect_clusters_score_100():
    emb = np.array([[1, 0], [0.99, 0.1], [0, 1], [0.1, 0.99]], dtype=np.float32)
    labels = np.array([0, 0, 1, 1])
    m = retrieval_metrics(emb, labels)
    assert set(m) == {"R@1", "R@2", "R@4", "R@8", "MAP@R"}
    assert all(v == pytest.approx(100.0) for v in m.values())


def test_map_at_r_partial_credit():
    emb = np.array([[1.0, 0.0], [0.95, 0.31], [0.8, 0.6], [0.6, 0.8]])
    labels = np.array([0, 0, 1, 0])
    # q0 (R=2): 1 hit, 2 miss → (1/1)/2 = 0.5;  q1 (R=2): 0 hit, 2 miss → 0.5;
    # q3 (R=2): 2 miss, 1 hit → (1/2)/2 = 0.25;  q2 has no other label-1 item: left out.
    assert map_at_r(emb, labels) == pytest.approx(100 * (0.5 + 0.5 + 0.25) / 3)
    assert map_at_r(emb, labels) == pytest.approx(_loop_reference(emb, labels)[1])


def test_random_data_matches_loops():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(60, 8))
    labels = rng.integers(0, 7, size=60)
    rec, mapr = _loop_reference(emb, labels)
    assert recall_at_k(emb, labels) == pytest.approx(rec)
    assert map_at_r(emb, labels) == pytest.approx(mapr)
    combined = retrieval_metrics(emb, labels)
    assert combined == pytest.approx({**{f"R@{k}": v for k, v in rec.items()}, "MAP@R": mapr})


def test_chunking_gives_same_result(monkeypatch):
    import lafg.retrieval.metrics

    rng = np.random.default_rng(1)
    emb = rng.normal(size=(50, 6))
    labels = rng.integers(0, 5, size=50)
    whole = retrieval_metrics(emb, labels)
    monkeypatch.setattr(lafg.retrieval.metrics, "CHUNK", 7)
    assert retrieval_metrics(emb, labels) == pytest.approx(whole)


def test_all_lone_labels_give_zero():
    emb = np.eye(3)
    assert recall_at_k(emb, np.array([0, 1, 2])) == {1: 0.0, 2: 0.0, 4: 0.0, 8: 0.0}
    assert map_at_r(emb, np.array([0, 1, 2])) == 0.0


def test_zero_shot_accuracy():
    classes = np.array([[1.0, 0.0], [0.0, 1.0]])
    images = np.array([[2.0, 0.1], [0.1, 3.0], [1.0, 0.9], [0.2, 1.0]])
    labels = np.array([0, 1, 1, 1])  # third image is nearer class 0
    assert zero_shot_accuracy(images, labels, classes) == pytest.approx(75.0)


def test_cross_check_with_pytorch_metric_learning():
    pml = pytest.importorskip("pytorch_metric_learning.utils.accuracy_calculator")
    from pytorch_metric_learning.distances import CosineSimilarity
    from pytorch_metric_learning.utils.inference import CustomKNN

    rng = np.random.default_rng(2)
    emb = rng.normal(size=(300, 16)).astype(np.float32)
    labels = rng.integers(0, 12, size=300)
    emb += 0.8 * rng.normal(size=(12, 16)).astype(np.float32)[labels]  # some class structure
    calc = pml.AccuracyCalculator(
        include=("precision_at_1", "mean_average_precision_at_r"),
        k="max_bin_count",
        knn_func=CustomKNN(CosineSimilarity()),
    )
    t = torch.from_numpy(emb)
    ref = calc.get_accuracy(t, torch.from_numpy(labels), t, torch.from_numpy(labels), ref_includes_query=True)
    assert recall_at_k(emb, labels, ks=(1,))[1] == pytest.approx(100 * ref["precision_at_1"], abs=1e-4)
    assert map_at_r(emb, labels) == pytest.approx(100 * ref["mean_average_precision_at_r"], abs=1e-4)


def test_label_shape_checked():
    with pytest.raises(ValueError):
        recall_at_k(np.eye(3), np.array([0, 1]))
