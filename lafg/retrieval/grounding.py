"""How true are attribute scores? Ranking metrics of (images × attributes) scores against binary truth.

Used twice: by ``benchmarks/grounding.py`` against CUB-200-2011's human attribute annotations (which only ever
*measure*: nothing the app ships is fitted on them), and at fit time by :mod:`lafg.retrieval.attribute_space`, which measures a
read-out on held-out seen classes against what their own descriptions say (the only truth a data set without
annotations has).

- :func:`mean_average_precision`: per attribute (column), rank the images by score and take the average
  precision of the images whose truth is 1; the mean over attributes with at least one positive and one
  negative. Chance is each attribute's positive rate, averaged the same way.
- :func:`precision_at_k`: per image (row), the share of its ``k`` best-scored attributes that are true.
- :func:`attribute_correlations`: per attribute, Pearson's r between the scores and a continuous truth.

CUB's annotations (``class_attribute_labels_continuous.txt``, the percentage of a class's images on which the
attribute was marked) are read by :func:`read_cub_attributes`; :func:`attribute_phrase` renders an attribute
name ("has_wing_color::blue") as the short phrase a text encoder reads ("a bird with blue wings").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def average_precision(scores: np.ndarray, truth: np.ndarray) -> float:
    """AP of ranking ``scores`` (n,) against binary ``truth`` (n,); ties broken by position (stable)."""
    truth = np.asarray(truth, dtype=bool)
    n_pos = int(truth.sum())
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    hits = truth[order]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision[hits].sum() / n_pos)


@dataclass
class MapResult:
    map: float  # mean AP over the measured attributes, percent
    chance: float  # mean positive rate over the same attributes, percent
    per_attribute: np.ndarray  # (A,) AP percent, NaN where not measured
    measured: np.ndarray  # (A,) bool: attributes with at least one positive and one negative

    @property
    def n_measured(self) -> int:
        return int(self.measured.sum())


def mean_average_precision(scores: np.ndarray, truth: np.ndarray) -> MapResult:
    """Per column of ``scores`` (n, A) vs ``truth`` (n, A) bool: AP; mean over columns with both labels."""
    scores, truth = np.asarray(scores), np.asarray(truth, dtype=bool)
    if scores.shape != truth.shape:
        raise ValueError(f"scores {scores.shape} and truth {truth.shape} differ in shape")
    pos = truth.sum(axis=0)
    measured = (pos > 0) & (pos < truth.shape[0])
    ap = np.full(truth.shape[1], np.nan)
    for a in np.flatnonzero(measured):
        ap[a] = 100.0 * average_precision(scores[:, a], truth[:, a])
    if not measured.any():
        return MapResult(float("nan"), float("nan"), ap, measured)
    chance = 100.0 * float(truth[:, measured].mean(axis=0).mean())
    return MapResult(float(np.nanmean(ap[measured])), chance, ap, measured)


def precision_at_k(scores: np.ndarray, truth: np.ndarray, k: int = 5) -> float:
    """Mean over rows of the share of the ``k`` highest-scored columns that are true, percent."""
    scores, truth = np.asarray(scores, dtype=np.float64), np.asarray(truth, dtype=bool)
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return 100.0 * float(np.take_along_axis(truth, top, axis=1).mean())


def attribute_correlations(scores: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Pearson's r per column of ``scores`` (n, A) with ``target`` (n, A); NaN where either is constant."""
    x = np.asarray(scores, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    den = np.sqrt((x * x).sum(axis=0) * (y * y).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (x * y).sum(axis=0) / np.where(den > 0, den, 1.0), np.nan)


# ------------------------------------------------------------------------------------------ CUB annotations
@dataclass
class CubAttributes:
    names: list[str]  # 312 attribute names, official order ("has_wing_color::blue")
    classes: list[str]  # 200 class names, official order, "_" read as a space ("Black footed Albatross")
    percent: np.ndarray  # (200, 312) float: % of the class's images marked with the attribute

    def present(self, threshold: float = 50.0) -> np.ndarray:
        """(200, 312) bool: an attribute counts as present for a class at ≥ ``threshold`` % of its images."""
        return self.percent >= threshold

    def rows(self, names: list[str]) -> np.ndarray:
        """Row index of each class name."""
        where = {n: i for i, n in enumerate(self.classes)}
        return np.array([where[n] for n in names], dtype=np.int64)


def read_cub_attributes(folder: str | Path) -> CubAttributes:
    """``attributes.txt``, ``classes.txt`` and ``class_attribute_labels_continuous.txt`` of CUB-200-2011."""
    folder = Path(folder)
    names = [line.split(" ", 1)[1].strip() for line in (folder / "attributes.txt").read_text().splitlines() if line.strip()]
    classes = [line.split(" ", 1)[1].strip().split(".", 1)[1].replace("_", " ")
               for line in (folder / "classes.txt").read_text().splitlines() if line.strip()]
    percent = np.loadtxt(folder / "class_attribute_labels_continuous.txt", dtype=np.float64)
    if percent.shape != (len(classes), len(names)):
        raise ValueError(f"annotation matrix {percent.shape} does not match {len(classes)} classes × {len(names)} attributes")
    return CubAttributes(names, classes, percent)


_PART = {  # CUB part → how a sentence names it
    "bill": "bill", "wing": "wings", "upperparts": "upperparts", "underparts": "underparts", "breast": "breast",
    "back": "back", "tail": "tail", "upper_tail": "upper tail", "head": "head", "throat": "throat", "eye": "eyes",
    "forehead": "forehead", "under_tail": "under tail", "nape": "nape", "belly": "belly", "leg": "legs",
    "crown": "crown",
}


def _value(v: str) -> str:
    v = re.sub(r"_\(.*\)$", "", v)  # "large_(16_-_32_in)" → "large"; "curved_(up_or_down)" → "curved"
    return v.replace("_", " ").replace("-like", "").replace("-wings", "").replace("-", " ")


def attribute_phrase(name: str) -> str:
    """A short sentence for a CUB attribute name, e.g. ``has_wing_color::blue`` → "a bird with blue wings"."""
    group, value = name.split("::", 1)
    kind = group.removeprefix("has_")
    v = _value(value)
    if kind == "size":
        return f"a {v} bird"
    if kind == "shape":
        return f"a {v} shaped bird"
    if kind == "primary_color":
        return f"a mostly {v} bird"
    if kind == "bill_length":
        return "a bird with a bill " + {"about the same as head": "about as long as its head",
                                        "longer than head": "longer than its head",
                                        "shorter than head": "shorter than its head"}.get(v, v)
    if kind == "bill_shape":
        return f"a bird with a {v} bill"
    if kind == "wing_shape":
        return f"a bird with {v} wings"
    if kind == "tail_shape":
        return f"a bird with a {v.removesuffix(' tail')} tail"
    if kind == "head_pattern":
        v = {"unique pattern": "unique head pattern", "malar": "malar stripe"}.get(v, v)
        return f"a bird with {_a(v)} head" if v in ("plain", "spotted", "striped", "crested", "capped", "masked") \
            else f"a bird with {_a(v)}"
    part, _, _what = kind.rpartition("_")
    noun = _PART.get(part, part.replace("_", " "))
    return f"a bird with {v} {noun}" if noun.endswith("s") else f"a bird with {_a(v)} {noun}"


def _a(phrase: str) -> str:
    return ("an " if phrase[:1] in "aeio" else "a ") + phrase
