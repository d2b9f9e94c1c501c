"""The attribute space that explanations and text search read: only what was trained, or a fitted read-out.

A checkpoint records which parts its loss trained (:func:`lafg.train.trained_parts`). Then:

- projectors trained (``meankl`` / ``symkl``: P_v and P_t): images map through P_v, text through P_t; their N
  outputs are indexed by the vocabulary atoms (P_t starts as the atom centroids).
- only P_v trained (``attribute``): images through P_v, which learnt to predict softmax(T·a / τ_t); text is read
  against the atoms the same way, T·a / τ_t (the fixed target P_v was trained towards).
- no projector trained (``relational``, ``aux``, ``onehot``, and the pretrained backbone): a ridge read-out
  (scikit-learn) is fitted from the trained (or frozen) embeddings of the *seen* classes' images to their
  classes' language prototypes; images map into the text space through it, text stays as it is, and both are
  read against the atom centroids. The P_v / P_t of such a checkpoint are their random initialisation and are
  never read.

Every space says which it is (:attr:`AttributeSpace.kind`, :attr:`AttributeSpace.description`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from lafg.encode import l2_normalise
from lafg.errors import InputError

PROJECTOR, READOUT, NONE = "projector", "readout", "none"


@dataclass
class Readout:
    """``readout(z) = normalise(z) · W + b``: unit retrieval embeddings (n, e) → text space (n, d_t)."""

    weight: np.ndarray  # (e, d_t) float32
    bias: np.ndarray  # (d_t,) float32
    n_classes: int  # seen classes it was fitted on
    n_images: int  # images it was fitted on
    alpha: float  # ridge penalty

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return (l2_normalise(np.asarray(z, dtype=np.float32)) @ self.weight + self.bias).astype(np.float32)

    def to_state(self) -> dict:
        """Plain types and tensors (a checkpoint entry loadable with ``weights_only=True``)."""
        return {
            "weight": torch.from_numpy(self.weight.copy()),
            "bias": torch.from_numpy(self.bias.copy()),
            "n_classes": self.n_classes,
            "n_images": self.n_images,
            "alpha": self.alpha,
        }

    def to_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(weight, bias, [n_classes, n_images, alpha])``: plain arrays a store saves (``allow_pickle=False``)."""
        info = np.array([self.n_classes, self.n_images, self.alpha], dtype=np.float64)
        return self.weight, self.bias, info

    @classmethod
    def from_arrays(cls, weight: np.ndarray, bias: np.ndarray, info: np.ndarray) -> Readout:
        return cls(np.asarray(weight, np.float32), np.asarray(bias, np.float32), int(info[0]), int(info[1]),
                   float(info[2]))

    @classmethod
    def from_state(cls, state: dict) -> Readout:
        return cls(
            state["weight"].numpy(), state["bias"].numpy(), int(state["n_classes"]), int(state["n_images"]),
            float(state["alpha"]),
        )


def fit_readout(emb: np.ndarray, labels: np.ndarray, class_vectors: np.ndarray, alpha: float = 1.0) -> Readout:
    """Ridge regression from unit ``emb`` (n, e) to ``class_vectors[labels]`` (n, d_t); deterministic."""
    from sklearn.linear_model import Ridge

    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        raise InputError("a read-out needs images of at least two seen classes")
    x = l2_normalise(np.asarray(emb, dtype=np.float32)).astype(np.float64)
    y = np.asarray(class_vectors, dtype=np.float64)[labels]
    ridge = Ridge(alpha=alpha, fit_intercept=True, solver="cholesky").fit(x, y)
    return Readout(
        ridge.coef_.T.astype(np.float32), np.asarray(ridge.intercept_, dtype=np.float32),
        int(len(np.unique(labels))), int(len(labels)), float(alpha),
    )


@dataclass
class AttributeSpace:
    """Maps into a space whose rows are read against ``atoms`` (explanations: :mod:`lafg.explain`)."""

    kind: str  # "projector" (trained), "readout" (fitted) or "none"
    description: str  # for people: what the explanations read
    atoms: np.ndarray  # (N, L): the atoms in this space
    atom_labels: list[str]
    image: Callable[[np.ndarray], np.ndarray] | None  # retrieval embeddings (n, e) → (n, L)
    text: Callable[[np.ndarray], np.ndarray] | None  # text embeddings (n, d_t) → (n, L)
    tau: float = 0.05  # softmax temperature of the atom activations in explanations

    @property
    def available(self) -> bool:
        return self.kind != NONE


def no_space(reason: str) -> AttributeSpace:
    return AttributeSpace(NONE, reason, np.zeros((0, 1), np.float32), [], None, None)


def projector_space(model, parts: dict, reading: str, centroids: np.ndarray, atom_labels: list[str],
                    tau_proto: float) -> AttributeSpace:
    """Through the trained projector(s) of ``model`` (``parts`` from :func:`lafg.train.trained_parts`)."""
    if not parts.get("proj_v"):
        raise InputError("this model's image projector was never trained: use a read-out")
    n = model.cfg.n_outputs
    dev = next(model.parameters()).device

    def image(z):
        with torch.no_grad():
            return model.project_image(torch.as_tensor(np.asarray(z, dtype=np.float32), device=dev)).cpu().numpy()

    if parts.get("proj_t"):
        def text(t):
            with torch.no_grad():
                return model.project_text(torch.as_tensor(np.asarray(t, dtype=np.float32), device=dev)).cpu().numpy()

        what = f"trained projectors P_v and P_t ({reading} reading)"
    else:
        cents = l2_normalise(centroids)

        def text(t):
            return l2_normalise(np.asarray(t, dtype=np.float32)) @ cents.T / tau_proto

        what = f"trained image projector P_v ({reading} reading); text read against the atoms"
    return AttributeSpace(PROJECTOR, what, np.eye(n, dtype=np.float32), list(atom_labels), image, text, tau=0.2)


def readout_space(readout: Readout, centroids: np.ndarray, atom_labels: list[str], what: str) -> AttributeSpace:
    """Through a fitted read-out into the text space; text as it is; both read against the atom centroids."""
    description = f"read-out fitted on the {what} of {readout.n_classes} seen classes ({readout.n_images} images)"
    return AttributeSpace(READOUT, description, np.asarray(centroids, np.float32), list(atom_labels), readout,
                          lambda t: np.asarray(t, dtype=np.float32))
