"""``lafg eval``: unseen-class retrieval (Recall@1/2/4/8, MAP@R) of a checkpoint or of the pretrained backbone.

    lafg eval --data ../shared/data/cars196 --checkpoint runs/cars/checkpoint.pt --json cars.json
    lafg eval --data ../shared/data/cars196 --method pretrained

The checkpoint alone says how to rebuild the model (:func:`lafg.pipeline.load_run`: backbone, trunk split, text
encoder, vocabulary); no side file is read. For a checkpoint whose projectors were trained (meankl / symkl),
zero-shot accuracy is added: each image's nearest class prototype through the trained projectors, the unseen
classes' prototypes built from their names and the seen vocabulary stored in the checkpoint.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lafg.cli.train import read_seen
from lafg.errors import InputError
from lafg.training.checkpoint import check_checkpoint_file


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("eval", help="unseen-class Recall@K and MAP@R", description=__doc__)
    p.add_argument("--data", required=True, help="image set root (either layout)")
    p.add_argument("--seen-classes", type=Path, help="file with one seen class name per line")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--checkpoint", type=Path, help="checkpoint.pt written by lafg train")
    which.add_argument("--method", choices=["pretrained"], help="evaluate the backbone's own features")
    p.add_argument("--backbone", default="efficientnet_lite0", help="backbone for --method pretrained")
    p.add_argument("--split", default="unseen", choices=["unseen", "seen"])
    p.add_argument("--json", type=Path, help="also write the metrics to this JSON file")
    p.add_argument("--class-names", type=Path, metavar="FILE", help="names file for numeric class folders")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from lafg.cli.report import evaluated_line, extraction_bar, metrics_line
    from lafg.store.cache import ArrayCache
    from lafg.vision.data import load_image_set

    seen = read_seen(args.seen_classes)
    trained = None
    if args.checkpoint is not None:
        from lafg.pipeline import load_run

        state = check_checkpoint_file(args.checkpoint)  # one line for a missing, damaged or foreign file
        if "run" not in state:  # an older checkpoint: say whether it even fits this backbone, then what it lacks
            from lafg.vision.backbones import create_backbone

            check_checkpoint_file(args.checkpoint, create_backbone(args.backbone).feature_dim, args.backbone)
        trained = load_run(args.checkpoint)  # the checkpoint alone: backbone, trunk split, encoder, vocabulary
        if seen is None and args.split == "unseen":
            seen = trained.spec.seen_classes  # the run's own seen classes: the split it trained on
    image_set = load_image_set(args.data, seen, names_file=args.class_names)
    paths, labels, names = image_set.split(args.split)
    if not paths:
        raise InputError(f"the {args.split} split of {args.data} is empty")
    cache = ArrayCache(name="features")
    with extraction_bar(f"eval {args.split}") as bar:
        if trained is not None:
            metrics, kept = trained.evaluate(paths, labels, names, cache, bar, check=_note_singletons)
            mode = trained.spec.mode
        else:
            from lafg.pipeline import evaluate_backbone
            from lafg.vision.backbones import create_backbone

            metrics, kept = evaluate_backbone(create_backbone(args.backbone), paths, labels, cache, bar)
            _note_singletons(labels[kept], names)
            mode = "pretrained"
    out = {"data": str(args.data), "split": args.split, "images": int(len(kept)), "classes": len(names)}
    out.update(
        {
            "checkpoint": str(args.checkpoint) if args.checkpoint else None,
            "method": trained.spec.method if trained else "pretrained",
        }
    )
    out["metrics"] = metrics
    what = f"checkpoint {args.checkpoint}" if args.checkpoint else f"backbone {args.backbone}"
    print(evaluated_line(what, out["method"], mode, str(args.data), args.split, out["images"], len(names)))
    print(metrics_line(metrics))
    if args.json:
        from lafg.store.atomic import write_json

        write_json(args.json, out)
    return 0


def _note_singletons(labels, names) -> None:
    """Classes with one readable image have nothing to retrieve: excluded from R@K, and the user is told."""
    from lafg.retrieval.metrics import singleton_classes

    single = singleton_classes(labels)
    if single and len(single) == len(set(labels.tolist())):
        raise InputError("every class of this split has a single image: Recall@K is undefined (it needs 2+ images per class)")
    if single:
        shown = ", ".join(names[i] for i in single[:5]) + (" …" if len(single) > 5 else "")
        print(f"lafg eval: {len(single)} class(es) with a single image excluded from R@K and MAP@R: {shown}", file=sys.stderr)
