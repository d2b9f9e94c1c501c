"""Checking a checkpoint file before any work is done with it (``lafg eval``, the app): one-line errors for a
missing, empty, text, truncated or foreign file, and for one trained on another backbone's features.

Loading is ``torch.load(weights_only=True)``: no pickled code runs, whatever the file holds.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path
from typing import Any

from lafg.errors import InputError

REQUIRED = ("model", "model_config", "config")


def check_checkpoint_file(path: str | Path, feature_dim: int | None = None, backbone: str | None = None) -> dict[str, Any]:
    """The checkpoint's dict (configs parsed), or :class:`InputError` saying in one line what is wrong.

    ``feature_dim``/``backbone``: what the caller will feed the model; a checkpoint trained on features of
    another size is refused here, before any image is read.
    """
    import torch

    path = Path(path)
    name = path.name[:80]
    if not path.is_file():
        raise InputError(f"checkpoint not found: {path}")
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"checkpoint {name} is empty (0 bytes): a run that was interrupted while saving?")
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head[:2] != b"PK" and head[:1] != b"\x80":
        raise InputError(f"{name} is not a checkpoint (not a torch file: text or another format)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile) as exc:
        raise InputError(f"checkpoint {name} is truncated or damaged and cannot be read ({type(exc).__name__})") from None
    if not isinstance(state, dict) or any(k not in state for k in REQUIRED):
        raise InputError(f"{name} is a torch file but not a LaFG checkpoint (written by lafg train or the app)")
    try:
        state["config"] = json.loads(state["config"]) if isinstance(state["config"], str) else dict(state["config"])
        state["model_config"] = json.loads(state["model_config"]) if isinstance(state["model_config"], str) else dict(state["model_config"])
        in_dim = int(state["model_config"]["in_dim"])
    except (TypeError, ValueError, KeyError) as exc:
        raise InputError(f"{name} is a torch file but its configuration is unreadable ({type(exc).__name__})") from None
    if feature_dim is not None and in_dim != int(feature_dim):
        raise InputError(
            f"{name} was trained on {in_dim}-d features, but {backbone or 'this backbone'} gives {feature_dim}-d: "
            "evaluate it with the backbone it was trained on"
        )
    return state
