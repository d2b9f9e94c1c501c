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
from lafg.language.prototypes import PrototypeConfig
from lafg.language.vocabulary import VocabularyConfig
from lafg.training.inputs import DEFAULT_TOP_STAGES, DEFAULT_VIEWS
from lafg.training.loop import DEFAULT_EPOCHS, MODES, READINGS, TrainConfig, TrainEvent
from lafg.training.methods import get_method, list_methods


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
    p.add_argument("--encoder", default="minilm", help="text encoder (lafg.language.encode registry)")
    p.add_argument("--n-atoms", type=int, default=VocabularyConfig.n_atoms, help="vocabulary size N")
    p.add_argument("--visual-only", action=argparse.BooleanOptionalAction, default=VocabularyConfig.visual_only,
                   help="set aside sentences a photo cannot show before clustering (lafg.language.visual; library default: on)")
    p.add_argument("--top-k", type=int, default=PrototypeConfig.top_k, help="atoms per prototype K")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.pt")
    p.add_argument("--override", action="store_true", help="with --resume: accept settings that differ from the checkpoint's")
    p.add_argument("--class-names", type=Path, metavar="FILE", help="names file for numeric class folders "
                   "(JSON {id: name} or CSV id,name; default DIR/names.json or names.csv when present)")
    p.add_argument("--allow-missing", action="store_true",
                   help="train even when seen classes have no descriptions (they get template prototypes)")
    p.add_argument("--no-eval", action="store_true", help="skip the unseen R@1 / MAP@R report at the end")
    p.set_defaults(func=run)
    return p


def read_seen(path: Path | None) -> list[str] | None:
    if path is None:
        return None
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def read_descriptions(descriptions: Path | None, run_dir: Path | None) -> dict[str, list[str]] | None:
    """``--descriptions`` or ``RUN/descriptions.json`` through the one validated reader (None when neither)."""
    from lafg.language.describe import load_descriptions_json

    path = descriptions if descriptions is not None else (run_dir / "descriptions.json" if run_dir else None)
    if path is None:
        return None
    if not path.is_file():
        raise InputError(f"descriptions file not found: {path}")
    return load_descriptions_json(path)  # validated: lists of strings (a string is never split into characters)


def run(args: argparse.Namespace) -> int:
    from lafg.cli.progress import stage
    from lafg.cli.report import extraction_bar
    from lafg.language.encoders import create_text_encoder
    from lafg.language.side import language_from_run, seen_language
    from lafg.pipeline import RunConfig, language_variants, train_run
    from lafg.store.cache import ArrayCache
    from lafg.training import distributed
    from lafg.vision.backbones import create_backbone
    from lafg.vision.data import load_image_set

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
        vocab=VocabularyConfig(n_atoms=args.n_atoms, visual_only=args.visual_only),
        proto=PrototypeConfig(top_k=args.top_k),
    )
    image_set = load_image_set(args.data, read_seen(args.seen_classes), names_file=args.class_names)
    paths, labels, names = image_set.split("seen")
    unseen_names = image_set.split("unseen")[2]
    language, text_cache = None, ArrayCache(name="text")
    if args.run is not None and (args.run / "vocab.npz").is_file():
        print(f"lafg train: language side from {args.run} (vocab.npz, prototypes.npz)", file=sys.stderr)
        encoder = create_text_encoder(args.encoder)
        language = language_from_run(args.run, names, encoder, language_variants(method), text_cache)
    else:
        descriptions = read_descriptions(args.descriptions, args.run)
        if method.align and descriptions is None:
            raise InputError(f"method {args.method!r} needs --descriptions or --run")
        if descriptions is not None:
            from lafg.vision.datacheck import descriptions_for_training

            warn = lambda line: print(f"lafg train: {line}", file=sys.stderr)  # noqa: E731
            descriptions = descriptions_for_training(names, unseen_names, descriptions, args.allow_missing, warn)
            print("lafg train: building the language side (text encoder, vocabulary, prototypes)", file=sys.stderr)
            encoder = create_text_encoder(args.encoder)
            # the seen classes' descriptions only: unseen ones never reach the model (lafg.pipeline)
            language = seen_language(names, descriptions, encoder, cfg.vocab, cfg.proto, language_variants(method),
                                     text_cache)
    with stage(f"lafg train: loading backbone {args.backbone}"):
        backbone = create_backbone(args.backbone)
    print(
        f"lafg train: {len(paths)} images of {len(names)} seen classes; preparing {args.mode} inputs",
        file=sys.stderr,
    )
    stop = _StopFlag()
    try:
        with extraction_bar(f"extract {args.mode} inputs") as bar:
            progress = _BarUntilTraining(bar)
            result = train_run(
                cfg, paths, labels, names, args.out, language=language, backbone=backbone,
                feature_cache=ArrayCache(name="features"), text_cache=text_cache, progress=progress,
                step=progress.step, cancel=stop, resume=args.resume, override=args.override,
            )
    finally:
        stop.restore()
    for note in result.spec.notes:
        print(f"lafg train: note: {note}", file=sys.stderr)
    print(f"lafg train: {result.status} after {result.epochs_done} epoch(s); checkpoint {result.checkpoint}")
    if result.status == "done" and not args.no_eval and distributed.context().is_main:  # torchrun: rank 0 evaluates
        from lafg.cli.report import unseen_metrics_after_training

        trunk_backbone = result.model.trunk if args.mode == "full" else backbone
        unseen_metrics_after_training(
            result.model, trunk_backbone, args.mode, args.n_top_stages, image_set, args.out,
            ArrayCache(name="features"),
        )
    return 0 if result.status == "done" else 130


class _BarUntilTraining:
    """Feeds the extraction bar until the first training step, then prints steps (:class:`_StepPrinter`)."""

    def __init__(self, bar):
        self.bar, self.printer, self.training = bar, _StepPrinter(), False

    def __call__(self, done: int, total: int, message: str = "") -> None:
        if not self.training:
            self.bar(done, total, message)

    def step(self, event: TrainEvent) -> None:
        if not self.training:  # extraction is over: close its bar before the step lines
            self.training = True
            self.bar.close()
        self.printer(event)


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
