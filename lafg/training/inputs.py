"""Training inputs per mode, and the one trunk split: which part of the backbone is frozen (its outputs cached per
image) and which part trains.

- ``head``: the frozen backbone's pooled features; nothing of the backbone trains.
- ``partial``: the activations below the last ``n_top_stages`` stages; those stages + the conv head train.
- ``full``: images decoded and augmented on the fly; the whole backbone trains.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


class CachedInputs:
    """Inputs for ``head`` / ``partial``: an array (V, N, ...) of V cached views per image; each batch item
    takes one view drawn from the batch's generator."""

    def __init__(self, views: np.ndarray):
        self.views = torch.from_numpy(np.ascontiguousarray(views))

    def __len__(self) -> int:
        return self.views.shape[1]

    def batch(self, indices: np.ndarray, generator: torch.Generator) -> torch.Tensor:
        view = torch.randint(self.views.shape[0], (len(indices),), generator=generator)
        return self.views[view, torch.as_tensor(indices)].float()


class ImageInputs:
    """Inputs for ``full``: image paths loaded with ``loader`` and augmented with ``transform``."""

    def __init__(self, paths: list[str], transform: Callable, loader: Callable):
        self.paths, self.transform, self.loader = list(paths), transform, loader

    def __len__(self) -> int:
        return len(self.paths)

    def batch(self, indices: np.ndarray, generator: torch.Generator) -> torch.Tensor:
        torch.manual_seed(int(torch.randint(2**31 - 1, (1,), generator=generator)))
        return torch.stack([self.transform(self.loader(self.paths[i])) for i in indices])




@dataclass
class PreparedInputs:
    """Training inputs of one mode, built from image paths (see :func:`prepare_inputs`)."""

    inputs: CachedInputs | ImageInputs
    kept: np.ndarray  # indices of the paths that were readable (labels must be taken at these)
    trunk: nn.Module | None  # the trainable part of the backbone (None in head mode)
    in_dim: int  # width of the trunk's output


# Validated on group-wise held-out seen classes of cars196 / cub100 (benchmarks/results/validation.md): cached
# augmented views did not help (0 beat 1 and 3 on average), and fine-tuning the last two stages gained ~3 R@1
# over the last one alone at about the same CPU time. The CLI and the benchmarks take their defaults from here.
DEFAULT_VIEWS = 0
DEFAULT_TOP_STAGES = 2


def frozen_inputs(
    backbone,
    mode: str,
    paths: list,
    n_top_stages: int = DEFAULT_TOP_STAGES,
    views: int = 0,
    cache=None,
    progress=None,
    num_workers: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """(array, kept indices): what the frozen part of ``backbone`` gives for ``paths`` in ``mode``, view-major
    (``views`` augmented views after the evaluation crop). ``head`` (and the untrained backbone, any other mode
    name but ``partial``): pooled features; ``partial``: the activations below the last ``n_top_stages`` stages.
    The one trunk split training (:func:`prepare_inputs`) and evaluation
    (:func:`lafg.retrieval.evaluate.image_embeddings`) share, so they share the cache entries too."""
    from lafg.vision.features import extract_activations, extract_features

    kw = dict(views=views + 1, cache=cache, progress=progress, augment=backbone.train_transform() if views else None,
              return_kept=True, num_workers=num_workers)
    if mode != "partial":
        return extract_features(backbone, paths, backbone.eval_transform(), **kw)
    bottom, _ = backbone.split_at(n_top_stages)
    model_id = f"{backbone.name}/bottom-{n_top_stages}"
    return extract_activations(bottom, paths, backbone.eval_transform(), model_id=model_id, **kw)


def prepare_inputs(
    backbone,
    mode: str,
    paths: list,
    views: int = DEFAULT_VIEWS,
    n_top_stages: int = DEFAULT_TOP_STAGES,
    cache=None,
    progress=None,
    num_workers: int = 2,
) -> PreparedInputs:
    """Inputs for ``mode`` from image ``paths`` (seen classes) through ``backbone`` (a :class:`lafg.vision.backbones.Backbone`).

    ``head``: pooled features, view 0 = eval transform, views 1..``views`` augmented, cached. ``partial``: the
    same views of the activations below the last ``n_top_stages`` stages; the trunk is those stages + head.
    ``full``: images on the fly with the backbone's training augmentation; the trunk is the backbone.
    Unreadable images are skipped (a warning names each one).
    """
    if mode in ("head", "partial"):
        x, kept = frozen_inputs(backbone, mode, paths, n_top_stages, views, cache, progress, num_workers)
        x = x.reshape(views + 1, len(kept), *x.shape[1:])
        trunk = backbone.split_at(n_top_stages)[1] if mode == "partial" else None
        return PreparedInputs(CachedInputs(x), kept, trunk, backbone.feature_dim)
    from lafg.vision.data import load_image

    readable = np.array([i for i, p in enumerate(paths) if load_image(p) is not None], dtype=np.int64)
    inputs = ImageInputs([paths[i] for i in readable], backbone.train_transform(), load_image)
    return PreparedInputs(inputs, readable, backbone, backbone.feature_dim)
