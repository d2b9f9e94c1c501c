"""lafg.retrieval.grounding: ranking metrics recomputed by hand on tiny data, CUB attribute phrases and file reading."""

import numpy as np
import pytest

from lafg.retrieval.grounding import (
    attribute_correlations,
    attribute_phrase,
    average_precision,
    mean_average_precision,
    precision_at_k,
    read_cub_attributes,
)


def test_average_precision_by_hand():
    # ranking by score: rows 1 (pos), 3 (neg), 0 (pos), 2 (neg) → precisions at the hits: 1/1, 2/3
    assert average_precision(np.array([0.5, 0.9, 0.1, 0.7]), np.array([1, 1, 0, 0])) == pytest.approx((1 + 2 / 3) / 2)
    assert average_precision(np.array([0.2, 0.1]), np.array([0, 1])) == pytest.approx(0.5)
    assert np.isnan(average_precision(np.array([0.2, 0.1]), np.array([0, 0])))


def test_mean_average_precision_skips_attributes_without_both_labels():
    scores = np.array([[0.5, 0.1, 0.3], [0.9, 0.2, 0.2], [0.1, 0.3, 0.1], [0.7, 0.4, 0.0]])
    truth = np.array([[1, 0, 1], [1, 0, 1], [0, 0, 1], [0, 1, 1]], dtype=bool)
    m = mean_average_precision(scores, truth)
    # column 0 as above; column 1: its one positive (row 3) ranks first → AP 1; column 2 is all positive: skipped
    assert m.measured.tolist() == [True, True, False] and m.n_measured == 2
    assert m.per_attribute[0] == pytest.approx(100 * (1 + 2 / 3) / 2) and m.per_attribute[1] == pytest.approx(100.0)
    assert np.isnan(m.per_attribute[2])
    assert m.map == pytest.approx((100 * (1 + 2 / 3) / 2 + 100) / 2)
    assert m.chance == pytest.approx(100 * (2 / 4 + 1 / 4) / 2)  # positive rates of the measured columns
    with pytest.raises(ValueError, match="shape"):
        mean_average_precision(scores, truth[:, :2])


def test_precision_at_k_and_correlations():
    scores = np.array([[0.9, 0.8, 0.1], [0.1, 0.2, 0.3]])
    truth = np.array([[1, 0, 1], [0, 1, 1]], dtype=bool)
    # row 0: top-2 = columns 0, 1 → 1 of 2; row 1: columns 2, 1 → 2 of 2
    assert precision_at_k(scores, truth, k=2) == pytest.approx(75.0)
    target = np.array([[1.0, 0.0, 5.0], [3.0, 1.0, 5.0]])
    r = attribute_correlations(scores, target)
    assert r[0] == pytest.approx(-1.0) and r[1] == pytest.approx(-1.0) and np.isnan(r[2])  # column 2: constant target


@pytest.mark.parametrize("name,phrase", [
    ("has_wing_color::blue", "a bird with blue wings"),
    ("has_bill_shape::curved_(up_or_down)", "a bird with a curved bill"),
    ("has_size::large_(16_-_32_in)", "a large bird"),
    ("has_shape::perching-like", "a perching shaped bird"),
    ("has_primary_color::yellow", "a mostly yellow bird"),
    ("has_bill_length::shorter_than_head", "a bird with a bill shorter than its head"),
    ("has_head_pattern::eyering", "a bird with an eyering"),
    ("has_head_pattern::capped", "a bird with a capped head"),
    ("has_breast_color::olive", "a bird with an olive breast"),
    ("has_tail_shape::notched_tail", "a bird with a notched tail"),
    ("has_under_tail_color::white", "a bird with a white under tail"),
    ("has_leg_color::black", "a bird with black legs"),
])
def test_attribute_phrases(name, phrase):
    assert attribute_phrase(name) == phrase


def test_read_cub_attributes(tmp_path):
    (tmp_path / "attributes.txt").write_text("1 has_wing_color::blue\n2 has_size::small_(5_-_9_in)\n")
    (tmp_path / "classes.txt").write_text("1 001.Black_footed_Albatross\n2 002.Laysan_Albatross\n3 003.Sooty_Albatross\n")
    (tmp_path / "class_attribute_labels_continuous.txt").write_text("0 50\n49.9 100\n75 0\n")
    a = read_cub_attributes(tmp_path)
    assert a.names == ["has_wing_color::blue", "has_size::small_(5_-_9_in)"]
    assert a.classes == ["Black footed Albatross", "Laysan Albatross", "Sooty Albatross"]
    assert a.present().tolist() == [[False, True], [False, True], [True, False]]
    assert a.rows(["Sooty Albatross", "Black footed Albatross"]).tolist() == [2, 0]
    (tmp_path / "class_attribute_labels_continuous.txt").write_text("0 50\n")
    with pytest.raises(ValueError, match="does not match"):
        read_cub_attributes(tmp_path)
