"""``lafg embed``: image features of a data set (or one shard of it) for a gallery index.

    lafg embed --data ../shared/data/cub100 --out galleries/cub
    lafg embed --data /big/set --out galleries/big --shard 3/16     # on 16 machines, i = 0..15
    lafg index build --features galleries/big                      # merges the shards, builds the index

Shards split the image list into contiguous, near-equal parts, so each machine embeds 1/n of the set; the
merge refuses a set with missing shards. Features are cached per image as everywhere else.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lafg.threads import add_threads_arg


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("embed", help="image features of a data set (or a shard) for an index", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="image set root (classes.csv/images.csv or class folders)")
    p.add_argument("--out", required=True, type=Path, help="folder for features-i-of-n.npy/.json")
    p.add_argument("--shard", default="0/1", help="i/n: embed only the i-th of n contiguous parts (0-based)")
    p.add_argument("--backbone", default="efficientnet_lite0")
    p.add_argument("--engine", default="auto", choices=["auto", "torch", "onnx"], help="auto: ONNX Runtime on CPU")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=2, help="image decoding processes")
    add_threads_arg(p)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from lafg.cli.common import tqdm_progress
    from lafg.retrieval.index import parse_shard, shard_rows, write_shard
    from lafg.store.cache import ArrayCache
    from lafg.threads import set_threads
    from lafg.vision.backbones import create_backbone
    from lafg.vision.data import load_image_set
    from lafg.vision.features import extract_features

    i, n = parse_shard(args.shard)
    set_threads(args.threads)
    image_set = load_image_set(args.data)
    rows = shard_rows(len(image_set.items), i, n)
    items = [image_set.items[r] for r in rows]
    backbone = create_backbone(args.backbone)
    with tqdm_progress(f"embed {i}/{n}") as progress:
        feats, kept = extract_features(
            backbone, [p for p, _ in items], backbone.eval_transform(), args.batch_size, cache=ArrayCache(name="features"),
            progress=progress, num_workers=args.workers, return_kept=True, engine=args.engine,
        )
    meta = {
        "model": backbone.name, "data": str(Path(args.data).resolve()), "classes": image_set.classes,
        "paths": [str(items[k][0]) for k in kept], "labels": [int(items[k][1]) for k in kept], "rows": [rows.start, rows.stop],
    }
    path = write_shard(args.out, i, n, feats, meta)
    print(f"lafg embed: {len(kept)} of {len(items)} images (shard {i}/{n}) -> {path}", file=sys.stderr)
    return 0
