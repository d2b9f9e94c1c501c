"""What the app needs from the library, behind one injectable :class:`Services` object.

Every heavy piece (text encoder, image backbone, LLM, trainer) is created lazily, once per process, behind a
lock, and shared by all sessions. Tests pass small fakes instead (see ``tests/app/fakes.py``). The functions
here only *wire* library stages together (load → encode → vocabulary → prototypes → train → index → explain);
the method itself lives in the library modules they call.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lafg.app.jobs import JobRegistry
from lafg.errors import InputError
from lafg.store.cache import ArrayCache, JsonCache, content_key, default_cache_dir

from .datasets import available_datasets, load_dataset_inside, within
from .embedder import BackboneEmbedder, ImageEmbedder, Progress
from .limits import Limits, visitor_key
from .uploads import safe_upload_dir

GALLERY_MEMORY = int(os.environ.get("LAFG_GALLERY_MEMORY_MB", "4096")) * 2**20  # cached galleries' RAM cap
# RAM the retrieval index may keep per gallery image, half that the attribute-space one (lafg.retrieval.index.
# gallery_index_spec): small galleries stay exact; a 100k × 1280-d gallery's indexes become ivf-sq8 (~1.3 KB +
# ~0.4 KB per image) instead of flat (~5.1 KB + ~1.6 KB)
INDEX_BYTES_PER_IMAGE = int(os.environ.get("LAFG_INDEX_BYTES_PER_IMAGE", "2048"))
NOT_ALLOWED = "folder not found or not allowed"  # one message for missing and outside paths (reveals nothing)


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
    llm_endpoints: list[str] = field(default_factory=list)  # --llm-endpoint: endpoints allowed whatever their address
    public: bool = False  # served beyond 127.0.0.1: no endpoint but the listed ones (a visitor is a stranger)
    llm_models: list[str] | None = None  # --llm-model: transformers models visitors may load (None: any Hub id)
    limits: Limits = field(default_factory=Limits)
    index_bytes_per_image: int = INDEX_BYTES_PER_IMAGE  # gallery index RAM budget per image (0: by size alone)
    _busy: dict[str, int] = field(default_factory=dict, repr=False)
    _models: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _index_cache: dict[tuple, Any] = field(default_factory=dict, repr=False)
    _external: dict[str, int] = field(default_factory=dict, repr=False)  # visitor key -> endpoint calls running

    def check_settings(self) -> None:
        """Refuse, at start-up, settings that would hand the operator's key to an endpoint a visitor names."""
        if self.llm_key_envs and not self.llm_endpoints:
            raise InputError("--llm-key-env needs --llm-endpoint: a server-side API key only ever goes to an endpoint "
                             "the operator listed (otherwise any visitor could send it to a server of their own)")

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
        """An LLM endpoint URL a visitor typed: a listed one (``--llm-endpoint``), else, on a machine not served
        beyond 127.0.0.1, one whose host resolves only to public addresses (never loopback, private, link-local:
        those are this server's neighbours). Every refusal reads the same, whatever is (or is not) there."""
        url = (url or "").strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise InputError("the endpoint URL must start with http:// or https://, e.g. https://api.openai.com/v1")
        allowed = [u.rstrip("/") for u in self.llm_endpoints]
        if url in allowed:
            return url
        if allowed or self.public:
            listed = ", ".join(allowed) or "none (operators: --llm-endpoint URL)"
            raise InputError("this endpoint is not allowed on this app; choose one of: " + listed)
        from lafg.language.llm.endpoints import check_public_url

        check_public_url(url)
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

    def api_key(self, source: str, typed: str, url: str) -> str | None:
        """The API key for a call to ``url``: the typed one, or an operator-allowed variable's value, which only
        ever goes to an endpoint the operator listed. A visitor never names an arbitrary variable: anything else
        is refused without reading the environment."""
        if typed:
            return typed.strip()
        source = (source or "").strip()
        if not source or source == "none":
            return None
        if source not in self.llm_key_envs:
            raise InputError("that key source is not offered here: type the key, or pick one the operator allowed")
        if url.rstrip("/") not in [u.rstrip("/") for u in self.llm_endpoints]:
            raise InputError("the server's API key only goes to the endpoints this app lists: pick one of them, or type your own key")
        return os.environ.get(source) or None

    @contextlib.contextmanager
    def heavy(self, owner: str, request: Any = None):
        """A slot for one heavy call of one visitor: ``limits.heavy_per_session`` at once per owner, and
        ``limits.heavy_per_address`` per client address for anonymous visitors (a client mints owners freely,
        addresses not: :func:`~lafg.app.limits.visitor_key`)."""
        keys = [owner]
        address = visitor_key(request) if request is not None else ""
        if address.startswith("a:"):
            keys.append(address)
        with self._lock:
            if self._busy.get(owner, 0) >= self.limits.heavy_per_session:
                raise InputError("you already have a heavy task running (describing, building a vocabulary, embedding or indexing): wait for it to finish")
            if address in keys and self._busy.get(address, 0) >= self.limits.heavy_per_address:
                raise InputError("your address already runs as many heavy tasks as this app allows: wait for one to finish")
            for key in keys:
                self._busy[key] = self._busy.get(key, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                for key in keys:
                    self._busy[key] -= 1
                    if not self._busy[key]:
                        del self._busy[key]

    @contextlib.contextmanager
    def external(self, visitor: str):
        """A slot in the small pool of calls to external endpoints (``limits.external_calls`` in all, one per
        visitor key): a slow or silent endpoint holds only its own visitor's slot, never the rest of the app.
        A full pool answers at once (nothing waits in the queue behind a tarpit)."""
        with self._lock:
            if self._external.get(visitor, 0) >= 1:
                raise InputError("you already have a call to an LLM endpoint running: wait for it to finish")
            if sum(self._external.values()) >= self.limits.external_calls:
                raise InputError("all LLM endpoint slots of this app are busy: try again in a minute")
            self._external[visitor] = self._external.get(visitor, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self._external[visitor] -= 1
                if not self._external[visitor]:
                    del self._external[visitor]

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
            from lafg.retrieval.index import memory_bytes

            while len(self._index_cache) > 1 and sum(map(memory_bytes, self._index_cache.values())) > GALLERY_MEMORY:
                self._index_cache.pop(next(iter(self._index_cache)))
        return value


def default_llm(backend: str, options: dict) -> Any:
    """An LLM from :mod:`lafg.language.llm` (``bundled`` SmolLM2, a ``transformers`` model, an ``openai`` endpoint);
    empty options take the backend's defaults."""
    from lafg.language.llm import create_llm

    # An explicit empty api_key_env means "read no variable" (the app's choice), not "the default variable".
    return create_llm(backend, **{k: v for k, v in options.items() if v not in (None, "") or k == "api_key_env"})


def default_describe(names: list[str], llm: Any, prompt: str | None, n_per_class: int, progress: Progress | None, cache: Any = None) -> dict[str, list[str]]:
    """:func:`lafg.language.describe.describe_classes` with the app's prompt and count (cached per class)."""
    from lafg.language.describe import DescribeConfig, describe_classes

    cfg = DescribeConfig(n=int(n_per_class), **({"prompt_template": prompt} if prompt else {}))
    return describe_classes(names, llm, cfg, cache, progress)


def default_prompt() -> str:
    try:
        from lafg.language.describe import default_prompt_template

        return default_prompt_template()
    except ImportError:
        return "Write {n} short sentences about what a {class_name} looks like in a photo, one per line."


def default_text_encoder():
    from lafg.language.encoders import create_text_encoder

    return create_text_encoder("minilm")


def default_services(work_dir: str | Path | None = None, **settings: Any) -> Services:
    """The real services: bundled MiniLM, EfficientNet-Lite0, lafg.language.llm, the library trainer. ``settings``: the
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


def vocab_key(encoder_name: str, vocab: Any) -> str:
    """Content key of a vocabulary's map (the shared UMAP cache): its sentences *and* the embeddings the map
    is computed from (a loaded bundle carries its own; the same sentences with other numbers get another map)."""
    import numpy as np

    emb = getattr(vocab, "embeddings", None)
    digest = hashlib.sha256(np.ascontiguousarray(emb).tobytes()).hexdigest() if emb is not None else ""
    return content_key(encoder_name, vocab.sentences, digest, None if emb is None else list(np.shape(emb)))
