"""App speed: time to the first interactive page, and query latency (results + explanations) on a ~5k gallery.

1. ``python app.py`` is started cold (fresh cache and work folder); we time until the HTTP server answers and
   until headless Chromium shows the first tab filled in (the demo's class names), i.e. the page is usable.
2. The app is built in-process with the real text encoder and a gallery of ≥ 5,000 images
   (``../shared/data/cub100`` when present: 5,902 images of 100 classes with their GPT-4 descriptions; else the
   demo's images repeated). Gallery features are synthetic (deterministic per file) so indexing takes seconds;
   the uploaded query image goes through the real EfficientNet-Lite0. Queries go through ``gradio_client``
   like the browser's, so the numbers include the web round trip, the faiss search and the explanation.

    python benchmarks/app_speed.py            # writes benchmarks/results/app_speed.{json,md}
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "benchmarks" / "results"
CHROMIUM = os.environ.get("LAFG_CHROMIUM", "/usr/bin/chromium")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, limit_s: float, poll_s: float = 0.5, since: float | None = None) -> None:
    """Return once ``url`` answers; RuntimeError when it has not within ``limit_s`` of ``since`` (default: now)."""
    t0 = time.perf_counter() if since is None else since
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            if time.perf_counter() - t0 > limit_s:
                raise RuntimeError(f"the app did not start in {limit_s:.0f} s") from None
            time.sleep(poll_s)


def time_to_interactive() -> dict:
    """Cold start of ``python app.py``: seconds until HTTP 200 and until the first tab is filled in."""
    port = free_port()
    work = tempfile.mkdtemp(prefix="lafg-bench-")
    env = dict(os.environ, LAFG_CACHE_DIR=work, GRADIO_ANALYTICS_ENABLED="False")
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_up(url, 120, poll_s=0.1, since=t0)
        server_s = time.perf_counter() - t0
        from playwright.sync_api import expect, sync_playwright

        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM,
                args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            page = browser.new_page()
            page.goto(url)
            expect(page.locator("#names-box textarea")).to_have_value(
                __import__("re").compile("Blue Jay"), timeout=60_000
            )
            interactive_s = time.perf_counter() - t0
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
    return {"server_up_s": round(server_s, 2), "page_interactive_s": round(interactive_s, 2)}


class SyntheticGalleryEmbedder:
    """Gallery files get deterministic random features; any other file (an uploaded query) the real backbone."""

    def __init__(self, real, gallery_paths: set[str]):
        self.real, self.gallery = real, gallery_paths
        self.name, self.dim = real.name, real.dim

    def embed(self, paths, views: int = 1, progress=None):
        if all(str(p) in self.gallery for p in paths):
            rows = [
                np.random.default_rng(int(hashlib.md5(str(p).encode()).hexdigest()[:8], 16))
                .standard_normal(self.dim)
                .astype(np.float32)
                for p in paths
            ]
            return np.stack(rows), np.arange(len(paths))
        return self.real.embed(paths, views, progress)


def gallery_folder(tmp: Path) -> tuple[Path, str]:
    shared = ROOT.parent / "shared" / "data" / "cub100"
    if (shared / "images.csv").is_file():
        return shared, "cub100 (../shared/data)"
    demo = ROOT / "assets" / "demo"  # fallback: the demo's 80 images repeated to 5,040 rows
    rows = (demo / "images.csv").read_text(encoding="utf-8").splitlines()
    (tmp / "classes.csv").write_text((demo / "classes.csv").read_text(encoding="utf-8"), encoding="utf-8")
    out = [rows[0]]
    for k in range(63):
        for row in rows[1:]:
            path, cid, split = row.split(",")
            link = tmp / f"copy{k}" / path
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(demo / path)
            out.append(f"copy{k}/{path},{cid},{split}")
    (tmp / "images.csv").write_text("\n".join(out) + "\n", encoding="utf-8")
    return tmp, "demo × 63"


def gallery_services(work: Path):
    """``(services, gallery label)``: the real app services with the :func:`gallery_folder` set registered and
    its gallery features synthetic (:class:`SyntheticGalleryEmbedder`)."""
    from lafg.app.datasets import load_dataset
    from lafg.app.services import default_services

    folder, label = gallery_folder(work / "set")
    svc = default_services(work / "work")
    paths = {str(p) for p, _ in load_dataset(folder).items}
    real_factory = svc.image_embedder_factory
    svc.image_embedder_factory = lambda: SyntheticGalleryEmbedder(real_factory(), paths)
    svc.datasets[label] = folder
    return svc, label


def query_latency(n_queries: int = 10) -> dict:
    from gradio_client import Client, handle_file

    from lafg.app.ui import build_demo, launch

    tmp = Path(tempfile.mkdtemp(prefix="lafg-bench-"))
    svc, label = gallery_services(tmp)
    demo = build_demo(svc)
    port = free_port()
    launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        # download_files=False: the response (result list, scores, explanation) is what is timed; like the
        # browser, thumbnails are then fetched separately from the server's file cache.
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=False)
        t0 = time.perf_counter()
        info, _browse = client.predict("pretrained backbone (no training)", label, api_name="/build_index")
        index_s = time.perf_counter() - t0
        n = int(info.split("**")[1].split()[0])

        def timed(api, *args):
            t = time.perf_counter()
            out = client.predict(*args, api_name=api)
            return time.perf_counter() - t, out

        rows = np.random.default_rng(0).integers(0, n, n_queries)
        image = ROOT / "assets" / "demo" / "images" / "139.Scarlet_Tanager" / "0000.jpg"
        timed("/search_image", handle_file(str(image)))  # warm-up: loads the backbone once
        by_row = [timed("/search_gallery_image", int(r)) for r in rows]
        by_text = [
            timed("/search_text", q)
            for q in [
                "red crown, black wings",
                "Scarlet Tanager",
                "long yellow bill",
                "white belly and blue back",
                "small brown bird with streaks",
            ]
            * 2
        ]
        by_image = [timed("/search_image", handle_file(str(image))) for _ in range(5)]
        explain = [timed("/explain_result", int(k)) for k in range(1, 11)]
        assert all(len(out[0]) == 12 and "Result:" in out[1] for _, out in by_row + by_text + by_image)

        def stats(xs):
            ts = sorted(t for t, _ in xs)
            return {"median_s": round(statistics.median(ts), 3), "max_s": round(ts[-1], 3), "n": len(ts)}

        return {
            "gallery": label,
            "gallery_images": n,
            "index_build_s": round(index_s, 2),
            "query_by_gallery_image": stats(by_row),
            "query_by_text": stats(by_text),
            "query_by_uploaded_image": stats(by_image),
            "explain_another_result": stats(explain),
        }
    finally:
        demo.close()


def main() -> None:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared; load average {os.getloadavg()[0]:.1f} at start), Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "startup": time_to_interactive(),
        "query": query_latency(),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "app_speed.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    q, s = result["query"], result["startup"]
    md = [
        "# App speed",
        "",
        f"{result['machine']}; {result['date']}. Produced by `python benchmarks/app_speed.py`.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| cold start: HTTP server up | {s['server_up_s']} s |",
        f"| cold start: first tab interactive in Chromium | {s['page_interactive_s']} s (target < 20 s) |",
        f"| gallery | {q['gallery']}: {q['gallery_images']} images (synthetic features, real descriptions) |",
        f"| index build (features + ridge probe + faiss) | {q['index_build_s']} s |",
    ]
    for key, name in [
        ("query_by_gallery_image", "query by gallery image → 12 results + explanation"),
        ("query_by_text", "query by text → 12 results + explanation"),
        (
            "query_by_uploaded_image",
            "query by uploaded image (real EfficientNet-Lite0) → 12 results + explanation",
        ),
        ("explain_another_result", "explain another result"),
    ]:
        md.append(
            f"| {name} | median {q[key]['median_s']} s, max {q[key]['max_s']} s (n={q[key]['n']}; target < 1 s) |"
        )
    md += [
        "",
        "Latencies are measured through `gradio_client` (HTTP + Gradio queue round trip included; the 12 result",
        "thumbnails are then fetched by the browser separately, as they are not part of the response). Index build",
        "is cold: it includes embedding the gallery's 2,300 descriptions with MiniLM (cached afterwards).",
    ]
    (OUT / "app_speed.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
