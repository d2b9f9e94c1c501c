"""The "bridge" text encoder: text lands in the image backbone's own feature space, offline.

The paper's key ingredient is a *vision-aligned* text space (a frozen VLM text tower). No CLIP weights ship
offline, but the image backbone ships an ImageNet classifier whose 1,000 weight rows are directions in its
feature space, one per named class. The bridge reads a text through MiniLM, compares it with MiniLM's
embeddings of the 1,000 ImageNet class names ("a photo of a {name}."), and returns the softmax-weighted mean
of the corresponding classifier directions:

    b(x) = normalise( Σ_i softmax_i(cos(m(x), m(name_i)) / T) · (ŵ_i − w̄) )

``m`` = MiniLM, ``ŵ_i`` = unit classifier row of ImageNet class i, ``w̄`` = mean of the unit rows (the part
every class shares, removed so that images are ranked by what is class-specific), ``T`` = the temperature
(chosen on the seen classes of cars196 / cub100 only: ``benchmarks/structure.py``). A text about
"red crown" thus becomes the mixture of the ImageNet birds whose names MiniLM relates to it, expressed where
EfficientNet-Lite0 puts images of those birds. Registered as ``bridge:efficientnet_lite0`` in
:mod:`lafg.language.encoders`; its vectors have the backbone's feature size (1280), so text can be compared with the
untrained backbone's image features directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lafg.errors import BackendError
from lafg.language.encode import MiniLMEncoder, TextEncoder, encode_cached, l2_normalise

DEFAULT_TEMPERATURE = 0.05  # chosen on the seen classes: results/structure.md, "Bridge temperature"
NAME_TEMPLATE = "a photo of a {}."


def imagenet_class_names() -> list[str]:
    """The 1,000 ImageNet-1k class names in classifier order (open_clip's curated list, a pinned dependency)."""
    try:
        from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES
    except ImportError as exc:
        raise BackendError("the bridge text encoder needs the ImageNet class names: pip install open_clip_torch") from exc
    return list(IMAGENET_CLASSNAMES)


def classifier_directions(weights: np.ndarray, center: bool = True) -> np.ndarray:
    """(C, d) unit classifier rows, minus their mean when ``center`` (float32)."""
    w = l2_normalise(np.asarray(weights, dtype=np.float32))
    return (w - w.mean(axis=0, keepdims=True)).astype(np.float32) if center else w


def bridge_map(text_emb: np.ndarray, name_emb: np.ndarray, directions: np.ndarray, temperature: float) -> np.ndarray:
    """(n, d) unnormalised bridge vectors: softmax(text·names / T) @ directions.

    ``text_emb`` (n, m) and ``name_emb`` (C, m) are unit rows of the same text space; ``directions`` (C, d).
    """
    if temperature <= 0:
        raise ValueError("the bridge temperature must be positive")
    logits = (np.asarray(text_emb, np.float64) @ np.asarray(name_emb, np.float64).T) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    w = np.exp(logits)
    w /= w.sum(axis=1, keepdims=True)
    return (w @ np.asarray(directions, np.float64)).astype(np.float32)


def lite0_classifier() -> np.ndarray:
    """EfficientNet-Lite0's ImageNet classifier weight (1000, 1280), read from the shipped weights file."""
    import torch

    from lafg.vision.backbones import lite0_weights_path

    try:
        state = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
    except (OSError, RuntimeError) as exc:
        raise BackendError(f"cannot read the EfficientNet-Lite0 classifier: {exc}") from exc
    return state["_fc.weight"].float().numpy()


CLASSIFIERS = {"efficientnet_lite0": lite0_classifier}  # backbone registry name → its ImageNet classifier
_NAME_EMB: dict[tuple, np.ndarray] = {}  # (text encoder name, prompts) → their embeddings


@dataclass(frozen=True)
class BridgeConfig:
    backbone: str = "efficientnet_lite0"
    temperature: float = DEFAULT_TEMPERATURE
    center: bool = True  # remove the mean classifier direction (see module doc)


class BridgeEncoder(TextEncoder):
    """Text → MiniLM → ImageNet class names → the backbone's classifier directions (see module doc).

    ``text_encoder``, ``class_names`` and ``classifier`` can be injected (tests use tiny hand-made ones);
    by default MiniLM, open_clip's ImageNet names and the backbone's shipped classifier.
    """

    def __init__(
        self,
        backbone: str = "efficientnet_lite0",
        temperature: float = DEFAULT_TEMPERATURE,
        center: bool = True,
        text_encoder: TextEncoder | None = None,
        class_names: list[str] | None = None,
        classifier: np.ndarray | None = None,
        cache=None,
    ):
        if classifier is None:
            if backbone not in CLASSIFIERS:
                raise BackendError(f"no ImageNet classifier known for backbone {backbone!r}; choose one of: {', '.join(CLASSIFIERS)}")
            classifier = CLASSIFIERS[backbone]()
        names = class_names if class_names is not None else imagenet_class_names()
        if len(names) != len(classifier):
            raise BackendError(f"{len(names)} class names for a classifier of {len(classifier)} classes")
        self.cfg = BridgeConfig(backbone, float(temperature), bool(center))
        if self.cfg.temperature <= 0:
            raise BackendError("the bridge temperature must be positive")
        self.text = text_encoder if text_encoder is not None else MiniLMEncoder()
        prompts = [NAME_TEMPLATE.format(n) for n in names]
        key = (self.text.name, tuple(prompts))
        if key not in _NAME_EMB:  # one MiniLM pass over the 1,000 names per process, whatever the temperature
            _NAME_EMB[key] = encode_cached(self.text, prompts, cache)
        self.name_emb = _NAME_EMB[key]
        self.directions = classifier_directions(classifier, center)
        self.dim = int(self.directions.shape[1])
        self.name = f"bridge:{backbone}:T={self.cfg.temperature:g}:center={int(center)}:{self.text.name}"

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        return bridge_map(self.text.encode(texts), self.name_emb, self.directions, self.cfg.temperature)

    def class_weights(self, texts: list[str], top: int = 5) -> list[list[tuple[int, float]]]:
        """Per text, the ``top`` ImageNet classes (index, softmax weight) it is read as: what the bridge sees."""
        logits = self.text.encode(texts) @ self.name_emb.T / self.cfg.temperature
        w = np.exp(logits - logits.max(axis=1, keepdims=True))
        w /= w.sum(axis=1, keepdims=True)
        order = np.argsort(-w, axis=1)[:, :top]
        return [[(int(i), float(w[r, i])) for i in row] for r, row in enumerate(order)]
