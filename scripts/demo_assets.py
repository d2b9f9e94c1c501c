"""Build the tiny embedded demo in ``assets/demo`` from ``../shared/data`` (reproducible, offline).

10 CUB-200-2011 classes (5 seen + 5 unseen) × 8 images, downscaled JPEGs in the ``classes.csv``/``images.csv``
layout, plus their GPT-4 descriptions. The first 8 images of each class (sorted by path) are taken, so the
output only depends on the source data.

    python scripts/demo_assets.py [--src ../shared/data] [--out assets/demo]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
from pathlib import Path

from PIL import Image

# Visually distinctive species; official CUB ids (split: ids <= 100 are seen, > 100 unseen).
SEEN_IDS = [10, 14, 47, 73, 87]  # Red-winged Blackbird, Indigo Bunting, American Goldfinch, Blue Jay, Mallard
UNSEEN_IDS = [101, 136, 139, 186, 191]  # White Pelican, Barn Swallow, Scarlet Tanager, Cedar Waxwing, Red-headed Woodpecker
IMAGES_PER_CLASS = 8
SIDE = 160  # longest side in pixels
QUALITY = 82
DESCRIPTIONS = "descriptors/cub200_gpt4_adaptclipzs.json"

README = """# Embedded demo: 10 CUB-200-2011 classes × 8 images

Built by `python scripts/demo_assets.py` from `../shared/data/cub100` (first {n} images of each class,
downscaled to {side} px JPEGs). Seen (training) classes: {seen}. Unseen (test) classes: {unseen}.

`descriptions.json` holds the GPT-4 class descriptions of these classes from the AdaptCLIPZS repository
(`cub200_gpt4_adaptclipzs.json`; no licence stated, used for evaluation/demonstration only).

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
    all_desc = json.loads((src_root / DESCRIPTIONS).read_text(encoding="utf-8"))
    desc = {c["name"]: all_desc[c["name"]] for c in classes}
    (out / "descriptions.json").write_text(json.dumps(desc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    names = {int(c["class_id"]): c["name"] for c in classes}
    (out / "README.md").write_text(
        README.format(
            n=IMAGES_PER_CLASS,
            side=SIDE,
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
    if summary["bytes"] > 3 * 1024 * 1024:
        raise SystemExit(f"demo too large: {summary['bytes']} bytes > 3 MB")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
