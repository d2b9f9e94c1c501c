"""Evaluation on unseen classes, and the group-wise validation split used to choose hyperparameters.

- Retrieval: every test image queries all the other test images (itself excluded) by cosine similarity of
  the L2-normalised embeddings; Recall@1/2/4/8 and MAP@R from :func:`lafg.metrics.retrieval_metrics`.
- Zero-shot: an image of an unseen class is assigned the class c maximising cos(P_v ẑ, P_t T_c) through the
  trained projectors (class names in, no training on them); accuracy in percent.
- Validation: seen classes are split by *group* (car make = first word of the name, bird group = last word),
  whole groups held out together, so validation classes share no make / genus with the training classes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from lafg.metrics import retrieval_metrics, zero_shot_accuracy
from lafg.model import RetrievalModel


@torch.no_grad()
def embed(
    model: RetrievalModel, inputs: np.ndarray, batch_size: int = 256, device: str = "cpu"
) -> np.ndarray:
    """Embeddings ``model(x)`` of ``inputs`` (N, ...) in batches: (N, embed_dim) float32, not normalised."""
    model = model.to(device).eval()
    out = [
        model(torch.as_tensor(inputs[i : i + batch_size]).float().to(device)).float().cpu()
        for i in range(0, len(inputs), batch_size)
    ]
    return torch.cat(out).numpy()


@torch.no_grad()
def projected(model: RetrievalModel, z: np.ndarray, prototypes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P_v ẑ, P_t T) as float32 arrays: the two sides of zero-shot classification."""
    model = model.cpu()
    v = model.project_image(torch.as_tensor(z).float())
    t = model.project_text(torch.as_tensor(prototypes).float())
    return v.numpy(), t.numpy()


def evaluate_embeddings(emb: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Recall@1/2/4/8 and MAP@R (percent) of L2-normalised ``emb``, leave-one-out over the set."""
    x = F.normalize(torch.as_tensor(emb).float(), dim=1).numpy()
    return retrieval_metrics(x, np.asarray(labels))


def evaluate_model(
    model: RetrievalModel, inputs: np.ndarray, labels: np.ndarray, prototypes: np.ndarray | None = None
) -> dict[str, float]:
    """Retrieval metrics of ``model`` on ``inputs``; plus ``zero_shot`` accuracy when class ``prototypes``
    (rows indexed by ``labels``, 0..C−1) are given."""
    z = embed(model, inputs)
    metrics = evaluate_embeddings(z, labels)
    if prototypes is not None:
        v, t = projected(model, z, prototypes)
        metrics["zero_shot"] = zero_shot_accuracy(v, np.asarray(labels), t)
    return metrics


def car_make(name: str) -> str:
    """Group of a Stanford Cars class: its make, the first word ("AM General" stays "AM")."""
    return name.split()[0]


def bird_group(name: str) -> str:
    """Rough genus / family of a CUB class: the last word ("Black footed Albatross" → "Albatross")."""
    return name.split()[-1]


def group_validation_split(
    names: list[str], group: Callable[[str], str], fraction: float = 0.3, seed: int = 0
) -> tuple[list[int], list[int]]:
    """(train, validation) class indices into ``names``: whole groups, in a seeded random order, are moved to
    validation until it holds at least ``fraction`` of the classes."""
    groups: dict[str, list[int]] = {}
    for i, n in enumerate(names):
        groups.setdefault(group(n), []).append(i)
    order = sorted(groups)
    np.random.default_rng(seed).shuffle(order)
    val: list[int] = []
    for g in order:
        if len(val) >= fraction * len(names):
            break
        val.extend(groups[g])
    held = set(val)
    return [i for i in range(len(names)) if i not in held], sorted(val)


def image_embeddings(
    model: RetrievalModel | None,
    backbone,
    mode: str,
    paths: list,
    n_top_stages: int | None = None,
    cache=None,
    progress=None,
) -> tuple[np.ndarray, np.ndarray]:
    """(embeddings, kept indices) of the images at ``paths``; ``model=None`` gives the backbone's pooled features.

    Frozen parts run through the cached extractors of :mod:`lafg.features`: features for ``head`` and the
    pretrained backbone, activations below the trained stages for ``partial``; ``full`` runs the whole model.
    ``n_top_stages`` defaults to the trainer's (:data:`lafg.train.DEFAULT_TOP_STAGES`); a loaded run passes
    its own (:func:`lafg.pipeline.load_run`).
    """
    from lafg.features import extract_activations, extract_features
    from lafg.train import DEFAULT_TOP_STAGES

    n_top_stages = DEFAULT_TOP_STAGES if n_top_stages is None else n_top_stages
    transform = backbone.eval_transform()
    kw = dict(cache=cache, progress=progress, return_kept=True)
    if model is None or mode == "head":
        feats, kept = extract_features(backbone, paths, transform, **kw)
        return (feats if model is None else embed(model, feats)), kept
    if mode == "partial":
        bottom, _ = backbone.split_at(n_top_stages)
        model_id = f"{backbone.name}/bottom-{n_top_stages}"
        acts, kept = extract_activations(bottom, paths, transform, model_id=model_id, **kw)
        return embed(model, acts), kept
    kw["cache"] = None  # a fine-tuned backbone: nothing to reuse
    emb, kept = extract_features(model, paths, transform, model_id="fine-tuned", **kw)
    return emb, kept
