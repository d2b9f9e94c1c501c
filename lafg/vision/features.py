"""Cached image features (pooled backbone outputs) and stage-below activations (inputs of the trained top).

Each (image, view) is cached separately under a key of model id, file path + mtime + size, transform and view,
so adding images or views only computes what is new. View 0 uses the given (eval) transform; view ``v > 0`` uses
the augmentation transform with a seed fixed by (path, view, seed), so a view is reproducible in any order.
"""

from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from lafg.store.cache import ArrayCache
from lafg.vision.data import load_image
from lafg.vision.onnx_embed import module_device, runtime_for, transform_name

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
Transform = Callable[..., torch.Tensor]

MAX_WORKERS = 2  # image decoding processes; more only competes with the model for 2-core machines


def view_seed(path: Path, view: int, seed: int) -> int:
    """Seed of the augmentation drawn for one (image, view): independent of batch order and workers."""
    return zlib.crc32(f"{path}|{view}|{seed}".encode()) & 0x7FFFFFFF


class _ViewDataset(Dataset):
    """(image index, view) pairs → (tensor or None, position); unreadable images give None."""

    def __init__(
        self,
        paths: Sequence[Path],
        jobs: Sequence[tuple[int, int]],
        transforms: dict[int, Transform],
        seed: int,
    ):
        self.paths, self.jobs, self.transforms, self.seed = paths, jobs, transforms, seed

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, pos: int):
        index, view = self.jobs[pos]
        image = load_image(self.paths[index])
        if image is None:
            return None, pos
        if view == 0:
            return self.transforms[0](image), pos
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(view_seed(self.paths[index], view, self.seed))
            return self.transforms[view](image), pos


def _collate(batch):
    good = [(x, pos) for x, pos in batch if x is not None]
    bad = [pos for x, pos in batch if x is None]
    tensors = torch.stack([x for x, _ in good]) if good else None
    return tensors, [pos for _, pos in good], bad


def _file_key(path: Path) -> dict:
    try:
        st = os.stat(path)
        return {"path": str(Path(path).resolve()), "mtime_ns": st.st_mtime_ns, "size": st.st_size}
    except OSError:
        return {"path": str(path), "mtime_ns": -1, "size": -1}


def _run(
    module: Callable[[torch.Tensor], torch.Tensor],
    model_id: str,
    kind: str,
    paths: Sequence[str | Path],
    transform: Transform,
    augment: Transform | None,
    views: int,
    batch_size: int,
    cache: ArrayCache | None,
    progress: Progress | None,
    num_workers: int,
    seed: int,
    dtype: np.dtype,
) -> tuple[np.ndarray, np.ndarray]:
    """The shared loop: (array of shape (n_kept * views, ...), kept image indices); rows are view-major."""
    if views < 1:
        raise ValueError("views must be >= 1")
    if views > 1 and augment is None:
        raise ValueError("views > 1 needs an augmentation transform")
    paths = [Path(p) for p in paths]
    n = len(paths)
    transforms = {0: transform, **{v: augment for v in range(1, views)}}
    keys: dict[tuple[int, int], dict] = {}
    results: dict[tuple[int, int], np.ndarray] = {}
    bad: set[int] = set()
    for i, path in enumerate(paths):
        file_key = _file_key(path)
        for v in range(views):
            key = {
                "kind": kind,
                "model": model_id,
                **file_key,
                "view": v,
                "transform": transform_name(transforms[v]),
            }
            if v > 0:
                key["seed"] = seed
            keys[(i, v)] = key
            hit = cache.get(key) if cache is not None else None
            if hit is not None:
                results[(i, v)] = hit
    jobs = [job for job in keys if job not in results]
    total, done = len(keys), len(results)
    if progress:  # reported before the first batch, so a bar (and its elapsed time) shows at once
        progress(done, total, f"{done} cached, {total - done} to compute ({model_id})")
    if jobs:
        dataset = _ViewDataset(paths, jobs, transforms, seed)
        workers = max(0, min(num_workers, MAX_WORKERS)) if len(jobs) > batch_size else 0
        device = module_device(module)
        loader = DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=False,
            num_workers=workers,
            collate_fn=_collate,
            pin_memory=device.type == "cuda",
        )
        with torch.inference_mode():
            for tensors, positions, failed in loader:
                for pos in failed:
                    bad.add(jobs[pos][0])
                if tensors is not None:
                    out = (
                        module(tensors.to(device, non_blocking=True))
                        .float()
                        .cpu()
                        .numpy()
                        .astype(dtype, copy=False)
                    )
                    for row, pos in zip(out, positions, strict=True):
                        job = jobs[pos]
                        results[job] = np.ascontiguousarray(row)
                        if cache is not None:
                            cache.set(keys[job], results[job])
                done += len(positions) + len(failed)
                if progress:  # once per batch: the caller's bar derives rate and ETA from these calls
                    progress(done, total, kind)
    kept = np.array([i for i in range(n) if i not in bad], dtype=np.int64)
    if bad:
        log.warning("%d of %d images were unreadable and skipped", len(bad), n)
    rows = [results[(int(i), v)] for v in range(views) for i in kept]
    if not rows:
        return np.zeros((0,), dtype=dtype), kept
    return np.stack(rows).astype(dtype, copy=False), kept


def extract_features(
    backbone: nn.Module,
    paths: Sequence[str | Path],
    transform: Transform,
    batch_size: int = 64,
    views: int = 1,
    cache: ArrayCache | None = None,
    progress: Progress | None = None,
    *,
    augment: Transform | None = None,
    model_id: str | None = None,
    num_workers: int = 2,
    seed: int = 0,
    return_kept: bool = False,
    engine: str | object = "auto",
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Pooled features, float32 ``(n_kept * views, D)``, view-major (rows ``v * n_kept + i``).

    View 0 uses ``transform``; views ``1..views-1`` use ``augment`` (default ``backbone.train_transform()``).
    Unreadable images are skipped with a warning: pass ``return_kept=True`` to also get the kept image indices
    (``(features, kept)``), which is what keeps labels aligned. ``model_id`` (default ``backbone.name``) is the
    cache's name for the weights: give a fine-tuned backbone its own id, or no cache. ``engine``: ``auto`` runs
    a frozen CPU backbone on ONNX Runtime when it exports cleanly (:mod:`lafg.vision.onnx_embed`), ``torch`` never does;
    an :class:`lafg.vision.onnx_embed.OnnxBackbone` (e.g. int8) runs as given, cached under its own name.
    """
    if views > 1 and augment is None:
        augment = backbone.train_transform()
    if model_id is None and not isinstance(engine, str):  # e.g. an int8 module: its features are its own
        model_id = engine.name
    model_id = model_id or getattr(backbone, "name", None) or type(backbone).__name__
    was_training = backbone.training
    backbone.eval()
    try:
        feats, kept = _run(
            runtime_for(backbone, engine),
            model_id,
            "features",
            paths,
            transform,
            augment,
            views,
            batch_size,
            cache,
            progress,
            num_workers,
            seed,
            np.float32,
        )
    finally:
        backbone.train(was_training)
    if feats.ndim == 1:
        feats = feats.reshape(0, int(getattr(backbone, "feature_dim", 0)))
    return (feats, kept) if return_kept else feats


def extract_activations(
    bottom_module: nn.Module,
    paths: Sequence[str | Path],
    transform: Transform,
    batch_size: int = 64,
    views: int = 1,
    cache: ArrayCache | None = None,
    progress: Progress | None = None,
    *,
    model_id: str,
    augment: Transform | None = None,
    num_workers: int = 2,
    seed: int = 0,
    dtype: np.dtype = np.float16,
    return_kept: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Activations of ``bottom_module`` (e.g. ``backbone.split_at(1)[0]``): ``(n_kept * views, C, H, W)``.

    Stored as ``dtype`` (float16 by default: half the memory; the top re-reads them as float32). ``model_id``
    names the bottom in cache keys, e.g. ``f"{backbone.name}/bottom-{n}"``. Views, skipping and ``return_kept``
    as in :func:`extract_features`.
    """
    was_training = bottom_module.training
    bottom_module.eval()
    try:
        acts, kept = _run(
            bottom_module,
            model_id,
            "activations",
            paths,
            transform,
            augment,
            views,
            batch_size,
            cache,
            progress,
            num_workers,
            seed,
            np.dtype(dtype),
        )
    finally:
        bottom_module.train(was_training)
    return (acts, kept) if return_kept else acts
