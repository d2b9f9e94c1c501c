"""``lafg index``: build, query and describe a gallery's search index.

    lafg index build --features galleries/cub                 # after lafg embed (merges shards)
    lafg index build --features vectors.npy --kind ivf-sq8     # any float32 (n, d) matrix
    lafg index search --index galleries/cub/index.faiss --image bird.jpg -k 10
    lafg index search --index galleries/cub/index.faiss --row 42
    lafg index info --index galleries/cub/index.faiss

Which kind (resident bytes per vector of d-dim features, e.g. d = 512; measured in benchmarks/results/scale.md):
  flat           exact; 4·d B/vector (~2 KB). Up to ~100k rows: a query scans everything (~25 ms at 100k).
  flat-fp16      exact to ~1e-3; 2·d B/vector. Same speed class as flat, half the memory.
  ivf-sq8        approximate (recall@10 ≥ 0.95 calibrated); d B/vector (~0.5 KB). 100k to a few million rows
                 while the codes fit in RAM; sub-millisecond queries.
  ivf-pq-rerank  approximate (recall@10 ≥ 0.95 calibrated); ≤ 100 B/vector in RAM (OPQ + IVF + 8-bit PQ codes
                 and ids); the fp16 vectors (2·d B/vector) stay on disk, memory-mapped, and re-score a few
                 hundred candidates per query. Pick it when ivf-sq8 would not fit your RAM (millions of rows),
                 with the index folder on a local SSD (each query reads its candidates' rows).
  hnsw           approximate graph, 4·d + 256 B/vector; fast but slow to build (tens of CPU-minutes at 1M).
  ivf-pq         4-bit codes without re-ranking (d/4 B/vector): low recall (0.3–0.9), kept for comparison.
  auto           flat up to 100k rows, ivf-sq8 up to 4M, ivf-pq-rerank past; with --max-ram the first of
                 flat / ivf-sq8 / ivf-pq-rerank that fits the budget, and a clear refusal when none does.
Approximate kinds are calibrated to --target-recall (recall@10 against exact search on sample rows); the
sidecar (<index>.json) records the search parameters, the budget and the recall measured.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lafg.errors import InputError
from lafg.threads import add_threads_arg


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("index", help="build / search / describe a gallery index", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="index_command", required=True)
    b = sub.add_parser("build", help="index a features folder (lafg embed) or an .npy matrix")
    b.add_argument("--features", required=True, type=Path, help="lafg embed --out folder, or a float32 .npy (n, d)")
    b.add_argument("--out", type=Path, help="index file (default: <folder>/index.faiss)")
    b.add_argument("--kind", default="auto", help="auto | flat | flat-fp16 | hnsw | ivf-sq8 | ivf-pq-rerank | ivf-pq "
                                                   "(see above for when to pick which)")
    b.add_argument("--max-ram", default="", help="RAM the loaded index may keep, e.g. 2G or 800M (auto picks a kind "
                                                 "that fits; a kind that cannot is refused)")
    b.add_argument("--target-recall", type=float, default=0.95, help="recall@10 the search breadth is calibrated to")
    b.add_argument("--nprobe", type=int, default=0, help="fix the lists visited per query (ivf-*) instead")
    b.add_argument("--rerank", type=int, default=0, help="fix the candidates re-scored per query (ivf-pq-rerank)")
    add_threads_arg(b)
    b.set_defaults(func=build)
    s = sub.add_parser("search", help="nearest gallery images of an image (or of a gallery row)")
    s.add_argument("--index", required=True, type=Path)
    q = s.add_mutually_exclusive_group(required=True)
    q.add_argument("--image", type=Path, help="query image (embedded with the gallery's backbone)")
    q.add_argument("--row", type=int, help="query with gallery row N")
    s.add_argument("-k", type=int, default=10)
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_threads_arg(s)
    s.set_defaults(func=search)
    i = sub.add_parser("info", help="kind, size and search parameters of an index")
    i.add_argument("--index", required=True, type=Path)
    i.set_defaults(func=info)
    return p


def _features(path: Path):
    """(matrix, meta, folder) from a lafg-embed folder (merging shards when needed) or an .npy file."""
    import numpy as np

    from lafg.retrieval.index import merge_shards

    if path.is_dir():
        merged, meta = path / "features.npy", path / "features.json"
        shards = sorted(path.glob("features-*-of-*.json"))
        if shards and (not merged.is_file() or any(s.stat().st_mtime > merged.stat().st_mtime for s in shards)):
            return (*merge_shards(path), path)
        if merged.is_file() and meta.is_file():
            return np.load(merged, mmap_mode="r", allow_pickle=False), json.loads(meta.read_text("utf-8")), path
        raise InputError(f"{path} holds no features: run lafg embed --out {path} first")
    if path.suffix != ".npy" or not path.is_file():
        raise InputError(f"--features must be a lafg embed folder or an .npy file, got {path}")
    try:
        matrix = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise InputError(f"{path} is not a plain numeric .npy file") from exc
    return matrix, {}, path.parent


def build(args: argparse.Namespace) -> int:
    from lafg.cli.common import tqdm_progress
    from lafg.retrieval.index import RERANK, IndexSpec, build_index, parse_bytes
    from lafg.threads import set_threads

    set_threads(args.threads)
    spec = IndexSpec(args.kind, target_recall=args.target_recall, nprobe=args.nprobe, rerank=args.rerank,
                     max_ram=parse_bytes(args.max_ram) if args.max_ram else 0)
    matrix, meta, folder = _features(args.features)
    if matrix.ndim != 2 or len(matrix) == 0:
        raise InputError(f"expected a non-empty (n, d) matrix, got shape {matrix.shape}")
    out = args.out or folder / "index.faiss"
    resolved = spec.resolve(*matrix.shape)  # refuses an unmeetable budget before any work
    # The compressed kind writes its fp16 vectors beside the index while building (never all in RAM).
    vectors = out.with_name(out.name + ".vectors.npy") if resolved.kind == RERANK else None
    with tqdm_progress("index") as progress:
        index = build_index(matrix, progress, spec=spec, vectors_path=vectors)
    index.save(out)
    if meta:  # what search needs to name results and embed query images
        (out.with_name(out.name + ".gallery.json")).write_text(json.dumps(meta), encoding="utf-8")
    print(json.dumps({"index": str(out), **index.info()}, indent=2))
    return 0


def search(args: argparse.Namespace) -> int:
    from lafg.retrieval.index import EmbeddingIndex
    from lafg.threads import set_threads

    set_threads(args.threads)
    index = EmbeddingIndex.load(args.index)
    gallery_path = args.index.with_name(args.index.name + ".gallery.json")
    meta = json.loads(gallery_path.read_text("utf-8")) if gallery_path.is_file() else {}
    if args.row is not None:
        if not 0 <= args.row < len(index):
            raise InputError(f"--row must be in 0..{len(index) - 1}")
        query = index.vector(int(args.row))[None]
    else:
        query = _embed_image(args.image, meta)
    scores, ids = index.search(query, args.k)
    paths, labels, classes = meta.get("paths", []), meta.get("labels", []), meta.get("classes", [])
    rows = []
    for rank, (i, s) in enumerate(zip(ids[0], scores[0], strict=True), 1):
        if i < 0:
            continue
        row = {"rank": rank, "id": int(i), "score": round(float(s), 4)}
        if i < len(paths):
            row["path"] = paths[i]
        if i < len(labels) and labels[i] < len(classes):
            row["class"] = classes[labels[i]]
        rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(f"{r['rank']:>3}  {r['score']:.4f}  {r.get('class', ''):<30}  {r.get('path', r['id'])}")
    return 0


def _embed_image(path: Path, meta: dict):
    from lafg.vision.backbones import create_backbone
    from lafg.vision.features import extract_features

    model = meta.get("model", "")
    if not model:
        raise InputError("this index has no gallery record (built from a bare .npy): query with --row")
    name = model.split("[", 1)[0]
    backbone = create_backbone(name)
    if backbone.name != model:
        raise InputError(f"the gallery was embedded with {model}; this machine builds {backbone.name}")
    feats, kept = extract_features(backbone, [path], backbone.eval_transform(), 1, num_workers=0, return_kept=True)
    if len(kept) == 0:
        raise InputError(f"{path.name} is not a readable image")
    return feats


def info(args: argparse.Namespace) -> int:
    from lafg.retrieval.index import EmbeddingIndex

    index = EmbeddingIndex.load(args.index)
    print(json.dumps(index.info(), indent=2))
    return 0


