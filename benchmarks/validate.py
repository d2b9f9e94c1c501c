"""Choose the L_ali reading and hyperparameters on a group-wise validation split of the *seen* classes.

Whole car makes (first word of the name) / bird groups (last word) are held out together (~30% of the seen
classes, :mod:`benchmarks.splits`); models train on the remaining seen classes and are scored by Recall@1 on the
held-out ones. The unseen classes are never touched. Every row runs the ladder's library pipeline
(:func:`benchmarks.ladder.load_set` on the split's class ids, then :func:`benchmarks.ladder.run_method`:
:func:`lafg.pipeline.train_run` + :meth:`lafg.pipeline.Run.evaluate`); the ``visual-means`` rows train on
:func:`benchmarks.ladder.oracle_language`. Writes ``validation.json`` and ``validation.md`` into ``--out``
(default ``results/``).

    python -m benchmarks.validate [--grid GRID] [--only LABEL ...] [--sets SET ...] [--seeds S] [--views V]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from benchmarks.ladder import (
    HEAD,
    ORACLE,
    PARTIAL,
    PROTO,
    RESULTS,
    SETS,
    TOP_STAGES,
    VOCAB,
    SetData,
    language,
    load_descriptions,
    load_set,
    oracle_language,
    run_method,
    set_folder,
)
from benchmarks.splits import GROUPS, seen_class_split
from lafg.language.side import Language
from lafg.store.atomic import atomic_write_text
from lafg.vision.data import load_image_set

# (label, method, config overrides): the baselines, every reading with LaFG and with the permuted control,
# then the relational reading's β / τ and the learning rate.
GRID = [
    ("pretrained", "pretrained", {}),
    ("aux", "aux", {}),
    ("onehot", "onehot", {}),
    *[(f"lafg {r}", "lafg", {"reading": r}) for r in ("relational", "meankl", "symkl", "attribute")],
    *[(f"permuted {r}", "permuted", {"reading": r}) for r in ("relational", "meankl", "symkl", "attribute")],
    ("lafg relational β=3", "lafg", {"reading": "relational", "beta": 3.0}),
    ("permuted relational β=3", "permuted", {"reading": "relational", "beta": 3.0}),
    ("lafg meankl β=3", "lafg", {"reading": "meankl", "beta": 3.0}),
    ("lafg relational β=3 τt=0.05", "lafg", {"reading": "relational", "beta": 3.0, "tau_proto": 0.05}),
    (
        "permuted relational β=3 τt=0.05",
        "permuted",
        {"reading": "relational", "beta": 3.0, "tau_proto": 0.05},
    ),
    ("lafg relational β=10", "lafg", {"reading": "relational", "beta": 10.0}),
    ("permuted relational β=10", "permuted", {"reading": "relational", "beta": 10.0}),
    ("lafg attribute β=10", "lafg", {"reading": "attribute", "beta": 10.0}),
    ("permuted attribute β=10", "permuted", {"reading": "attribute", "beta": 10.0}),
    ("aux lr=1e-3 40ep", "aux", {"lr": 1e-3, "epochs": 40}),
    ("lafg relational lr=1e-3 40ep", "lafg", {"reading": "relational", "lr": 1e-3, "epochs": 40}),
]


# Vocabulary size N and atoms per prototype K (the ladder uses N 128, K 5), LaFG against its permuted control
# (both depend on N and K), relational β 3 as in the ladder.
NK_GRID = [
    (f"{m} N={n} K={k}", m, {}, {"n_atoms": n, "top_k": k})
    for n, k in ((32, 5), (128, 1), (128, 5), (128, 20), (512, 5), (512, 20))
    for m in ("lafg", "permuted")
]

# Augmentation: how many cached augmented views of each training image (the ladder uses 1).
VIEWS_GRID = [(f"{m} views={v}", m, {}, {"views": v}) for v in (0, 1, 3) for m in ("aux", "lafg", "permuted")]

# An oracle for the relational reading: the frozen backbone's own class-mean features as "prototypes" (the
# structure language agrees with, results/structure.md), against the same means permuted across classes.
ORACLE_GRID = [(f"{m} visual-means", m, {}, {"prototypes": "visual"}) for m in ("lafg", "permuted")]

# Partial mode, last stage only (these labels predate the two-stage default): the training length, then the
# chosen reading against its permuted control.
PARTIAL_GRID = [
    (label, method, overrides, {"stages": 1})
    for label, method, overrides in [
        ("partial aux 2ep", "aux", {"epochs": 2}),
        ("partial aux 6ep", "aux", {"epochs": 6}),
        ("partial lafg 6ep", "lafg", {"epochs": 6}),
        ("partial permuted 6ep", "permuted", {"epochs": 6}),
        ("partial aux 6ep head-lr 1e-3", "aux", {"epochs": 6, "lr": 1e-3}),
        ("partial lafg 6ep head-lr 1e-3", "lafg", {"epochs": 6, "lr": 1e-3}),
        ("partial permuted 6ep head-lr 1e-3", "permuted", {"epochs": 6, "lr": 1e-3}),
    ]
]

# Partial mode: how many backbone stages to fine-tune (the ladder fine-tunes the last one + conv head).
STAGES_GRID = [
    (f"partial {m} 6ep stages=2", m, {"epochs": 6}, {"stages": 2}) for m in ("aux", "lafg", "permuted")
]

# Partial mode with the last two stages fine-tuned (the better depth above): augmentation, 0 or 1 cached
# augmented view, on both sets.
PARTIAL_VIEWS_GRID = [
    (f"partial {m} 6ep stages=2 views={v}", m, {"epochs": 6}, {"views": v, "stages": 2})
    for v in (0, 1)
    for m in ("aux", "lafg", "permuted")
]

# Prototype temperature τ_p of the top-K softmax (lafg/language/prototypes.py): at τ_p = 1 the K weights are uniform
# (0.19–0.21 for K = 5, the atoms' cosines to t_c differ by hundredths); smaller τ_p favours the nearest atoms.
TAU_P = (1.0, 0.1, 0.03, 0.01)
TAUP_GRID = [(f"{m} τp={t}", m, {}, {"tau_p": t}) for t in TAU_P for m in ("lafg", "permuted")]

GRIDS = {
    "head": GRID,
    "taup": TAUP_GRID,
    "partial": PARTIAL_GRID,
    "nk": NK_GRID,
    "views": VIEWS_GRID,
    "oracle": ORACLE_GRID,
    "stages": STAGES_GRID,
    "partial-views": PARTIAL_VIEWS_GRID,
}
GRID_MODE = {
    "partial": "partial",
    "stages": "partial",
    "partial-views": "partial",
}  # the others train heads on frozen features


def validation_ids(set_name: str, fraction: float = 0.3, seed: int = 0) -> tuple[list[int], list[int]]:
    """(training class ids, held-out class ids) of the set's seen classes, split by group
    (:func:`benchmarks.splits.seen_class_split`); ids index :func:`lafg.vision.data.load_image_set`'s classes."""
    image_set = load_image_set(set_folder(set_name))
    return seen_class_split(image_set.classes, image_set.seen, GROUPS[set_name], fraction, seed)


def validation_data(set_name: str, views: int, mode: str = "head", stages: int = TOP_STAGES) -> SetData:
    """The set with the split's training groups to train on and its held-out groups to evaluate on."""
    train_ids, val_ids = validation_ids(set_name)
    return load_set(set_name, mode, views, stages, train_ids=train_ids, eval_ids=val_ids)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--only", nargs="*", default=None, help="labels of the grid to run (default all)")
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--grid", default="head", choices=sorted(GRIDS), help="which grid (default head)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder (default: benchmarks/results)")
    args = parser.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("LAFG_THREADS", "2")))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "validation.json"
    mode = GRID_MODE.get(args.grid, "head")
    for set_name in args.sets:
        data_cache, lang_cache = {}, {}
        descriptions = load_descriptions(set_name, "gpt4")
        for label, method, overrides, *setup in GRIDS[args.grid]:
            if args.only and label not in args.only:
                continue
            setup = {
                "views": args.views,
                "stages": TOP_STAGES,
                "n_atoms": VOCAB.n_atoms,
                "top_k": PROTO.top_k,
                **(setup[0] if setup else {}),
            }
            data_key = (setup["views"], setup["stages"])
            if data_key not in data_cache:
                data_cache[data_key] = data = validation_data(set_name, setup["views"], mode, setup["stages"])
                print(f"{set_name}: {len(data.train_names)} training / {len(data.eval_names)} validation classes")
            data = data_cache[data_key]
            lang_key = (data_key, setup["n_atoms"], setup["top_k"], setup.get("prototypes"), setup.get("tau_p"))
            if lang_key not in lang_cache:
                lang_cache[lang_key] = validation_language(data, descriptions, setup)
            encoder = ORACLE if setup.get("prototypes") == "visual" else "minilm"
            cfg = replace(HEAD if mode == "head" else PARTIAL, **overrides)
            t0 = time.perf_counter()
            runs = [run_method(method, cfg, data, lang_cache[lang_key], s, encoder) for s in range(args.seeds)]
            r1 = [r["R@1"] for r in runs]
            row = {
                "set": set_name,
                "label": label,
                "method": method,
                "config": {
                    k: getattr(cfg, k) for k in ("reading", "beta", "tau_align", "tau_proto", "lr", "epochs")
                }
                | setup,
                "val_classes": len(data.eval_names),
                "R@1": [round(float(np.mean(r1)), 2), round(float(np.std(r1)), 2)],
                "MAP@R": round(float(np.mean([r["MAP@R"] for r in runs])), 2),
                "seeds": args.seeds,
                "views": setup["views"],
                "seconds": round(time.perf_counter() - t0, 1),
            }
            if "tau_p" in setup:
                row["weights"] = weight_spread(lang_cache[lang_key])
            print(json.dumps(row), flush=True)
            rows = [r for r in _read(path) if (r["set"], r["label"]) != (set_name, label)] + [row]
            atomic_write_text(path, json.dumps(rows, indent=1) + "\n")  # re-read first: grids may run side by side
    atomic_write_text(args.out / "validation.md", markdown(_read(path)))
    return 0


def weight_spread(lang: Language) -> dict[str, float]:
    """What τ_p does to the training classes' prototypes: mean largest and smallest of the K softmax weights,
    and mean cosine between T_c and its template t_c."""
    p = lang.prototypes["lafg"]
    return {
        "w_max": round(float(p.top_weights.max(1).mean()), 3),
        "w_min": round(float(p.top_weights.min(1).mean()), 3),
        "cos_T_t": round(float((p.vectors * p.template).sum(1).mean()), 3),
    }


def _configs(setup: dict):
    vocab = replace(VOCAB, n_atoms=setup["n_atoms"])
    proto = replace(PROTO, top_k=setup["top_k"], tau=setup.get("tau_p", PROTO.tau))
    return vocab, proto


def validation_language(data: SetData, descriptions: dict[str, list[str]], setup: dict) -> Language:
    """The training classes' GPT-4 prototypes with the grid's N, K and τ_p (:func:`benchmarks.ladder.language`),
    or the oracle: their frozen image-feature means (:func:`benchmarks.ladder.oracle_language`)."""
    if setup.get("prototypes") == "visual":
        return oracle_language(data)
    return language(data, descriptions, *_configs(setup))


def _read(path) -> list[dict]:
    return json.loads(path.read_text()) if path.exists() else []


def markdown(rows: list[dict]) -> str:
    labels = list(dict.fromkeys(r["label"] for r in rows))
    by = {(r["set"], r["label"]): r for r in rows}
    lines = [
        "# Validation on held-out groups of *seen* classes (R@1 %, mean ± std over the seeds shown)",
        "",
        "Whole car makes / bird groups held out together (~30% of the seen classes); unseen classes untouched.",
        "Head rows: frozen features; base config lr 1e-4, 60 epochs, β 1, τ 0.2, N 128, K 5 (overrides in the",
        "label). Partial rows: last MBConv stage + conv head fine-tuned (``stages=2``: the last two stages),",
        "relational β 3. `views` = cached augmented views per training image besides the evaluation crop.",
        "Grids: `python -m benchmarks.validate --grid {head,nk,views,oracle,partial,partial-views,stages,taup} --seeds S`.",
        "τ_p rows (`--grid taup --views 0`): the ladder's head config (relational, β 3), N 128, K 5; the",
        "controls in rows run after per-seed draws were introduced use draw s for seed s.",
        "",
        "| config | views | seeds | " + " | ".join(SETS) + " | mean |",
        "|---|---|---|" + "---|" * (len(SETS) + 1),
    ]
    for label in labels:
        vals = [by.get((s, label)) for s in SETS]
        first = next(v for v in vals if v)
        cells = [f"{v['R@1'][0]:.2f} ± {v['R@1'][1]:.2f}" if v else "—" for v in vals]
        mean = f"{np.mean([v['R@1'][0] for v in vals]):.2f}" if all(vals) else "—"
        lines.append(
            f"| {label} | {first['views']} | {first['seeds']} | " + " | ".join(cells) + f" | {mean} |"
        )
    spread = [r for r in rows if "weights" in r and r["method"] == "lafg"]
    if spread:
        lines += [
            "",
            "## Prototype temperature τ_p: what it does to the prototypes (training classes of the split)",
            "",
            "Mean over classes of the largest / smallest of the K = 5 softmax weights, and mean cos(T_c, t_c).",
            "Chosen: τ_p = 0.01 (highest lafg R@1; lafg/language/prototypes.py PrototypeConfig.tau).",
            "",
            "| set | τ_p | w_max | w_min | cos(T_c, t_c) |",
            "|---|---|---|---|---|",
        ]
        for r in sorted(spread, key=lambda r: (r["set"], -r["config"]["tau_p"])):
            w = r["weights"]
            lines.append(f"| {r['set']} | {r['config']['tau_p']} | {w['w_max']:.3f} | {w['w_min']:.3f} | {w['cos_T_t']:.3f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
