"""``lafg`` command line: one sub-module per sub-command, each exposing ``add_parser(subparsers)``.

Every sub-command reads its inputs from flags or from a run folder written by the previous stage, and writes
its outputs into that run folder. A :class:`~lafg.errors.LafgError` becomes a one-line message and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from lafg.errors import LafgError

# Sub-command modules; each defines add_parser(subparsers) which sets func=callable(args) -> int.
COMMANDS = ["describe", "vocab", "prototypes", "train", "eval", "data", "embed", "index", "bundle"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lafg", description="LaFG Explorer: language-driven fine-grained retrieval")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"lafg.cli.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from lafg.cli.progress import quiet_library_bars

    quiet_library_bars()  # our bars say how far a step is; the libraries' per-file bars would only clutter them
    try:
        return int(args.func(args) or 0)
    except LafgError as exc:
        print(f"lafg {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"lafg {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
