"""``lafg bench ladder``: the methods × seeds ablation ladder on cars196 and cub100 (see benchmarks/ladder.py).

Needs the repository checkout (the ``benchmarks`` package) and ``../shared/data``.
"""

from __future__ import annotations

import argparse

from lafg.errors import InputError


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("bench", help="benchmarks (ladder)", description=__doc__)
    sub = p.add_subparsers(dest="bench", required=True)
    ladder = sub.add_parser("ladder", help="methods × 3 seeds on cars196 and cub100, unseen-class Recall@K")
    try:
        from benchmarks import ladder as ladder_module
    except ImportError:
        ladder_module = None
    if ladder_module is not None:
        ladder_module.build_arg_parser(ladder)
    ladder.set_defaults(func=lambda args: _run_ladder(ladder_module, args))
    return p


def _run_ladder(module, args: argparse.Namespace) -> int:
    if module is None:
        raise InputError("lafg bench needs the repository checkout (benchmarks/ladder.py is not installed)")
    return module.main(args)
