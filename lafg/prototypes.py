"""Linguistic prototypes: the template embedding of a class name plus its top-K vocabulary atoms.

    T_c = normalise( t_c + Σ_{k ∈ topK(c)} softmax_k(t_c · a_k / τ) · a_k )

where t_c embeds the global template ("a photo of a {}.") filled with the class name, a_k are the vocabulary
atoms (unit centroids) and the softmax runs over the K atoms most similar to t_c. Two ablation variants the
paper compares against: ``template`` (T_c = t_c) and ``descriptions`` (the normalised mean of the class's own
description embeddings, no vocabulary).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from lafg.encode import l2_normalise
from lafg.errors import InputError
from lafg.vocabulary import Vocabulary

VARIANTS = ("lafg", "template", "descriptions")


@dataclass(frozen=True)
class PrototypeConfig:
    template: str = "a photo of a {}."  # global prompt; "{}" is replaced by the class name
    top_k: int = 5  # K: atoms aggregated per class
    # τ_p, softmax temperature over t_c·a_k. At 1.0 (the paper's plain softmax) the K weights are uniform
    # (0.20 ± 0.01 for K = 5: the atoms' cosines to t_c differ by hundredths); 0.01 gives ~0.71 to the nearest
    # atom and 0.02 to the K-th. Chosen on the seen-class validation split (benchmarks/validate.py --grid taup,
    # results/validation.md): 0.01 had the highest lafg R@1 (38.85 vs 38.49 at 1.0 on held-out car makes).
    tau: float = 0.01

    def to_dict(self) -> dict:
        return asdict(self)

    def fill(self, name: str) -> str:
        if "{}" not in self.template:
            raise InputError('the prompt template must contain "{}" where the class name goes')
        return self.template.replace("{}", name)


@dataclass
class Prototypes:
    """One unit vector per class, plus what went into it."""

    names: list[str]
    vectors: np.ndarray  # (C, d) float32 unit rows: T_c
    template: np.ndarray  # (C, d) float32 unit rows: t_c
    top_atoms: np.ndarray  # (C, K) int64 atom indices (empty second axis for non-vocabulary variants)
    top_weights: np.ndarray  # (C, K) float32 softmax weights
    variant: str = "lafg"
    config: PrototypeConfig = field(default_factory=PrototypeConfig)
    vocabulary: Vocabulary | None = None

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError as exc:
            raise InputError(f"unknown class {name!r}") from exc

    def chosen_atoms(self, name: str) -> list[tuple[int, float]]:
        """(atom index, weight) pairs that built this class's prototype, heaviest first."""
        c = self.index(name)
        return [(int(a), float(w)) for a, w in zip(self.top_atoms[c], self.top_weights[c], strict=True)]

    def own_and_borrowed(self, name: str) -> tuple[list[int], list[int]]:
        """The chosen atoms the class's own descriptions fall in, and those borrowed from other classes."""
        if self.vocabulary is None:
            return [], []
        c_vocab = self.vocabulary.class_names.index(name) if name in self.vocabulary.class_names else -1
        chosen = [a for a, _ in self.chosen_atoms(name)]
        if c_vocab < 0:
            return [], chosen
        return self.vocabulary.own_and_borrowed(c_vocab, chosen)


def top_k_softmax(sims: np.ndarray, k: int, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """Per row: indices of the k largest similarities (desc) and their softmax(sim / tau) weights."""
    k = min(k, sims.shape[1])
    idx = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    top = np.take_along_axis(sims, idx, axis=1) / tau
    top = top - top.max(axis=1, keepdims=True)
    w = np.exp(top)
    return idx.astype(np.int64), (w / w.sum(axis=1, keepdims=True)).astype(np.float32)


def lafg_prototypes(names: list[str], template_emb: np.ndarray, vocab: Vocabulary, cfg: PrototypeConfig) -> Prototypes:
    """T_c = normalise(t_c + Σ_k softmax(t_c·a_k/τ) a_k) over the top-K atoms of each class."""
    idx, w = top_k_softmax(template_emb @ vocab.centroids.T, cfg.top_k, cfg.tau)
    mixed = template_emb + np.einsum("ck,ckd->cd", w, vocab.centroids[idx])
    return Prototypes(list(names), l2_normalise(mixed), template_emb, idx, w, "lafg", cfg, vocab)


def template_prototypes(names: list[str], template_emb: np.ndarray, cfg: PrototypeConfig) -> Prototypes:
    """Ablation: T_c = t_c."""
    empty = np.zeros((len(names), 0))
    return Prototypes(list(names), template_emb.copy(), template_emb, empty.astype(np.int64), empty.astype(np.float32), "template", cfg)


def description_prototypes(names: list[str], template_emb: np.ndarray, vocab: Vocabulary, cfg: PrototypeConfig) -> Prototypes:
    """Ablation: T_c = normalise(mean of the class's own description embeddings); t_c for a class without any."""
    vectors = template_emb.copy()
    emb = vocab.embeddings
    for c, name in enumerate(names):
        if name in vocab.class_names:
            rows = vocab.sentence_class == vocab.class_names.index(name)
            if rows.any():
                vectors[c] = emb[rows].mean(axis=0)
    empty = np.zeros((len(names), 0))
    return Prototypes(list(names), l2_normalise(vectors), template_emb, empty.astype(np.int64), empty.astype(np.float32), "descriptions", cfg, vocab)


def build_prototypes(names: list[str], template_emb: np.ndarray, vocab: Vocabulary | None, cfg: PrototypeConfig | None = None, variant: str = "lafg") -> Prototypes:
    """Dispatch on ``variant`` (``lafg``, ``template`` or ``descriptions``)."""
    cfg = cfg or PrototypeConfig()
    if template_emb.shape[0] != len(names):
        raise InputError("one template embedding per class name is needed")
    if variant == "template":
        return template_prototypes(names, template_emb, cfg)
    if vocab is None:
        raise InputError(f"the {variant!r} prototypes need a vocabulary")
    if variant == "lafg":
        return lafg_prototypes(names, template_emb, vocab, cfg)
    if variant == "descriptions":
        return description_prototypes(names, template_emb, vocab, cfg)
    raise InputError(f"unknown prototype variant {variant!r}; choose one of: {', '.join(VARIANTS)}")
