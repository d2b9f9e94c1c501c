"""``lafg prototypes``: build one linguistic prototype per class from the run's vocabulary."""

from __future__ import annotations

import argparse

from lafg.cli.common import add_encoder_args, add_names_args, add_run_arg, encoder_from_args, names_from_args
from lafg.errors import InputError
from lafg.language.prototypes import VARIANTS, PrototypeConfig, build_prototypes
from lafg.language.side import template_embeddings
from lafg.store.cache import ArrayCache
from lafg.store.runs import load_vocabulary, read_json, save_prototypes


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prototypes", help="build linguistic prototypes T_c from the template and the vocabulary",
                       description="T_c = normalise(t_c + sum_k softmax(t_c.a_k / tau) a_k) over each class's top-K atoms.")
    add_run_arg(p)
    add_names_args(p)
    add_encoder_args(p)
    p.add_argument("--template", default=PrototypeConfig.template, help='global prompt; "{}" is the class name')
    p.add_argument("--top-k", type=int, default=PrototypeConfig.top_k, help="atoms aggregated per class (K)")
    p.add_argument("--tau", type=float, default=PrototypeConfig.tau, help="softmax temperature")
    p.add_argument("--variant", choices=VARIANTS, default="lafg", help="lafg, or an ablation variant")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.top_k < 1 or args.tau <= 0:
        raise InputError("--top-k must be ≥ 1 and --tau > 0")
    vocab, encoder_name = load_vocabulary(args.run)
    encoder = encoder_from_args(args)
    if encoder.name != encoder_name:
        raise InputError(f"the vocabulary was built with {encoder_name}, not {encoder.name}: use the same encoder")
    given = names_from_args(args)
    names = given.names if given else read_json(args.run / "categories.json")["names"] if (args.run / "categories.json").is_file() else vocab.class_names
    cfg = PrototypeConfig(template=args.template, top_k=args.top_k, tau=args.tau)
    protos = build_prototypes(names, template_embeddings(names, encoder, cfg, ArrayCache()), vocab, cfg, args.variant)
    save_prototypes(protos, args.run, encoder.name)
    print(f"{len(names)} {args.variant} prototypes ({protos.vectors.shape[1]}-d) → {args.run}/prototypes.npz")
    for name in names[:3]:
        own, borrowed = protos.own_and_borrowed(name)
        labels = [f"{vocab.atoms[a].label[:60]} ({w:.2f})" for a, w in protos.chosen_atoms(name)]
        print(f"  {name}: {len(own)} own + {len(borrowed)} borrowed atoms: " + "; ".join(labels))
    return 0
