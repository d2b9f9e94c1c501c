"""Run folder I/O: each stage writes JSON + ``.npz`` files that the next stage (or the app) reads back.

Writes are atomic (temp file + ``os.replace``) so a killed process never leaves a half-written file, and
arrays are read with ``allow_pickle=False``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from lafg.errors import InputError
from lafg.language.prototypes import PrototypeConfig, Prototypes
from lafg.language.vocabulary import Atom, Vocabulary, VocabularyConfig
from lafg.store.atomic import atomic_write_bytes, write_json


def read_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"missing file: {path} (run the previous stage first)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {path} ({exc.msg} at line {exc.lineno})") from exc


def write_npz(path: str | Path, **arrays: np.ndarray) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"missing file: {path} (run the previous stage first)")
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def save_vocabulary(vocab: Vocabulary, run_dir: str | Path, encoder_name: str) -> None:
    run_dir = Path(run_dir)
    write_npz(run_dir / "vocab.npz", centroids=vocab.centroids, embeddings=vocab.embeddings,
              sentence_class=vocab.sentence_class, sentence_atom=vocab.sentence_atom)
    write_json(run_dir / "vocab.json", {
        "config": vocab.config.to_dict(),
        "encoder": encoder_name,
        "class_names": vocab.class_names,
        "sentences": vocab.sentences,
        "atoms": [{"index": a.index, "label": a.label, "members": a.members, "classes": a.classes} for a in vocab.atoms],
    })


def load_vocabulary(run_dir: str | Path) -> tuple[Vocabulary, str]:
    """The vocabulary saved in ``run_dir`` and the name of the encoder that built it."""
    meta = read_json(Path(run_dir) / "vocab.json")
    arr = read_npz(Path(run_dir) / "vocab.npz")
    atoms = [Atom(a["index"], a["label"], a["members"], a["classes"]) for a in meta["atoms"]]
    vocab = Vocabulary(arr["centroids"], arr["embeddings"], meta["sentences"], arr["sentence_class"],
                       arr["sentence_atom"], meta["class_names"], atoms, VocabularyConfig(**{"visual_only": False, **meta["config"]}))  # older files: lafg vocab did not filter
    return vocab, meta["encoder"]


def save_prototypes(protos: Prototypes, run_dir: str | Path, encoder_name: str) -> None:
    run_dir = Path(run_dir)
    write_npz(run_dir / "prototypes.npz", vectors=protos.vectors, template=protos.template,
              top_atoms=protos.top_atoms, top_weights=protos.top_weights)
    write_json(run_dir / "prototypes.json", {
        "variant": protos.variant, "config": protos.config.to_dict(), "encoder": encoder_name, "names": protos.names,
    })


def load_prototypes(run_dir: str | Path) -> Prototypes:
    """Prototypes saved in ``run_dir``, with the run's vocabulary attached when present."""
    run_dir = Path(run_dir)
    meta = read_json(run_dir / "prototypes.json")
    arr = read_npz(run_dir / "prototypes.npz")
    vocab = load_vocabulary(run_dir)[0] if (run_dir / "vocab.json").is_file() else None
    return Prototypes(meta["names"], arr["vectors"], arr["template"], arr["top_atoms"], arr["top_weights"],
                      meta["variant"], PrototypeConfig(**meta["config"]), vocab)
