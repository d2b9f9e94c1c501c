"""Is there a language signal to exploit? Agreement between the prototypes' class-similarity structure and the
images' (the frozen backbone's class-mean features), on the *seen* classes.

The relational reading of L_ali asks image–image similarities to follow prototype–prototype similarities, so
it can only add what language knows if the prototypes' similarity structure says something true about which
classes look alike. This measures that, per prototype variant and vocabulary size N / top-K:

- ``spearman``: rank correlation of the off-diagonal class-pair similarities (prototypes vs image class means);
- ``nn@5``: fraction of classes whose nearest class by prototype is among its 5 nearest by image features.

``permuted`` (a derangement of the LaFG prototypes) and ``random`` are the no-language references.
Rows for both text encoders: MiniLM and the vision-aligned ``bridge`` (:mod:`lafg.language.bridge`).

The bridge's softmax temperature is chosen here on the *seen* classes (zero-shot accuracy of the seen images
among the seen class names, nothing trained); then, with it fixed, zero-shot text→image accuracy on the
*unseen* classes with the untrained backbone: the bridge as is (its vectors live in the backbone's feature
space) against MiniLM through a ridge probe from unit image features to the class prototypes, fitted on the
seen classes (:func:`ridge_probe`: the app's probe for the untrained backbone when these rows were measured).
Prototypes come from the ladder's language side (:func:`benchmarks.ladder.language`: the seen classes'
descriptions only; unseen classes' prototypes from their names, :func:`benchmarks.ladder.eval_prototypes`), image
features from the frozen backbone through the library's feature cache (:class:`benchmarks.ladder.SetData`).
Writes ``structure.{json,md}`` into ``--out`` (default ``results/``).

    python -m benchmarks.structure [--sets SET ...] [--bridge-grid-only] [--out DIR]
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from benchmarks.ladder import (
    BRIDGE,
    PROTO,
    RESULTS,
    SETS,
    VOCAB,
    SetData,
    class_means,
    eval_prototypes,
    language,
    load_descriptions,
    seen_unseen,
)
from lafg.pipeline import method_prototypes
from lafg.training.methods import get_method

VARIANTS = ("template", "descriptions", "lafg", "permuted", "shuffled-atoms", "random")
SIZES = [(32, 5), (128, 1), (128, 5), (128, 20), (512, 5), (512, 20)]  # (N, K)
BRIDGE_TEMPERATURES = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2)  # the bridge's softmax temperature grid


def agreement(protos: np.ndarray, visual: np.ndarray, k: int = 5) -> dict[str, float]:
    """Spearman ρ of off-diagonal cosine similarities and nearest-class agreement (see module doc)."""
    p = protos / np.linalg.norm(protos, axis=1, keepdims=True)
    sp, sv = p @ p.T, visual @ visual.T
    off = ~np.eye(len(p), dtype=bool)
    rho = spearmanr(sp[off], sv[off]).statistic
    np.fill_diagonal(sp, -np.inf)
    np.fill_diagonal(sv, -np.inf)
    nn_text = sp.argmax(1)
    top_visual = np.argsort(-sv, axis=1)[:, :k]
    hit = (top_visual == nn_text[:, None]).any(1).mean()
    return {"spearman": round(float(rho), 3), f"nn@{k}": round(float(hit), 3)}


def zero_shot(class_vecs: np.ndarray, feats: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy (%) of nearest class vector by cosine; ``class_vecs`` and ``feats`` share one space."""
    c = class_vecs / np.linalg.norm(class_vecs, axis=1, keepdims=True)
    f = feats / np.linalg.norm(feats, axis=1, keepdims=True)
    return round(100.0 * float(((f @ c.T).argmax(1) == labels).mean()), 2)


def ridge_probe(x: np.ndarray, labels: np.ndarray, class_vecs: np.ndarray, ridge: float = 1.0):
    """``z ↦ (z − mean) W``: ridge regression (penalty ``ridge``) from the centred rows of ``x`` to
    ``class_vecs[labels]``, no intercept on the text side (the app's untrained-backbone probe when
    results/structure.md was measured; the library's read-out, :func:`lafg.retrieval.attribute_space.fit_readout`, adds one)."""
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(class_vecs, dtype=np.float32)[np.asarray(labels)]
    mean = x.mean(axis=0)
    xc = x - mean
    if xc.shape[0] < xc.shape[1]:  # dual form with fewer images than dimensions: W = Xᵀ (X Xᵀ + λI)⁻¹ Y
        w = xc.T @ np.linalg.solve(xc @ xc.T + ridge * np.eye(xc.shape[0], dtype=np.float32), y)
    else:
        w = np.linalg.solve(xc.T @ xc + ridge * np.eye(xc.shape[1], dtype=np.float32), xc.T @ y)
    return lambda z: (np.asarray(z, dtype=np.float32) - mean) @ w


def ridge_zero_shot(fit_feats, fit_labels, fit_vecs, feats, labels, class_vecs) -> float:
    """MiniLM's path for the untrained backbone: a ridge probe from unit image features to the class vectors
    (:func:`ridge_probe`) fitted on ``fit_*``, then nearest class vector."""
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    project = ridge_probe(unit(fit_feats), fit_labels, fit_vecs)
    return zero_shot(class_vecs, project(unit(feats)), labels)


def bridge_temperature_grid(sets: dict, temperatures=BRIDGE_TEMPERATURES) -> list[dict]:
    """Seen-class zero-shot accuracy of the bridge per (temperature, centring): the validation that fixes
    :data:`lafg.language.bridge.DEFAULT_TEMPERATURE` (unseen classes untouched)."""
    from lafg.language.encoders import create_text_encoder

    rows = []
    seen = {set_name: (data.train_features(), data.kept_train_labels) for set_name, data in sets.items()}
    for t in temperatures:
        for center in (True, False):
            enc = create_text_encoder(BRIDGE, temperature=t, center=center)  # the registry's: one shared MiniLM
            for set_name, data in sets.items():
                vecs = enc.encode([PROTO.fill(n) for n in data.train_names])
                acc = zero_shot(vecs, *seen[set_name])
                rows.append({"set": set_name, "temperature": t, "center": center, "seen_zero_shot": acc})
                print(json.dumps(rows[-1]), flush=True)
    return rows


def unseen_zero_shot(set_name: str, data: SetData, descriptions) -> list[dict]:
    """Unseen-class zero-shot top-1 (%), untrained backbone: bridge (no fitting) vs MiniLM + ridge probe."""
    seen_f, seen_y = data.train_features(), data.kept_train_labels
    f, y = data.eval_features()
    out = [{"set": set_name, "path": "chance", "prototypes": "-", "zero_shot": round(100.0 / len(data.eval_names), 2)}]
    for encoder in ("minilm", BRIDGE):
        lang = language(data, descriptions, encoder=encoder)
        for variant in ("template", "lafg"):
            unseen = eval_prototypes(lang, data, variant, encoder)  # from the unseen classes' names only
            if encoder == BRIDGE:
                path, acc = "bridge, no fitting", zero_shot(unseen, f, y)
            else:
                path = "MiniLM + ridge probe fitted on the seen classes"
                acc = ridge_zero_shot(seen_f, seen_y, lang.prototypes[variant].vectors, f, y, unseen)
            out.append({"set": set_name, "path": path, "prototypes": variant, "zero_shot": acc})
            if encoder == "minilm":  # the app's path fits the probe on the gallery itself (its own labels)
                acc = ridge_zero_shot(f, y, unseen, f, y, unseen)
                out.append({"set": set_name, "path": "MiniLM + ridge probe fitted on the unseen gallery's labels (not zero-shot)", "prototypes": variant, "zero_shot": acc})
    for r in out:
        print(json.dumps(r), flush=True)
    return out


def structure_rows(set_name: str, data: SetData, descriptions, encoder: str, sizes) -> list[dict]:
    """Agreement rows of every prototype variant (and control) for one encoder and the given (N, K)."""
    visual = class_means(data.train_features(), data.kept_train_labels)
    rows = []
    for n_atoms, top_k in sizes:
        vocab = type(VOCAB)(**{**VOCAB.to_dict(), "n_atoms": n_atoms})
        proto = type(PROTO)(**{**PROTO.to_dict(), "top_k": top_k})
        lang = language(data, descriptions, vocab, proto, encoder=encoder)
        for variant in VARIANTS:
            if variant in ("template", "descriptions"):
                if (n_atoms, top_k) != (VOCAB.n_atoms, PROTO.top_k):
                    continue  # these do not depend on N / K
                protos = lang.prototypes[variant].vectors
            else:  # lafg and its controls, through the trainer's own path (seed 0's draw)
                protos = method_prototypes(lang, get_method(variant), seed=0)
            row = {"set": set_name, "encoder": encoder, "variant": variant, "N": n_atoms, "K": top_k}
            row.update(agreement(protos, visual))
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    import argparse

    from lafg.language.bridge import DEFAULT_TEMPERATURE

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bridge-grid-only", action="store_true", help="only the bridge temperature grid")
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder (default: benchmarks/results)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    sets = {name: seen_unseen(name, "head", 0) for name in args.sets}
    grid = bridge_temperature_grid(sets)
    best = max(
        {(r["temperature"], r["center"]) for r in grid},
        key=lambda tc: np.mean([r["seen_zero_shot"] for r in grid if (r["temperature"], r["center"]) == tc]),
    )
    print(f"bridge: best seen-class temperature {best[0]} (center={best[1]}); default {DEFAULT_TEMPERATURE}")
    if args.bridge_grid_only:
        return 0
    rows, zs = [], []
    for set_name, data in sets.items():
        descriptions = load_descriptions(set_name, "gpt4")
        rows += structure_rows(set_name, data, descriptions, "minilm", SIZES)
        rows += structure_rows(set_name, data, descriptions, BRIDGE, [(VOCAB.n_atoms, PROTO.top_k)])
        zs += unseen_zero_shot(set_name, data, descriptions)
    result = {"structure": rows, "bridge_temperature": grid, "bridge_choice": list(best), "zero_shot": zs}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "structure.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / "structure.md").write_text(markdown(result, time.perf_counter() - t0))
    return 0


def markdown(result: dict, seconds: float) -> str:
    from lafg.language.bridge import DEFAULT_TEMPERATURE

    lines = [
        "# Prototype similarity structure vs image similarity structure (seen classes)",
        "",
        "Spearman ρ between the off-diagonal class-pair cosine similarities of the prototypes and of the frozen",
        "EfficientNet-Lite0 class-mean features; nn@5 = share of classes whose nearest class by prototype is among",
        "its 5 nearest by image features (chance ≈ 5/(C−1): 0.05 on cars196's 98 seen classes, 0.09 on cub100's 58).",
        f"GPT-4 descriptions; prototype temperature τ_p = {PROTO.tau}; controls with seed 0's draw.",
        f"Encoders: MiniLM and the bridge (`{BRIDGE}`, T = {DEFAULT_TEMPERATURE}).",
        f"`python -m benchmarks.structure` ({seconds:.0f} s).",
        "",
        "| set | encoder | prototypes | N | K | spearman ρ | nn@5 |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in sorted(result["structure"], key=lambda r: (r["set"], r["encoder"] != "minilm")):
        n_k = ("–", "–") if r["variant"] in ("template", "descriptions") else (r["N"], r["K"])
        enc = "bridge" if r["encoder"].startswith("bridge") else "MiniLM"
        lines.append(
            f"| {r['set']} | {enc} | {r['variant']} | {n_k[0]} | {n_k[1]} | {r['spearman']:+.3f} | {r['nn@5']:.3f} |"
        )
    grid = result["bridge_temperature"]
    sets = list(dict.fromkeys(r["set"] for r in grid))  # SETS, or the --sets run
    lines += [
        "",
        "## Bridge temperature (validation on the seen classes only)",
        "",
        "Zero-shot top-1 (%) of the *seen* images among the seen class names (\"a photo of a {name}.\" through",
        "the bridge, cosine to the untrained backbone's features). `center` = the mean classifier direction removed.",
        f"Chosen: T = {result['bridge_choice'][0]}, center = {result['bridge_choice'][1]} (best mean).",
        "",
        "| T | center | " + " | ".join(sets) + " | mean |",
        "|---|---|" + "---|" * (len(sets) + 1),
    ]
    for t, c in dict.fromkeys((r["temperature"], r["center"]) for r in grid):
        vals = [next(r["seen_zero_shot"] for r in grid if (r["set"], r["temperature"], r["center"]) == (s, t, c)) for s in sets]
        lines.append(f"| {t} | {c} | " + " | ".join(f"{v:.2f}" for v in vals) + f" | {np.mean(vals):.2f} |")
    lines += [
        "",
        "## Text → image zero-shot on the unseen classes, untrained backbone (top-1 %)",
        "",
        "Each unseen image is assigned the unseen class whose text vector is nearest (template = \"a photo of a",
        "{name}.\"; lafg = template + top-K atoms of the seen-class vocabulary). Nothing is trained: the bridge",
        "needs no fitting at all; MiniLM (384-d) needs a map into the 1280-d image space, here the ridge probe the",
        "app used for the untrained backbone. The last MiniLM path fits that probe on the unseen gallery's own",
        "labels (what the app does on a labelled gallery): an upper reference, not zero-shot.",
        "",
        "| set | path | prototypes | zero-shot top-1 |",
        "|---|---|---|---|",
    ]
    for r in result["zero_shot"]:
        lines.append(f"| {r['set']} | {r['path']} | {r['prototypes']} | {r['zero_shot']:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
