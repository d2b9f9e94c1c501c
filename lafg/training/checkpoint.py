"""Checkpoints: written atomically after every epoch with everything an exact resume needs (weights, optimiser,
torch / CUDA / numpy / python random states), read back with ``torch.load(weights_only=True)`` (no pickled code
runs, whatever the file holds), and checked before any work is done with a user's file (``lafg eval``, the app):
one-line errors for a missing, empty, text, truncated or foreign file, and for one trained on another backbone's
features.
"""

from __future__ import annotations

import io
import json
import pickle
import random
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lafg.errors import InputError
from lafg.store.atomic import atomic_write_bytes

CHECKPOINT = "checkpoint.pt"

REQUIRED = ("model", "model_config", "config")


def check_checkpoint_file(path: str | Path, feature_dim: int | None = None, backbone: str | None = None) -> dict[str, Any]:
    """The checkpoint's dict (configs parsed), or :class:`InputError` saying in one line what is wrong.

    ``feature_dim``/``backbone``: what the caller will feed the model; a checkpoint trained on features of
    another size is refused here, before any image is read.
    """
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


def save_checkpoint(
    path: Path, model, objective, optimizer, epochs_done: int, cfg, extra: dict | None = None
) -> None:
    """Write everything needed to resume (weights, optimiser, random states), atomically."""
    state = dict(extra or {})
    state.update(
        {
            "model": model.state_dict(),
            "objective": objective.state_dict(),
            "optimizer": optimizer.state_dict(),
            "epochs_done": epochs_done,
            "config": json.dumps(cfg.to_dict()),
            "model_config": json.dumps(asdict(model.cfg)),
            "rng": rng_state(),
        }
    )
    write_checkpoint(path, state)


def write_checkpoint(path: Path, state: dict) -> None:
    """``torch.save`` through :func:`lafg.store.atomic.atomic_write_bytes`: a kill never leaves half a file."""
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def rng_state() -> dict:
    """torch (CPU and CUDA), numpy and python global random states, as plain types and tensors."""
    _, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": list(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() else [],
        "numpy": {"keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": [int(version), [int(x) for x in internal], gauss_next],
    }


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` saved."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"])
    )
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))


def read_checkpoint(path: str | Path, parse: bool = True) -> dict:
    """The checkpoint's dict, loaded with ``weights_only=True`` (no pickle code runs); configs parsed unless
    ``parse`` is False (to write the dict back)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not parse:
        return state
    state["config"] = json.loads(state["config"])
    state["model_config"] = json.loads(state["model_config"])
    return state


def restore_checkpoint(path: Path, model, objective, optimizer) -> int:
    """Restore model, objective and optimizer from ``path``; returns the number of completed epochs."""
    state = read_checkpoint(path)
    model.load_state_dict(state["model"])
    objective.load_state_dict(state["objective"])
    optimizer.load_state_dict(state["optimizer"])
    if "rng" in state:
        set_rng_state(state["rng"])
    return int(state["epochs_done"])
