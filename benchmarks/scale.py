"""Scale: index kinds vs gallery size, recall on real features, embedding engines, restart, many visitors.

Everything is measured in one run, side by side, so ratios hold on a shared, noisy machine:

1. ``index``: synthetic galleries of 10k / 100k / 1M vectors (d 512, a Gaussian mixture whose clusters overlap,
   so a query's neighbours are not just its cluster) for flat / ivf-sq8 / ivf-pq / hnsw: build CPU time, bytes per
   vector on disk, one-query latency on one thread (median and p95 over held-out queries), recall@10 against
   exact search. The *text* path is measured on the same galleries through a 128-d attribute matrix: the old
   path (renormalise + full sort per query) against the new one (an index over the pre-normalised matrix).
2. ``real``: recall@10 of every kind on the frozen EfficientNet-Lite0 features of cub100 and cars196
   (extracted through :mod:`lafg.vision.features`, cached), queries held out from the calibration sample.
3. ``embed``: images per CPU-second of the frozen backbone: extract_features with torch fp32 and with ONNX
   Runtime (decode included), and bare forwards on preloaded tensors (torch fp32, torch bf16, ONNX Runtime).
4. ``restart``: a 100k-image app gallery (hard links to one JPEG; features synthetic) built once, then rebuilt
   by a fresh ``Services`` on the same folder (what a restarted app does).
5. ``visitors``: 20 concurrent visitors through ``gradio_client`` on the 5.9k cub100 gallery (bounded: each runs
   a fixed list of text and gallery-image queries); latency p50 / p95 and errors.

    nice -n 10 python benchmarks/scale.py                 # all sections, writes benchmarks/results/scale.{json,md}
    python benchmarks/scale.py --sections index --sizes 10000,100000

Results merge into the existing JSON, so sections can be rerun one at a time.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
OUT = ROOT / "benchmarks" / "results"

from lafg.app.datasets import shared_descriptions  # noqa: E402
from lafg.vision.data import shared_data_path  # noqa: E402

SHARED = shared_data_path()
DIM, TEXT_DIM, N_QUERIES = 512, 128, 100


def cpu() -> float:
    return time.process_time()


def mixture(n: int, d: int, points_seed: int, centres: int = 4096, spread: float = 0.6) -> np.ndarray:
    """Unit-norm float32 rows from Gaussian clusters with fixed centres (seed 0) and isotropic noise as large as
    half the distance between centres (built in chunks: 1M × 512 is 2 GB)."""
    out = np.empty((n, d), dtype=np.float32)
    start = 0
    for block in mixture_chunks(n, d, points_seed, centres, spread):
        out[start : start + len(block)] = block
        start += len(block)
    return out


def mixture_chunks(n: int, d: int, points_seed: int, centres: int = 4096, spread: float = 0.6, chunk: int = 100_000):
    """:func:`mixture`'s rows, ``chunk`` at a time (the same rows for the same arguments): 10M never in RAM."""
    c = np.random.default_rng(0).standard_normal((centres, d)).astype(np.float32) / np.sqrt(d)
    rng = np.random.default_rng(points_seed)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        block = c[rng.integers(0, centres, m)] + spread * rng.standard_normal((m, d), dtype=np.float32) / np.sqrt(d)
        yield block / np.linalg.norm(block, axis=1, keepdims=True)


def latency(fn, queries) -> dict:
    """Wall-clock median / p95 per query, and the same for this thread's CPU time (on a shared machine the wall
    clock also counts the time other processes held the core; the CPU time does not)."""
    times, cpus = [], []
    for q in queries:
        t, c = time.perf_counter(), time.thread_time()
        fn(q)
        times.append(time.perf_counter() - t)
        cpus.append(time.thread_time() - c)
    times.sort()
    cpus.sort()
    p95 = int(0.95 * (len(times) - 1))
    return {"median_ms": round(1000 * statistics.median(times), 3), "p95_ms": round(1000 * times[p95], 3),
            "cpu_median_ms": round(1000 * statistics.median(cpus), 3), "cpu_p95_ms": round(1000 * cpus[p95], 3)}


def bench_index(sizes: list[int], hnsw_max: int) -> list[dict]:
    import faiss

    from lafg.retrieval.index import IndexSpec, build_index, exact_topk, neighbour_recall

    rows = []
    for n in sizes:
        x = mixture(n, DIM, points_seed=1)
        queries = mixture(N_QUERIES, DIM, points_seed=2)  # held out: new points of the same clusters
        truth = exact_topk(x, queries, 10)
        proj = np.random.default_rng(4).standard_normal((DIM, TEXT_DIM)).astype(np.float32) / np.sqrt(DIM)
        for kind in ("flat", "ivf-sq8", "ivf-pq", "hnsw"):
            if kind == "hnsw" and n > hnsw_max:
                rows.append({"n": n, "kind": kind, "skipped": f"build > {hnsw_max} rows is many CPU-minutes here"})
                continue
            faiss.omp_set_num_threads(2)
            t0, w0 = cpu(), time.perf_counter()
            index = build_index(x, spec=IndexSpec(kind))
            build_cpu, build_wall = cpu() - t0, time.perf_counter() - w0
            with tempfile.TemporaryDirectory() as tmp:
                index.save(Path(tmp) / "i.faiss")
                size = (Path(tmp) / "i.faiss").stat().st_size
            faiss.omp_set_num_threads(1)  # the app searches on one thread per query, many at once
            found = index.search(queries, 10)[1]
            lat = latency(lambda q, index=index: index.search(q[None], 10), queries)
            rows.append({
                "n": n, "kind": kind, "factory": index.info()["factory"], "nprobe_or_ef": index.spec.nprobe or index.spec.ef_search,
                "build_cpu_s": round(build_cpu, 2), "build_wall_s": round(build_wall, 2), "bytes_per_vector": round(size / n, 1),
                "recall@10": round(neighbour_recall(found, truth), 4), "image_query": lat,
            })
            print(rows[-1], flush=True)
            del index
            gc.collect()
        rows.append(bench_text(x, proj, queries, n))
        print(rows[-1], flush=True)
        del x, truth
        gc.collect()
    return rows


def bench_compressed(sizes: list[int], scratch: Path, threads: int = 2, reuse: bool = False) -> list[dict]:
    """``ivf-pq-rerank`` past RAM: per size, the mixture written chunk by chunk as fp16 unit rows under
    ``scratch`` (never whole in RAM), the exact top 10 of held-out queries computed on the float32 rows while
    writing, the index built by ``auto`` under a budget of 100 bytes per vector, then measured in a fresh
    process (:func:`measure_compressed`): resident memory of the loaded index, recall@10, one-thread latency.
    ``reuse``: measure an index a previous run built under ``scratch`` again (its build figures are kept)."""
    import subprocess

    import faiss

    from lafg.retrieval.index import IndexSpec, build_index

    rows = []
    for n in sizes:
        folder = scratch / f"mixture-{n}"
        folder.mkdir(parents=True, exist_ok=True)
        vec_path, index_path = folder / "index.faiss.vectors.npy", folder / "index.faiss"
        record = folder / "build.json"  # what the build measured, so --reuse-index can measure again without it
        if reuse and record.is_file() and index_path.is_file():
            write, build, info = (json.loads(record.read_text())[k] for k in ("write", "build", "info"))
        else:
            t0, w0 = cpu(), time.perf_counter()
            if not (folder / "truth.npy").is_file():
                write_mixture(n, vec_path, folder / "truth.npy")
            write = {"cpu_s": round(cpu() - t0, 1), "wall_s": round(time.perf_counter() - w0, 1)}
            print({"n": n, "written": write}, flush=True)
            faiss.omp_set_num_threads(threads)
            t0, w0 = cpu(), time.perf_counter()
            vectors = np.load(vec_path, mmap_mode="r", allow_pickle=False)
            index = build_index(vectors, phase_printer(), spec=IndexSpec("auto", max_ram=100 * n))
            index.save(index_path)
            build = {"cpu_s": round(cpu() - t0, 1), "wall_s": round(time.perf_counter() - w0, 1)}
            info = index.info()
            del index, vectors
            gc.collect()
            record.write_text(json.dumps({"write": write, "build": build, "info": info}))
        out = subprocess.run([sys.executable, __file__, "--measure-compressed", str(folder)], capture_output=True,
                             text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        if out.returncode:
            raise RuntimeError(f"measuring {folder} failed: {out.stderr[-3000:]}")
        measured = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append({"n": n, "kind": info["kind"], "factory": info["factory"], "nprobe": info["nprobe"],
                     "rerank": info["rerank"], "max_ram": info["max_ram"], "calibrated_recall@10": info["calibrated_recall@10"],
                     "write": write, "build": build, "threads_build": threads, "vectors_file_bytes": vec_path.stat().st_size,
                     "load_average": round(os.getloadavg()[0], 1), **measured})
        print(rows[-1], flush=True)
    return rows


def phase_printer():
    """A build progress callback printing each new phase with the time (a long build shows where it is)."""
    last = [""]

    def progress(done: int, total: int, message: str) -> None:
        if message != last[0]:
            last[0] = message
            print(time.strftime("%H:%M:%S"), message, flush=True)

    return progress


def write_mixture(n: int, vec_path: Path, truth_path: Path, k: int = 10) -> None:
    """The mixture's ``n`` rows as fp16 unit rows in ``vec_path`` (an .npy written through a memory map) and the
    exact top ``k`` of the held-out queries against the float32 rows (chunk-wise merge) in ``truth_path``."""
    queries = mixture(N_QUERIES, DIM, points_seed=2)
    out = np.lib.format.open_memmap(vec_path, mode="w+", dtype=np.float16, shape=(n, DIM))
    best_s = np.full((N_QUERIES, 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((N_QUERIES, 0), dtype=np.int64)
    start = 0
    for block in mixture_chunks(n, DIM, points_seed=1):
        out[start : start + len(block)] = block
        s = np.concatenate([best_s, queries @ block.T], axis=1)
        i = np.concatenate([best_i, np.broadcast_to(np.arange(start, start + len(block)), (N_QUERIES, len(block)))], axis=1)
        part = np.argpartition(-s, k - 1, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(s, part, axis=1), np.take_along_axis(i, part, axis=1)
        start += len(block)
    out.flush()
    del out
    order = np.argsort(-best_s, axis=1, kind="stable")
    np.save(truth_path, np.take_along_axis(best_i, order, axis=1), allow_pickle=False)


def _rss() -> dict:
    """This process's resident memory split as the kernel reports it: anonymous (heap: what faiss reads in)
    and file-backed (pages of memory-mapped files, reclaimable: the OS drops them under pressure)."""
    status = Path("/proc/self/status").read_text()
    return {key: int(line.split()[1]) * 1024 for line in status.splitlines() for key in ("RssAnon", "RssFile")
            if line.startswith(key + ":")}


def measure_compressed(folder: Path) -> dict:
    """In a fresh process: RSS before/after loading the index, recall@10 and one-thread latency on the held-out
    queries (first pass: the vectors file as the page cache has it; second pass: warm), RSS after."""
    import faiss

    from lafg.retrieval.index import EmbeddingIndex, neighbour_recall

    faiss.omp_set_num_threads(1)
    queries = mixture(N_QUERIES, DIM, points_seed=2)
    truth = np.load(folder / "truth.npy", allow_pickle=False)
    gc.collect()
    before = _rss()
    index = EmbeddingIndex.load(folder / "index.faiss")
    loaded = _rss()
    n = len(index)
    first = latency(lambda q: index.search(q[None], 10), queries)
    found = index.search(queries, 10)[1]
    warm = latency(lambda q: index.search(q[None], 10), queries)
    after = _rss()
    return {
        "resident_anon_bytes_per_vector": round((loaded["RssAnon"] - before["RssAnon"]) / n, 1),
        "resident_file_bytes_per_vector_after_queries": round((after["RssFile"] - before["RssFile"]) / n, 2),
        "faiss_estimate_bytes_per_vector": round(index.nbytes / n, 1),
        "recall@10": round(neighbour_recall(found, truth), 4), "query_first_pass": first, "query_warm": warm,
    }


def bench_text(x: np.ndarray, proj: np.ndarray, queries: np.ndarray, n: int) -> dict:
    """Text path: an attribute matrix (n, 128) queried by attribute vectors; old full sort vs an index."""
    import faiss

    from lafg.retrieval.index import build_index, exact_topk, neighbour_recall

    lang = np.empty((n, TEXT_DIM), dtype=np.float32)
    for s in range(0, n, 100_000):
        lang[s : s + 100_000] = x[s : s + 100_000] @ proj
    q = queries @ proj
    truth = exact_topk(lang, q, 10)

    def unit(a):
        a = np.asarray(a, dtype=np.float32)
        return a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)

    def old(v):  # what lafg/app/retrieval.py did before: renormalise everything, sort everything
        sims = unit(lang) @ unit(v)
        return np.argsort(-sims, kind="stable")[:11]

    faiss.omp_set_num_threads(2)
    t0 = cpu()
    index = build_index(lang)
    build = cpu() - t0
    faiss.omp_set_num_threads(1)
    n_old = 3 if n >= 1_000_000 else 10
    out = {
        "n": n, "kind": f"text ({index.spec.kind}, {TEXT_DIM}-d attributes)", "build_cpu_s": round(build, 2),
        "recall@10": round(neighbour_recall(index.search(q, 10)[1], truth), 4),
        "text_query": latency(lambda v: index.search(v[None], 11), q),
        "text_query_old_full_sort": latency(old, q[:n_old]),
    }
    return out  # lang and its index are freed with this frame


def real_features(name: str) -> tuple[np.ndarray, list[str]]:
    from lafg.store.cache import ArrayCache
    from lafg.vision.backbones import create_backbone
    from lafg.vision.data import load_image_set
    from lafg.vision.features import extract_features

    image_set = load_image_set(SHARED / name)
    paths = [str(p) for p, _ in image_set.items]
    backbone = create_backbone("efficientnet_lite0")
    feats = extract_features(backbone, paths, backbone.eval_transform(), 64, cache=ArrayCache(name="features"), num_workers=1)
    return feats, paths


def bench_real() -> list[dict]:
    from lafg.retrieval.index import IndexSpec, build_index, exact_topk, neighbour_recall

    rows = []
    for name in ("cub100", "cars196"):
        if not (SHARED / name / "images.csv").is_file():
            rows.append({"set": name, "skipped": "not found"})
            continue
        t0 = cpu()
        feats, _ = real_features(name)
        extract = cpu() - t0
        rng = np.random.default_rng(12345)  # queries: other rows than the calibration sample (seed 0)
        queries = feats[rng.choice(len(feats), 300, replace=False)]
        truth = exact_topk(feats, queries, 10)
        for kind in ("flat", "flat-fp16", "ivf-sq8", "ivf-pq", "hnsw", "ivf-pq-rerank"):
            index = build_index(feats, spec=IndexSpec(kind))
            rows.append({
                "set": name, "n": len(feats), "d": feats.shape[1], "kind": kind, "factory": index.info()["factory"],
                "nprobe_or_ef": index.spec.nprobe or index.spec.ef_search,
                "recall@10": round(neighbour_recall(index.search(queries, 10)[1], truth), 4),
                "features_cpu_s": round(extract, 1),
            })
            print(rows[-1], flush=True)
    return rows


def bench_embed(n_images: int = 64, threads: int = 1) -> dict:
    import torch

    from lafg.vision.backbones import create_backbone
    from lafg.vision.features import extract_features
    from lafg.vision.onnx_embed import onnx_backbone

    torch.set_num_threads(threads)
    folder = SHARED / "cub100" / "images"
    paths = sorted(folder.rglob("*.jpg"))[:n_images] if folder.is_dir() else sorted((ROOT / "assets" / "demo" / "images").rglob("*.jpg"))[:n_images]
    backbone = create_backbone("efficientnet_lite0")
    tf = backbone.eval_transform()
    onnx = onnx_backbone(backbone, n_threads=threads)
    batch = torch.stack([tf(__import__("PIL.Image", fromlist=["Image"]).open(p).convert("RGB")) for p in paths[:32]])

    def per_cpu_s(fn, images, reps=3):
        fn()  # warm-up
        best = float("inf")
        for _ in range(reps):
            t = cpu()
            fn()
            best = min(best, cpu() - t)
        return round(images / best, 2)

    def bf16():
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            return backbone(batch)

    def fp32():
        with torch.inference_mode():
            return backbone(batch)

    ref = extract_features(backbone, paths, tf, 32, num_workers=0, engine="torch")
    fast = extract_features(backbone, paths, tf, 32, num_workers=0, engine="onnx")
    with torch.inference_mode():
        bf = bf16().float().numpy()
    out = {
        "threads": threads, "images": len(paths), "batch": 32,
        "extract_torch_fp32_img_per_cpu_s": per_cpu_s(lambda: extract_features(backbone, paths, tf, 32, num_workers=0, engine="torch"), len(paths)),
        "extract_onnx_img_per_cpu_s": per_cpu_s(lambda: extract_features(backbone, paths, tf, 32, num_workers=0, engine="onnx"), len(paths)),
        "bare_forward_torch_fp32_img_per_cpu_s": per_cpu_s(fp32, len(batch)),
        "bare_forward_torch_bf16_img_per_cpu_s": per_cpu_s(bf16, len(batch)),
        "bare_forward_onnx_img_per_cpu_s": per_cpu_s(lambda: onnx(batch), len(batch)),
        "onnx_max_abs_diff": float(np.abs(fast - ref).max()),
        "bf16_max_abs_diff": float(np.abs(bf - fp32().numpy()).max()),
    }
    out["onnx_speedup_extract"] = round(out["extract_onnx_img_per_cpu_s"] / out["extract_torch_fp32_img_per_cpu_s"], 2)
    out["onnx_speedup_bare"] = round(out["bare_forward_onnx_img_per_cpu_s"] / out["bare_forward_torch_fp32_img_per_cpu_s"], 2)
    out["bf16_speedup_bare"] = round(out["bare_forward_torch_bf16_img_per_cpu_s"] / out["bare_forward_torch_fp32_img_per_cpu_s"], 2)
    print(out, flush=True)
    return out


def bench_int8(n_calibration: int = 150, threads: int = 1) -> dict:
    """ONNX Runtime int8 (static, calibrated on ``n_calibration`` seen-class images of each set) against fp32 ONNX
    Runtime, side by side in this process: images per CPU-second extracting every unseen image of cub100 and
    cars196 (decode included; the two engines alternate which goes first), bare forwards on one preloaded batch,
    and unseen Recall@1 of the pretrained features (leave-one-out, cosine). int8 passes when R@1 stays within
    0.3 of fp32 on both sets."""
    import torch

    from lafg.retrieval.evaluate import evaluate_embeddings
    from lafg.vision.backbones import create_backbone
    from lafg.vision.data import load_image_set
    from lafg.vision.features import extract_features
    from lafg.vision.onnx_embed import int8_backbone, onnx_backbone

    torch.set_num_threads(threads)
    backbone = create_backbone("efficientnet_lite0")
    tf = backbone.eval_transform()
    sets, calibration = {}, []
    for name in ("cub100", "cars196"):
        image_set = load_image_set(SHARED / name)
        seen_paths = image_set.split("seen")[0]
        rng = np.random.default_rng(0)
        calibration += [seen_paths[i] for i in sorted(rng.choice(len(seen_paths), n_calibration, replace=False))]
        sets[name] = image_set.split("unseen")[:2]
    t0 = cpu()
    fp32 = onnx_backbone(backbone, n_threads=threads)
    int8 = int8_backbone(backbone, calibration, tf, n_threads=threads)
    out = {"threads": threads, "calibration_images": len(calibration), "quantise_cpu_s": round(cpu() - t0, 1),
           "recipe": "static QDQ, per-channel int8 weights, uint8 activations, MinMax ranges", "sets": {}}
    cpu_s = {"fp32": 0.0, "int8": 0.0}
    images = 0
    for turn, (name, (paths, labels)) in enumerate(sets.items()):
        feats = {}
        for engine in (("fp32", "int8") if turn % 2 == 0 else ("int8", "fp32")):
            module = fp32 if engine == "fp32" else int8
            t = cpu()
            feats[engine] = extract_features(backbone, paths, tf, 32, num_workers=0, engine=module)
            cpu_s[engine] += cpu() - t
        images += len(paths)
        r1 = {e: round(evaluate_embeddings(f, labels)["R@1"], 2) for e, f in feats.items()}
        a, b = (feats[e] / np.linalg.norm(feats[e], axis=1, keepdims=True) for e in ("fp32", "int8"))
        out["sets"][name] = {"unseen_images": len(paths), "R@1_fp32": r1["fp32"], "R@1_int8": r1["int8"],
                             "delta_R@1": round(r1["int8"] - r1["fp32"], 2),
                             "mean_cosine_int8_vs_fp32": round(float(np.mean(np.sum(a * b, axis=1))), 4)}
        print(name, out["sets"][name], flush=True)
    out["extract_fp32_img_per_cpu_s"] = round(images / cpu_s["fp32"], 2)
    out["extract_int8_img_per_cpu_s"] = round(images / cpu_s["int8"], 2)
    paths = sets["cub100"][0][:32]
    from PIL import Image

    batch = torch.stack([tf(Image.open(p).convert("RGB")) for p in paths])
    bare = {"fp32": [], "int8": []}
    for _ in range(3):  # interleaved repetitions, best of each
        for engine, module in (("fp32", fp32), ("int8", int8)):
            t = cpu()
            module(batch)
            bare[engine].append(cpu() - t)
    out["bare_fp32_img_per_cpu_s"] = round(len(batch) / min(bare["fp32"]), 2)
    out["bare_int8_img_per_cpu_s"] = round(len(batch) / min(bare["int8"]), 2)
    out["int8_speedup_extract"] = round(out["extract_int8_img_per_cpu_s"] / out["extract_fp32_img_per_cpu_s"], 2)
    out["int8_speedup_bare"] = round(out["bare_int8_img_per_cpu_s"] / out["bare_fp32_img_per_cpu_s"], 2)
    out["passes"] = all(abs(v["delta_R@1"]) <= 0.3 for v in out["sets"].values())
    out["load_average"] = round(os.getloadavg()[0], 1)
    print(out, flush=True)
    return out


def linked_set(tmp: Path, n: int, name: str = "set") -> Path:
    """A data set of ``n`` distinct image files under ``tmp/name`` (hard links to one JPEG, cub100's classes)."""
    import shutil

    source = next((SHARED / "cub100" / "images").rglob("*.jpg"), None) or next((ROOT / "assets" / "demo" / "images").rglob("*.jpg"))
    classes = (SHARED / "cub100" / "classes.csv").read_text(encoding="utf-8").splitlines()
    set_dir = tmp / name
    (set_dir / "images").mkdir(parents=True)
    (set_dir / "classes.csv").write_text("\n".join(classes) + "\n", encoding="utf-8")
    ids = [line.split(",")[0] for line in classes[1:]]
    lines = ["path,class_id,split"]
    copies = [tmp / f"{name}-source{k}.jpg" for k in range(n // 50_000 + 1)]  # a file takes at most ~65k links
    for copy in copies:
        shutil.copyfile(source, copy)
    for i in range(n):
        path = set_dir / "images" / f"{i // 1000:03d}" / f"{i}.jpg"
        path.parent.mkdir(exist_ok=True)
        os.link(copies[i // 50_000], path)  # n distinct files, one JPEG's bytes
        lines.append(f"images/{i // 1000:03d}/{i}.jpg,{ids[i % len(ids)]},train")
    (set_dir / "images.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return set_dir


def synthetic_services(work: Path, set_dir: Path, calls: list, **options):
    """App services whose embedder gives the set's files synthetic features (counting the images embedded)."""
    from app_speed import SyntheticGalleryEmbedder

    from lafg.app.datasets import load_dataset
    from lafg.app.services import default_services

    svc = default_services(work)
    for key, value in options.items():
        setattr(svc, key, value)
    paths = {str(p) for p, _ in load_dataset(set_dir).items}
    real = svc.image_embedder_factory

    class Counting(SyntheticGalleryEmbedder):
        def embed(self, p, views=1, progress=None):
            calls.append(len(p))
            return super().embed(p, views, progress)

    svc.image_embedder_factory = lambda: Counting(real(), paths)
    svc.text_encoder()  # loaded before timing: a restart loads it once either way
    return svc


def bench_restart(n: int = 100_000) -> dict:
    import shutil

    from lafg.app import retrieval

    tmp = Path(tempfile.mkdtemp(prefix="lafg-scale-"))
    set_dir = linked_set(tmp, n)
    descriptions = shared_descriptions(SHARED / "cub100")
    calls = []
    first = synthetic_services(tmp / "work", set_dir, calls)
    t = time.perf_counter()
    g = retrieval.build_gallery(first, None, set_dir, descriptions)
    cold = time.perf_counter() - t
    embedded_first = sum(calls)
    del first, g
    gc.collect()
    calls.clear()
    again = synthetic_services(tmp / "work", set_dir, calls)
    t = time.perf_counter()
    g = retrieval.build_gallery(again, None, set_dir, descriptions)
    warm = time.perf_counter() - t
    query = retrieval.query_from_text(again, g, "red crown, black wings")
    t = time.perf_counter()
    hits = retrieval.search(g, query, 12)
    text_s = time.perf_counter() - t
    out = {
        "images": len(g), "first_build_s (synthetic features)": round(cold, 1), "restart_reload_s": round(warm, 2),
        "images_embedded_at_restart": sum(calls), "images_embedded_first": embedded_first,
        "index": g.index.info()["factory"], "text_search_after_restart_ms": round(1000 * text_s, 2), "hits": len(hits),
    }
    print(out, flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    return out


APP_MEMORY_POLICIES = {"by size alone (before)": 0, "2 KB per image, 1 KB attribute index (now the default)": 2048}


def bench_app_memory(n: int = 100_000) -> dict:
    """Resident bytes per gallery image of the app's loaded gallery (features, indexes, paths, read-outs), for the
    index policies above: each built in one process, then reloaded and queried in a fresh one (a restart), whose
    RSS growth over the load and 20 queries with explanations is divided by the images."""
    import shutil
    import subprocess

    tmp = Path(tempfile.mkdtemp(prefix="lafg-mem-"))
    linked_set(tmp, n)
    linked_set(tmp, 500, "warm")
    out = {"images": n}
    try:
        for label, budget in APP_MEMORY_POLICIES.items():
            for step in ("build", "measure"):
                run = subprocess.run([sys.executable, __file__, "--app-memory", str(tmp), str(budget), step],
                                     capture_output=True, text=True)
                if run.returncode:
                    raise RuntimeError(f"{label} {step} failed: {run.stderr[-3000:]}")
            out[label] = json.loads(run.stdout.strip().splitlines()[-1])
            print(label, out[label], flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out["load_average"] = round(os.getloadavg()[0], 1)
    return out


def measure_app_memory(tmp: Path, budget: int, step: str) -> dict:
    """``build``: build the gallery (first time, or new indexes for this policy). ``measure``: in this fresh
    process, RSS before / after reloading it and after 10 text and 10 image queries with explanations."""
    from lafg.app import retrieval

    descriptions = shared_descriptions(SHARED / "cub100")
    svc = synthetic_services(tmp / "work", tmp / "set", [], index_bytes_per_image=budget)
    if step == "build":
        for name in ("warm", "set"):
            retrieval.build_gallery(svc, None, tmp / name, descriptions)
        return {}
    rng = np.random.default_rng(0)
    texts = ["red crown, black wings", "long yellow bill", "white belly and blue back", "small brown bird", "Blue Jay"]

    def queries(g):
        for k in range(10):
            for query in (retrieval.query_from_text(svc, g, texts[k % len(texts)]), retrieval.query_from_row(g, int(rng.integers(len(g))))):
                for hit in retrieval.search(g, query, 12):
                    retrieval.explain_hit(g, query, hit)

    # A 500-image gallery first: libraries, models and the vocabulary are loaded, so what follows is per image.
    queries(retrieval.build_gallery(svc, None, tmp / "warm", descriptions))
    gc.collect()
    before = _rss()
    g = retrieval.build_gallery(svc, None, tmp / "set", descriptions)
    loaded = _rss()
    queries(g)
    after = _rss()
    n = len(g)
    paths = sum(sys.getsizeof(p) + 8 for p in g.paths)
    return {
        "index": g.index.info()["factory"], "lang_index": g.lang_index.info()["factory"] if g.lang_index else None,
        "emb_dim": int(g.emb.shape[1]), "lang_dim": int(g.lang.shape[1]),
        "anon_per_image_loaded": round((loaded["RssAnon"] - before["RssAnon"]) / n),
        "file_per_image_loaded": round((loaded["RssFile"] - before["RssFile"]) / n),
        "anon_per_image_after_queries": round((after["RssAnon"] - before["RssAnon"]) / n),
        "file_per_image_after_queries": round((after["RssFile"] - before["RssFile"]) / n),
        "resident_per_image_after_queries": round((after["RssAnon"] + after["RssFile"] - before["RssAnon"] - before["RssFile"]) / n),
        "estimate_index_per_image": round(g.index.nbytes / n), "estimate_lang_index_per_image": round(g.lang_index.nbytes / n) if g.lang_index else 0,
        "estimate_paths_per_image": round(paths / n), "labels_per_image": g.labels.itemsize,
        "thumbnail_entries": len(g.thumbs),
    }


def serve(port: int, work: Path) -> None:
    """The app on ``port`` with the cub100 gallery (synthetic gallery features), in its own process."""
    from app_speed import gallery_services

    from lafg.app.ui import build_demo, launch

    svc, _ = gallery_services(work)
    launch(build_demo(svc), server_name="127.0.0.1", server_port=port, quiet=True)


def bench_visitors(n_visitors: int = 20, per_visitor: int = 6) -> dict:
    """Visitors are client threads here; the app runs in its own process (its own interpreter lock), as served."""
    import subprocess

    from app_speed import free_port, gallery_folder, wait_until_up
    from gradio_client import Client

    tmp = Path(tempfile.mkdtemp(prefix="lafg-scale-"))
    label = gallery_folder(tmp / "probe")[1]
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port), str(tmp)], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    texts = ["red crown, black wings", "Scarlet Tanager", "long yellow bill", "white belly and blue back",
             "small brown bird with streaks", "Blue Jay"]
    timeout = {"timeout": 300}
    try:
        wait_until_up(url, 300)
        warm = Client(url, verbose=False, download_files=False, httpx_kwargs=timeout)
        t = time.perf_counter()
        info, _ = warm.predict("pretrained backbone (no training)", label, api_name="/build_index")
        build_s = time.perf_counter() - t
        n = int(info.split("**")[1].split()[0])

        def query(client, v, k, rng):
            return ("/search_text", texts[(v + k) % len(texts)]) if k % 2 == 0 else ("/search_gallery_image", int(rng.integers(0, n)))

        # One visitor alone first (the same kind of queries): the baseline the concurrent numbers compare with.
        alone = []
        rng = np.random.default_rng(99)
        for k in range(per_visitor):
            api, arg = query(warm, 0, k, rng)
            t = time.perf_counter()
            warm.predict(arg, api_name=api)
            alone.append(time.perf_counter() - t)
        clients = []  # sessions opened before the clock starts (each fetches the app's config once)
        for _ in range(n_visitors):
            c = Client(url, verbose=False, download_files=False, httpx_kwargs=timeout)
            c.predict("pretrained backbone (no training)", label, api_name="/build_index")
            clients.append(c)
        results, errors, lock = [], [], threading.Lock()
        barrier = threading.Barrier(n_visitors)
        load_before = os.getloadavg()[0]

        def visitor(v: int):
            barrier.wait()  # everyone queries at once
            rng = np.random.default_rng(v)
            for k in range(per_visitor):
                api, arg = query(clients[v], v, k, rng)
                t = time.perf_counter()
                try:
                    out = clients[v].predict(arg, api_name=api)
                    ok = len(out[0]) == 12
                except Exception as exc:  # noqa: BLE001 (counted, reported)
                    ok = False
                    with lock:
                        errors.append(f"{api}: {type(exc).__name__}: {exc}"[:200])
                with lock:
                    results.append((api, time.perf_counter() - t, ok))

        threads = [threading.Thread(target=visitor, args=(v,)) for v in range(n_visitors)]
        t0 = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join(600)
        wall = time.perf_counter() - t0
    finally:
        server.terminate()
        server.wait(30)
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    times = sorted(t for _, t, ok in results if ok)

    def pct(xs, p):
        xs = sorted(xs)
        return round(xs[min(len(xs) - 1, int(p * (len(xs) - 1)))], 3) if xs else None

    out = {
        "gallery": label, "gallery_images": n, "visitors": n_visitors, "queries": len(results),
        "ok": sum(ok for *_, ok in results), "errors": len(errors) + sum(not ok for *_, ok in results),
        "error_samples": errors[:3], "p50_s": pct(times, 0.5), "p95_s": pct(times, 0.95), "max_s": pct(times, 1.0),
        "one_visitor_alone_p50_s": pct(alone, 0.5), "wall_s": round(wall, 1), "queries_per_s": round(len(results) / wall, 2),
        "load_average_at_start": round(load_before, 1), "index_build_s": round(build_s, 1),
    }
    print(out, flush=True)
    return out


def markdown(r: dict) -> str:
    lines = [f"# Scale benchmark\n\n{r.get('machine', '')}; {r.get('date', '')}. Written by `benchmarks/scale.py`.\n"]
    if "index" in r:
        lines += ["## Index kinds vs gallery size (synthetic Gaussian mixture, d 512; one query on one thread)\n",
                  "| n | kind | factory | nprobe/ef | build CPU s | bytes/vector | recall@10 | query median ms | query p95 ms |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for row in r["index"]:
            if "skipped" in row:
                lines.append(f"| {row['n']:,} | {row['kind']} | skipped: {row['skipped']} | | | | | | |")
            elif "text_query" in row:
                lines.append(
                    f"| {row['n']:,} | {row['kind']} | | | {row['build_cpu_s']} | | {row['recall@10']} | {row['text_query']['median_ms']}"
                    f" (old full sort: {row['text_query_old_full_sort']['median_ms']}) | {row['text_query']['p95_ms']} |")
            else:
                lines.append(
                    f"| {row['n']:,} | {row['kind']} | {row['factory']} | {row['nprobe_or_ef']} | {row['build_cpu_s']} |"
                    f" {row['bytes_per_vector']} | {row['recall@10']} | {row['image_query']['median_ms']} | {row['image_query']['p95_ms']} |")
    if "compressed" in r:
        lines += ["\n## Galleries past RAM: ivf-pq-rerank (synthetic mixture, d 512, fp16 vectors on disk; one query on one thread)\n",
                  "| n | factory | nprobe | rerank | build CPU s (wall, threads) | resident B/vector (RSS anon; faiss estimate) |"
                  " page cache mapped B/vector | recall@10 | query p50 ms | p95 ms | warm p50 ms | warm p95 ms |"
                  " warm CPU p50 ms | warm CPU p95 ms | vectors on disk |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for row in r["compressed"]:
            if "skipped" in row:
                lines.append(f"| {row['n']:,} | not measured: {row['skipped']} |" + " |" * 13)
                continue
            lines.append(
                f"| {row['n']:,} | {row['factory']} | {row['nprobe']} | {row['rerank']} | {row['build']['cpu_s']} "
                f"({row['build']['wall_s']}, {row['threads_build']}) | {row['resident_anon_bytes_per_vector']}; "
                f"{row['faiss_estimate_bytes_per_vector']} | {row['resident_file_bytes_per_vector_after_queries']} | "
                f"{row['recall@10']} | {row['query_first_pass']['median_ms']} | {row['query_first_pass']['p95_ms']} | "
                f"{row['query_warm']['median_ms']} | {row['query_warm']['p95_ms']} | {row['query_warm'].get('cpu_median_ms')} | "
                f"{row['query_warm'].get('cpu_p95_ms')} | {row['vectors_file_bytes'] / 2**30:.2f} GiB |")
    if "real" in r:
        lines += ["\n## Recall@10 against exact search on real frozen features (EfficientNet-Lite0, 1280-d)\n",
                  "| set | n | kind | factory | nprobe/ef | recall@10 |", "|---|---|---|---|---|---|"]
        for row in r["real"]:
            if "skipped" in row:
                lines.append(f"| {row['set']} | | skipped: {row['skipped']} | | | |")
            else:
                lines.append(f"| {row['set']} | {row['n']:,} | {row['kind']} | {row['factory']} | {row['nprobe_or_ef']} | {row['recall@10']} |")
    if "embed" in r:
        e = r["embed"]
        lines += ["\n## Embedding: images per CPU-second (same images, same process)\n", "| path | images / CPU-s |", "|---|---|"]
        lines += [f"| {k.replace('_img_per_cpu_s', '')} | {v} |" for k, v in e.items() if k.endswith("_img_per_cpu_s")]
        lines.append(f"\nONNX Runtime vs torch fp32: **{e['onnx_speedup_extract']}×** (extract, decode included), "
                     f"**{e['onnx_speedup_bare']}×** (bare forward); bf16 {e['bf16_speedup_bare']}× (bare). Max |diff| ONNX "
                     f"{e['onnx_max_abs_diff']:.1e}, bf16 {e['bf16_max_abs_diff']:.1e}. Threads: {e['threads']}.")
    if "int8" in r:
        e = r["int8"]
        lines += ["\n## Embedding in int8 (ONNX Runtime, static quantisation) vs fp32 ONNX Runtime, same run\n",
                  f"Recipe: {e['recipe']}; calibrated on {e['calibration_images']} seen-class images (half per set); "
                  f"threads {e['threads']}; load average {e['load_average']}.\n",
                  "| set | unseen images | R@1 fp32 | R@1 int8 | Δ R@1 | mean cosine int8 vs fp32 |", "|---|---|---|---|---|---|"]
        lines += [f"| {name} | {v['unseen_images']} | {v['R@1_fp32']} | {v['R@1_int8']} | {v['delta_R@1']} | "
                  f"{v['mean_cosine_int8_vs_fp32']} |" for name, v in e["sets"].items()]
        lines += ["", "| path | fp32 images / CPU-s | int8 images / CPU-s | int8 / fp32 |", "|---|---|---|---|",
                  f"| extract (decode included, every unseen image) | {e['extract_fp32_img_per_cpu_s']} | "
                  f"{e['extract_int8_img_per_cpu_s']} | **{e['int8_speedup_extract']}×** |",
                  f"| bare forward (32 preloaded images) | {e['bare_fp32_img_per_cpu_s']} | {e['bare_int8_img_per_cpu_s']} | "
                  f"**{e['int8_speedup_bare']}×** |",
                  f"\nVerdict: {'passes' if e['passes'] else 'does not pass'} the 0.3-point R@1 bound on both sets"
                  f"{'' if e['passes'] else ': fp32 stays the default, int8 stays opt-in'}."]
    if "app_memory" in r:
        m = r["app_memory"]
        policies = [k for k in m if isinstance(m[k], dict)]
        lines += [f"\n## App memory per gallery image ({m['images']:,} images, synthetic features; fresh process: reload + "
                  f"10 text and 10 image queries with explanations; load average {m.get('load_average')})\n",
                  "| measure | " + " | ".join(policies) + " |", "|---|" + "---|" * len(policies)]
        for key in m[policies[0]]:
            lines.append(f"| {key} | " + " | ".join(str(m[p].get(key)) for p in policies) + " |")
    for key, title in (("restart", "App restart with a 100k-image gallery"), ("visitors", "Concurrent visitors (gradio_client, loopback)")):
        if key in r:
            lines += [f"\n## {title}\n", "| measure | value |", "|---|---|"]
            lines += [f"| {k} | {v} |" for k, v in r[key].items()]
    if r.get("gpu"):
        lines.append(f"\n## GPU\n\n{r['gpu']}")
    if r.get("notes"):
        lines.append("\n## Reading these numbers\n\n" + "\n".join(f"- {n}" for n in r["notes"]))
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sections", default="embed,real,index,restart,visitors")
    p.add_argument("--sizes", default="10000,100000,1000000")
    p.add_argument("--hnsw-max", type=int, default=100_000, help="largest gallery an HNSW graph is built for")
    p.add_argument("--restart-images", type=int, default=100_000)
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--compressed-sizes", default="1000000", help="gallery sizes of the compressed section")
    p.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()) / "lafg-scale",
                   help="where the compressed section writes its fp16 vectors (10M × 512 is ~10 GB); not removed")
    p.add_argument("--reuse-index", action="store_true", help="compressed: measure the index built under --scratch again")
    p.add_argument("--serve", nargs=2, metavar=("PORT", "WORK"), help=argparse.SUPPRESS)  # bench_visitors' server
    p.add_argument("--measure-compressed", type=Path, help=argparse.SUPPRESS)  # bench_compressed's fresh process
    p.add_argument("--app-memory", nargs=3, help=argparse.SUPPRESS)  # bench_app_memory's processes
    args = p.parse_args()
    if args.app_memory:
        tmp, budget, step = args.app_memory
        return print(json.dumps(measure_app_memory(Path(tmp), int(budget), step)))
    if args.serve:
        return serve(int(args.serve[0]), Path(args.serve[1]))
    if args.measure_compressed:
        return print(json.dumps(measure_compressed(args.measure_compressed)))
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from lafg.threads import set_threads

    set_threads(1)
    path = args.out / "scale.json"
    result = json.loads(path.read_text()) if path.is_file() else {}
    result.update({
        "machine": f"{platform.machine()}, {os.cpu_count()} cores shared by 6 developers (load {os.getloadavg()[0]:.1f} at start), Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "gpu": "not measured: no GPU was lent to this run (full-mode images/s with/without loader workers and torchrun-vs-plain are left to a GPU session)",
    })
    runs = {
        "embed": bench_embed, "real": bench_real,
        "index": lambda: bench_index([int(s) for s in args.sizes.split(",")], args.hnsw_max),
        "restart": lambda: bench_restart(args.restart_images), "visitors": bench_visitors,
        "int8": bench_int8, "app_memory": lambda: bench_app_memory(args.restart_images),
        "compressed": lambda: bench_compressed([int(v) for v in args.compressed_sizes.split(",")], args.scratch,
                                                 reuse=args.reuse_index),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.sections.split(","):
        result[name] = runs[name]()
        gc.collect()
        path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")  # after each section: nothing lost
        (args.out / "scale.md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))


if __name__ == "__main__":
    main()
