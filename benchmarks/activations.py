"""Benchmark-side cache of EfficientNet-Lite0 activations below the last stage, for every image of a set.

One pass over the images serves both ladders: ``partial`` trains on these activations directly, ``head`` on
the pooled features ``top(activations)`` of the frozen backbone (computed once, cached too). Views: view 0 is
the evaluation view (resize 224 + centre crop) of every image; views 1..V are augmented views of the seen
(training) images only. Files are ``.npy`` (loaded with ``allow_pickle=False``), written atomically.
"""

from __future__ import annotations

import csv
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision import transforms as T

from lafg.store.atomic import atomic_path
from lafg.store.cache import default_cache_dir
from lafg.training.inputs import DEFAULT_TOP_STAGES
from lafg.vision.backbones import create_backbone

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BACKBONE = "efficientnet_lite0"
TOP_STAGES = DEFAULT_TOP_STAGES  # partial mode fine-tunes the last two MBConv stages + conv head


def cache_dir() -> Path:
    return default_cache_dir() / "ladder"


FOLDERS: dict[str, Path] = {}  # set name → data folder outside ../shared/data (``--data``)


def register_folder(folder: str | Path) -> str:
    """Make a data set folder (any layout :func:`lafg.vision.data.load_image_set` reads) usable by name; the name
    carries a hash of the absolute path, so its cached activations never mix with another folder's."""
    import hashlib

    from lafg.vision.data import load_image_set

    folder = Path(folder).expanduser().resolve()
    load_image_set(folder)  # fail early, with the loader's message, on a bad layout
    name = f"{folder.name}-{hashlib.sha1(str(folder).encode()).hexdigest()[:8]}"
    FOLDERS[name] = folder
    return name


def read_set(name: str, root: Path = DATA) -> dict:
    """paths, class ids, names and seen flags of a set in the ``classes.csv`` / ``images.csv`` layout (or of a
    folder registered with :func:`register_folder`)."""
    if name in FOLDERS:
        from lafg.vision.data import load_image_set

        image_set = load_image_set(FOLDERS[name])
        seen = set(image_set.seen)
        return {
            "paths": [str(p) for p, _ in image_set.items],
            "class_ids": np.array([c for _, c in image_set.items]),
            "seen": np.array([c in seen for _, c in image_set.items]),
            "names": dict(enumerate(image_set.classes)),
        }
    classes = {r["class_id"]: r for r in csv.DictReader(open(root / name / "classes.csv"))}
    rows = list(csv.DictReader(open(root / name / "images.csv")))
    return {
        "paths": [str(root / name / r["path"]) for r in rows],
        "class_ids": np.array([int(r["class_id"]) for r in rows]),
        "seen": np.array([r["split"] == "train" for r in rows]),
        "names": {int(k): v["name"] for k, v in classes.items()},
    }


def augment_transform(backbone) -> T.Compose:
    """Milder than ImageNet's RandomResizedCrop (scale 0.08): fine-grained cues must stay in the crop."""
    return T.Compose(
        [
            T.RandomResizedCrop(
                backbone.image_size, scale=(0.35, 1.0), interpolation=T.InterpolationMode.BICUBIC
            ),
            T.RandomHorizontalFlip(),
            T.ToTensor(),
            T.Normalize(backbone.mean, backbone.std),
        ]
    )


@torch.no_grad()
def run_bottom(
    bottom, paths: list[str], transform, batch_size: int = 64, seed: int = 0, log=print
) -> np.ndarray:
    """(N, C, H, W) float16 activations of ``bottom`` for ``paths``."""
    torch.manual_seed(seed)
    out, t0 = [], time.perf_counter()
    for i in range(0, len(paths), batch_size):
        x = torch.stack([transform(Image.open(p).convert("RGB")) for p in paths[i : i + batch_size]])
        out.append(bottom(x).float().numpy().astype(np.float16))
        if (i // batch_size) % 10 == 0:
            rate = (i + len(x)) / (time.perf_counter() - t0)
            log(f"  {i + len(x)}/{len(paths)} images, {rate:.1f} img/s")
    return np.concatenate(out)


def _save(path: Path, array: np.ndarray) -> None:
    with atomic_path(path, suffix=".tmp.npy") as tmp:
        np.save(tmp, array, allow_pickle=False)


def activations(name: str, view: int, log=print, stages: int = TOP_STAGES) -> np.ndarray:
    """Cached activations of set ``name`` below its last ``stages`` stages: view 0 = all images (eval view),
    view v ≥ 1 = seen images, augmented."""
    path = cache_dir() / f"{name}_{BACKBONE}_top{stages}_view{view}.npy"
    if path.exists():
        return np.load(path, allow_pickle=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = read_set(name)
    backbone = create_backbone(BACKBONE)
    bottom, _ = backbone.split_at(stages)
    if view == 0:
        paths, transform = data["paths"], backbone.eval_transform()
    else:
        paths = [p for p, s in zip(data["paths"], data["seen"], strict=True) if s]
        transform = augment_transform(backbone)
    log(f"{name} view {view}: {len(paths)} images")
    acts = run_bottom(bottom, paths, transform, seed=view, log=log)
    _save(path, acts)
    return acts


@torch.no_grad()
def pooled_features(name: str, view: int, log=print) -> np.ndarray:
    """Frozen-backbone features ``top(activations)`` (N, 1280) float32, cached."""
    path = cache_dir() / f"{name}_{BACKBONE}_features_view{view}.npy"
    if path.exists():
        return np.load(path, allow_pickle=False)
    acts = activations(name, view, log)
    _, top = create_backbone(BACKBONE).split_at(TOP_STAGES)
    feats = np.concatenate(
        [top(torch.from_numpy(acts[i : i + 256]).float()).numpy() for i in range(0, len(acts), 256)]
    )
    _save(path, feats.astype(np.float32))
    return feats


if __name__ == "__main__":
    torch.set_num_threads(int(os.environ.get("LAFG_THREADS", "2")))
    views = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    for v in range(views + 1):  # every set's evaluation view first, then the augmented views
        for set_name in sys.argv[2:] or ["cars196", "cub100"]:
            pooled_features(set_name, v)
