"""Off-topic check for LLM descriptions: sentences that describe some other class, or something else entirely.

A weak model describes a Great Dane as a Golden Retriever, or "Löwe 🦁" as a fruit. Three checks, each with a
readable reason:

- *names another class*: the sentence contains another class's name from the list;
- *uses the class name for something else*: "<name> is a/an <X>" where no word of X occurs in any other
  sentence of the list (the other classes' descriptions define what kind of thing they all are);
- *nearer another class*: with its own class name taken out, the sentence's embedding is nearer another class's
  template embedding ("a photo of a {}.") than its own by at least ``margin`` (after removing each template's
  mean similarity to all sentences, so that names like "White necked Raven" do not attract every "white neck").
  Only sentences of ``min_words`` or more words are judged: short published phrases ("a long, hooked bill")
  are generic on purpose and would all be flagged.

Flags are advice shown beside the sentences; nothing is dropped unless the user asks. Measured flag rates
(MiniLM): 5% of the bundled SmolLM2's cub sentences at margin 0.25, 1% of its cars sentences.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from lafg.encode import l2_normalise


@dataclass(frozen=True)
class OfftopicConfig:
    template: str = "a photo of a {}."
    margin: float = 0.25  # how much nearer another class's name (centred cosine) a sentence must be to be flagged
    min_words: int = 6  # shorter sentences are not judged by the embedding check
    min_name_chars: int = 4  # shorter class names are not searched for inside sentences (too many accidents)


@dataclass(frozen=True)
class Flag:
    sentence: str
    reason: str
    other: str = ""  # the other class it resembles or names, when there is one


def _mentions(sentence: str, name: str) -> bool:
    return re.search(r"(?<!\w)" + re.escape(name.casefold()) + r"(?!\w)", sentence.casefold()) is not None


_WORD = re.compile(r"[^\W\d_]{3,}")
_STOP = frozenset("the and with its has have that which this are is was for from very long short small large".split())


def _strip_name(sentence: str, name: str) -> str:
    return re.sub(re.escape(name), "it", sentence, flags=re.I)


def _is_a(sentence: str, name: str) -> str | None:
    """X in "<name> is a/an X" (up to "with", "that", a comma or the end), or None."""
    m = re.search(re.escape(name.casefold()) + r"\W+(?:is|are)\s+(?:a|an)\s+(.+?)(?:\s+(?:with|that|which|who)\b|[,.;]|$)", sentence.casefold())
    return m.group(1).strip() if m else None


def offtopic_flags(descriptions: dict[str, list[str]], encoder, cfg: OfftopicConfig | None = None) -> dict[str, list[Flag]]:
    """Class → flags of its sentences (classes without a flag are left out). ``encoder.encode(texts)`` gives rows."""
    cfg = cfg or OfftopicConfig()
    names = [n for n, v in descriptions.items() if v]
    if len(names) < 2:
        return {}
    rows = [(c, s) for c, n in enumerate(names) for s in descriptions[n]]
    words_of = [set(_WORD.findall(" ".join(descriptions[n]).casefold())) for n in names]
    sent = l2_normalise(np.asarray(encoder.encode([_strip_name(s, names[c]) for c, s in rows]), dtype=np.float32))
    tmpl = l2_normalise(np.asarray(encoder.encode([cfg.template.replace("{}", n) for n in names]), dtype=np.float32))
    sims = sent @ tmpl.T  # (sentences, classes)
    sims = sims - sims.mean(axis=0, keepdims=True)  # hubness: some names are near every sentence
    out: dict[str, list[Flag]] = {}
    for i, (c, sentence) in enumerate(rows):
        named = [n for k, n in enumerate(names) if k != c and len(n) >= cfg.min_name_chars and _mentions(sentence, n)]
        other = sims[i].copy()
        other[c] = -np.inf
        k = int(np.argmax(other))
        flag = None
        thing = _is_a(sentence, names[c])
        if named:
            flag = Flag(sentence, f"names another class ({named[0]})", named[0])
        elif thing is not None:
            elsewhere = set().union(*(w for j, w in enumerate(words_of) if j != c))
            content = {w for w in _WORD.findall(thing) if w not in _STOP}
            if content and not content & elsewhere:
                flag = Flag(sentence, f"uses the class name for something else ({thing})")
        if flag is None and len(sentence.split()) >= cfg.min_words and other[k] - sims[i, c] >= cfg.margin:
            flag = Flag(sentence, f"reads more like {names[k]}", names[k])
        if flag is not None:
            out.setdefault(names[c], []).append(flag)
    return out


def drop_flagged(descriptions: dict[str, list[str]], flags: dict[str, list[Flag]]) -> dict[str, list[str]]:
    """The descriptions without the flagged sentences (a class never loses its last sentence)."""
    out = {}
    for name, sentences in descriptions.items():
        bad = {f.sentence for f in flags.get(name, [])}
        kept = [s for s in sentences if s not in bad]
        out[name] = kept or list(sentences)
    return out
