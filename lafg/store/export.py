"""Take-aways: descriptions, vocabulary, prototypes, charts and retrieval results as files, and a whole-session
**run bundle** (one zip) that the app and ``lafg bundle`` load again.

Formats are plain: JSON, CSV, ``.npz`` without pickled objects, standalone Plotly HTML (plotly.js embedded, works
offline) and PNG (through kaleido, which needs a local Chrome/Chromium; :func:`figure_png` says so when it is
missing).

Loading a bundle is safe on untrusted files: members are read from the zip in memory (nothing is extracted, so
no path can escape), only the known member names are read, each is size-checked before reading, arrays load
with ``allow_pickle=False`` and everything is validated before any object is built.
"""

from __future__ import annotations

import csv
import io
import json
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lafg.errors import InputError
from lafg.language.prototypes import PrototypeConfig, Prototypes
from lafg.language.vocabulary import Atom, Vocabulary, VocabularyConfig
from lafg.store.atomic import atomic_path

BUNDLE_FORMAT = "lafg-run-bundle"
BUNDLE_VERSION = 1
# A 200-class session (1.3k sentences × 384-d) is ~2 MB; 20k sentences stay under 32 MB. Loading happens in
# memory on a possibly public server, so the limits stay modest.
MAX_MEMBER_BYTES = 32 * 1024 * 1024  # one member, uncompressed
MAX_BUNDLE_BYTES = 96 * 1024 * 1024  # all members, uncompressed
MAX_BUNDLE_FILE = 64 * 1024 * 1024  # the zip on disk
MEMBERS = ("manifest.json", "descriptions.json", "vocabulary.json", "vocabulary.npz", "prototypes.json", "prototypes.npz")


# ------------------------------------------------------------------------------------------ single exports
def vocabulary_dict(vocab: Vocabulary) -> dict:
    """Everything about a vocabulary except the arrays: config, classes, sentences, atoms with members."""
    return {
        "config": vocab.config.to_dict(),
        "class_names": list(vocab.class_names),
        "sentences": list(vocab.sentences),
        "sentence_class": [int(c) for c in vocab.sentence_class],
        "sentence_atom": [int(a) for a in vocab.sentence_atom],
        "atoms": [{"index": a.index, "label": a.label, "members": list(a.members), "classes": list(a.classes)} for a in vocab.atoms],
    }


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet reads a cell starting so as a formula


def csv_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: a string starting with ``= + - @``, a tab or a carriage return
    (visitor or LLM text: "=HYPERLINK(...)") gets a leading apostrophe; numbers and other strings are unchanged."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def vocabulary_csv(vocab: Vocabulary) -> str:
    """One row per atom: index, label, number of sentences, classes (by contribution), member sentences."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["atom", "label", "sentences", "classes", "members"])
    for a in vocab.atoms:
        w.writerow([csv_cell(x) for x in (
            a.index, a.label, len(a.members), "; ".join(vocab.class_names[c] for c in a.classes),
            " | ".join(vocab.sentences[m] for m in a.members),
        )])
    return out.getvalue()


def prototypes_dict(protos: Prototypes) -> dict:
    """Per class: its chosen atoms (index, label, weight, own or borrowed), plus the config and variant."""
    classes = []
    for name in protos.names:
        own, _borrowed = protos.own_and_borrowed(name)
        atoms = []
        for a, w in protos.chosen_atoms(name):
            label = protos.vocabulary.atoms[a].label if protos.vocabulary is not None and a < len(protos.vocabulary.atoms) else ""
            atoms.append({"atom": a, "label": label, "weight": round(w, 6), "own": a in own})
        classes.append({"class": name, "atoms": atoms})
    return {"variant": protos.variant, "config": protos.config.to_dict(), "names": list(protos.names), "classes": classes}


def _npz_bytes(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    return buf.getvalue()


def vocabulary_npz(vocab: Vocabulary) -> bytes:
    return _npz_bytes(centroids=vocab.centroids, embeddings=vocab.embeddings)


def prototypes_npz(protos: Prototypes) -> bytes:
    return _npz_bytes(vectors=protos.vectors, template=protos.template, top_atoms=protos.top_atoms, top_weights=protos.top_weights)


def figure_html(fig, path: str | Path) -> Path:
    """A standalone interactive HTML file of a Plotly figure (plotly.js embedded: opens offline)."""
    path = Path(path)
    fig.write_html(str(path), include_plotlyjs=True, full_html=True)
    return path


def figure_png(fig, path: str | Path, scale: float = 2.0) -> Path:
    """A PNG of a Plotly figure through kaleido; a clear :class:`InputError` when it cannot run here."""
    path = Path(path)
    try:
        fig.write_image(str(path), format="png", scale=scale)
    except Exception as exc:  # kaleido missing, or no Chrome/Chromium for it to drive
        raise InputError(
            f"PNG export needs kaleido and a local Chrome/Chromium ({type(exc).__name__}: {str(exc)[:120]}); "
            "the HTML export works everywhere"
        ) from exc
    return path


def rows_csv(rows: list[dict]) -> str:
    """Flat dicts as CSV (columns in first-seen order; lists and dicts written as JSON; no cell a formula)."""
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=cols)
    w.writerow({c: csv_cell(c) for c in cols})
    for r in rows:
        w.writerow({k: csv_cell(json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v) for k, v in r.items()})
    return out.getvalue()


# ------------------------------------------------------------------------------------------------ bundle
@dataclass
class RunBundle:
    """One session's work: names, descriptions and how they were made, vocabulary, prototypes, settings."""

    names: list[str]
    descriptions: dict[str, list[str]]
    vocabulary: Vocabulary | None = None
    prototypes: Prototypes | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # source, visual_only, encoder, … (free JSON)


def write_bundle(bundle: RunBundle, path: str | Path) -> Path:
    """Write ``bundle`` as a zip at ``path`` (atomically: a temp file, then rename)."""
    path = Path(path)
    manifest = {
        "format": BUNDLE_FORMAT, "version": BUNDLE_VERSION, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "names": list(bundle.names), "settings": bundle.settings,
        "has_vocabulary": bundle.vocabulary is not None, "has_prototypes": bundle.prototypes is not None,
    }
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1))
        z.writestr("descriptions.json", json.dumps({n: bundle.descriptions.get(n, []) for n in bundle.names}, ensure_ascii=False, indent=1))
        if bundle.vocabulary is not None:
            z.writestr("vocabulary.json", json.dumps(vocabulary_dict(bundle.vocabulary), ensure_ascii=False))
            z.writestr("vocabulary.npz", vocabulary_npz(bundle.vocabulary))
        if bundle.prototypes is not None:
            z.writestr("prototypes.json", json.dumps(prototypes_dict(bundle.prototypes), ensure_ascii=False))
            z.writestr("prototypes.npz", prototypes_npz(bundle.prototypes))
    return path


def _read_member(z: zipfile.ZipFile, name: str, budget: list[int]) -> bytes:
    info = z.getinfo(name)
    if info.file_size > MAX_MEMBER_BYTES or info.file_size > budget[0]:
        raise InputError(f"run bundle member {name} is too large ({info.file_size} bytes)")
    with z.open(info) as f:
        data = f.read(MAX_MEMBER_BYTES + 1)  # never trust the header alone (a zip bomb can lie about sizes)
    if len(data) > MAX_MEMBER_BYTES or len(data) > budget[0]:
        raise InputError(f"run bundle member {name} is too large")
    budget[0] -= len(data)
    return data


def _json(data: bytes, name: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"run bundle member {name} is not valid UTF-8 JSON") from exc


def _npz(data: bytes, name: str, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            out = {k: np.asarray(z[k]) for k in keys}
    except (ValueError, KeyError, OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"run bundle member {name} is not a valid array file ({type(exc).__name__})") from exc
    for k, v in out.items():
        if v.dtype.kind not in "fiu":
            raise InputError(f"run bundle member {name}: array {k} is not numeric")
    return out


def _strings(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise InputError(f"run bundle: {what} must be a list of strings")
    return value


def _ints(value: Any, what: str, upper: int) -> list[int]:
    if not isinstance(value, list) or not all(isinstance(x, int) and 0 <= x < upper for x in value):
        raise InputError(f"run bundle: {what} must be a list of indices below {upper}")
    return value


def read_bundle(path: str | Path) -> RunBundle:
    """Load a run bundle written by :func:`write_bundle`; anything malformed is an :class:`InputError`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"run bundle not found: {path.name}")
    if path.stat().st_size > MAX_BUNDLE_FILE:
        raise InputError(f"run bundle too large (over {MAX_BUNDLE_FILE // 2**20} MB)")
    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"{path.name} is not a zip file (a LaFG run bundle is one)") from exc
    budget = [MAX_BUNDLE_BYTES]
    with z:
        present = set(z.namelist())
        if "manifest.json" not in present or "descriptions.json" not in present:
            raise InputError(f"{path.name} is not a LaFG run bundle (no manifest.json / descriptions.json)")
        manifest = _json(_read_member(z, "manifest.json", budget), "manifest.json")
        if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
            raise InputError(f"{path.name} is not a LaFG run bundle")
        if int(manifest.get("version", 0)) > BUNDLE_VERSION:
            raise InputError(f"run bundle version {manifest.get('version')} is newer than this LaFG Explorer reads ({BUNDLE_VERSION})")
        names = _strings(manifest.get("names"), "names")
        from lafg.language.describe import validate_descriptions

        descriptions = validate_descriptions(_json(_read_member(z, "descriptions.json", budget), "descriptions.json"), "run bundle descriptions")
        settings = manifest.get("settings") if isinstance(manifest.get("settings"), dict) else {}
        vocab = None
        if "vocabulary.json" in present and "vocabulary.npz" in present:
            vocab = _vocabulary(_json(_read_member(z, "vocabulary.json", budget), "vocabulary.json"),
                                _npz(_read_member(z, "vocabulary.npz", budget), "vocabulary.npz", ("centroids", "embeddings")))
        protos = None
        if "prototypes.json" in present and "prototypes.npz" in present:
            protos = _prototypes(_json(_read_member(z, "prototypes.json", budget), "prototypes.json"),
                                 _npz(_read_member(z, "prototypes.npz", budget), "prototypes.npz", ("vectors", "template", "top_atoms", "top_weights")), vocab)
    return RunBundle(names, descriptions, vocab, protos, settings)


def _config(cls, data: Any):
    if not isinstance(data, dict):
        raise InputError(f"run bundle: bad {cls.__name__}")
    allowed = set(cls.__dataclass_fields__)
    try:
        return cls(**{k: v for k, v in data.items() if k in allowed})
    except TypeError as exc:
        raise InputError(f"run bundle: bad {cls.__name__} ({exc})") from exc


def _vocabulary(meta: Any, arr: dict[str, np.ndarray]) -> Vocabulary:
    if not isinstance(meta, dict):
        raise InputError("run bundle: vocabulary.json must be an object")
    classes = _strings(meta.get("class_names"), "vocabulary class names")
    sentences = _strings(meta.get("sentences"), "vocabulary sentences")
    centroids, emb = arr["centroids"].astype(np.float32), arr["embeddings"].astype(np.float32)
    n_atoms = centroids.shape[0] if centroids.ndim == 2 else -1
    if centroids.ndim != 2 or emb.ndim != 2 or emb.shape != (len(sentences), centroids.shape[1]):
        raise InputError("run bundle: vocabulary arrays do not match its sentences")
    sentence_class = np.asarray(_ints(meta.get("sentence_class"), "sentence classes", len(classes)), dtype=np.int64)
    sentence_atom = np.asarray(_ints(meta.get("sentence_atom"), "sentence atoms", n_atoms), dtype=np.int64)
    if len(sentence_class) != len(sentences) or len(sentence_atom) != len(sentences):
        raise InputError("run bundle: vocabulary assignments do not match its sentences")
    atoms = []
    for i, a in enumerate(meta.get("atoms") or []):
        if not isinstance(a, dict) or not isinstance(a.get("label"), str):
            raise InputError("run bundle: bad atom entry")
        atoms.append(Atom(i, a["label"], _ints(a.get("members", []), "atom members", len(sentences)), _ints(a.get("classes", []), "atom classes", len(classes))))
    if len(atoms) != n_atoms:
        raise InputError("run bundle: atom list does not match the centroids")
    return Vocabulary(centroids, emb, sentences, sentence_class, sentence_atom, classes, atoms, _config(VocabularyConfig, meta.get("config", {})))


def _prototypes(meta: Any, arr: dict[str, np.ndarray], vocab: Vocabulary | None) -> Prototypes:
    if not isinstance(meta, dict):
        raise InputError("run bundle: prototypes.json must be an object")
    names = _strings(meta.get("names"), "prototype names")
    vectors, template = arr["vectors"].astype(np.float32), arr["template"].astype(np.float32)
    top_atoms, top_weights = arr["top_atoms"].astype(np.int64), arr["top_weights"].astype(np.float32)
    c = len(names)
    if vectors.shape[:1] != (c,) or template.shape != vectors.shape or top_atoms.shape[:1] != (c,) or top_weights.shape != top_atoms.shape:
        raise InputError("run bundle: prototype arrays do not match its class names")
    if vocab is not None and top_atoms.size and (top_atoms.min() < 0 or top_atoms.max() >= vocab.n_atoms):
        raise InputError("run bundle: prototypes point at atoms the vocabulary does not have")
    variant = meta.get("variant", "lafg")
    if variant not in ("lafg", "template", "descriptions"):
        raise InputError(f"run bundle: unknown prototype variant {variant!r}")
    return Prototypes(names, vectors, template, top_atoms, top_weights, variant, _config(PrototypeConfig, meta.get("config", {})), vocab)
