"""lafg.retrieval.attribute_space: the grounded read-out (held-out classes, grounding figure, calibration) on tiny hand-made data."""

import numpy as np
import pytest
import torch

from lafg.errors import InputError
from lafg.retrieval.attribute_space import (
    ARRAYS,
    DESCRIPTIONS,
    EMBEDDINGS,
    FEATURES,
    PROTOTYPES,
    Calibration,
    Readout,
    ReadoutConfig,
    atom_scores,
    fit_grounded_readout,
    fit_readout,
    held_out_classes,
    prior_logits,
    readout_space,
    text_scores,
)


def test_held_out_classes_are_seeded_and_never_too_many():
    cfg = ReadoutConfig()
    assert held_out_classes(3, cfg).tolist() == []  # below min_classes: nothing held out
    four = held_out_classes(4, cfg)
    assert len(four) == 2 and four.tolist() == sorted(four.tolist())  # two at least, two left to fit on
    assert len(held_out_classes(20, cfg)) == 5 and np.array_equal(held_out_classes(20, cfg), held_out_classes(20, cfg))
    assert not np.array_equal(held_out_classes(20, cfg), held_out_classes(20, ReadoutConfig(seed=1)))


def test_prior_logits_by_hand():
    class_atoms = np.array([[1, 0], [1, 0], [0, 0]], dtype=bool)
    share = np.array([(2 + 0.5) / 4, 0.5 / 4])
    assert prior_logits(class_atoms) == pytest.approx(np.log(share / (1 - share)), rel=1e-6)


CLASS_ATOMS = np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1], [1, 0, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1]], dtype=bool)


def _toy(n_classes=6, per=5, seed=0):
    """Six classes, each described by two of four attributes (atoms = the axes of a 4-d text space); an image's
    features show its class's attributes (plus noise), so a held-out class is a new mix of known attributes."""
    rng = np.random.default_rng(seed)
    class_atoms = CLASS_ATOMS[:n_classes]
    labels = np.repeat(np.arange(n_classes), per)
    feats = np.hstack([class_atoms[labels] * 3.0, np.zeros((len(labels), 4))]) + rng.normal(scale=0.3, size=(len(labels), 8))
    atoms = np.eye(4, dtype=np.float32)
    targets = class_atoms / np.linalg.norm(class_atoms, axis=1, keepdims=True)  # the mean of the class's sentences
    return feats.astype(np.float32), labels, targets.astype(np.float32), atoms, class_atoms


def test_grounded_readout_measures_held_out_classes_and_calibrates():
    feats, labels, targets, atoms, class_atoms = _toy()
    cfg = ReadoutConfig(alpha=1.0)
    r = fit_grounded_readout(feats, labels, targets, atoms, class_atoms, cfg)
    assert r.target == DESCRIPTIONS and r.input == FEATURES and r.n_classes == 6 and r.n_images == 30
    # the shipped read-out is the one fitted on every class
    full = fit_readout(feats, labels, targets, 1.0)
    np.testing.assert_allclose(r.weight, full.weight, atol=1e-6)
    # the grounding figure, recomputed: fit on the kept classes, rank the held-out images per atom
    out = held_out_classes(6, cfg)
    val = np.isin(labels, out)
    part = fit_readout(feats[~val], labels[~val], targets, 1.0)
    scores = atom_scores(part, feats[val], atoms)
    truth = class_atoms[labels[val]]
    aps, rates = [], []
    for k in range(4):
        if truth[:, k].any() and not truth[:, k].all():
            order = np.argsort(-scores[:, k], kind="stable")
            hits = truth[order, k]
            aps.append(np.mean([hits[: i + 1].mean() for i in np.flatnonzero(hits)]))
            rates.append(truth[:, k].mean())
    g = r.grounding
    assert g.n_classes == 2 and g.n_images == 10 and g.n_atoms == len(aps) >= 2
    assert g.map == pytest.approx(round(100 * np.mean(aps), 2)) and g.map > 90  # new mixes of known attributes
    assert g.chance == pytest.approx(round(100 * np.mean(rates), 2))
    assert "average precision" in g.words() and "2 seen classes" in g.words()
    # calibration: standardised per atom over the held-out images; base rate = 20 of 40 pairs (2 atoms per class)
    cal = r.calibration
    np.testing.assert_allclose(cal.mean, scores.mean(axis=0), atol=1e-6)
    assert cal.base_rate == pytest.approx(0.5) and cal.cite_threshold == pytest.approx(0.5)
    np.testing.assert_allclose(cal.prior, prior_logits(class_atoms))  # the shipped prior knows every class
    p = cal(atom_scores(r, feats, atoms))
    assert p.shape == (30, 4) and ((p > 0) & (p < 1)).all()  # regularised: never certain
    own = class_atoms[labels]
    assert p[own].min() > 0.5 > p[~own].max()  # each image's own attributes, and only they, are likely


def test_too_few_classes_give_no_grounding_and_no_calibration():
    feats, labels, targets, atoms, class_atoms = _toy(n_classes=3)
    r = fit_grounded_readout(feats, labels, targets, atoms, class_atoms)
    assert r.grounding is None and r.calibration is None and r.target == DESCRIPTIONS
    with pytest.raises(InputError, match="two seen classes"):
        fit_grounded_readout(feats[labels == 0], labels[labels == 0], targets, atoms, class_atoms)


def test_arrays_and_state_round_trip_and_old_checkpoints_still_load():
    feats, labels, targets, atoms, class_atoms = _toy()
    r = fit_grounded_readout(feats, labels, targets, atoms, class_atoms)
    again = Readout.from_arrays(*r.to_arrays())
    state = r.to_state()
    assert set(state) == set(ARRAYS) and all(isinstance(v, torch.Tensor) for v in state.values())
    for other in (again, Readout.from_state(state)):
        np.testing.assert_array_equal(other.weight, r.weight)
        assert (other.target, other.input, other.grounding) == (r.target, r.input, r.grounding)
        np.testing.assert_array_equal(other.calibration.prior, r.calibration.prior)
        assert other.calibration.scale == r.calibration.scale and other.calibration.base_rate == r.calibration.base_rate
    # a checkpoint written before: plain fields, a read-out of the embeddings onto the prototypes, no calibration
    old = {"weight": torch.zeros(8, 4), "bias": torch.zeros(4), "n_classes": 6, "n_images": 30, "alpha": 1.0}
    legacy = Readout.from_state(old)
    assert (legacy.target, legacy.input, legacy.calibration, legacy.grounding) == (PROTOTYPES, EMBEDDINGS, None, None)
    assert Readout.from_arrays(np.zeros((6, 6)), np.zeros(6), np.array([6, 30, 1.0])).target == PROTOTYPES


def test_readout_space_reads_features_scores_text_and_gives_probabilities():
    feats, labels, targets, atoms, class_atoms = _toy()
    r = fit_grounded_readout(feats, labels, targets, atoms, class_atoms)
    space = readout_space(r, atoms, [f"atom {i}" for i in range(4)], "trained embeddings")
    assert space.reads == FEATURES and space.grounding is r.grounding
    assert space.description == ("read-out onto the seen classes' own descriptions, fitted on the frozen backbone "
                                 "features of 6 seen classes (30 images)")
    s = text_scores(space, feats, atoms)
    u = r(feats)
    np.testing.assert_allclose(s, u / np.linalg.norm(u, axis=1, keepdims=True), atol=1e-6)  # atoms are unit axes
    np.testing.assert_allclose(space.atom_probabilities(space.image(feats)), r.calibration(s), atol=1e-6)
    legacy = readout_space(Readout(r.weight, r.bias, 6, 30, 1.0), atoms, ["a"] * 4, "trained embeddings")
    assert legacy.atom_probabilities(legacy.image(feats)) is None and legacy.reads == EMBEDDINGS
    assert "fitted on the trained embeddings" in legacy.description and "older read-out" in legacy.description


def test_calibration_is_a_logistic_of_the_standardised_score_and_the_prior():
    cal = Calibration(np.array([0.5, 0.0], np.float32), np.array([0.25, 1.0], np.float32),
                      np.array([-1.0, 0.0], np.float32), 2.0, 1.0, -0.5, 0.2)
    p = cal(np.array([[1.0, 0.0]]))
    z = np.array([(1.0 - 0.5) / 0.25, 0.0])
    assert p[0] == pytest.approx(1 / (1 + np.exp(-(2.0 * z + np.array([-1.0, 0.0]) - 0.5))), rel=1e-6)
    assert cal.cite_threshold == pytest.approx(0.4)
    assert Calibration(cal.mean, cal.std, cal.prior, 1, 1, 0, 0.4).cite_threshold == 0.5  # at most 50 %
