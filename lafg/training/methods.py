"""Training methods: which prototypes supervise the model and which loss terms it trains with.

| method | prototypes T_c | loss |
|---|---|---|
| ``pretrained`` | — | no training (the backbone's features, no head) |
| ``onehot`` | — | normalised-softmax CE over the seen classes |
| ``aux`` | — | L_aux |
| ``template`` | t_c (class name in the template) | L_aux + β L_ali |
| ``descriptions`` | mean of the class's description embeddings | L_aux + β L_ali |
| ``lafg`` | t_c + top-K vocabulary atoms (the paper) | L_aux + β L_ali |
| ``grounded`` | t_c + top-K of the class's *own* atoms (those its own sentences fall in) | L_aux + β L_ali |
| ``random`` | random unit vectors (control: no language) | L_aux + β L_ali |
| ``permuted`` | the LaFG prototypes of *other* classes, by a derangement drawn per run seed (control) | L_aux + β L_ali |
| ``shuffled-atoms`` | normalise(t_c + the atom mixture of class π(c)) (control: own template, wrong atoms) | L_aux + β L_ali |
| ``permuted-grounded`` | the grounded prototypes of *other* classes (``grounded``'s own control) | L_aux + β L_ali |

The controls' random draws (random vectors, derangement π) depend on the run's seed, so a comparison over
seeds averages over draws too; ``seed=None`` gives the one fixed draw earlier results used (``CONTROL_SEED``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lafg.errors import InputError

CONTROL_SEED = 20260  # base seed of the controls' draws; run seed s draws with [CONTROL_SEED, s]
CONTROLS = ("random", "permuted", "shuffled-atoms")  # prototypes derived from the LaFG ones by a random draw


@dataclass(frozen=True)
class Method:
    name: str
    prototypes: str | None  # "template" | "descriptions" | "lafg" | one of CONTROLS | None
    aux: bool  # train with L_aux
    onehot: bool  # train with the normalised-softmax CE
    trains: bool = True  # False: evaluate the pretrained features as they are
    summary: str = ""
    base: str = "lafg"  # a control's draw starts from these prototypes (its own variant for a non-control)

    @property
    def align(self) -> bool:
        """Whether L_ali is used (every method with prototypes)."""
        return self.prototypes is not None

    @property
    def language_variant(self) -> str | None:
        """The prototype variant (:func:`lafg.language.prototypes.build_prototypes`) these prototypes start from."""
        return self.base if self.prototypes in CONTROLS else self.prototypes


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
        Method("grounded", "grounded", True, False, summary="L_aux + L_ali, LaFG prototypes from each class's own atoms"),
        Method("random", "random", True, False, summary="control: random unit prototypes"),
        Method("permuted", "permuted", True, False, summary="control: LaFG prototypes of the wrong classes"),
        Method(
            "shuffled-atoms",
            "shuffled-atoms",
            True,
            False,
            summary="control: own template, another class's vocabulary atoms",
        ),
        Method(
            "permuted-grounded",
            "permuted",
            True,
            False,
            summary="control: the grounded prototypes of the wrong classes",
            base="grounded",
        ),
    ]
}


def list_methods() -> list[str]:
    return list(METHODS)


def controls_for(name: str) -> tuple[str, ...]:
    """The runs that tell whether ``name``'s language helped: the untrained backbone, random prototypes and
    ``name``'s own prototypes given to the wrong classes (``permuted-grounded`` for ``grounded``)."""
    method = get_method(name)
    permuted = next((m.name for m in METHODS.values() if m.prototypes == "permuted" and m.base == method.prototypes),
                    "permuted")
    return tuple(m for m in ("pretrained", "random", permuted) if m != name)


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError as exc:
        raise InputError(f"unknown method {name!r}; choose one of: {', '.join(METHODS)}") from exc


def control_seed(run_seed: int | None) -> int | list[int]:
    """The rng seed of a control's draw for run seed ``run_seed`` (None: the fixed ``CONTROL_SEED`` draw)."""
    return CONTROL_SEED if run_seed is None else [CONTROL_SEED, int(run_seed)]


def random_prototypes(n: int, dim: int, seed: int | Sequence[int] = CONTROL_SEED) -> np.ndarray:
    """(n, dim) float32 random unit vectors (``seed``: a numpy rng seed, see :func:`control_seed`)."""
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def derangement(n: int, seed: int | Sequence[int] = CONTROL_SEED) -> np.ndarray:
    """A random permutation of range(n) with no fixed point (n ≥ 2), the same for the same ``seed``."""
    rng = np.random.default_rng(seed)
    while True:
        perm = rng.permutation(n)
        if n < 2 or not (perm == np.arange(n)).any():
            return perm


def atom_mixture(protos) -> np.ndarray:
    """(C, d) Σ_k w_ck a_k of LaFG :class:`~lafg.language.prototypes.Prototypes`: what the atoms add to t_c."""
    if protos.vocabulary is None or protos.top_atoms.shape[1] == 0:
        raise InputError("the shuffled-atoms control needs LaFG prototypes (template + vocabulary atoms)")
    atoms = protos.vocabulary.centroids[protos.top_atoms]  # (C, K, d)
    return np.einsum("ck,ckd->cd", protos.top_weights, atoms).astype(np.float32)


def shuffled_atoms(template: np.ndarray, mixture: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """normalise(t_c + m_π(c)): each class keeps its own template and gets class π(c)'s atom mixture."""
    x = np.asarray(template, np.float32) + np.asarray(mixture, np.float32)[perm]
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def control_prototypes(method: Method, vectors, seed: int | None = None, parts=None) -> np.ndarray:
    """The prototypes a method trains with, given the language prototypes of its variant.

    ``vectors``: the (C, d) prototype rows, or the :class:`~lafg.language.prototypes.Prototypes` they come from.
    ``random`` replaces them by random unit vectors of the same shape; ``permuted`` gives class c the vector
    of class π(c) for a derangement π; ``shuffled-atoms`` gives it normalise(t_c + m_π(c)) and needs ``parts``
    = (templates t, atom mixtures m) or a ``Prototypes`` as ``vectors``. The draws depend on the run ``seed``
    (:func:`control_seed`). Every other method returns the vectors unchanged.
    """
    if parts is None and hasattr(vectors, "vectors"):  # a Prototypes object: it knows its parts
        protos, vectors = vectors, vectors.vectors
        if method.prototypes == "shuffled-atoms":
            parts = (protos.template, atom_mixture(protos))
    rng_seed = control_seed(seed)
    if method.prototypes == "random":
        return random_prototypes(*vectors.shape, seed=rng_seed)
    if method.prototypes == "permuted":
        return vectors[derangement(len(vectors), rng_seed)].copy()
    if method.prototypes == "shuffled-atoms":
        if parts is None:
            raise InputError("the shuffled-atoms control needs the class templates and their atom mixtures")
        return shuffled_atoms(parts[0], parts[1], derangement(len(vectors), rng_seed))
    return vectors
