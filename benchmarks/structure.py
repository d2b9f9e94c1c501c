"""Is there a language signal to exploit? Agreement between the prototypes' class-similarity structure and the
images' (the frozen backbone's class-mean features), on the *seen* classes.

The relational reading of L_ali asks image–image similarities to follow prototype–prototype similarities, so
it can only add what language knows if the prototypes' similarity structure says something true about which
classes look alike. This measures that, per prototype variant and vocabulary size N / top-K:

- ``spearman``: rank correlation of the off-diagonal class-pair similarities (prototypes vs image class means);
- ``nn@5``: fraction of classes whose nearest class by prototype is among its 5 nearest by image features.

``permuted`` (a fixed derangement of the LaFG prototypes) and ``random`` are the no-language references.
Seen classes only: nothing here looks at the unseen classes. Writes ``results/structure.{json,md}``.

    python -m benchmarks.structure
"""

from __future__ import annotations

import json
import time

import numpy as np
from scipy.stats import spearmanr

from benchmarks.ladder import PROTO, RESULTS, SETS, VOCAB, language, load_descriptions, seen_unseen
from lafg.methods import get_method

VARIANTS = ("template", "descriptions", "lafg", "permuted", "random")
SIZES = [(32, 5), (128, 1), (128, 5), (128, 20), (512, 5), (512, 20)]  # (N, K)


def class_means(features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(C, d) L2-normalised mean of the L2-normalised features of each class."""
    f = features / np.linalg.norm(features, axis=1, keepdims=True)
    means = np.stack([f[labels == c].mean(0) for c in range(labels.max() + 1)])
    return means / np.linalg.norm(means, axis=1, keepdims=True)


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


def main() -> int:
    rows, t0 = [], time.perf_counter()
    for set_name in SETS:
        data = seen_unseen(set_name, "head", 0)
        visual = class_means(data.train_views[0], data.train_labels)
        descriptions = load_descriptions(set_name, "gpt4")
        for n_atoms, top_k in SIZES:
            vocab = type(VOCAB)(**{**VOCAB.to_dict(), "n_atoms": n_atoms})
            proto = type(PROTO)(**{**PROTO.to_dict(), "top_k": top_k})
            lang = language(data, descriptions, vocab, proto)
            for variant in VARIANTS:
                if variant in ("template", "descriptions"):
                    if (n_atoms, top_k) != (VOCAB.n_atoms, PROTO.top_k):
                        continue  # these do not depend on N / K
                    protos = lang.train[variant]
                else:  # lafg and its controls, through the trainer's own path
                    protos, _ = lang.for_method(get_method(variant))
                row = {"set": set_name, "variant": variant, "N": n_atoms, "K": top_k}
                row.update(agreement(protos, visual))
                print(json.dumps(row), flush=True)
                rows.append(row)
    (RESULTS / "structure.json").write_text(json.dumps(rows, indent=1) + "\n")
    (RESULTS / "structure.md").write_text(markdown(rows, time.perf_counter() - t0))
    return 0


def markdown(rows: list[dict], seconds: float) -> str:
    lines = [
        "# Prototype similarity structure vs image similarity structure (seen classes)",
        "",
        "Spearman ρ between the off-diagonal class-pair cosine similarities of the prototypes and of the frozen",
        "EfficientNet-Lite0 class-mean features; nn@5 = share of classes whose nearest class by prototype is among",
        "its 5 nearest by image features (chance ≈ 5/(C−1): 0.05 on cars196's 98 seen classes, 0.09 on cub100's 58).",
        f"MiniLM, GPT-4 descriptions. `python -m benchmarks.structure` ({seconds:.0f} s).",
        "",
        "| set | prototypes | N | K | spearman ρ | nn@5 |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        n_k = ("–", "–") if r["variant"] in ("template", "descriptions") else (r["N"], r["K"])
        lines.append(
            f"| {r['set']} | {r['variant']} | {n_k[0]} | {n_k[1]} | {r['spearman']:+.3f} | {r['nn@5']:.3f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
