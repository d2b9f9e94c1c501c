"""Are explanations true? Attribute scores of unseen cub100 images against CUB's human attribute annotations.

    python -m benchmarks.grounding                 # untrained backbone + a trained head-mode run (~5 min, CPU)
    python -m benchmarks.grounding --no-train      # the untrained backbone only

Each of CUB-200-2011's 312 attributes is rendered as a short phrase ("a bird with blue wings",
:func:`lafg.retrieval.grounding.attribute_phrase`), embedded by MiniLM, and scored for every *unseen*-class image of cub100
through an attribute space fitted on the *seen* classes only (:func:`lafg.retrieval.attribute_space.text_scores`: the same cosine the
app's text search ranks by). An attribute is present for an image when annotators marked it on ≥ 50 % of its
class's images. Reported per space, on the unseen classes:

- **mAP** over attributes (rank the images per attribute), with **chance** (each attribute's positive rate);
- **P@5**: per image, the share of its 5 best-scored attributes that are present, raw and with each attribute's
  scores standardised over the seen images (no annotation used), beside the **prior** (always the 5 attributes
  most common among the seen classes) — a per-image figure means nothing without it;
- **r**: mean per-attribute Pearson correlation of the scores with the annotation percentage;
- **text search**: each unseen class queried by its name (template + seen atoms, what the search box does
  without descriptions) and by its own descriptions (their mean embedding), top-1 / R@5 over the unseen images.

Rows: the app's default (``"default": true``: :meth:`lafg.pipeline.Run.attribute_space` /
:func:`lafg.pipeline.pretrained_space`, a ridge read-out from the frozen backbone features onto each seen class's
own description mean; a trained run carries one fitted on the same features, so its default row equals the
untrained backbone's: training changes retrieval, not what explanations read), the read-out onto the LaFG
prototypes (before issue 17), the alternatives tried (other ridge penalties; read-outs of a run's trained
embeddings; its trained projectors where its reading trains them; a concept probe), the **text oracle** (each image scored by its true class's own visual sentences, max over
sentences, no image) and the **annotation ceiling** (a ridge probe from the images to the seen classes'
annotations; a measurement only, never shipped). The annotations only measure: nothing the app ships is fitted
on them. Settings (the ridge penalty; frozen features vs a run's trained embeddings as the read-out's input) were
chosen on genus-wise splits of the *seen* classes (the "selection" table), never on the unseen classes. Backbone: frozen EfficientNet-Lite0 (cached features); text: MiniLM;
descriptions: GPT-4 (``cub200_gpt4_adaptclipzs.json``, evaluation only). Writes ``results/grounding.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.splits import bird_group, group_validation_split
from lafg.language.encode import encode_cached
from lafg.language.encode import l2_normalise as unit
from lafg.retrieval.attribute_space import (
    EMBEDDINGS,
    FEATURES,
    ReadoutConfig,
    fit_readout,
    readout_space,
    text_scores,
)
from lafg.retrieval.explain import atom_activations
from lafg.retrieval.grounding import (
    attribute_correlations,
    attribute_phrase,
    mean_average_precision,
    precision_at_k,
    read_cub_attributes,
)
from lafg.store.cache import ArrayCache

RESULTS = Path(__file__).resolve().parent / "results"
DESCRIPTIONS = "cub200_gpt4_adaptclipzs.json"
ALPHAS = (1.0, 3.0, 10.0, 30.0, 100.0)  # ridge penalties compared on the seen split
INPUT_WORDS = {FEATURES: "frozen backbone features", EMBEDDINGS: "trained embeddings"}


@dataclass
class Split:
    """Images of one side of a split: their inputs, class names, their annotation truth."""

    inputs: dict[str, np.ndarray]  # FEATURES: unit frozen features; EMBEDDINGS: unit retrieval embeddings (n, e)
    classes: list[str]  # class name per image
    truth: np.ndarray  # (n, 312) bool: present (≥ 50 %)
    percent: np.ndarray  # (n, 312) annotation percentage

    @property
    def feats(self) -> np.ndarray:
        return self.inputs[FEATURES]


def shared_data() -> Path:
    from lafg.vision.data import shared_data_root

    root = shared_data_root()
    if root is None:
        raise SystemExit("needs ../shared/data (or $LAFG_SHARED_DATA) with cub100, descriptors and cub_attributes")
    return root


def load(root: Path):
    """cub100 paths, class names per image, seen flags; descriptions; annotations."""
    from lafg.vision.data import load_image_set

    image_set = load_image_set(root / "cub100")
    paths = [str(p) for p, _ in image_set.items]
    labels = np.array([c for _, c in image_set.items])
    seen = np.isin(labels, list(image_set.seen))
    names = [image_set.classes[c] for c in labels]
    descriptions = json.loads((root / "descriptors" / DESCRIPTIONS).read_text(encoding="utf-8"))
    return paths, names, seen, image_set, descriptions, read_cub_attributes(root / "cub_attributes")


def split_of(inputs: dict[str, np.ndarray], names: list[str], rows: np.ndarray, attrs) -> Split:
    cls = [names[i] for i in rows]
    pct = attrs.percent[attrs.rows(cls)]
    return Split({k: unit(v[rows]) for k, v in inputs.items()}, cls, pct >= 50.0, pct)


def measure(scores: np.ndarray, split: Split, reference: np.ndarray | None = None) -> dict:
    """mAP / chance / P@5 (raw and standardised by ``reference`` scores of seen images) / mean r."""
    m = mean_average_precision(scores, split.truth)
    out = {"mAP": round(m.map, 2), "chance": round(m.chance, 2), "attributes": m.n_measured,
           "P@5": round(precision_at_k(scores, split.truth), 2)}
    if reference is not None:
        z = (scores - reference.mean(axis=0)) / np.maximum(reference.std(axis=0), 1e-9)
        out["P@5 standardised"] = round(precision_at_k(z, split.truth), 2)
    r = attribute_correlations(scores, split.percent)
    out["r"] = round(float(np.nanmean(r[m.measured])), 3)
    return out


def text_search(image_vectors: np.ndarray, query_vectors: np.ndarray, image_classes: list[str],
                query_classes: list[str]) -> dict:
    """Per class query: is the top image of the class (top-1), is one of the top 5 (R@5); percent."""
    sims = unit(image_vectors) @ unit(query_vectors).T
    cls = np.array(image_classes)
    order = np.argsort(-sims, axis=0, kind="stable")[:5]
    hits = cls[order] == np.array(query_classes)[None, :]
    return {"top-1": round(100.0 * float(hits[0].mean()), 2), "R@5": round(100.0 * float(hits.any(axis=0).mean()), 2)}


class Bench:
    """The images' frozen features and retrieval embeddings (the same for the untrained backbone, a trained run's
    otherwise) and everything measured on them."""

    def __init__(self, feats, emb, names, seen, language, descriptions, attrs, encoder, cache, trained=None):
        self.names, self.language, self.attrs, self.trained = names, language, attrs, trained
        self.seen_rows, self.unseen_rows = np.flatnonzero(seen), np.flatnonzero(~seen)
        inputs = {FEATURES: feats, EMBEDDINGS: emb}
        self.seen = split_of(inputs, names, self.seen_rows, attrs)
        self.unseen = split_of(inputs, names, self.unseen_rows, attrs)
        self.seen_names = language.seen_names
        self.labels = np.array([self.seen_names.index(n) for n in self.seen.classes])
        self.phrases = unit(encode_cached(encoder, [attribute_phrase(a) for a in attrs.names], cache))
        self.unseen_names = sorted(set(self.unseen.classes))
        from lafg.language.visual import filter_descriptions

        kept = filter_descriptions({n: descriptions.get(n, []) for n in self.unseen_names}).kept
        self.own_sentences = {n: unit(encode_cached(encoder, kept[n], cache)) for n in self.unseen_names if kept[n]}
        self.name_queries = language.prototypes_for(self.unseen_names, encoder, "lafg", cache)
        self.description_queries = np.stack([self.own_sentences[n].mean(axis=0) for n in self.unseen_names])

    def space_row(self, name: str, space, **extra) -> dict:
        """A row for an attribute space: measured through :func:`lafg.retrieval.attribute_space.text_scores`, as the app reads."""
        unseen, seen = self.unseen.inputs[space.reads], self.seen.inputs[space.reads]
        scores = text_scores(space, unseen, self.phrases)
        reference = text_scores(space, seen, self.phrases)
        img = space.image(unseen)
        row = {"space": name, **measure(scores, self.unseen, reference), **extra}
        row["search by name"] = text_search(img, space.text(self.name_queries), self.unseen.classes, self.unseen_names)
        row["search by descriptions"] = text_search(img, space.text(self.description_queries), self.unseen.classes,
                                                    self.unseen_names)
        # the app's gallery holds the seen classes' images too: the same queries over all 5,902 images
        everything = space.image(np.vstack([seen, unseen]))
        row["search by descriptions, whole gallery"] = text_search(
            everything, space.text(self.description_queries), self.seen.classes + self.unseen.classes, self.unseen_names)
        return row

    def readout_row(self, name: str, targets: np.ndarray, alpha: float, reads: str = FEATURES, **extra) -> dict:
        readout = fit_readout(self.seen.inputs[reads], self.labels, targets, alpha)
        readout.input = reads
        space = readout_space(readout, self.language.centroids, self.language.atom_labels, "retrieval embeddings")
        return self.space_row(name, space, **extra)

    def score_row(self, name: str, scores: np.ndarray, reference: np.ndarray | None = None, **extra) -> dict:
        return {"space": name, **measure(scores, self.unseen, reference), **extra}

    def controls(self) -> list[dict]:
        """Prior, text oracle and annotation ceiling (no image / annotation-trained: measurement only)."""
        prior = self.seen.truth.mean(axis=0)
        rows = [self.score_row("prior: the attributes most common among the seen classes (no image)",
                               np.tile(prior, (len(self.unseen.classes), 1)), control=True)]
        per_class = {n: (s @ self.phrases.T).max(axis=0) for n, s in self.own_sentences.items()}
        rows.append(self.score_row("text oracle: the true class's own visual sentences, max over them (no image)",
                                   np.stack([per_class[n] for n in self.unseen.classes]), control=True))
        mean_class = {n: unit(s.mean(axis=0)) @ self.phrases.T for n, s in self.own_sentences.items()}
        rows.append(self.score_row("text oracle: the true class's own description mean (no image)",
                                   np.stack([mean_class[n] for n in self.unseen.classes]), control=True))
        from sklearn.linear_model import Ridge

        inputs = [FEATURES] if self.trained is None else [FEATURES, EMBEDDINGS]
        for reads in inputs:
            probe = Ridge(alpha=10.0).fit(self.seen.inputs[reads], self.seen.percent)
            rows.append(self.score_row(f"ceiling: ridge probe from the {INPUT_WORDS[reads]} trained on the seen "
                                       "classes' annotations (never shipped)", probe.predict(self.unseen.inputs[reads]),
                                       probe.predict(self.seen.inputs[reads]), control=True))
        return rows

    def concept_probe_row(self, alpha: float) -> dict:
        """Alternative: a multi-label ridge probe onto the atoms each class's own sentences fall into (a concept
        bottleneck in the spirit of LaBo / Label-free CBM), phrases read as a softmax over atoms (τ = 0.05)."""
        from sklearn.linear_model import Ridge

        y = self.language.class_atoms().astype(np.float64)
        probe = Ridge(alpha=alpha).fit(self.seen.feats, y[self.labels])
        mix = atom_activations(self.phrases, self.language.centroids, 0.05).T  # (N atoms, phrases)
        return self.score_row(f"concept probe onto the classes' own atoms (ridge α = {alpha:g})",
                              probe.predict(self.unseen.feats) @ mix, probe.predict(self.seen.feats) @ mix)


SPLIT_SEEDS = (0, 1, 2)  # genus-wise splits of the seen classes the selection averages over


def selection(bench: Bench, inputs: tuple[str, ...] = (FEATURES,), targets=("descriptions", "prototypes"),
              alphas=ALPHAS) -> tuple[list[dict], float]:
    """Seen classes only: per genus-wise split (seeds :data:`SPLIT_SEEDS`), fit on the training genera and measure
    mAP on the held-out genera's images; the mean over the splits picks the ridge penalty (and the input)."""
    rows = []
    for reads in inputs:
        for target in targets:
            vectors = bench.language.description_means() if target == "descriptions" else bench.language.prototypes["lafg"].vectors
            for alpha in alphas:
                maps, chances, sizes = [], [], []
                for seed in SPLIT_SEEDS:
                    _, val_idx = group_validation_split(bench.seen_names, bird_group, 0.3, seed)
                    val_names = {bench.seen_names[i] for i in val_idx}
                    is_val = np.array([n in val_names for n in bench.seen.classes])
                    x = bench.seen.inputs[reads]
                    readout = fit_readout(x[~is_val], bench.labels[~is_val], vectors, alpha)
                    m = mean_average_precision(unit(readout(x[is_val])) @ bench.phrases.T, bench.seen.truth[is_val])
                    maps.append(m.map)
                    chances.append(m.chance)
                    sizes.append(len(val_idx))
                rows.append({"input": INPUT_WORDS[reads], "target": target, "alpha": alpha,
                             "val mAP": round(float(np.mean(maps)), 2), "val mAP per split": [round(v, 2) for v in maps],
                             "chance": round(float(np.mean(chances)), 2), "val classes per split": sizes})
    best = max((r for r in rows if r["target"] == "descriptions"), key=lambda r: r["val mAP"])
    return rows, best["alpha"]


def default_row(bench: Bench, space) -> dict:
    g = space.grounding
    fit_time = {"fit-time grounding (descriptions, held-out seen classes)":
                {"mAP": g.map, "chance": g.chance, "classes": g.n_classes} if g else None}
    return bench.space_row(f"default: {space.description}", space, default=True, **fit_time)


def backbone_rows(bench: Bench, space) -> list[dict]:
    """The untrained backbone: the default, the read-out before issue 17, the alternatives tried, the controls."""
    rows = [default_row(bench, space),
            bench.readout_row("before issue 17: read-out onto the LaFG prototypes (α = 1)",
                              bench.language.prototypes["lafg"].vectors, 1.0)]
    for alpha in ALPHAS:
        if alpha != ReadoutConfig().alpha:
            rows.append(bench.readout_row(f"read-out onto the classes' own descriptions, α = {alpha:g}",
                                          bench.language.description_means(), alpha))
    rows.append(bench.concept_probe_row(10.0))
    return rows + bench.controls()


def run_rows(bench: Bench, run) -> list[dict]:
    """A trained run: its default space, its trained projectors (when its reading trained them), read-outs of its
    retrieval embeddings (before issue 17, and onto the descriptions), the controls."""
    rows = [default_row(bench, run.attribute_space())]
    if run.spec.trained.get("proj_v"):
        proj = run.attribute_space("projector")
        rows.append(bench.space_row(f"the run's {proj.description}", proj))
    rows.append(bench.readout_row("before issue 17: read-out of the trained embeddings onto the LaFG prototypes (α = 1)",
                                  bench.language.prototypes["lafg"].vectors, 1.0, EMBEDDINGS))
    rows.append(bench.readout_row(f"read-out of the trained embeddings onto the classes' own descriptions "
                                  f"(α = {ReadoutConfig().alpha:g})", bench.language.description_means(),
                                  ReadoutConfig().alpha, EMBEDDINGS))
    return rows + bench.controls()


def backbone_embeddings(paths: list[str]) -> np.ndarray:
    from lafg.vision.backbones import create_backbone
    from lafg.vision.features import extract_features

    backbone = create_backbone("efficientnet_lite0")
    feats, kept = extract_features(backbone, paths, backbone.eval_transform(), cache=ArrayCache(name="features"),
                                   return_kept=True, num_workers=1)
    if len(kept) != len(paths):
        raise SystemExit("some cub100 images were unreadable")
    return feats


def trained_run(paths, names, seen, image_set, descriptions, out_dir: Path, reading: str, feats: np.ndarray):
    """A head-mode run through the library pipeline (the CLI's defaults), then loaded from its checkpoint; the
    embeddings of all images through it (``feats``: their frozen features, already at hand)."""
    from lafg.pipeline import RunConfig, load_run, train_run
    from lafg.training.loop import DEFAULT_EPOCHS, TrainConfig

    seen_names = [image_set.classes[c] for c in sorted(image_set.seen)]
    rows = np.flatnonzero(seen)
    labels = np.array([seen_names.index(names[i]) for i in rows])
    cfg = RunConfig(train=TrainConfig(mode="head", reading=reading, epochs=DEFAULT_EPOCHS["head"]))
    train_run(cfg, [paths[i] for i in rows], labels, seen_names, out_dir, descriptions=descriptions,
              feature_cache=ArrayCache(name="features"), text_cache=ArrayCache(name="text"), num_workers=1)
    run = load_run(out_dir / "checkpoint.pt")
    return run, run.embed_features(feats)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-train", action="store_true", help="the untrained backbone only")
    ap.add_argument("--readings", default="relational,meankl",
                    help="L_ali readings of the trained head-mode runs (meankl trains the projectors)")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args(argv)
    t0 = time.time()
    from lafg.language.encoders import create_text_encoder
    from lafg.language.side import seen_language
    from lafg.pipeline import pretrained_space

    root = shared_data()
    paths, names, seen, image_set, descriptions, attrs = load(root)
    encoder, cache = create_text_encoder("minilm"), ArrayCache(name="text")
    seen_names = [image_set.classes[c] for c in sorted(image_set.seen)]
    language = seen_language(seen_names, descriptions, encoder, cache=cache)  # the library's defaults
    feats = backbone_embeddings(paths)
    bench = Bench(feats, feats, names, seen, language, descriptions, attrs, encoder, cache)
    select_rows, chosen = selection(bench)
    if chosen != ReadoutConfig().alpha:
        print(f"NOTE: the seen split prefers α = {chosen:g}, the library default is {ReadoutConfig().alpha:g}")
    space = pretrained_space(feats[bench.seen_rows], bench.labels, language)
    results = {"set": "cub100", "descriptions": DESCRIPTIONS, "encoder": encoder.name, "backbone": "efficientnet_lite0",
               "readout": vars(ReadoutConfig()), "selection": select_rows, "selected alpha": chosen, "models": []}
    results["models"].append({"model": "untrained backbone (frozen EfficientNet-Lite0)", "rows": backbone_rows(bench, space)})
    if not args.no_train:
        for reading in [r for r in args.readings.split(",") if r]:
            with tempfile.TemporaryDirectory() as tmp:
                run, emb = trained_run(paths, names, seen, image_set, descriptions, Path(tmp), reading, feats)
                tb = Bench(feats, emb, names, seen, run.language, descriptions, attrs, encoder, cache, trained=run)
                model = f"trained head-mode run (lafg, {reading} reading, {run.epochs_done} epochs, library pipeline)"
                rows, _ = selection(tb, (FEATURES, EMBEDDINGS), ("descriptions",), (ReadoutConfig().alpha,))
                results["selection"] += [{**r, "model": model} for r in rows]
                results["models"].append({"model": model, "rows": run_rows(tb, run)})
    results["seconds"] = round(time.time() - t0, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "grounding.json").write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "grounding.md").write_text(markdown(results), encoding="utf-8")
    print(markdown(results))
    return 0


def _search(s: dict | None) -> str:
    return "–" if not s else f"{s['top-1']:.1f} / {s['R@5']:.1f}"


def _pct(v) -> str:
    return "–" if v is None else f"{v:.1f}"


def markdown(res: dict) -> str:
    lines = [
        "# Grounding: are attribute scores true? (cub100, unseen classes)",
        "",
        f"Generated by `python -m benchmarks.grounding` ({res['seconds']:.0f} s). Each of CUB's 312 attributes, "
        "rendered as a short phrase, is scored for every unseen-class image through a space fitted on the seen "
        "classes only, and ranked against the human annotations (present = ≥ 50 % of the class's images). "
        f"Descriptions: `{res['descriptions']}` (GPT-4, evaluation only); text encoder {res['encoder']}. "
        "mAP over attributes beside chance; P@5 per image (raw / each attribute standardised over the seen "
        "images) beside the prior; r = mean per-attribute correlation with the annotation percentage; text "
        "search: each unseen class queried by its name or its own descriptions, top-1 / R@5 over the unseen images "
        "(and over the whole gallery, seen classes' images included, as in the app). "
        "**Bold** = what the app and CLI read by default (`\"default\": true` in the JSON). A trained run's default "
        "reads the frozen backbone features (chosen on the seen split below), so it equals the untrained backbone's row.",
        "",
    ]
    for model in res["models"]:
        lines += [f"## {model['model']}", "",
                  "| space | mAP | chance | P@5 | P@5 std. | r | name → image top-1 / R@5 | descriptions → image top-1 / R@5 "
                  "| descriptions → whole gallery top-1 / R@5 |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in model["rows"]:
            name = f"**{r['space']}**" if r.get("default") else r["space"]
            sn, sd = r.get("search by name"), r.get("search by descriptions")
            lines.append(
                f"| {name} | {_pct(r['mAP'])} | {_pct(r['chance'])} | {_pct(r['P@5'])} | {_pct(r.get('P@5 standardised'))} "
                f"| {r['r']:.3f} | {_search(sn)} | {_search(sd)} | {_search(r.get('search by descriptions, whole gallery'))} |")
        d = next(r for r in model["rows"] if r.get("default"))
        g = d.get("fit-time grounding (descriptions, held-out seen classes)")
        if g:
            lines += ["", f"The default read-out's own figure, measured when it was fitted (no annotation: held-out "
                          f"seen classes' images ranked per atom against their class descriptions): mAP {g['mAP']:.1f} "
                          f"vs chance {g['chance']:.1f} on {g['classes']} classes. This is what the app shows."]
        lines.append("")
    lines += ["## Selection (seen classes only, genus-wise split)", "",
              "Read-outs fitted on the seen classes' training genera; mAP on the held-out genera's images. The "
              "ridge penalty of the default is the best description read-out here.", "",
              "| model | input | target | α | val mAP (mean of 3 splits) | per split | chance |",
              "|---|---|---|---|---|---|---|"]
    for r in res["selection"]:
        per = " / ".join(f"{v:.1f}" for v in r["val mAP per split"])
        model = r.get("model", "untrained backbone").split(" (")[0] + (
            f" ({r['model'].split('(')[1].split(',')[1].strip()})" if "model" in r else "")
        lines.append(f"| {model} | {r['input']} | {r['target']} | {r['alpha']:g} | {r['val mAP']:.1f} | {per} "
                     f"| {r['chance']:.1f} |")
    held = res["selection"][0]["val classes per split"]
    lines += ["", f"Held-out classes per split: {', '.join(map(str, held))} of 58 (whole genera, "
              "`benchmarks.splits.group_validation_split`, seeds 0–2). "
              f"Selected α = {res['selected alpha']:g}; library default {res['readout']['alpha']:g}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
