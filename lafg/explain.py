"""Why did a result come back? Per-atom contributions of a query/result pair.

Both image embeddings are mapped into the language space (through the trained projector of a checkpoint, or a
fallback for the pretrained backbone, see :func:`fallback_projector`) and read against the vocabulary atoms:

    a = softmax(A · u / τ),  b = softmax(A · v / τ)          (A: atoms (N, d); u, v: projected query/result)

- *shared* attributes are the atoms both images activate; atom i contributes
  ``s · a_i b_i / Σ_j a_j b_j`` to the pair's language-space cosine similarity ``s = u · v`` (the contributions of
  all atoms add up to ``s``);
- *differing* attributes are the atoms with the largest ``a_i − b_i`` in absolute value (positive: the query
  shows it more; negative: the result does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from lafg.errors import InputError

Projector = Callable[[np.ndarray], np.ndarray]  # (n, d_img) -> (n, d_text), any scale


@dataclass(frozen=True)
class AtomContribution:
    atom: int
    label: str
    query: float  # activation of the atom for the query (softmax weight)
    result: float  # activation for the result
    contribution: float  # shared: share of the similarity; differing: query − result


@dataclass
class Explanation:
    similarity: float  # cosine of the projected pair (language space)
    shared: list[AtomContribution] = field(default_factory=list)
    differing: list[AtomContribution] = field(default_factory=list)
    method: str = "projector"  # "projector" (trained), "identity" (shared space) or "ridge" (fallback)

    def to_dict(self) -> dict:
        return {
            "similarity": self.similarity,
            "method": self.method,
            "shared": [c.__dict__ for c in self.shared],
            "differing": [c.__dict__ for c in self.differing],
        }


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def atom_activations(z: np.ndarray, atoms: np.ndarray, tau: float = 0.05) -> np.ndarray:
    """softmax over atoms of cos(z, atom) / tau, per row of ``z`` (n, d) → (n, N)."""
    logits = (_unit(z) @ _unit(atoms).T) / tau
    logits -= logits.max(axis=-1, keepdims=True)
    w = np.exp(logits)
    return (w / w.sum(axis=-1, keepdims=True)).astype(np.float32)


def explain_projected(u: np.ndarray, v: np.ndarray, atoms: np.ndarray, labels: list[str], top: int = 5, tau: float = 0.05, method: str = "projector") -> Explanation:
    """Explanation of one pair already in the language space (``u``, ``v``: (d,) vectors)."""
    if atoms.ndim != 2 or atoms.shape[0] != len(labels):
        raise InputError("one label per vocabulary atom is needed")
    if u.shape[-1] != atoms.shape[1] or v.shape[-1] != atoms.shape[1]:
        raise InputError(f"embedding size {u.shape[-1]} does not match the vocabulary's {atoms.shape[1]}")
    a, b = atom_activations(np.stack([u, v]), atoms, tau)
    sim = float(_unit(u) @ _unit(v))
    joint = a * b
    shares = sim * joint / max(float(joint.sum()), 1e-12)
    diff = a - b

    def item(i: int, value: float) -> AtomContribution:
        return AtomContribution(int(i), labels[i], float(a[i]), float(b[i]), float(value))

    shared = [item(i, shares[i]) for i in np.argsort(-joint, kind="stable")[:top]]
    differing = [item(i, diff[i]) for i in np.argsort(-np.abs(diff), kind="stable")[:top]]
    return Explanation(sim, shared, differing, method)


def explain_pair(query_emb: np.ndarray, result_emb: np.ndarray, projector: Projector, atoms: np.ndarray, labels: list[str], top: int = 5, tau: float = 0.05, method: str = "projector") -> Explanation:
    """Project a query and a result image embedding and explain their match against the atoms."""
    z = projector(np.stack([np.asarray(query_emb), np.asarray(result_emb)]).astype(np.float32))
    return explain_projected(z[0], z[1], atoms, labels, top, tau, method)


def explain_results(query_emb: np.ndarray, result_embs: np.ndarray, projector: Projector, atoms: np.ndarray, labels: list[str], top: int = 5, tau: float = 0.05, method: str = "projector") -> list[Explanation]:
    """:func:`explain_pair` for one query against each row of ``result_embs`` (one projector call)."""
    z = projector(np.vstack([np.asarray(query_emb)[None], np.asarray(result_embs)]).astype(np.float32))
    return [explain_projected(z[0], z[i], atoms, labels, top, tau, method) for i in range(1, len(z))]


def identity_projector(x: np.ndarray) -> np.ndarray:
    """For backbones whose image space already is the text space (CLIP-like)."""
    return x


def linear_projector(weight: np.ndarray, bias: np.ndarray | None = None) -> Projector:
    """``x @ weight.T + bias`` (torch ``nn.Linear`` layout: weight (d_out, d_in))."""
    w = np.asarray(weight, dtype=np.float32)
    b = None if bias is None else np.asarray(bias, dtype=np.float32)

    def project(x: np.ndarray) -> np.ndarray:
        y = x @ w.T
        return y if b is None else y + b

    return project


def fallback_projector(image_emb: np.ndarray, labels: np.ndarray, class_vectors: np.ndarray, ridge: float = 1.0) -> tuple[Projector, str]:
    """Projector for the pretrained backbone (no trained projector exists).

    If the image space already has the text dimension it is used as is (``identity``); otherwise a ridge
    regression from the gallery's image embeddings to their classes' language prototypes is fitted (``ridge``):
    a linear probe, so the explanation shows what the *frozen* features encode about the attributes.
    ``labels`` index rows of ``class_vectors``; rows with label < 0 are ignored.
    """
    x = np.asarray(image_emb, dtype=np.float32)
    if x.shape[1] == class_vectors.shape[1]:
        return identity_projector, "identity"
    keep = np.asarray(labels) >= 0
    if keep.sum() < 2:
        raise InputError("the gallery needs labelled images to explain results of the pretrained backbone")
    x, y = x[keep], np.asarray(class_vectors, dtype=np.float32)[np.asarray(labels)[keep]]
    mean = x.mean(axis=0)
    xc = x - mean
    # Dual form when there are fewer images than dimensions: W = Xᵀ (X Xᵀ + λI)⁻¹ Y.
    if xc.shape[0] < xc.shape[1]:
        w = xc.T @ np.linalg.solve(xc @ xc.T + ridge * np.eye(xc.shape[0], dtype=np.float32), y)
    else:
        w = np.linalg.solve(xc.T @ xc + ridge * np.eye(xc.shape[1], dtype=np.float32), xc.T @ y)
    w = w.astype(np.float32)

    def project(z: np.ndarray) -> np.ndarray:
        return (z - mean) @ w

    return project, "ridge"


@dataclass
class ClassComparison:
    separating: list[tuple[int, str, float, float]]  # (atom, label, sim to A, sim to B), largest |A − B| first
    shared: list[tuple[int, str, float, float]]  # atoms close to both, largest min(A, B) first


def compare_prototypes(vec_a: np.ndarray, vec_b: np.ndarray, atoms: np.ndarray, labels: list[str], top: int = 6) -> ClassComparison:
    """Which atoms separate two class prototypes (cosine to the atom differs most) and which they share."""
    sa, sb = _unit(atoms) @ _unit(vec_a), _unit(atoms) @ _unit(vec_b)

    def rows(order) -> list[tuple[int, str, float, float]]:
        return [(int(i), labels[i], float(sa[i]), float(sb[i])) for i in order[:top]]

    return ClassComparison(rows(np.argsort(-np.abs(sa - sb), kind="stable")), rows(np.argsort(-np.minimum(sa, sb), kind="stable")))
