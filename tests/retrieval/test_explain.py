import numpy as np
import pytest

from lafg.errors import InputError
from lafg.retrieval.explain import atom_activations, explain_projected


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
    from lafg.retrieval.attribute_space import fit_readout

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
    from lafg.retrieval.explain import compare_prototypes

    atoms = np.eye(3, dtype=np.float32)
    cmp = compare_prototypes(np.array([1.0, 1.0, 0.0]), np.array([0.0, 1.0, 1.0]), atoms, ["red", "wings", "blue"], top=2)
    assert cmp.shared[0][1] == "wings"
    assert {cmp.separating[0][1], cmp.separating[1][1]} == {"red", "blue"}


def test_uncalibrated_explanations_list_no_zero_rows():
    atoms = np.eye(3, dtype=np.float32)
    # tau tiny: one atom takes all the weight, the others would print as "+0.000"
    ex = explain_projected(np.array([1.0, 0.0, 0.0]), np.array([1.0, 0.1, 0.0]), atoms, ["a", "b", "c"], top=3, tau=0.01)
    assert [c.label for c in ex.shared] == ["a"] and all(abs(c.contribution) >= 5e-4 for c in ex.differing)


def test_grounded_explanation_cites_only_what_clears_the_threshold_with_its_sentences():
    from lafg.retrieval.explain import explain_grounded

    labels = ["red crown", "black wings", "white belly", "long tail"]
    p_query = np.array([0.9, 0.6, 0.1, 0.7])
    p_result = np.array([0.8, 0.3, 0.05, 0.1])
    support = {0: ["A bright red crown.", "Red on the head."], 3: ["A long tail."]}
    ex = explain_grounded(p_query, p_result, labels, support, top=5, threshold=0.5, margin=0.25, similarity=0.7)
    assert ex.calibrated and ex.described and ex.similarity == pytest.approx(0.7) and ex.note == ""
    assert [(c.label, c.query, c.result, c.contribution) for c in ex.shared] == [("red crown", 0.9, 0.8, 0.8)]
    assert ex.shared[0].support == ("A bright red crown.", "Red on the head.")
    # differing: likely for one image and not for the other (by ≥ 0.25 here), largest difference first
    assert [(c.label, round(c.contribution, 3)) for c in ex.differing] == [("long tail", 0.6), ("black wings", 0.3)]
    close = explain_grounded(np.array([0.55, 0.1]), np.array([0.45, 0.1]), ["a", "b"], threshold=0.5, margin=0.25)
    assert close.differing == [] and close.shared == []  # 0.55 vs 0.45: not clearly different
    assert ex.differing[0].support == ("A long tail.",)
    assert ex.agreement == (1, 3)  # red crown for both; black wings and long tail for the query only
    d = ex.to_dict()
    assert d["calibrated"] and d["shared"][0]["support"] == ["A bright red crown.", "Red on the head."]


def test_grounded_explanation_says_so_when_nothing_is_likely():
    from lafg.retrieval.explain import explain_grounded

    ex = explain_grounded(np.array([0.9, 0.1]), np.array([0.2, 0.1]), ["a", "b"], None, threshold=0.5)
    assert ex.shared == [] and "for both images" in ex.note and not ex.described and ex.agreement == (0, 1)
    ex = explain_grounded(np.array([0.2, 0.1]), np.array([0.2, 0.1]), ["a", "b"], {}, threshold=0.5)
    assert ex.shared == [] and ex.differing == [] and "for either image" in ex.note and ex.described
    with pytest.raises(InputError, match="one probability per atom"):
        explain_grounded(np.ones(3), np.ones(3), ["a", "b"])


def test_class_support_groups_a_class_sentences_by_nearest_atom():
    from lafg.retrieval.explain import class_support

    atoms = np.eye(3, dtype=np.float32)
    emb = np.array([[0.9, 0.1, 0.0], [1.0, 0.0, 0.0], [0.0, 0.2, 1.0]], dtype=np.float32)
    out = class_support(["reddish", "red", "blue"], emb, atoms)
    assert out == {0: ["red", "reddish"], 2: ["blue"]}  # nearest first; atom 1 holds none
    assert class_support([], np.zeros((0, 3)), atoms) == {}


def test_a_text_query_is_explained_by_the_atoms_nearest_its_words():
    from lafg.retrieval.explain import explain_text_query

    atoms = np.eye(4, dtype=np.float32)
    text = np.array([0.9, 0.5, 0.0, 0.1], dtype=np.float32)  # nearest atoms: 0, then 1, then 3
    p_result = np.array([0.7, 0.2, 0.9, 0.1])
    ex = explain_text_query(text, p_result, atoms, ["red", "blue", "green", "tail"], {0: ["Red all over."]}, top=3,
                            threshold=0.5)
    assert ex.query_kind == "text" and ex.calibrated and ex.described
    cos = text / np.linalg.norm(text)
    assert [(c.label, c.query, c.result) for c in ex.shared] == [("red", pytest.approx(cos[0]), 0.7)]
    assert ex.shared[0].support == ("Red all over.",)
    assert [c.label for c in ex.differing] == ["blue", "tail"]  # near the words, unlikely for the result
    assert ex.agreement == (1, 3) and ex.note == ""  # green is likely for the result but not what was asked
    assert "unlikely" in explain_text_query(text, np.zeros(4), atoms, list("abcd"), threshold=0.5).note
