"""The trainer: one loop for the three modes, with progress, cancel, atomic checkpoints and resume.

Modes differ only in what a batch's inputs are and what the trunk is:

- ``head``: inputs are cached frozen features (V augmented views × N images × D); the trunk is the identity and
  only the embedding head and the projectors train.
- ``partial``: inputs are cached activations of the stage below the last backbone stage(s) (V × N × C×H×W);
  the trunk is those top stages, fine-tuned (batch-norm statistics frozen).
- ``full``: inputs are images loaded and augmented on the fly; the trunk is the whole backbone (CUDA and
  autocast when present).

Objective for a batch of N classes × m images (sampler: :mod:`lafg.training.sampler`), the terms a method uses
(:mod:`lafg.training.methods`):

    L = L_aux + β L_ali          (or L_onehot alone for ``onehot``)

with L_aux from :mod:`lafg.training.losses.aux` and L_ali one of the readings in :mod:`lafg.training.losses` chosen by
``TrainConfig.reading``. The learning rate follows a cosine from ``lr`` to 0 over all steps (computed from the
step number, so a resumed run has the same schedule). After each epoch the complete state is written to
``checkpoint.pt`` atomically (temporary file, then ``os.replace``) and one JSON line is appended to
``metrics.jsonl``; ``resume=True`` continues from the last completed epoch and reproduces the uninterrupted
run bit for bit in every mode: batches (the sampler) and views are drawn from (seed, epoch), and the checkpoint
holds the torch / CUDA / numpy / python random states of the epoch's end, which stochastic depth and dropout in
fine-tuned stages draw from. Which parts a config trains is :func:`trained_parts` (recorded in every run spec,
:mod:`lafg.training.runspec`).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lafg.errors import InputError
from lafg.store.atomic import write_json
from lafg.training import distributed
from lafg.training.checkpoint import CHECKPOINT, read_checkpoint, restore_checkpoint, save_checkpoint
from lafg.training.inputs import CachedInputs, ImageInputs
from lafg.training.loader import prefetch
from lafg.training.losses import NormalizedSoftmaxLoss, PairwiseCrossEntropyLoss
from lafg.training.losses.readings import create_reading, get_reading, list_readings
from lafg.training.methods import get_method
from lafg.training.model import ModelConfig, RetrievalModel
from lafg.training.runlock import acquire_run_lock, check_resume
from lafg.training.sampler import ClassBalancedSampler

MODES = ("head", "partial", "full")
READINGS = tuple(list_readings())
METRICS = "metrics.jsonl"


@dataclass
class TrainConfig:
    method: str = "lafg"  # see lafg.training.methods.list_methods()
    mode: str = "head"  # head | partial | full
    reading: str = "relational"  # L_ali reading: meankl | symkl | relational | attribute
    epochs: int = 40  # passes over the seen-class training images
    lr: float = 1e-4  # AdamW learning rate of the head and projectors (cosine to 0)
    trunk_lr: float = 1e-4  # learning rate of the fine-tuned backbone stages (partial / full)
    weight_decay: float = 1e-4  # AdamW weight decay
    classes_per_batch: int = 64  # N classes per batch
    images_per_class: int = 2  # m images per class
    embed_dim: int = 512  # retrieval embedding width
    tau_aux: float = 0.1  # τ of L_aux
    beta: float = 3.0  # β: weight of L_ali
    tau_align: float = 0.2  # τ of the image-side distribution in L_ali
    tau_proto: float = 0.2  # τ of the prototype-side distribution (relational, attribute readings)
    ema_alpha: float = 0.01  # α of the mean projectors (meankl reading)
    onehot_temperature: float = 0.05  # T of the normalised-softmax baseline
    seed: int = 0  # model init, batches and views
    cancel_every: int = 5  # check the cancel flag every this many steps
    amp: bool = True  # autocast (bfloat16) when training on CUDA

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"unknown mode {self.mode!r}; choose one of: {', '.join(MODES)}")
        if self.reading not in READINGS:
            raise InputError(f"unknown L_ali reading {self.reading!r}; choose one of: {', '.join(READINGS)}")
        get_method(self.method)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class TrainEvent:
    """What the progress callback receives after every step."""

    epoch: int  # 0-based epoch being trained
    step: int  # global step, 1-based
    total_steps: int
    terms: dict[str, float]  # loss terms of this step (already weighted)
    lr: float
    eta_s: float  # estimated seconds left


@dataclass
class TrainResult:
    model: RetrievalModel
    status: str  # "done" | "cancelled"
    epochs_done: int
    history: list[dict] = field(default_factory=list)  # the metrics lines written by this call


class Objective(nn.Module):
    """The loss terms of one method and reading; ``forward(model, z, labels) -> {term: weighted loss}``.

    Built once per run: the L_ali reading (:mod:`lafg.training.losses.readings`) holds the prototypes as buffers."""

    def __init__(
        self, cfg: TrainConfig, n_classes: int, prototypes: np.ndarray | None, centroids: np.ndarray | None
    ):
        super().__init__()
        self.cfg, self.method = cfg, get_method(cfg.method)
        self.aux = PairwiseCrossEntropyLoss(cfg.tau_aux)
        self.onehot = (
            NormalizedSoftmaxLoss(n_classes, cfg.embed_dim, cfg.onehot_temperature, cfg.seed)
            if self.method.onehot
            else None
        )
        if self.method.align and prototypes is None:
            raise InputError(f"method {cfg.method!r} needs prototypes")
        self.alignment = (
            create_reading(cfg.reading, prototypes, centroids, cfg.tau_align, cfg.tau_proto)
            if self.method.align
            else None
        )

    def forward(
        self, model: RetrievalModel, z: torch.Tensor, labels: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        terms = {}
        if self.method.aux:
            terms["aux"] = self.aux(z, labels)
        if self.onehot is not None:
            terms["onehot"] = self.onehot(z, labels)
        if self.alignment is not None:
            terms["ali"] = self.cfg.beta * self.alignment(z, labels, model)
        return terms


def trained_parts(cfg: TrainConfig, mode: str | None = None) -> dict[str, bool]:
    """Which parts of the model a config's loss actually trains (the checkpoint records it; explanations
    read a projector only when it is True here)."""
    method = get_method(cfg.method)
    reached = get_reading(cfg.reading).trains if method.align else frozenset()
    return {
        "head": method.trains,
        "trunk": method.trains and (mode or cfg.mode) != "head",
        "proj_v": "proj_v" in reached,
        "proj_t": "proj_t" in reached,
    }


def build_model(
    cfg: TrainConfig,
    in_dim: int,
    text_dim: int,
    n_outputs: int,
    trunk: nn.Module | None,
    centroids: np.ndarray | None,
) -> RetrievalModel:
    """The model a config trains, initialised from ``cfg.seed``."""
    torch.manual_seed(cfg.seed)
    mcfg = ModelConfig(
        in_dim=in_dim,
        embed_dim=cfg.embed_dim,
        text_dim=text_dim,
        n_outputs=n_outputs,
        ema_alpha=cfg.ema_alpha,
    )
    return RetrievalModel(mcfg, trunk, centroids)


def cosine_lr(base: float, step: int, total: int) -> float:
    """base · ½(1 + cos(π · step / total))."""
    return base * 0.5 * (1.0 + math.cos(math.pi * min(step, total) / max(total, 1)))


def train(
    cfg: TrainConfig,
    inputs: CachedInputs | ImageInputs,
    labels: np.ndarray,
    out_dir: str | Path,
    *,
    in_dim: int,
    prototypes: np.ndarray | None = None,
    centroids: np.ndarray | None = None,
    trunk: nn.Module | None = None,
    progress: Callable[[TrainEvent], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    resume: bool = False,
    device: str | None = None,
    extra: dict | None = None,
    override: bool = False,
) -> TrainResult:
    """Train ``cfg.method`` on ``inputs`` (seen-class images) with class indices ``labels`` (0..C−1).

    ``prototypes`` (C, d_t) are the rows T_c the method trains with (controls already applied, see
    :func:`lafg.training.methods.control_prototypes`); ``centroids`` (N, d_t) the vocabulary atoms (they size and
    initialise the projectors). ``trunk`` is the trainable part of the backbone for ``partial`` / ``full``.
    With ``resume`` the checkpoint in ``out_dir`` (if any) restores everything and training continues at its
    next epoch, with the torch / numpy / python random states of that moment (stochastic depth and dropout in
    fine-tuned stages draw from them), so the resumed run equals the uninterrupted one bit for bit.
    ``cancel()`` is polled every ``cfg.cancel_every`` steps; a cancelled run keeps the checkpoint of its last
    completed epoch. ``extra`` (plain types and tensors only) is stored in every checkpoint: the run spec.
    """
    method = get_method(cfg.method)
    if not method.trains:
        raise InputError(f"method {cfg.method!r} does not train; evaluate the backbone features instead")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ctx = distributed.context()  # torchrun: one rank per process, rank 0 writes the files
    # one training per folder, held until train() returns; under torchrun rank 0 holds it for all ranks
    run_lock = acquire_run_lock(out) if ctx.is_main else None  # noqa: F841
    device = device or distributed.default_device(ctx)
    labels = np.asarray(labels, dtype=np.int64)
    n_classes = int(labels.max()) + 1
    text_dim = (
        prototypes.shape[1]
        if prototypes is not None
        else (centroids.shape[1] if centroids is not None else 384)
    )
    n_outputs = centroids.shape[0] if centroids is not None else 128
    model = build_model(cfg, in_dim, text_dim, n_outputs, trunk, centroids).to(device)
    objective = Objective(cfg, n_classes, prototypes, centroids).to(device)
    optimizer = _optimizer(cfg, model, objective)
    start_epoch = 0
    if resume and (out / CHECKPOINT).exists():
        check_resume(read_checkpoint(out / CHECKPOINT)["config"], cfg.to_dict(), override)
        start_epoch = restore_checkpoint(out / CHECKPOINT, model, objective, optimizer)
    if ctx.is_main:
        write_json(out / "train_config.json", cfg.to_dict())
    sampler = ClassBalancedSampler(labels, cfg.classes_per_batch, cfg.images_per_class, cfg.seed)
    distributed.check_batch(sampler.n_classes * sampler.m, sampler.m, ctx)
    progress, cancel = (progress if ctx.is_main else None), distributed.agreed(cancel, ctx)
    forward = distributed.wrap(TrainStep(model, objective, cfg.amp and device.startswith("cuda")), ctx)
    loop = _Loop(cfg, model, forward, optimizer, inputs, labels, sampler, device, progress, cancel)
    history, status, epoch = [], "done", start_epoch
    for epoch in range(start_epoch, cfg.epochs):
        record = loop.run_epoch(epoch)
        if record is None:
            status = "cancelled"
            break
        if ctx.is_main:
            save_checkpoint(out / CHECKPOINT, model, objective, optimizer, epoch + 1, cfg, extra)
            _append_jsonl(out / METRICS, record)
        distributed.barrier(ctx)
        history.append(record)
    else:
        epoch = cfg.epochs
    model.eval()
    return TrainResult(model, status, epoch if status == "cancelled" else cfg.epochs, history)


def _optimizer(cfg: TrainConfig, model: RetrievalModel, objective: Objective) -> torch.optim.Optimizer:
    trunk = [p for p in model.trunk.parameters() if p.requires_grad]
    trunk_ids = {id(p) for p in trunk}
    rest = [
        p
        for p in list(model.parameters()) + list(objective.parameters())
        if p.requires_grad and id(p) not in trunk_ids
    ]
    groups = [{"params": rest, "lr": cfg.lr, "base_lr": cfg.lr}]
    if trunk:
        groups.append({"params": trunk, "lr": cfg.trunk_lr, "base_lr": cfg.trunk_lr})
    return torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)


class TrainStep(nn.Module):
    """The model and its loss as one module, ``forward(x, labels) -> {term: loss}``: what
    DistributedDataParallel wraps under torchrun, so every trained parameter (the projectors the alignment
    loss reads, the one-hot classifier) is used inside its forward and has its gradient averaged."""

    def __init__(self, model: RetrievalModel, objective: Objective, amp: bool = False):
        super().__init__()
        self.model, self.objective, self.amp = model, objective, amp

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.amp):
            z = distributed.gather(self.model(x))  # the global batch's embeddings on every rank
        return self.objective(self.model, z.float(), labels)


class _Loop:
    """One epoch of steps; returns the epoch's metrics line, or None when cancelled."""

    def __init__(self, cfg, model, forward, optimizer, inputs, labels, sampler, device, progress, cancel):
        self.cfg, self.model, self.forward, self.optimizer = cfg, model, forward, optimizer
        self.inputs, self.labels, self.sampler, self.device = inputs, torch.as_tensor(labels), sampler, device
        self.progress, self.cancel = progress, cancel
        self.total = len(sampler) * cfg.epochs
        self.started = time.perf_counter()
        self.steps_this_call = 0

    def run_epoch(self, epoch: int) -> dict | None:
        cfg, model = self.cfg, self.model
        model.train()
        model.trunk.apply(_freeze_batchnorm)
        generator = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
        sums: dict[str, float] = {}
        t0 = time.perf_counter()
        batches = self.sampler.batches(epoch)
        self.feed = prefetch(self.inputs, batches, generator, self.device)  # full mode: decoded by loader workers
        for b, idx in enumerate(batches):
            if self.cancel is not None and b % cfg.cancel_every == 0 and self.cancel():
                return None
            step = epoch * len(self.sampler) + b
            lr_scale = cosine_lr(1.0, step, self.total)
            for group in self.optimizer.param_groups:
                group["lr"] = group["base_lr"] * lr_scale
            terms = self.step(idx, generator)
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + v
            self.report(epoch, step + 1, terms, lr_scale)
        n = len(batches)
        record = {
            "epoch": epoch + 1,
            "seconds": round(time.perf_counter() - t0, 3),
            "lr": self.cfg.lr * lr_scale,
        }
        record.update({f"loss_{k}": v / n for k, v in sums.items()})
        return record

    def step(self, idx: np.ndarray, generator: torch.Generator) -> dict[str, float]:
        x = next(self.feed) if self.feed is not None else distributed.local_batch(self.inputs, idx, generator)
        x = x.to(self.device, non_blocking=True)
        y = self.labels[torch.as_tensor(idx)].to(self.device)
        terms = self.forward(x, y)  # under torchrun: DistributedDataParallel, whose backward averages the gradients
        loss = sum(terms.values())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.model.update_mean_projectors()
        return {k: float(v.detach()) for k, v in terms.items()}

    def report(self, epoch: int, step: int, terms: dict[str, float], lr_scale: float) -> None:
        self.steps_this_call += 1
        if self.progress is None:
            return
        per_step = (time.perf_counter() - self.started) / self.steps_this_call
        event = TrainEvent(
            epoch, step, self.total, terms, self.cfg.lr * lr_scale, per_step * (self.total - step)
        )
        self.progress(event)


def _freeze_batchnorm(module: nn.Module) -> None:
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        module.eval()


def _append_jsonl(path: Path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


# Epochs per mode: head and partial are the ladder's validated schedules (lr 1e-4: 60 head epochs beat 40 at
# 1e-3 by ~6 R@1 on the held-out car makes; 6 partial epochs beat 2); full: one GPU run on cars196.
DEFAULT_EPOCHS = {"head": 60, "partial": 6, "full": 10}
