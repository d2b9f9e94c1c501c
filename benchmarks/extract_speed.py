"""Feature-extraction throughput: ``extract_features`` (decode + transform + forward) vs a bare batched forward.

Both on the same ~256 cars196 images with the same backbone in one run, so the gap is the data-loading cost.
Writes ``benchmarks/results/extract_speed.{json,md}``.

    .venv/bin/python benchmarks/extract_speed.py [--n 256] [--batch-size 64] [--threads 2] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from lafg.vision.backbones import create_backbone
from lafg.vision.data import load_image, load_image_set, shared_data_root
from lafg.vision.features import extract_features

RESULTS = Path(__file__).resolve().parent / "results"


def bare_forward(backbone, images: torch.Tensor, batch_size: int) -> float:
    """Seconds for a batched forward over preloaded tensors."""
    start = time.perf_counter()
    with torch.inference_mode():
        for s in range(0, len(images), batch_size):
            backbone(images[s : s + batch_size])
    return time.perf_counter() - start


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", default="efficientnet_lite0")
    ap.add_argument("--data", default=None, help="image set folder (default: ../shared/data/cars196)")
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    root = Path(args.data) if args.data else (shared_data_root() or Path("missing")) / "cars196"
    image_set = load_image_set(root)
    step = max(1, len(image_set.items) // args.n)  # spread over classes
    paths = [p for p, _ in image_set.items[::step][: args.n]]
    backbone = create_backbone(args.backbone)
    transform = backbone.eval_transform()
    bare_cl = create_backbone(args.backbone, channels_last=False)

    load_before = os.getloadavg()[0]
    # Warm up (allocator, kernels, page cache of the files) with one batch each way.
    extract_features(backbone, paths[: args.batch_size], transform, batch_size=args.batch_size, num_workers=0)

    start = time.perf_counter()
    feats = extract_features(backbone, paths, transform, batch_size=args.batch_size, num_workers=args.workers)
    t_extract = time.perf_counter() - start

    start = time.perf_counter()
    images = torch.stack([transform(load_image(p)) for p in paths])
    t_decode = time.perf_counter() - start

    bare_forward(backbone, images[: args.batch_size], args.batch_size)
    t_bare = bare_forward(backbone, images, args.batch_size)
    bare_forward(bare_cl, images[: args.batch_size], args.batch_size)
    t_bare_contig = bare_forward(bare_cl, images, args.batch_size)
    with torch.inference_mode():
        check = backbone(images[:8]).numpy()
    max_diff = float(np.abs(check - feats[:8]).max())

    load_after = os.getloadavg()[0]
    n = len(paths)
    rows = [
        ("extract_features (decode + transform + forward)", t_extract, f"{args.workers} loader workers"),
        ("decode + transform only (1 process)", t_decode, "PIL + torchvision"),
        ("bare forward, preloaded tensors, channels_last", t_bare, "the model alone"),
        ("bare forward, preloaded tensors, contiguous (NCHW)", t_bare_contig, "channels_last=False"),
    ]
    result = {
        "backbone": backbone.name,
        "data": str(root.name),
        "images": n,
        "batch_size": args.batch_size,
        "torch_threads": args.threads,
        "loader_workers": args.workers,
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "feature_dim": int(feats.shape[1]),
        "max_abs_diff_extract_vs_bare": max_diff,
        "load_average_1min_before_after": [round(load_before, 2), round(load_after, 2)],
        "cpu_count": os.cpu_count(),
        "rows": [
            {"what": w, "seconds": round(t, 3), "images_per_s": round(n / t, 1), "note": note}
            for w, t, note in rows
        ],
        "extract_over_bare": round(t_extract / t_bare, 2),
        "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    lines = [
        f"# Feature extraction speed: {backbone.name}, {n} {root.name} images",
        "",
        f"batch {args.batch_size}, {args.threads} torch threads, {args.workers} loader workers, torch {torch.__version__}, "
        f"CPU only ({os.cpu_count()} cores, 1-min load average {load_before:.1f} before / {load_after:.1f} after: "
        f"the machine is shared with other jobs, so treat absolute numbers as indicative), {result['when']}.",
        "",
        "| what | seconds | images/s | note |",
        "|---|---:|---:|---|",
        *[
            f"| {r['what']} | {r['seconds']:.2f} | {r['images_per_s']:.1f} | {r['note']} |"
            for r in result["rows"]
        ],
        "",
        f"extract_features / bare forward time: {result['extract_over_bare']:.2f}x; "
        f"max |extract - bare| on 8 images: {max_diff:.2e}",
        "",
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "extract_speed.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (RESULTS / "extract_speed.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
