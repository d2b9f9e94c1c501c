"""The app's take-aways: files written into the session's own upload folder (never a path the client names).

Thin wrappers over :mod:`lafg.store.export`; each returns the list of files written, for a ``gr.File`` output.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from lafg.errors import InputError
from lafg.language.vocabulary import VocabularyConfig

from .common import Session
from .limits import Limits
from .safe_text import md

log = logging.getLogger("lafg.app")


def _write(path: Path, text: str | bytes) -> str:
    (path.write_bytes if isinstance(text, bytes) else lambda t: path.write_text(t, encoding="utf-8"))(text)
    return str(path)


def export_descriptions(s: Session, folder: Path) -> list[str]:
    if not any(s.descriptions.get(n) for n in s.names):
        raise InputError("no descriptions to export yet")
    data = {n: s.descriptions.get(n, []) for n in s.names}
    return [_write(folder / "descriptions.json", json.dumps(data, indent=1, ensure_ascii=False) + "\n")]


def export_vocabulary(s: Session, folder: Path, map_figure=None, png: bool = True) -> tuple[list[str], str]:
    """vocabulary.json, atoms.csv, the map as HTML (and PNG when kaleido can run here); returns (files, note)."""
    from lafg.store.export import figure_html, figure_png, vocabulary_csv, vocabulary_dict

    if s.vocab is None:
        raise InputError("build the vocabulary first")
    meta = vocabulary_dict(s.vocab) | {"visual_only": s.visual_only, "set_aside": {c: [list(p) for p in v] for c, v in s.set_aside.items()}}
    files = [
        _write(folder / "vocabulary.json", json.dumps(meta, ensure_ascii=False)),
        _write(folder / "atoms.csv", vocabulary_csv(s.vocab)),
    ]
    note = ""
    if map_figure is not None:
        files.append(str(figure_html(map_figure, folder / "vocabulary_map.html")))
        if png:
            try:
                files.append(str(figure_png(map_figure, folder / "vocabulary_map.png")))
            except InputError as exc:
                note = str(exc)
                log.info("PNG export unavailable: %s", note[:120])
    return files, note


def export_prototypes(s: Session, folder: Path, figures: dict | None = None) -> list[str]:
    """prototypes.npz, prototypes.json (chosen atoms, weights, own/borrowed) and the charts as HTML."""
    from lafg.store.export import figure_html, prototypes_dict, prototypes_npz

    if s.prototypes is None:
        raise InputError("build the prototypes first")
    files = [
        _write(folder / "prototypes.npz", prototypes_npz(s.prototypes)),
        _write(folder / "prototypes.json", json.dumps(prototypes_dict(s.prototypes), ensure_ascii=False, indent=1)),
    ]
    for name, fig in (figures or {}).items():
        files.append(str(figure_html(fig, folder / f"{name}.html")))
    return files


def export_bundle(s: Session, folder: Path, encoder_name: str = "") -> str:
    from lafg.store.export import RunBundle, write_bundle

    if not s.names:
        raise InputError("nothing to save yet: set some class names first")
    settings = {"source": s.source, "visual_only": s.visual_only, "encoder": encoder_name,
                "offtopic": {c: [list(p) for p in v] for c, v in s.offtopic.items()}}
    return str(write_bundle(RunBundle(list(s.names), dict(s.descriptions), s.vocab, s.prototypes, settings), folder / "lafg-session.zip"))


def load_bundle(s: Session, path: str, encoder_name: str, limits: Limits | None = None) -> str:
    """Replace the session's work with a bundle's; returns a one-line summary. A vocabulary built with another
    text encoder than the app's is dropped (its atoms would not match new embeddings), and the user is told.
    The bundle's names and descriptions pass the same ``limits`` as the form's (checked before anything changes)."""
    from lafg.store.export import read_bundle

    from .services import vocab_key

    b = read_bundle(path)
    (limits or Limits()).check_session(list(b.names), {n: list(v) for n, v in b.descriptions.items()})
    s.names, s.descriptions = list(b.names), {n: list(b.descriptions.get(n, [])) for n in b.names}
    s.source = str(b.settings.get("source", "")) or "run bundle"
    s.visual_only = bool(b.settings.get("visual_only", VocabularyConfig.visual_only))
    s.offtopic = {c: [tuple(p) for p in v] for c, v in (b.settings.get("offtopic") or {}).items() if isinstance(v, list)}
    s.set_aside, s.highlight = {}, []
    s.vocab, s.prototypes = b.vocabulary, b.prototypes
    note = ""
    built_with = str(b.settings.get("encoder", ""))
    if s.vocab is not None and built_with and encoder_name and built_with != encoder_name:
        s.vocab = s.prototypes = None
        note = f" Its vocabulary was built with {md(built_with, 80)}, not this app's {encoder_name}: rebuild it."
    if s.vocab is not None:
        s.vocab_key = vocab_key(built_with or encoder_name, s.vocab)
    if s.prototypes is not None and s.vocab is not None:
        s.prototypes.vocabulary = s.vocab
    parts = [f"{len(s.names)} classes", f"{sum(len(v) for v in s.descriptions.values())} sentences"]
    if s.vocab is not None:
        parts.append(f"{s.vocab.n_atoms} atoms")
    if s.prototypes is not None:
        parts.append(f"{len(s.prototypes.names)} prototypes")
    return "Loaded " + ", ".join(parts) + "." + note


def export_results(svc, s: Session, folder: Path) -> list[str]:
    """The last search's results with their explanations: results.json (full) and results.csv (one row each)."""
    from lafg.store.export import rows_csv

    from . import retrieval

    g = svc.get_index(s.gallery_key) if s.gallery_key is not None else None
    if g is None or not s.hits or s.query is None:
        raise InputError("search first (tab 5): there are no results to export")
    query = {"text": s.query.text or None, "image": Path(s.query.path).name if s.query.path else None}
    rows = []
    for rank, hit in enumerate(s.hits):
        ex = retrieval.explain_hit(g, s.query, hit)
        d = ex.to_dict() if ex is not None else {}
        rows.append({
            "rank": rank + 1, "score": round(float(hit.score), 4), "class": hit.label, "image": Path(hit.path).name,
            "explained_by": d.get("method", "none"),
            "shared": [c["label"] for c in d.get("shared", [])],
            "differing": [f"{c['label']} ({c['contribution']:+.2f})" for c in d.get("differing", [])],
            "explanation": d,
        })
    full = {"query": query, "gallery": {"images": len(g), "classes": len(g.classes)}, "results": rows}
    flat = [{k: v for k, v in r.items() if k != "explanation"} for r in rows]
    return [
        _write(folder / "results.json", json.dumps(full, ensure_ascii=False, indent=1, default=float)),
        _write(folder / "results.csv", rows_csv(flat)),
    ]
