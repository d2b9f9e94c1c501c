"""The app's training job: the library pipeline (:func:`lafg.pipeline.train_run`) with its validated defaults,
run inside :class:`lafg.app.jobs.JobRegistry` (``ctx``).

The chart follows the training loss, step by step. Unseen-class Recall@K is measured once, at the end, beside
the untrained (``pretrained``) backbone and whatever control runs were queued: watching it every epoch would
invite stopping on the test classes. Writes into the job folder: ``checkpoint.pt`` (self-describing, see
:mod:`lafg.training.runspec`), ``run.json`` (the pipeline's readable copy of the spec) and ``result.json`` (what the
Train tab shows).
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np

from lafg.app.jobs import JobContext
from lafg.errors import InputError
from lafg.language.encode import l2_normalise
from lafg.store.atomic import write_json
from lafg.vision.data import load_image_set

KS = (1, 2, 4, 8)
RESULT_FILE = "result.json"

# Where the app departs from the library's validated defaults (lafg.pipeline.RunConfig, lafg.training.loop.DEFAULT_*),
# and why. Everything else (lr 1e-4, no cached augmented views, N = 128 atoms clamped to the sentences there
# are, K = 5, 2 images per class, relational β = 3, the epochs of lafg.training.loop.DEFAULT_EPOCHS) is the library's.
APP_DIFFERENCES = {
    "num_workers": 0,  # feature extraction inside a web server: no forked DataLoader workers
}
unit = l2_normalise  # kept name for the app's callers


def unseen_recall(emb: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Recall@K (%) of the unseen images, each querying the others (the library's evaluation,
    :func:`lafg.retrieval.evaluate.evaluate_embeddings`); a K as large as the gallery is left out."""
    from lafg.retrieval.evaluate import evaluate_embeddings

    keep = {f"R@{k}" for k in KS if k < len(labels)} or {"R@1"}
    return {k: round(float(v), 2) for k, v in evaluate_embeddings(emb, labels).items() if k in keep}


def stage_progress(ctx: JobContext, message: str):
    """Progress of a preparation stage, shown in the job's status (training steps then take over)."""

    def report(done: int, total: int, _msg: str = "") -> None:
        ctx.progress(done, total, f"{message}: {done}/{total}")

    return report


def read_descriptions(params: dict) -> dict[str, list[str]]:
    """The job's descriptions: inline (``descriptions``) or from a JSON file (``descriptions_file``)."""
    from lafg.language.describe import load_descriptions_json

    path = params.get("descriptions_file")
    if path and Path(path).read_text(encoding="utf-8-sig").strip() not in ("", "{}"):
        return load_descriptions_json(path)
    return params.get("descriptions") or {}


def run_config(params: dict, embedder):
    """The :class:`lafg.pipeline.RunConfig` of a job: library defaults, the person's choices on top."""
    from lafg.pipeline import RunConfig
    from lafg.training.loop import DEFAULT_EPOCHS, TrainConfig

    mode = params.get("mode", "head")
    train = TrainConfig(
        method=params["method"], mode=mode, epochs=int(params.get("epochs") or DEFAULT_EPOCHS[mode]),
        **{k: float(params[k]) for k in ("lr", "trunk_lr") if params.get(k)},
        **({"reading": params["reading"]} if params.get("reading") else {}),
        **({"seed": int(params["seed"])} if params.get("seed") is not None else {}),
    )
    spec = getattr(embedder, "spec", None) or {"name": embedder.name, "kwargs": {}}
    cfg = RunConfig(train=train, backbone=spec["name"], backbone_kw=dict(spec["kwargs"]))
    if params.get("visual_only") is not None:  # the session's toggle (default: the library's, VocabularyConfig)
        cfg.vocab = replace(cfg.vocab, visual_only=bool(params["visual_only"]))
    if params.get("views") is not None:
        cfg.views = int(params["views"])  # extra augmented views, as in the library (0 = the crop alone)
    return cfg


def embed_with_run(run, embedder, paths: list, progress=None) -> tuple[np.ndarray, np.ndarray]:
    """(retrieval embeddings, kept) of image files through a loaded run: the app's cached backbone features
    then the trained head (head mode), or the run's own trunk (partial / full)."""
    if run.spec.mode == "head":
        feats, kept = embedder.embed([str(p) for p in paths], 1, progress)
        return run.embed_features(feats), kept
    return run.embed_images([str(p) for p in paths], None, progress)


def device_for(mode: str) -> str:
    import torch

    return "cuda" if mode == "full" and torch.cuda.is_available() else "cpu"


def train_job(services, ctx: JobContext) -> dict:
    """Train one method on a data set's seen classes; returns recalls (method vs pretrained) and paths."""
    from lafg.pipeline import load_run, train_run
    from lafg.training.inputs import CachedInputs, PreparedInputs
    from lafg.training.methods import get_method

    p = ctx.params
    method = get_method(p["method"])
    image_set = load_image_set(p["dataset_dir"])
    seen_paths, seen_labels, seen_names = image_set.split("seen")
    unseen_paths, unseen_labels, unseen_names = image_set.split("unseen")
    if len(seen_paths) == 0 or len(unseen_paths) < 2:
        raise InputError("the data set needs seen (training) images and at least two unseen images")
    embedder = services.image_embedder()
    ctx.progress(0, 1, "embedding unseen images with the frozen backbone")
    unseen_feats, kept_u = embedder.embed(unseen_paths, 1, stage_progress(ctx, "embedding unseen images (cached for next time)"))
    unseen_labels = unseen_labels[kept_u]
    kept_unseen = [unseen_paths[i] for i in kept_u]
    baseline = unseen_recall(unit(unseen_feats), unseen_labels)
    cfg = run_config(p, embedder)
    run = {
        "method": method.name, "mode": cfg.train.mode, "epochs": cfg.train.epochs, "lr": cfg.train.lr,
        "views": cfg.views, "backbone": embedder.name, "feature_dim": embedder.dim, "dataset": str(p["dataset_dir"]),
        "seen_classes": seen_names, "unseen_classes": unseen_names, "pretrained": baseline,
    }
    write_json(ctx.dir / RESULT_FILE, run)
    if not method.trains:
        result = {**run, "recall": baseline, "checkpoint": None, "epochs_done": 0}
        write_json(ctx.dir / RESULT_FILE, result)
        return result
    ctx.check_cancelled()
    device = device_for(cfg.train.mode)
    backbone = getattr(embedder, "backbone", None)
    prepared = None
    if backbone is None:  # a stand-in embedder (tests): its cached features are the head-mode inputs
        if cfg.train.mode != "head":
            raise InputError("partial and full fine-tuning need a real image backbone (this app runs a stand-in)")
        views = cfg.views + 1
        feats, kept_s = embedder.embed(seen_paths, views, stage_progress(ctx, "embedding seen images"))
        prepared = PreparedInputs(CachedInputs(feats.reshape(views, len(kept_s), -1)), kept_s, None, embedder.dim)

    def on_step(event) -> None:
        loss = sum(event.terms.values())
        ctx.progress(event.step, event.total_steps, f"epoch {event.epoch + 1}/{cfg.train.epochs} · loss {loss:.3f}")
        ctx.log("training loss", event.step / max(1, event.total_steps / cfg.train.epochs), loss)

    encoder = services.text_encoder() if (method.align or read_descriptions(p)) else None
    resume = bool(p.get("resume_from"))
    if resume:  # Resume: the stopped job's last checkpoint continues here (the library checks the settings match)
        from lafg.training.checkpoint import CHECKPOINT
        from lafg.training.loop import METRICS

        stopped = services.jobs.job_dir(str(p["resume_from"]))
        for name in (CHECKPOINT, METRICS):
            if (stopped / name).is_file():
                shutil.copyfile(stopped / name, ctx.dir / name)
    out = train_run(
        cfg, seen_paths, seen_labels, seen_names, ctx.dir, descriptions=read_descriptions(p), backbone=backbone,
        encoder=encoder, prepared=prepared, backbone_id=embedder.name, feature_cache=services.cache,
        text_cache=services.cache, progress=stage_progress(ctx, "preparing the training inputs"), step=on_step,
        cancel=ctx.cancelled, device=device, num_workers=APP_DIFFERENCES["num_workers"], resume=resume,
    )
    ctx.progress(0, 1, "measuring unseen-class retrieval (once, at the end)")
    trained = load_run(out.checkpoint, backbone=backbone, encoder=encoder, device=device)
    emb, _ = embed_with_run(trained, embedder, kept_unseen)
    recall = unseen_recall(unit(emb), unseen_labels)
    vocab = out.language.vocabulary if out.language else None
    result = {
        **run, "recall": recall, "epochs_done": out.epochs_done, "status": out.status,
        "checkpoint": str(out.checkpoint) if out.checkpoint.is_file() else None,
        "worse_than_pretrained": recall["R@1"] < baseline["R@1"], "device": device,
        "vocabulary": (f"{vocab.n_atoms} atoms over the descriptions of the {len(seen_names)} seen classes"
                       if vocab is not None else "none (no descriptions)"),
        "explanations": trained.attribute_space().description, "notes": out.spec.notes,
    }
    write_json(ctx.dir / RESULT_FILE, result)
    return result
