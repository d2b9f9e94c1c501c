"""``lafg bundle``: run bundles (zips exported by the app's "Export run bundle").

    lafg bundle show session.zip                   # what is inside
    lafg bundle unpack session.zip --out runs/x    # a run folder the other commands read
    lafg bundle pack runs/x --out session.zip      # a run folder as a bundle the app can load

A run folder holds ``categories.json``, ``descriptions.json`` and, when present, ``vocab.npz/json`` and
``prototypes.npz/json`` (the formats of :mod:`lafg.store.runs`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lafg.errors import InputError


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("bundle", help="show, unpack or pack a run bundle (the app's session export)",
                              description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="action", required=True)
    show = sub.add_parser("show", help="summarise a bundle")
    show.add_argument("bundle")
    unpack = sub.add_parser("unpack", help="write a bundle's contents into a run folder")
    unpack.add_argument("bundle")
    unpack.add_argument("--out", required=True, metavar="RUN_DIR")
    pack = sub.add_parser("pack", help="make a bundle from a run folder")
    pack.add_argument("run_dir")
    pack.add_argument("--out", required=True, metavar="ZIP")
    p.set_defaults(func=run)
    return p


def summary(b) -> str:
    n_sent = sum(len(v) for v in b.descriptions.values())
    lines = [f"{len(b.names)} classes, {n_sent} description sentences"]
    if b.settings.get("source"):
        lines.append(f"source: {b.settings['source']}")
    if b.vocabulary is not None:
        lines.append(f"vocabulary: {b.vocabulary.n_atoms} atoms over {len(b.vocabulary.sentences)} sentences")
    if b.prototypes is not None:
        lines.append(f"prototypes: {len(b.prototypes.names)} classes, top-{b.prototypes.top_atoms.shape[1]} atoms, τ_p = {b.prototypes.config.tau:g}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from lafg.language.describe import save_descriptions_json
    from lafg.store.atomic import write_json
    from lafg.store.export import RunBundle, read_bundle, write_bundle
    from lafg.store.runs import load_prototypes, load_vocabulary, save_prototypes, save_vocabulary

    if args.action == "show":
        print(summary(read_bundle(args.bundle)))
        return 0
    if args.action == "unpack":
        b = read_bundle(args.bundle)
        out = Path(args.out)
        encoder = str(b.settings.get("encoder", "unknown"))
        write_json(out / "categories.json", {"names": b.names, "duplicates": []}, indent=2)
        save_descriptions_json({n: b.descriptions.get(n, []) for n in b.names}, out / "descriptions.json")
        if b.vocabulary is not None:
            save_vocabulary(b.vocabulary, out, encoder)
        if b.prototypes is not None:
            save_prototypes(b.prototypes, out, encoder)
        print(summary(b))
        print(f"unpacked into {out}")
        return 0
    folder = Path(args.run_dir)
    from lafg.language.describe import load_descriptions_json
    from lafg.store.runs import read_json

    if not (folder / "descriptions.json").is_file():
        raise InputError(f"{folder} has no descriptions.json (run `lafg describe` first)")
    descriptions = load_descriptions_json(folder / "descriptions.json")
    names = read_json(folder / "categories.json")["names"] if (folder / "categories.json").is_file() else list(descriptions)
    vocab, encoder = load_vocabulary(folder) if (folder / "vocab.json").is_file() else (None, "")
    protos = load_prototypes(folder) if (folder / "prototypes.json").is_file() else None
    path = write_bundle(RunBundle(names, descriptions, vocab, protos, {"encoder": encoder, "source": f"run folder {folder.name}"}), args.out)
    print(f"wrote {path}")
    return 0
