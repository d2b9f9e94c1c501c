"""Build the tiny embedded demo in ``assets/demo`` from ``../shared/data`` (reproducible, offline).

20 CUB-200-2011 classes (14 seen + 6 unseen) × 6 images, downscaled JPEGs in the ``classes.csv``/``images.csv``
layout, plus visual descriptions written for this project (``scripts/demo_text.py``; no description set without
a licence is copied). The first 6 images of each class (sorted by path) are taken, so the output only depends
on the source data. Enough seen classes for a read-out fitted on them to mean something (the 10-class demo
fitted it on 5), few enough images to keep the repository small.

    python scripts/demo_assets.py [--src ../shared/data] [--out assets/demo]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
from pathlib import Path

from PIL import Image

try:
    from demo_text import DESCRIPTIONS
except ImportError:  # imported as scripts.demo_assets
    from scripts.demo_text import DESCRIPTIONS

# Visually distinctive species; official CUB ids (split: ids <= 100 are seen, > 100 unseen).
# The first ten are the earlier demo's (its tests and walk-throughs keep working); the rest add seen classes
# with look-alikes to tell apart (two blackbirds, two buntings, two grosbeaks, two ducks, orange/red songbirds).
SEEN_IDS = [10, 12, 14, 16, 42, 47, 55, 57, 68, 73, 79, 87, 89, 95]
UNSEEN_IDS = [101, 109, 136, 139, 186, 191]  # White Pelican, American Redstart, Barn Swallow, Scarlet Tanager,
# Cedar Waxwing, Red-headed Woodpecker
IMAGES_PER_CLASS = 6
SIDE = 160  # longest side in pixels
QUALITY = 82
MAX_BYTES = 2 * 1024 * 1024  # the whole demo folder

README = """# Embedded demo: {n_classes} CUB-200-2011 classes × {n} images

Built by `python scripts/demo_assets.py` from `../shared/data/cub100` (first {n} images of each class,
downscaled to {side} px JPEGs; {n_images} images, {kib} KiB in all). Seen (training) classes ({n_seen}): {seen}.
Unseen (test) classes ({n_unseen}): {unseen}.

## Descriptions

`descriptions.json` holds visual descriptions of these species **written for this project** as its own text
(source: `scripts/demo_text.py`; composed during development with an AI coding assistant from each species'
well-known field marks, not copied from any published set, not reviewed by an ornithologist), released under
the project's licence (Apache-2.0). They say what a photo can show (plumage, bill, shape, posture, and the female or juvenile where
it looks different). No third-party description set is copied: the GPT-4 sets in `../shared/data/descriptors/`
state no licence, and the MIT WaffleCLIP phrases were not used because several are wrong for these species
(e.g. a yellow beak and red eyes for the Red-winged Blackbird, a black head for the Indigo Bunting).

## Source and terms

Images from the Caltech-UCSD Birds-200-2011 data set (images originally from Flickr):

> C. Wah, S. Branson, P. Welinder, P. Perona, S. Belongie. *The Caltech-UCSD Birds-200-2011 Dataset.*
> Computation & Neural Systems Technical Report CNS-TR-2011-001, California Institute of Technology, 2011.

The images are provided for **non-commercial research and educational use only**; the copyright of each image
stays with its photographer. Do not redistribute them for commercial purposes.
"""


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def downscale(src: Path, dst: Path) -> None:
    with Image.open(src) as im:
        im = im.convert("RGB")
        im.thumbnail((SIDE, SIDE), Image.Resampling.LANCZOS)
        dst.parent.mkdir(parents=True, exist_ok=True)
        im.save(dst, "JPEG", quality=QUALITY, optimize=True)


def build(src_root: Path, out: Path) -> dict:
    """Write the demo into ``out`` (replacing it); returns a summary dict."""
    cub = src_root / "cub100"
    wanted = set(SEEN_IDS + UNSEEN_IDS)
    classes = [c for c in read_csv(cub / "classes.csv") if int(c["class_id"]) in wanted]
    images = read_csv(cub / "images.csv")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    image_rows = []
    for cls in classes:
        paths = sorted(r["path"] for r in images if r["class_id"] == cls["class_id"])[:IMAGES_PER_CLASS]
        for rel in paths:
            downscale(cub / rel, out / rel)
            image_rows.append([rel, cls["class_id"], cls["split"]])
    write_csv(out / "classes.csv", ["class_id", "name", "split"], [[c["class_id"], c["name"], c["split"]] for c in classes])
    write_csv(out / "images.csv", ["path", "class_id", "split"], image_rows)
    desc = {c["name"]: DESCRIPTIONS[c["name"]] for c in classes}
    (out / "descriptions.json").write_text(json.dumps(desc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    names = {int(c["class_id"]): c["name"] for c in classes}
    image_bytes = sum(p.stat().st_size for p in (out / "images").rglob("*.jpg"))
    (out / "README.md").write_text(
        README.format(
            n=IMAGES_PER_CLASS,
            n_classes=len(classes),
            n_images=len(image_rows),
            kib=round(image_bytes / 1024),
            side=SIDE,
            n_seen=len(SEEN_IDS),
            n_unseen=len(UNSEEN_IDS),
            seen=", ".join(names[i] for i in SEEN_IDS),
            unseen=", ".join(names[i] for i in UNSEEN_IDS),
        ),
        encoding="utf-8",
    )
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {"classes": len(classes), "images": len(image_rows), "bytes": size}


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=root.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=root / "assets" / "demo")
    args = parser.parse_args()
    summary = build(args.src, args.out)
    if summary["bytes"] > MAX_BYTES:
        raise SystemExit(f"demo too large: {summary['bytes']} bytes > {MAX_BYTES}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
