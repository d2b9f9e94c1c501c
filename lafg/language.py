"""Language-side helpers: embed and cluster descriptions, embed templates. The language side a model trains
with is assembled in one place only, :func:`lafg.pipeline.seen_language` (seen classes' descriptions only);
:func:`language_prototypes` is that function for a list of names (the app's exploration tabs)."""

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
    """Prototypes for ``names``: :func:`lafg.pipeline.seen_language` over these names, or, when a vocabulary
    is given, that vocabulary read by these names (classes borrowing from it)."""
    proto_cfg = proto_cfg or PrototypeConfig()
    if vocabulary is None and variant != "template":
        from lafg.pipeline import seen_language

        return seen_language(names, descriptions, encoder, vocab_cfg, proto_cfg, (variant,), cache,
                             progress).prototypes[variant]
    t = template_embeddings(names, encoder, proto_cfg, cache)
    return build_prototypes(names, t, vocabulary, proto_cfg, variant)
