"""Scale: index kinds vs gallery size, recall on real features, embedding engines, restart, many visitors.

Everything is measured in one run, side by side, so ratios hold on a shared, noisy machine:

1. ``index``: synthetic galleries of 10k / 100k / 1M vectors (d 512, a Gaussian mixture whose clusters overlap,
   so a query's neighbours are not just its cluster) for flat / ivf-sq8 / ivf-pq / hnsw: build CPU time, bytes per
   vector on disk, one-query latency on one thread (median and p95 over held-out queries), recall@10 against
   exact search. The *text* path is measured on the same galleries through a 128-d attribute matrix: the old
   path (renormalise + full sort per query) against the new one (an index over the pre-normalised matrix).
2. ``real``: recall@10 of every kind on the frozen EfficientNet-Lite0 features of cub100 and cars196
   (extracted through :mod:`lafg.features`, cached), queries held out from the calibration sample.
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
SHARED = ROOT.parent / "shared" / "data"
DIM, TEXT_DIM, N_QUERIES = 512, 128, 100


def cpu() -> float:
    return time.process_time()


def mixture(n: int, d: int, points_seed: int, centres: int = 4096, spread: float = 0.6) -> np.ndarray:
    """Unit-norm float32 rows from Gaussian clusters with fixed centres (seed 0) and isotropic noise as large as
    half the distance between centres (built in chunks: 1M × 512 is 2 GB)."""
    c = np.random.default_rng(0).standard_normal((centres, d)).astype(np.float32) / np.sqrt(d)
    rng = np.random.default_rng(points_seed)
    out = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        block = c[rng.integers(0, centres, m)] + spread * rng.standard_normal((m, d), dtype=np.float32) / np.sqrt(d)
        out[start : start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def latency(fn, queries) -> dict:
    times = []
    for q in queries:
        t = time.perf_counter()
        fn(q)
        times.append(time.perf_counter() - t)
    times.sort()
    return {"median_ms": round(1000 * statistics.median(times), 3), "p95_ms": round(1000 * times[int(0.95 * (len(times) - 1))], 3)}


def bench_index(sizes: list[int], hnsw_max: int) -> list[dict]:
    import faiss

    from lafg.index import IndexSpec, build_index, exact_topk, recall_at_k

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
                "recall@10": round(recall_at_k(found, truth), 4), "image_query": lat,
            })
            print(rows[-1], flush=True)
            del index
            gc.collect()
        rows.append(bench_text(x, proj, queries, n))
        print(rows[-1], flush=True)
        del x, truth
        gc.collect()
    return rows


def bench_text(x: np.ndarray, proj: np.ndarray, queries: np.ndarray, n: int) -> dict:
    """Text path: an attribute matrix (n, 128) queried by attribute vectors; old full sort vs an index."""
    import faiss

    from lafg.index import build_index, exact_topk, recall_at_k

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
        "recall@10": round(recall_at_k(index.search(q, 10)[1], truth), 4),
        "text_query": latency(lambda v: index.search(v[None], 11), q),
        "text_query_old_full_sort": latency(old, q[:n_old]),
    }
    return out  # lang and its index are freed with this frame


def real_features(name: str) -> tuple[np.ndarray, list[str]]:
    from lafg.backbones import create_backbone
    from lafg.cache import ArrayCache
    from lafg.data import load_image_set
    from lafg.features import extract_features

    image_set = load_image_set(SHARED / name)
    paths = [str(p) for p, _ in image_set.items]
    backbone = create_backbone("efficientnet_lite0")
    feats = extract_features(backbone, paths, backbone.eval_transform(), 64, cache=ArrayCache(name="features"), num_workers=1)
    return feats, paths


def bench_real() -> list[dict]:
    from lafg.index import IndexSpec, build_index, exact_topk, recall_at_k

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
        for kind in ("flat", "flat-fp16", "ivf-sq8", "ivf-pq", "hnsw"):
            index = build_index(feats, spec=IndexSpec(kind))
            rows.append({
                "set": name, "n": len(feats), "d": feats.shape[1], "kind": kind, "factory": index.info()["factory"],
                "nprobe_or_ef": index.spec.nprobe or index.spec.ef_search,
                "recall@10": round(recall_at_k(index.search(queries, 10)[1], truth), 4),
                "features_cpu_s": round(extract, 1),
            })
            print(rows[-1], flush=True)
    return rows


def bench_embed(n_images: int = 64, threads: int = 1) -> dict:
    import torch

    from lafg.backbones import create_backbone
    from lafg.features import extract_features
    from lafg.onnx_embed import onnx_backbone

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


def bench_restart(n: int = 100_000) -> dict:
    from app_speed import SyntheticGalleryEmbedder

    from lafg.app import retrieval
    from lafg.app.datasets import load_dataset, shared_descriptions
    from lafg.app.services import default_services

    tmp = Path(tempfile.mkdtemp(prefix="lafg-scale-"))
    source = next((SHARED / "cub100" / "images").rglob("*.jpg"), None) or next((ROOT / "assets" / "demo" / "images").rglob("*.jpg"))
    classes = (SHARED / "cub100" / "classes.csv").read_text(encoding="utf-8").splitlines()
    set_dir = tmp / "set"
    (set_dir / "images").mkdir(parents=True)
    (set_dir / "classes.csv").write_text("\n".join(classes) + "\n", encoding="utf-8")
    ids = [line.split(",")[0] for line in classes[1:]]
    lines = ["path,class_id,split"]
    import shutil

    copies = [tmp / f"source{k}.jpg" for k in range(n // 50_000 + 1)]  # a file takes at most ~65k links
    for copy in copies:
        shutil.copyfile(source, copy)
    for i in range(n):
        path = set_dir / "images" / f"{i // 1000:03d}" / f"{i}.jpg"
        path.parent.mkdir(exist_ok=True)
        os.link(copies[i // 50_000], path)  # 100k distinct files, one JPEG's bytes
        lines.append(f"images/{i // 1000:03d}/{i}.jpg,{ids[i % len(ids)]},train")
    (set_dir / "images.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    descriptions = shared_descriptions(SHARED / "cub100") or {}
    calls = []

    def services():
        svc = default_services(tmp / "work")
        paths = {str(p) for p, _ in load_dataset(set_dir).items}
        real = svc.image_embedder_factory

        class Counting(SyntheticGalleryEmbedder):
            def embed(self, p, views=1, progress=None):
                calls.append(len(p))
                return super().embed(p, views, progress)

        svc.image_embedder_factory = lambda: Counting(real(), paths)
        svc.text_encoder()  # loaded before timing: a restart loads it once either way
        return svc

    first = services()
    t = time.perf_counter()
    g = retrieval.build_gallery(first, None, set_dir, descriptions)
    cold = time.perf_counter() - t
    embedded_first = sum(calls)
    del first, g
    gc.collect()
    calls.clear()
    again = services()
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


def serve(port: int, work: Path) -> None:
    """The app on ``port`` with the cub100 gallery (synthetic gallery features), in its own process."""
    from app_speed import gallery_services

    from lafg.app import build_demo, launch

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
    p.add_argument("--serve", nargs=2, metavar=("PORT", "WORK"), help=argparse.SUPPRESS)  # bench_visitors' server
    args = p.parse_args()
    if args.serve:
        return serve(int(args.serve[0]), Path(args.serve[1]))
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
