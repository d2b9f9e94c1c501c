"""The run spec: what a checkpoint was trained from, saved inside it as plain types.

With the spec (and the language side saved beside it, :class:`lafg.pipeline.Language`) a checkpoint rebuilds
its trunk, head, projectors, text encoder, vocabulary and prototypes on its own (:func:`lafg.pipeline.load_run`);
no side file is read. Everything here is str / int / float / bool / list / dict, so ``torch.load(...,
weights_only=True)`` reads it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

from lafg.errors import InputError

SPEC_VERSION = 1
CHECKPOINT_KEYS = ("run", "language", "model", "model_config")  # what load_run needs in a checkpoint


@dataclass
class RunSpec:
    backbone: str  # registry name for lafg.vision.backbones.create_backbone
    backbone_kw: dict  # its keyword arguments (plain types)
    backbone_id: str  # Backbone.name of the weights trained on (checked when a backbone is passed in)
    mode: str  # head | partial | full
    n_top_stages: int  # backbone stages in the trunk (partial); the rest are frozen
    views: int  # cached augmented views per training image besides the evaluation crop
    encoder: str  # registry name for lafg.language.encoders.create_text_encoder
    encoder_kw: dict  # its keyword arguments (plain types)
    encoder_id: str  # TextEncoder.name
    vocabulary: dict  # VocabularyConfig (N = n_atoms)
    prototypes: dict  # PrototypeConfig (template, K = top_k, τ = tau)
    method: str  # lafg.training.methods name
    reading: str  # L_ali reading
    train: dict  # the whole TrainConfig
    seen_classes: list[str]  # the training classes, label order
    data_fingerprint: str  # sha256 of the training images' relative paths, classes and sizes
    language_source: str  # where the language side came from (descriptions of the seen classes, a run folder)
    trained: dict  # part -> bool: head, trunk, proj_v, proj_t (lafg.training.loop.trained_parts)
    version: str = ""  # lafg.__version__ that wrote it
    spec_version: int = SPEC_VERSION
    notes: list[str] = field(default_factory=list)  # e.g. "N clamped from 128 to 40 (40 distinct sentences)"

    def __post_init__(self) -> None:
        if not self.version:
            from lafg import __version__

            self.version = __version__

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict, where: str = "checkpoint") -> RunSpec:
        missing = [f.name for f in fields(cls) if f.name not in d and _required(f)]
        if missing:
            raise InputError(f"{where}: its run spec lacks {', '.join(missing)} (written by an older LaFG; retrain)")
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


def _required(f) -> bool:
    return f.default is MISSING and f.default_factory is MISSING


def data_fingerprint(paths: list, labels, names: list[str]) -> str:
    """sha256 over (path relative to the images' common folder, class name, file size) of each image."""
    paths = [str(p) for p in paths]
    root = os.path.commonpath(paths) if len(paths) > 1 else str(Path(paths[0]).parent) if paths else ""
    h = hashlib.sha256()
    for p, y in sorted(zip(paths, (int(v) for v in labels), strict=True)):
        size = os.path.getsize(p) if os.path.exists(p) else -1
        h.update(f"{os.path.relpath(p, root)}\t{names[y]}\t{size}\n".encode())
    return h.hexdigest()


def check_checkpoint_keys(state: dict, path) -> None:
    """A one-line error naming what an old (or foreign) checkpoint lacks."""
    missing = [k for k in CHECKPOINT_KEYS if k not in state]
    if missing:
        raise InputError(
            f"{path} has no {', '.join(missing)}: it was written by an older LaFG that kept the backbone, trunk "
            "split and text encoder in side files; retrain it with this version"
        )
