"""What the app needs from the library, behind one injectable :class:`Services` object.

Every heavy piece (text encoder, image backbone, LLM, trainer) is created lazily, once per process, behind a
lock, and shared by all sessions. Tests pass small fakes instead (see ``tests/app/fakes.py``). The functions
here only *wire* library stages together (load → encode → vocabulary → prototypes → train → index → explain);
the method itself lives in the library modules they call.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from lafg.cache import ArrayCache, JsonCache, default_cache_dir
from lafg.errors import InputError
from lafg.jobs import JobRegistry

ROOT = Path(__file__).resolve().parents[2]
DEMO_DIR = ROOT / "assets" / "demo"
SHARED_DATA = ROOT.parent / "shared" / "data"
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif"}
MAX_UPLOAD_BYTES = 200 * 1024 * 1024  # zip uploads larger than this are refused
QUERIES_AT_ONCE = 8  # concurrent searches/explanations per endpoint (faiss and ONNX are thread-safe); jobs queue
GALLERY_MEMORY = int(os.environ.get("LAFG_GALLERY_MEMORY_MB", "4096")) * 2**20  # cached galleries' RAM cap
Progress = Callable[[int, int, str], None]


def limit_threads(n_cpu: int | None = None) -> None:
    """Leave one core to the web server: torch and ONNX Runtime use n−1 threads (at least 1, through
    :mod:`lafg.threads`), faiss 1 (concurrent queries each search on their own thread)."""
    from lafg.threads import available_cpus, set_threads

    set_threads(max(1, (n_cpu or available_cpus()) - 1))
    try:
        import faiss

        faiss.omp_set_num_threads(1)
    except ImportError:
        pass


# ------------------------------------------------------------------------------------------- data sets
def load_dataset(folder: str | Path):
    """:func:`lafg.data.load_image_set` (either layout; seen = ``train`` classes or the first half)."""
    from lafg.data import load_image_set

    return load_image_set(folder)


def available_datasets(extra: dict[str, Path] | None = None) -> dict[str, Path]:
    """Data set label → folder: the embedded demo, the sets in ``../shared/data`` that exist, extra ones."""
    out = {"demo (10 CUB birds, embedded)": DEMO_DIR}
    for sub in ("cub100", "cars196"):
        if (SHARED_DATA / sub / "classes.csv").is_file():
            out[f"{sub} (../shared/data)"] = SHARED_DATA / sub
    out.update(extra or {})
    return out


def shared_descriptions(folder: Path) -> dict[str, list[str]]:
    """Descriptions that come with a data set: ``descriptions.json`` beside it, or the shared GPT-4 file."""
    own = folder / "descriptions.json"
    if own.is_file():
        return read_descriptions_json(own)
    for prefix in ("cub200", "cars196"):
        if folder.name.startswith(prefix[:3]):
            path = SHARED_DATA / "descriptors" / f"{prefix}_gpt4_adaptclipzs.json"
            if path.is_file():
                return read_descriptions_json(path)
    return {}


def read_descriptions_json(path: str | Path) -> dict[str, list[str]]:
    """``{class: [sentence, ...]}`` from a JSON file, validated (never unpickled)."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not a descriptions JSON file ({type(exc).__name__}): {Path(path).name}") from exc
    if not isinstance(raw, dict) or not all(isinstance(v, list) for v in raw.values()):
        raise InputError('descriptions JSON must map each class name to a list of sentences: {"class": ["...", ...]}')
    return {str(k): [str(s).strip() for s in v if str(s).strip()] for k, v in raw.items()}


# ------------------------------------------------------------------------------------------------ uploads
def safe_upload_dir(base: Path, session: str) -> Path:
    """A per-session upload folder under ``base`` (the session id is reduced to safe characters)."""
    tag = re.sub(r"[^A-Za-z0-9_-]", "", session or "anon")[:40] or "anon"
    folder = base / "uploads" / tag
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def check_image(path: str | Path) -> None:
    """Raise :class:`InputError` unless ``path`` is a readable image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:
            im.convert("RGB").load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{Path(path).name} is not a readable image (corrupt or not an image file)") from exc


def extract_zip(zip_path: str | Path, dest: Path) -> Path:
    """Unpack the images of a zip into ``dest`` (members outside it, non-images and links are skipped)."""
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"{Path(zip_path).name} is not a valid zip file") from exc
    if Path(zip_path).stat().st_size > MAX_UPLOAD_BYTES:
        raise InputError("zip too large (over 200 MB)")
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    kept = 0
    with archive:
        for info in archive.infolist():
            rel = Path(info.filename)
            target = (dest / rel).resolve()
            if info.is_dir() or rel.is_absolute() or ".." in rel.parts or root not in target.parents:
                continue
            if rel.suffix.lower() not in IMAGE_EXTS and rel.name not in ("classes.csv", "images.csv"):
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
            kept += 1
    if not kept:
        raise InputError("the zip holds no images (expected one folder of images per class)")
    return dest


def thumbnail(path: str | Path, folder: Path, side: int = 224) -> str:
    """A small JPEG copy of an image in the app's own folder (cached by path, size and mtime).

    Galleries show these: they load faster, and Gradio may only serve files from the app's allowed folders,
    which a data set anywhere on disk is not.
    """
    from PIL import Image

    st = os.stat(path)
    key = hashlib.sha1(f"{Path(path).resolve()}|{st.st_size}|{st.st_mtime_ns}|{side}".encode()).hexdigest()
    out = folder / "thumbs" / key[:2] / f"{key}.jpg"
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(path) as im:
            im = im.convert("RGB")
            im.thumbnail((side, side))
            tmp = out.with_suffix(f".{threading.get_ident()}.tmp")
            im.save(tmp, "JPEG", quality=85)
            os.replace(tmp, out)
    return str(out)


# ------------------------------------------------------------------------------------------ image embedding
class ImageEmbedder(Protocol):
    name: str  # backbone name; checkpoints remember it
    dim: int

    def embed(self, paths: list[str], views: int = 1, progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Pooled features ``(views * n_kept, dim)`` float32 (view-major, view 0 unaugmented) and the kept
        indices (unreadable images are skipped)."""


class BackboneEmbedder:
    """A frozen :mod:`lafg.backbones` backbone whose features go through :func:`lafg.features.extract_features`
    (cached per image and view)."""

    def __init__(self, name: str = "efficientnet_lite0", cache: ArrayCache | None = None, batch_size: int = 32, **backbone_kw):
        from lafg.backbones import create_backbone

        self.backbone = create_backbone(name, **backbone_kw)
        self.name = self.backbone.name
        self.dim = self.backbone.feature_dim
        self.cache = cache
        self.batch_size = batch_size
        self._lock = threading.Lock()

    def embed(self, paths: list[str], views: int = 1, progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
        from lafg.features import extract_features

        with self._lock:  # one forward pass at a time: the model is shared by every session
            feats, kept = extract_features(
                self.backbone, [str(p) for p in paths], self.backbone.eval_transform(), self.batch_size, views,
                self.cache, progress, num_workers=2, return_kept=True,
            )
        return feats, kept


# ----------------------------------------------------------------------------------------------- services
@dataclass
class Services:
    """Everything the UI calls that is heavy or external; pass fakes in tests.

    ``text_encoder`` / ``image_embedder`` are zero-argument factories called lazily (and cached here), so the
    app starts before any model is loaded.
    """

    text_encoder_factory: Callable[[], Any]
    image_embedder_factory: Callable[[], ImageEmbedder]
    llm_factory: Callable[[str, dict], Any]  # (backend, options) -> object with generate(prompt, max_new_tokens)
    describe_fn: Callable[..., dict[str, list[str]]]  # (names, llm, prompt, n, progress) -> descriptions
    train_job: Callable  # JobContext -> dict (see lafg.app.training.train_job)
    jobs: JobRegistry
    work_dir: Path
    cache: ArrayCache | None = None
    datasets: dict[str, Path] = field(default_factory=available_datasets)
    cuda: bool = False
    _models: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _index_cache: dict[tuple, Any] = field(default_factory=dict, repr=False)

    def _shared(self, key: str, factory: Callable[[], Any]) -> Any:
        with self._lock:  # one load per process, even when several sessions ask at once
            if key not in self._models:
                self._models[key] = factory()
            return self._models[key]

    def text_encoder(self):
        return self._shared("text", self.text_encoder_factory)

    def image_embedder(self) -> ImageEmbedder:
        return self._shared("image", self.image_embedder_factory)

    def loaded(self) -> dict[str, bool]:
        return {k: k in self._models for k in ("text", "image")}

    def warm_up(self) -> threading.Thread:
        """Load the text encoder in the background (the first screen does not need it)."""

        def run():
            try:
                self.text_encoder()
            except Exception:  # reported when the user actually needs it
                pass

        thread = threading.Thread(target=run, name="lafg-warmup", daemon=True)
        thread.start()
        return thread

    def get_index(self, key: tuple) -> Any | None:
        with self._lock:
            return self._index_cache.get(key)

    def cached_index(self, key: tuple, build: Callable[[], Any]) -> Any:
        with self._lock:
            hit = self._index_cache.get(key)
        if hit is not None:
            return hit
        value = build()
        with self._lock:
            self._index_cache[key] = value
            # Cap by memory, not count (memory-mapped arrays count 0); the newest gallery always stays.
            from lafg.index import memory_bytes

            while len(self._index_cache) > 1 and sum(map(memory_bytes, self._index_cache.values())) > GALLERY_MEMORY:
                self._index_cache.pop(next(iter(self._index_cache)))
        return value


def default_llm(backend: str, options: dict) -> Any:
    """An LLM from :mod:`lafg.llm` (``bundled`` SmolLM2, a ``transformers`` model, an ``openai`` endpoint);
    empty options take the backend's defaults."""
    from lafg.llm import create_llm

    return create_llm(backend, **{k: v for k, v in options.items() if v not in (None, "")})


def default_describe(names: list[str], llm: Any, prompt: str | None, n_per_class: int, progress: Progress | None, cache: Any = None) -> dict[str, list[str]]:
    """:func:`lafg.describe.describe_classes` with the app's prompt and count (cached per class)."""
    from lafg.describe import DescribeConfig, describe_classes

    cfg = DescribeConfig(n=int(n_per_class), **({"prompt_template": prompt} if prompt else {}))
    return describe_classes(names, llm, cfg, cache, progress)


def default_prompt() -> str:
    try:
        from lafg.describe import default_prompt_template

        return default_prompt_template()
    except ImportError:
        return "Write {n} short sentences about what a {class_name} looks like in a photo, one per line."


def default_text_encoder():
    from lafg.encode import create_text_encoder

    return create_text_encoder("minilm")


def default_services(work_dir: str | Path | None = None) -> Services:
    """The real services: bundled MiniLM, EfficientNet-Lite0, lafg.llm, the library trainer."""
    from lafg.app.training import train_job

    work = Path(work_dir) if work_dir else default_cache_dir() / "app"
    work.mkdir(parents=True, exist_ok=True)
    cache = ArrayCache(work / "cache")
    descriptions_cache = JsonCache(work / "cache", "descriptions")
    try:
        import torch

        cuda = bool(torch.cuda.is_available())
    except ImportError:
        cuda = False
    return Services(
        text_encoder_factory=default_text_encoder,
        image_embedder_factory=lambda: BackboneEmbedder("efficientnet_lite0", cache),
        llm_factory=default_llm,
        describe_fn=lambda *args: default_describe(*args, cache=descriptions_cache),
        train_job=train_job,
        jobs=JobRegistry(work / "jobs"),
        work_dir=work,
        cache=cache,
        cuda=cuda,
    )


def content_key(*parts: Any) -> str:
    """Short stable hash of JSON-able parts (cache keys for maps and indexes)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]
