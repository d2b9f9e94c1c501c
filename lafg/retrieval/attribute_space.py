"""The attribute space that explanations and text search read, and how far it can be trusted.

Default, for every run and the pretrained backbone: a ridge read-out (scikit-learn) from the *frozen backbone
features* of the seen classes' images onto each seen class's *own description mean* (the normalised mean of its
sentence embeddings, :func:`lafg.pipeline.fit_readout`). Images map into the text encoder's space
through it; text stays as it is; both are read against the vocabulary atoms. Measured against CUB's human
attribute annotations on unseen classes (``benchmarks/results/grounding.md``), this grounds attributes better
than the earlier read-out onto the LaFG prototypes, than a read-out of a run's trained embeddings, and than
trained projectors; the choices were made on genus-wise splits of the seen classes.

At fit time a share of the seen classes is held out (:class:`ReadoutConfig`): a read-out fitted on the rest
scores the held-out images against every atom, which gives

- the read-out's *grounding* (:class:`Grounding`): mAP of those scores against what the held-out classes'
  descriptions say (an atom counts as present for a class that has a sentence in it), beside chance — the
  figure the app shows, measurable on any data set with descriptions (no annotation needed);
- its *calibration* (:class:`Calibration`): atom score → chance that the image's class description mentions
  the atom, which explanations cite (:func:`lafg.retrieval.explain.explain_grounded`).

Trained projectors (``meankl`` / ``symkl``: P_v and P_t; ``attribute``: P_v, text read as T·a / τ_t) remain
readable on request (:func:`projector_space`); read-outs of checkpoints written before (onto the LaFG
prototypes, from the trained embeddings, uncalibrated) still load. Every space says which it is
(:attr:`AttributeSpace.kind`, :attr:`AttributeSpace.description`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from lafg.errors import InputError
from lafg.language.encode import l2_normalise

PROJECTOR, READOUT, NONE = "projector", "readout", "none"


DESCRIPTIONS, PROTOTYPES = "descriptions", "prototypes"  # what a read-out maps onto (PROTOTYPES: before issue 17)
# What a read-out reads: the frozen backbone's pooled features (every run's default: on a genus-wise split of
# cub100's seen classes they ground attributes better than a trained head's embeddings, benchmarks/grounding.py),
# or the run's retrieval embeddings (read-outs of checkpoints written before issue 17).
FEATURES, EMBEDDINGS = "features", "embeddings"


@dataclass(frozen=True)
class ReadoutConfig:
    """How the read-out explanations and text search read is fitted (the one set of defaults app, CLI and
    benchmark share). Chosen on a genus-wise split of cub100's *seen* classes (``benchmarks/grounding.py``)."""

    alpha: float = 10.0  # ridge penalty (1 / 3 / 10 / 30 / 100 compared on the seen split)
    holdout: float = 0.25  # share of the seen classes held out at fit time to measure grounding and calibrate
    min_classes: int = 4  # with fewer seen classes nothing is held out: no grounding figure, no calibration
    seed: int = 0  # which classes are held out


@dataclass
class Calibration:
    """``P(the class's own description mentions atom k) = σ(scale · (s_k − mean_k) / std_k + weight · prior_k +
    bias)`` for an atom score ``s_k`` (cosine of the read-out vector with the atom's centroid); ``prior_k`` is the
    logit of the share of seen classes whose descriptions mention the atom (common attributes start likelier).
    Fitted on held-out seen classes' images against what their descriptions say; never on human annotations."""

    mean: np.ndarray  # (N,) float32
    std: np.ndarray  # (N,) float32
    prior: np.ndarray  # (N,) float32 logit of the atom's share of seen classes
    scale: float
    weight: float
    bias: float
    base_rate: float = 0.0  # share of (held-out image, atom) pairs whose description mentions the atom

    @property
    def cite_threshold(self) -> float:
        """Probability an attribute needs to be cited: twice the average attribute's (at most 50 %)."""
        return float(min(0.5, 2.0 * self.base_rate))

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        z = (np.asarray(scores, np.float64) - self.mean) / self.std
        return (1.0 / (1.0 + np.exp(-(self.scale * z + self.weight * self.prior + self.bias)))).astype(np.float32)


def prior_logits(class_atoms: np.ndarray) -> np.ndarray:
    """(N,) logit of each atom's share of classes (smoothed: +0.5 / +1, so never infinite)."""
    share = (np.asarray(class_atoms, np.float64).sum(axis=0) + 0.5) / (len(class_atoms) + 1.0)
    return np.log(share / (1.0 - share)).astype(np.float32)


@dataclass
class Grounding:
    """How well atom scores ranked the held-out seen classes' images whose description mentions the atom."""

    map: float  # mean average precision over atoms, percent
    chance: float  # the same with random scores (each atom's positive rate), percent
    n_classes: int  # held-out seen classes it was measured on
    n_images: int
    n_atoms: int  # atoms with at least one positive and one negative image

    def words(self) -> str:
        """The figure in words a student can follow."""
        return (f"Measured when it was fitted, on {self.n_classes} seen classes it had not been fitted on "
                f"({self.n_images} images): when it ranks those images for an attribute, the ones whose class "
                f"description mentions it come first with average precision {self.map:.0f} %, against "
                f"{self.chance:.0f} % for a random ranking ({self.map / max(self.chance, 1e-9):.1f}× chance). "
                "A higher figure means its attribute scores follow the descriptions more closely; it says nothing "
                "about attributes the descriptions never mention, and the descriptions themselves can be wrong.")


@dataclass
class Readout:
    """``readout(z) = normalise(z) · W + b``: unit retrieval embeddings (n, e) → text space (n, d_t)."""

    weight: np.ndarray  # (e, d_t) float32
    bias: np.ndarray  # (d_t,) float32
    n_classes: int  # seen classes it was fitted on
    n_images: int  # images it was fitted on
    alpha: float  # ridge penalty
    target: str = PROTOTYPES  # DESCRIPTIONS: each class's own description mean; PROTOTYPES: its LaFG prototype
    calibration: Calibration | None = None  # atom scores → probabilities (None: too few classes to fit one)
    grounding: Grounding | None = None  # measured at fit time on held-out seen classes
    input: str = EMBEDDINGS  # FEATURES: the frozen backbone's features; EMBEDDINGS: the run's retrieval embeddings

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return (l2_normalise(np.asarray(z, dtype=np.float32)) @ self.weight + self.bias).astype(np.float32)

    def to_state(self) -> dict:
        """Plain types and tensors (a checkpoint entry loadable with ``weights_only=True``)."""
        return {name: torch.from_numpy(np.ascontiguousarray(a)) for name, a in zip(ARRAYS, self.to_arrays(), strict=True)}

    def to_arrays(self) -> tuple[np.ndarray, ...]:
        """Plain arrays, in the order of :data:`ARRAYS`, that a store saves (``allow_pickle=False``)."""
        info = np.array([self.n_classes, self.n_images, self.alpha, TARGETS.index(self.target),
                         INPUTS.index(self.input)], dtype=np.float64)
        cal = self.calibration
        cal_rows = np.stack([cal.mean, cal.std, cal.prior]).astype(np.float32) if cal else np.zeros((3, 0), np.float32)
        cal_info = np.array([cal.scale, cal.weight, cal.bias, cal.base_rate] if cal else [],
                            dtype=np.float64)
        g = self.grounding
        ground = np.array([g.map, g.chance, g.n_classes, g.n_images, g.n_atoms] if g else [], dtype=np.float64)
        return self.weight, self.bias, info, cal_rows, cal_info, ground

    @classmethod
    def from_arrays(cls, weight: np.ndarray, bias: np.ndarray, info: np.ndarray, cal_rows: np.ndarray | None = None,
                    cal_info: np.ndarray | None = None, ground: np.ndarray | None = None) -> Readout:
        info = np.asarray(info, dtype=np.float64)
        target = TARGETS[int(info[3])] if len(info) > 3 else PROTOTYPES  # older read-outs mapped onto prototypes
        cal = None
        if cal_info is not None and len(cal_info) == 4:
            rows = np.asarray(cal_rows, np.float32)
            cal = Calibration(rows[0], rows[1], rows[2], *(float(v) for v in cal_info))
        g = None
        if ground is not None and len(ground) == 5:
            g = Grounding(float(ground[0]), float(ground[1]), int(ground[2]), int(ground[3]), int(ground[4]))
        reads = INPUTS[int(info[4])] if len(info) > 4 else EMBEDDINGS
        return cls(np.asarray(weight, np.float32), np.asarray(bias, np.float32), int(info[0]), int(info[1]),
                   float(info[2]), target, cal, g, reads)

    @classmethod
    def from_state(cls, state: dict) -> Readout:
        if "info" not in state:  # a checkpoint written before issue 17: plain fields, prototypes as targets
            return cls(state["weight"].numpy(), state["bias"].numpy(), int(state["n_classes"]),
                       int(state["n_images"]), float(state["alpha"]))
        return cls.from_arrays(*(state[name].numpy() for name in ARRAYS))


TARGETS = (PROTOTYPES, DESCRIPTIONS)
INPUTS = (EMBEDDINGS, FEATURES)
ARRAYS = ("weight", "bias", "info", "cal_rows", "cal_info", "grounding")  # Readout.to_arrays order


def fit_readout(emb: np.ndarray, labels: np.ndarray, class_vectors: np.ndarray, alpha: float = 1.0,
                target: str = PROTOTYPES) -> Readout:
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
        int(len(np.unique(labels))), int(len(labels)), float(alpha), target,
    )


def atom_scores(readout: Readout, emb: np.ndarray, atoms: np.ndarray) -> np.ndarray:
    """(n, N) cosine of each image's read-out vector with each atom centroid."""
    return l2_normalise(readout(emb)) @ l2_normalise(np.asarray(atoms, np.float32)).T


def held_out_classes(n_classes: int, cfg: ReadoutConfig) -> np.ndarray:
    """Seen-class indices held out at fit time (seeded); empty below ``cfg.min_classes`` classes."""
    if n_classes < cfg.min_classes:
        return np.zeros(0, dtype=np.int64)
    # two at least: with one class every held-out image has the same atoms and nothing can be ranked
    n_out = min(n_classes - 2, max(2, int(round(cfg.holdout * n_classes))))
    return np.sort(np.random.default_rng(cfg.seed).permutation(n_classes)[:n_out]).astype(np.int64)


def fit_grounded_readout(emb: np.ndarray, labels: np.ndarray, class_vectors: np.ndarray, atoms: np.ndarray,
                         class_atoms: np.ndarray, cfg: ReadoutConfig | None = None, reads: str = FEATURES) -> Readout:
    """A read-out onto the seen classes' own description embeddings, with its grounding and calibration.

    ``class_vectors`` (C, d_t): each seen class's normalised mean description embedding; ``atoms`` (N, d_t) the
    vocabulary centroids; ``class_atoms`` (C, N) bool: the class has a sentence of its own in the atom. A share of
    the classes (``cfg.holdout``) is held out: a read-out fitted on the rest scores their images against every
    atom, which gives the grounding figure (mAP of those scores against ``class_atoms``) and the calibration; the
    returned read-out is then refitted on every seen class.
    """
    from lafg.retrieval.grounding import mean_average_precision

    cfg = cfg or ReadoutConfig()
    labels = np.asarray(labels, dtype=np.int64)
    class_atoms = np.asarray(class_atoms, dtype=bool)
    final = fit_readout(emb, labels, class_vectors, cfg.alpha, DESCRIPTIONS)
    final.input = reads
    out = held_out_classes(len(class_vectors), cfg)
    val = np.isin(labels, out)
    if not val.any() or len(np.unique(labels[~val])) < 2:
        return final
    part = fit_readout(np.asarray(emb)[~val], labels[~val], class_vectors, cfg.alpha, DESCRIPTIONS)
    scores = atom_scores(part, np.asarray(emb)[val], atoms)
    truth = class_atoms[labels[val]]
    measured = mean_average_precision(scores, truth)
    if measured.n_measured == 0:
        return final
    final.grounding = Grounding(round(measured.map, 2), round(measured.chance, 2), len(out), int(val.sum()),
                                measured.n_measured)
    kept = np.setdiff1d(np.arange(len(class_vectors)), out)
    cal = fit_calibration(scores, truth, prior_logits(class_atoms[kept]))
    cal.prior = prior_logits(class_atoms)  # the shipped read-out knows every seen class
    final.calibration = cal
    return final


def fit_calibration(scores: np.ndarray, truth: np.ndarray, prior: np.ndarray) -> Calibration:
    """Per-atom standardisation, then one logistic (Platt) fit of all (image, atom) pairs against ``truth`` with
    two inputs: the standardised score and the atom's prior logit."""
    from sklearn.linear_model import LogisticRegression

    mean = scores.mean(axis=0)
    std = np.maximum(scores.std(axis=0), 1e-6)
    z = (scores - mean) / std
    x = np.stack([z.reshape(-1), np.broadcast_to(prior, z.shape).reshape(-1)], axis=1)
    y = np.asarray(truth, bool).reshape(-1)
    f32 = np.float32
    rate = float(y.mean())
    if y.all() or not y.any():
        return Calibration(mean.astype(f32), std.astype(f32), prior.astype(f32), 0.0, 0.0, 0.0, rate)
    lr = LogisticRegression(C=1.0).fit(x, y)  # the default L2: a few held-out classes must not give 100 %
    return Calibration(mean.astype(f32), std.astype(f32), prior.astype(f32), float(lr.coef_[0, 0]),
                       float(lr.coef_[0, 1]), float(lr.intercept_[0]), rate)


@dataclass
class AttributeSpace:
    """Maps into a space whose rows are read against ``atoms`` (explanations: :mod:`lafg.retrieval.explain`)."""

    kind: str  # "projector" (trained), "readout" (fitted) or "none"
    description: str  # for people: what the explanations read
    atoms: np.ndarray  # (N, L): the atoms in this space
    atom_labels: list[str]
    image: Callable[[np.ndarray], np.ndarray] | None  # retrieval embeddings (n, e) → (n, L)
    text: Callable[[np.ndarray], np.ndarray] | None  # text embeddings (n, d_t) → (n, L)
    tau: float = 0.05  # softmax temperature of the atom activations in explanations (uncalibrated spaces)
    readout: Readout | None = None  # the fitted read-out (its calibration and grounding), when kind is "readout"
    reads: str = EMBEDDINGS  # what ``image`` takes: FEATURES (the frozen backbone's) or EMBEDDINGS (retrieval)

    @property
    def available(self) -> bool:
        return self.kind != NONE

    @property
    def calibration(self) -> Calibration | None:
        return self.readout.calibration if self.readout is not None else None

    @property
    def grounding(self) -> Grounding | None:
        return self.readout.grounding if self.readout is not None else None

    def atom_probabilities(self, vectors: np.ndarray) -> np.ndarray | None:
        """(n, N) calibrated probabilities that each atom is in the description of what ``vectors`` (already in
        this space) show; None for a space without a calibration."""
        cal = self.calibration
        if cal is None or len(cal.mean) != len(self.atoms):
            return None
        return cal(l2_normalise(np.asarray(vectors, np.float32)) @ l2_normalise(self.atoms).T)


def text_scores(space: AttributeSpace, emb: np.ndarray, text_emb: np.ndarray) -> np.ndarray:
    """(n_images, n_texts) cosine of images (``emb``: what ``space.reads``) and texts (encoder embeddings) in
    ``space``: what text search ranks by and what ``benchmarks/grounding.py`` measures."""
    return l2_normalise(space.image(np.asarray(emb, np.float32))) @ l2_normalise(space.text(np.asarray(text_emb, np.float32))).T


def no_space(reason: str) -> AttributeSpace:
    return AttributeSpace(NONE, reason, np.zeros((0, 1), np.float32), [], None, None)


def projector_space(model, parts: dict, reading: str, centroids: np.ndarray, atom_labels: list[str],
                    tau_proto: float) -> AttributeSpace:
    """Through the trained projector(s) of ``model`` (``parts`` from :func:`lafg.training.loop.trained_parts`)."""
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
    """Through a fitted read-out into the text space; text as it is; both read against the atom centroids.
    ``what``: what it was fitted on, for people (a read-out of the frozen features says so itself)."""
    onto = ("the seen classes' own descriptions" if readout.target == DESCRIPTIONS
            else "the seen classes' LaFG prototypes (an older read-out: retrain for calibrated explanations)")
    what = "frozen backbone features" if readout.input == FEATURES else what
    description = f"read-out onto {onto}, fitted on the {what} of {readout.n_classes} seen classes ({readout.n_images} images)"
    return AttributeSpace(READOUT, description, np.asarray(centroids, np.float32), list(atom_labels), readout,
                          lambda t: np.asarray(t, dtype=np.float32), readout=readout, reads=readout.input)
