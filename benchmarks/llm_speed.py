"""Speed of the bundled LLM (SmolLM2-135M-Instruct GGUF) on the describe stage, and of a cache hit.

Describes the first 10 CUB-200 classes (n=5 sentences each) with a fresh cache, then repeats the same call
to time a cache hit. Writes ``benchmarks/results/llm_speed.json`` and ``.md`` (with three classes' bundled
descriptions beside the GPT-4 descriptions of ``shared/data/descriptors/cub200_gpt4_adaptclipzs.json``).

    .venv/bin/python benchmarks/llm_speed.py [--classes 10] [--max-new-tokens 128] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lafg.language.describe import DescribeConfig, describe_classes, empty_classes  # noqa: E402
from lafg.language.llm import create_llm  # noqa: E402
from lafg.store.cache import JsonCache  # noqa: E402
from lafg.vision.data import shared_data_path  # noqa: E402

SHARED = shared_data_path()
GPT4_JSON = SHARED / "descriptors" / "cub200_gpt4_adaptclipzs.json"
RESULTS = REPO / "benchmarks" / "results"


def cub_names(k: int) -> tuple[list[str], str]:
    try:
        from lafg.language.categories import load_preset

        return load_preset("cub200")[:k], "lafg preset cub200"
    except Exception:  # presets not built in this checkout: fall back to the shared descriptions' keys
        return list(json.loads(GPT4_JSON.read_text("utf-8")))[:k], GPT4_JSON.name


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--n", type=int, default=5)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=DescribeConfig().batch_size)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--compare", type=int, default=3, help="classes shown beside their GPT-4 descriptions")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    names, source = cub_names(args.classes)
    cfg = DescribeConfig(n=args.n, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)
    load_before = os.getloadavg()

    llm = create_llm("bundled")
    start = time.perf_counter()
    llm.load()
    load_s = time.perf_counter() - start

    with tempfile.TemporaryDirectory() as tmp:
        cache = JsonCache(tmp, "descriptions")
        tokens0 = llm.tokens_generated
        start = time.perf_counter()
        first = describe_classes(
            names, llm, cfg, cache=cache, progress=lambda d, t, m: print(f"  [{d}/{t}] {m}", flush=True)
        )
        wall_s = time.perf_counter() - start
        tokens = llm.tokens_generated - tokens0
        start = time.perf_counter()
        second = describe_classes(names, llm, cfg, cache=cache)
        hit_s = time.perf_counter() - start
        assert llm.tokens_generated - tokens0 == tokens, "cache hit must not generate"
        cache.close()
    assert second == first
    load_after = os.getloadavg()

    gpt4 = json.loads(GPT4_JSON.read_text("utf-8")) if GPT4_JSON.is_file() else {}
    compare = [
        {"class": name, "bundled": first[name], "gpt4": gpt4.get(name, [])[: args.n]}
        for name in names[: args.compare]
    ]
    result = {
        "benchmark": "llm_speed",
        "model": llm.model_id,
        "backend": llm.name,
        "options": llm.options,
        "classes": len(names),
        "class_source": source,
        "config": {k: v for k, v in cfg.to_dict().items() if k != "prompt_template"},
        "torch_threads": args.threads,
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "loadavg_1min_before": round(load_before[0], 2),
            "loadavg_1min_after": round(load_after[0], 2),
            "note": "2 cores shared with other jobs; load average above the thread count means contention",
        },
        "model_load_s": round(load_s, 2),
        "wall_s": round(wall_s, 2),
        "generated_tokens": tokens,
        "tokens_per_s": round(tokens / wall_s, 2) if wall_s > 0 else None,
        "s_per_class": round(wall_s / len(names), 2),
        "cache_hit_s": round(hit_s, 4),
        "cache_hit_ms_per_class": round(1000 * hit_s / len(names), 3),
        "sentences": sum(len(v) for v in first.values()),
        "empty_classes": empty_classes(first),
        "descriptions": first,
        "comparison": compare,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "llm_speed.json").write_text(
        json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    md = render_markdown(result)
    (RESULTS / "llm_speed.md").write_text(md, encoding="utf-8")
    print(md)
    return 0


def render_markdown(r: dict) -> str:
    c = r["config"]
    lines = [
        "# Bundled LLM speed (describe stage)",
        "",
        f"SmolLM2-135M-Instruct Q4_1 GGUF (`{r['backend']}` backend, engine {r['options'].get('engine')}), "
        f"{r['classes']} CUB-200 classes ({r['class_source']}), n={c['n']}, max_new_tokens={c['max_new_tokens']}, "
        f"batch_size={c['batch_size']}, greedy, torch threads={r['torch_threads']}, {r['machine']['cpu_count']} CPU cores "
        f"(shared; 1-min load average {r['machine']['loadavg_1min_before']} before, {r['machine']['loadavg_1min_after']} after).",
        "",
        "| measure | value |",
        "|---|---|",
        f"| model load (dequantise GGUF, once per process) | {r['model_load_s']:.1f} s |",
        f"| describe {r['classes']} classes, cold cache | {r['wall_s']:.1f} s ({r['s_per_class']:.1f} s/class) |",
        f"| generated tokens | {r['generated_tokens']} |",
        f"| tokens/s | {r['tokens_per_s']} |",
        f"| sentences kept | {r['sentences']} (empty classes: {', '.join(r['empty_classes']) or 'none'}) |",
        f"| same call again, cache hit | {1000 * r['cache_hit_s']:.1f} ms ({r['cache_hit_ms_per_class']:.2f} ms/class) |",
        "",
        "## Bundled LLM vs GPT-4 descriptions",
        "",
        "A 135M-parameter model is a fallback that works offline; its sentences are far less accurate than GPT-4's "
        "(use `--llm openai` or `--llm json` with stored descriptions for real experiments).",
    ]
    for item in r["comparison"]:
        lines += [
            "",
            f"### {item['class']}",
            "",
            "| bundled SmolLM2-135M | GPT-4 (AdaptCLIPZS) |",
            "|---|---|",
        ]
        rows = max(len(item["bundled"]), len(item["gpt4"]))
        for i in range(rows):
            b = item["bundled"][i] if i < len(item["bundled"]) else ""
            g = item["gpt4"][i] if i < len(item["gpt4"]) else ""
            lines.append(f"| {b.replace('|', '/')} | {g.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
