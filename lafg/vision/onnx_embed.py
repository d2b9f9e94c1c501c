"""ONNX Runtime CPU path for frozen image backbones: the same features at a fraction of the CPU.

PyTorch eager runs EfficientNet's batch-norm, activation and padding ops one by one; ONNX Runtime fuses them
into the convolutions (measured in ``benchmarks/scale.py``). A backbone is exported once per weights (the cache
file name hashes the backbone name and every weight tensor), then checked against PyTorch on a fixed batch:
an export whose features differ by more than :data:`TOLERANCE` is recorded as failed and PyTorch is used.

``runtime_for(backbone)`` is what :mod:`lafg.vision.features` calls: the ONNX module when ``engine`` is ``auto`` (the
default; ``LAFG_ONNX=0`` turns it off) or ``onnx``, the backbone runs on the CPU in eval mode and the export
works; the backbone itself otherwise; an :class:`OnnxBackbone` given as ``engine`` runs as it is.

int8 (opt-in, not a default: see ``benchmarks/scale.py`` section ``int8`` for whether it keeps the features'
recall): :func:`int8_backbone` quantises the fp32 export statically (QDQ, per-channel int8 weights, uint8
activations whose ranges are calibrated on a few hundred images the caller chooses, e.g. seen-class ones), cached
under the weights' key and a digest of the calibration images.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lafg.errors import BackendError, InputError
from lafg.store.atomic import atomic_path

log = logging.getLogger(__name__)

ENGINES = ("auto", "torch", "onnx")
OPSET = 17
TOLERANCE = 1e-3  # max |onnx − torch| relative to the features' largest magnitude (fp32 reorderings give ~1e-6)
_SESSIONS: dict[str, OnnxBackbone | None] = {}
_LOCK = threading.Lock()


def transform_name(transform: object) -> str:
    """A stable name for a transform (its ``name`` attribute, else its repr): part of cache keys."""
    return str(getattr(transform, "name", None) or repr(transform))


def module_device(module) -> torch.device:
    """Device of the module's first parameter (CPU for parameter-free callables): inputs are moved there."""
    params = getattr(module, "parameters", None)
    first = next(iter(params()), None) if callable(params) else None
    return first.device if first is not None else torch.device("cpu")


def onnx_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


class OnnxBackbone:
    """A callable like the backbone's forward (``(B, 3, H, W)`` tensor → ``(B, D)`` tensor) on ONNX Runtime.

    ``InferenceSession.run`` is thread-safe, so concurrent callers need no lock.
    """

    def __init__(self, path: Path, name: str, feature_dim: int, n_threads: int, precision: str = "fp32"):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(n_threads)
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.path, self.name, self.feature_dim, self.precision = path, name, int(feature_dim), precision
        self.training = False

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        batch = np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())
        return torch.from_numpy(self.session.run(None, {"images": batch})[0])

    def eval(self) -> OnnxBackbone:
        return self

    def train(self, mode: bool = True) -> OnnxBackbone:
        return self


def weights_key(backbone: nn.Module) -> str:
    """Hash of the backbone's name, every weight/buffer and the exporter versions: names the cached export."""
    h = hashlib.sha256(f"{getattr(backbone, 'name', type(backbone).__name__)}|{torch.__version__}|{OPSET}".encode())
    for name, tensor in backbone.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().to("cpu").contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:24]


def export_backbone(backbone: nn.Module, path: Path) -> float:
    """Export ``backbone`` (eval, CPU) to ``path`` with a dynamic batch axis; returns the max abs difference to
    PyTorch on a fixed random batch (relative to the largest feature). Raises :class:`BackendError` on failure."""
    import onnxruntime as ort

    size = int(getattr(backbone, "image_size", 224))
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with atomic_path(path, suffix=".tmp.onnx") as tmp:  # renamed to ``path`` only once the check ran
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    backbone, (x,), str(tmp), input_names=["images"], output_names=["features"],
                    dynamic_axes={"images": {0: "batch"}, "features": {0: "batch"}}, opset_version=OPSET, dynamo=False,
                )
            with torch.inference_mode():
                ref = backbone(x).float().numpy()
            out = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"]).run(None, {"images": x.numpy()})[0]
        except Exception as exc:  # exporter or runtime refuses an op: fall back to torch
            raise BackendError(f"ONNX export of {getattr(backbone, 'name', 'backbone')} failed: {exc}") from exc
    return float(np.abs(out - ref).max() / max(1.0, float(np.abs(ref).max())))


def onnx_backbone(backbone: nn.Module, cache_dir: str | Path | None = None, n_threads: int | None = None) -> OnnxBackbone | None:
    """The ONNX Runtime module of ``backbone``, exported and checked on first use (None when that failed)."""
    from lafg.store.cache import default_cache_dir
    from lafg.threads import threads

    folder = Path(cache_dir) if cache_dir else default_cache_dir() / "onnx"
    key = weights_key(backbone)
    path, meta_path = folder / f"{key}.onnx", folder / f"{key}.json"
    n_threads = n_threads or threads()
    session_key = f"{path}/{n_threads}"
    with _LOCK:
        if session_key in _SESSIONS:
            return _SESSIONS[session_key]
        meta = _read_meta(meta_path)
        if meta is None or (meta.get("ok") and not path.is_file()):
            try:
                diff = export_backbone(backbone, path)
                meta = {"ok": diff <= TOLERANCE, "max_rel_diff": diff, "name": getattr(backbone, "name", "")}
            except BackendError as exc:
                meta = {"ok": False, "error": str(exc)[:500], "name": getattr(backbone, "name", "")}
            folder.mkdir(parents=True, exist_ok=True)
            meta_path.write_text(json.dumps(meta), encoding="utf-8")
            if not meta["ok"]:
                log.warning("ONNX path off for %s: %s", meta["name"], meta.get("error") or f"diff {meta['max_rel_diff']:.2e}")
        module = None
        if meta.get("ok"):
            dim = int(getattr(backbone, "feature_dim", 0))
            module = OnnxBackbone(path, getattr(backbone, "name", key), dim, n_threads)
        _SESSIONS[session_key] = module
        return module


def _read_meta(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def runtime_for(backbone: nn.Module, engine: str | OnnxBackbone = "auto") -> nn.Module | OnnxBackbone:
    """What should run ``backbone``'s frozen forward: its ONNX module on CPU when possible, else itself (an
    :class:`OnnxBackbone` given as ``engine``, e.g. from :func:`int8_backbone`, runs as given)."""
    if isinstance(engine, OnnxBackbone):
        return engine
    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}")
    if engine == "auto" and os.environ.get("LAFG_ONNX", "1").strip() in ("0", "false", "no"):
        engine = "torch"
    if engine == "torch":
        return backbone
    from lafg.vision.backbones import Backbone

    eligible = isinstance(backbone, Backbone) and module_device(backbone).type == "cpu" and onnx_available()
    if not eligible:
        if engine == "onnx":
            raise BackendError("the ONNX path needs onnxruntime and a lafg backbone on the CPU")
        return backbone
    module = onnx_backbone(backbone)
    if module is None and engine == "onnx":
        raise BackendError(f"{backbone.name} does not export to ONNX cleanly (see the log); use engine torch")
    return module or backbone


# ------------------------------------------------------------------------------------------------ int8
INT8_RECIPE = "qdq-perchannel-s8w-u8a-minmax-v1"  # part of the cache key: change it when the recipe changes


def calibration_key(paths, transform) -> str:
    """Digest of the calibration images (path, size, mtime), their transform and the recipe: names a cached int8
    model (and, through its name, the features it gives)."""
    h = hashlib.sha256(f"{INT8_RECIPE}\0{transform_name(transform)}".encode())
    for p in sorted(str(p) for p in paths):
        st = os.stat(p)
        h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def int8_backbone(backbone: nn.Module, calibration_paths, transform=None, cache_dir: str | Path | None = None,
                  n_threads: int | None = None, batch_size: int = 32) -> OnnxBackbone:
    """A static int8 ONNX Runtime module of ``backbone`` calibrated on ``calibration_paths`` (images; a few
    hundred of the seen classes), built once and cached. Raises :class:`BackendError` when the fp32 export
    failed or quantisation does."""
    from lafg.store.cache import default_cache_dir
    from lafg.threads import threads

    fp32 = onnx_backbone(backbone, cache_dir, n_threads)
    if fp32 is None:
        raise BackendError(f"{getattr(backbone, 'name', 'backbone')} has no clean fp32 ONNX export to quantise")
    paths = [Path(p) for p in calibration_paths]
    if len(paths) < 16:
        raise InputError(f"int8 calibration needs at least 16 images, got {len(paths)}")
    folder = Path(cache_dir) if cache_dir else default_cache_dir() / "onnx"
    transform = transform or backbone.eval_transform()
    key = calibration_key(paths, transform)
    out = folder / f"{fp32.path.stem}-int8-{key}.onnx"
    if not out.is_file():
        _quantise(fp32.path, out, _calibration_batches(paths, transform, batch_size))
    # the name keys the feature cache: two calibrations are two models
    return OnnxBackbone(out, f"{fp32.name}:{key}[int8]", fp32.feature_dim, n_threads or threads(), precision="int8")


def _calibration_batches(paths: list[Path], transform, batch_size: int):
    """Preprocessed float32 batches ``{"images": (B, 3, H, W)}`` of the calibration images (unreadable skipped)."""
    from lafg.vision.data import load_image

    batch = []
    for p in paths:
        image = load_image(p)  # the one safe reader: upright RGB, pixel cap, None when unreadable
        if image is None:
            continue
        batch.append(transform(image).numpy())
        if len(batch) == batch_size:
            yield {"images": np.stack(batch).astype(np.float32)}
            batch = []
    if batch:
        yield {"images": np.stack(batch).astype(np.float32)}


def _quantise(fp32_path: Path, out: Path, batches) -> None:
    """Static QDQ quantisation (per-channel int8 weights, uint8 activations, min/max ranges) to ``out``."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(batches)

        def get_next(self):
            return next(self.batches, None)

    with atomic_path(out, suffix=".tmp.onnx") as tmp:
        pre = tmp.with_name(tmp.name + ".pre.onnx")
        try:
            quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
            quantize_static(str(pre), str(tmp), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.MinMax)
        except Exception as exc:  # an op the quantiser cannot handle
            raise BackendError(f"int8 quantisation failed: {exc}") from exc
        finally:
            pre.unlink(missing_ok=True)
