"""``lafg describe``: class names → LLM descriptions, written into a run folder.

Writes ``RUN_DIR/categories.json`` (``{"names": [...], "duplicates": [...]}``), ``RUN_DIR/descriptions.json``
(``{class: [sentence, ...]}``) and ``RUN_DIR/describe_config.json`` (config, backend and prompt used).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lafg.errors import InputError
from lafg.language.categories import list_presets
from lafg.language.llm import list_llms, llm_help


def add_parser(subparsers) -> argparse.ArgumentParser:
    backends = "; ".join(f"{k}: {v}" for k, v in llm_help().items())
    p = subparsers.add_parser(
        "describe",
        help="write attribute descriptions for class names with an LLM",
        description=f"Describe each class with an LLM (cached per class). Backends: {backends}.",
    )
    src = p.add_argument_group("class names (one source; --data, then --preset, then --file, then --names)")
    src.add_argument("--data", metavar="DIR", help="the class names of an image data set (either layout; see "
                     "docs/OWN_DATA.md), so descriptions are keyed exactly as training will look them up")
    src.add_argument("--class-names", metavar="FILE", help="with --data: names file for numeric class folders")
    src.add_argument("--names", help='class names as text: "a, b, c" or one per line')
    src.add_argument("--file", help="UTF-8 text file with one class name per line")
    src.add_argument(
        "--preset",
        choices=sorted(list_presets()),
        metavar="PRESET",
        help="a preset class list: " + "; ".join(f"{k} ({v})" for k, v in list_presets().items()),
    )
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
    p.add_argument(
        "--retry-thin",
        type=int,
        nargs="?",
        const=2,
        default=0,
        metavar="ROUNDS",
        help="ask again (sampling) for every class that got fewer than --n sentences, up to ROUNDS times "
        "(default 2 when given); new sentences are added to the ones a class has",
    )
    p.set_defaults(func=run)
    return p


def _llm_kwargs(args: argparse.Namespace, backend: str) -> dict:
    if backend == "published":
        return {"preset": args.preset}
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
    from lafg.cli.progress import ProgressBar, quiet_library_bars, stage
    from lafg.language.categories import resolve_categories
    from lafg.language.describe import (
        DescribeConfig,
        describe_classes,
        empty_classes,
        load_prompt_template,
        retry_thin,
        save_descriptions_json,
        thin_classes,
        uncached_classes,
    )
    from lafg.language.llm import create_llm
    from lafg.language.llm.base import LLM
    from lafg.store.atomic import write_json
    from lafg.store.cache import JsonCache

    if args.retry_thin < 0:
        raise InputError(f"--retry-thin takes a number of rounds >= 0, got {args.retry_thin}")
    quiet_library_bars()
    if args.data:
        from lafg.language.categories import validate_names
        from lafg.vision.data import load_image_set

        categories = validate_names(load_image_set(args.data, names_file=args.class_names).classes)
    elif args.class_names:
        raise InputError("--class-names goes with --data")
    else:
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
    show = not args.no_progress
    cache = None if args.no_cache else JsonCache(args.cache_dir, "descriptions")
    generating = type(llm).stored_descriptions is LLM.stored_descriptions  # not an import of stored sentences
    loaded = []

    def load_model() -> None:  # before a bar starts, so the bar's ETA measures generation alone
        if hasattr(llm, "load") and not loaded:
            with stage(f"loading LLM {backend} ({llm.model_id})", enabled=show):
                llm.load()
            loaded.append(True)

    try:
        todo = uncached_classes(categories.names, llm, cfg, cache) if generating else []
        if todo:
            load_model()
        if generating:
            print(f"describe: {len(categories.names) - len(todo)} of {len(categories.names)} classes cached, "
                  f"{len(todo)} to generate", file=sys.stderr)
        with ProgressBar("describe", unit="classes", enabled=show) as bar:
            descriptions = describe_classes(categories.names, llm, cfg, cache=cache, progress=bar)
        if generating and args.retry_thin and thin_classes(descriptions, cfg.n):
            load_model()
            with ProgressBar("retry thin", unit="attempts", enabled=show) as bar:
                descriptions = retry_thin(descriptions, llm, cfg, rounds=args.retry_thin, progress=bar)
    finally:
        if cache is not None:
            cache.close()
    # Written only after describing succeeded, so a failed run never leaves a mixed run folder behind.
    write_json(out / "categories.json", {"names": categories.names, "duplicates": categories.duplicates}, indent=2)
    save_descriptions_json(descriptions, out / "descriptions.json")
    empty = empty_classes(descriptions)
    thin = thin_classes(descriptions, cfg.n) if generating else {}
    write_json(out / "describe_config.json", indent=2, obj={
        **cfg.to_dict(),
        **llm.describe(),
        "prompt_file": args.prompt_file,
        "source": {"names": bool(args.names), "file": args.file, "preset": args.preset, "data": args.data},
        "classes": len(descriptions),
        "empty_classes": empty,
        "thin_classes": thin,
        "retry_thin_rounds": args.retry_thin,
    })
    sentences = sum(len(v) for v in descriptions.values())
    print(f"wrote {sentences} descriptions for {len(descriptions)} classes to {out / 'descriptions.json'}")
    if getattr(llm, "citation", None):
        print(llm.citation)
    if empty:
        print(f"warning: no usable descriptions for {len(empty)} class(es): {', '.join(empty)}", file=sys.stderr)
    if thin:
        hint = (
            "more --retry-thin rounds, a larger --max-new-tokens or a stronger --llm may help"
            if args.retry_thin
            else "rerun with --retry-thin to ask again for these only (the others come from the cache)"
        )
        print(
            f"warning: {len(thin)} of {len(descriptions)} classes got fewer than the {cfg.n} sentences asked for; "
            f"{hint}:",
            file=sys.stderr,
        )
        for name, count in thin.items():
            print(f"  {name}: {count} of {cfg.n}", file=sys.stderr)
    return 0
