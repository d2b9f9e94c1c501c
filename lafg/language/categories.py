"""Category names: parse from text or a file, validate, de-duplicate, and load real class-list presets."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from lafg.errors import InputError


@dataclass(frozen=True)
class CategoryLimits:
    max_name_chars: int = 120  # longer "names" are almost always pasted paragraphs
    max_count: int = 5000  # beyond this an LLM pass or a vocabulary plot is not meaningful
    min_count: int = 1


@dataclass
class CategoryList:
    """Validated, de-duplicated names in input order, plus what was dropped on the way."""

    names: list[str]
    duplicates: list[str] = field(default_factory=list)  # repeated names (second and later occurrences)

    def __len__(self) -> int:
        return len(self.names)


PRESETS = {
    "cub200": "CUB-200-2011 birds (200 species)",
    "cars196": "Stanford Cars (196 make/model/year classes)",
    "aircraft100": "FGVC-Aircraft (100 variants)",
    "flowers102": "Oxford Flowers-102 (102 species)",
    "pets37": "Oxford-IIIT Pets (37 cat and dog breeds)",
    "dogs120": "Stanford Dogs (120 breeds)",
}


def list_presets() -> dict[str, str]:
    """Preset name → human description."""
    return dict(PRESETS)


def load_preset(name: str) -> list[str]:
    """The real class list of a preset data set, in the data set's own class order."""
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    text = resources.files("lafg.language.presets").joinpath(f"{name}.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


# Format characters that are part of the spelling in some scripts (Persian, Indic, emoji sequences).
_KEEP_FORMAT = "\u200c\u200d"  # zero-width non-joiner, zero-width joiner


def clean_name(raw: str) -> str:
    """NFC-normalise, drop control characters and collapse whitespace; any script is kept as is."""
    text = unicodedata.normalize("NFC", raw)
    # control characters that are whitespace (tab, vertical tab, form feed, ...) separate words: keep them for
    # the whitespace collapse below instead of gluing the words together
    keep = "".join(
        ch for ch in text if unicodedata.category(ch)[0] != "C" or ch.isspace() or ch in _KEEP_FORMAT
    )
    return re.sub(r"\s+", " ", keep).strip()


def split_names(text: str) -> list[str]:
    """One name per line; any line holding commas is split on commas too (so a name cannot hold a comma)."""
    lines = [ln for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    parts: list[str] = []
    for line in lines:
        parts.extend(line.split(",") if "," in line else [line])
    return parts


def parse_categories(text: str, limits: CategoryLimits | None = None) -> CategoryList:
    """Parse names from free text (see :func:`split_names` and :func:`validate_names`)."""
    return validate_names(split_names(text or ""), limits)


def validate_names(raw_names: list[str], limits: CategoryLimits | None = None) -> CategoryList:
    """Clean names; raise :class:`InputError` with a one-line reason when the list is unusable.

    Empty entries are skipped, and repeated names (case-insensitive, after cleaning) are kept once in
    first-seen order and reported in ``duplicates``.
    """
    limits = limits or CategoryLimits()
    names: list[str] = []
    duplicates: list[str] = []
    seen: set[str] = set()
    for raw in raw_names:
        name = clean_name(raw)
        if not name:
            continue
        if len(name) > limits.max_name_chars:
            raise InputError(f"category name too long ({len(name)} > {limits.max_name_chars} characters): {name[:40]!r}…")
        key = name.casefold()
        if key in seen:
            duplicates.append(name)
            continue
        seen.add(key)
        names.append(name)
    if len(names) < limits.min_count:
        raise InputError("no category names given: enter one name per line (or comma separated)")
    if len(names) > limits.max_count:
        raise InputError(f"too many categories ({len(names)} > {limits.max_count})")
    return CategoryList(names=names, duplicates=duplicates)


def read_categories(path: str | Path, limits: CategoryLimits | None = None) -> CategoryList:
    """Parse names from a UTF-8 text file (a BOM is tolerated)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"category file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"category file is not UTF-8 text: {path}") from exc
    except OSError as exc:
        raise InputError(f"category file cannot be read: {path} ({exc.strerror or exc})") from exc
    return parse_categories(text, limits)


def resolve_categories(text: str | None = None, file: str | Path | None = None, preset: str | None = None) -> CategoryList:
    """Names from exactly one source: a preset, a file, or free text (that precedence if several are given)."""
    if preset:
        return validate_names(load_preset(preset))
    if file:
        return read_categories(file)
    return parse_categories(text or "")


# ---------------------------------------------------------------- matching names across sources
# A data set's class names (folders, classes.csv) and the keys of a descriptions file are written by different
# people: "globe-flower" / "Globe flower", "Clark's Nutcracker" / "Clarks_Nutcracker". Matching goes exact →
# normalised key → loose key, each step only among the names still unmatched, and reports what stays unmatched.

_APOSTROPHES = "'’‘`´ʼ"
_CONNECTORS = frozenset({"and"})  # "pink and yellow dahlia" ~ "pink-yellow dahlia"


def _fold(name: str) -> str:
    """Casefolded NFKD text with accents dropped from Latin letters ("Ñandú" → "nandu"); other scripts keep
    their combining marks, which are part of the spelling there."""
    text = unicodedata.normalize("NFKD", clean_name(name)).casefold()
    out: list[str] = []
    for ch in text:
        if unicodedata.combining(ch) and out and out[-1].isascii():
            continue
        out.append(ch)
    text = "".join(out)
    for ch in _APOSTROPHES:
        text = text.replace(ch, "")  # "Clark's" and "Clarks" are one name
    return text.replace("&", " and ")


def _words(name: str) -> list[str]:
    """Runs of letters, digits and combining marks (Indic vowel signs are part of a word)."""
    text = "".join(ch if ch.isalnum() or unicodedata.category(ch)[0] == "M" else " " for ch in _fold(name))
    return text.split()


def name_key(name: str) -> str:
    """The key two spellings of one class share: case, accents, punctuation (hyphens, apostrophes, underscores,
    dots), spacing and unicode form ignored. ``"Globe-Flower"``, ``"globe flower"`` → ``"globeflower"``."""
    return "".join(_words(name))


def loose_key(name: str) -> str:
    """:func:`name_key` that also ignores "and"/"&" and a word repeated in a row ("lotus lotus" → "lotus")."""
    words: list[str] = []
    for word in _words(name):
        if word in _CONNECTORS or (words and words[-1] == word):
            continue
        words.append(word)
    return "".join(words)


@dataclass
class NameMatch:
    """How the ``wanted`` names (a data set's classes) map onto ``available`` ones (e.g. description keys)."""

    pairs: dict[str, str]  # wanted name → the available name it matched (exactly, by key or loosely)
    loose: dict[str, str] = field(default_factory=dict)  # the pairs matched only by the loose key: worth a look
    unmatched: list[str] = field(default_factory=list)  # wanted names with no counterpart, in wanted order
    unused: list[str] = field(default_factory=list)  # available names no wanted name matched

    def renamed(self, data: dict[str, list[str]]) -> dict[str, list[str]]:
        """``data`` (keyed by available names) re-keyed by the wanted names that matched, in wanted order."""
        return {want: data[have] for want, have in self.pairs.items()}


def match_names(wanted: list[str], available: list[str]) -> NameMatch:
    """Match each wanted name to at most one available name, and each available name to at most one wanted.

    Exact spelling wins; then :func:`name_key`; then :func:`loose_key`. A key shared by several still-unmatched
    names on either side matches none of them (ambiguous: reported as unmatched rather than guessed).
    """
    wanted = list(dict.fromkeys(wanted))
    free = list(dict.fromkeys(available))
    pairs: dict[str, str] = {}
    loose: dict[str, str] = {}
    free_set = set(free)
    for name in wanted:
        if name in free_set:
            pairs[name] = name
            free_set.discard(name)
    for key_fn in (name_key, loose_key):
        todo = [n for n in wanted if n not in pairs]
        left = [n for n in free if n in free_set]
        by_key: dict[str, list[str]] = {}
        for name in left:
            by_key.setdefault(key_fn(name), []).append(name)
        want_keys: dict[str, list[str]] = {}
        for name in todo:
            want_keys.setdefault(key_fn(name), []).append(name)
        for key, names in want_keys.items():
            candidates = by_key.get(key, [])
            if key and len(names) == 1 and len(candidates) == 1:
                pairs[names[0]] = candidates[0]
                free_set.discard(candidates[0])
                if key_fn is loose_key:
                    loose[names[0]] = candidates[0]
    ordered = {n: pairs[n] for n in wanted if n in pairs}
    return NameMatch(
        pairs=ordered,
        loose=loose,
        unmatched=[n for n in wanted if n not in pairs],
        unused=[n for n in free if n in free_set],
    )
