"""``json`` backend: descriptions imported from a ``{class: [sentence, ...]}`` JSON file (no model at all).

Class names match exactly first, then ignoring case, punctuation, spacing and accents (``"Black_footed
Albatross"`` finds ``"Black footed Albatross"``, ``"globe flower"`` finds ``"globe-flower"``; see
:func:`lafg.language.categories.match_names`). Asking for classes the file lacks is an :class:`InputError`
that names them. Stored sentences are returned whole (they are the user's data; ``n`` does not trim them).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from lafg.errors import InputError
from lafg.language.llm.base import LLM


def name_key(name: str) -> str:
    """Key for matching class names across sources (:func:`lafg.language.categories.name_key`)."""
    from lafg.language.categories import name_key as key

    return key(name)


class JsonDescriptionsLLM(LLM):
    """Looks descriptions up in an imported JSON file instead of generating them."""

    name = "json"
    cacheable = False

    def __init__(self, path: str | Path | None = None, descriptions: dict[str, list[str]] | None = None):
        from lafg.language.describe import load_descriptions_json

        if (path is None) == (descriptions is None):
            raise InputError("the json backend needs exactly one of a descriptions file (--import-json) or a dict")
        if path is not None:
            path = Path(path)
            data = load_descriptions_json(path)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
            self.model_id = f"{path.name}@{digest}"
        else:
            data = {str(k): [str(s) for s in v] for k, v in descriptions.items()}
            blob = json.dumps(data, sort_keys=True, ensure_ascii=False).encode("utf-8")
            self.model_id = f"dict@{hashlib.sha256(blob).hexdigest()[:12]}"
        self.path = path
        self.data = data
        self._loose = {}
        for key in data:
            self._loose.setdefault(name_key(key), key)

    def match(self, name: str) -> str | None:
        """The stored class name for ``name``, or ``None``."""
        if name in self.data:
            return name
        return self._loose.get(name_key(name))

    def stored_descriptions(self, names: list[str]) -> dict[str, list[str]]:
        from lafg.language.categories import match_names

        pairs = match_names(names, list(self.data)).pairs  # exact, then normalised, then loose names
        missing = [n for n in names if n not in pairs]
        if missing:
            shown = ", ".join(repr(m) for m in missing[:10])
            more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            source = self.path or "the imported descriptions"
            raise InputError(f"{len(missing)} class(es) not found in {source}: {shown}{more}")
        return {n: list(self.data[pairs[n]]) for n in names}

    def generate(self, prompt: str, max_new_tokens: int, temperature: float = 0.0) -> str:
        """The stored sentences (one per line) of the class whose quoted name appears in ``prompt``."""
        found = [k for k in self.data if json.dumps(k, ensure_ascii=False) in prompt]
        if not found:
            raise InputError("none of the imported classes is named in the prompt")
        return "\n".join(self.data[max(found, key=len)])

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "path": str(self.path) if self.path else None}
