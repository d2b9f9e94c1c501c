"""Descriptions a visitor imports: a validated JSON reader and the merge into the session's own."""

from __future__ import annotations

import json
from pathlib import Path

from lafg.errors import InputError

from .limits import Limits


def json_depth(text: str) -> int:
    """Deepest nesting of ``[``/``{`` in JSON text (strings skipped), without parsing it (no recursion)."""
    depth = deepest = 0
    in_str = escaped = False
    for ch in text:
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def read_descriptions_json(path: str | Path, limits: Limits | None = None) -> dict[str, list[str]]:
    """``{class: [sentence, ...]}`` from a JSON file, validated (never unpickled): size and nesting are checked
    before parsing; every value must be a list of strings (a string value is not split into characters)."""
    lim = limits or Limits()
    name = Path(path).name[:80]
    if Path(path).stat().st_size > lim.json_bytes:
        raise InputError(f"{name} is larger than {lim.json_bytes // (1024 * 1024)} MB; descriptions files are small")
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
        if json_depth(text) > lim.json_depth:
            raise InputError(f"{name} is nested {json_depth(text)} levels deep; descriptions are {{\"class\": [\"sentence\", ...]}}")
        raw = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InputError(f"not a descriptions JSON file ({type(exc).__name__}): {name}") from exc
    shape = 'descriptions JSON must map each class name to a list of sentences: {"class": ["...", ...]}'
    if not isinstance(raw, dict):
        raise InputError(shape)
    if len(raw) > lim.names:
        raise InputError(f"{name} describes {len(raw)} classes; at most {lim.names} are accepted")
    out = {}
    for key, value in raw.items():
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            got = type(value).__name__ if not isinstance(value, list) else f"a list holding {type(next(x for x in value if not isinstance(x, str))).__name__}"
            raise InputError(f"{shape} (class {str(key)[:60]!r} has {got})")
        if len(value) > lim.sentences_per_class:
            raise InputError(f"class {str(key)[:60]!r} has {len(value)} sentences; at most {lim.sentences_per_class} are accepted")
        out[str(key)] = [x.strip()[: lim.sentence_chars] for x in value if x.strip()]
    return out


def merge_imported(current: dict[str, list[str]], names: list[str], data: dict[str, list[str]]) -> tuple[list[str], str]:
    """Merge imported descriptions into ``current`` (in place) for the session's ``names``; returns (matched
    names, a note for the user). An empty list keeps the sentences a class already has; keys that match no
    class are counted."""
    matched = [n for n in names if n in data]
    if not matched:
        raise InputError("none of the current class names appear in this JSON file (keys must match the names exactly)")
    empty = [n for n in matched if not data[n]]
    current.update({n: data[n] for n in matched if data[n]})
    notes = [f"{len(data) - len(matched)} key(s) of the file match no class name"] if len(data) > len(matched) else []
    if empty:
        notes.append(f"{len(empty)} class(es) have no sentence in the file and keep their own: {', '.join(empty[:5])}")
    return matched, "; ".join(notes)
