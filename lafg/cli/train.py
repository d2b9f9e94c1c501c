"""``lafg train``: train a retrieval model on the seen classes of an image set (either layout).

    lafg train --data ../shared/data/cars196 --descriptions cars.json --method lafg --mode head --out runs/cars

Prototype methods need the seen classes' descriptions (unseen classes need none, and theirs are never read):
``--descriptions FILE.json``, or ``--run DIR``: the run folder of the earlier stages, whose ``vocab.npz`` /
``prototypes.npz`` (``lafg vocab`` / ``lafg prototypes``, built over the seen classes) are used as they are, else
its ``descriptions.json``. Everything goes through :func:`lafg.pipeline.train_run`: ``checkpoint.pt`` carries
its run spec, vocabulary and prototypes (``lafg eval --checkpoint`` needs nothing else); ``metrics.jsonl``,
``train_config.json`` and ``run.json`` are written for people. Ctrl-C stops after the current step and keeps the
last epoch's checkpoint; ``--resume`` continues from it exactly.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from lafg.errors import InputError
from lafg.methods import get_method, list_methods
from lafg.prototypes import PrototypeConfig
from lafg.train import (
    DEFAULT_EPOCHS,
    DEFAULT_TOP_STAGES,
    DEFAULT_VIEWS,
    MODES,
    READINGS,
    TrainConfig,
    TrainEvent,
)
from lafg.vocabulary import VocabularyConfig


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train", help="train a retrieval model on the seen classes", description=__doc__
    )
    p.add_argument("--data", required=True, help="image set root (classes.csv/images.csv or class folders)")
    p.add_argument(
        "--seen-classes", type=Path, help="file with one seen class name per line (overrides the layout)"
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--descriptions", type=Path, help="JSON {class: [description, ...]}")
    src.add_argument(
        "--run", type=Path, help="run folder of the earlier stages: vocab.npz/prototypes.npz, else descriptions.json"
    )
    p.add_argument("--method", default="lafg", choices=list_methods())
    p.add_argument("--mode", default="head", choices=MODES)
    p.add_argument("--reading", default=TrainConfig.reading, choices=READINGS, help="L_ali reading")
    p.add_argument(
        "--epochs", type=int, help=", ".join(f"{m}: {e}" for m, e in DEFAULT_EPOCHS.items()) + " by default"
    )
    p.add_argument("--lr", type=float, default=TrainConfig.lr)
    p.add_argument("--beta", type=float, default=TrainConfig.beta, help="weight of L_ali")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--views",
        type=int,
        default=DEFAULT_VIEWS,
        help="augmented views cached per training image besides the plain crop (default: none; more did not "
        "help on the cars196 / cub100 validation splits, benchmarks/results/validation.md)",
    )
    p.add_argument("--backbone", default="efficientnet_lite0")
    p.add_argument(
        "--n-top-stages",
        type=int,
        default=DEFAULT_TOP_STAGES,
        help="backbone stages fine-tuned in partial mode (default 2: +3 R@1 over 1 on cars196 validation)",
    )
    p.add_argument("--encoder", default="minilm", help="text encoder (lafg.encode registry)")
    p.add_argument("--n-atoms", type=int, default=VocabularyConfig.n_atoms, help="vocabulary size N")
    p.add_argument("--top-k", type=int, default=PrototypeConfig.top_k, help="atoms per prototype K")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.pt")
    p.set_defaults(func=run)
    return p


def read_seen(path: Path | None) -> list[str] | None:
    if path is None:
        return None
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def read_descriptions(descriptions: Path | None, run_dir: Path | None) -> dict[str, list[str]] | None:
    """``--descriptions`` or ``RUN/descriptions.json`` through the one validated reader (None when neither)."""
    from lafg.describe import load_descriptions_json

    path = descriptions if descriptions is not None else (run_dir / "descriptions.json" if run_dir else None)
    if path is None:
        return None
    if not path.is_file():
        raise InputError(f"descriptions file not found: {path}")
    return load_descriptions_json(path)


def run(args: argparse.Namespace) -> int:
    from lafg.cache import ArrayCache
    from lafg.data import load_image_set
    from lafg.encode import create_text_encoder
    from lafg.pipeline import RunConfig, language_from_run, language_variants, train_run

    method = get_method(args.method)
    if not method.trains:
        raise InputError("the pretrained method does not train: use `lafg eval --method pretrained`")
    cfg = RunConfig(
        train=TrainConfig(
            method=args.method,
            mode=args.mode,
            reading=args.reading,
            epochs=args.epochs or DEFAULT_EPOCHS[args.mode],
            lr=args.lr,
            beta=args.beta,
            seed=args.seed,
        ),
        backbone=args.backbone,
        views=args.views,
        n_top_stages=args.n_top_stages,
        encoder=args.encoder,
        vocab=VocabularyConfig(n_atoms=args.n_atoms),
        proto=PrototypeConfig(top_k=args.top_k),
    )
    image_set = load_image_set(args.data, read_seen(args.seen_classes))
    paths, labels, names = image_set.split("seen")
    language = descriptions = None
    text_cache = ArrayCache(name="text")
    if args.run is not None and (args.run / "vocab.npz").is_file():
        encoder = create_text_encoder(args.encoder)
        language = language_from_run(args.run, names, encoder, language_variants(method), text_cache)
        print(f"lafg train: language side from {args.run} ({language.vocabulary.n_atoms} atoms)", file=sys.stderr)
    else:
        descriptions = read_descriptions(args.descriptions, args.run)
        if method.align and descriptions is None:
            raise InputError(f"method {args.method!r} needs --descriptions or --run")
        if method.align and method.prototypes != "template" and not any(descriptions.get(n) for n in names):
            raise InputError("the descriptions name none of the seen classes")
    print(
        f"lafg train: {len(paths)} images of {len(names)} seen classes; preparing {args.mode} inputs",
        file=sys.stderr,
    )
    stop = _StopFlag()
    try:
        result = train_run(
            cfg, paths, labels, names, args.out, descriptions=descriptions, language=language,
            feature_cache=ArrayCache(name="features"), text_cache=text_cache, progress=_print_progress,
            step=_StepPrinter(), cancel=stop, resume=args.resume,
        )
    finally:
        stop.restore()
    for note in result.spec.notes:
        print(f"lafg train: note: {note}", file=sys.stderr)
    print(f"lafg train: {result.status} after {result.epochs_done} epoch(s); checkpoint {result.checkpoint}")
    return 0 if result.status == "done" else 130


class _StopFlag:
    """SIGINT sets a flag the trainer polls, so Ctrl-C stops cleanly between steps."""

    def __init__(self):
        self.stopped = False
        self._old = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, *_):
        self.stopped = True
        print(
            "\nlafg train: stopping; the last completed epoch's checkpoint is kept (--resume continues)",
            file=sys.stderr,
        )

    def __call__(self) -> bool:
        return self.stopped

    def restore(self) -> None:
        signal.signal(signal.SIGINT, self._old)


class _StepPrinter:
    def __init__(self, every: int = 20):
        self.every = every

    def __call__(self, e: TrainEvent) -> None:
        if e.step % self.every == 0 or e.step == e.total_steps:
            terms = " ".join(f"{k}={v:.4f}" for k, v in e.terms.items())
            print(
                f"epoch {e.epoch + 1} step {e.step}/{e.total_steps} {terms} lr={e.lr:.2e} eta={e.eta_s:.0f}s",
                file=sys.stderr,
            )


def _print_progress(done: int, total: int, message: str) -> None:
    print(f"  {message} ({done}/{total})", file=sys.stderr)
