"""Tabs 1–3 survive a page reload: each visitor's work is kept in their own browser (``gr.BrowserState``) as a
small *recipe*: names, descriptions, their source and flags, and the settings the vocabulary and prototypes were
built with. A reload rebuilds the vocabulary and prototypes from it (k-means is seeded and the sentence
embeddings are cached, so the same recipe gives the same atoms).

The recipe comes back from the browser, where a visitor can change it: it is checked like an upload (the
descriptions-import limits, bounded settings) before anything is rebuilt, and an unusable one is ignored.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from lafg.errors import InputError
from lafg.language.describe import validate_descriptions
from lafg.language.prototypes import PrototypeConfig
from lafg.language.vocabulary import VocabularyConfig

from .common import Session
from .services import Services, vocab_key

log = logging.getLogger("lafg.app")

VERSION = 1
MAX_RECIPE_CHARS = 2_000_000  # localStorage holds ~5 MB per site; bigger sessions are saved as run bundles
VOCAB_KEYS = ("n_atoms", "seed", "visual_only")  # what the Vocabulary tab sets (the rest: library defaults)
VARIANTS = ("lafg", "grounded")  # the Prototypes tab's choices (tab_protos.VARIANT_CHOICES)


@dataclass(frozen=True)
class Rebuild:
    """What a recipe asks to build again after its descriptions are back."""

    vocab: VocabularyConfig | None = None
    protos: PrototypeConfig | None = None  # only with a vocabulary
    variant: str = "lafg"  # which atoms the prototypes were chosen from (the Prototypes tab's choice)


def recipe(s: Session) -> dict[str, Any]:
    """What the browser keeps of a session's tabs 1–3 (JSON-ready)."""
    out: dict[str, Any] = {
        "v": VERSION, "names": list(s.names), "descriptions": {n: list(v) for n, v in s.descriptions.items()},
        "source": s.source, "visual_only": bool(s.visual_only), "colour_by": s.colour_by, "projection": s.projection,
        "offtopic": {c: [list(p) for p in v] for c, v in s.offtopic.items()},
        "vocab": None, "protos": None,
    }
    if s.vocab is not None:
        cfg = s.vocab.config.to_dict()
        out["vocab"] = {k: cfg[k] for k in VOCAB_KEYS}
        if s.prototypes is not None:
            out["protos"] = {**s.prototypes.config.to_dict(), "variant": s.prototypes.variant}
    if len(json.dumps(out, ensure_ascii=False)) > MAX_RECIPE_CHARS:
        return {"v": VERSION, "too_big": True}
    return out


def _bounded(value: Any, kind: type, low: float, high: float, name: str):
    if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high:
        raise InputError(f"stored {name} out of range: {value!r}")
    return kind(value)


def read_recipe(data: Any, svc: Services) -> tuple[Session, Rebuild] | None:
    """(session with names, descriptions and flags; what to build again) from a stored recipe, or None when
    there is nothing usable. Raises InputError for a recipe that breaks the limits."""
    if not isinstance(data, dict) or data.get("v") != VERSION or data.get("too_big"):
        return None
    names = data.get("names")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n.strip() for n in names):
        return None
    lim = svc.limits
    if len(names) > lim.names:
        raise InputError(f"stored session has {len(names)} names; at most {lim.names}")
    desc = data.get("descriptions") or {}
    desc = validate_descriptions(desc, "stored session", lim.names, lim.sentences_per_class, lim.sentence_chars) if desc else {}
    s = Session(names=list(dict.fromkeys(names)), descriptions=desc)
    s.source = str(data.get("source", ""))[:500]
    s.visual_only = bool(data.get("visual_only", VocabularyConfig.visual_only))
    s.colour_by = data.get("colour_by") if data.get("colour_by") in ("atom", "class") else "atom"
    s.projection = data.get("projection") if data.get("projection") in ("PCA", "UMAP") else "PCA"
    flags = data.get("offtopic") or {}
    if isinstance(flags, dict):
        s.offtopic = {c: [(str(p[0]), str(p[1])) for p in v if isinstance(p, list) and len(p) == 2]
                      for c, v in flags.items() if c in s.descriptions and isinstance(v, list)}
    vocab, protos = data.get("vocab"), data.get("protos")
    vocab_cfg = proto_cfg = None
    if isinstance(vocab, dict):
        vocab_cfg = VocabularyConfig(
            n_atoms=_bounded(vocab.get("n_atoms"), int, 2, 256, "N atoms"),
            seed=_bounded(vocab.get("seed", 0), int, 0, 2**31 - 1, "seed"),
            visual_only=bool(vocab.get("visual_only", VocabularyConfig.visual_only)),
        )
        if isinstance(protos, dict):
            proto_cfg = PrototypeConfig(
                template=str(protos.get("template", PrototypeConfig.template))[:200],
                top_k=_bounded(protos.get("top_k"), int, 1, 16, "K"),
                tau=_bounded(protos.get("tau"), float, 1e-3, 100, "τ_p"),
            )
            proto_cfg.fill("x")  # a template without "{}" is refused here
            variant = protos.get("variant", "lafg")
            if variant not in VARIANTS:
                raise InputError(f"unknown prototype variant {str(variant)[:40]!r}")
            return s, Rebuild(vocab_cfg, proto_cfg, variant)
    return s, Rebuild(vocab_cfg, proto_cfg)


def adopt(s: Session, restored: Session) -> None:
    """Put a restored (or the demo's) tabs 1–3 into the visitor's session (owner, data sets and job stay)."""
    for name in ("names", "descriptions", "source", "visual_only", "colour_by", "projection", "offtopic", "vocab",
                 "prototypes", "set_aside", "vocab_key"):
        setattr(s, name, getattr(restored, name))
    s.highlight = []


def rebuild(svc: Services, s: Session, todo: Rebuild, owner: str, request: Any = None) -> str:
    """Build the vocabulary and prototypes a recipe asked for into the restored session ``s`` (the visitor's own
    session is changed only afterwards, by :func:`adopt`); returns a one-line summary."""
    from lafg.language.side import encode_vocabulary, language_prototypes
    from lafg.language.visual import filter_descriptions

    parts = [f"{len(s.names)} classes", f"{sum(len(s.descriptions.get(n, [])) for n in s.names)} sentences"]
    if todo.vocab is not None and any(s.descriptions.get(n) for n in s.names):
        cfg = todo.vocab
        encoder = svc.text_encoder()
        current = {c: s.descriptions.get(c, []) for c in s.names}
        filtered = filter_descriptions(current) if cfg.visual_only else None
        s.visual_only = cfg.visual_only
        s.set_aside = filtered.set_aside if filtered else {}
        with svc.heavy(owner, request):
            s.vocab = encode_vocabulary(filtered.kept if filtered else current, s.names, encoder, cfg, svc.cache)
        s.vocab_key = vocab_key(encoder.name, s.vocab)  # the key tab 2 gives the same vocabulary's map
        parts.append(f"{s.vocab.n_atoms} atoms")
        if todo.protos is not None:
            s.prototypes = language_prototypes(s.names, s.descriptions, encoder, None, todo.protos, todo.variant, s.vocab,
                                               svc.cache)
            parts.append(f"{len(s.prototypes.names)} prototypes")
    return "Restored from this browser: " + ", ".join(parts) + "."


def settings_values(s: Session) -> tuple:
    """The tabs' setting widgets for a restored session: N atoms, visual only, colour by, projection (tab 2) and
    template, K, τ_p, which atoms (tab 3)."""
    v = s.vocab.config if s.vocab is not None else VocabularyConfig()
    p = s.prototypes.config if s.prototypes is not None else PrototypeConfig()
    variant = s.prototypes.variant if s.prototypes is not None else "lafg"
    return v.n_atoms, s.visual_only, s.colour_by, s.projection, p.template, p.top_k, p.tau, variant


def same_as(s: Session, data: Any) -> bool:
    """True when a stored recipe is what the session already holds (nothing to rebuild on this load)."""
    return isinstance(data, dict) and data == recipe(s)

