"""Descriptions a visitor imports, merged into the session's own (the file is read and validated by the one
reader, :func:`lafg.language.describe.load_descriptions_json`, under the visitor limits of :class:`lafg.app.limits.Limits`)."""

from __future__ import annotations

from lafg.errors import InputError


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
