"""Flags and helpers shared by the sub-commands."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from lafg.language.categories import CategoryList, list_presets, resolve_categories

DEFAULT_RUN = Path("runs/latest")


def add_names_args(parser: argparse.ArgumentParser) -> None:
    """--names / --file / --preset: where the category names come from."""
    group = parser.add_argument_group("category names (one source)")
    group.add_argument("--names", help='names as text, comma separated or one per line ("Indigo Bunting, Blue Jay")')
    group.add_argument("--file", help="a UTF-8 text file with one name per line")
    group.add_argument("--preset", choices=sorted(list_presets()), help="a real data set's class list")


def names_from_args(args: argparse.Namespace) -> CategoryList | None:
    """The names the flags give, or None when no flag was used."""
    if not (args.names or args.file or args.preset):
        return None
    return resolve_categories(args.names, args.file, args.preset)


def add_run_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", "--out", dest="run", type=Path, default=DEFAULT_RUN,
                        help=f"run folder read from and written to (default {DEFAULT_RUN})")


def add_encoder_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("text encoder")
    group.add_argument(
        "--encoder",
        default="minilm",
        choices=["minilm", "open_clip", "bridge:efficientnet_lite0"],
        help="frozen text encoder (bridge: MiniLM mapped into EfficientNet-Lite0's feature space, offline)",
    )
    group.add_argument("--arch", default="ViT-B-32", help="open_clip architecture")
    group.add_argument("--pretrained", default=None, help="open_clip pretrained tag or local weights file")


def encoder_from_args(args: argparse.Namespace):
    from lafg.language.encoders import create_text_encoder

    if args.encoder == "open_clip":
        return create_text_encoder("open_clip", arch=args.arch, pretrained=args.pretrained)
    return create_text_encoder(args.encoder)


@contextmanager
def tqdm_progress(desc: str) -> Iterator[Callable[[int, int, str], None]]:
    """A ``progress(done, total, message)`` callback drawing one tqdm bar."""
    from tqdm import tqdm

    bar = None

    def update(done: int, total: int, message: str = "") -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=desc, unit="it", leave=False)
        bar.total = total
        bar.n = done
        bar.set_postfix_str(message, refresh=False)
        bar.refresh()

    try:
        yield update
    finally:
        if bar is not None:
            bar.close()
