"""Integration: the whole language side on the real GPT-4 descriptor files with the bundled MiniLM."""

import json

import numpy as np
import pytest

from lafg.language.side import encode_vocabulary, language_prototypes
from lafg.language.vocabulary import VocabularyConfig

pytestmark = pytest.mark.slow


# Measured with MiniLM, 60 classes: cub 0.8+, cars 0.68 (car descriptions are generic: "a large grille");
# chance is 0.5.
@pytest.mark.parametrize(("name", "at_least"), [("cub200_gpt4_adaptclipzs", 0.8), ("cars196_gpt4_adaptclipzs", 0.6)])
def test_prototypes_are_nearer_their_own_descriptions(shared_data, minilm, name, at_least):
    desc = json.loads((shared_data / "descriptors" / f"{name}.json").read_text())
    names = sorted(desc)[:60]  # a subset keeps the test under a minute on 2 cores
    vocab = encode_vocabulary(desc, names, minilm, VocabularyConfig(n_atoms=64, seed=0))
    protos = language_prototypes(names, desc, minilm, vocabulary=vocab)
    assert protos.vectors.shape == (60, 384)
    # mean cosine between each prototype and each class's own description embeddings
    sims = protos.vectors @ vocab.embeddings.T  # (C, M)
    per_class = np.stack([sims[:, vocab.sentence_class == c].mean(axis=1) for c in range(60)], axis=1)  # (C, C)
    own = np.diag(per_class)
    rng = np.random.default_rng(0)
    other = per_class[np.arange(60), (np.arange(60) + rng.integers(1, 60, 60)) % 60]
    assert (own > other).mean() >= at_least
    # every class borrows: its chosen atoms include ones it never mentioned itself, for some classes
    borrowed = [len(protos.own_and_borrowed(n)[1]) for n in names]
    assert sum(b > 0 for b in borrowed) >= 10
    assert np.allclose(protos.top_weights.sum(axis=1), 1, atol=1e-5)
