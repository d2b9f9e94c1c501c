"""Visual-attribute filter: set aside description sentences a photo cannot show, before clustering.

LLM descriptions mix what a class *looks like* ("a black cap", "a wide chrome grille") with what it *does* or
*is* ("known for its musical song", "often seen at bird feeders", "a 3.5-liter V6", "seats five"). Atoms built
from the second kind end up in prototypes and explanations that contradict the pictures. Each rule below is a
named reason; a sentence matching one is set aside (and shown as such), the rest go on to the vocabulary.

Rules, not a model: a teacher can read why a sentence was set aside, and the filter is deterministic and
instant. Measured against hand labels in ``benchmarks/visual_filter.py`` (precision/recall of "non-visual").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# (reason, pattern). Patterns are matched case-insensitively against the whole sentence.
RULES: tuple[tuple[str, str], ...] = (
    ("sound", r"\b(songs?|sings?|singing|sung|calls?|calling|voice|vocali[sz]\w*|chirp\w*|whistl\w*|trill\w*|twitter\w*|warbl(e|es|ing)|hoots?|quack\w*|honk\w*|squawk\w*|drumming)\b"),
    ("habitat or range", r"\b(habitats?|range|native to|inhabit\w*|residents?|residential|found (in|near|throughout)|seen (in|at|near|around|throughout)|forests?|woodlands?|wetlands?|marsh(es|y)?|swamps?|grasslands?|prairies?|parks|gardens|urban|cities|towns|suburb\w*|coasts?|coastal|shores?|\w+ern (regions?|parts)|north america|south america|united states|europe|asia|africa|australia|migrat\w*|breeding|winters? in|bird feeders?|feeders)\b"),
    ("behaviour", r"\b(behaviou?rs?|known (for|to)|tend(s|ency)?( to)?|habit of|flocks?|colon(y|ies)|in pairs|courtship|aerial displays?|forag\w*|scaveng\w*|hunts?|hunting|dives?|diving|swims|swimming|nests?|nesting|perch(es|ed|ing)|secretive|elusive|shy|motionless|flight pattern|flying|flies|hovers?|hovering|difficult to spot|territorial|aggressive behaviou?r)\b"),
    ("diet", r"\b(feeds?|feeding|diet|eats?|eating|preys?( on)?|food)\b"),
    ("name or history", r"\b(named (after|for)|name comes|hence the name|gives it its name|ornithologist|founder|founded|history|introduced in|first (produced|introduced|released)|production (run|years?)|manufactured|model years?|generations?)\b"),
    ("size or weight in numbers", r"(\b(weigh\w*|weights?|wingspan of|length of|measur\w+ (about|around|approximately|up to|\d)|size similar to|similar in size|the size of)\b|\b\d+(\.\d+)?\s*(?:-|–|to)?\s*(\d+(\.\d+)?)?\s*(inches|inch|in\.|cm|mm|centimet\w+|millimet\w+|met(er|re)s?|feet|foot|ft|grams?|g|kg|kilograms?|oz|ounces?|pounds?|lbs?)\b)"),
    ("performance or mechanics", r"\b(horsepower|hp|torque|top speed|mph|km/h|accelerat\w*|0-60|fuel (economy|efficien\w*)|mpg|\d(\.\d)?[- ]?(liter|litre|l)\b|liters?|litres?|cylinders?|turbocharged|supercharged|transmissions?|gearbox|dual-clutch|manual gearbox|automatic|suspension|drivetrain|all-wheel drive|four-wheel drive|awd|4wd|towing capacity|payload|choice of .{0,20}engines?|engine options?|powered by|powertrain|battery range|electric range|miles per|range of \d+)\b"),
    ("interior or equipment", r"\b(interior|dashboard|steering wheel|seats?|seating|seaters?|passengers?|infotainment|touchscreen|display screen|navigation|audio|stereo|speakers?|cassette|cd player|bluetooth|sensors?|monitoring system|airbags?|safety (features?|rating)|trunk space|legroom|headroom|gear (shift|lever)|center console|centre console|climate control|cruise control|keyless|under (the )?cargo floor|cargo space|cabin space)\b"),
    ("price or reputation", r"(\$\s?\d|\b(price[sd]?|pricing|costs?|msrp|affordable|expensive|cheap|reliab\w*|popular|popularity|best-selling|resale|warranty|comfortable ride|smooth ride)\b)"),
)
_COMPILED = tuple((reason, re.compile(pattern, re.I)) for reason, pattern in RULES)
# Sentences about wheel sizes ("18-inch alloy wheels") describe something visible; numbers there are no measurement.
_WHEELS = re.compile(r"\b(wheels?|rims?)\b", re.I)


def non_visual_reason(sentence: str) -> str | None:
    """The first rule's reason a sentence describes something a photo cannot show, or None (visual)."""
    for reason, pattern in _COMPILED:
        if pattern.search(sentence):
            if reason == "size or weight in numbers" and _WHEELS.search(sentence):
                continue
            return reason
    return None


def is_visual(sentence: str) -> bool:
    return non_visual_reason(sentence) is None


@dataclass
class FilterResult:
    """``kept``: the visual sentences per class (every class of the input, possibly empty); ``set_aside``:
    per class, (sentence, reason) pairs; ``emptied``: classes whose every sentence was non-visual."""

    kept: dict[str, list[str]]
    set_aside: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    emptied: list[str] = field(default_factory=list)

    @property
    def n_kept(self) -> int:
        return sum(len(v) for v in self.kept.values())

    @property
    def n_set_aside(self) -> int:
        return sum(len(v) for v in self.set_aside.values())

    def reasons(self) -> dict[str, int]:
        """Reason → how many sentences it set aside (largest first)."""
        counts: dict[str, int] = {}
        for pairs in self.set_aside.values():
            for _, reason in pairs:
                counts[reason] = counts.get(reason, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def filter_descriptions(descriptions: dict[str, list[str]], keep_if_emptied: bool = True) -> FilterResult:
    """Split every class's sentences into visual (kept) and non-visual (set aside, with the reason).

    ``keep_if_emptied``: a class whose sentences are *all* non-visual keeps them (a class with no sentence at
    all would drop out of the vocabulary); it is listed in :attr:`FilterResult.emptied` so the caller can say so.
    """
    kept: dict[str, list[str]] = {}
    aside: dict[str, list[tuple[str, str]]] = {}
    for name, sentences in descriptions.items():
        keep, drop = [], []
        for s in sentences:
            reason = non_visual_reason(s)
            (keep.append(s) if reason is None else drop.append((s, reason)))
        if drop:
            aside[name] = drop
        kept[name] = keep
    emptied = [c for c, v in kept.items() if not v and aside.get(c)]
    if keep_if_emptied:
        for name in emptied:
            kept[name] = [s for s, _ in aside[name]]
    return FilterResult(kept, aside, emptied)
