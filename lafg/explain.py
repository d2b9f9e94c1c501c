"""Why did a result come back? Per-atom contributions of a query/result pair.

Both sides are first mapped into an attribute space that was trained or fitted (:mod:`lafg.readout`: the trained
projectors, or a read-out fitted on the seen classes' embeddings) and read against the vocabulary atoms:

    a = softmax(A · u / τ),  b = softmax(A · v / τ)          (A: atoms (N, d); u, v: projected query/result)

- *shared* attributes are the atoms both images activate; atom i contributes
  ``s · a_i b_i / Σ_j a_j b_j`` to the pair's language-space cosine similarity ``s = u · v`` (the contributions of
  all atoms add up to ``s``);
- *differing* attributes are the atoms with the largest ``a_i − b_i`` in absolute value (positive: the query
  shows it more; negative: the result does).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lafg.encode import l2_normalise as _unit
from lafg.errors import InputError


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
    method: str = "projector"  # lafg.readout kind: "projector" (trained) or "readout" (fitted)

    def to_dict(self) -> dict:
        return {
            "similarity": self.similarity,
            "method": self.method,
            "shared": [c.__dict__ for c in self.shared],
            "differing": [c.__dict__ for c in self.differing],
        }


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
