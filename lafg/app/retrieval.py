"""Retrieval for the app: a gallery embedded by a trained run (or the pretrained backbone), a faiss index over
it, queries by image or by text, and per-result explanations (:mod:`lafg.retrieval.explain`).

Two spaces per gallery: the *retrieval* space (what the index searches: the trained model's embedding, or the
normalised backbone features) and the *attribute* space explanations and text search read
(:meth:`lafg.pipeline.Run.attribute_space`, :func:`lafg.pipeline.pretrained_space`): a read-out from the frozen
backbone features onto the seen classes' own descriptions, with the grounding it measured when it was fitted and
a calibration; older checkpoints' read-outs and trained projectors are read uncalibrated. Its ``description``
says which, and the UI shows it. A class name the gallery has descriptions for is searched by the mean of its own
(visual) sentences; explanations quote the result class's own sentences (:func:`class_sentences`).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lafg.errors import InputError
from lafg.language.encode import l2_normalise as unit
from lafg.language.vocabulary import VocabularyConfig
from lafg.retrieval.attribute_space import ARRAYS, FEATURES, AttributeSpace, no_space
from lafg.retrieval.explain import (
    Explanation,
    class_support,
    explain_grounded,
    explain_projected,
    explain_text_query,
)
from lafg.store.atomic import atomic_write_text
from lafg.store.cache import content_key

PRETRAINED = "pretrained backbone (no training)"


@dataclass
class Gallery:
    """Everything a search needs, shared by all sessions (built once per checkpoint × data set)."""

    key: tuple
    paths: list[str]
    labels: np.ndarray  # (n,) class index into ``classes``
    classes: list[str]
    emb: np.ndarray  # (n, e) unit retrieval embeddings
    index: object  # lafg.retrieval.index.EmbeddingIndex over ``emb``
    space: AttributeSpace  # what explanations and text search read
    lang: np.ndarray  # (n, L) the gallery in the attribute space
    embed_paths: object = field(repr=False, default=None)  # image paths -> (retrieval embeddings, kept)
    class_text: dict = field(default_factory=dict)  # class name (casefold) -> its description mean, else name prototype
    class_support: dict = field(default_factory=dict)  # class name -> {atom: the class's own sentences in it}
    lang_index: object = None  # lafg.retrieval.index.EmbeddingIndex over ``lang`` (text queries)
    feats: object = field(repr=False, default=None)  # (n, D) backbone features (memory-mapped from the store)
    thumbs: dict = field(repr=False, default_factory=dict)  # row -> its thumbnail file (filled as rows are shown)

    @property
    def atoms(self) -> np.ndarray:
        return self.space.atoms

    @property
    def atom_labels(self) -> list[str]:
        return self.space.atom_labels

    @property
    def method(self) -> str:
        return self.space.kind

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


def load_gallery_run(services, ckpt: str):
    """The run of a checkpoint (:func:`lafg.pipeline.load_run`); refused when trained on another backbone."""
    from lafg.pipeline import load_run

    from .training import device_for

    embedder = services.image_embedder()
    from lafg.training.checkpoint import read_checkpoint

    try:
        spec = read_checkpoint(ckpt).get("run") or {}
    except Exception as exc:  # not a torch file, or not one of ours
        raise InputError(f"{Path(ckpt).name} is not a LaFG checkpoint ({type(exc).__name__})") from exc
    if spec.get("backbone_id") and spec["backbone_id"] != embedder.name:
        raise InputError(
            f"this checkpoint was trained on another backbone ({spec['backbone_id']}); the app uses "
            f"{embedder.name} ({embedder.dim}-d): retrain, or start the app with that backbone"
        )
    return load_run(ckpt, backbone=getattr(embedder, "backbone", None), encoder=services.text_encoder(),
                    device=device_for(spec.get("mode", "head")))


def build_gallery(services, ckpt: str | None, dataset_dir: str | Path, descriptions: dict[str, list[str]], progress=None,
                  visual_only: bool = VocabularyConfig.visual_only) -> Gallery:
    """Embed a data set's images, index them and prepare the attribute space (cached per checkpoint × set ×
    everything else that shapes it).

    ``visual_only`` is the visitor's vocabulary filter (the library default otherwise): the untrained backbone's
    attribute space is built with it; a trained run's space is the one its checkpoint carries.

    The in-memory gallery is shared by every visitor whose inputs hash the same, so its key holds content hashes
    of all of them (the images, the checkpoint file, the descriptions, labels, seen split, encoders, filter):
    one visitor's descriptions never become another's explanations, and an edit gets its own gallery."""
    from lafg.retrieval.index import gallery_store

    embedder = services.image_embedder()
    run = load_gallery_run(services, ckpt) if ckpt else None
    image_set = image_list(services.work_dir, dataset_dir)
    paths, labels = image_set.paths, image_set.labels
    # Features, embeddings and indexes persist in the app's folder: a restart maps them back in seconds.
    store, tag, lang_tag = gallery_store(services.work_dir, embedder.name, dataset_dir, paths, ckpt, descriptions)
    # What the attribute space also reads: the labels and seen split (which images fit the read-out) and
    # the text encoder (the vocabulary); a change in any of them refits and re-indexes.
    space_tag = content_key(lang_tag, hashlib.sha256(labels.tobytes()).hexdigest(), sorted(image_set.seen), image_set.classes,
                        getattr(services.text_encoder(), "name", ""), bool(visual_only), SPACE_VERSION)
    key = (gallery_key(store.fingerprint, tag, space_tag, paths),)

    def build() -> Gallery:
        feats, kept = store.arrays(["features", "kept"], lambda: embedder.embed(paths, 1, progress))
        if len(kept) == 0:
            raise InputError("the gallery is empty: no readable images in this data set")
        kept_paths, kept_labels = [paths[i] for i in kept], labels[kept]
        if run is not None:
            from .training import embed_with_run

            def embed_paths(ps, prog=None):
                return embed_with_run(run, embedder, ps, prog)

            def trained_embeddings():
                if run.spec.mode == "head":  # the stored features through the trained head
                    return unit(run.embed_features(feats))
                if progress:
                    progress(0, 1, "embedding the gallery through the trained trunk")
                return unit(run.embed_images(kept_paths)[0])

            emb = store.array(f"emb-{tag}", trained_embeddings)
            space, language = run.attribute_space(), run.language
        else:
            def embed_paths(ps, prog=None):
                return embedder.embed(ps, 1, prog)

            emb = store.array(f"emb-{tag}", lambda: unit(feats))
            language, space = pretrained_space(services, image_set, feats, kept, labels, descriptions,
                                               store, space_tag, visual_only)
        if progress:
            progress(0, 1, "building the search index")
        # The gallery in the attribute space is stored too (keyed like the space): a restart maps it back.
        reads = feats if space.reads == FEATURES else emb  # the read-out reads the frozen features
        lang = store.array(f"lang-{space_tag}", lambda: space.image(reads)) if space.available else np.zeros((len(emb), 0), np.float32)
        class_text, support = {}, {}
        if space.available and language is not None:  # class-name queries: prototypes from the names alone
            vectors = language.prototypes_for(list(image_set.classes), services.text_encoder(), "lafg", services.cache)
            class_text = {c.casefold(): vectors[i] for i, c in enumerate(image_set.classes)}
            if space.calibration is not None:  # the read-out's text space: the classes' own sentences
                own = class_sentences(services, image_set.classes, descriptions, language)
                class_text.update({c.casefold(): unit(e.mean(axis=0)) for c, (_, e) in own.items()})
                support = {c: class_support(s, e, space.atoms) for c, (s, e) in own.items()}
        from lafg.retrieval.index import gallery_index_spec

        from .services import GALLERY_MEMORY

        # RAM per image for the retrieval index, half that for the attribute-space one (its rows duplicate ``lang``,
        # which explanations read from the memory map anyway); both within the cached galleries' cap.
        budget = getattr(services, "index_bytes_per_image", 0)
        spec = gallery_index_spec(len(emb), budget, GALLERY_MEMORY // 2)
        lang_spec = gallery_index_spec(len(lang), budget // 2, GALLERY_MEMORY // 2)
        return Gallery(
            key, kept_paths, kept_labels, list(image_set.classes), emb, store.index(f"emb-{tag}", emb, spec), space, lang,
            embed_paths, class_text, support, store.index(f"lang-{space_tag}", lang, lang_spec) if space.available else None,
            feats, gallery_thumbnails(services.work_dir, store, kept_paths, progress),
        )

    return services.cached_index(key, build)


def class_sentences(services, classes: list[str], descriptions: dict, language) -> dict[str, tuple[list[str], np.ndarray]]:
    """Class → (its own sentences, their embeddings) for every gallery class with descriptions, filtered as the
    language side's vocabulary was (a photo cannot show a song): what text search and explanations quote."""
    from lafg.language.encode import encode_cached
    from lafg.language.visual import filter_descriptions

    own = {c: [s.strip() for s in descriptions.get(c) or [] if isinstance(s, str) and s.strip()] for c in classes}
    own = {c: v for c, v in own.items() if v}
    if language.vocabulary is not None and language.vocabulary.config.visual_only:
        own = {c: v for c, v in filter_descriptions(own).kept.items() if v}
    flat = [s for v in own.values() for s in v]
    if not flat:
        return {}
    emb = unit(encode_cached(services.text_encoder(), flat, services.cache))
    out, start = {}, 0
    for c, v in own.items():
        out[c] = (v, emb[start:start + len(v)])
        start += len(v)
    return out


THUMBS_AT_BUILD = 20_000  # galleries up to this size get every thumbnail at build; larger ones as rows are shown


def gallery_thumbnails(work_dir: Path, store, paths: list[str], progress=None) -> dict[int, str]:
    """Row → thumbnail file for every gallery image, made once at build (a result list then costs no image
    decoding) and listed in the gallery's store, so a restart reads the list instead of touching each image."""
    from lafg.app.thumbnails import thumbnail

    listing = store.folder / "thumbs.json"
    try:
        d = json.loads(listing.read_text(encoding="utf-8"))
        if d.get("fingerprint") == store.fingerprint and d.get("paths") == paths:
            return dict(enumerate(d["thumbs"]))
    except (OSError, ValueError, AttributeError):
        pass
    if len(paths) > THUMBS_AT_BUILD:
        return {}
    out = {}
    for i, p in enumerate(paths):
        if progress and i % 500 == 0:
            progress(i, len(paths), "making thumbnails")
        try:
            out[i] = thumbnail(p, Path(work_dir))
        except (OSError, InputError):  # unreadable now: made (or refused) when the row is shown
            continue
    if len(out) == len(paths):
        store.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(listing, json.dumps({"fingerprint": store.fingerprint, "paths": paths,
                                               "thumbs": [out[i] for i in range(len(paths))]}), fsync=False)
    return out


def pretrained_space(services, image_set, feats: np.ndarray, kept: np.ndarray, labels: np.ndarray, descriptions: dict,
                     store=None, space_tag: str = "", visual_only: bool = VocabularyConfig.visual_only):
    """(language, attribute space) of the untrained backbone: the seen classes' vocabulary and a read-out
    fitted on their frozen features; nothing when fewer than two seen classes have descriptions.

    With a ``store`` the fitted read-out is saved there as plain arrays under ``space_tag`` (which names
    everything it depends on) and reloaded instead of refitted: a restart does not refit it."""
    from lafg.language.side import seen_descriptions, seen_language
    from lafg.pipeline import pretrained_space as fit_space

    seen_names = [image_set.classes[c] for c in sorted(image_set.seen)]
    if len(seen_descriptions(descriptions, seen_names)) < 2:
        return None, no_space("no descriptions for the seen classes of this gallery: no attribute vocabulary")
    vocab_cfg = VocabularyConfig(visual_only=visual_only)
    language = seen_language(seen_names, descriptions, services.text_encoder(), vocab_cfg, cache=services.cache)
    seen_row = {c: i for i, c in enumerate(sorted(image_set.seen))}
    kept_labels = labels[kept]
    rows = np.array([seen_row.get(int(c), -1) for c in kept_labels])
    mask = rows >= 0
    fitted = None
    if store is not None:
        from lafg.retrieval.attribute_space import Readout

        def fitted(fit):
            names = [f"readout-{space_tag}-{part}" for part in ARRAYS]
            return Readout.from_arrays(*store.arrays(names, lambda: fit().to_arrays()))

    return language, fit_space(lambda: feats[mask], rows[mask], language, fitted)


SPACE_VERSION = 2  # bump when the vocabulary or read-out recipe changes: stored read-outs are refitted


def gallery_key(fingerprint: str, tag: str, space_tag: str, paths: list[str]) -> str:
    """The in-memory gallery's key: the image files (paths, sizes, times), the checkpoint file, and everything
    the attribute space reads (``space_tag``: descriptions, labels, seen split, text encoder, filter)."""
    return content_key(fingerprint, tag, space_tag, hashlib.sha256("\0".join(paths).encode("utf-8")).hexdigest())


@dataclass
class ImageList:
    """A data set's image list as a gallery needs it (paths as :func:`lafg.vision.data.load_image_set` spells them)."""

    paths: list[str]
    labels: np.ndarray  # (n,) int64 class index
    classes: list[str]
    seen: list[int]


def image_list(work_dir: str | Path, dataset_dir: str | Path) -> ImageList:
    """The data set's image list; for the ``classes.csv``/``images.csv`` layout it is parsed once and kept as
    JSON in the app's folder, keyed by both files' size and mtime (100k rows load in well under a second)."""
    from lafg.app.datasets import load_dataset

    folder = Path(dataset_dir)
    csvs = [folder / "classes.csv", folder / "images.csv"]
    try:
        stats = [[os.stat(p).st_size, os.stat(p).st_mtime_ns] for p in csvs]
    except OSError:
        stats = None
    cache = Path(work_dir) / "galleries" / "lists" / f"{content_key(str(folder), str(folder.resolve()), stats)}.json"
    if stats is not None and cache.is_file():
        try:
            d = json.loads(cache.read_text(encoding="utf-8"))
            return ImageList(d["paths"], np.asarray(d["labels"], dtype=np.int64), d["classes"], d["seen"])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # unreadable: parse the CSVs again
    image_set = load_dataset(folder)
    out = ImageList([str(p) for p, _ in image_set.items], np.array([c for _, c in image_set.items], dtype=np.int64),
                    list(image_set.classes), [int(c) for c in image_set.seen])
    if stats is not None and image_set.layout == "csv":
        cache.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(cache, json.dumps({"paths": out.paths, "labels": out.labels.tolist(), "classes": out.classes,
                                             "seen": out.seen}), fsync=False)
    return out


@dataclass
class Query:
    lang: np.ndarray | None  # (L,) attribute-space vector (None: no explanation possible)
    emb: np.ndarray | None = None  # (e,) retrieval embedding for an image query
    text: str = ""
    path: str | None = None  # image query


def query_from_image(services, gallery: Gallery, path: str) -> Query:
    emb, kept = gallery.embed_paths([path])
    if len(kept) == 0:
        raise InputError(f"{Path(path).name} is not a readable image")
    emb = unit(emb)[0]
    lang = None
    if gallery.space.available:
        # the frozen features (cached per file by the embedder: no second pass for a head-mode run)
        reads = services.image_embedder().embed([path], 1)[0] if gallery.space.reads == FEATURES else emb[None]
        lang = gallery.space.image(reads)[0]
    return Query(lang, emb, path=path)


def query_from_row(gallery: Gallery, row: int) -> Query:
    lang = gallery.lang[row] if gallery.space.available else None
    return Query(lang, gallery.emb[row], path=gallery.paths[row])


def query_from_text(services, gallery: Gallery, text: str) -> Query:
    """A class name of the gallery uses its prototype (built from the name); other text is embedded as is."""
    text = (text or "").strip()
    if not text:
        raise InputError("type some attributes (e.g. 'red crown, black wings') or a class name")
    if not gallery.space.available or gallery.space.text is None:
        raise InputError(f"text search needs an attribute space: {gallery.space.description}")
    vec = gallery.class_text.get(text.casefold())
    if vec is None:
        vec = services.text_encoder().encode([text])[0]
    return Query(gallery.space.text(np.asarray(vec, dtype=np.float32)[None])[0], None, text=text)


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
    """Shared and differing attributes of the query and one result (None when there is no attribute space):
    calibrated probabilities with the result class's own sentences when the space has a calibration."""
    if query.lang is None or not gallery.space.available:
        return None
    s = gallery.space
    pair = np.stack([query.lang, gallery.lang[hit.row]])
    probs = s.atom_probabilities(pair)
    if probs is None:
        return explain_projected(query.lang, gallery.lang[hit.row], s.atoms, s.atom_labels, top, s.tau, s.kind)
    similarity = float((unit(pair[:1]) @ unit(pair[1:]).T)[0, 0])
    support = gallery.class_support.get(hit.label)
    if query.emb is None:  # a text: calibrated for images only, so its nearest atoms against the result's chances
        return explain_text_query(query.lang, probs[1], s.atoms, s.atom_labels, support, 3,
                                  s.calibration.cite_threshold, similarity)
    return explain_grounded(probs[0], probs[1], s.atom_labels, support, top, s.calibration.cite_threshold,
                            similarity=similarity)
