import numpy as np
import pytest

from benchmarks.ladder import class_means
from benchmarks.structure import agreement


def test_class_means_are_unit_means_of_unit_features():
    feats = np.array([[2.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
    means = class_means(feats, np.array([0, 0, 1]))
    np.testing.assert_allclose(means, [[2**-0.5, 2**-0.5], [0.0, 1.0]], atol=1e-7)


def test_agreement_is_perfect_for_the_same_structure_and_not_for_a_shuffle():
    rng = np.random.default_rng(0)
    visual = rng.standard_normal((30, 8))
    visual /= np.linalg.norm(visual, axis=1, keepdims=True)
    same = agreement(visual * 3.0, visual)  # scale does not matter: cosine
    assert same == {"spearman": pytest.approx(1.0), "nn@5": 1.0}
    shuffled = agreement(visual[rng.permutation(30)], visual)
    assert abs(shuffled["spearman"]) < 0.3 and shuffled["nn@5"] < 0.5


def test_zero_shot_is_nearest_class_vector_accuracy():
    from benchmarks.structure import zero_shot

    classes = np.array([[1.0, 0.0], [0.0, 2.0]])
    feats = np.array([[3.0, 1.0], [1.0, 3.0], [2.0, 1.9], [0.1, 1.0]])
    assert zero_shot(classes, feats, np.array([0, 1, 1, 1])) == 75.0  # the third image is nearer class 0


def test_ridge_probe_maps_separable_features_onto_their_class_vectors():
    from benchmarks.structure import ridge_zero_shot

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 10)
    feats = np.eye(4, 16)[labels] * 5 + 0.1 * rng.standard_normal((40, 16))
    class_vecs = rng.standard_normal((4, 3))
    assert ridge_zero_shot(feats, labels, class_vecs, feats, labels, class_vecs) == 100.0
