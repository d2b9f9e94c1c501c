"""Attribute vocabulary: k-means over the description embeddings of all classes.

Each atom is a centroid (unit vector) with its member sentences, the classes that contributed them, and a
readable label (the member nearest the centroid). Atoms are shared across classes, so a class can *borrow*
attributes that only related classes mentioned.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from lafg.errors import InputError
from lafg.language.encode import l2_normalise


@dataclass(frozen=True)
class VocabularyConfig:
    n_atoms: int = 128  # N: number of attribute atoms (clamped to the number of distinct sentences)
    seed: int = 0  # k-means seed; the same seed and inputs give the same vocabulary
    n_init: int = 4  # k-means restarts (scikit-learn); the best inertia wins
    max_iter: int = 100  # k-means iterations per restart
    backend: str = "faiss"  # "faiss" (spherical, ~5x faster here) or "sklearn"
    # Set aside sentences a photo cannot show (lafg.language.visual) before clustering. On: explanations cite the atoms, so
    # they should be visual; the head ladder measured on/off as a tie (benchmarks/results/visual_filter.md).
    visual_only: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


def suggested_atoms(n_distinct: int, limit: int = VocabularyConfig.n_atoms, per_atom: int = 4) -> int:
    """N for a vocabulary of ``n_distinct`` distinct sentences: about ``per_atom`` sentences per atom (so that
    atoms are shared and classes can borrow), at most ``limit`` (the default, validated on sets of thousands of
    sentences) and at least 2."""
    return max(2, min(limit, round(n_distinct / per_atom)))


@dataclass
class Atom:
    index: int
    label: str  # the member sentence nearest the centroid
    members: list[int]  # sentence indices, nearest to the centroid first
    classes: list[int]  # class indices that contributed at least one member, by member count (desc)


@dataclass
class Vocabulary:
    """Centroids (N, d), the sentences they were built from, and each sentence's class and atom."""

    centroids: np.ndarray  # (N, d) float32, unit rows
    embeddings: np.ndarray  # (M, d) float32 unit rows, one per sentence
    sentences: list[str]
    sentence_class: np.ndarray  # (M,) int64 index into class_names
    sentence_atom: np.ndarray  # (M,) int64 index into atoms
    class_names: list[str]
    atoms: list[Atom] = field(default_factory=list)
    config: VocabularyConfig = field(default_factory=VocabularyConfig)

    @property
    def n_atoms(self) -> int:
        return int(self.centroids.shape[0])

    def own_atoms(self, class_index: int) -> list[int]:
        """Atoms that hold at least one of this class's own sentences (by how many, desc)."""
        atoms = self.sentence_atom[self.sentence_class == class_index]
        counts = np.bincount(atoms, minlength=self.n_atoms)
        order = np.argsort(-counts, kind="stable")
        return [int(a) for a in order if counts[a] > 0]

    def own_and_borrowed(self, class_index: int, selected: list[int]) -> tuple[list[int], list[int]]:
        """Split ``selected`` atoms into those the class mentioned itself and those it borrowed."""
        own = set(self.own_atoms(class_index))
        return [a for a in selected if a in own], [a for a in selected if a not in own]


def flatten_descriptions(descriptions: dict[str, list[str]], class_names: list[str]) -> tuple[list[str], np.ndarray]:
    """Sentences of ``class_names`` in order, and the class index of each (classes without any are allowed)."""
    sentences: list[str] = []
    owners: list[int] = []
    for ci, name in enumerate(class_names):
        for sentence in descriptions.get(name, []):
            if sentence and sentence.strip():
                sentences.append(sentence.strip())
                owners.append(ci)
    return sentences, np.asarray(owners, dtype=np.int64)


def kmeans(x: np.ndarray, k: int, cfg: VocabularyConfig) -> np.ndarray:
    """Seeded k-means; returns (k, d) centroids. Deterministic for a given seed and input."""
    if cfg.backend == "faiss":
        import faiss

        km = faiss.Kmeans(x.shape[1], k, niter=cfg.max_iter, nredo=cfg.n_init, seed=cfg.seed, spherical=True, verbose=False,
                         min_points_per_centroid=1)  # small vocabularies are the norm here: no warning
        km.train(np.ascontiguousarray(x, dtype=np.float32))
        return km.centroids
    if cfg.backend != "sklearn":
        raise InputError(f"unknown k-means backend {cfg.backend!r} (sklearn or faiss)")
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=k, n_init=cfg.n_init, max_iter=cfg.max_iter, random_state=cfg.seed)
    km.fit(x.astype(np.float64))
    return km.cluster_centers_


def build_vocabulary(
    sentences: list[str],
    embeddings: np.ndarray,
    sentence_class: np.ndarray,
    class_names: list[str],
    cfg: VocabularyConfig | None = None,
) -> Vocabulary:
    """Cluster sentence embeddings (unit rows) into ``cfg.n_atoms`` atoms and describe each atom."""
    cfg = cfg or VocabularyConfig()
    if len(sentences) == 0:
        raise InputError("no descriptions to build a vocabulary from")
    if embeddings.shape[0] != len(sentences) or sentence_class.shape[0] != len(sentences):
        raise InputError("sentences, embeddings and sentence classes differ in length")
    n_distinct = len({s.casefold() for s in sentences})
    k = max(1, min(cfg.n_atoms, n_distinct))
    centroids = l2_normalise(kmeans(embeddings, k, cfg))
    assign = np.argmax(embeddings @ centroids.T, axis=1).astype(np.int64)
    atoms = [describe_atom(i, embeddings, centroids[i], assign, sentences, sentence_class) for i in range(k)]
    return Vocabulary(centroids, embeddings.astype(np.float32), list(sentences), sentence_class.astype(np.int64), assign, list(class_names), atoms, cfg)


def describe_atom(index: int, emb: np.ndarray, centroid: np.ndarray, assign: np.ndarray, sentences: list[str], owners: np.ndarray) -> Atom:
    """Members sorted by similarity to the centroid; label = nearest member; classes by contribution."""
    members = np.flatnonzero(assign == index)
    if members.size == 0:  # an empty cluster after re-assignment: label it by the nearest sentence overall
        nearest = int(np.argmax(emb @ centroid))
        return Atom(index, sentences[nearest], [], [])
    order = members[np.argsort(-(emb[members] @ centroid), kind="stable")]
    classes, counts = np.unique(owners[order], return_counts=True)
    by_count = classes[np.argsort(-counts, kind="stable")]
    return Atom(index, sentences[int(order[0])], [int(m) for m in order], [int(c) for c in by_count])
