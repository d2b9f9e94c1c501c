"""Guidance for a classroom: the glossary, the "what the full experiment shows" panel (the committed ladder, read
plainly) and the "too small to separate methods" note of the Train tab.

The panel reads ``benchmarks/results/ladder.json`` (the project's committed results) and says what it shows,
computed from the rows, never typed in: whether lafg is within the seed spread of the permuted control.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import gradio as gr

from lafg.plots import empty_figure, ladder_chart

LADDER = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "ladder.json"

TRAIN_NOTE = (
    "Training uses only the **seen** classes' images; the chart then measures retrieval on the **unseen** classes "
    "(never trained on) after every epoch, next to the untrained backbone. Queue the **controls** too: a method "
    "uses language only if it beats *permuted* (the same prototypes shuffled between classes) by more than the "
    "seed spread. The 120-image demo is far too small for that: see *What the full experiment shows* below."
)
RETRIEVE_NOTE = (
    "Search a gallery by image or by words, with the pretrained backbone or a trained run. Each result's "
    "explanation lists the attribute atoms the query and the result share and those that differ, read from the "
    "parts of the model that were actually trained (the image projector), or from a fitted probe for the "
    "untrained backbone; the panel says which."
)

GLOSSARY = """
- **Attribute atom**: a cluster of similar description sentences from *all* classes (k-means on their text
  embeddings); its label is the sentence nearest the cluster centre. The vocabulary is the N atoms.
- **Borrowed attribute**: an atom a class's prototype uses although none of *its own* sentences fell into it
  (another class described it): how related classes share knowledge.
- **Linguistic prototype**: one vector per class, the embedding of "a photo of a {class}" plus a weighted sum of
  its K nearest atoms (weights: softmax of the similarities divided by τ_p). Training pulls images towards it.
- **τ_p (prototype temperature)**: small τ_p gives the nearest atom most of the weight; large τ_p makes the K
  weights equal (the Prototypes tab shows their spread).
- **Seen / unseen class**: training uses only the seen classes (first half); retrieval is measured on the unseen
  ones, never trained on: can the model tell apart classes it has never seen?
- **R@1 (Recall@1)**: share of query images whose nearest other image is of the same class. **R@K**: within the
  K nearest. **MAP@R**: how well *all* same-class images rank before the others (stricter than R@1).
- **Controls**: *pretrained* (no training), *aux* (image loss only, no language), *onehot* (classifier targets,
  no language), *random* (random prototypes), *permuted* (the real prototypes shuffled between classes: same
  geometry, wrong language). A method only "uses language" if it beats *permuted* by more than the seed spread.
- **Visual filter**: sentences a photo cannot show (song, habitat, diet, price, engine power…) are set aside
  before clustering. **Off-topic flag**: a sentence that names another class or reads like one.
- **Head / full mode**: train a small head on frozen backbone features (CPU) / fine-tune the whole backbone (GPU).
"""


def read_ladder(path: Path = LADDER) -> list[dict]:
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return rows if isinstance(rows, list) else list(rows.get("rows", []))


def _cmp(a: list, b: list) -> float:
    """a − b when it is outside twice the larger seed std (and 0.3 points), else 0.0 (a tie)."""
    diff = a[0] - b[0]
    return 0.0 if abs(diff) <= max(2 * max(a[1], b[1]), 0.3) else diff


def ladder_reading(rows: list[dict], mode: str = "head") -> str:
    """Plain-language reading of the ladder, every claim computed from its rows (lafg vs permuted, vs aux and
    vs the untrained backbone, per set)."""
    lines, ties, beats_backbone = [], [], []
    for set_name in dict.fromkeys(r["set"] for r in rows if r.get("mode") == mode):
        get = {
            r["method"]: r["R@1"] for r in rows
            if r.get("mode") == mode and r["set"] == set_name and r.get("descriptions") in ("gpt4", "-") and r.get("reading") in ("relational", "-")
        }
        if "lafg" not in get or "permuted" not in get:
            continue
        lafg, perm = get["lafg"], get["permuted"]
        d = _cmp(lafg, perm)
        ties.append(d == 0.0)
        text = f"**{set_name}**: lafg {lafg[0]:.1f} ± {lafg[1]:.1f} vs permuted {perm[0]:.1f} ± {perm[1]:.1f}: "
        text += "a tie (shuffling the prototypes between classes costs nothing)" if d == 0.0 else ("lafg ahead" if d > 0 else "permuted ahead")
        for other, label in (("aux", "no language at all (aux)"), ("pretrained", "the untrained backbone")):
            if other in get:
                d2 = _cmp(lafg, get[other])
                verdict = "ties" if d2 == 0.0 else ("beats" if d2 > 0 else "is below")
                text += f"; lafg {verdict} {label} ({get[other][0]:.1f})"
                if other == "pretrained":
                    beats_backbone.append(d2 > 0)
        lines.append(text + ".")
    if not lines:
        return "The committed ladder has no rows for this mode."
    reading = "**Reading.** "
    if all(ties):
        reading += (
            "In every set the real language prototypes do no better than the *same* prototypes shuffled between "
            "classes (the permuted control): here the benefit of the prototype loss, where there is one, comes from "
            "the prototypes' geometry (well-spread targets), not from what the descriptions say. "
        )
    else:
        reading += "The language prototypes and the permuted control differ beyond the seed spread in some sets: read the rows. "
    if beats_backbone and not all(beats_backbone):
        reading += "Training does not always beat the untrained backbone on unseen classes (see the rows). "
    reading += "The app's small demo cannot show any of this: with 36 unseen images one image is 2.8 points of R@1."
    return "\n".join(f"- {x}" for x in lines) + "\n\n" + reading


def experiment_panel() -> None:
    """An accordion with the committed ladder (Plotly) and its reading."""
    rows = read_ladder()
    with gr.Accordion("What the full experiment shows (the project's committed results)", open=False, elem_id="experiment-panel"):
        gr.Markdown(
            "Unseen-class R@1 of every method with its controls on two real data sets (cars196: 98 unseen car "
            "models; cub100: 50 unseen bird species), 3 seeds each, error bars = seed std. From "
            "`benchmarks/results/ladder.json` (`python -m benchmarks.ladder`)."
        )
        gr.Plot(value=ladder_chart(rows, "head") if rows else empty_figure("benchmarks/results/ladder.json not found"), label="Head mode (frozen backbone)")
        gr.Markdown(ladder_reading(rows, "head") if rows else "")
        if any(r.get("mode") == "partial" for r in rows):
            gr.Plot(value=ladder_chart(rows, "partial"), label="Partial mode (last two backbone stages fine-tuned)")
            gr.Markdown(ladder_reading(rows, "partial"))


def glossary() -> None:
    with gr.Accordion("Glossary (attribute atom, borrowed attribute, prototype, seen/unseen, R@1, MAP@R, controls)", open=False, elem_id="glossary"):
        gr.Markdown(GLOSSARY)


def too_small_note(result: dict, n_unseen_images: int | None = None) -> str:
    """Says when a data set is too small to separate methods (one query image moves R@1 by more than the
    differences the full experiment measures between methods, < 1 point)."""
    n_classes = len(result.get("unseen_classes") or [])
    if n_unseen_images is None or n_unseen_images <= 0:
        return ""
    step = 100.0 / n_unseen_images
    if step < 0.5 and n_classes >= 20:
        return ""
    return (
        f"\n\nℹ️ **This data set is too small to separate methods**: {n_unseen_images} unseen images in {n_classes} classes, "
        f"so one image is {step:.1f} points of R@1, while methods differ by less than 1 point on the full data sets. "
        "See *What the full experiment shows* below for the real comparison."
    )


@lru_cache(maxsize=16)
def unseen_images(folder: str) -> int:
    """How many unseen-class images a data set folder holds (0 when it cannot be read)."""
    from lafg.app.datasets import load_dataset

    try:
        return len(load_dataset(folder).split("unseen")[0])
    except Exception:  # noqa: BLE001 (a note is optional; a moved data set must not break the verdict)
        return 0
