"""How much the prototype weights discriminate for each τ_p: the spread of the top-K softmax weights and how far
T_c moves from the bare template embedding t_c (language side only, no training: a few seconds once cached).

    python -m benchmarks.weight_spread

τ_p itself is chosen on the seen classes by the validation grid (benchmarks/validate.py); this table shows what
each candidate does to the weights (the Prototypes tab draws the same spread for the library default). Same
inputs as the ladder: GPT-4 descriptions, MiniLM, N = 128 atoms built from the seen classes, K = 5. Writes
``results/weight_spread.json`` and ``results/weight_spread.md``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from lafg.language.encoders import create_text_encoder
from lafg.language.prototypes import PrototypeConfig, build_prototypes
from lafg.language.side import encode_vocabulary, template_embeddings
from lafg.store.cache import ArrayCache

RESULTS = Path(__file__).resolve().parent / "results"
TAUS = (1.0, 0.5, 0.2, 0.1, 0.05, 0.02)


def spread_rows(sets=("cars196", "cub100"), taus=TAUS) -> list[dict]:
    from benchmarks.ladder import PROTO, VOCAB, load_descriptions, set_folder
    from lafg.vision.data import load_image_set

    encoder, cache = create_text_encoder("minilm"), ArrayCache(name="text")
    rows = []
    for set_name in sets:
        image_set = load_image_set(set_folder(set_name))  # the seen classes, as the ladder reads them
        names = [image_set.classes[c] for c in sorted(image_set.seen)]
        vocab = encode_vocabulary(load_descriptions(set_name, "gpt4"), names, encoder, VOCAB, cache)
        t = template_embeddings(names, encoder, PROTO, cache)
        for tau in taus:
            p = build_prototypes(names, t, vocab, replace(PROTO, tau=tau))
            w = p.top_weights
            spread = w.max(axis=1) - w.min(axis=1)
            rows.append({
                "set": set_name, "tau_p": tau, "classes": len(names), "K": int(w.shape[1]),
                "median_spread": round(float(np.median(spread)), 4), "mean_top_weight": round(float(w[:, 0].mean()), 4),
                "cos_T_t": round(float(np.mean(np.sum(p.vectors * p.template, axis=1))), 4),
            })
            print(json.dumps(rows[-1]))
    return rows


def markdown(rows: list[dict]) -> str:
    default = PrototypeConfig().tau
    lines = [
        "# Prototype weight spread per τ_p (language side only)",
        "",
        f"Library default τ_p = {default:g} (lafg.language.prototypes.PrototypeConfig). GPT-4 descriptions, MiniLM, N = 128 atoms "
        "from the seen classes, K = 5; uniform weights would be 1/K = 0.20 with spread 0.",
        "",
        "| set | τ_p | classes | median spread (max − min weight) | mean top weight | cos(T_c, t_c) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        mark = " (default)" if abs(r["tau_p"] - default) < 1e-12 else ""
        lines.append(f"| {r['set']} | {r['tau_p']:g}{mark} | {r['classes']} | {r['median_spread']:.3f} | {r['mean_top_weight']:.3f} | {r['cos_T_t']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    rows = spread_rows()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "weight_spread.json").write_text(json.dumps(rows, indent=1) + "\n")
    (args.out / "weight_spread.md").write_text(markdown(rows))
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
