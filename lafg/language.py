"""The language side in one call: descriptions → embeddings → vocabulary → prototypes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lafg.cache import ArrayCache
from lafg.encode import TextEncoder, encode_cached
from lafg.errors import InputError
from lafg.prototypes import PrototypeConfig, Prototypes, build_prototypes
from lafg.vocabulary import Vocabulary, VocabularyConfig, build_vocabulary, flatten_descriptions

Progress = Callable[[int, int, str], None]


def encode_vocabulary(
    descriptions: dict[str, list[str]],
    class_names: list[str],
    encoder: TextEncoder,
    cfg: VocabularyConfig | None = None,
    cache: ArrayCache | None = None,
    progress: Progress | None = None,
) -> Vocabulary:
    """Embed every description of ``class_names`` and cluster them into a vocabulary."""
    sentences, owners = flatten_descriptions(descriptions, class_names)
    if not sentences:
        raise InputError("none of the given classes has a description")
    emb = encode_cached(encoder, sentences, cache, progress)
    return build_vocabulary(sentences, emb, owners, class_names, cfg)


def template_embeddings(names: list[str], encoder: TextEncoder, cfg: PrototypeConfig, cache: ArrayCache | None = None) -> np.ndarray:
    """t_c for each name: the template filled with the class name, embedded."""
    return encode_cached(encoder, [cfg.fill(n) for n in names], cache)


def language_prototypes(
    names: list[str],
    descriptions: dict[str, list[str]],
    encoder: TextEncoder,
    vocab_cfg: VocabularyConfig | None = None,
    proto_cfg: PrototypeConfig | None = None,
    variant: str = "lafg",
    vocabulary: Vocabulary | None = None,
    cache: ArrayCache | None = None,
    progress: Progress | None = None,
) -> Prototypes:
    """Prototypes for ``names``. The vocabulary is built over the descriptions of ``names`` unless given
    (pass one built over more classes to let these classes borrow from them)."""
    proto_cfg = proto_cfg or PrototypeConfig()
    if variant != "template" and vocabulary is None:
        vocabulary = encode_vocabulary(descriptions, names, encoder, vocab_cfg, cache, progress)
    t = template_embeddings(names, encoder, proto_cfg, cache)
    return build_prototypes(names, t, vocabulary, proto_cfg, variant)
