import json
from pathlib import Path

import numpy as np
import pytest

from lafg.errors import InputError
from lafg.language.prototypes import (
    PrototypeConfig,
    build_prototypes,
    class_sentences_by_atom,
    compare_on_evidence,
    top_k_softmax,
)
from lafg.language.vocabulary import Atom, Vocabulary


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


def test_grounded_takes_the_top_k_among_the_class_s_own_atoms():
    vocab = tiny_vocab()  # A's own atoms: {0, 1}; B's: {2, 0}
    t = unit([[0.1, 0.2, 1.0], [0.0, 1.0, 0.3]])
    cfg = PrototypeConfig(top_k=2, tau=1.0)
    lafg = build_prototypes(["A", "B"], t, vocab, cfg, "lafg")
    grounded = build_prototypes(["A", "B"], t, vocab, cfg, "grounded")
    assert lafg.top_atoms.tolist() == [[2, 1], [1, 2]]  # by closeness to t_c: A borrows 2, B borrows 1
    # own atoms only, ranked by closeness to t_c: A {1, 0} (atom 2, its nearest, is not its own), B {2, 0}
    assert grounded.top_atoms.tolist() == [[1, 0], [2, 0]] and grounded.variant == "grounded"
    for c, name in enumerate(["A", "B"]):
        own, borrowed = grounded.own_and_borrowed(name)
        assert borrowed == [] and own == grounded.top_atoms[c].tolist()
        top = grounded.top_atoms[c]
        w = np.exp(t[c] @ vocab.centroids[top].T)
        w = w / w.sum()
        expected = unit(t[c] + w @ vocab.centroids[top])
        assert np.allclose(grounded.vectors[c], expected, atol=1e-6) and np.allclose(grounded.top_weights[c], w, atol=1e-6)


def test_grounded_fills_up_with_the_nearest_other_atoms():
    vocab = tiny_vocab()
    t = unit([[0.1, 0.2, 1.0], [0.3, 1.0, 0.0]])
    grounded = build_prototypes(["A", "C"], t, vocab, PrototypeConfig(top_k=3, tau=1.0), "grounded")
    # A has 2 own atoms (1, 0) for K = 3: its own first, then the nearest other (2), shown as borrowed
    assert grounded.top_atoms[0].tolist() == [1, 0, 2] and grounded.own_and_borrowed("A") == ([1, 0], [2])
    # C has no sentence (an unseen class, known by name): exactly its lafg atoms and vector
    lafg = build_prototypes(["C"], t[1:], vocab, PrototypeConfig(top_k=3, tau=1.0), "lafg")
    assert grounded.top_atoms[1].tolist() == lafg.top_atoms[0].tolist()
    assert np.allclose(grounded.vectors[1], lafg.vectors[0])


def test_bad_config_and_variant():
    with pytest.raises(InputError, match='"{}"'):
        PrototypeConfig(template="a photo").fill("x")
    with pytest.raises(InputError, match="unknown prototype variant"):
        build_prototypes(["A"], unit([[1, 0, 0]]), tiny_vocab(), variant="nope")
    with pytest.raises(InputError, match="need a vocabulary"):
        build_prototypes(["A"], unit([[1, 0, 0]]), None, variant="lafg")


def test_compare_on_evidence_exact():
    vocab = tiny_vocab()  # A: s0 → atom 0, s1 → atom 1; B: s2 → atom 2, s3 → atom 0
    t = unit([[0.1, 0.2, 1.0], [0.0, 1.0, 0.3], [1.0, 0.0, 0.0]])
    protos = build_prototypes(["A", "B", "C"], t, vocab, PrototypeConfig(top_k=2, tau=1.0))
    assert class_sentences_by_atom(vocab, "A") == {0: ["s0"], 1: ["s1"]} and class_sentences_by_atom(vocab, "C") == {}
    cmp = compare_on_evidence(protos, "A", "B")
    assert [r.atom for r in cmp.only_a] == [1] and cmp.only_a[0].sentences == {"A": ["s1"]}
    assert [r.atom for r in cmp.only_b] == [2] and cmp.only_b[0].sentences == {"B": ["s2"]}
    assert [r.atom for r in cmp.shared] == [0] and cmp.shared[0].sentences == {"A": ["s0"], "B": ["s3"]}
    va, vb = protos.vectors[0], protos.vectors[1]
    assert np.isclose(cmp.only_a[0].score_a, vocab.centroids[1] @ va) and np.isclose(cmp.only_a[0].score_b, vocab.centroids[1] @ vb)
    # a class with no sentence of its own separates on nothing, and says so
    none = compare_on_evidence(protos, "A", "C")
    assert none.only_b == [] and none.shared == [] and [r.atom for r in none.only_a] == [1, 0] and none.without_sentences == ["C"]
    with pytest.raises(InputError):
        compare_on_evidence(build_prototypes(["A"], t[:1], None, variant="template"), "A", "A")


DEMO = Path(__file__).resolve().parents[2] / "assets" / "demo"


@pytest.mark.parametrize("variant", ["lafg", "grounded"])
def test_demo_compare_separates_only_on_the_attributed_class_s_own_sentences(minilm, variant):
    """Two demo classes (the app's Compare on its vocabulary over the demo's descriptions): every separating atom
    is backed by a sentence of the class it is attributed to, and by none of the other class."""
    from lafg.language.side import encode_vocabulary, template_embeddings
    from lafg.language.vocabulary import VocabularyConfig

    desc = json.loads((DEMO / "descriptions.json").read_text(encoding="utf-8"))
    names = list(desc)
    vocab = encode_vocabulary(desc, names, minilm, VocabularyConfig(n_atoms=32, visual_only=False))
    protos = build_prototypes(names, template_embeddings(names, minilm, PrototypeConfig()), vocab, PrototypeConfig(), variant)
    for a, b in [("Scarlet Tanager", "Baltimore Oriole"), ("Blue Jay", "Indigo Bunting")]:
        cmp = compare_on_evidence(protos, a, b)
        assert cmp.only_a and cmp.only_b and not cmp.without_sentences
        ia, ib = vocab.class_names.index(a), vocab.class_names.index(b)
        for owner, other, rows in ((a, ib, cmp.only_a), (b, ia, cmp.only_b)):
            io = vocab.class_names.index(owner)
            for r in rows:
                quoted = r.sentences[owner]
                assert list(r.sentences) == [owner] and quoted and all(q in desc[owner] for q in quoted)
                members = [vocab.sentences[m] for m in range(len(vocab.sentences)) if vocab.sentence_atom[m] == r.atom]
                assert all(q in members for q in quoted)
                assert (vocab.sentence_class[vocab.sentence_atom == r.atom] == io).any()
                assert not (vocab.sentence_class[vocab.sentence_atom == r.atom] == other).any()
        for r in cmp.shared:
            assert set(r.sentences) == {a, b}
