"""``published`` backend: the GPT-3 description sets published with WaffleCLIP (Menon & Vondrick; Roth et al.),
shipped in ``lafg/language/descriptors/`` with their MIT licence. No model, no network: offline descriptions for every
preset class list.

Names are matched to the published keys ignoring case, spaces, ``-`` and ``_``; where the published files use
other names (FGVC aircraft by family, Stanford Dogs under ImageNet names, three Oxford flowers) the checked
``aliases.json`` maps them. The 15 preset classes the published files leave empty use ``supplement.json``
(short descriptions written by this project, reported as such through :attr:`PublishedDescriptionsLLM.sources`).
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from lafg.errors import InputError
from lafg.language.llm.base import LLM
from lafg.language.llm.json_backend import name_key

CITATION = (
    "Published GPT-3 descriptions: S. Menon, C. Vondrick, Visual Classification via Description from Large Language "
    "Models, ICLR 2023; K. Roth et al., Waffling around for Performance (WaffleCLIP), ICCV 2023. MIT licence, "
    "(c) 2023 Karsten Roth (lafg/language/descriptors/LICENSE)."
)
SUPPLEMENT = "supplement"  # source tag of the project-written descriptions


def _read(name: str) -> Any:
    return json.loads(resources.files("lafg.language").joinpath(f"descriptors/{name}").read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def aliases() -> dict[str, dict]:
    """Preset → ``{"file": published file, "aliases": {preset name: published key}}``."""
    return {k: v for k, v in _read("aliases.json").items() if not k.startswith("_")}


@lru_cache(maxsize=8)
def published_set(file: str) -> dict[str, list[str]]:
    """One shipped file as ``{published key: [sentence, ...]}`` (stripped, blanks dropped)."""
    return {str(k): [str(s).strip() for s in v if str(s).strip()] for k, v in _read(file).items()}


@lru_cache(maxsize=8)
def loose_keys(file: str) -> dict[str, str]:
    """One shipped file's keys by their loose form (:func:`name_key`): built once, not per name looked up."""
    return {name_key(k): k for k in published_set(file)}


@lru_cache(maxsize=1)
def supplement() -> dict[str, dict[str, list[str]]]:
    return {k: v for k, v in _read("supplement.json").items() if not k.startswith("_")}


def published_presets() -> list[str]:
    return list(aliases())


class PublishedDescriptionsLLM(LLM):
    """Looks descriptions up in the shipped published sets (``preset`` narrows the search to one set)."""

    name = "published"
    model_id = "waffleclip-gpt3"
    cacheable = False
    citation = CITATION

    def __init__(self, preset: str | None = None):
        if preset is not None and preset not in aliases():
            raise InputError(f"no published descriptions for preset {preset!r}; choose one of: {', '.join(aliases())}")
        self.preset = preset
        self.sources: dict[str, str] = {}  # class → "file:key" or "supplement", filled by stored_descriptions

    def lookup(self, name: str) -> tuple[list[str], str] | None:
        """(sentences, source) for one class name, or None when no shipped set knows it."""
        presets = [self.preset] if self.preset else list(aliases())
        key = name_key(name)
        for preset in presets:
            entry = aliases()[preset]
            data = published_set(entry["file"])
            target = entry["aliases"].get(name)
            if target is None:
                target = loose_keys(entry["file"]).get(key)
            if target is not None and data.get(target):
                return list(data[target]), f"{entry['file']}:{target}"
            extra = supplement().get(preset, {})
            for k, v in extra.items():
                if name_key(k) == key:
                    return list(v), SUPPLEMENT
        return None

    def stored_descriptions(self, names: list[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        missing = []
        self.sources = {}
        for n in names:
            hit = self.lookup(n)
            if hit is None:
                missing.append(n)
            else:
                out[n], self.sources[n] = hit
        if missing:
            shown = ", ".join(repr(m) for m in missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
            raise InputError(
                f"{len(missing)} class(es) have no published descriptions: {shown}. Published sets cover the presets "
                f"({', '.join(aliases())}); for other names use an LLM or import a JSON file"
            )
        return out

    def supplemented(self) -> list[str]:
        """Classes of the last lookup that use the project-written supplement, not the published text."""
        return [n for n, src in self.sources.items() if src == SUPPLEMENT]

    def generate(self, prompt: str, max_new_tokens: int, temperature: float = 0.0) -> str:
        raise InputError("the published backend only looks descriptions up; it cannot answer a prompt")

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "preset": self.preset, "citation": CITATION, "supplemented": self.supplemented()}
