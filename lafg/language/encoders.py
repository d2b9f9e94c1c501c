"""The text encoder registry (open_clip style): ``create_text_encoder(name, **kwargs)``, ``list_text_encoders()``.

- ``minilm`` (default, offline): all-MiniLM-L6-v2 (:class:`lafg.language.encode.MiniLMEncoder`).
- ``open_clip``: a CLIP text tower (:class:`lafg.language.encode.OpenCLIPTextEncoder`).
- ``bridge:efficientnet_lite0`` (offline): MiniLM mapped into EfficientNet-Lite0's feature space
  (:mod:`lafg.language.bridge`).

Encoders are shared per (name, arguments) unless ``shared=False``; each records how to build it again
(``.registry``), which a checkpoint's run spec stores (:mod:`lafg.training.runspec`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from lafg.errors import BackendError
from lafg.language.bridge import BridgeEncoder
from lafg.language.encode import MiniLMEncoder, OpenCLIPTextEncoder, TextEncoder

_REGISTRY: dict[str, Callable[..., TextEncoder]] = {
    "minilm": MiniLMEncoder,
    "open_clip": OpenCLIPTextEncoder,
}


def _bridge_lite0(**kwargs) -> TextEncoder:
    kwargs.setdefault("text_encoder", create_text_encoder("minilm"))  # the one shared MiniLM, not a second copy
    return BridgeEncoder(backbone="efficientnet_lite0", **kwargs)


# MiniLM read through the ImageNet class names into EfficientNet-Lite0's feature space (lafg/language/bridge.py).
_REGISTRY["bridge:efficientnet_lite0"] = _bridge_lite0
_SHARED: dict[tuple, TextEncoder] = {}
_LOCK = threading.RLock()  # re-entrant: the bridge encoder builds MiniLM while the registry holds it


def list_text_encoders() -> list[str]:
    return list(_REGISTRY)


def create_text_encoder(name: str = "minilm", shared: bool = True, **kwargs) -> TextEncoder:
    """Build (or reuse, when ``shared``) a text encoder from the registry."""
    if name not in _REGISTRY:
        raise BackendError(f"unknown text encoder {name!r}; choose one of: {', '.join(_REGISTRY)}")
    key = (name, tuple(sorted((k, repr(v)) for k, v in kwargs.items())))
    with _LOCK:
        if shared and key in _SHARED:
            return _SHARED[key]
        encoder = _REGISTRY[name](**kwargs)
        # How to build it again (a checkpoint's run spec records this, lafg.training.runspec).
        encoder.registry = (name, dict(kwargs))
        if shared:
            _SHARED[key] = encoder
        return encoder
