"""The ablation ladder: methods × seeds on cars196 and cub100, unseen-class retrieval, one command.

    python -m benchmarks.ladder --mode head            # all methods × 3 seeds, frozen features
    python -m benchmarks.ladder --mode partial         # the rows that decide whether the language matters
    python -m benchmarks.ladder --data FOLDER --descriptions D.json   # any data set in the classes.csv /
                                                       # images.csv (or class-per-folder) layout, e.g. your own

Rows: pretrained, onehot, aux, template, descriptions, lafg (MiniLM), grounded (LaFG from each class's own
atoms), lafg (bridge: the vision-aligned text space of lafg/language/bridge.py), the controls permuted / shuffled-atoms /
random / permuted-grounded (drawn per seed), and the oracle ``visual-means`` (the frozen backbone's own
class-mean features as prototypes).

Every row runs the library pipeline the CLI and the app run: the set is read by :func:`lafg.vision.data.load_image_set`
(seen / unseen per class), the training images' inputs are built once per set by :func:`lafg.training.inputs.prepare_inputs`
(features or activations cached per image in the library's feature cache, shared by every method and seed), each
method × seed trains through :func:`lafg.pipeline.train_run` and is scored by :meth:`lafg.pipeline.Run.evaluate`
on the checkpoint :func:`lafg.pipeline.load_run` rebuilds. Language prototypes use MiniLM and the GPT-4 descriptions in
``../shared/data/descriptors``; the vocabulary is built from the *seen* classes' descriptions only, unseen
classes' prototypes read it for zero-shot. Hyperparameters (``HEAD``, ``PARTIAL``) were chosen on a group-wise
validation split of the seen classes (``benchmarks/validate.py``, results in ``results/validation.md``),
never on the unseen classes. Writes ``results/ladder.json`` (rows: set, mode, method, descriptions, seeds,
R@1/2/4/8 and MAP@R as [mean, std] in percent, seconds) and ``results/ladder.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from lafg.language.encoders import create_text_encoder
from lafg.language.prototypes import PrototypeConfig, Prototypes
from lafg.language.side import Language, seen_language
from lafg.language.vocabulary import VocabularyConfig
from lafg.pipeline import RunConfig, evaluate_backbone, load_run, train_run
from lafg.retrieval import verdict
from lafg.retrieval.verdict import Outcome
from lafg.store.atomic import atomic_write_text
from lafg.store.cache import ArrayCache
from lafg.training.inputs import DEFAULT_TOP_STAGES, DEFAULT_VIEWS, PreparedInputs, prepare_inputs
from lafg.training.loop import TrainConfig
from lafg.training.methods import get_method, list_methods
from lafg.vision.backbones import create_backbone
from lafg.vision.data import load_image_set, shared_data_path

RESULTS = Path(__file__).resolve().parent / "results"
DATA = shared_data_path()
BACKBONE = "efficientnet_lite0"
TOP_STAGES = DEFAULT_TOP_STAGES  # partial mode fine-tunes the last two MBConv stages + conv head
SETS = ("cars196", "cub100")
DESCRIPTORS = {"cars196": "cars196", "cub100": "cub200"}
LLM_FILES = {"gpt4": "gpt4_adaptclipzs", "gpt3": "gpt3_waffleclip"}
BRIDGE = "bridge:efficientnet_lite0"  # the vision-aligned text encoder (lafg/language/bridge.py)
ORACLE = "visual-means"  # pseudo-method: lafg trained on the frozen backbone's seen-class mean features
# Rows: method, or "method@bridge" (the method with the bridge encoder's prototypes), or ORACLE.
HEAD_METHODS = (
    "pretrained", "onehot", "aux", "template", "lafg", "grounded", "lafg@bridge", "permuted",
    "permuted-grounded", "permuted@bridge", "shuffled-atoms", "random", ORACLE,
)  # fmt: skip  ("descriptions", other LLMs, the meankl reading: see results/ladder_v1.md, or --methods)
# Partial mode is ~20× dearer per row: the rows that decide the question first (aux / onehot are unchanged by
# this code and may be carried over from an earlier run; the markdown says which rows were).
PARTIAL_METHODS = ("lafg", "permuted", "shuffled-atoms", "lafg@bridge", "random", ORACLE)
METRIC_KEYS = ("R@1", "R@2", "R@4", "R@8", "MAP@R")
# N atoms (k-means over the seen classes' description embeddings). The committed ladder rows (results/ladder.*)
# were measured on all sentences, so the ladder stays explicit: visual filter off (the library default is on;
# on/off measured as a tie in results/visual_filter.md, which also runs the filtered rows).
VOCAB = VocabularyConfig(n_atoms=128, visual_only=False)
PROTO = PrototypeConfig(top_k=5)  # K atoms per class prototype

# Chosen on the group-wise seen-class validation split (benchmarks/validate.py, results/validation.md): the
# highest mean validation R@1 of lafg over both sets (relational, β = 3; every reading was within 0.25 points).
# lr 1e-4 / 60 epochs: lr 1e-3 / 40 epochs lost ~6 points on the held-out car makes. Partial mode (validated on
# the cars196 split only, CPU time): 6 epochs beat 2 (35.9 vs 34.3 R@1 for aux); a head lr of 1e-3 lost 2 points.
HEAD = TrainConfig(
    mode="head", reading="relational", epochs=60, lr=1e-4, beta=3.0, tau_align=0.2, tau_proto=0.2
)
PARTIAL = replace(HEAD, mode="partial", epochs=6, trunk_lr=1e-4)
# Partial mode fine-tunes TOP_STAGES = 2 stages (~3 R@1 over the last stage alone for aux, lafg and permuted,
# grid "stages") and no cached augmented views are used: the evaluation crop alone beat 1 (and 3) views
# averaged over aux, lafg, permuted and both sets, in head mode (64.9 vs 64.3 / 64.6) and in partial mode
# (66.4 vs 66.0) (grids "views", "partial-views"). Both defaults live in lafg.training.loop.
VIEWS = DEFAULT_VIEWS
# Extra rows of lafg with other readings of L_ali (none by default; results/ladder_v1.md has meankl).
EXTRA_READINGS = {"head": (), "partial": ()}  # e.g. ("meankl",): its projectors give zero-shot accuracy


@dataclass
class SetData:
    """One set as the library sees it (:func:`lafg.vision.data.load_image_set`: seen / unseen decided per class), with
    the training classes' inputs of the mode built once by :func:`lafg.training.inputs.prepare_inputs` (features or
    activations cached per image in the library's feature cache) and shared by every row and seed."""

    name: str
    backbone: object  # the frozen backbone (lafg.vision.backbones), shared by every run of the set
    views: int  # cached augmented views per training image besides the evaluation crop
    stages: int  # partial mode: backbone stages fine-tuned
    train_paths: list[Path]  # training images (the seen classes, or a validation split's training part)
    train_labels: np.ndarray  # (N_train,) 0..len(train_names)-1
    train_names: list[str]
    eval_paths: list[Path]  # evaluation images (the unseen classes, or the held-out part)
    eval_labels: np.ndarray  # (N_eval,) 0..len(eval_names)-1
    eval_names: list[str]
    prepared: PreparedInputs  # the training images' inputs of the mode

    @property
    def kept_train_labels(self) -> np.ndarray:
        """Labels of the training images the library could read (rows of :attr:`prepared`)."""
        return self.train_labels[self.prepared.kept]

    def train_features(self) -> np.ndarray:
        """(N_kept, 1280) frozen pooled features of the readable training images (their evaluation crop)."""
        if self.prepared.trunk is None:  # head: the prepared inputs are these features (view 0)
            return self.prepared.inputs.views[0].numpy()
        feats, _ = frozen_features(self.backbone, [self.train_paths[i] for i in self.prepared.kept])
        return feats

    def eval_features(self) -> tuple[np.ndarray, np.ndarray]:
        """(features, labels) of the readable evaluation images: the frozen backbone's pooled features."""
        feats, kept = frozen_features(self.backbone, self.eval_paths)
        return feats, self.eval_labels[kept]


def feature_cache() -> ArrayCache:
    """The library's feature cache (the one ``lafg train`` / ``lafg eval`` and the app read)."""
    return ArrayCache(name="features")


def text_cache() -> ArrayCache:
    return ArrayCache(name="text")


def frozen_features(backbone, paths: list) -> tuple[np.ndarray, np.ndarray]:
    """(pooled features, kept indices) of ``paths`` through the frozen backbone, cached."""
    from lafg.retrieval.evaluate import image_embeddings

    return image_embeddings(None, backbone, "pretrained", paths, cache=feature_cache())


FOLDERS: dict[str, Path] = {}  # set name → data folder outside ../shared/data (``--data``)


def register_folder(folder: str | Path) -> str:
    """Make a data set folder (any layout :func:`lafg.vision.data.load_image_set` reads) usable by name."""
    folder = Path(folder).expanduser().resolve()
    load_image_set(folder)  # fail early, with the loader's message, on a bad layout
    FOLDERS[folder.name] = folder
    return folder.name


def set_folder(name: str) -> Path:
    return FOLDERS.get(name) or DATA / name


def load_set(
    name: str,
    mode: str,
    views: int = DEFAULT_VIEWS,
    stages: int = TOP_STAGES,
    train_ids: list[int] | None = None,
    eval_ids: list[int] | None = None,
    log=print,
) -> SetData:
    """Set ``name`` with training classes ``train_ids`` and evaluation classes ``eval_ids`` (indices into the
    set's classes; default: its seen and unseen classes) and the training inputs of ``mode``."""
    image_set = load_image_set(set_folder(name))
    train_ids = sorted(image_set.seen) if train_ids is None else list(train_ids)
    eval_ids = image_set.unseen if eval_ids is None else list(eval_ids)
    backbone = create_backbone(BACKBONE)

    def part(ids: list[int]) -> tuple[list[Path], np.ndarray, list[str]]:
        remap = {c: i for i, c in enumerate(ids)}
        items = [(p, remap[c]) for p, c in image_set.items if c in remap]
        return [p for p, _ in items], np.array([c for _, c in items], dtype=np.int64), [image_set.classes[c] for c in ids]

    train_paths, train_labels, train_names = part(train_ids)
    eval_paths, eval_labels, eval_names = part(eval_ids)
    log(f"{name}: {len(train_paths)} training images ({len(train_names)} classes), {len(eval_paths)} evaluation "
        f"images ({len(eval_names)} classes); preparing {mode} inputs")
    prepared = prepare_inputs(backbone, mode, train_paths, views, stages, feature_cache(), num_workers=0)
    return SetData(name, backbone, views, stages, train_paths, train_labels, train_names, eval_paths, eval_labels,
                   eval_names, prepared)


def seen_unseen(name: str, mode: str, views: int = DEFAULT_VIEWS, stages: int = TOP_STAGES) -> SetData:
    """The set's seen classes to train on, its unseen classes to evaluate on."""
    return load_set(name, mode, views, stages)


def load_descriptions(set_name: str, llm: str) -> dict[str, list[str]]:
    """Stored GPT-4 / GPT-3 descriptions from ../shared, or the bundled LLM's own, generated by
    ``lafg describe --llm bundled --n 8`` and committed under results/descriptions/, or (``llm`` = a path)
    a JSON file ``{class name: [description, ...]}``."""
    if llm not in LLM_FILES and llm != "bundled":
        path = Path(llm)
        if not path.is_file():
            raise FileNotFoundError(f"descriptions file not found: {path}")
        return json.loads(path.read_text(encoding="utf-8"))
    if llm == "bundled":
        path = RESULTS / "descriptions" / f"{set_name}_bundled_smollm2.json"
    else:
        path = DATA / "descriptors" / f"{DESCRIPTORS[set_name]}_{LLM_FILES[llm]}.json"
    return json.loads(path.read_text())


LANGUAGE_VARIANTS = ("template", "descriptions", "lafg", "grounded")


def language(
    data: SetData,
    descriptions: dict[str, list[str]],
    vocab: VocabularyConfig = VOCAB,
    proto: PrototypeConfig = PROTO,
    encoder: str = "minilm",
) -> Language:
    """The language side of the set's training classes (:func:`lafg.language.side.seen_language`: their descriptions
    only), every prototype variant; ``encoder`` a registered text encoder (MiniLM or :data:`BRIDGE`)."""
    return seen_language(data.train_names, descriptions, create_text_encoder(encoder), vocab, proto, LANGUAGE_VARIANTS,
                         text_cache())


def eval_prototypes(lang: Language, data: SetData, variant: str, encoder: str = "minilm") -> np.ndarray:
    """The evaluation classes' prototypes from their names only, through the training classes' vocabulary."""
    return lang.prototypes_for(data.eval_names, create_text_encoder(encoder), variant, text_cache())


def oracle_language(data: SetData) -> Language:
    """The oracle: the frozen backbone's class-mean features of the training classes as their ``lafg``
    prototypes (the image structure the relational reading would ideally get from language)."""
    means = class_means(data.train_features(), data.kept_train_labels)
    none = np.zeros((len(means), 0))
    protos = Prototypes(list(data.train_names), means, means, none.astype(np.int64), none.astype(np.float32),
                        "lafg", PROTO, None)
    return Language(list(data.train_names), ORACLE, None, {"lafg": protos}, "oracle: seen-class mean features")


def class_means(features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(C, d) L2-normalised mean of the L2-normalised features of each class."""
    f = features / np.linalg.norm(features, axis=1, keepdims=True)
    means = np.stack([f[labels == c].mean(0) for c in range(labels.max() + 1)])
    return (means / np.linalg.norm(means, axis=1, keepdims=True)).astype(np.float32)


def run_method(
    method_name: str, cfg: TrainConfig, data: SetData, lang: Language | None, seed: int, encoder: str = "minilm"
) -> dict[str, float]:
    """One row's run through the library pipeline: :func:`lafg.pipeline.train_run` on the training classes'
    prepared inputs, then :meth:`lafg.pipeline.Run.evaluate` on the evaluation classes (or the untrained
    backbone's features for ``pretrained``)."""
    method = get_method(method_name)
    if not method.trains:
        metrics, _ = evaluate_backbone(data.backbone, data.eval_paths, data.eval_labels, feature_cache())
        return metrics
    run_cfg = RunConfig(train=replace(cfg, method=method_name, seed=seed), backbone=BACKBONE, views=data.views,
                        n_top_stages=data.stages, encoder=encoder if encoder != ORACLE else "minilm",
                        vocab=VOCAB, proto=PROTO)
    enc = create_text_encoder(encoder) if method.align and encoder != ORACLE else None
    with tempfile.TemporaryDirectory() as out:
        result = train_run(run_cfg, data.train_paths, data.train_labels, data.train_names, out,
                           language=lang if method.align else None, backbone=data.backbone, encoder=enc,
                           prepared=data.prepared, feature_cache=feature_cache(), text_cache=text_cache())
        run = load_run(result.checkpoint, backbone=data.backbone, encoder=enc)
        metrics, _ = run.evaluate(data.eval_paths, data.eval_labels, data.eval_names, feature_cache())
    return metrics


def summarise(set_name, mode, method, llm, reading, runs: list[dict], seconds: float) -> dict:
    row = {"set": set_name, "mode": mode, "method": method, "descriptions": llm, "seeds": len(runs)}
    row["reading"] = reading
    for k in METRIC_KEYS + ("zero_shot",):
        vals = [r[k] for r in runs if k in r]
        if vals:
            row[k] = [round(float(np.mean(vals)), 2), round(float(np.std(vals)), 2)]
    row["R@1_seeds"] = [round(float(r["R@1"]), 2) for r in runs]  # per seed: ties are judged on these
    row["seconds"] = round(seconds, 1)
    return row


def parse_row(row: str) -> tuple[str, str]:
    """``"lafg@bridge"`` → (method "lafg", encoder BRIDGE); ``"lafg"`` → ("lafg", "minilm");
    :data:`ORACLE` → ("lafg", ORACLE)."""
    if row == ORACLE:
        return "lafg", ORACLE
    method, _, enc = row.partition("@")
    get_method(method)  # unknown names fail here, before any training
    if enc not in ("", "minilm", "bridge"):
        raise ValueError(f"unknown encoder {enc!r} in ladder row {row!r}; use METHOD, METHOD@bridge or {ORACLE}")
    return method, (BRIDGE if enc == "bridge" else "minilm")


def ladder(
    mode: str,
    sets=SETS,
    methods=None,
    seeds=(0, 1, 2),
    views: int | None = None,
    stages: int | None = None,
    extra_llms=None,
    log=print,
    on_row=None,
    only_extra: bool = False,
    descriptions: str | None = None,
    vocab: VocabularyConfig = VOCAB,
) -> list[dict]:
    """Rows of the ladder for ``mode`` (see :func:`parse_row` for the row names); ``lafg`` is also run with each
    of ``extra_llms``' descriptions and each reading of ``EXTRA_READINGS[mode]``. ``descriptions``: a JSON
    file used instead of the GPT-4 descriptions. ``on_row(rows)`` after each row."""
    cfg = HEAD if mode == "head" else PARTIAL
    views = VIEWS if views is None else views
    stages = TOP_STAGES if stages is None else stages
    methods = methods or (HEAD_METHODS if mode == "head" else PARTIAL_METHODS)
    extra_llms = extra_llms if extra_llms is not None else ()
    main_llm = descriptions or "gpt4"
    for row_name in methods:
        parse_row(row_name)
    rows = []
    for set_name in sets:
        data = seen_unseen(set_name, mode, views, stages)
        langs: dict[tuple[str, str], Language] = {}
        jobs = [(m, main_llm, cfg.reading) for m in methods]
        if "lafg" in methods:
            jobs += [("lafg", llm, cfg.reading) for llm in extra_llms]
            jobs += [("lafg", main_llm, r) for r in EXTRA_READINGS[mode]]
        if only_extra:  # just the lafg rows with other LLMs' descriptions (added to an existing ladder)
            jobs = [("lafg", llm, cfg.reading) for llm in extra_llms]
        for row_name, llm, reading in jobs:
            method, encoder = parse_row(row_name)
            align = get_method(method).align
            if align and (llm, encoder) not in langs:
                langs[(llm, encoder)] = (
                    oracle_language(data)
                    if encoder == ORACLE
                    else language(data, load_descriptions(set_name, llm), vocab, encoder=encoder)
                )
            t0 = time.perf_counter()
            n_seeds = 1 if method == "pretrained" else len(seeds)
            run_cfg = replace(cfg, reading=reading)
            lang = langs.get((llm, encoder))
            runs = [run_method(method, run_cfg, data, lang, s, encoder) for s in seeds[:n_seeds]]
            llm_label = Path(llm).name if llm not in LLM_FILES and llm != "bundled" else llm
            row = summarise(
                set_name,
                mode,
                row_name.partition("@")[0],
                llm_label if align and encoder != ORACLE else "-",
                reading if align else "-",
                runs,
                time.perf_counter() - t0,
            )
            row["encoder"] = {"minilm": "minilm", BRIDGE: "bridge"}.get(encoder, "-") if align else "-"
            if encoder == BRIDGE:  # its name carries its settings (temperature)
                row["text_encoder"] = create_text_encoder(BRIDGE).name
            row["views"] = views
            row["visual_only"] = vocab.visual_only  # rows without this key (the committed ones): all sentences
            if mode == "partial":
                row["stages"] = stages
            log(json.dumps(row))
            rows.append(row)
            if on_row is not None:
                on_row(rows)
    return rows


@torch.no_grad()
def throughput(n_images: int = 64, batch_size: int = 32) -> dict[str, float]:
    """Images/s of feature extraction through :func:`lafg.vision.features.extract_features` (decode + transform +
    forward, no cache) beside a bare batched forward of the same backbone on random tensors, same process."""
    from lafg.vision.features import extract_features

    backbone = create_backbone(BACKBONE)
    paths = [p for p, _ in load_image_set(DATA / "cars196").items[:n_images]]
    t0 = time.perf_counter()
    extract_features(backbone, paths, backbone.eval_transform(), batch_size=batch_size, cache=None)
    extract_rate = n_images / (time.perf_counter() - t0)
    x = torch.randn(batch_size, 3, backbone.image_size, backbone.image_size)
    t0 = time.perf_counter()
    for _ in range(n_images // batch_size):
        backbone(x)
    bare_rate = n_images / (time.perf_counter() - t0)
    return {
        "extract_img_per_s": round(extract_rate, 1),
        "bare_forward_img_per_s": round(bare_rate, 1),
        "threads": torch.get_num_threads(),
    }


def _row_key(r: dict) -> tuple:
    return (r["set"], r["mode"], r["method"], r.get("descriptions"), r.get("reading"), r.get("encoder", "minilm"))


def write_results(
    rows: list[dict],
    mode: str,
    wall: float | None,
    out_dir: Path = RESULTS,
    extra: dict | None = None,
    append: bool = False,
    keep: tuple[str, ...] = (),
) -> None:
    """Merge ``rows`` into ``ladder.json`` (replacing this mode's rows, or with ``append`` only the rows with
    the same set/mode/method/descriptions/reading/encoder) and rewrite ``ladder.md``. ``keep``: methods whose
    existing rows of this mode stay (marked ``reused``) unless ``rows`` has them anew."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "ladder.json"
    old = _read_rows(out_dir)
    keys = {_row_key(r) for r in rows}
    if append:
        merged = [r for r in old if _row_key(r) not in keys] + rows
    else:
        kept = [
            {**r, "reused": True}
            for r in old
            if r["mode"] == mode and r["method"] in keep and _row_key(r) not in keys
        ]
        merged = [r for r in old if r["mode"] != mode] + kept + rows
    atomic_write_text(path, json.dumps(merged, indent=1) + "\n")
    walls = (
        json.loads((out_dir / "ladder_wall.json").read_text())
        if (out_dir / "ladder_wall.json").exists()
        else {}
    )
    if wall is not None:
        walls[mode] = round(wall, 1)
    walls.update(extra or {})
    atomic_write_text(out_dir / "ladder_wall.json", json.dumps(walls, indent=1) + "\n")
    atomic_write_text(out_dir / "ladder.md", markdown(merged, walls))
    if out_dir.resolve() == RESULTS.resolve():  # the committed results: the app's copy ships inside the package
        write_package_copy(merged)


def write_package_copy(rows: list[dict], path: Path = verdict.LADDER_DATA) -> None:
    """The ladder rows as package data (``lafg/results/ladder.json``), which the app's results panel reads: an
    installed wheel has no ``benchmarks/`` folder. tests/benchmarks/test_ladder.py checks it equals ladder.json."""
    atomic_write_text(path, json.dumps({"source": "benchmarks/results/ladder.json", "rows": rows}, indent=1) + "\n")


def _read_rows(out_dir: Path) -> list[dict]:
    path = out_dir / "ladder.json"
    return json.loads(path.read_text()) if path.exists() else []


def _filter_line(rows: list[dict]) -> str:
    """Which sentences the rows clustered (rows without ``visual_only``, the committed ones: all sentences)."""
    on = sum(bool(r.get("visual_only")) for r in rows)
    said = f"on in {on} of {len(rows)} rows (`visual_only` in ladder.json)" if on else "off: every row clusters all sentences"
    return f"Visual filter {said}; the library default is on (on/off measured as a tie: results/visual_filter.md)."


def markdown(rows: list[dict], walls: dict) -> str:
    lines = [
        "# LaFG ablation ladder (unseen classes, mean ± std over seeds, %)",
        "",
        f"Backbone {BACKBONE} (ImageNet). Text encoders: MiniLM, and the bridge (`{BRIDGE}`: MiniLM read",
        "through the ImageNet class names into the backbone's own feature space, lafg/language/bridge.py). Vocabulary",
        f"N={VOCAB.n_atoms}, top-K={PROTO.top_k}, prototype temperature τ_p={PROTO.tau}.",
        _filter_line(rows),
        f"Head config: `{json.dumps(_cfg_summary(HEAD))}`",
        f"Partial config: `{json.dumps(_cfg_summary(PARTIAL))}`",
        "Every setting chosen on a group-wise validation split of the seen classes (results/validation.md) or,",
        "for the bridge temperature, on the seen classes (results/structure.md); never on the unseen classes.",
        "Controls: `permuted` = the LaFG prototypes of other classes (a derangement), `shuffled-atoms` = each",
        "class's own template t_c plus another class's atom mixture, `random` = random unit vectors; all three",
        "are drawn anew for each seed (seed s uses draw s); `grounded` = LaFG with each class's top-K taken",
        "from its own atoms (those its own sentences fall in), `permuted-grounded` its derangement. `visual-means` = oracle: the frozen backbone's",
        "seen-class mean features as prototypes. `enc.` = text encoder. Partial mode fine-tunes the last",
        "`stages` stages + conv head from cached activations. Wall times: 2-core CPU machine shared with other",
        "jobs; `s` = one row, all seeds. Rows marked ↺ were carried over from the previous run of the ladder",
        "(code path unchanged; see the note of the section). Earlier ladders: results/ladder_v1.md (fixed",
        "control draws, τ_p = 1), results/ladder_partial_stage1.md. Full mode (GPU) ran once on cars196",
        "with reduced images (results/full_cars196_h200.md); not comparable with the CPU rows.",
        "",
    ]
    for mode in ("head", "partial", "full"):
        mode_rows = [r for r in rows if r["mode"] == mode]
        if not mode_rows:
            continue
        lines += [f"## {mode} (whole ladder: {walls.get(mode, '?')} s wall)", ""]
        if walls.get(f"{mode}_note"):
            lines += [walls[f"{mode}_note"], ""]
        devices = sorted({r["device"] for r in mode_rows if "device" in r})
        if devices:
            lines += [f"Device: {', '.join(devices)}. Images: {mode_rows[0].get('images', 'as above')}.", ""]
        if mode != "full":
            for views, stages in sorted({(r.get("views", 1), r.get("stages")) for r in mode_rows}, key=str):
                lines += [f"Augmented views: {views}" + (f"; stages fine-tuned: {stages}." if stages else "."), ""]
        lines.append(
            "| set | method | enc. | descr. | L_ali | seeds | R@1 | R@2 | R@4 | R@8 | MAP@R | zero-shot | s |"
        )
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in mode_rows:
            cells = [_pm(r.get(k)) for k in METRIC_KEYS + ("zero_shot",)]
            mark = " ↺" if r.get("reused") else ""
            lines.append(
                f"| {r['set']} | {r['method']}{mark} | {r.get('encoder', 'minilm' if r['descriptions'] != '-' else '-')} | "
                f"{r['descriptions']} | {r.get('reading', '-')} | {r['seeds']} | "
                + " | ".join(cells)
                + f" | {r['seconds']} |"
            )
        lines.append("")
        lines += verdicts(mode_rows)
    if "throughput" in walls:
        t = walls["throughput"]
        lines += [
            "## Feature extraction throughput (same process, 2-core machine shared with other jobs)",
            "",
            f"extract_features (decode + transform + forward): {t['extract_img_per_s']} img/s; "
            f"bare batched forward of the same backbone: {t['bare_forward_img_per_s']} img/s "
            f"({t['threads']} threads).",
            "",
        ]
    return "\n".join(lines)


# (row A, row B) pairs the verdicts compare: "method" or "method@bridge".
VERDICT_PAIRS = [
    ("lafg", "permuted"),
    ("lafg", "shuffled-atoms"),
    ("grounded", "lafg"),
    ("grounded", "permuted-grounded"),
    ("grounded", "permuted"),
    ("grounded", "aux"),
    ("permuted-grounded", "aux"),
    ("lafg@bridge", "permuted@bridge"),
    ("lafg@bridge", "permuted"),
    ("lafg@bridge", "lafg"),
    ("lafg", "aux"),
    (ORACLE, "permuted"),
]


LADDER_WORDS = {
    (Outcome.WIN, True): "**wins** beyond the seed spread",
    (Outcome.LOSS, True): "**loses** beyond the seed spread",
    (Outcome.WIN, False): "**wins** (means apart by more than the spreads)",
    (Outcome.LOSS, False): "**loses** (means apart)",
}


def compare(a: dict, b: dict) -> tuple[float, str]:
    """(R@1 mean difference a − b, verdict in words): :func:`lafg.retrieval.verdict.compare`, the rule the app reads too."""
    v = verdict.compare(a, b)
    if v.outcome is Outcome.NO_SPREAD:
        return v.diff, "one seed: no spread to judge"
    return v.diff, LADDER_WORDS.get((v.outcome, v.per_seed), "tie (within the seed spread)")


def verdicts(mode_rows: list[dict]) -> list[str]:
    """Per set: does A beat B on unseen R@1 beyond the seed spread (see :func:`compare`)."""
    lines = []
    for set_name in dict.fromkeys(r["set"] for r in mode_rows):
        by = verdict.main_rows(mode_rows, mode_rows[0]["mode"], set_name, HEAD.reading)
        for a, b in VERDICT_PAIRS:
            if a in by and b in by:
                diff, word = compare(by[a], by[b])
                lines.append(f"- {set_name}: {a} vs {b}: R@1 {diff:+.2f} → {word}")
    return (["Verdicts (R@1, unseen classes):", ""] + lines + [""]) if lines else []


def _pm(v) -> str:
    return "—" if v is None else f"{v[0]:.2f} ± {v[1]:.2f}"


def _cfg_summary(cfg: TrainConfig) -> dict:
    keys = (
        "reading",
        "epochs",
        "lr",
        "trunk_lr",
        "beta",
        "tau_aux",
        "tau_align",
        "tau_proto",
        "classes_per_batch",
        "images_per_class",
        "embed_dim",
    )
    return {k: getattr(cfg, k) for k in keys}


def build_arg_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=("head", "partial"), default="head")
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="a data set folder (classes.csv + images.csv, or one folder per class) instead of --sets",
    )
    parser.add_argument(
        "--descriptions",
        type=Path,
        default=None,
        help="JSON {class name: [description, ...]} (default: the GPT-4 descriptions of cars196 / cub100)",
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        default=None,
        help=f"rows: METHOD ({', '.join(list_methods())}), METHOD@bridge (bridge text encoder) or {ORACLE}; "
        "default: the list for the mode",
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--extra-llms",
        nargs="+",
        choices=("gpt3", "bundled"),
        default=None,
        help="also run lafg with these descriptions",
    )
    parser.add_argument(
        "--only-extra",
        action="store_true",
        help="run only the lafg rows of --extra-llms and add them to the existing results",
    )
    parser.add_argument(
        "--views", type=int, default=None, help="cached augmented views per training image (default: VIEWS)"
    )
    parser.add_argument(
        "--stages",
        type=int,
        default=None,
        help="partial mode: backbone stages fine-tuned (default: TOP_STAGES)",
    )
    parser.add_argument(
        "--visual-only",
        action=argparse.BooleanOptionalAction,
        default=VOCAB.visual_only,
        help="set aside non-visual sentences before clustering (default off: the committed rows used all sentences)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder (default: benchmarks/results)")
    parser.add_argument(
        "--keep",
        nargs="+",
        default=(),
        help="methods whose rows of this mode already in --out stay (marked as carried over)",
    )
    parser.add_argument(
        "--merge",
        nargs="+",
        type=Path,
        default=None,
        help="no training: merge this mode's rows of these results folders (e.g. one per set) into --out",
    )
    parser.add_argument(
        "--throughput", action="store_true", help="only measure extraction vs bare forward speed"
    )
    return parser


def merge(mode: str, folders: list[Path], out: Path, keep=()) -> None:
    """This mode's rows of several results folders (ladders run side by side, e.g. one process per set) into
    ``out``; the wall time becomes each folder's own."""
    rows, walls = [], []
    for folder in folders:
        rows += [r for r in _read_rows(folder) if r["mode"] == mode]
        wall_file = folder / "ladder_wall.json"
        if wall_file.exists():
            sets = sorted({r["set"] for r in _read_rows(folder) if r["mode"] == mode})
            walls.append(f"{'+'.join(sets)} {json.loads(wall_file.read_text()).get(mode, '?')}")
    write_results(rows, mode, None, out, {mode: "; ".join(walls) + " (in parallel)"}, keep=tuple(keep))


def main(args: argparse.Namespace) -> int:
    torch.set_num_threads(int(os.environ.get("LAFG_THREADS", "2")))
    if args.merge:
        merge(args.mode, args.merge, args.out, args.keep)
        return 0
    if args.throughput:
        rows = [r for r in _read_rows(args.out) if r["mode"] == args.mode]
        write_results(rows, args.mode, None, args.out, {"throughput": throughput()})
        return 0
    sets = args.sets
    if args.data is not None:
        sets = [register_folder(args.data)]
        if args.descriptions is None:
            print("note: no --descriptions: only the rows without language can run", flush=True)
    t0 = time.perf_counter()

    def save(rows):
        wall = None if args.only_extra else time.perf_counter() - t0
        write_results(rows, args.mode, wall, args.out, append=args.only_extra, keep=tuple(args.keep))

    save(
        ladder(
            args.mode,
            sets,
            args.methods,
            tuple(range(args.seeds)),
            args.views,
            args.stages,
            extra_llms=args.extra_llms,
            on_row=save,
            only_extra=args.only_extra,
            descriptions=str(args.descriptions) if args.descriptions else None,
            vocab=replace(VOCAB, visual_only=args.visual_only),
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(build_arg_parser().parse_args()))
