"""Hosting load test: several visitors at once against the launched app on loopback (gradio_client), checking
that nothing fails and that each visitor sees only their own uploads and jobs; latency p50/p95 per endpoint.

Bounded and offline: the app runs in this process over the small fake models of the tests (the numbers measure
the web round trip, the queue, the per-visitor checks and the library wiring, not model speed), each visitor
uploads its own 4-class zip (two seen classes: text search needs an attribute space), indexes it, searches it by gallery image and by text, and lists its jobs; then
every visitor tries to attach to every other visitor's job (all must be refused).

    python benchmarks/hosting_load.py [--sessions 6] [--rounds 5]   # writes benchmarks/results/hosting_load.{json,md}
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "benchmarks" / "results"
DEMO = ROOT / "assets" / "demo" / "images"


def visitor_zip(folder: Path, tag: str) -> Path:
    """A 4-class zip of demo photos (4 per class) named after the visitor."""
    classes = sorted(p for p in DEMO.iterdir() if p.is_dir())[:4]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for cls in classes:
            for i, img in enumerate(sorted(cls.glob("*.jpg"))[:4]):
                z.write(img, f"{cls.name}/{i}.jpg")
    path = folder / f"visitor{tag}.zip"
    path.write_bytes(buf.getvalue())
    return path


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=5, help="searches of each kind per visitor")
    args = parser.parse_args(argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    from lafg.app.ui import build_demo, launch
    from tests.app.conftest import free_port
    from tests.app.fakes import fake_services

    tmp = Path(tempfile.mkdtemp(prefix="lafg-load-"))
    svc = fake_services(tmp / "work")
    demo = build_demo(svc)
    port = free_port()
    launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{port}/"
    timings: dict[str, list[float]] = {}
    errors: list[str] = []
    visitors: list[dict] = []
    lock = threading.Lock()
    barrier = threading.Barrier(args.sessions)

    def timed(client, name, *call_args):
        t0 = time.perf_counter()
        out = client.predict(*call_args, api_name=f"/{name}")
        with lock:
            timings.setdefault(name, []).append(time.perf_counter() - t0)
        return out

    def visitor(i: int) -> None:
        try:
            client = Client(url, verbose=False)
            zip_path = visitor_zip(tmp, str(i))
            barrier.wait(timeout=120)  # everyone starts together
            label = timed(client, "upload_dataset", handle_file(str(zip_path)))["value"]
            info, browse = timed(client, "build_index", "pretrained backbone (no training)", label)
            assert "16 images" in info, info
            for r in range(args.rounds):
                items, *_ = timed(client, "search_gallery_image", r % 8)
                assert items
                items, *_ = timed(client, "search_text", "red wings")
            datasets = [c[0] for c in timed(client, "list_models")[1]["choices"]]
            job = svc.jobs.submit(lambda ctx: {}, {}, f"visitor {i}", owner=f"s:{client.session_hash}")
            assert timed(client, "attach_job", job)[0] == job
            with lock:
                visitors.append({"i": i, "client": client, "label": label, "datasets": datasets, "job": job})
        except Exception as exc:  # noqa: BLE001 (counted and reported)
            with lock:
                errors.append(f"visitor {i}: {type(exc).__name__}: {exc}"[:300])

    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    threads = [threading.Thread(target=visitor, args=(i,)) for i in range(args.sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    wall = time.perf_counter() - t0

    # isolation: nobody's dataset list holds another visitor's upload; nobody can attach another's job
    leaks = 0
    own_upload_labels = [v["label"] for v in visitors]
    for v in visitors:
        uploads = [d for d in v["datasets"] if "(upload" in d]
        leaks += int(uploads != [v["label"]] or own_upload_labels.count(v["label"]) < 1)
        for other in visitors:
            if other is v:
                continue
            try:
                v["client"].predict(other["job"], api_name="/attach_job")
                leaks += 1
            except AppError:
                pass
    demo.close()

    rows = {
        name: {"calls": len(ts), "p50_ms": round(1000 * statistics.median(ts), 1), "p95_ms": round(1000 * percentile(ts, 0.95), 1)}
        for name, ts in sorted(timings.items())
    }
    every = [t for ts in timings.values() for t in ts]
    result = {
        "sessions": args.sessions, "rounds": args.rounds, "wall_s": round(wall, 1), "errors": errors,
        "isolation_violations": leaks, "cross_attach_attempts": len(visitors) * (len(visitors) - 1),
        "all_calls": {"calls": len(every), "p50_ms": round(1000 * statistics.median(every), 1) if every else None,
                      "p95_ms": round(1000 * percentile(every, 0.95), 1) if every else None},
        "endpoints": rows, "models": "fake (tests/app/fakes.py): web, queue and wiring cost only",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared; load average {load_before:.1f} at the start)", "python": platform.python_version(),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "hosting_load.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    lines = [
        "# Hosting load test (loopback, concurrent visitors)", "",
        f"{args.sessions} visitors at once, each: upload a zip, index it, {args.rounds}× search by gallery image and by "
        "text, list models, attach its own job; then every visitor tries every other visitor's job. Fake models "
        "(web round trip, queue, per-visitor checks and wiring only).", "",
        f"- errors: **{len(errors)}** · isolation violations: **{leaks}** of {result['cross_attach_attempts']} cross-visitor attaches + {len(visitors)} dataset lists",
        f"- all calls: {result['all_calls']['calls']}, p50 {result['all_calls']['p50_ms']} ms, p95 {result['all_calls']['p95_ms']} ms · wall {result['wall_s']} s",
        "", "| endpoint | calls | p50 ms | p95 ms |", "| --- | ---: | ---: | ---: |",
        *[f"| {n} | {r['calls']} | {r['p50_ms']} | {r['p95_ms']} |" for n, r in rows.items()],
        "", f"Machine: {result['machine']}; Python {result['python']}. The per-call latency is mostly waiting: 6 visitors "
        "share 2 busy cores and each endpoint runs 2 calls at a time (the queue's default concurrency).", "",
    ]
    (OUT / "hosting_load.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return result


if __name__ == "__main__":
    res = main()
    sys.exit(1 if res["errors"] or res["isolation_violations"] else 0)
