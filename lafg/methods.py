"""Training methods: which prototypes supervise the model and which loss terms it trains with.

| method | prototypes T_c | loss |
|---|---|---|
| ``pretrained`` | — | no training (the backbone's features, no head) |
| ``onehot`` | — | normalised-softmax CE over the seen classes |
| ``aux`` | — | L_aux |
| ``template`` | t_c (class name in the template) | L_aux + β L_ali |
| ``descriptions`` | mean of the class's description embeddings | L_aux + β L_ali |
| ``lafg`` | t_c + top-K vocabulary atoms (the paper) | L_aux + β L_ali |
| ``random`` | random unit vectors (control: no language) | L_aux + β L_ali |
| ``permuted`` | the LaFG prototypes of *other* classes, by a fixed derangement (control) | L_aux + β L_ali |
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lafg.errors import InputError

CONTROL_SEED = 20260  # fixed: the controls' random vectors and permutation do not change with the run's seed


@dataclass(frozen=True)
class Method:
    name: str
    prototypes: str | None  # "template" | "descriptions" | "lafg" | "random" | "permuted" | None
    aux: bool  # train with L_aux
    onehot: bool  # train with the normalised-softmax CE
    trains: bool = True  # False: evaluate the pretrained features as they are
    summary: str = ""

    @property
    def align(self) -> bool:
        """Whether L_ali is used (every method with prototypes)."""
        return self.prototypes is not None

    @property
    def language_variant(self) -> str | None:
        """The :func:`lafg.language.language_prototypes` variant these prototypes start from."""
        return "lafg" if self.prototypes in ("random", "permuted") else self.prototypes


METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method("pretrained", None, False, False, trains=False, summary="backbone features, no training"),
        Method("onehot", None, False, True, summary="normalised-softmax CE (label-only supervision)"),
        Method("aux", None, True, False, summary="L_aux only"),
        Method("template", "template", True, False, summary="L_aux + L_ali with T_c = t_c"),
        Method(
            "descriptions", "descriptions", True, False, summary="L_aux + L_ali, mean description embeddings"
        ),
        Method("lafg", "lafg", True, False, summary="L_aux + L_ali with the LaFG prototypes"),
        Method("random", "random", True, False, summary="control: random unit prototypes"),
        Method("permuted", "permuted", True, False, summary="control: LaFG prototypes of the wrong classes"),
    ]
}


def list_methods() -> list[str]:
    return list(METHODS)


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError as exc:
        raise InputError(f"unknown method {name!r}; choose one of: {', '.join(METHODS)}") from exc


def random_prototypes(n: int, dim: int, seed: int = CONTROL_SEED) -> np.ndarray:
    """(n, dim) float32 random unit vectors."""
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def derangement(n: int, seed: int = CONTROL_SEED) -> np.ndarray:
    """A fixed random permutation of range(n) with no fixed point (n ≥ 2)."""
    rng = np.random.default_rng(seed)
    while True:
        perm = rng.permutation(n)
        if n < 2 or not (perm == np.arange(n)).any():
            return perm


def control_prototypes(method: Method, vectors: np.ndarray) -> np.ndarray:
    """The prototypes a method trains with, given the language prototypes of its variant.

    ``random`` replaces them by random unit vectors of the same shape; ``permuted`` gives class c the vector
    of class π(c) for a fixed derangement π; every other method returns them unchanged.
    """
    if method.prototypes == "random":
        return random_prototypes(*vectors.shape)
    if method.prototypes == "permuted":
        return vectors[derangement(len(vectors))].copy()
    return vectors


@dataclass
class LanguageSide:
    """What the methods with prototypes need: per variant, the training classes' and the evaluation classes'
    prototype rows, plus the vocabulary centroids (built from the training classes' descriptions only)."""

    train: dict[str, np.ndarray]  # variant → (C_train, d)
    eval: dict[str, np.ndarray]  # variant → (C_eval, d)
    centroids: np.ndarray  # (N, d)

    def for_method(self, method: Method) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(training prototypes with the method's control applied, evaluation prototypes) or (None, None)."""
        if not method.align:
            return None, None
        variant = method.language_variant
        return control_prototypes(method, self.train[variant]), self.eval[variant]


def build_language_side(*args, **kwargs) -> LanguageSide:
    """Moved to :func:`lafg.pipeline.build_language_side` (seen-class descriptions only); kept as an alias."""
    from lafg.pipeline import build_language_side

    return build_language_side(*args, **kwargs)
