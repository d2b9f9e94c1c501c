"""The data-set registry: the embedded demo, the shared sets, and loading a set without leaving its folder."""

from __future__ import annotations

from pathlib import Path

from lafg.errors import InputError
from lafg.language.describe import load_descriptions_json
from lafg.vision.data import shared_data_path

from .limits import Limits

ROOT = Path(__file__).resolve().parents[2]
DEMO_DIR = ROOT / "assets" / "demo"
SHARED_DATA = shared_data_path()
DEMO_LABEL = "demo (20 CUB birds, embedded)"  # assets/demo: 14 seen + 6 unseen classes, 6 images each


def load_dataset(folder: str | Path):
    """:func:`lafg.vision.data.load_image_set` (either layout; seen = ``train`` classes or the first half)."""
    from lafg.vision.data import load_image_set

    return load_image_set(folder)


def available_datasets(extra: dict[str, Path] | None = None) -> dict[str, Path]:
    """Data set label → folder: the embedded demo, the sets in ``../shared/data`` that exist, extra ones."""
    out = {DEMO_LABEL: DEMO_DIR}
    for sub in ("cub100", "cars196"):
        if (SHARED_DATA / sub / "classes.csv").is_file():
            out[f"{sub} (../shared/data)"] = SHARED_DATA / sub
    out.update(extra or {})
    return out


def shared_descriptions(folder: Path) -> dict[str, list[str]]:
    """Descriptions that come with a data set: ``descriptions.json`` beside it, or the shared GPT-4 file."""
    own = folder / "descriptions.json"
    if own.is_file():
        return load_descriptions_json(own, show_as=own.name, **Limits().json_limits())
    for prefix in ("cub200", "cars196"):
        if folder.name.startswith(prefix[:3]):
            path = SHARED_DATA / "descriptors" / f"{prefix}_gpt4_adaptclipzs.json"
            if path.is_file():
                return load_descriptions_json(path, show_as=path.name, **Limits().json_limits())
    return {}


def within(path: str | Path, root: str | Path) -> bool:
    """True when ``path`` resolves (symlinks followed) to ``root`` or somewhere inside it."""
    try:
        real, base = Path(path).resolve(), Path(root).resolve()
    except (OSError, RuntimeError):
        return False
    return real == base or base in real.parents


def load_dataset_inside(folder: str | Path, root: str | Path | None = None):
    """:func:`load_dataset`, refusing a set whose ``images.csv`` (or a link) points outside ``root`` (default:
    the set's own folder): an uploaded list must not reach other files of the server."""
    image_set = load_dataset(folder)
    root = Path(root or folder)
    outside = [p for p, _ in image_set.items if not within(p, root)]
    if outside:
        raise InputError(f"{len(outside)} image path(s) of this data set lie outside its folder (e.g. {Path(outside[0]).name!r}); paths in images.csv must be relative and stay inside the set")
    return image_set
