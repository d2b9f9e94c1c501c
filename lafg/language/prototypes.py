"""Linguistic prototypes: the template embedding of a class name plus its top-K vocabulary atoms.

    T_c = normalise( t_c + Σ_{k ∈ topK(c)} softmax_k(t_c · a_k / τ) · a_k )

where t_c embeds the global template ("a photo of a {}.") filled with the class name, a_k are the vocabulary
atoms (unit centroids) and the softmax runs over the K atoms most similar to t_c. Two ablation variants the
paper compares against: ``template`` (T_c = t_c) and ``descriptions`` (the normalised mean of the class's own
description embeddings, no vocabulary). ``grounded`` is LaFG with the top-K drawn only from the class's *own*
atoms (those holding at least one of its own sentences), so a prototype cites nothing the class never said;
see :func:`grounded_prototypes` for the fallback when a class has fewer than K own atoms.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from lafg.errors import InputError
from lafg.language.encode import l2_normalise
from lafg.language.vocabulary import Vocabulary

VARIANTS = ("lafg", "template", "descriptions", "grounded")


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


def grounded_top_k(sims: np.ndarray, own: list[list[int]], k: int, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """Per row c: K atom indices, the class's own atoms first (by similarity, desc), then, only when it has
    fewer than K own atoms, the most similar other atoms; and their softmax(sim / tau) weights.

    Filling up to K (rather than using fewer atoms) keeps every class's mixture the same size, so ``grounded``
    differs from ``lafg`` in *which* atoms are eligible and in nothing else; the filled-in atoms stay visible as
    borrowed (:meth:`Prototypes.own_and_borrowed`). A class with no own atom (an unseen class, known by its name
    only) therefore gets exactly its ``lafg`` atoms.
    """
    k = min(k, sims.shape[1])
    idx = np.empty((sims.shape[0], k), dtype=np.int64)
    for c, row in enumerate(sims):
        order = np.argsort(-row, kind="stable")
        mine = set(own[c])
        ranked = [a for a in order if a in mine] + [a for a in order if a not in mine]
        idx[c] = ranked[:k]
    top = np.take_along_axis(sims, idx, axis=1) / tau
    top = top - top.max(axis=1, keepdims=True)
    w = np.exp(top)
    return idx, (w / w.sum(axis=1, keepdims=True)).astype(np.float32)


def grounded_prototypes(names: list[str], template_emb: np.ndarray, vocab: Vocabulary, cfg: PrototypeConfig) -> Prototypes:
    """T_c = normalise(t_c + Σ_k softmax(t_c·a_k/τ) a_k) over the top-K of the class's *own* atoms (filled up with
    its nearest other atoms when it has fewer than K, see :func:`grounded_top_k`)."""
    own = [vocab.own_atoms(vocab.class_names.index(n)) if n in vocab.class_names else [] for n in names]
    idx, w = grounded_top_k(template_emb @ vocab.centroids.T, own, cfg.top_k, cfg.tau)
    mixed = template_emb + np.einsum("ck,ckd->cd", w, vocab.centroids[idx])
    return Prototypes(list(names), l2_normalise(mixed), template_emb, idx, w, "grounded", cfg, vocab)


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
    """Dispatch on ``variant`` (``lafg``, ``template``, ``descriptions`` or ``grounded``)."""
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
    if variant == "grounded":
        return grounded_prototypes(names, template_emb, vocab, cfg)
    raise InputError(f"unknown prototype variant {variant!r}; choose one of: {', '.join(VARIANTS)}")


# ------------------------------------------------------------------------------------------- evidence
@dataclass
class EvidenceAtom:
    """One atom in a two-class comparison, with the sentences that put it there."""

    atom: int
    label: str
    score_a: float  # cosine of class A's prototype to the atom
    score_b: float  # cosine of class B's prototype to the atom
    sentences: dict[str, list[str]]  # class name → its own sentences inside this atom (only classes that have any)


@dataclass
class EvidenceComparison:
    """What separates two classes on evidence: atoms only one of them describes, and atoms both describe."""

    a: str
    b: str
    only_a: list[EvidenceAtom]  # A's own sentences fall in them, none of B's; A leans to them most first
    only_b: list[EvidenceAtom]  # the mirror image
    shared: list[EvidenceAtom]  # both classes' sentences fall in them; closest to both first
    without_sentences: list[str]  # of A and B, the classes with no own sentence in the vocabulary


def class_sentences_by_atom(vocab: Vocabulary, name: str) -> dict[int, list[str]]:
    """Atom → the class's own sentences in it (empty when the class has no sentence in the vocabulary)."""
    if name not in vocab.class_names:
        return {}
    c = vocab.class_names.index(name)
    out: dict[int, list[str]] = {}
    for i in np.flatnonzero(vocab.sentence_class == c):
        out.setdefault(int(vocab.sentence_atom[i]), []).append(vocab.sentences[int(i)])
    return out


def compare_on_evidence(protos: Prototypes, a: str, b: str) -> EvidenceComparison:
    """Separate classes ``a`` and ``b`` by their *own* sentences' atoms, never by atoms neither describes.

    An atom separates in favour of A when at least one of A's sentences falls in it and none of B's (and the
    mirror image for B); it is shared when both classes' sentences fall in it. Each atom carries the quoting
    sentences and both prototypes' cosines to it, which rank the lists (A's atoms by score_a − score_b, desc;
    shared ones by min(score_a, score_b), desc). A class without sentences of its own (e.g. known by name only)
    contributes no atom and is listed in ``without_sentences``.
    """
    vocab = protos.vocabulary
    if vocab is None:
        raise InputError(f"the {protos.variant!r} prototypes have no vocabulary to compare on")
    va, vb = protos.vectors[protos.index(a)], protos.vectors[protos.index(b)]
    sa, sb = vocab.centroids @ va, vocab.centroids @ vb
    by_a, by_b = class_sentences_by_atom(vocab, a), class_sentences_by_atom(vocab, b)

    def row(k: int) -> EvidenceAtom:
        said = {n: s for n, s in ((a, by_a.get(k, [])), (b, by_b.get(k, []))) if s}
        return EvidenceAtom(k, vocab.atoms[k].label, float(sa[k]), float(sb[k]), said)

    only_a = sorted((row(k) for k in by_a if k not in by_b), key=lambda r: (-(r.score_a - r.score_b), r.atom))
    only_b = sorted((row(k) for k in by_b if k not in by_a), key=lambda r: (-(r.score_b - r.score_a), r.atom))
    shared = sorted((row(k) for k in by_a if k in by_b), key=lambda r: (-min(r.score_a, r.score_b), r.atom))
    missing = [n for n, by in ((a, by_a), (b, by_b)) if not by]
    return EvidenceComparison(a, b, only_a, only_b, shared, missing)
