"""`full` mode on real cars196 on a GPU machine: aux, random and lafg, short schedule, unseen-class Recall@K.

The device machine only receives 64 MiB, so ``pack`` (run here) writes a reduced copy of cars196 (each image
resized to about 112×112 pixels of area, JPEG q70, at most 24 seen images a class, all unseen ones; the trainer upsamples to 224 as usual) plus the GPT-4
prototypes, into an ignored folder; ``run`` (on the GPU) trains and evaluates. Numbers are therefore not
comparable with the CPU ladder's; they show whether end-to-end fine-tuning changes the picture.

    python -m benchmarks.full_cars196 pack .devrun
    python -m benchmarks.full_cars196 run .devrun OUT_DIR [--epochs 4]
    python -m benchmarks.full_cars196 ladder results/full_cars196_h200.json   # add its rows to ladder.json
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from lafg.vision.data import shared_data_path

SRC = shared_data_path() / "cars196"
DESCRIPTORS = SRC.parent / "descriptors" / "cars196_gpt4_adaptclipzs.json"


def pack(dest: Path, area: int = 112 * 112, seen_per_class: int = 24) -> None:
    from PIL import Image

    from lafg.language.encoders import create_text_encoder
    from lafg.language.prototypes import PrototypeConfig
    from lafg.language.side import seen_language
    from lafg.language.vocabulary import VocabularyConfig
    from lafg.store.cache import ArrayCache

    out = dest / "cars196"
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "classes.csv").write_bytes((SRC / "classes.csv").read_bytes())
    rows, per_class = [], {}
    for row in csv.DictReader(open(SRC / "images.csv")):
        n = per_class.get(row["class_id"], 0)
        if row["split"] == "train" and n >= seen_per_class:
            continue  # all unseen images are kept; the seen ones are capped to fit the transfer limit
        per_class[row["class_id"]] = n + 1
        rows.append(row)
    with open(out / "images.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["path", "class_id", "split"])
        writer.writeheader()
        writer.writerows(rows)
    for row in rows:
        target = out / row["path"]
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        im = Image.open(SRC / row["path"]).convert("RGB")
        scale = (area / (im.width * im.height)) ** 0.5
        im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.BICUBIC).save(
            target, quality=70
        )
    classes = list(csv.DictReader(open(SRC / "classes.csv")))
    train_names = [c["name"] for c in classes if c["split"] == "train"]
    desc = json.loads(DESCRIPTORS.read_text())
    # the seen classes' prototypes and vocabulary (their descriptions only); `run` trains on these alone
    lang = seen_language(
        train_names,
        desc,
        create_text_encoder("minilm"),
        VocabularyConfig(n_atoms=128, visual_only=False),  # as the ladder's committed rows: all sentences
        PrototypeConfig(top_k=5),
        variants=("lafg",),
        cache=ArrayCache(name="text"),
    )
    np.savez(dest / "cars196_lafg_gpt4.npz", train=lang.prototypes["lafg"].vectors, centroids=lang.centroids)


def run(src: Path, out: Path, epochs: int) -> None:
    import torch

    from lafg.retrieval.evaluate import evaluate_embeddings, image_embeddings
    from lafg.training.inputs import prepare_inputs
    from lafg.training.loop import TrainConfig, train
    from lafg.training.methods import control_prototypes, get_method
    from lafg.vision.backbones import create_backbone
    from lafg.vision.data import load_image_set

    out.mkdir(parents=True, exist_ok=True)
    data = load_image_set(src / "cars196")
    train_paths, train_labels, _ = data.split("seen")
    test_paths, test_labels, _ = data.split("unseen")
    with np.load(src / "cars196_lafg_gpt4.npz", allow_pickle=False) as z:
        protos, centroids = z["train"], z["centroids"]
    report = {
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "images": "cars196 resized to ~112x112 px area, <=24 seen images/class, all unseen (64 MiB transfer limit)",
        "rows": [],
    }
    t0 = time.perf_counter()
    emb, kept = image_embeddings(None, create_backbone("efficientnet_lite0"), "full", test_paths)
    report["rows"].append(
        {
            "method": "pretrained",
            **evaluate_embeddings(emb, test_labels[kept]),
            "seconds": round(time.perf_counter() - t0, 1),
        }
    )
    print(json.dumps(report["rows"][-1]), flush=True)
    for method in ("aux", "random", "lafg"):
        t0 = time.perf_counter()
        backbone = create_backbone("efficientnet_lite0").to("cuda" if torch.cuda.is_available() else "cpu")
        prepared = prepare_inputs(backbone, "full", train_paths)
        cfg = TrainConfig(
            method=method,
            mode="full",
            epochs=epochs,
            reading="relational",
            beta=3.0,
            lr=1e-4,
            trunk_lr=1e-4,
            classes_per_batch=64,
            images_per_class=2,
            seed=0,
        )
        m = get_method(method)
        result = train(
            cfg,
            prepared.inputs,
            train_labels[prepared.kept],
            Path("/tmp/full_cars196") / method,
            in_dim=prepared.in_dim,
            prototypes=control_prototypes(m, protos) if m.align else None,
            centroids=centroids,
            trunk=prepared.trunk,
        )
        emb, kept = image_embeddings(result.model, backbone, "full", test_paths)
        row = {
            "method": method,
            **evaluate_embeddings(emb, test_labels[kept]),
            "epochs": epochs,
            "seconds": round(time.perf_counter() - t0, 1),
            "config": asdict(cfg),
        }
        report["rows"].append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "config"}), flush=True)
        (out / "full_cars196.json").write_text(json.dumps(report, indent=1))
    (out / "full_cars196.json").write_text(json.dumps(report, indent=1))


def ladder_rows(report: dict) -> list[dict]:
    """The report's rows in ``ladder.json``'s form (mode ``full``, one seed: std 0, the card's name)."""
    from lafg.training.methods import get_method

    rows = []
    for r in report["rows"]:
        align = get_method(r["method"]).align
        row = {
            "set": "cars196",
            "mode": "full",
            "method": r["method"],
            "descriptions": "gpt4" if align else "-",
            "seeds": 1,
            "reading": r.get("config", {}).get("reading", "-") if align else "-",
            "device": report["device"],
            "images": report["images"],
        }
        row.update({k: [round(float(r[k]), 2), 0.0] for k in ("R@1", "R@2", "R@4", "R@8", "MAP@R")})
        row["seconds"] = r["seconds"]
        rows.append(row)
    return rows


def add_to_ladder(report_path: Path) -> None:
    from benchmarks.ladder import write_results

    rows = ladder_rows(json.loads(report_path.read_text()))
    write_results(rows, "full", sum(r["seconds"] for r in rows), append=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=("pack", "run", "ladder"))
    ap.add_argument("src", type=Path)
    ap.add_argument("out", type=Path, nargs="?")
    ap.add_argument("--epochs", type=int, default=4)
    a = ap.parse_args()
    if a.action == "pack":
        pack(a.src)
    elif a.action == "run":
        run(a.src, a.out, a.epochs)
    else:
        add_to_ladder(a.src)
