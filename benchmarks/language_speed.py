"""Time the language side on the 4,615 GPT-4 CUB sentences: encode, k-means (both backends), prototypes,
and an encode cache hit. Prints a table; writes benchmarks/results/language_speed.{json,md}.

    python benchmarks/language_speed.py [--descriptions FILE] [--n-atoms 128]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from lafg.language.describe import load_descriptions_json
from lafg.language.encode import encode_cached
from lafg.language.encoders import create_text_encoder
from lafg.language.prototypes import PrototypeConfig, build_prototypes
from lafg.language.side import template_embeddings
from lafg.language.vocabulary import VocabularyConfig, build_vocabulary, flatten_descriptions
from lafg.store.cache import ArrayCache

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO.parent / "shared" / "data" / "descriptors" / "cub200_gpt4_adaptclipzs.json"


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--descriptions", type=Path, default=DEFAULT)
    ap.add_argument("--n-atoms", type=int, default=128)
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 2)
    desc = load_descriptions_json(args.descriptions)  # the one validated reader
    names = list(desc)
    sentences, owners = flatten_descriptions(desc, names)
    encoder, t_load = timed(lambda: create_text_encoder("minilm"))
    cache = ArrayCache(tempfile.mkdtemp())
    emb, t_enc = timed(lambda: encode_cached(encoder, sentences, cache))
    _, t_hit = timed(lambda: encode_cached(encoder, sentences, cache))
    rows = [
        ("load MiniLM", t_load),
        (f"encode {len(sentences)} sentences", t_enc),
        ("encode again (cache hit)", t_hit),
    ]
    vocab = None
    for backend in ("sklearn", "faiss"):
        cfg = VocabularyConfig(n_atoms=args.n_atoms, seed=0, backend=backend)
        v, t = timed(lambda cfg=cfg: build_vocabulary(sentences, emb, owners, names, cfg))
        rows.append((f"k-means N={args.n_atoms} ({backend})", t))
        vocab = vocab or v
    pcfg = PrototypeConfig()
    _, t_proto = timed(
        lambda: build_prototypes(names, template_embeddings(names, encoder, pcfg), vocab, pcfg)
    )
    rows.append((f"prototypes for {len(names)} classes (template encode + top-K)", t_proto))
    rows.append(("encode + vocabulary (faiss, the default), total", t_enc + rows[4][1]))
    width = max(len(r[0]) for r in rows)
    print(f"{'step':<{width}}  seconds")
    for name, sec in rows:
        print(f"{name:<{width}}  {sec:8.3f}")
    out = REPO / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    result = {
        "descriptions": args.descriptions.name,
        "sentences": len(sentences),
        "classes": len(names),
        "sentences_per_s": len(sentences) / t_enc,
        "threads": torch.get_num_threads(),
        "steps": [{"step": n, "seconds": round(s, 4)} for n, s in rows],
    }
    (out / "language_speed.json").write_text(json.dumps(result, indent=1))
    md = [
        f"# Language side on {args.descriptions.name} ({len(sentences)} sentences, {len(names)} classes)",
        "",
        "| step | seconds |",
        "|---|---|",
    ] + [f"| {n} | {s:.3f} |" for n, s in rows]
    md += [
        "",
        f"MiniLM throughput: {len(sentences) / t_enc:.0f} sentences/s on {torch.get_num_threads()} threads "
        "(shared 2-core machine; other work may have been running).",
    ]
    (out / "language_speed.md").write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
