"""The off-topic check (:mod:`lafg.language.offtopic`) measured on the bundled model's real output.

    nice -n 10 python -m benchmarks.offtopic --generate /tmp/new.json   # new raw sentences (bundled SmolLM2)
    python -m benchmarks.offtopic                                      # precision/recall, before and after

Data: ``tests/data/offtopic_labelled.json``: the bundled SmolLM2-135M's sentences (default prompt, greedy, n=5,
the library's ``describe_classes``) for dog breeds, birds, cars and flowers, each labelled by hand *on topic*
(describes the class as the kind of thing it is, rightly or wrongly) or *off topic* (describes a different kind
of thing, another class, or nothing visible). Its ``splits`` say which groups were read while the check was
written (*design*) and which were labelled after it was frozen (*heldout*: the honest numbers). Positive class
= off topic (what the check flags). "before" is the check without its kind rule (``kind_check=False``, the
check as it was), "after" the default. Writes ``results/offtopic.json`` and ``results/offtopic.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from lafg.language.offtopic import OfftopicConfig, offtopic_flags

HERE = Path(__file__).resolve().parent
LABELS = HERE.parent / "tests" / "data" / "offtopic_labelled.json"
RESULTS = HERE / "results"
# What was generated: four kinds of thing in three rounds (see the labels file's "about" for which were read when).
GROUPS = {
    "dogs-1": ["Alaskan Malamute", "Shiba Inu", "Great Dane", "Beagle", "Dalmatian", "Border Collie", "Pug", "Siberian Husky"],
    "birds-1": ["Northern Cardinal", "Blue Jay", "Bald Eagle", "Barn Owl", "Mallard", "American Goldfinch", "Painted Bunting", "Ruby-throated Hummingbird"],
    "cars-1": ["Ford Mustang", "Tesla Model S", "Volkswagen Beetle", "Jeep Wrangler", "Toyota Prius", "Porsche 911", "Chevrolet Corvette", "Mini Cooper"],
    "flowers-1": ["Sunflower", "Tulip", "Daisy", "Orchid", "Lotus", "Bird of Paradise", "Snapdragon", "Foxglove"],
    "dogs-2": ["Bernese Mountain Dog", "Weimaraner", "Basenji", "Shih Tzu", "Newfoundland", "Whippet"],
    "birds-2": ["Scarlet Tanager", "Cedar Waxwing", "Great Blue Heron", "Pileated Woodpecker", "Atlantic Puffin", "Common Loon"],
    "cars-2": ["Honda Civic", "Audi R8", "Land Rover Defender", "Fiat 500", "Dodge Challenger", "Subaru Outback"],
    "flowers-2": ["Magnolia", "Hibiscus", "Lavender", "Poppy", "Marigold", "Water Lily"],
    "dogs-3": ["Labrador Retriever", "Dachshund", "Boxer", "Chihuahua", "Rottweiler", "Saint Bernard"],
    "birds-3": ["Barn Swallow", "Mourning Dove", "Snowy Owl", "Flamingo", "Peregrine Falcon", "Kingfisher"],
    "cars-3": ["BMW 3 Series", "Mercedes-Benz G-Class", "Nissan Leaf", "Ford F-150", "Volvo XC90", "Lamborghini Aventador"],
    "flowers-3": ["Rose", "Iris", "Peony", "Daffodil", "Carnation", "Bluebell"],
}
# "before": the check as it was (named classes, "<name> is a X", nearer another class's name); "after": the default.
CONFIGS = {"before": OfftopicConfig(kind_check=False), "after": OfftopicConfig()}


def generate(path: Path) -> None:
    """Describe every class of :data:`GROUPS` with the bundled model (no cache: what the model writes now) and
    write the sentences, unlabelled, to ``path`` (labels are added by hand, into the labels file)."""
    from lafg.language.describe import DescribeConfig, describe_classes
    from lafg.language.llm import create_llm

    llm = create_llm("bundled")
    groups = {}
    for group, names in GROUPS.items():
        described = describe_classes(names, llm, DescribeConfig())
        groups[group] = {c: [{"sentence": s, "off_topic": None} for s in v] for c, v in described.items()}
        print(group, sum(map(len, described.values())), flush=True)
    path.write_text(json.dumps({"model": llm.model_id, "engine": llm.engine, "groups": groups}, indent=1, ensure_ascii=False), encoding="utf-8")


def score(labels: dict, encoder, cfg: OfftopicConfig, split: str) -> dict:
    """Counts, precision and recall of the check's flags against the hand labels of one split's groups."""
    tp = fp = fn = tn = 0
    errors = []
    for group in labels["splits"][split]:
        classes = labels["groups"][group]
        descriptions = {c: [r["sentence"] for r in rows] for c, rows in classes.items()}
        flagged = {(c, f.sentence): f.reason for c, fl in offtopic_flags(descriptions, encoder, cfg).items() for f in fl}
        for c, rows in classes.items():
            for r in rows:
                pred, truth = (c, r["sentence"]) in flagged, bool(r["off_topic"])
                tp, fp, fn, tn = tp + (pred and truth), fp + (pred and not truth), fn + (truth and not pred), tn + (not pred and not truth)
                if pred != truth:
                    errors.append({"group": group, "class": c, "sentence": r["sentence"], "label": "off" if truth else "on",
                                   "reason": flagged.get((c, r["sentence"]))})
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    return {"sentences": tp + fp + fn + tn, "off_topic": tp + fn, "flagged": tp + fp, "tp": tp, "fp": fp, "fn": fn,
            "precision": round(precision, 3), "recall": round(recall, 3), "errors": errors}


def markdown(out: dict) -> str:
    lines = [
        "# Off-topic check on the bundled model's sentences",
        "",
        f"Labels: `tests/data/offtopic_labelled.json` ({out['model']}, {out['sentences']} sentences, hand-labelled;",
        "positive = off topic). *design*: groups read while the check was written; *heldout*: labelled after it",
        "was frozen (the honest numbers). *before*: without the kind rule (the check as it was); *after*: the",
        f"default. Text encoder: {out['encoder']}. `python -m benchmarks.offtopic`.",
        "",
        "| check | split | sentences | off topic | flagged | right flags | precision | recall |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, splits in out["scores"].items():
        for split, s in splits.items():
            lines.append(f"| {name} | {split} | {s['sentences']} | {s['off_topic']} | {s['flagged']} | {s['tp']} | {s['precision']:.2f} | {s['recall']:.2f} |")
    lines += ["", "Misses and false alarms of the check (after), held-out split:", ""]
    for e in out["scores"]["after"]["heldout"]["errors"]:
        lines.append(f"- {e['group']} · {e['class']} · labelled {e['label']}: “{e['sentence'][:140]}”" + (f" → {e['reason']}" if e["reason"] else ""))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generate", type=Path, metavar="OUT", help="write new (unlabelled) sentences of the bundled model to OUT")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.generate:
        generate(args.generate)
        return 0
    from lafg.language.encoders import create_text_encoder

    labels = json.loads(LABELS.read_text(encoding="utf-8"))
    encoder = create_text_encoder("minilm")
    t0 = time.perf_counter()
    scores = {name: {split: score(labels, encoder, cfg, split) for split in ("design", "heldout")} for name, cfg in CONFIGS.items()}
    out = {"model": labels["model"], "encoder": encoder.name,
           "sentences": sum(len(v) for g in labels["groups"].values() for v in g.values()),
           "config": {k: v.__dict__ for k, v in CONFIGS.items()}, "scores": scores, "seconds": round(time.perf_counter() - t0, 1)}
    for name, splits in scores.items():
        for split, s in splits.items():
            print(f"{name:7s} {split:8s} n={s['sentences']:3d} off={s['off_topic']:3d} flagged={s['flagged']:3d} precision={s['precision']:.2f} recall={s['recall']:.2f}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "offtopic.json").write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (args.out / "offtopic.md").write_text(markdown(out), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
