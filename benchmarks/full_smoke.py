"""`full`-mode check on a CUDA machine: the trainer end to end (autocast, cancel, resume, evaluation) on a
synthetic class-per-folder set, EfficientNet-Lite0 ImageNet weights. The real image sets cannot travel to the
device machine (they stay outside the repository), so this measures the code path and speed, not accuracy;
the "language" prototypes here are synthetic unit vectors (``random`` replaces them by its own control vectors).

    python -m benchmarks.full_smoke OUT_DIR
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from lafg.retrieval.evaluate import evaluate_embeddings, image_embeddings
from lafg.training.inputs import prepare_inputs
from lafg.training.loop import TrainConfig, train
from lafg.training.methods import control_prototypes, get_method, random_prototypes
from lafg.vision.backbones import create_backbone


def synthetic_set(root: Path, n_classes: int = 16, per_class: int = 24) -> tuple[list[Path], np.ndarray]:
    """Class c: noise around a class colour pattern, 256×256 JPEGs."""
    rng = np.random.default_rng(0)
    paths, labels = [], []
    for c in range(n_classes):
        folder = root / f"{c:03d}.class_{c}"
        folder.mkdir(parents=True, exist_ok=True)
        base = rng.random((8, 8, 3)) * 255
        for i in range(per_class):
            img = np.kron(base, np.ones((32, 32, 1))) + rng.normal(0, 40, (256, 256, 3))
            path = folder / f"{i}.jpg"
            Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(path)
            paths.append(path)
            labels.append(c)
    return paths, np.array(labels)


def main(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    report = {"device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"}
    paths, labels = synthetic_set(Path("/tmp/full_smoke_data"))
    seen = labels < 8
    train_paths = [p for p, s in zip(paths, seen, strict=True) if s]
    test_paths = [p for p, s in zip(paths, seen, strict=True) if not s]
    protos = random_prototypes(8, 384, seed=1)
    centroids = random_prototypes(32, 384, seed=2)
    backbone = create_backbone("efficientnet_lite0")
    emb, kept = image_embeddings(None, backbone, "full", test_paths)
    report["pretrained"] = evaluate_embeddings(emb, labels[~seen][kept])
    for method in ("aux", "random", "lafg"):
        backbone = create_backbone("efficientnet_lite0")
        prepared = prepare_inputs(backbone, "full", train_paths)
        cfg = TrainConfig(
            method=method,
            mode="full",
            epochs=3,
            classes_per_batch=8,
            images_per_class=4,
            lr=1e-4,
            trunk_lr=1e-4,
        )
        run_dir = out / method
        stop = {"n": 0}

        def cancel_after_first_epoch(stop=stop):
            stop["n"] += 1
            return stop["n"] > 6  # 6 steps per epoch, polled every step below

        cfg.cancel_every = 1
        t0 = time.perf_counter()
        uses_protos = get_method(method).align
        kw = dict(
            in_dim=prepared.in_dim,
            prototypes=control_prototypes(get_method(method), protos) if uses_protos else None,
            centroids=centroids,
        )
        first = train(
            cfg,
            prepared.inputs,
            labels[seen][prepared.kept],
            run_dir,
            trunk=prepared.trunk,
            cancel=cancel_after_first_epoch,
            **kw,
        )
        second = train(
            cfg,
            prepared.inputs,
            labels[seen][prepared.kept],
            run_dir,
            trunk=prepared.trunk,
            resume=True,
            **kw,
        )
        seconds = time.perf_counter() - t0
        emb, kept = image_embeddings(second.model, backbone, "full", test_paths)
        report[method] = {
            "first_call": [first.status, first.epochs_done],
            "resumed": [second.status, second.epochs_done, [h["epoch"] for h in second.history]],
            "train_seconds": round(seconds, 1),
            "images_per_s": round(len(train_paths) * 3 / seconds, 1),
            "metrics": evaluate_embeddings(emb, labels[~seen][kept]),
            "config": asdict(cfg),
        }
        print(
            json.dumps({method: report[method]["resumed"], "s": report[method]["train_seconds"]}), flush=True
        )
    (out / "full_smoke.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1])))
