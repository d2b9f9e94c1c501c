"""The app's training job: wires data → frozen features → language prototypes → :func:`lafg.train.train`, and
measures unseen-class Recall@K after every epoch next to the untrained (``pretrained``) backbone.

Runs inside :class:`lafg.jobs.JobRegistry` (``ctx``); writes into the job folder: ``checkpoint.pt`` (the
trainer's), ``run.json`` (backbone, encoder, data set, classes, result) and the vocabulary (``vocab.npz/json``).
"""

from __future__ import annotations

import numpy as np

from lafg.errors import InputError
from lafg.jobs import JobContext
from lafg.runs import save_vocabulary, write_json

from .services import load_dataset, read_descriptions_json

KS = (1, 2, 4, 8)
RUN_FILE = "run.json"


def unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def unseen_recall(emb: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Recall@K (%) of the unseen images, each querying the others (:func:`lafg.metrics.recall_at_k`)."""
    from lafg.metrics import recall_at_k

    ks = tuple(k for k in KS if k < len(labels)) or (1,)
    return {f"R@{k}": round(float(v), 2) for k, v in recall_at_k(emb, labels, ks).items()}


def language_side(services, names: list[str], descriptions: dict, method, params: dict):
    """(prototypes (C, d) or None, centroids (N, d) or None, vocabulary or None) the method trains with."""
    from lafg.language import encode_vocabulary, language_prototypes
    from lafg.methods import control_prototypes
    from lafg.prototypes import PrototypeConfig
    from lafg.vocabulary import VocabularyConfig

    if method.prototypes is None:
        return None, None, None
    missing = [n for n in names if not descriptions.get(n)]
    if len(missing) == len(names):
        raise InputError("none of the seen classes has a description: generate or import descriptions first")
    encoder = services.text_encoder()
    vcfg = VocabularyConfig(n_atoms=int(params.get("n_atoms", 32)))
    pcfg = PrototypeConfig(template=params.get("template", "a photo of a {}."), top_k=int(params.get("top_k", 5)))
    vocab = encode_vocabulary(descriptions, names, encoder, vcfg, services.cache)
    protos = language_prototypes(names, descriptions, encoder, vcfg, pcfg, method.language_variant, vocab, services.cache)
    return control_prototypes(method, protos), vocab.centroids, vocab


def stage_progress(ctx: JobContext, message: str):
    """Progress of a preparation stage, shown in the job's status (training steps then take over)."""

    def report(done: int, total: int, _msg: str = "") -> None:
        ctx.progress(done, total, f"{message}: {done}/{total}")

    return report


def fresh_trunk(embedder):
    """An independent copy of the app's backbone (``full`` fine-tunes it; the shared one stays frozen)."""
    import copy

    backbone = getattr(embedder, "backbone", None)
    if backbone is None:
        raise InputError("full fine-tuning needs a real image backbone (this app was started with a stand-in)")
    return copy.deepcopy(backbone)


def full_mode_inputs(embedder, seen_paths: list):
    """(ImageInputs over the seen images with the backbone's augmentation, a trainable copy of the backbone)."""
    from PIL import Image

    from lafg.data import load_image
    from lafg.train import ImageInputs

    def load(path):  # an unreadable file becomes a grey image instead of stopping the run
        return load_image(path) or Image.new("RGB", (256, 256), (128, 128, 128))

    trunk = fresh_trunk(embedder)
    return ImageInputs([str(x) for x in seen_paths], trunk.train_transform(), load), trunk


def finetuned_embeddings(model, embedder, paths: list) -> np.ndarray:
    """Retrieval embeddings of images through a fully fine-tuned model (not cached: the weights are new)."""
    from lafg.features import extract_features

    return extract_features(model, [str(x) for x in paths], embedder.backbone.eval_transform(), 64, cache=None, num_workers=0, model_id="finetuned")


def read_descriptions(params: dict) -> dict[str, list[str]]:
    """The job's descriptions: inline (``descriptions``) or from a JSON file (``descriptions_file``)."""
    if params.get("descriptions_file"):
        return read_descriptions_json(params["descriptions_file"])
    return params.get("descriptions") or {}


def train_job(services, ctx: JobContext) -> dict:
    """Train one method on a data set's seen classes; returns recalls (method vs pretrained) and paths."""
    import torch

    from lafg.methods import get_method
    from lafg.train import CachedInputs, TrainConfig, load_model, train

    p = ctx.params
    method = get_method(p["method"])
    image_set = load_dataset(p["dataset_dir"])
    seen_paths, seen_labels, seen_names = image_set.split("seen")
    unseen_paths, unseen_labels, unseen_names = image_set.split("unseen")
    if len(seen_paths) == 0 or len(unseen_paths) < 2:
        raise InputError("the data set needs seen (training) images and at least two unseen images")
    embedder = services.image_embedder()
    ctx.progress(0, 1, "embedding unseen images with the frozen backbone")
    unseen_feats, kept_u = embedder.embed(unseen_paths, 1, stage_progress(ctx, "embedding unseen images (cached for next time)"))
    unseen_labels = unseen_labels[kept_u]
    baseline = unseen_recall(unit(unseen_feats), unseen_labels)
    run = {
        "method": method.name, "mode": p.get("mode", "head"), "epochs": int(p.get("epochs", 5)),
        "backbone": embedder.name, "feature_dim": embedder.dim, "dataset": str(p["dataset_dir"]),
        "seen_classes": seen_names, "unseen_classes": unseen_names, "pretrained": baseline,
    }
    write_json(ctx.dir / RUN_FILE, run)
    if not method.trains:
        result = {**run, "recall": baseline, "checkpoint": None, "epochs_done": 0}
        write_json(ctx.dir / RUN_FILE, result)
        return result
    ctx.check_cancelled()
    full = run["mode"] == "full"
    device = ("cuda" if torch.cuda.is_available() else "cpu") if full else "cpu"
    if full:  # images through the whole (trainable) backbone, augmented on the fly
        inputs, trunk = full_mode_inputs(embedder, seen_paths)
    else:  # cached frozen features, `views` augmented views per image
        views = int(p.get("views", 2))
        feats, kept_s = embedder.embed(seen_paths, views, stage_progress(ctx, f"embedding seen images, {views} views each (cached for next time)"))
        seen_labels = seen_labels[kept_s]
        inputs, trunk = CachedInputs(feats.reshape(views, len(kept_s), -1)), None
    descriptions = read_descriptions(p)
    prototypes, centroids, vocab = language_side(services, seen_names, descriptions, method, p)
    if vocab is not None:
        save_vocabulary(vocab, ctx.dir, services.text_encoder().name)
    cfg = TrainConfig(
        method=method.name, mode=run["mode"], epochs=run["epochs"], lr=float(p.get("lr", 1e-3)),
        trunk_lr=float(p.get("trunk_lr", 1e-4)),
        classes_per_batch=min(64, len(seen_names)), images_per_class=min(4, int(np.bincount(seen_labels).min())),
    )
    state = {"epoch": -1}
    kept_unseen = [unseen_paths[i] for i in kept_u]

    def evaluate(model) -> dict[str, float]:
        if full:
            return unseen_recall(unit(finetuned_embeddings(model, embedder, kept_unseen)), unseen_labels)
        with torch.no_grad():
            z = model(torch.as_tensor(unseen_feats)).numpy()
        return unseen_recall(unit(z), unseen_labels)

    def reload(path):
        model = load_model(path, trunk=fresh_trunk(embedder) if full else None)[0]
        return model.to(device)

    def on_step(event) -> None:
        ctx.progress(event.step, event.total_steps, f"epoch {event.epoch + 1}/{cfg.epochs} · loss {sum(event.terms.values()):.3f}")
        ctx.log("loss", event.step / max(1, event.total_steps / cfg.epochs), sum(event.terms.values()))
        if event.epoch != state["epoch"]:
            if state["epoch"] >= 0 and (ctx.dir / "checkpoint.pt").is_file():
                recall = evaluate(reload(ctx.dir / "checkpoint.pt"))
                ctx.log("recall@1 (unseen, %)", event.epoch, recall["R@1"])
            state["epoch"] = event.epoch

    ctx.log("recall@1 (unseen, %)", 0, baseline["R@1"])
    out = train(
        cfg, inputs, seen_labels, ctx.dir, in_dim=embedder.dim, prototypes=prototypes, centroids=centroids,
        trunk=trunk, progress=on_step, cancel=ctx.cancelled, device=device,
    )
    recall = evaluate(out.model)
    ctx.log("recall@1 (unseen, %)", out.epochs_done, recall["R@1"])
    result = {
        **run, "recall": recall, "epochs_done": out.epochs_done, "status": out.status,
        "checkpoint": str(ctx.dir / "checkpoint.pt") if (ctx.dir / "checkpoint.pt").is_file() else None,
        "worse_than_pretrained": recall["R@1"] < baseline["R@1"], "device": device,
    }
    write_json(ctx.dir / RUN_FILE, result)
    return result

