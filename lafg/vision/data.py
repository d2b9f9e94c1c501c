"""Image data sets: the shared ``classes.csv``/``images.csv`` layout or a class-per-folder tree; seen/unseen split.

Seen classes train the model; retrieval is evaluated on the unseen ones (each unseen image querying the others).
Class folders sort naturally (``1, 2, …, 10``, not ``1, 10, 100``); numeric folders (``1/ 2/ … 102/``, the Oxford
layout) get their names from a names file (JSON or CSV, id → name). docs/OWN_DATA.md documents
both layouts with a worked example; ``lafg data check DIR`` reports what was found.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
from dataclasses import dataclass, field
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
    layout: str = "folders"  # "csv" (classes.csv + images.csv) or "folders" (one folder per class)
    skipped: list[Path] = field(default_factory=list)  # files under class folders that are not images

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


def shared_data_path() -> Path:
    """Where the shared data sets live: ``$LAFG_SHARED_DATA`` if set, else ``../shared/data`` beside the repository."""
    env = os.environ.get("LAFG_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "data"


def shared_data_root() -> Path | None:
    """:func:`shared_data_path`, or None when it is absent."""
    path = shared_data_path()
    return path if path.is_dir() else None


def load_image_set(
    root: str | Path, seen: list[str] | None = None, names_file: str | Path | None = None
) -> ImageSet:
    """Load a data set, detecting its layout.

    ``root/classes.csv`` + ``root/images.csv`` (``class_id,name,split`` / ``path,class_id,split``; seen = classes
    whose split is ``train``) take precedence over a class-per-folder tree (seen = the first half of the class
    folders in natural order). An explicit ``seen`` list of class names overrides either default.

    Folder names become class names (``001.Black_footed_Albatross`` → ``Black footed Albatross``) unless a names
    file maps them: ``names_file``, else ``root/names.json`` or ``root/names.csv`` when present (see
    :func:`read_names_file`).
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise InputError(f"image folder not found: {root}")
    if (root / "classes.csv").is_file() and (root / "images.csv").is_file():
        if names_file is not None:
            raise InputError(f"{root} names its classes in classes.csv: a names file applies to class folders only")
        image_set = _load_csv_layout(root)
    else:
        image_set = _load_folder_layout(root, names_file)
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
    return ImageSet(root=root, classes=classes, items=items, seen=seen, layout="csv")


def class_name_from_folder(folder: str) -> str:
    """``"001.Black_footed_Albatross"`` → ``"Black footed Albatross"`` (numeric prefix and underscores dropped)."""
    name = re.sub(r"^\d+[._\- ]+", "", folder).replace("_", " ").strip()
    return re.sub(r"\s+", " ", name) or folder


def natural_key(text: str) -> tuple:
    """Sort key reading digit runs as numbers: ``2`` < ``10`` < ``100``, ``img9`` < ``img10``."""
    parts = re.split(r"(\d+)", text)
    return tuple((0, int(p), p) if p.isdigit() else (1, 0, p) for p in parts if p)


NAMES_FILES = ("names.json", "names.csv")  # looked for in a class-folder root when no names file is given


def read_names_file(path: str | Path, folders: list[str]) -> dict[str, str]:
    """Folder name → class name from a names file.

    - JSON object ``{"1": "pink primrose", "2": "hard-leaved pocket orchid", ...}`` (id → name), or a JSON list
      / a ``.txt`` file with one name per line, naming the folders in their natural order;
    - CSV with two columns ``id,name`` (a header row such as ``class_id,name`` is skipped).

    Ids match folder names exactly or as numbers (``"7"`` names folder ``007``). Every folder must be named.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"names file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (UnicodeDecodeError, OSError) as exc:
        raise InputError(f"names file cannot be read as UTF-8 text: {path}") from exc
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"names file is not valid JSON: {path} ({exc.msg} at line {exc.lineno})") from exc
    elif suffix == ".csv":
        rows = [r for r in csv.reader(text.splitlines()) if r and any(c.strip() for c in r)]
        if any(len(r) < 2 for r in rows):
            raise InputError(f"names file {path}: every row needs two columns, id and name")
        if rows and rows[0][0].strip().lower() in ("id", "class_id", "folder", "label", "class"):
            rows = rows[1:]
        data = {r[0].strip(): r[1].strip() for r in rows}
    elif suffix == ".txt":
        data = [line.strip() for line in text.splitlines() if line.strip()]
    else:
        raise InputError(f"names file must be .json, .csv or .txt: {path}")
    if isinstance(data, list):
        if len(data) != len(folders):
            raise InputError(f"names file {path} lists {len(data)} names for {len(folders)} class folders")
        data = dict(zip(folders, data, strict=True))
    if not isinstance(data, dict) or not all(isinstance(v, str) and v.strip() for v in data.values()):
        raise InputError(f"names file {path}: expected {{id: name}} with non-empty names")
    by_number = {int(k): v for k, v in data.items() if str(k).strip().isdigit()}
    names: dict[str, str] = {}
    for folder in folders:
        name = data.get(folder)
        if name is None and folder.isdigit():
            name = by_number.get(int(folder))
        if name is not None:
            names[folder] = " ".join(str(name).split())
    missing = [f for f in folders if f not in names]
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise InputError(f"names file {path} names no class for folder(s) {shown}")
    return names


NOT_CLASSES = frozenset({"__MACOSX"})  # folders archivers add beside the real ones (macOS: resource forks)


def _class_folders(root: Path) -> list[Path]:
    return sorted(
        (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in NOT_CLASSES),
        key=lambda p: natural_key(p.name),
    )


def unwrap_single_folder(root: str | Path, depth: int = 3) -> Path:
    """Where a class-folder data set really starts: ``root``, or its only sub-folder when ``root`` holds nothing
    else and that sub-folder holds the class folders (a zip made with a file manager's *compress folder*:
    ``myset.zip`` → ``myset/<class folders>``). A single folder of images is left alone: it is one class."""
    root = Path(root)
    for _ in range(depth):
        if (root / "classes.csv").is_file() or any(p.is_file() and not p.name.startswith(".") for p in root.iterdir()):
            return root
        inner = _class_folders(root)
        if len(inner) != 1 or not (_class_folders(inner[0]) or (inner[0] / "classes.csv").is_file()):
            return root
        root = inner[0]
    return root


def write_seen_split(image_set: ImageSet, seen: list[str], root: str | Path | None = None) -> Path:
    """Make ``seen`` (class names) the seen classes of a set by writing its ``classes.csv`` + ``images.csv``
    (paths relative to ``root``, default the set's root; the CSV layout takes precedence over class folders,
    so every reader of the set sees the same split). Returns the root."""
    from lafg.store.atomic import atomic_write_text

    root = Path(root or image_set.root)
    chosen = set(_resolve_seen(seen, image_set.classes, root))
    if not chosen or len(chosen) == len(image_set.classes):
        raise InputError("choose at least one seen class and leave at least one unseen")
    split = ["train" if i in chosen else "test" for i in range(len(image_set.classes))]

    def rows(header: list[str], body: list[list]) -> str:
        import io

        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows([header, *body])
        return out.getvalue()

    classes = rows(["class_id", "name", "split"], [[i, name, split[i]] for i, name in enumerate(image_set.classes)])
    images = rows(["path", "class_id", "split"], [[Path(p).relative_to(root).as_posix(), c, split[c]] for p, c in image_set.items])
    atomic_write_text(root / "images.csv", images)  # images first: classes.csv alone is not a CSV layout
    atomic_write_text(root / "classes.csv", classes)
    return root


def _load_folder_layout(root: Path, names_file: str | Path | None = None) -> ImageSet:
    folders = _class_folders(root)
    if not folders:
        raise InputError(f"{root} holds no class folders (and no classes.csv/images.csv)")
    if names_file is None:
        names_file = next((root / n for n in NAMES_FILES if (root / n).is_file()), None)
    if names_file is not None:
        mapping = read_names_file(names_file, [p.name for p in folders])
        names = [mapping[p.name] for p in folders]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise InputError(f"names file {names_file} gives several folders the name(s) {', '.join(repeated)}")
    else:
        names = [class_name_from_folder(p.name) for p in folders]
        if len(set(names)) != len(names):  # cleaning merged two folders: keep the folder names as they are
            names = [p.name for p in folders]
    items: list[tuple[Path, int]] = []
    skipped: list[Path] = []
    for label, folder in enumerate(folders):
        files = (p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
        for path in sorted(files, key=lambda p: natural_key(str(p.relative_to(folder)))):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                items.append((path, label))
            else:
                skipped.append(path)
                log.warning("skipping non-image file %s", path)
    seen = list(range(max(1, len(folders) // 2))) if len(folders) > 1 else [0]
    return ImageSet(root=root, classes=names, items=items, seen=seen, layout="folders", skipped=skipped)


def load_image(path: str | Path, max_pixels: int | None = None) -> Image.Image | None:
    """The image as upright 8-bit RGB (:func:`lafg.vision.images.open_rgb`), or None (with a warning naming the file
    and the reason) when it is unreadable, not an image, too small or larger than ``max_pixels`` (default
    :data:`lafg.vision.images.MAX_PIXELS`, checked from the header before decoding)."""
    from lafg.vision.images import MAX_PIXELS, open_rgb

    try:
        return open_rgb(path, max_pixels if max_pixels is not None else MAX_PIXELS)
    except InputError as exc:
        log.warning("skipping %s: %s", path, exc)
    return None
