"""``lafg eval``: unseen-class retrieval (Recall@1/2/4/8, MAP@R) of a checkpoint or of the pretrained backbone.

    lafg eval --data ../shared/data/cars196 --checkpoint runs/cars/checkpoint.pt --json cars.json
    lafg eval --data ../shared/data/cars196 --method pretrained

With descriptions (``--descriptions`` / ``--run``, or those recorded at training) and a checkpoint trained with
projectors, zero-shot accuracy by nearest prototype through the trained projectors is added.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lafg.ckpt_check import check_checkpoint_file
from lafg.cli.train import read_descriptions, read_seen
from lafg.errors import InputError


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("eval", help="unseen-class Recall@K and MAP@R", description=__doc__)
    p.add_argument("--data", required=True, help="image set root (either layout)")
    p.add_argument("--seen-classes", type=Path, help="file with one seen class name per line")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--checkpoint", type=Path, help="checkpoint.pt written by lafg train")
    which.add_argument("--method", choices=["pretrained"], help="evaluate the backbone's own features")
    p.add_argument("--backbone", default="efficientnet_lite0", help="backbone for --method pretrained")
    p.add_argument("--split", default="unseen", choices=["unseen", "seen"])
    src = p.add_mutually_exclusive_group()
    src.add_argument("--descriptions", type=Path, help="JSON descriptions, for zero-shot accuracy")
    src.add_argument("--run", type=Path, help="run folder holding descriptions.json")
    p.add_argument("--json", type=Path, help="also write the metrics to this JSON file")
    p.add_argument("--class-names", type=Path, metavar="FILE", help="names file for numeric class folders")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from lafg.backbones import create_backbone
    from lafg.cache import ArrayCache
    from lafg.data import load_image_set
    from lafg.evaluate import evaluate_embeddings, image_embeddings
    from lafg.train import load_model

    model = cfg = None
    meta = {"backbone": args.backbone, "mode": "pretrained", "n_top_stages": 1}
    if args.checkpoint is not None:
        if not args.checkpoint.is_file():
            raise InputError(f"checkpoint not found: {args.checkpoint}")
        meta_path = args.checkpoint.parent / "train_meta.json"
        if meta_path.is_file():
            meta.update(json.loads(meta_path.read_text()))
    backbone = create_backbone(meta["backbone"])
    if args.checkpoint is not None:
        check_checkpoint_file(args.checkpoint, backbone.feature_dim, meta["backbone"])  # before any image is read
        trunk = _trunk(backbone, meta["mode"], meta["n_top_stages"])
        model, cfg = load_model(args.checkpoint, trunk)
    seen = read_seen(args.seen_classes)
    image_set = load_image_set(args.data, seen, names_file=args.class_names)
    paths, labels, names = image_set.split(args.split)
    if not paths:
        raise InputError(f"the {args.split} split of {args.data} is empty")
    from lafg.cli.report import evaluated_line, extraction_bar, metrics_line

    with extraction_bar(f"eval {args.split}") as bar:
        emb, kept = image_embeddings(
            model, backbone, meta["mode"], paths, meta["n_top_stages"], ArrayCache(name="features"), bar
        )
    labels = labels[kept]
    _note_singletons(labels, names)
    metrics = evaluate_embeddings(emb, labels)
    if model is not None and cfg.reading in ("meankl", "symkl"):
        zs = _zero_shot(args, meta, model, emb, labels, image_set, names)
        if zs is not None:
            metrics["zero_shot"] = zs
    out = {"data": str(args.data), "split": args.split, "images": int(len(labels)), "classes": len(names)}
    out.update(
        {
            "checkpoint": str(args.checkpoint) if args.checkpoint else None,
            "method": cfg.method if cfg else "pretrained",
        }
    )
    out["metrics"] = metrics
    what = f"checkpoint {args.checkpoint}" if args.checkpoint else f"backbone {meta['backbone']}"
    print(evaluated_line(what, out["method"], meta["mode"], str(args.data), args.split, out["images"], len(names)))
    print(metrics_line(metrics))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


def _note_singletons(labels, names) -> None:
    """Classes with one readable image have nothing to retrieve: excluded from R@K, and the user is told."""
    from lafg.metrics import singleton_classes

    single = singleton_classes(labels)
    if single and len(single) == len(set(labels.tolist())):
        raise InputError("every class of this split has a single image: Recall@K is undefined (it needs 2+ images per class)")
    if single:
        shown = ", ".join(names[i] for i in single[:5]) + (" …" if len(single) > 5 else "")
        print(f"lafg eval: {len(single)} class(es) with a single image excluded from R@K and MAP@R: {shown}", file=sys.stderr)


def _trunk(backbone, mode: str, n_top_stages: int):
    if mode == "head":
        return None
    if mode == "partial":
        return backbone.split_at(n_top_stages)[1]
    return backbone


def _zero_shot(args, meta, model, emb, labels, image_set, names) -> float | None:
    from lafg.cache import ArrayCache
    from lafg.encode import create_text_encoder
    from lafg.evaluate import projected
    from lafg.methods import build_language_side
    from lafg.metrics import zero_shot_accuracy
    from lafg.prototypes import PrototypeConfig
    from lafg.vocabulary import VocabularyConfig

    recorded = Path(meta["descriptions"]) if meta.get("descriptions") else None
    descriptions = read_descriptions(args.descriptions, args.run)
    if descriptions is None and recorded is not None:
        descriptions = read_descriptions(
            recorded if recorded.suffix == ".json" else None, None if recorded.suffix == ".json" else recorded
        )
    if descriptions is None:
        print("lafg eval: no descriptions, zero-shot accuracy skipped", file=sys.stderr)
        return None
    seen_names = meta.get("seen_classes") or image_set.split("seen")[2]
    from lafg.datacheck import match_descriptions

    descriptions = match_descriptions(seen_names, names, descriptions).descriptions  # data-set names as keys
    print("lafg eval: building the language side for zero-shot accuracy", file=sys.stderr)
    side = build_language_side(
        seen_names,
        names,
        descriptions,
        create_text_encoder("minilm"),
        VocabularyConfig(n_atoms=meta.get("n_atoms", 128)),
        PrototypeConfig(top_k=meta.get("top_k", 5)),
        variants=("lafg",),
        cache=ArrayCache(name="text"),
    )
    v, t = projected(model, emb, side.eval["lafg"])
    return zero_shot_accuracy(v, labels, t)
