"""Why did a result come back? The attributes a query/result pair shares and where they differ.

A calibrated space (the default: a read-out onto the seen classes' own descriptions, :mod:`lafg.retrieval.attribute_space`) gives
each atom a probability that the image's class description mentions it (:func:`explain_grounded`):

- *shared* attributes are the atoms both images show with probability ≥ ``threshold``, most probable first,
  each with both probabilities and the result class's own sentence(s) that say it (when the gallery has its
  descriptions); when none clears the threshold the explanation says so instead of listing noise;
- *differing* attributes are atoms likely for one image (≥ ``threshold``) and not for the other, by at least
  ``margin``, signed query − result;
- the pair's *agreement* counts, among the atoms likely for either image, those likely for both.

Uncalibrated spaces (trained projectors, read-outs of older checkpoints) are read as before
(:func:`explain_projected`):

Both sides are first mapped into an attribute space that was trained or fitted (:mod:`lafg.retrieval.attribute_space`: the trained
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

from lafg.errors import InputError
from lafg.language.encode import l2_normalise as _unit


@dataclass(frozen=True)
class AtomContribution:
    atom: int
    label: str
    query: float  # the atom for the query: calibrated probability (or softmax weight, uncalibrated)
    result: float  # the same for the result
    contribution: float  # shared: min of both probabilities (uncalibrated: share of the similarity); differing: query − result
    support: tuple[str, ...] = ()  # the result class's own sentences in this atom (empty: none, or not known)


@dataclass
class Explanation:
    similarity: float  # cosine of the projected pair (language space)
    shared: list[AtomContribution] = field(default_factory=list)
    differing: list[AtomContribution] = field(default_factory=list)
    method: str = "projector"  # lafg.retrieval.attribute_space kind: "projector" (trained) or "readout" (fitted)
    calibrated: bool = False  # query / result are calibrated probabilities
    threshold: float = 0.5  # calibrated: the probability an attribute needs to be cited
    agreement: tuple[int, int] = (0, 0)  # calibrated: (atoms likely for both, atoms likely for either)
    note: str = ""  # calibrated: why nothing is cited, when nothing is
    described: bool = False  # the result class's own sentences were available to quote (support)
    query_kind: str = "image"  # "text": ``query`` holds the cosine of the query text with each atom, not a chance

    def to_dict(self) -> dict:
        return {
            "similarity": self.similarity,
            "method": self.method,
            "calibrated": self.calibrated,
            "threshold": self.threshold,
            "agreement": list(self.agreement),
            "note": self.note,
            "described": self.described,
            "query_kind": self.query_kind,
            "shared": [{**c.__dict__, "support": list(c.support)} for c in self.shared],
            "differing": [{**c.__dict__, "support": list(c.support)} for c in self.differing],
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

    # Rows that would print as "+0.000" say nothing: only atoms carrying a visible share are listed.
    shared = [item(i, shares[i]) for i in np.argsort(-joint, kind="stable")[:top] if abs(shares[i]) >= 5e-4]
    differing = [item(i, diff[i]) for i in np.argsort(-np.abs(diff), kind="stable")[:top] if abs(diff[i]) >= 5e-4]
    return Explanation(sim, shared, differing, method)


def explain_grounded(
    p_query: np.ndarray,
    p_result: np.ndarray,
    labels: list[str],
    support: dict[int, list[str]] | None = None,
    top: int = 5,
    threshold: float = 0.5,
    margin: float = 0.05,
    similarity: float = float("nan"),
) -> Explanation:
    """Explanation from calibrated atom probabilities (``p_query``, ``p_result``: (N,), see
    :meth:`lafg.retrieval.attribute_space.AttributeSpace.atom_probabilities`); ``support``: atom → the result class's own
    sentences in it (:func:`class_support`)."""
    p, q = np.asarray(p_query, np.float64), np.asarray(p_result, np.float64)
    if p.shape != q.shape or p.shape != (len(labels),):
        raise InputError("one probability per atom and per image is needed")
    described = support is not None
    support = support or {}

    def item(i: int, value: float) -> AtomContribution:
        return AtomContribution(int(i), labels[i], float(p[i]), float(q[i]), float(value),
                                tuple(support.get(int(i), ())[:2]))

    both = np.minimum(p, q)
    shared_ids = [i for i in np.argsort(-both, kind="stable") if both[i] >= threshold][:top]
    diff = p - q
    differing_ids = [i for i in np.argsort(-np.abs(diff), kind="stable")
                     if max(p[i], q[i]) >= threshold > min(p[i], q[i]) and abs(diff[i]) >= margin][:top]
    either = int((np.maximum(p, q) >= threshold).sum())
    note = ""
    if not shared_ids:
        note = (f"no attribute is likely (≥ {threshold:.0%}) for both images: the read-out cannot say what they share"
                if either else f"no attribute is likely (≥ {threshold:.0%}) for either image")
    return Explanation(float(similarity), [item(i, both[i]) for i in shared_ids],
                       [item(i, diff[i]) for i in differing_ids], "readout", True, threshold,
                       (int((both >= threshold).sum()), either), note, described)


def explain_text_query(
    text_vector: np.ndarray,
    p_result: np.ndarray,
    atoms: np.ndarray,
    labels: list[str],
    support: dict[int, list[str]] | None = None,
    top: int = 3,
    threshold: float = 0.5,
    similarity: float = float("nan"),
) -> Explanation:
    """A text query against one result: the ``top`` atoms nearest the query text (cosine), each with the result's
    calibrated chance; *shared* = those the result likely shows (≥ ``threshold``), *differing* = the rest (the
    result is unlikely to show what was asked). A text has no calibrated chance of its own."""
    q = np.asarray(p_result, np.float64)
    if q.shape != (len(labels),) or len(atoms) != len(labels):
        raise InputError("one probability and one atom per label is needed")
    cos = _unit(np.asarray(atoms, np.float32)) @ _unit(np.asarray(text_vector, np.float32)[None])[0]
    nearest = np.argsort(-cos, kind="stable")[:top]
    described = support is not None
    support = support or {}

    def item(i: int) -> AtomContribution:
        return AtomContribution(int(i), labels[i], float(cos[i]), float(q[i]), float(q[i]),
                                tuple(support.get(int(i), ())[:2]))

    shared = [item(i) for i in nearest if q[i] >= threshold]
    differing = [item(i) for i in nearest if q[i] < threshold]
    note = "" if shared else (f"the result is unlikely (< {threshold:.0%}) to show any of the attributes nearest "
                              "your words")
    return Explanation(float(similarity), shared, differing, "readout", True, threshold,
                       (len(shared), len(nearest)), note, described, "text")


def class_support(sentences: list[str], embeddings: np.ndarray, atoms: np.ndarray) -> dict[int, list[str]]:
    """Atom → the sentences (of one class) whose nearest atom it is, nearest first."""
    if not sentences:
        return {}
    sims = _unit(np.asarray(embeddings, np.float32)) @ _unit(np.asarray(atoms, np.float32)).T
    nearest = sims.argmax(axis=1)
    out: dict[int, list[str]] = {}
    for j in np.argsort(-sims.max(axis=1), kind="stable"):
        out.setdefault(int(nearest[j]), []).append(sentences[j])
    return out


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
