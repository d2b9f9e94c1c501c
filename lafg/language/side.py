"""The language side of a run, assembled in one place: the seen classes' descriptions → their attribute vocabulary
→ their prototypes of each variant (:class:`Language`, built by :func:`seen_language` or read back from a run folder
by :func:`language_from_run`).

:func:`seen_language` keeps the descriptions of the names it is given and nothing else, so unseen classes'
descriptions cannot reach a model; classes met later (unseen, evaluation) get prototypes from their *names*
through the seen vocabulary (:meth:`Language.prototypes_for`). :func:`language_prototypes` is the same for a list
of names (the app's exploration tabs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from lafg.errors import InputError
from lafg.language.encode import TextEncoder, encode_cached
from lafg.language.prototypes import PrototypeConfig, Prototypes, build_prototypes, description_prototypes
from lafg.language.vocabulary import (
    Atom,
    Vocabulary,
    VocabularyConfig,
    build_vocabulary,
    flatten_descriptions,
)
from lafg.store.cache import ArrayCache

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
    """Prototypes for ``names``: :func:`seen_language` over these names, or, when a vocabulary
    is given, that vocabulary read by these names (classes borrowing from it)."""
    proto_cfg = proto_cfg or PrototypeConfig()
    if vocabulary is None and variant != "template":
        return seen_language(names, descriptions, encoder, vocab_cfg, proto_cfg, (variant,), cache,
                             progress).prototypes[variant]
    t = template_embeddings(names, encoder, proto_cfg, cache)
    return build_prototypes(names, t, vocabulary, proto_cfg, variant)


@dataclass
class Language:
    """The language side of a run: the seen classes' vocabulary and their prototypes per variant."""

    seen_names: list[str]
    encoder_id: str
    vocabulary: Vocabulary | None  # over the seen classes' descriptions (None: template prototypes only)
    prototypes: dict[str, Prototypes]  # variant → prototypes of the seen classes (no control applied)
    source: str = "descriptions of the seen classes"
    notes: list[str] = field(default_factory=list)

    @property
    def centroids(self) -> np.ndarray | None:
        return None if self.vocabulary is None else self.vocabulary.centroids

    @property
    def atom_labels(self) -> list[str]:
        return [] if self.vocabulary is None else [a.label for a in self.vocabulary.atoms]

    @property
    def proto_config(self) -> PrototypeConfig:
        return next(iter(self.prototypes.values())).config

    def description_means(self) -> np.ndarray:
        """(C, d) what a read-out maps image embeddings to: each seen class's normalised mean description
        embedding (its own sentences, as the vocabulary kept them; the template for a class without any)."""
        base = next(iter(self.prototypes.values()))
        return description_prototypes(self.seen_names, base.template, self.vocabulary, base.config).vectors

    def class_atoms(self) -> np.ndarray:
        """(C, N) bool: the seen class has a sentence of its own in the atom."""
        v = self.vocabulary
        own = np.zeros((len(v.class_names) + 1, v.n_atoms), dtype=bool)  # last row: a class without sentences
        own[v.sentence_class, v.sentence_atom] = True
        row = {n: i for i, n in enumerate(v.class_names)}
        return own[[row.get(n, -1) for n in self.seen_names]]

    def prototypes_for(self, names: list[str], encoder, variant: str = "lafg", cache=None) -> np.ndarray:
        """Prototypes of any classes from their *names* only: template + the seen vocabulary's atoms."""
        if encoder.name != self.encoder_id:
            raise InputError(f"this language side was built with {self.encoder_id}, not {encoder.name}")
        if variant != "template" and self.vocabulary is None:
            variant = "template"
        if variant == "descriptions":  # a description mean needs the class's own descriptions: names only here
            variant = "lafg"
        t = template_embeddings(names, encoder, self.proto_config, cache)
        return build_prototypes(names, t, self.vocabulary, self.proto_config, variant).vectors

    # ---- checkpoint I/O (plain types and tensors)
    def to_state(self) -> dict:
        v = self.vocabulary
        vocab = None
        if v is not None:
            vocab = {
                "centroids": torch.from_numpy(v.centroids.copy()),
                "embeddings": torch.from_numpy(v.embeddings.copy()),
                "sentences": list(v.sentences),
                "sentence_class": torch.from_numpy(v.sentence_class.copy()),
                "sentence_atom": torch.from_numpy(v.sentence_atom.copy()),
                "class_names": list(v.class_names),
                "atoms": [{"index": a.index, "label": a.label, "members": a.members, "classes": a.classes}
                          for a in v.atoms],
                "config": v.config.to_dict(),
            }
        protos = {
            k: {
                "names": list(p.names),
                "vectors": torch.from_numpy(p.vectors.copy()),
                "template": torch.from_numpy(p.template.copy()),
                "top_atoms": torch.from_numpy(p.top_atoms.copy()),
                "top_weights": torch.from_numpy(p.top_weights.copy()),
                "config": p.config.to_dict(),
            }
            for k, p in self.prototypes.items()
        }
        return {"seen_names": list(self.seen_names), "encoder_id": self.encoder_id, "vocabulary": vocab,
                "prototypes": protos, "source": self.source, "notes": list(self.notes)}

    @classmethod
    def from_state(cls, s: dict) -> Language:
        vocab = None
        if s["vocabulary"] is not None:
            v = s["vocabulary"]
            atoms = [Atom(a["index"], a["label"], a["members"], a["classes"]) for a in v["atoms"]]
            vocab = Vocabulary(v["centroids"].numpy(), v["embeddings"].numpy(), v["sentences"],
                               v["sentence_class"].numpy(), v["sentence_atom"].numpy(), v["class_names"], atoms,
                               VocabularyConfig(**v["config"]))
        protos = {
            k: Prototypes(p["names"], p["vectors"].numpy(), p["template"].numpy(), p["top_atoms"].numpy(),
                          p["top_weights"].numpy(), k, PrototypeConfig(**p["config"]),
                          vocab if k != "template" else None)
            for k, p in s["prototypes"].items()
        }
        return cls(s["seen_names"], s["encoder_id"], vocab, protos, s["source"], s.get("notes", []))


def seen_descriptions(descriptions: dict[str, list[str]] | None, seen_names: list[str]) -> dict[str, list[str]]:
    """The descriptions of the seen classes, and nothing else (the only door descriptions enter by)."""
    descriptions = descriptions or {}
    return {n: [s for s in descriptions.get(n) or [] if s and s.strip()] for n in seen_names if descriptions.get(n)}


def seen_language(
    seen_names: list[str],
    descriptions: dict[str, list[str]] | None,
    encoder,
    vocab_cfg: VocabularyConfig | None = None,
    proto_cfg: PrototypeConfig | None = None,
    variants: tuple[str, ...] = ("lafg",),
    cache=None,
    progress: Progress | None = None,
) -> Language:
    """Vocabulary over the seen classes' descriptions and the seen classes' prototypes of each variant.

    ``descriptions`` may hold any classes: only ``seen_names``' entries are read. Without any seen-class
    description only ``template`` prototypes can be built.
    """
    vocab_cfg, proto_cfg = vocab_cfg or VocabularyConfig(), proto_cfg or PrototypeConfig()
    own = seen_descriptions(descriptions, seen_names)
    vocab, notes = None, []
    if own and vocab_cfg.visual_only:  # the one place the visual filter runs for training (lafg.language.visual)
        from lafg.language.visual import filter_descriptions

        filtered = filter_descriptions(own)
        own = filtered.kept
        if filtered.n_set_aside:
            notes.append(f"visual filter: set aside {filtered.n_set_aside} non-visual sentence(s) of the seen classes")
    if own:
        vocab = encode_vocabulary(own, seen_names, encoder, vocab_cfg, cache, progress)
        if vocab.n_atoms < vocab_cfg.n_atoms:
            notes.append(f"N clamped from {vocab_cfg.n_atoms} to {vocab.n_atoms} atoms "
                         f"({vocab.n_atoms} distinct sentences in the seen classes' descriptions)")
        if len(own) < len(seen_names):
            notes.append(f"{len(seen_names) - len(own)} of {len(seen_names)} seen classes have no description")
    elif any(v != "template" for v in variants):
        raise InputError("none of the seen classes has a description: generate or import descriptions first "
                         "(the template method needs none)")
    t = template_embeddings(seen_names, encoder, proto_cfg, cache)
    protos = {v: build_prototypes(seen_names, t, vocab, proto_cfg, v) for v in dict.fromkeys(variants)}
    return Language(list(seen_names), encoder.name, vocab, protos, notes=notes)


def language_from_run(run_dir: str | Path, seen_names: list[str], encoder, variants: tuple[str, ...] = ("lafg",),
                      cache=None) -> Language:
    """The vocabulary (``vocab.npz``) and prototypes (``prototypes.npz``) that ``lafg vocab`` / ``lafg prototypes``
    wrote into ``run_dir``, for these seen classes.

    The vocabulary must be built over seen classes only (else unseen classes' descriptions would train the
    model): ``lafg vocab --run DIR --file seen.txt``. Saved prototypes are used for the classes they cover
    when their variant is asked for; the other variants are built from the saved vocabulary.
    """
    from lafg.store.runs import load_prototypes, load_vocabulary

    run_dir = Path(run_dir)
    vocab, encoder_name = load_vocabulary(run_dir)
    if encoder_name != encoder.name:
        raise InputError(f"{run_dir}/vocab.npz was built with {encoder_name}, not {encoder.name}")
    seen = set(seen_names)
    foreign = [n for n in vocab.class_names if n not in seen]
    if foreign:
        raise InputError(
            f"{run_dir}/vocab.npz was built over {len(foreign)} classes that are not seen (training) classes, e.g. "
            f"{foreign[0]!r}: the model would learn from their descriptions. Rebuild it over the seen classes: "
            f"lafg vocab --run {run_dir} --file SEEN.txt"
        )
    saved = load_prototypes(run_dir) if (run_dir / "prototypes.npz").is_file() else None
    proto_cfg = saved.config if saved is not None else PrototypeConfig()
    t = template_embeddings(seen_names, encoder, proto_cfg, cache)
    protos, notes = {}, []
    for v in dict.fromkeys(variants):
        built = build_prototypes(seen_names, t, vocab, proto_cfg, v)
        if saved is not None and saved.variant == v and set(seen_names) <= set(saved.names):
            rows = [saved.names.index(n) for n in seen_names]
            built = Prototypes(list(seen_names), saved.vectors[rows], saved.template[rows], saved.top_atoms[rows],
                               saved.top_weights[rows], v, proto_cfg, vocab)
            notes.append(f"{v} prototypes read from {run_dir}/prototypes.npz")
        protos[v] = built
    return Language(list(seen_names), encoder.name, vocab, protos, f"run folder {run_dir}", notes)
