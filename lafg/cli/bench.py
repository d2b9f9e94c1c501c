"""``lafg bench ladder``: the methods × seeds ablation ladder (see benchmarks/ladder.py).

Runs on cars196 / cub100 from ``../shared/data`` or on any data set in the documented layout (``--data``
folder + ``--descriptions`` JSON). Needs the repository checkout (the ``benchmarks`` package).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from lafg.errors import InputError

REPO = Path(__file__).resolve().parents[2]  # the checkout holding lafg/ (and benchmarks/ beside it)


def load_ladder_module():
    """``benchmarks.ladder``, importing it from this checkout even when the repository root is not on
    ``sys.path`` (the installed ``lafg`` console script); None when there is no checkout."""
    try:
        return importlib.import_module("benchmarks.ladder")
    except ModuleNotFoundError as exc:
        if exc.name not in ("benchmarks", "benchmarks.ladder"):
            raise  # a dependency of the ladder is missing: say which
        if not (REPO / "benchmarks" / "ladder.py").is_file():
            return None
    sys.path.insert(0, str(REPO))
    return importlib.import_module("benchmarks.ladder")


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("bench", help="benchmarks (ladder)", description=__doc__)
    sub = p.add_subparsers(dest="bench", required=True)
    ladder_module = load_ladder_module()
    ladder = sub.add_parser(
        "ladder",
        help="methods × 3 seeds, unseen-class Recall@K (cars196/cub100 or --data)",
        description=(ladder_module.__doc__ if ladder_module else __doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if ladder_module is not None:
        ladder_module.build_arg_parser(ladder)
    ladder.set_defaults(func=lambda args: _run_ladder(ladder_module, args))
    return p


def _run_ladder(module, args: argparse.Namespace) -> int:
    if module is None:
        raise InputError("lafg bench needs the repository checkout (benchmarks/ladder.py is not installed)")
    return module.main(args)
