"""When does one method beat another? One verdict for the ladder (``benchmarks/ladder.py``) and the app's
results panel (:mod:`lafg.app.guide`), and one choice of which ladder rows they read.

The rule (the ladder's, kept because it is the stricter of the two the project had): ``a`` beats ``b`` only when
*every* seed of ``a`` is above *every* seed of ``b`` **and** the means differ by more than the two seed standard
deviations added together; the mirror image is a loss; anything else is a tie. Both conditions, because with 3
seeds either alone is met by chance too often (three seeds of two equal methods are fully separated 1 time in
10; a 2-std gap alone ignores how the seeds overlap). Rows stored without per-seed values (older ladders) are
judged on the means alone. A single-seed row is taken at face value (the untrained backbone is deterministic);
two single-seed rows cannot be judged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

METRIC = "R@1"
# The committed ladder's rows, shipped as package data (benchmarks/ladder.py writes it next to
# benchmarks/results/ladder.json): an installed wheel has no benchmarks/ folder.
LADDER_DATA = Path(__file__).resolve().parents[1] / "results" / "ladder.json"


class Outcome(StrEnum):
    WIN = "win"
    LOSS = "loss"
    TIE = "tie"
    NO_SPREAD = "no spread"  # both rows have one seed: nothing to judge a difference against


@dataclass(frozen=True)
class Verdict:
    diff: float  # mean of a − mean of b (points of the metric)
    outcome: Outcome
    per_seed: bool  # judged on the seeds themselves (False: means and stds only)


def _seeds(row: dict, metric: str) -> list[float] | None:
    seeds = row.get(f"{metric}_seeds")
    if seeds:
        return [float(x) for x in seeds]
    if row.get("seeds", 1) < 2:
        return [float(row[metric][0])]  # one run: its value is its only seed
    return None


def compare(a: dict, b: dict, metric: str = METRIC) -> Verdict:
    """The verdict of ladder row ``a`` against row ``b`` on ``metric`` (rows hold ``[mean, std]``, ``seeds`` and,
    when stored, ``{metric}_seeds``); see the module docstring for the rule."""
    diff = float(a[metric][0]) - float(b[metric][0])
    spread = float(a[metric][1]) + float(b[metric][1])
    if a.get("seeds", 1) < 2 and b.get("seeds", 1) < 2:
        return Verdict(diff, Outcome.NO_SPREAD, False)
    sa, sb = _seeds(a, metric), _seeds(b, metric)
    if sa is not None and sb is not None:
        if min(sa) > max(sb) and diff > spread:
            return Verdict(diff, Outcome.WIN, True)
        if max(sa) < min(sb) and -diff > spread:
            return Verdict(diff, Outcome.LOSS, True)
        return Verdict(diff, Outcome.TIE, True)
    if abs(diff) > spread:
        return Verdict(diff, Outcome.WIN if diff > 0 else Outcome.LOSS, False)
    return Verdict(diff, Outcome.TIE, False)


def row_key(row: dict) -> str:
    """``"lafg"`` for a MiniLM (or language-free) row, ``"lafg@bridge"`` for a bridge row: how verdicts name rows."""
    return row["method"] + ("@bridge" if row.get("encoder", "minilm") == "bridge" else "")


def main_rows(rows: list[dict], mode: str, set_name: str, reading: str = "relational") -> dict[str, dict]:
    """:func:`row_key` → row of one set and mode: the first row of each key with the main reading (``reading``
    or ``"-"``); later rows of the same key (other descriptions, extra runs) are left out. Every reader of the
    ladder (its verdicts, the app's sentence and chart) picks its rows here."""
    out: dict[str, dict] = {}
    for r in rows:
        if r.get("mode") == mode and r.get("set") == set_name and r.get("reading", "-") in ("-", reading):
            out.setdefault(row_key(r), r)
    return out


def minilm_rows(rows: list[dict], mode: str, reading: str = "relational") -> list[dict]:
    """The main MiniLM (and language-free) rows of every set of ``mode``, in the ladder's order: what the app's
    chart and reading show (bridge rows are a different text encoder, not the method's main result)."""
    sets = dict.fromkeys(r["set"] for r in rows if r.get("mode") == mode)
    picked = {id(r) for s in sets for k, r in main_rows(rows, mode, s, reading).items() if "@" not in k}
    return [r for r in rows if id(r) in picked]


def read_ladder(path: Path = LADDER_DATA) -> list[dict]:
    """The rows of a ladder file (a list, or ``{"rows": [...]}``); [] when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    rows = data if isinstance(data, list) else data.get("rows", []) if isinstance(data, dict) else []
    return [r for r in rows if isinstance(r, dict)]
