import numpy as np
import pytest

from lafg.errors import InputError
from lafg.explain import atom_activations, explain_projected


def test_contributions_add_up_to_the_similarity():
    atoms = np.eye(3, dtype=np.float32)
    u = np.array([1.0, 1.0, 0.0], dtype=np.float32)
    v = np.array([1.0, 0.0, 1.0], dtype=np.float32)
    ex = explain_projected(u, v, atoms, ["red", "blue", "green"], top=3, tau=0.5)
    assert ex.similarity == pytest.approx(0.5)
    assert sum(c.contribution for c in ex.shared) == pytest.approx(0.5, abs=1e-6)
    assert ex.shared[0].label == "red"  # the one atom both activate
    by_label = {c.label: c.contribution for c in ex.differing}
    assert by_label["blue"] > 0 > by_label["green"]  # query has blue, result has green


def test_activations_are_a_softmax_over_cosines():
    a = atom_activations(np.array([[2.0, 0.0]]), np.array([[1.0, 0.0], [0.0, 1.0]]), tau=1.0)
    e = np.exp([1.0, 0.0])
    assert a[0] == pytest.approx(e / e.sum())


def test_dimension_check():
    with pytest.raises(InputError):
        explain_projected(np.ones(3), np.ones(3), np.eye(2), ["a", "b"])


def test_readout_maps_images_to_their_class_prototype():
    from lafg.readout import fit_readout

    rng = np.random.default_rng(0)
    protos = np.eye(2, dtype=np.float32)
    labels = np.array([0] * 10 + [1] * 10)
    x = rng.normal(size=(20, 5)).astype(np.float32) + np.where(labels[:, None] == 0, 3.0, -3.0)
    readout = fit_readout(x, labels, protos, alpha=0.1)
    assert (np.argmax(readout(x), axis=1) == labels).all()
    assert readout.n_classes == 2 and readout.n_images == 20
    with pytest.raises(InputError, match="two seen classes"):
        fit_readout(x[:10], labels[:10], protos)


def test_compare_prototypes_separates_and_shares():
    from lafg.explain import compare_prototypes

    atoms = np.eye(3, dtype=np.float32)
    cmp = compare_prototypes(np.array([1.0, 1.0, 0.0]), np.array([0.0, 1.0, 1.0]), atoms, ["red", "wings", "blue"], top=2)
    assert cmp.shared[0][1] == "wings"
    assert {cmp.separating[0][1], cmp.separating[1][1]} == {"red", "blue"}
