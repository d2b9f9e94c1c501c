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
    "seed spread. The 80-image demo is far too small for that: see *What the full experiment shows* below."
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


def ladder_reading(rows: list[dict], mode: str = "head") -> str:
    """Plain-language reading of the ladder, computed from its rows: lafg vs permuted and vs aux per set."""
    lines = []
    for set_name in dict.fromkeys(r["set"] for r in rows if r.get("mode") == mode):
        get = {
            r["method"]: r["R@1"] for r in rows
            if r.get("mode") == mode and r["set"] == set_name and r.get("descriptions") in ("gpt4", "-") and r.get("reading") in ("relational", "-")
        }
        if "lafg" not in get or "permuted" not in get:
            continue
        lafg, perm = get["lafg"], get["permuted"]
        diff, spread = lafg[0] - perm[0], max(lafg[1], perm[1])
        tie = abs(diff) <= max(2 * spread, 0.3)
        text = (
            f"**{set_name}**: lafg {lafg[0]:.1f} ± {lafg[1]:.1f} vs permuted {perm[0]:.1f} ± {perm[1]:.1f} "
            f"({diff:+.1f}): {'a tie: shuffling the prototypes between classes costs nothing' if tie else ('lafg ahead' if diff > 0 else 'permuted ahead')}."
        )
        if "pretrained" in get:
            text += f" The untrained backbone: {get['pretrained'][0]:.1f}."
        lines.append(text)
    if not lines:
        return "The committed ladder has no rows for this mode."
    return (
        "\n".join(f"- {x}" for x in lines)
        + "\n\n**Reading.** Training on the seen classes helps unseen-class retrieval, and some prototype target helps "
        "over none. But the real language prototypes do no better than the *same* prototypes shuffled between "
        "classes (the permuted control): in these experiments the benefit comes from the prototypes' geometry "
        "(well-spread targets), not from what the descriptions say. The app's small demo cannot show even that: "
        "with 40 unseen images one image is 2.5 points of R@1."
    )


def experiment_panel() -> None:
    """An accordion with the committed ladder (Plotly) and its reading."""
    rows = read_ladder()
    with gr.Accordion("📊 What the full experiment shows (the project's committed results)", open=False, elem_id="experiment-panel"):
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
    with gr.Accordion("📖 Glossary", open=False, elem_id="glossary"):
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
    from lafg.app.services import load_dataset

    try:
        return len(load_dataset(folder).split("unseen")[0])
    except Exception:  # noqa: BLE001 (a note is optional; a moved data set must not break the verdict)
        return 0
