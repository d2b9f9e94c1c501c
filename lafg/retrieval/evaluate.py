"""Evaluation on unseen classes.

- Retrieval: every test image queries all the other test images (itself excluded) by cosine similarity of
  the L2-normalised embeddings; Recall@1/2/4/8 and MAP@R from :func:`lafg.retrieval.metrics.retrieval_metrics`.
- Zero-shot: an image of an unseen class is assigned the class c maximising cos(P_v ẑ, P_t T_c) through the
  trained projectors (class names in, no training on them); accuracy in percent.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from lafg.retrieval.metrics import retrieval_metrics
from lafg.training.model import RetrievalModel


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

    Frozen parts run through the cached extractors of :mod:`lafg.vision.features`: features for ``head`` and the
    pretrained backbone, activations below the trained stages for ``partial``; ``full`` runs the whole model.
    ``n_top_stages`` defaults to the trainer's (:data:`lafg.training.inputs.DEFAULT_TOP_STAGES`); a loaded run passes
    its own (:func:`lafg.pipeline.load_run`).
    """
    from lafg.training.inputs import DEFAULT_TOP_STAGES, frozen_inputs
    from lafg.vision.features import extract_features

    n_top_stages = DEFAULT_TOP_STAGES if n_top_stages is None else n_top_stages
    if model is None or mode in ("head", "partial"):
        x, kept = frozen_inputs(backbone, "head" if model is None else mode, paths, n_top_stages, cache=cache,
                                progress=progress)
        return (x if model is None else embed(model, x)), kept
    # full: a fine-tuned backbone, nothing to reuse
    return extract_features(model, paths, backbone.eval_transform(), cache=None, progress=progress,
                            model_id="fine-tuned", return_kept=True)
