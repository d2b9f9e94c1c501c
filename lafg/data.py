"""Image data sets: the shared ``classes.csv``/``images.csv`` layout or a class-per-folder tree; seen/unseen split.

Seen classes train the model; retrieval is evaluated on the unseen ones (each unseen image querying the others).
"""

from __future__ import annotations

import csv
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from lafg.errors import InputError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})


@dataclass
class ImageSet:
    """Images with class labels; ``seen`` lists the class indices used for training (the rest are unseen)."""

    root: Path  # folder the set was loaded from
    classes: list[str]  # class names, index = label
    items: list[tuple[Path, int]]  # (absolute image path, class index)
    seen: list[int]  # indices into ``classes`` of the seen (training) classes

    @property
    def unseen(self) -> list[int]:
        seen = set(self.seen)
        return [c for c in range(len(self.classes)) if c not in seen]

    def split(self, which: Literal["seen", "unseen"]) -> tuple[list[Path], np.ndarray, list[str]]:
        """``(paths, labels, class_names)`` of one side; labels re-indexed 0..C'-1 in class order (int64)."""
        if which not in ("seen", "unseen"):
            raise InputError(f"split must be 'seen' or 'unseen', got {which!r}")
        chosen = sorted(self.seen) if which == "seen" else self.unseen
        remap = {c: i for i, c in enumerate(chosen)}
        kept = [(p, remap[c]) for p, c in self.items if c in remap]
        labels = np.array([c for _, c in kept], dtype=np.int64)
        return [p for p, _ in kept], labels, [self.classes[c] for c in chosen]

    def __len__(self) -> int:
        return len(self.items)


def shared_data_root() -> Path | None:
    """``$LAFG_SHARED_DATA`` if set, else ``../shared/data`` beside the repository; None when absent."""
    env = os.environ.get("LAFG_SHARED_DATA")
    path = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return path if path.is_dir() else None


def load_image_set(root: str | Path, seen: list[str] | None = None) -> ImageSet:
    """Load a data set, detecting its layout.

    ``root/classes.csv`` + ``root/images.csv`` (``class_id,name,split`` / ``path,class_id,split``; seen = classes
    whose split is ``train``) take precedence over a class-per-folder tree (seen = the first half of the sorted
    class folders). An explicit ``seen`` list of class names overrides either default.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise InputError(f"image folder not found: {root}")
    if (root / "classes.csv").is_file() and (root / "images.csv").is_file():
        image_set = _load_csv_layout(root)
    else:
        image_set = _load_folder_layout(root)
    if not image_set.items:
        raise InputError(f"no images found under {root}")
    if seen is not None:
        image_set.seen = _resolve_seen(seen, image_set.classes, root)
    return image_set


def _resolve_seen(names: list[str], classes: list[str], root: Path) -> list[int]:
    index = {name: i for i, name in enumerate(classes)}
    unknown = [n for n in names if n not in index]
    if unknown:
        shown = ", ".join(repr(n) for n in unknown[:5])
        raise InputError(f"seen classes not in {root}: {shown}" + (" ..." if len(unknown) > 5 else ""))
    return sorted({index[n] for n in names})


def _read_csv(path: Path, required: set[str]) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = required - set(reader.fieldnames or [])
        if missing:
            raise InputError(f"{path} lacks column(s): {', '.join(sorted(missing))}")
        return list(reader)


def _load_csv_layout(root: Path) -> ImageSet:
    class_rows = _read_csv(root / "classes.csv", {"class_id", "name", "split"})
    image_rows = _read_csv(root / "images.csv", {"path", "class_id"})
    by_id = {row["class_id"].strip(): i for i, row in enumerate(class_rows)}
    if len(by_id) != len(class_rows):
        raise InputError(f"{root / 'classes.csv'} repeats a class_id")
    classes = [row["name"].strip() for row in class_rows]
    seen = [i for i, row in enumerate(class_rows) if row["split"].strip().lower() == "train"]
    items = []
    for row in image_rows:
        cid = row["class_id"].strip()
        if cid not in by_id:
            raise InputError(f"{root / 'images.csv'} names class_id {cid!r}, absent from classes.csv")
        items.append((root / row["path"].strip(), by_id[cid]))
    return ImageSet(root=root, classes=classes, items=items, seen=seen)


def class_name_from_folder(folder: str) -> str:
    """``"001.Black_footed_Albatross"`` → ``"Black footed Albatross"`` (numeric prefix and underscores dropped)."""
    name = re.sub(r"^\d+[._\- ]+", "", folder).replace("_", " ").strip()
    return re.sub(r"\s+", " ", name) or folder


def _load_folder_layout(root: Path) -> ImageSet:
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise InputError(f"{root} holds no class folders (and no classes.csv/images.csv)")
    names = [class_name_from_folder(p.name) for p in folders]
    if len(set(names)) != len(names):  # cleaning merged two folders: keep the folder names as they are
        names = [p.name for p in folders]
    items: list[tuple[Path, int]] = []
    for label, folder in enumerate(folders):
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                items.append((path, label))
            else:
                log.warning("skipping non-image file %s", path)
    seen = list(range(max(1, len(folders) // 2))) if len(folders) > 1 else [0]
    return ImageSet(root=root, classes=names, items=items, seen=seen)


def load_image(path: str | Path, max_pixels: int | None = None) -> Image.Image | None:
    """The image as upright 8-bit RGB (:func:`lafg.images.open_rgb`), or None (with a warning naming the file
    and the reason) when it is unreadable, not an image, too small or larger than ``max_pixels`` (default
    :data:`lafg.images.MAX_PIXELS`, checked from the header before decoding)."""
    from lafg.images import MAX_PIXELS, open_rgb

    try:
        return open_rgb(path, max_pixels if max_pixels is not None else MAX_PIXELS)
    except InputError as exc:
        log.warning("skipping %s: %s", path, exc)
    return None
