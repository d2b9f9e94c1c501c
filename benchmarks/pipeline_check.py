"""No-regression check of the one-pipeline refactor (issue 8): the head-mode ladder rerun on this code, row by
row beside the committed ``results/ladder.json``.

    nice -n 10 python -m benchmarks.pipeline_check            # both sets, every head method, 3 seeds

The ladder's language side comes from :func:`lafg.language.side.seen_language` (seen-class descriptions only;
evaluation classes' prototypes from their names, :meth:`lafg.pipeline.Language.prototypes_for`), and every row
trains through :func:`lafg.pipeline.train_run` (the readings registry, the RNG-saving checkpoints) and is scored
by :meth:`lafg.pipeline.Run.evaluate` on the checkpoint :func:`lafg.pipeline.load_run` rebuilds
(:func:`benchmarks.ladder.run_method`). Training rows should reproduce; only zero-shot of a ``descriptions`` row could move
(its unseen prototypes no longer read unseen descriptions), and the ladder runs none. A difference within the
seed spread is a tie. Writes ``results/pipeline_check.json`` and ``results/pipeline_check.md`` (never touches
``ladder.*``).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

import benchmarks.ladder as ladder_module
from benchmarks.ladder import RESULTS, SETS, _row_key, ladder
from lafg.store.atomic import atomic_write_bytes, write_json


def compare(new_rows: list[dict], old_rows: list[dict]) -> list[dict]:
    """Per new row: the committed row's R@1 / MAP@R beside the new ones, the difference, and a verdict."""
    old = {_row_key(r): r for r in old_rows}
    out = []
    for r in new_rows:
        o = old.get(_row_key(r))
        row = {k: r.get(k) for k in ("set", "mode", "method", "descriptions", "reading", "seeds")}
        for k in ("R@1", "MAP@R", "zero_shot"):
            if k not in r:
                continue
            row[k] = r[k]
            if o is not None and k in o:
                row[f"{k}_committed"] = o[k]
                row[f"{k}_delta"] = round(r[k][0] - o[k][0], 2)
        if "R@1_delta" in row:
            spread = max(r["R@1"][1], o["R@1"][1], 0.01)
            d = row["R@1_delta"]
            if abs(d) < 0.005:
                row["verdict"] = "same"
            elif r.get("method") == "pretrained":  # no training, no pipeline code: only the frozen features
                row["verdict"] = "frozen features differ (cache recomputed)"
            elif abs(d) <= spread:
                row["verdict"] = "tie (within seed spread)"
            else:
                row["verdict"] = "better" if d > 0 else "REGRESSION"
        else:
            row["verdict"] = "no committed row"
        out.append(row)
    return out


def markdown(rows: list[dict], wall: float) -> str:
    lines = [
        "# Pipeline check: head-mode ladder on the one-pipeline code vs the committed ladder.json",
        "",
        "Unseen classes, mean ± std over seeds (%). `Δ` = new − committed mean. Same settings as the ladder "
        "(benchmarks/ladder.py HEAD); language side through lafg.pipeline (seen-class descriptions only).",
        f"Wall time: {wall:.0f} s on the shared 2-core machine (LAFG_THREADS={os.environ.get('LAFG_THREADS', '2')}).",
        "",
        "Float-level differences are expected and are not the pipeline's: the ladder's feature cache was recomputed",
        "on this machine today (the untrained `pretrained` row shows it), and a different torch thread count changes",
        "reduction order. A trained row counts as a regression only beyond its seed spread.",
        "",
        "| set | method | descr. | L_ali | seeds | R@1 new | R@1 committed | Δ R@1 | MAP@R new | Δ MAP@R | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['set']} | {r['method']} | {r['descriptions']} | {r['reading']} | {r['seeds']} | "
            f"{_pm(r.get('R@1'))} | {_pm(r.get('R@1_committed'))} | {r.get('R@1_delta', '—')} | "
            f"{_pm(r.get('MAP@R'))} | {r.get('MAP@R_delta', '—')} | {r['verdict']} |"
        )
    return "\n".join(lines) + "\n"


def _pm(v) -> str:
    return "—" if v is None else f"{v[0]:.2f} ± {v[1]:.2f}"


def rerender() -> None:
    """Recompute verdicts and the Markdown from ``pipeline_check.json`` (no training)."""
    data = json.loads((RESULTS / "pipeline_check.json").read_text())
    committed = [r for r in json.loads((RESULTS / "ladder.json").read_text()) if r["mode"] == "head"]
    rows = compare([{"mode": "head", **r} for r in data["rows"]], committed)
    write_json(RESULTS / "pipeline_check.json", {**data, "rows": rows})
    atomic_write_bytes(RESULTS / "pipeline_check.md", markdown(rows, data["wall_s"]).encode("utf-8"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--extras", action="store_true",
        help="also the ladder's extra lafg rows (GPT-3 descriptions, meankl reading); off: the 8 methods only",
    )
    parser.add_argument("--rerender", action="store_true", help="only rewrite the Markdown from the JSON")
    args = parser.parse_args(argv)
    if args.rerender:
        rerender()
        return 0
    if not args.extras:  # the shared 2-core machine: the methods themselves first
        ladder_module.EXTRA_READINGS = {"head": (), "partial": ()}
    torch.set_num_threads(int(os.environ.get("LAFG_THREADS", "2")))
    committed = json.loads((RESULTS / "ladder.json").read_text())
    committed = [r for r in committed if r["mode"] == "head"]
    t0 = time.perf_counter()

    def save(rows):
        compared = compare(rows, committed)
        wall = time.perf_counter() - t0
        write_json(RESULTS / "pipeline_check.json", {"wall_s": round(wall, 1), "rows": compared})
        atomic_write_bytes(RESULTS / "pipeline_check.md", markdown(compared, wall).encode("utf-8"))

    extra_llms = None if args.extras else ()
    save(ladder("head", args.sets, None, tuple(range(args.seeds)), extra_llms=extra_llms, on_row=save))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
