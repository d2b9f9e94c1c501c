"""``lafg vocab``: embed the run's descriptions and cluster them into an attribute vocabulary."""

from __future__ import annotations

import argparse
from pathlib import Path

from lafg.cli.common import (
    add_encoder_args,
    add_names_args,
    add_run_arg,
    encoder_from_args,
    names_from_args,
    tqdm_progress,
)
from lafg.errors import InputError
from lafg.language.side import encode_vocabulary
from lafg.language.vocabulary import VocabularyConfig
from lafg.store.cache import ArrayCache
from lafg.store.runs import read_json, save_vocabulary


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("vocab", help="build the attribute vocabulary (k-means over description embeddings)",
                       description="Embed every description and cluster them into N attribute atoms.")
    add_run_arg(p)
    p.add_argument("--descriptions", type=Path, help="descriptions JSON {class: [sentences]} (default RUN/descriptions.json)")
    add_names_args(p)
    add_encoder_args(p)
    p.add_argument("--n-atoms", type=int, default=VocabularyConfig.n_atoms, help="number of atoms N")
    p.add_argument("--seed", type=int, default=VocabularyConfig.seed, help="k-means seed")
    p.add_argument("--kmeans", choices=["faiss", "sklearn"], default=VocabularyConfig.backend, help="k-means backend")
    p.add_argument("--visual-only", action=argparse.BooleanOptionalAction, default=VocabularyConfig.visual_only,
                   help="set aside sentences a photo cannot show first (lafg.language.visual; library default: on)")
    p.set_defaults(func=run)


def load_run_descriptions(args: argparse.Namespace) -> dict[str, list[str]]:
    """``--descriptions`` or ``RUN/descriptions.json`` through the one validated reader."""
    from lafg.language.describe import load_descriptions_json

    return load_descriptions_json(args.descriptions or args.run / "descriptions.json")


def class_names_for(args: argparse.Namespace, descriptions: dict[str, list[str]]) -> list[str]:
    """Names from the flags, else the run's categories.json, else the descriptions' keys."""
    given = names_from_args(args)
    if given is not None:
        return given.names
    if (args.run / "categories.json").is_file():
        return read_json(args.run / "categories.json")["names"]
    return list(descriptions)


def run(args: argparse.Namespace) -> int:
    if args.n_atoms < 1:
        raise InputError("--n-atoms must be at least 1")
    descriptions = load_run_descriptions(args)
    names = class_names_for(args, descriptions)
    if args.visual_only:
        from lafg.language.visual import filter_descriptions

        filtered = filter_descriptions({n: descriptions.get(n, []) for n in names})
        print(f"visual filter: kept {filtered.n_kept} sentences, set aside {filtered.n_set_aside} {filtered.reasons()}")
        descriptions = filtered.kept
    encoder = encoder_from_args(args)
    cfg = VocabularyConfig(n_atoms=args.n_atoms, seed=args.seed, backend=args.kmeans, visual_only=args.visual_only)
    with tqdm_progress("encoding descriptions") as progress:
        vocab = encode_vocabulary(descriptions, names, encoder, cfg, ArrayCache(), progress)
    save_vocabulary(vocab, args.run, encoder.name)
    print(f"{vocab.n_atoms} atoms from {len(vocab.sentences)} sentences of {len(names)} classes → {args.run}/vocab.json")
    for atom in vocab.atoms[:5]:
        print(f"  atom {atom.index:3d} ({len(atom.members)} sentences, {len(atom.classes)} classes): {atom.label}")
    return 0
