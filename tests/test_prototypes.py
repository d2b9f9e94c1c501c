import numpy as np
import pytest

from lafg.errors import InputError
from lafg.prototypes import PrototypeConfig, build_prototypes, top_k_softmax
from lafg.vocabulary import Atom, Vocabulary


def unit(v):
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def tiny_vocab():
    centroids = unit([[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    emb = unit([[1, 0.1, 0], [0, 1, 0.1], [0.1, 0, 1], [1, 0, 0.1]])
    atoms = [Atom(i, f"atom{i}", [], []) for i in range(3)]
    return Vocabulary(centroids, emb, ["s0", "s1", "s2", "s3"], np.array([0, 0, 1, 1]), np.array([0, 1, 2, 0]),
                      ["A", "B"], atoms)


def test_top_k_softmax_exact():
    idx, w = top_k_softmax(np.array([[0.1, 0.9, 0.5]]), k=2, tau=0.5)
    assert idx.tolist() == [[1, 2]]
    e = np.exp(np.array([0.9, 0.5]) / 0.5)
    assert np.allclose(w, e / e.sum())


def test_lafg_prototype_matches_the_formula_by_hand():
    vocab = tiny_vocab()
    t = unit([[0.8, 0.6, 0.0], [0.0, 0.6, 0.8]])
    cfg = PrototypeConfig(top_k=2, tau=1.0)
    protos = build_prototypes(["A", "B"], t, vocab, cfg, "lafg")
    for c in range(2):
        sims = [float(t[c] @ vocab.centroids[k]) for k in range(3)]
        top = sorted(range(3), key=lambda k: -sims[k])[:2]
        w = np.exp([sims[k] for k in top])
        w = w / w.sum()
        expected = t[c] + sum(wk * vocab.centroids[k] for wk, k in zip(w, top, strict=True))
        expected = expected / np.linalg.norm(expected)
        assert np.allclose(protos.vectors[c], expected, atol=1e-6)
        assert protos.top_atoms[c].tolist() == top
    assert protos.top_atoms[0].tolist() == [0, 1] and protos.top_atoms[1].tolist() == [2, 1]


def test_template_and_description_variants():
    vocab = tiny_vocab()
    t = unit([[0.8, 0.6, 0.0], [0.0, 0.6, 0.8]])
    assert np.array_equal(build_prototypes(["A", "B"], t, None, variant="template").vectors, t)
    desc = build_prototypes(["A", "B", "C"], unit([[1, 0, 0], [0, 1, 0], [0, 0, 1]]), vocab, variant="descriptions")
    assert np.allclose(desc.vectors[0], unit(vocab.embeddings[0] + vocab.embeddings[1]), atol=1e-6)
    assert np.allclose(desc.vectors[1], unit(vocab.embeddings[2] + vocab.embeddings[3]), atol=1e-6)
    assert np.allclose(desc.vectors[2], [0, 0, 1])  # no descriptions: falls back to the template


def test_own_and_borrowed_atoms():
    vocab = tiny_vocab()  # class A's sentences fall in atoms 0 and 1; B's in 2 and 0
    protos = build_prototypes(["A"], unit([[0.1, 0.2, 1.0]]), vocab, PrototypeConfig(top_k=2))
    assert [a for a, _ in protos.chosen_atoms("A")] == [2, 1]
    assert protos.own_and_borrowed("A") == ([1], [2])


def test_bad_config_and_variant():
    with pytest.raises(InputError, match='"{}"'):
        PrototypeConfig(template="a photo").fill("x")
    with pytest.raises(InputError, match="unknown prototype variant"):
        build_prototypes(["A"], unit([[1, 0, 0]]), tiny_vocab(), variant="nope")
    with pytest.raises(InputError, match="need a vocabulary"):
        build_prototypes(["A"], unit([[1, 0, 0]]), None, variant="lafg")
