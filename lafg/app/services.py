"""What the app needs from the library, behind one injectable :class:`Services` object.

Every heavy piece (text encoder, image backbone, LLM, trainer) is created lazily, once per process, behind a
lock, and shared by all sessions. Tests pass small fakes instead (see ``tests/app/fakes.py``). The functions
here only *wire* library stages together (load → encode → vocabulary → prototypes → train → index → explain);
the method itself lives in the library modules they call.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import threading
import uuid
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
NOT_ALLOWED = "folder not found or not allowed"  # one message for missing and outside paths (reveals nothing)


@dataclass(frozen=True)
class Limits:
    """What one visitor may ask of a hosted app (checked before any work is done)."""

    zip_bytes: int = MAX_UPLOAD_BYTES  # compressed size of an uploaded zip
    zip_entries: int = 20_000  # members of an uploaded zip
    zip_unpacked_bytes: int = 1024 * 1024 * 1024  # total uncompressed size of the kept members
    zip_ratio: float = 200.0  # uncompressed / compressed size of any member
    visitor_bytes: int = 2 * 1024 * 1024 * 1024  # everything one visitor's folder may hold
    visitor_days: float = 7.0  # visitor folders untouched this long are removed when the app starts
    json_bytes: int = 5 * 1024 * 1024  # descriptions JSON imports
    json_depth: int = 4  # {class: [sentence]} is 2 deep; a little slack for nothing else
    names: int = 2_000  # class names per session
    sentences_per_class: int = 500
    sentence_chars: int = 2_000
    heavy_per_session: int = 1  # heavy calls (describe, vocabulary, index, search) one visitor may run at once
    queue_size: int = 64  # events waiting in Gradio's queue, all visitors together


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


def json_depth(text: str) -> int:
    """Deepest nesting of ``[``/``{`` in JSON text (strings skipped), without parsing it (no recursion)."""
    depth = deepest = 0
    in_str = escaped = False
    for ch in text:
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def read_descriptions_json(path: str | Path, limits: Limits | None = None) -> dict[str, list[str]]:
    """``{class: [sentence, ...]}`` from a JSON file, validated (never unpickled): size and nesting are checked
    before parsing; every value must be a list of strings (a string value is not split into characters)."""
    lim = limits or Limits()
    name = Path(path).name[:80]
    if Path(path).stat().st_size > lim.json_bytes:
        raise InputError(f"{name} is larger than {lim.json_bytes // (1024 * 1024)} MB; descriptions files are small")
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
        if json_depth(text) > lim.json_depth:
            raise InputError(f"{name} is nested {json_depth(text)} levels deep; descriptions are {{\"class\": [\"sentence\", ...]}}")
        raw = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InputError(f"not a descriptions JSON file ({type(exc).__name__}): {name}") from exc
    shape = 'descriptions JSON must map each class name to a list of sentences: {"class": ["...", ...]}'
    if not isinstance(raw, dict):
        raise InputError(shape)
    if len(raw) > lim.names:
        raise InputError(f"{name} describes {len(raw)} classes; at most {lim.names} are accepted")
    out = {}
    for key, value in raw.items():
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            got = type(value).__name__ if not isinstance(value, list) else f"a list holding {type(next(x for x in value if not isinstance(x, str))).__name__}"
            raise InputError(f"{shape} (class {str(key)[:60]!r} has {got})")
        if len(value) > lim.sentences_per_class:
            raise InputError(f"class {str(key)[:60]!r} has {len(value)} sentences; at most {lim.sentences_per_class} are accepted")
        out[str(key)] = [x.strip()[: lim.sentence_chars] for x in value if x.strip()]
    return out


def merge_imported(current: dict[str, list[str]], names: list[str], data: dict[str, list[str]]) -> tuple[list[str], str]:
    """Merge imported descriptions into ``current`` (in place) for the session's ``names``; returns (matched
    names, a note for the user). An empty list keeps the sentences a class already has; keys that match no
    class are counted."""
    matched = [n for n in names if n in data]
    if not matched:
        raise InputError("none of the current class names appear in this JSON file (keys must match the names exactly)")
    empty = [n for n in matched if not data[n]]
    current.update({n: data[n] for n in matched if data[n]})
    notes = [f"{len(data) - len(matched)} key(s) of the file match no class name"] if len(data) > len(matched) else []
    if empty:
        notes.append(f"{len(empty)} class(es) have no sentence in the file and keep their own: {', '.join(empty[:5])}")
    return matched, "; ".join(notes)


# ------------------------------------------------------------------------------------------------ uploads
def safe_upload_dir(base: Path, session: str) -> Path:
    """A per-visitor upload folder under ``base``: its name is a keyed hash of the visitor's id, so nobody can
    compute another visitor's folder (the key is random per process) and no id can escape ``base/uploads``."""
    tag = hmac.new(_FOLDER_KEY, (session or "anon").encode("utf-8"), hashlib.sha256).hexdigest()[:32]
    folder = base / "uploads" / tag
    folder.mkdir(parents=True, exist_ok=True)
    return folder


_FOLDER_KEY = secrets.token_bytes(32)


def owner_of(session: Any, request: Any = None) -> str:
    """Who owns a visitor's uploads and jobs: the login user when auth is on, else the browser's token set at
    page load (kept across reloads), else Gradio's session id (API clients). Remembered on the session."""
    user = getattr(request, "username", None)
    if user:
        owner = f"u:{user}"
    else:
        owner = getattr(session, "owner", "") or f"s:{getattr(request, 'session_hash', None) or 'anon'}"
    if session is not None and getattr(session, "owner", None) != owner:
        with contextlib.suppress(AttributeError):
            session.owner = owner
    return owner


def check_image(path: str | Path) -> None:
    """Raise :class:`InputError` unless ``path`` is a readable image of a sensible size (header checked first)."""
    from lafg.images import open_rgb

    open_rgb(path).close()


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


def extract_zip(zip_path: str | Path, dest: Path, limits: Limits | None = None) -> Path:
    """Unpack the images of a zip into ``dest`` (members outside it, non-images and links are skipped).

    Sizes are checked from the zip's directory *before* anything is written (entries, total uncompressed size,
    compression ratio); while copying, a member may not produce more than it declared.
    """
    lim = limits or Limits()
    if Path(zip_path).stat().st_size > lim.zip_bytes:
        raise InputError(f"zip too large (over {lim.zip_bytes // (1024 * 1024)} MB)")
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"{Path(zip_path).name} is not a valid zip file") from exc
    with archive:
        infos = archive.infolist()
        if len(infos) > lim.zip_entries:
            raise InputError(f"the zip has {len(infos)} entries; at most {lim.zip_entries} are accepted")
        root = dest.resolve()
        keep = []
        for info in infos:
            rel = Path(info.filename)
            target = (dest / rel).resolve()
            if info.is_dir() or rel.is_absolute() or ".." in rel.parts or root not in target.parents:
                continue
            if rel.suffix.lower() not in IMAGE_EXTS and rel.name not in ("classes.csv", "images.csv"):
                continue
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                continue  # a symlink member
            if info.file_size > lim.zip_ratio * max(info.compress_size, 1) and info.file_size > 1024 * 1024:
                raise InputError(f"the zip member {rel.name!r} unpacks {info.file_size / max(info.compress_size, 1):.0f}× its packed size (a zip bomb?); refused")
            keep.append((info, target))
        total = sum(info.file_size for info, _ in keep)
        if total > lim.zip_unpacked_bytes:
            raise InputError(f"the zip unpacks to {total / 2**20:.0f} MB; at most {lim.zip_unpacked_bytes / 2**20:.0f} MB are accepted")
        used = folder_bytes(dest.parent)
        if used + total > lim.visitor_bytes:
            raise InputError(f"your uploads already use {used / 2**20:.0f} MB; with this zip they would pass the {lim.visitor_bytes / 2**20:.0f} MB allowed per visitor")
        if not keep:
            raise InputError("the zip holds no images (expected one folder of images per class)")
        dest.mkdir(parents=True, exist_ok=True)
        try:
            for info, target in keep:
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as src, open(target, "wb") as out:
                    written = 0
                    while chunk := src.read(1 << 20):
                        written += len(chunk)
                        if written > info.file_size:
                            raise InputError(f"the zip member {Path(info.filename).name!r} is larger than it declares; refused")
                        out.write(chunk)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, RuntimeError) as exc:
            shutil.rmtree(dest, ignore_errors=True)
            raise InputError(f"{Path(zip_path).name} is damaged or encrypted ({type(exc).__name__})") from exc
        except InputError:
            shutil.rmtree(dest, ignore_errors=True)
            raise
    return dest


def folder_bytes(folder: Path) -> int:
    """Total size of the files under ``folder`` (0 when it does not exist)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


def sweep_uploads(base: Path, max_age_days: float) -> int:
    """Remove visitor folders under ``base/uploads`` untouched for ``max_age_days``; returns how many."""
    import time

    removed, cutoff = 0, time.time() - max_age_days * 86400
    for folder in (base / "uploads").glob("*"):
        if folder.is_dir() and not folder.is_symlink():
            newest = max((p.stat().st_mtime for p in folder.rglob("*")), default=folder.stat().st_mtime)
            if newest < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
    return removed


def new_upload_folder(base: Path, prefix: str = "set") -> Path:
    """A fresh folder for one upload (a random name: two uploads in the same second never mix)."""
    return base / f"{prefix}-{uuid.uuid4().hex}"


def thumbnail(path: str | Path, folder: Path, side: int = 224) -> str:
    """A small JPEG copy of an image in the app's own folder (cached by path, size and mtime).

    Galleries show these: they load faster, and Gradio may only serve files from the app's allowed folders,
    which a data set anywhere on disk is not.
    """
    st = os.stat(path)
    key = hashlib.sha1(f"{Path(path).resolve()}|{st.st_size}|{st.st_mtime_ns}|{side}".encode()).hexdigest()
    uploads = (folder / "uploads").resolve()
    real = Path(path).resolve()
    if uploads in real.parents:  # a visitor's own file: its thumbnail stays in that visitor's folder
        folder = uploads / real.relative_to(uploads).parts[0]
    out = folder / "thumbs" / key[:2] / f"{key}.jpg"
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        from lafg.images import open_rgb

        with open_rgb(path) as im:
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
        self.spec = {"name": name, "kwargs": dict(backbone_kw)}  # how to build it again (a run spec records it)
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
    # Operator settings (app.py flags): what visitors may reach on this server.
    data_roots: list[Path] = field(default_factory=list)  # --data-root: the only folders whose sub-folders may be added
    llm_key_envs: list[str] = field(default_factory=list)  # --llm-key-env: variables a visitor may pick as the API key
    llm_endpoints: list[str] = field(default_factory=list)  # --llm-endpoint: the only endpoints allowed (empty: any)
    llm_models: list[str] | None = None  # --llm-model: transformers models visitors may load (None: any Hub id)
    limits: Limits = field(default_factory=Limits)
    _busy: dict[str, int] = field(default_factory=dict, repr=False)
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

    # ---- what one visitor may reach --------------------------------------------------------------------
    def visitor_dir(self, owner: str) -> Path:
        """The visitor's own folder (uploads, exports, thumbnails of their files); an unguessable name."""
        return safe_upload_dir(self.work_dir, owner)

    def server_folder(self, path: str):
        """(resolved folder, image set) of a server folder a visitor typed: only inside an operator's
        ``--data-root`` (symlinks resolved), never the app's own work folder; a path outside the roots and a
        missing one get the same message."""
        if not self.data_roots:
            raise InputError("adding folders of this server is turned off here: upload a zip of class folders instead (operators: start the app with --data-root DIR)")
        text = (path or "").strip()
        if not text:
            raise InputError("type a folder path first")
        shown = repr(text[:120])
        try:
            folder = Path(text).expanduser().resolve()
        except (OSError, RuntimeError, ValueError):
            raise InputError(f"{NOT_ALLOWED}: {shown}") from None
        root = next((Path(r) for r in self.data_roots if within(folder, r)), None)
        if root is None or within(folder, self.work_dir) or not folder.is_dir():
            raise InputError(f"{NOT_ALLOWED}: {shown} (allowed: sub-folders of {', '.join(str(r) for r in self.data_roots)})")
        return folder, load_dataset_inside(folder, root)

    def check_endpoint(self, url: str) -> str:
        """An LLM endpoint URL a visitor typed, if the operator allows it (``--llm-endpoint``; any when unset)."""
        url = (url or "").strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise InputError("the endpoint URL must start with http:// or https://, e.g. http://localhost:11434/v1")
        allowed = [u.rstrip("/") for u in self.llm_endpoints]
        if allowed and url not in allowed:
            raise InputError("this endpoint is not allowed on this app; choose one of: " + ", ".join(allowed))
        return url

    def check_model_id(self, model_id: str) -> str:
        """A transformers model a visitor named: a Hub id only, never a folder of this server."""
        model_id = (model_id or "").strip()
        if self.llm_models is not None:
            if model_id not in self.llm_models:
                offered = ", ".join(self.llm_models) or "none on this app (operators: --llm-model ID)"
                raise InputError(f"this transformers model is not offered here; choose one of: {offered}")
            return model_id
        if not re.fullmatch(r"[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,96}", model_id) or ".." in model_id or Path(model_id).exists():
            raise InputError("give a Hub model id such as Qwen/Qwen2.5-1.5B-Instruct (folders of this server cannot be named here)")
        return model_id

    def api_key(self, source: str, typed: str) -> str | None:
        """The API key for an endpoint call: the typed one, or an operator-allowed variable's value. A visitor
        never names an arbitrary variable: anything else is refused without reading the environment."""
        if typed:
            return typed.strip()
        source = (source or "").strip()
        if not source or source == "none":
            return None
        if source not in self.llm_key_envs:
            raise InputError("that key source is not offered here: type the key, or pick one the operator allowed")
        return os.environ.get(source) or None

    @contextlib.contextmanager
    def heavy(self, owner: str):
        """A slot for one heavy call of one visitor (``limits.heavy_per_session`` at once per visitor)."""
        with self._lock:
            if self._busy.get(owner, 0) >= self.limits.heavy_per_session:
                raise InputError("you already have a heavy task running (embedding, describing or indexing): wait for it to finish")
            self._busy[owner] = self._busy.get(owner, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self._busy[owner] -= 1
                if not self._busy[owner]:
                    del self._busy[owner]

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

    # An explicit empty api_key_env means "read no variable" (the app's choice), not "the default variable".
    return create_llm(backend, **{k: v for k, v in options.items() if v not in (None, "") or k == "api_key_env"})


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


def default_services(work_dir: str | Path | None = None, **settings: Any) -> Services:
    """The real services: bundled MiniLM, EfficientNet-Lite0, lafg.llm, the library trainer. ``settings``: the
    operator's ``data_roots``, ``llm_key_envs``, ``llm_endpoints``, ``limits``."""
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
        **settings,
    )


def content_key(*parts: Any) -> str:
    """Short stable hash of JSON-able parts (cache keys for maps and indexes)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]
