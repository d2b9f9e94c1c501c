"""Retrieval for the app: a gallery embedded by a checkpoint (or the pretrained backbone), a faiss index over it,
queries by image or by text, and per-result explanations (:mod:`lafg.explain`).

Two spaces per gallery: the *retrieval* space (what the index searches: the trained head's embedding, or the
normalised backbone features) and the *attribute* space the explanations read (the trained image projector P_v,
whose K outputs are indexed by vocabulary atoms; for the pretrained backbone a ridge probe onto the gallery
classes' language prototypes, compared with the atoms by cosine). Text queries are matched in the attribute
space (P_t for a checkpoint; the text embedding itself for the pretrained backbone).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lafg.errors import InputError
from lafg.explain import Explanation, explain_projected, fallback_projector
from lafg.runs import read_json

from .training import RUN_FILE, unit

PRETRAINED = "pretrained backbone (no training)"


@dataclass
class Gallery:
    """Everything a search needs, shared by all sessions (built once per checkpoint × data set)."""

    key: tuple
    paths: list[str]
    labels: np.ndarray  # (n,) class index into ``classes``
    classes: list[str]
    feats: np.ndarray  # (n, D) backbone features
    emb: np.ndarray  # (n, e) unit retrieval embeddings
    index: object  # lafg.index.EmbeddingIndex over ``emb``
    lang: np.ndarray  # (n, L) attribute-space vectors
    atoms: np.ndarray  # (N, L) atoms in the attribute space
    atom_labels: list[str]
    method: str  # explanation method: projector | ridge | identity | none
    embed_fn: object = field(repr=False, default=None)  # features -> retrieval embedding
    lang_fn: object = field(repr=False, default=None)  # retrieval embedding -> attribute space
    text_fn: object = field(repr=False, default=None)  # text embedding -> attribute space
    class_text: dict = field(default_factory=dict)  # class name (casefold) -> text vector (prototype)
    image_fn: object = field(repr=False, default=None)  # image paths -> retrieval embedding (full fine-tuning)
    lang_index: object = None  # lafg.index.EmbeddingIndex over ``lang`` (text queries)

    def __len__(self) -> int:
        return len(self.paths)


@dataclass
class Hit:
    row: int
    score: float
    path: str
    label: str


def checkpoint_choices(jobs) -> dict[str, str | None]:
    """Label → checkpoint path for every finished training job that left a checkpoint, plus the backbone."""
    out: dict[str, str | None] = {PRETRAINED: None}
    for st in jobs.list():
        ckpt = (st.result or {}).get("checkpoint")
        if ckpt and Path(ckpt).is_file():
            r1 = (st.result.get("recall") or {}).get("R@1")
            out[f"{st.title} · {st.id}" + (f" · unseen R@1 {r1:.1f}" if r1 is not None else "")] = ckpt
    return out


def check_checkpoint(ckpt: str, embedder) -> dict:
    """The run record of a checkpoint; raises when it was trained on another backbone than the app's."""
    from lafg.train import read_checkpoint

    folder = Path(ckpt).parent
    run = read_json(folder / RUN_FILE) if (folder / RUN_FILE).is_file() else {}
    try:
        in_dim = int(read_checkpoint(ckpt)["model_config"]["in_dim"])
    except Exception as exc:  # not a torch file, or not one of ours
        raise InputError(f"{Path(ckpt).name} is not a LaFG checkpoint ({type(exc).__name__})") from exc
    backbone = run.get("backbone")
    if (backbone and backbone != embedder.name) or in_dim != embedder.dim:
        raise InputError(
            f"this checkpoint was trained on another backbone ({backbone or f'{in_dim}-d features'}); "
            f"the app uses {embedder.name} ({embedder.dim}-d): retrain, or start the app with that backbone"
        )
    return run


def build_gallery(services, ckpt: str | None, dataset_dir: str | Path, descriptions: dict[str, list[str]], progress=None) -> Gallery:
    """Embed a data set's images, index them and prepare the attribute space (cached per checkpoint × set)."""
    from lafg.app.services import load_dataset

    embedder = services.image_embedder()
    run = check_checkpoint(ckpt, embedder) if ckpt else {}
    image_set = load_dataset(dataset_dir)
    paths = [str(p) for p, _ in image_set.items]
    labels = np.array([c for _, c in image_set.items], dtype=np.int64)
    key = (ckpt, str(Path(dataset_dir).resolve()), embedder.name, len(paths))

    def build() -> Gallery:
        from lafg.index import gallery_store

        # Features, embeddings and indexes persist in the app's folder: a restart maps them back in seconds.
        store, tag, lang_tag = gallery_store(services.work_dir, embedder.name, dataset_dir, paths, ckpt, descriptions)
        feats, kept = store.arrays(["features", "kept"], lambda: embedder.embed(paths, 1, progress))
        if len(kept) == 0:
            raise InputError("the gallery is empty: no readable images in this data set")
        kept_paths, kept_labels = [paths[i] for i in kept], labels[kept]
        if ckpt:
            parts = trained_space(ckpt, run, embedder)
        else:
            parts = pretrained_space(services, feats, kept_labels, image_set.classes, descriptions)
        if parts.get("image_fn") is not None:  # a fully fine-tuned backbone: embed the images themselves
            if progress:
                progress(0, 1, "embedding the gallery with the fine-tuned backbone")
            emb = store.array(f"emb-{tag}", lambda: unit(parts["image_fn"](kept_paths)))
        else:
            emb = store.array(f"emb-{tag}", lambda: unit(parts["embed_fn"](feats)))
        if progress:
            progress(0, 1, "building the search index")
        lang = parts["lang_fn"](emb)
        return Gallery(
            key, kept_paths, kept_labels, list(image_set.classes), feats, emb, store.index(f"emb-{tag}", emb), lang,
            parts["atoms"], parts["atom_labels"], parts["method"], parts["embed_fn"], parts["lang_fn"],
            parts["text_fn"], parts.get("class_text", {}), parts.get("image_fn"),
            store.index(f"lang-{lang_tag}", lang) if parts["atom_labels"] else None,
        )

    return services.cached_index(key, build)


def trained_space(ckpt: str, run: dict, embedder=None) -> dict:
    """Retrieval and attribute maps of a trained checkpoint (head, P_v, P_t; atoms = the K outputs).

    A ``full`` checkpoint carries its own fine-tuned backbone: its ``image_fn`` embeds image files directly.
    """
    import torch

    from lafg.runs import load_vocabulary
    from lafg.train import load_model

    from .training import finetuned_embeddings, fresh_trunk

    full = run.get("mode") == "full"
    model, _cfg = load_model(ckpt, trunk=fresh_trunk(embedder) if full else None)
    device = "cuda" if full and torch.cuda.is_available() else "cpu"
    model = model.to(device)
    folder = Path(ckpt).parent
    try:
        vocab, _enc = load_vocabulary(folder)
        labels = [a.label for a in vocab.atoms]
    except Exception:  # methods without a vocabulary (onehot, aux): the K outputs have no names
        labels = [f"output {i}" for i in range(model.cfg.n_outputs)]
    labels = (labels + [f"output {i}" for i in range(len(labels), model.cfg.n_outputs)])[: model.cfg.n_outputs]

    def embed_fn(x):
        with torch.no_grad():
            return model(torch.as_tensor(np.asarray(x, dtype=np.float32))).numpy()

    def lang_fn(z):
        with torch.no_grad():
            return model.project_image(torch.as_tensor(np.asarray(z, dtype=np.float32), device=device)).cpu().numpy()

    def text_fn(t):
        with torch.no_grad():
            return model.project_text(torch.as_tensor(np.asarray(t, dtype=np.float32), device=device)).cpu().numpy()

    def image_fn(paths):
        return finetuned_embeddings(model, embedder, paths)

    return {
        "embed_fn": embed_fn, "lang_fn": lang_fn, "text_fn": text_fn, "image_fn": image_fn if full else None,
        "atoms": np.eye(model.cfg.n_outputs, dtype=np.float32), "atom_labels": labels, "method": "projector",
    }


def pretrained_space(services, feats: np.ndarray, labels: np.ndarray, classes: list[str], descriptions: dict) -> dict:
    """The untrained backbone: retrieval on normalised features; attributes through a ridge probe onto the
    language prototypes of the gallery's classes (:func:`lafg.explain.fallback_projector`)."""
    from lafg.language import encode_vocabulary, language_prototypes
    from lafg.prototypes import PrototypeConfig
    from lafg.vocabulary import VocabularyConfig

    with_desc = [c for c in classes if descriptions.get(c)]
    parts = {"embed_fn": unit, "lang_fn": lambda z: z, "text_fn": None, "atoms": np.zeros((0, 1), np.float32), "atom_labels": [], "method": "none"}
    if len(with_desc) < 2:
        return parts  # no language side: search by image still works; explanations say why they are missing
    encoder = services.text_encoder()
    vcfg, pcfg = VocabularyConfig(n_atoms=min(64, 4 * len(with_desc))), PrototypeConfig()
    vocab = encode_vocabulary(descriptions, with_desc, encoder, vcfg, services.cache)
    protos = language_prototypes(with_desc, descriptions, encoder, vcfg, pcfg, "lafg", vocab, services.cache)
    proto_of = {c: i for i, c in enumerate(with_desc)}
    row_label = np.array([proto_of.get(classes[c], -1) for c in labels])
    projector, method = fallback_projector(unit(feats), row_label, protos.vectors)
    parts.update(
        lang_fn=projector, text_fn=lambda t: t, atoms=vocab.centroids, atom_labels=[a.label for a in vocab.atoms], method=method,
        class_text={c.casefold(): protos.vectors[i] for i, c in enumerate(with_desc)},
    )
    return parts


@dataclass
class Query:
    lang: np.ndarray | None  # (L,) attribute-space vector (None: no explanation possible)
    emb: np.ndarray | None = None  # (e,) retrieval embedding for an image query
    text: str = ""
    path: str | None = None  # image query


def query_from_image(services, gallery: Gallery, path: str) -> Query:
    if gallery.image_fn is not None:
        emb = unit(gallery.image_fn([path]))[0]
    else:
        feats, kept = services.image_embedder().embed([path], 1)
        if len(kept) == 0:
            raise InputError(f"{Path(path).name} is not a readable image")
        emb = unit(gallery.embed_fn(feats))[0]
    lang = gallery.lang_fn(emb[None])[0] if gallery.atom_labels else None
    return Query(lang, emb, path=path)


def query_from_row(gallery: Gallery, row: int) -> Query:
    lang = gallery.lang[row] if gallery.atom_labels else None
    return Query(lang, gallery.emb[row], path=gallery.paths[row])


def query_from_text(services, gallery: Gallery, text: str) -> Query:
    """A class name of the gallery uses its language prototype; other text is embedded as is."""
    text = (text or "").strip()
    if not text:
        raise InputError("type some attributes (e.g. 'red crown, black wings') or a class name")
    if gallery.text_fn is None:
        raise InputError("text search needs descriptions for the gallery's classes (none were found)")
    vec = gallery.class_text.get(text.casefold())
    if vec is None:
        vec = services.text_encoder().encode([text])[0]
    return Query(gallery.text_fn(np.asarray(vec, dtype=np.float32)[None])[0], None, text=text)


def search(gallery: Gallery, query: Query, k: int = 12, exclude_self: bool = True) -> list[Hit]:
    """Top-``k`` gallery rows: cosine in the retrieval space (image query) or the attribute space (text)."""
    if len(gallery) == 0:
        raise InputError("the gallery is empty")
    k = max(1, min(k, len(gallery)))
    if query.emb is not None:
        scores, ids = gallery.index.search(query.emb[None], min(len(gallery), k + 1))
        pairs = [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
    else:  # text: the attribute-space index (pre-normalised rows, top-k inside faiss)
        scores, ids = gallery.lang_index.search(query.lang[None], min(len(gallery), k + 1))
        pairs = [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
    if exclude_self and query.path is not None:
        pairs = [(i, s) for i, s in pairs if gallery.paths[i] != query.path]
    return [Hit(i, s, gallery.paths[i], gallery.classes[gallery.labels[i]]) for i, s in pairs[:k]]


def explain_hit(gallery: Gallery, query: Query, hit: Hit, top: int = 6) -> Explanation | None:
    """Shared and differing attributes of the query and one result (None when there is no attribute space)."""
    if query.lang is None or not gallery.atom_labels:
        return None
    tau = 0.05 if gallery.method != "projector" else 0.2
    return explain_projected(query.lang, gallery.lang[hit.row], gallery.atoms, gallery.atom_labels, top, tau, gallery.method)
