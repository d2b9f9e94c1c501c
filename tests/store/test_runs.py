import numpy as np
import pytest

from lafg.errors import InputError
from lafg.language.prototypes import PrototypeConfig, build_prototypes
from lafg.language.vocabulary import VocabularyConfig, build_vocabulary
from lafg.store.runs import (
    load_prototypes,
    load_vocabulary,
    read_json,
    save_prototypes,
    save_vocabulary,
)


def make_vocab():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(12, 5)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    sentences = [f"attribute {i} ✓" for i in range(12)]
    return build_vocabulary(sentences, emb, np.arange(12) % 3, ["Ñandú", "B", "C"], VocabularyConfig(n_atoms=4))


def test_vocabulary_and_prototypes_round_trip(tmp_path):
    vocab = make_vocab()
    save_vocabulary(vocab, tmp_path, "enc")
    back, enc = load_vocabulary(tmp_path)
    assert enc == "enc" and back.sentences == vocab.sentences and back.class_names == vocab.class_names
    assert np.array_equal(back.centroids, vocab.centroids) and np.array_equal(back.sentence_atom, vocab.sentence_atom)
    assert [a.members for a in back.atoms] == [a.members for a in vocab.atoms]
    t = vocab.centroids[:3] + 0.1
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    protos = build_prototypes(vocab.class_names, t, vocab, PrototypeConfig(top_k=2, tau=0.5))
    save_prototypes(protos, tmp_path, "enc")
    p2 = load_prototypes(tmp_path)
    assert p2.names == protos.names and p2.config == protos.config
    assert np.array_equal(p2.vectors, protos.vectors) and np.array_equal(p2.top_atoms, protos.top_atoms)
    assert p2.own_and_borrowed("Ñandú") == protos.own_and_borrowed("Ñandú")


def test_missing_and_corrupt_files_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="missing file"):
        read_json(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{oops")
    with pytest.raises(InputError, match="not valid JSON"):
        read_json(tmp_path / "bad.json")
