"""Off-topic check for LLM descriptions: sentences that describe some other class, or something else entirely.

A weak model describes a Great Dane as a Golden Retriever, or "Löwe 🦁" as a fruit. Four checks, each with a
readable reason:

- *names another class*: the sentence contains another class's name from the list;
- *uses the class name for something else*: "<name> is a/an <X>" where no word of X occurs in any other
  sentence of the list (the other classes' descriptions define what kind of thing they all are);
- *nearer another class*: with its own class name taken out, the sentence's embedding is nearer another class's
  template embedding ("a photo of a {}.") than its own by at least ``margin`` (after removing each template's
  mean similarity to all sentences, so that names like "White necked Raven" do not attract every "white neck").
  Only sentences of ``min_words`` or more words are judged: short published phrases ("a long, hooked bill")
  are generic on purpose and would all be flagged.

- *about another kind of thing*: the list's kind is the kind of thing (:data:`KINDS`: an animal, a plant, a
  vehicle, clothing, a document…) most classes' names and sentences are nearest to, when it has more than half
  of their votes;
  a sentence nearer another kind by ``kind_margin``, or every sentence of a class whose sentences are on average
  nearer another kind by ``class_kind_margin``, is flagged (the bundled model described an Alaskan Malamute as
  clothing and a Lotus as a car). A list that mixes kinds evenly has no kind; a minority kind in a list is
  flagged (advice: the reason names both kinds).

Flags are advice shown beside the sentences; nothing is dropped unless the user asks. Precision and recall on
hand-labelled sentences of the bundled SmolLM2: ``benchmarks/results/offtopic.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from lafg.language.encode import l2_normalise


@dataclass(frozen=True)
class OfftopicConfig:
    template: str = "a photo of a {}."
    margin: float = 0.25  # how much nearer another class's name (centred cosine) a sentence must be to be flagged
    min_words: int = 6  # shorter sentences are not judged by the embedding check
    min_name_chars: int = 4  # shorter class names are not searched for inside sentences (too many accidents)
    kind_check: bool = True  # flag sentences about a different kind of thing than the rest of the list (KINDS)
    kind_margin: float = 0.15  # how much nearer another kind than the list's a sentence must be (cosine)
    class_kind_margin: float = 0.10  # the same for the mean of a class's sentences (≥ 2): flags all of them


# Kinds of thing, each described by a few phrases (their mean embedding is the kind's anchor): WordNet's top-level
# noun categories (its lexicographer files: animal, plant, artifact, food, person, communication, location,
# event, substance, object), the artifacts split into the kinds fine-grained sets are about. Round 1 of
# benchmarks/offtopic.py (the bundled model described a Malamute as clothing, a Shiba Inu as a device, a Lotus as
# a car) wrote the first list; it missed round 2's newspaper, hence the whole top level; round 3 is held out.
KINDS: dict[str, tuple[str, ...]] = {
    "an animal": ("an animal", "a dog", "a bird", "a cat", "an insect", "a fish",
                  "an animal with fur, feathers, paws, wings and a tail", "a dog with a thick fur coat",
                  "a bird with colourful feathers"),
    "a plant": ("a plant", "a flower", "a tree", "a plant with petals, leaves, a stem and roots", "a flower in bright colours"),
    "a vehicle": ("a vehicle", "a car", "an aircraft", "a boat", "a vehicle with wheels, doors, seats and an engine",
                  "a car painted blue, red or silver"),
    "clothing": ("clothing", "a garment", "a hat", "clothes made of fabric, wool and cloth"),
    "a device": ("a device", "a tool", "a machine", "an umbrella", "a gadget made of plastic with buttons and a handle"),
    "a building": ("a building", "a house", "a building with walls, a roof and windows"),
    "food": ("food", "a dish", "a fruit", "food you cook and eat"),
    "people": ("a person", "people", "a tribe of people", "a man or a woman"),
    "a word": ("a word", "a name", "a language", "a word that translates to another word"),
    "a document": ("a document", "a newspaper", "a book", "a magazine", "printed paper with text and pictures"),
    "a place": ("a place", "a city", "a country", "a region with rivers and mountains"),
    "an event": ("an event", "a festival", "a ceremony", "a sports game"),
    "a material": ("a material", "a chemical substance", "a mineral", "a liquid"),
    "a natural object": ("a rock", "a mountain", "a planet", "a star in the sky"),
}


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


_ANCHORS: dict[str, np.ndarray] = {}  # encoder name → kind anchors (the same phrases give the same rows)


def kind_anchors(encoder) -> np.ndarray:
    """(kinds, d) unit rows: the mean embedding of each kind's phrases (:data:`KINDS`); remembered per named
    encoder (an encoder without a ``name`` is asked every time)."""
    name = getattr(encoder, "name", None)
    if isinstance(name, str) and name in _ANCHORS:
        return _ANCHORS[name]
    rows = []
    for phrases in KINDS.values():
        mean = l2_normalise(np.asarray(encoder.encode(list(phrases)), dtype=np.float32)).mean(axis=0)
        rows.append(mean / max(float(np.linalg.norm(mean)), 1e-12))
    out = np.stack(rows)
    if isinstance(name, str):
        _ANCHORS[name] = out
    return out


def kind_gaps(sent: np.ndarray, owner: np.ndarray, names: np.ndarray, anchors: np.ndarray, min_share: float = 0.5):
    """(list kind, sentence gaps, sentence kinds, class gaps, class kinds), or None when no kind has more than
    ``min_share`` of the votes (a mixed list: nothing to be off). Each class votes twice: with the kind of its
    sentences' mean and with the kind of its name (``names``: the classes' template embeddings), so that a short
    list the model got half wrong (four dog breeds described as clothing, a device, a dog and a newspaper) still
    has the kind its names say. A gap is how much nearer a sentence (or the mean of a class's sentences) is to
    its nearest kind than to the list's kind."""
    n_classes = len(names)
    sims = sent @ anchors.T  # (sentences, kinds)
    class_sims = np.stack([sims[owner == c].mean(axis=0) if (owner == c).any() else np.zeros(len(anchors)) for c in range(n_classes)])
    present = np.array([(owner == c).any() for c in range(n_classes)])
    votes = np.bincount(class_sims[present].argmax(axis=1), minlength=len(anchors))
    votes += np.bincount((names[present] @ anchors.T).argmax(axis=1), minlength=len(anchors))
    kind = int(votes.argmax())
    if votes[kind] <= min_share * votes.sum():
        return None
    return kind, sims.max(axis=1) - sims[:, kind], sims.argmax(axis=1), class_sims.max(axis=1) - class_sims[:, kind], class_sims.argmax(axis=1)


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
    kinds = None
    if cfg.kind_check and len(names) >= 3:
        owner = np.array([c for c, _ in rows])
        kinds = kind_gaps(sent, owner, tmpl, kind_anchors(encoder))
        counts = np.bincount(owner, minlength=len(names))
    labels = list(KINDS)
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
        if flag is None and kinds is not None:
            kind, gaps, sent_kind, class_gaps, class_kind = kinds
            if gaps[i] >= cfg.kind_margin:
                flag = Flag(sentence, f"is about {labels[sent_kind[i]]}, while the list is about {labels[kind]}")
            elif counts[c] >= 2 and class_gaps[c] >= cfg.class_kind_margin:
                flag = Flag(sentence, f"its class's sentences are about {labels[class_kind[c]]}, while the list is about {labels[kind]}")
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
