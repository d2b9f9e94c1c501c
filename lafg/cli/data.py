"""``lafg data check DIR``: what an image folder holds, how it splits, and whether its names meet the descriptions.

    lafg data check ../shared/data/cub100 --descriptions ../shared/data/descriptors/cub200_gpt3_waffleclip.json
    lafg data check flowers/ --class-names flowers/names.json --run runs/flowers --list

Prints counts (classes, images, per-class min / median / max), the seen / unseen split, classes with fewer than
2 images, and, given descriptions (``--descriptions`` or ``--run``), every class whose name matches no description
key after normalising case, punctuation, spacing and accents. Exits 1 when something would stop or spoil training
(a class with < 2 images, an empty side, a seen class without descriptions), else 0. Both layouts are described
in docs/OWN_DATA.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("data", help="inspect an image data set (lafg data check DIR)", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="data_command", required=True)
    c = sub.add_parser("check", help="counts, split, small classes, names without descriptions",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("dir", type=Path, help="data set root (classes.csv + images.csv, or one folder per class)")
    c.add_argument("--class-names", type=Path, metavar="FILE",
                   help="names file for numeric class folders: JSON {id: name} or CSV id,name "
                   "(default: DIR/names.json or DIR/names.csv when present)")
    c.add_argument("--seen-classes", type=Path, help="file with one seen class name per line (overrides the layout)")
    src = c.add_mutually_exclusive_group()
    src.add_argument("--descriptions", type=Path, help="JSON {class: [description, ...]} to match names against")
    src.add_argument("--run", type=Path, help="run folder holding descriptions.json")
    c.add_argument("--list", action="store_true", help="also list every class: index, side, images, name")
    c.add_argument("--verify", action="store_true", help="also open every image to find unreadable files")
    c.add_argument("--no-progress", action="store_true", help="no progress bar (with --verify)")
    c.set_defaults(func=run_check)
    return p


def _read_seen(path: Path | None) -> list[str] | None:
    from lafg.errors import InputError

    if path is None:
        return None
    if not path.is_file():
        raise InputError(f"seen-classes file not found: {path}")
    return [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]


def run_check(args: argparse.Namespace) -> int:
    from lafg.cli.progress import ProgressBar
    from lafg.errors import InputError
    from lafg.language.describe import load_descriptions_json
    from lafg.vision.data import load_image_set
    from lafg.vision.datacheck import check_data, unreadable_images

    image_set = load_image_set(args.dir, _read_seen(args.seen_classes), names_file=args.class_names)
    descriptions = None
    if args.descriptions or args.run:
        path = args.descriptions or args.run / "descriptions.json"
        if not path.is_file():
            raise InputError(f"descriptions file not found: {path}")
        descriptions = load_descriptions_json(path)
    report = check_data(image_set, descriptions)
    for line in report.lines(list_classes=args.list):
        print(line)
    problems = list(report.problems)
    if args.verify:
        with ProgressBar("verify", unit="images", enabled=not args.no_progress) as bar:
            bad = unreadable_images([p for p, _ in image_set.items], bar)
        print(f"unreadable images: {len(bad)}" + (f" (e.g. {bad[0]})" if bad else ""))
        if bad:
            problems.append(f"{len(bad)} unreadable image(s) (training skips them)")
    if problems:
        print(f"lafg data check: {len(problems)} problem(s):", file=sys.stderr)
        for line in problems:
            print(f"  {line}", file=sys.stderr)
        return 1
    print("lafg data check: ok")
    return 0
