import numpy as np
import pytest

from lafg.errors import InputError
from lafg.language.vocabulary import VocabularyConfig, build_vocabulary, flatten_descriptions


def toy():
    """Two tight groups of unit vectors: 'red' sentences near e0, 'wing' sentences near e1."""
    sentences = ["red crown", "red head", "scarlet cap", "long wings", "pointed wings"]
    emb = np.array([[1, 0.05, 0], [1, -0.05, 0], [0.98, 0, 0.1], [0, 1, 0.05], [0.05, 1, 0]], dtype=np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    owners = np.array([0, 1, 1, 0, 2])
    return sentences, emb, owners, ["Cardinal", "Tanager", "Swift"]


def test_flatten_descriptions_keeps_class_order_and_skips_blanks():
    s, o = flatten_descriptions({"B": ["x", " "], "A": ["y", "z"]}, ["A", "B", "C"])
    assert s == ["y", "z", "x"] and o.tolist() == [0, 0, 1]


@pytest.mark.parametrize("backend", ["sklearn", "faiss"])
def test_two_atoms_recover_the_two_groups(backend):
    s, emb, owners, names = toy()
    vocab = build_vocabulary(s, emb, owners, names, VocabularyConfig(n_atoms=2, seed=0, backend=backend))
    groups = {frozenset(a.members) for a in vocab.atoms}
    assert groups == {frozenset({0, 1, 2}), frozenset({3, 4})}
    red = next(a for a in vocab.atoms if 0 in a.members)
    assert red.label == "red crown" or red.label == "red head"  # nearest the centroid of the three
    assert red.classes == [1, 0]  # Tanager contributed two sentences, Cardinal one
    assert np.allclose(np.linalg.norm(vocab.centroids, axis=1), 1, atol=1e-6)


def test_kmeans_is_deterministic_for_a_seed():
    rng = np.random.default_rng(3)
    emb = rng.normal(size=(60, 8)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    args = ([f"s{i}" for i in range(60)], emb, np.arange(60) % 5, list("abcde"))
    a = build_vocabulary(*args, VocabularyConfig(n_atoms=6, seed=7))
    b = build_vocabulary(*args, VocabularyConfig(n_atoms=6, seed=7))
    assert np.array_equal(a.centroids, b.centroids) and np.array_equal(a.sentence_atom, b.sentence_atom)


def test_atoms_are_clamped_to_distinct_sentences_and_own_borrowed_split():
    s, emb, owners, names = toy()
    vocab = build_vocabulary(s, emb, owners, names, VocabularyConfig(n_atoms=50))
    assert vocab.n_atoms == 5
    swift_atom = int(vocab.sentence_atom[4])
    own, borrowed = vocab.own_and_borrowed(2, [swift_atom, int(vocab.sentence_atom[0])])
    assert own == [swift_atom] and borrowed == [int(vocab.sentence_atom[0])]


def test_empty_or_mismatched_input_is_rejected():
    with pytest.raises(InputError, match="no descriptions"):
        build_vocabulary([], np.zeros((0, 3)), np.zeros(0, int), [])
    with pytest.raises(InputError, match="differ in length"):
        build_vocabulary(["a"], np.zeros((2, 3)), np.zeros(1, int), ["A"])
