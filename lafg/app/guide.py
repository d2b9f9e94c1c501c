"""Guidance for a classroom: the glossary, the "what the full experiment shows" panel (the committed ladder, read
plainly) and the "too small to separate methods" note of the Train tab.

The panel reads the project's committed ladder (``benchmarks/results/ladder.json``, shipped inside the package as
``lafg/results/ladder.json``) and says what it shows, computed from its MiniLM rows with the ladder's own verdict
(:mod:`lafg.retrieval.verdict`), never typed in: whether lafg is within the seed spread of the permuted control.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import gradio as gr

from lafg.app.plots import empty_figure, ladder_chart
from lafg.retrieval import verdict
from lafg.retrieval.verdict import LADDER_DATA, Outcome

TRAIN_NOTE = (
    "Training uses only the **seen** classes' images; the chart shows the training loss per epoch. Retrieval on "
    "the **unseen** classes (never trained on) is measured **once, at the end**, next to the untrained backbone. "
    "Queue the **controls** too: a method uses language only if it beats *permuted* (the same prototypes shuffled "
    "between classes) by more than the seed spread. The demo is far too small for that (the results table says "
    "so in every row): see *What the full experiment shows* below."
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


def read_ladder(path: Path = LADDER_DATA) -> list[dict]:
    """The committed ladder rows the panel reads (package data; see :data:`lafg.retrieval.verdict.LADDER_DATA`)."""
    return verdict.read_ladder(path)


def _said(v: verdict.Verdict, a: str, b: str) -> str:
    """The verdict in words: who is ahead, or a tie (see :mod:`lafg.retrieval.verdict` for the rule)."""
    if v.outcome is Outcome.TIE:
        return "a tie within the seed spread"
    if v.outcome is Outcome.NO_SPREAD:
        return "one seed each: no spread to judge"
    return f"{a if v.outcome is Outcome.WIN else b} ahead beyond the seed spread"


def _pm(row: dict) -> str:
    """R@1 as ``mean ± std`` with ladder.md's two decimals (the same figures as its table)."""
    return f"{row['R@1'][0]:.2f} ± {row['R@1'][1]:.2f}"


def ladder_reading(rows: list[dict], mode: str = "head") -> str:
    """Plain-language reading of the ladder, every claim computed from its MiniLM rows (the rows the chart and
    ``ladder.md``'s verdicts use, :func:`lafg.retrieval.verdict.main_rows`) with :func:`lafg.retrieval.verdict.compare`: lafg vs
    permuted, vs aux and vs the untrained backbone, per set."""
    lines, ties, beats_backbone = [], [], []
    for set_name in dict.fromkeys(r["set"] for r in rows if r.get("mode") == mode):
        get = verdict.main_rows(rows, mode, set_name)
        if "lafg" not in get or "permuted" not in get:
            continue
        lafg, perm = get["lafg"], get["permuted"]
        v = verdict.compare(lafg, perm)
        ties.append(v.outcome is Outcome.TIE)
        text = f"**{set_name}**: lafg {_pm(lafg)} vs permuted {_pm(perm)}: {_said(v, 'lafg', 'permuted')}"
        if v.outcome is Outcome.TIE:
            text += " (shuffling the prototypes between classes costs nothing)"
        for other, label in (("aux", "no language at all (aux)"), ("pretrained", "the untrained backbone")):
            if other in get:
                v2 = verdict.compare(lafg, get[other])
                said = {Outcome.WIN: "beats", Outcome.LOSS: "is below"}.get(v2.outcome, "ties")
                text += f"; lafg {said} {label} ({_pm(get[other])})"
                if other == "pretrained":
                    beats_backbone.append(v2.outcome is Outcome.WIN)
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
    reading += "The app's small demo cannot show any of this: one unseen image there moves R@1 by points, not tenths."
    return "\n".join(f"- {x}" for x in lines) + "\n\n" + reading


def ladder_figure(rows: list[dict], mode: str):
    """The chart of the same rows as :func:`ladder_reading` (MiniLM and language-free rows only)."""
    return ladder_chart(verdict.minilm_rows(rows, mode), mode)


def experiment_panel() -> None:
    """An accordion with the committed ladder (Plotly) and its reading."""
    rows = read_ladder()
    with gr.Accordion("What the full experiment shows (the project's committed results)", open=False, elem_id="experiment-panel"):
        gr.Markdown(
            "Unseen-class R@1 of every method with its controls on two real data sets (cars196: 98 unseen car "
            "models; cub100: 50 unseen bird species), 3 seeds each, error bars = seed std, MiniLM text encoder. "
            "From `benchmarks/results/ladder.json` (`python -m benchmarks.ladder`), shipped with the package. "
            "A difference counts only when every seed of one method is above every seed of the other *and* the "
            "means are further apart than the two seed spreads together; anything else is a tie."
        )
        gr.Plot(value=ladder_figure(rows, "head") if rows else empty_figure("the package's ladder results are missing"), label="Head mode (frozen backbone)")
        gr.Markdown(ladder_reading(rows, "head") if rows else "")
        if any(r.get("mode") == "partial" for r in rows):
            gr.Plot(value=ladder_figure(rows, "partial"), label="Partial mode (last two backbone stages fine-tuned)")
            gr.Markdown(ladder_reading(rows, "partial"))


def glossary() -> None:
    with gr.Accordion("Glossary (attribute atom, borrowed attribute, prototype, seen/unseen, R@1, MAP@R, controls)", open=False, elem_id="glossary"):
        gr.Markdown(GLOSSARY)


def too_small(n_classes: int, n_unseen_images: int) -> bool:
    """True when one query image moves R@1 by more than the differences the full experiment measures between
    methods (< 1 point), or there are too few unseen classes for a retrieval measure to mean much."""
    return n_unseen_images > 0 and (100.0 / n_unseen_images >= 0.5 or n_classes < 20)


def separation_cell(n_classes: int, n_unseen_images: int) -> str:
    """What the results table can say about its rows: every app run is one seed, so no seed spread exists;
    on a small set one image is worth more than the gaps between methods."""
    if n_unseen_images <= 0:
        return "unknown (the data set cannot be read)"
    if too_small(n_classes, n_unseen_images):
        return f"no: too few classes to separate methods (1 image = {100.0 / n_unseen_images:.1f} points)"
    return "one seed, no spread: gaps under ~1 point are ties on the full data sets"


def too_small_note(result: dict, n_unseen_images: int | None = None) -> str:
    """Says when a data set is too small to separate methods (see :func:`too_small`)."""
    n_classes = len(result.get("unseen_classes") or [])
    if n_unseen_images is None or n_unseen_images <= 0:
        return ""
    step = 100.0 / n_unseen_images
    if not too_small(n_classes, n_unseen_images):
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
