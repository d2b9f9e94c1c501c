import numpy as np

from lafg.training.sampler import ClassBalancedSampler


def test_batches_hold_n_classes_times_m_and_are_reproducible():
    labels = np.repeat(np.arange(10), 5)
    sampler = ClassBalancedSampler(labels, n_classes=4, m=3, seed=1)
    batches = sampler.batches(0)
    assert len(batches) == len(sampler) == 50 // 12
    for b in batches:
        classes, counts = np.unique(labels[b], return_counts=True)
        assert len(classes) == 4 and (counts == 3).all()
        assert len(set(b.tolist())) == 12  # no repeats when every class has ≥ m images
    again = ClassBalancedSampler(labels, n_classes=4, m=3, seed=1).batches(0)
    assert all((a == b).all() for a, b in zip(batches, again, strict=True))
    assert any((a != b).any() for a, b in zip(batches, sampler.batches(1), strict=True))


def test_small_classes_and_few_classes():
    labels = np.array([0, 1, 1, 1])
    sampler = ClassBalancedSampler(labels, n_classes=8, m=2)
    (batch,) = sampler.batches(0)
    assert sorted(labels[batch].tolist()) == [0, 0, 1, 1]
