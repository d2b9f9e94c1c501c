"""What ``lafg train`` and ``lafg eval`` say at the end: unseen-class metrics, and which model met which data."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lafg.vision.data import ImageSet


def metrics_line(metrics: dict[str, float]) -> str:
    """``R@1=12.34 R@2=... MAP@R=5.67`` (percent)."""
    return " ".join(f"{k}={v:.2f}" for k, v in metrics.items())


def evaluated_line(what: str, method: str, mode: str, data: str, split: str, images: int, classes: int) -> str:
    """One line naming what was evaluated, on what."""
    return f"evaluated {what} (method {method}, mode {mode}) on {data}, {split} split: {images} images of {classes} classes"


def extraction_bar(what: str, show: bool = True):
    """The progress bar of an image pass (features, activations or a fine-tuned backbone)."""
    from lafg.cli.progress import ProgressBar

    return ProgressBar(what, unit="images", enabled=show)


def unseen_metrics_after_training(
    model, backbone, mode: str, n_top_stages: int, image_set: ImageSet, out_dir: Path, cache=None
) -> dict[str, float] | None:
    """Unseen-class R@1..8 / MAP@R of a freshly trained model: printed, and written to ``out_dir/eval_unseen.json``.

    None (with a line saying why) when the data has no unseen classes or too few images to rank.
    """
    from lafg.retrieval.evaluate import evaluate_embeddings, image_embeddings

    paths, labels, names = image_set.split("unseen")
    if len(paths) < 2 or not names:
        print("lafg train: no unseen images to evaluate (see `lafg data check`)", file=sys.stderr)
        return None
    with extraction_bar("eval unseen") as bar:
        emb, kept = image_embeddings(model, backbone, mode, paths, n_top_stages, cache, bar)
    labels = labels[kept]
    metrics = evaluate_embeddings(emb, labels)
    record = {"split": "unseen", "images": int(len(labels)), "classes": len(names), "metrics": metrics}
    (Path(out_dir) / "eval_unseen.json").write_text(json.dumps(record, indent=2))
    print(
        f"lafg train: unseen R@1={metrics['R@1']:.2f} MAP@R={metrics['MAP@R']:.2f} "
        f"({len(labels)} images of {len(names)} unseen classes; all metrics in {Path(out_dir) / 'eval_unseen.json'})"
    )
    return metrics
