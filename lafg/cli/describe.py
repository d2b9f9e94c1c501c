"""``lafg describe``: class names → LLM descriptions, written into a run folder.

Writes ``RUN_DIR/categories.json`` (``{"names": [...], "duplicates": [...]}``), ``RUN_DIR/descriptions.json``
(``{class: [sentence, ...]}``) and ``RUN_DIR/describe_config.json`` (config, backend and prompt used).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lafg.errors import InputError
from lafg.llm import list_llms, llm_help


def add_parser(subparsers) -> argparse.ArgumentParser:
    backends = "; ".join(f"{k}: {v}" for k, v in llm_help().items())
    p = subparsers.add_parser(
        "describe",
        help="write attribute descriptions for class names with an LLM",
        description=f"Describe each class with an LLM (cached per class). Backends: {backends}.",
    )
    src = p.add_argument_group("class names (one source; --preset, then --file, then --names)")
    src.add_argument("--names", help='class names as text: "a, b, c" or one per line')
    src.add_argument("--file", help="UTF-8 text file with one class name per line")
    src.add_argument("--preset", help="a preset class list (e.g. cub200, cars196)")
    p.add_argument("--llm", choices=list_llms(), default=None, help="LLM backend (default: bundled, or json with --import-json)")
    p.add_argument("--model", help="model id: hub id or folder (transformers), model name (openai)")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint, e.g. http://localhost:11434/v1 for Ollama")
    p.add_argument("--api-key-env", help="environment variable holding the API key (default OPENAI_API_KEY)")
    p.add_argument("--timeout", type=float, default=None, metavar="S", help="openai: overall deadline per class in seconds, retries included (default 120)")
    p.add_argument("--import-json", metavar="F", help="import descriptions from a {class: [sentences]} JSON file")
    p.add_argument("--n", type=int, default=5, help="sentences per class (default 5)")
    p.add_argument("--max-new-tokens", type=int, default=160, help="generation budget per class (default 160)")
    p.add_argument("--temperature", type=float, default=0.0, help="sampling temperature, 0 = greedy (default)")
    p.add_argument("--prompt-file", help="prompt template file with {class_name} (JSON-quoted) and {n}")
    p.add_argument("--out", default="runs/latest", metavar="RUN_DIR", help="run folder (default runs/latest)")
    p.add_argument("--cache-dir", help="cache folder (default $LAFG_CACHE_DIR or ~/.cache/lafg)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the description cache")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def _llm_kwargs(args: argparse.Namespace, backend: str) -> dict:
    if backend == "json":
        if not args.import_json:
            raise InputError("--llm json needs --import-json FILE")
        return {"path": args.import_json}
    if args.import_json:
        raise InputError(f"--import-json only works with --llm json (got --llm {backend})")
    kwargs = {"model": args.model, "base_url": args.base_url, "api_key_env": args.api_key_env, "timeout": getattr(args, "timeout", None)}
    if backend != "openai":
        for flag, key in (("--base-url", "base_url"), ("--api-key-env", "api_key_env"), ("--timeout", "timeout")):
            if kwargs.pop(key) is not None:
                raise InputError(f"{flag} only works with --llm openai")
    if backend == "bundled" and kwargs.pop("model") is not None:
        raise InputError("--model does not apply to --llm bundled (use --llm transformers --model ID)")
    return kwargs


def run(args: argparse.Namespace) -> int:
    from lafg.cache import JsonCache
    from lafg.categories import resolve_categories
    from lafg.describe import (
        DescribeConfig,
        describe_classes,
        empty_classes,
        load_prompt_template,
        save_descriptions_json,
        write_json_atomic,
    )
    from lafg.llm import create_llm

    categories = resolve_categories(args.names, args.file, args.preset)
    if categories.duplicates:
        print(f"dropped {len(categories.duplicates)} duplicate name(s): {', '.join(categories.duplicates)}")
    backend = args.llm or ("json" if args.import_json else "bundled")
    llm = create_llm(backend, **_llm_kwargs(args, backend))
    cfg = DescribeConfig(n=args.n, max_new_tokens=args.max_new_tokens, temperature=args.temperature)
    if args.prompt_file:
        cfg.prompt_template = load_prompt_template(args.prompt_file)
    cfg.validate()

    out = Path(args.out)
    cache = None if args.no_cache else JsonCache(args.cache_dir, "descriptions")
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=len(categories.names), desc="describe", unit="class", file=sys.stderr, leave=False)

    def progress(done: int, total: int, message: str) -> None:
        if bar is not None:
            bar.n = done
            bar.set_postfix_str(message[:40], refresh=False)
            bar.refresh()

    try:
        descriptions = describe_classes(categories.names, llm, cfg, cache=cache, progress=progress)
    finally:
        if bar is not None:
            bar.close()
        if cache is not None:
            cache.close()
    # Written only after describing succeeded, so a failed run never leaves a mixed run folder behind.
    write_json_atomic(out / "categories.json", {"names": categories.names, "duplicates": categories.duplicates})
    save_descriptions_json(descriptions, out / "descriptions.json")
    empty = empty_classes(descriptions)
    write_json_atomic(out / "describe_config.json", {
        **cfg.to_dict(),
        **llm.describe(),
        "prompt_file": args.prompt_file,
        "source": {"names": bool(args.names), "file": args.file, "preset": args.preset},
        "classes": len(descriptions),
        "empty_classes": empty,
    })
    sentences = sum(len(v) for v in descriptions.values())
    print(f"wrote {sentences} descriptions for {len(descriptions)} classes to {out / 'descriptions.json'}")
    if empty:
        print(f"warning: no usable descriptions for {len(empty)} class(es): {', '.join(empty)}", file=sys.stderr)
    return 0
