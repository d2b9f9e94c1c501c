"""One pipeline from names to explanations, called by the CLI, the app and the benchmarks alike.

    seen classes' descriptions → vocabulary → prototypes   (:mod:`lafg.language.side`)
    + image inputs of the mode → model + objective → checkpoint with its run spec   (:func:`train_run`)
    checkpoint alone → trunk, head, projectors, encoder, vocabulary, prototypes   (:func:`load_run`)
    → retrieval embeddings and the attribute space explanations read   (:meth:`Run.attribute_space`)

The language side is built from the *seen* classes' descriptions only (:func:`lafg.language.side.seen_language`);
classes met later (unseen, evaluation) get prototypes from their *names* through the seen vocabulary
(:meth:`lafg.language.side.Language.prototypes_for`), which is all zero-shot needs.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from lafg.errors import InputError
from lafg.language.prototypes import PrototypeConfig
from lafg.language.side import Language, seen_descriptions, seen_language
from lafg.language.vocabulary import VocabularyConfig
from lafg.retrieval.attribute_space import (
    EMBEDDINGS,
    FEATURES,
    PROJECTOR,
    READOUT,
    AttributeSpace,
    Readout,
    ReadoutConfig,
    fit_grounded_readout,
    no_space,
    projector_space,
    readout_space,
)
from lafg.training.checkpoint import CHECKPOINT, read_checkpoint, write_checkpoint
from lafg.training.inputs import (
    DEFAULT_TOP_STAGES,
    DEFAULT_VIEWS,
    CachedInputs,
    PreparedInputs,
    prepare_inputs,
)
from lafg.training.loop import TrainConfig, TrainEvent, train, trained_parts
from lafg.training.methods import Method, control_prototypes, get_method
from lafg.training.runspec import RunSpec, check_checkpoint_keys, data_fingerprint

Progress = Callable[[int, int, str], None]
RUN_FILE = "run.json"  # a human-readable copy of the run spec (never read back: the checkpoint is the truth)


# ------------------------------------------------------------------------------------------- language side
def language_variants(method: Method) -> tuple[str, ...]:
    """Variants a run builds: its own (for training) and ``lafg`` (kept in every checkpoint beside it)."""
    return tuple(dict.fromkeys([v for v in (method.language_variant, "lafg") if v]))


def method_prototypes(language: Language, method: Method, seed: int | None = None) -> np.ndarray | None:
    """The rows T_c a method trains with (its control applied, drawn for run ``seed``), or None for methods
    without L_ali."""
    if not method.align:
        return None
    variant = method.language_variant
    if variant not in language.prototypes:
        raise InputError(f"method {method.name!r} needs {variant!r} prototypes, which this language side lacks")
    return control_prototypes(method, language.prototypes[variant], seed)  # Prototypes: shuffled-atoms needs its parts


def fit_readout(language: Language, feats: np.ndarray, labels: np.ndarray, cfg: ReadoutConfig | None = None,
                reads: str = FEATURES) -> Readout:
    """The read-out explanations and text search read (:func:`lafg.retrieval.attribute_space.fit_grounded_readout`):
    the frozen backbone features ``feats`` of seen images (``labels`` index ``language.seen_names``;
    ``reads=EMBEDDINGS`` when they are a run's embeddings instead) onto the classes' own descriptions."""
    if language.vocabulary is None:
        raise InputError("a read-out needs the seen classes' descriptions (an attribute vocabulary)")
    return fit_grounded_readout(feats, labels, language.description_means(), language.centroids,
                                language.class_atoms(), cfg, reads)


# ------------------------------------------------------------------------------------------------ training
@dataclass
class RunConfig:
    """Everything a person chooses for one run; the defaults are the validated ones."""

    train: TrainConfig = field(default_factory=TrainConfig)
    backbone: str = "efficientnet_lite0"  # lafg.vision.backbones registry name
    backbone_kw: dict = field(default_factory=dict)
    views: int = DEFAULT_VIEWS  # cached augmented views per image besides the evaluation crop
    n_top_stages: int = DEFAULT_TOP_STAGES  # partial mode: backbone stages fine-tuned
    encoder: str = "minilm"  # lafg.language.encode registry name
    encoder_kw: dict = field(default_factory=dict)
    vocab: VocabularyConfig = field(default_factory=VocabularyConfig)  # N atoms, visual filter
    proto: PrototypeConfig = field(default_factory=PrototypeConfig)  # template, K, τ


@dataclass
class RunResult:
    model: object
    status: str  # done | cancelled
    epochs_done: int
    history: list[dict]
    spec: RunSpec
    language: Language | None
    checkpoint: Path


def train_run(
    cfg: RunConfig,
    paths: list,
    labels: np.ndarray,
    seen_names: list[str],
    out_dir: str | Path,
    *,
    descriptions: dict[str, list[str]] | None = None,
    language: Language | None = None,
    backbone=None,
    encoder=None,
    prepared: PreparedInputs | None = None,
    backbone_id: str | None = None,
    feature_cache=None,
    text_cache=None,
    progress: Progress | None = None,
    step: Callable[[TrainEvent], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    resume: bool = False,
    device: str | None = None,
    num_workers: int = 2,
    override: bool = False,
) -> RunResult:
    """Train ``cfg`` on the seen images ``paths`` (labels 0..C−1 into ``seen_names``) into ``out_dir``.

    The language side is ``language`` or built here from ``descriptions`` (seen classes only). Inputs come
    from ``backbone`` (built from ``cfg`` when None) unless ``prepared`` is given (the app's stand-in
    embedders; then ``backbone_id`` names them). The checkpoint holds the run spec, the language side and,
    when no projector was trained, the read-out fitted on the trained seen-class embeddings.
    """
    method = get_method(cfg.train.method)
    if not method.trains:
        raise InputError(f"method {method.name!r} does not train; evaluate the backbone features instead")
    labels = np.asarray(labels, dtype=np.int64)
    described = bool(seen_descriptions(descriptions, seen_names))
    if language is None and (method.align or described):
        if encoder is None:
            from lafg.language.encoders import create_text_encoder

            encoder = create_text_encoder(cfg.encoder, **cfg.encoder_kw)
        variants = language_variants(method) if described else ("template",)
        if method.align and method.language_variant not in variants:
            raise InputError(f"method {method.name!r} needs descriptions of the seen classes")
        language = seen_language(seen_names, descriptions, encoder, cfg.vocab, cfg.proto, variants, text_cache,
                                 progress)
    if prepared is None:
        if backbone is None:
            from lafg.vision.backbones import create_backbone

            backbone = create_backbone(cfg.backbone, **cfg.backbone_kw)
        prepared = prepare_inputs(backbone, cfg.train.mode, paths, cfg.views, cfg.n_top_stages, feature_cache,
                                  progress, num_workers=num_workers)
    kept_labels = labels[prepared.kept]
    kept_paths = [paths[i] for i in prepared.kept]
    encoder_name, encoder_kw = _encoder_registry(encoder, cfg)
    parts = trained_parts(cfg.train)
    spec = RunSpec(
        backbone=cfg.backbone, backbone_kw=dict(cfg.backbone_kw),
        backbone_id=backbone_id or getattr(backbone, "name", cfg.backbone),
        mode=cfg.train.mode, n_top_stages=int(cfg.n_top_stages), views=int(cfg.views),
        encoder=encoder_name, encoder_kw=encoder_kw,
        encoder_id=language.encoder_id if language else getattr(encoder, "name", cfg.encoder),
        vocabulary=(language.vocabulary.config if language and language.vocabulary else cfg.vocab).to_dict(),
        prototypes=(language.proto_config if language else cfg.proto).to_dict(),
        method=method.name, reading=cfg.train.reading, train=cfg.train.to_dict(), seen_classes=list(seen_names),
        data_fingerprint=data_fingerprint(kept_paths, kept_labels, seen_names),
        language_source=language.source if language else "none", trained=parts,
        notes=list(language.notes) if language else [],
    )
    extra = {"run": spec.to_dict(), "language": language.to_state() if language else None}
    out = Path(out_dir)
    from lafg.training import distributed

    is_main = distributed.context().is_main  # torchrun: rank 0 alone writes files
    result = train(
        cfg.train, prepared.inputs, kept_labels, out, in_dim=prepared.in_dim,
        prototypes=method_prototypes(language, method, cfg.train.seed) if language else None,
        centroids=language.centroids if language else None, progress=step, cancel=cancel,
        # the trunk trains in place and shares its weights with the caller's backbone (the app's, shared by every
        # visitor; the ladder's, shared by every row): each run fine-tunes its own copy
        trunk=copy.deepcopy(prepared.trunk) if prepared.trunk is not None else None,
        resume=resume, device=device, extra=extra, override=override,
    )
    ckpt = out / CHECKPOINT
    model = result.model
    if is_main and ckpt.is_file() and language is not None and language.vocabulary is not None:
        # Every run gets the read-out explanations read by default, projector-trained ones too (their projectors
        # stay readable: Run.attribute_space(PROJECTOR)); benchmarks/grounding.py measures both.
        state = read_checkpoint(ckpt, parse=False)
        # the frozen backbone's features (training fine-tuned a copy of the trunk: the backbone is as it was)
        frozen = _frozen_features(cfg.train.mode, prepared, kept_paths, backbone, feature_cache, num_workers)
        if frozen is not None:
            readout = fit_readout(language, frozen, kept_labels)
        else:  # no frozen backbone at hand (prepared partial inputs without one): the trained embeddings
            model.load_state_dict(state["model"])  # a cancelled run: the read-out describes the checkpoint
            emb = _seen_embeddings(model, prepared, kept_paths, backbone, device)
            readout = fit_readout(language, emb, kept_labels, reads=EMBEDDINGS)
        state["readout"] = readout.to_state()
        write_checkpoint(ckpt, state)
    from lafg.store.atomic import write_json

    if is_main:
        write_json(out / RUN_FILE, {**spec.to_dict(), "status": result.status, "epochs_done": result.epochs_done})
    model.eval()
    return RunResult(model, result.status, result.epochs_done, result.history, spec, language, ckpt)


def _encoder_registry(encoder, cfg: RunConfig) -> tuple[str, dict]:
    name, kw = getattr(encoder, "registry", (None, None)) if encoder is not None else (None, None)
    if name is None:
        return cfg.encoder if encoder is None else getattr(encoder, "name", cfg.encoder), dict(cfg.encoder_kw)
    return name, {k: v for k, v in kw.items() if isinstance(v, str | int | float | bool | type(None))}


def _frozen_features(mode: str, prepared: PreparedInputs, kept_paths: list, backbone, cache,
                     num_workers: int) -> np.ndarray | None:
    """The frozen backbone's pooled features of the seen images' evaluation crops (None without a backbone)."""
    if mode == "head":
        return prepared.inputs.views[0].numpy()
    if backbone is None:
        return None
    from lafg.training.inputs import frozen_inputs

    return frozen_inputs(backbone, "head", kept_paths, cache=cache, num_workers=num_workers)[0]


@torch.no_grad()
def _seen_embeddings(model, prepared: PreparedInputs, kept_paths: list, backbone, device) -> np.ndarray:
    """Trained embeddings of the seen images' evaluation crops (view 0)."""
    from lafg.retrieval.evaluate import embed

    model.eval()
    if isinstance(prepared.inputs, CachedInputs):
        dev = next(model.parameters()).device.type
        return embed(model, prepared.inputs.views[0].numpy(), device=dev)
    from lafg.vision.features import extract_features

    return extract_features(model, kept_paths, backbone.eval_transform(), cache=None, model_id="fine-tuned",
                            num_workers=0)


# ------------------------------------------------------------------------------------------------- loading
@dataclass
class Run:
    """A trained run rebuilt from its checkpoint alone (see :func:`load_run`)."""

    path: Path
    spec: RunSpec
    model: object  # lafg.training.model.RetrievalModel, eval mode
    language: Language | None
    readout: Readout | None
    epochs_done: int
    _backbone: object = None
    _encoder: object = None

    @property
    def config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.spec.train)

    @property
    def backbone(self):
        """The frozen backbone the run trained on (built from the spec the first time it is needed)."""
        if self._backbone is None:
            from lafg.vision.backbones import create_backbone

            self._backbone = create_backbone(self.spec.backbone, **self.spec.backbone_kw)
            _check_backbone(self._backbone, self.spec, self.path)
        return self._backbone

    def encoder(self):
        """The text encoder the language side was built with (from the spec unless one was passed in)."""
        if self._encoder is None:
            from lafg.language.encoders import create_text_encoder

            self._encoder = create_text_encoder(self.spec.encoder, **self.spec.encoder_kw)
        if self._encoder.name != self.spec.encoder_id:
            raise InputError(f"{self.path} was trained with the text encoder {self.spec.encoder_id}, "
                             f"not {self._encoder.name}")
        return self._encoder

    def embed_features(self, feats: np.ndarray) -> np.ndarray:
        """Retrieval embeddings of the frozen backbone's pooled features through the trained head (head-mode runs:
        the features an app or a cache already holds need no second pass through the backbone)."""
        from lafg.retrieval.evaluate import embed

        if self.spec.mode != "head":
            raise InputError(f"{self.path.name} fine-tuned backbone stages ({self.spec.mode} mode): embed images")
        return embed(self.model, feats, device=next(self.model.parameters()).device.type)

    def embed_images(self, paths: list, cache=None, progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(retrieval embeddings, kept indices) of image files through the run's trunk split."""
        from lafg.retrieval.evaluate import image_embeddings

        return image_embeddings(self.model, self.backbone, self.spec.mode, paths, self.spec.n_top_stages, cache,
                                progress)

    @property
    def projectors_trained(self) -> bool:
        return bool(self.spec.trained.get("proj_v") and self.spec.trained.get("proj_t"))

    def attribute_space(self, kind: str | None = None) -> AttributeSpace:
        """What explanations and text search read. By default (``kind=None``) the run's read-out (from the frozen
        features of its seen images onto their classes' own descriptions; an older checkpoint's read-out of its
        trained embeddings), or, for an older checkpoint without one, its trained projectors; ``kind=PROJECTOR`` /
        ``READOUT`` asks for one of them (the benchmark measures both)."""
        lang = self.language
        if lang is None or lang.vocabulary is None:
            return no_space("no attribute vocabulary: the run was trained without descriptions")
        if kind not in (None, PROJECTOR, READOUT):
            raise InputError(f"unknown attribute space {kind!r} (readout or projector)")
        if kind == PROJECTOR or (kind is None and self.readout is None and self.spec.trained.get("proj_v")):
            if not self.spec.trained.get("proj_v"):
                return no_space("this run's loss never trained its projectors")
            cfg = self.config
            return projector_space(self.model, self.spec.trained, cfg.reading, lang.centroids, lang.atom_labels,
                                   cfg.tau_proto)
        if self.readout is None:
            return no_space("no read-out was fitted (the run stopped before its first epoch)")
        return readout_space(self.readout, lang.centroids, lang.atom_labels, "trained embeddings")

    def zero_shot_prototypes(self, names: list[str], cache=None) -> np.ndarray | None:
        """Prototypes of ``names`` for zero-shot through the trained projectors (None without them)."""
        if not self.projectors_trained or self.language is None:
            return None
        variant = "template" if get_method(self.spec.method).prototypes == "template" else "lafg"
        return self.language.prototypes_for(names, self.encoder(), variant, cache)

    def evaluate(self, paths: list, labels: np.ndarray, names: list[str], cache=None,
                 progress=None, check=None) -> tuple[dict, np.ndarray]:
        """(metrics, kept indices): Recall@K and MAP@R of ``paths`` (each querying the others); zero-shot
        accuracy over ``names`` when the projectors were trained. ``check(labels, names)`` runs on the kept
        labels before the metrics (the CLI's note on single-image classes)."""
        from lafg.retrieval.evaluate import evaluate_embeddings, projected
        from lafg.retrieval.metrics import zero_shot_accuracy

        emb, kept = self.embed_images(paths, cache, progress)
        labels = np.asarray(labels)[kept]
        if check is not None:
            check(labels, names)
        metrics = evaluate_embeddings(emb, labels)
        protos = self.zero_shot_prototypes(names)
        if protos is not None:
            v, t = projected(self.model, emb, protos)
            metrics["zero_shot"] = zero_shot_accuracy(v, labels, t)
        return metrics, kept


def evaluate_backbone(backbone, paths: list, labels: np.ndarray, cache=None, progress=None) -> tuple[dict, np.ndarray]:
    """(metrics, kept indices): Recall@K and MAP@R of the untrained backbone's pooled features (the
    ``pretrained`` method: nothing trained, the reference every trained run is compared with)."""
    from lafg.retrieval.evaluate import evaluate_embeddings, image_embeddings

    emb, kept = image_embeddings(None, backbone, "pretrained", paths, cache=cache, progress=progress)
    return evaluate_embeddings(emb, np.asarray(labels)[kept]), kept


def load_run(path: str | Path, backbone=None, encoder=None, device: str = "cpu") -> Run:
    """Rebuild a run from ``checkpoint.pt`` alone (no side file is read).

    ``backbone`` / ``encoder``: pass the ones already in memory (the app's); they are checked against the
    spec. A checkpoint from an older LaFG raises :class:`InputError` naming what it lacks.
    """
    from lafg.training.checkpoint import check_checkpoint_file
    from lafg.training.model import ModelConfig, RetrievalModel

    path = Path(path)
    state = check_checkpoint_file(path)  # one line for a missing, empty, damaged or foreign file
    check_checkpoint_keys(state, path)
    spec = RunSpec.from_dict(state["run"], str(path))
    if backbone is not None:
        _check_backbone(backbone, spec, path)
    trunk = None
    if spec.mode != "head":
        source = copy.deepcopy(backbone if backbone is not None else _build_backbone(spec, path))
        trunk = source.split_at(spec.n_top_stages)[1] if spec.mode == "partial" else source
    model = RetrievalModel(ModelConfig(**state["model_config"]), trunk)
    model.load_state_dict(state["model"])
    model = model.to(device).eval()
    language = Language.from_state(state["language"]) if state["language"] is not None else None
    readout = Readout.from_state(state["readout"]) if state.get("readout") is not None else None
    return Run(path, spec, model, language, readout, int(state["epochs_done"]), backbone, encoder)


def _build_backbone(spec: RunSpec, path):
    from lafg.vision.backbones import create_backbone

    backbone = create_backbone(spec.backbone, **spec.backbone_kw)
    _check_backbone(backbone, spec, path)
    return backbone


def _check_backbone(backbone, spec: RunSpec, path) -> None:
    name = getattr(backbone, "name", None)
    if name != spec.backbone_id:
        raise InputError(f"{Path(path).name} was trained on another backbone ({spec.backbone_id}), not {name}: "
                         "retrain, or use that backbone")


def pretrained_space(feats: np.ndarray, labels: np.ndarray, language: Language, fitted=None) -> AttributeSpace:
    """The untrained backbone: a read-out fitted on the frozen features of the seen classes' images
    (``labels`` index ``language.seen_names``; ``feats`` may be a callable giving them, called only to fit).
    ``fitted(fit)``, when given, returns the read-out, calling
    ``fit()`` only when it has none stored for exactly these inputs (the app's gallery store)."""
    if language.vocabulary is None:
        return no_space("no descriptions of the seen classes: no attribute vocabulary")

    def fit():
        return fit_readout(language, feats() if callable(feats) else feats, labels)

    readout = fitted(fit) if fitted else fit()
    return readout_space(readout, language.centroids, language.atom_labels, "frozen backbone features")
