# ruff: noqa: E402  (a notebook-style script: each cell imports what it introduces)
# %% [markdown]
# # LaFG Explorer tutorial: the library API end to end
#
# This walks the method on the **embedded demo** (20 CUB bird species, 120 images, shipped in `assets/demo/`),
# offline and on a CPU, in well under a minute:
#
# **class names → descriptions → visual filter → attribute vocabulary → linguistic prototypes → a short training →
# retrieval with explanations.**
#
# It is a plain Python script in "percent" format (`# %%` cells): run it with `python docs/tutorial.py`, open it
# as a notebook in VS Code / Jupytext, or render it to Markdown with its outputs
# (`python docs/render_tutorial.py`, which writes `docs/tutorial.md`). The test suite executes it
# (`tests/test_tutorial.py`), so it never rots.

# %%
import json
import shutil
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] if "__file__" in globals() else Path.cwd()
DEMO = ROOT / "assets" / "demo"
T0 = time.perf_counter()

# %% [markdown]
# ## 1. Class names
# Any list of names works (`lafg.language.categories.parse_categories` cleans, de-duplicates and checks them). The demo's
# names are CUB species; 14 of them are *seen* (used for training), the other 6 *unseen* (retrieval is
# measured on them).

# %%
from lafg.language.categories import parse_categories
from lafg.vision.data import load_image_set

images = load_image_set(DEMO)
names = parse_categories("\n".join(images.classes)).names
seen_paths, seen_labels, seen_names = images.split("seen")
unseen_paths, unseen_labels, unseen_names = images.split("unseen")
print(f"{len(names)} classes, {len(images)} images")
print("seen:  ", ", ".join(seen_names))
print("unseen:", ", ".join(unseen_names))

# %% [markdown]
# ## 2. Descriptions
# An LLM writes a few sentences per class. Offline, the **published** GPT-3 descriptions (Menon & Vondrick;
# WaffleCLIP, MIT licence) cover every preset, CUB included. Other backends: `bundled` (a tiny local LLM),
# `transformers`, `openai` (any compatible endpoint), `json` (your own file).

# %%
from lafg.language.describe import describe_classes
from lafg.language.llm import create_llm

llm = create_llm("published", preset="cub200")
descriptions = describe_classes(names, llm)
print(llm.citation)
for sentence in descriptions[names[0]]:
    print(f"  {names[0]}: {sentence}")

# %% [markdown]
# ## 3. Keep what a photo can show
# `lafg.language.visual` sets aside sentences about song, habitat, diet, price, engine power … (named rules; measured
# precision/recall in `benchmarks/results/visual_filter.md`). The off-topic check (`lafg.language.offtopic`) flags
# sentences that describe another class: useful for a weak LLM's output.

# %%
from lafg.language.visual import filter_descriptions, non_visual_reason

filtered = filter_descriptions(descriptions)
print(f"kept {filtered.n_kept} visual sentences, set aside {filtered.n_set_aside}: {filtered.reasons()}")
print(non_visual_reason("A bird that is known for its high-pitched musical song."))

# %% [markdown]
# ## 4. The attribute vocabulary
# Every sentence is embedded by a frozen text encoder (MiniLM, shipped offline) and k-means groups them into N
# **attribute atoms** shared across classes. `lafg.language.side.seen_language` builds it the way training does: from
# the *seen* classes' descriptions only (unseen ones cannot reach the model), with the library's validated
# defaults (`VocabularyConfig()`: N = 128, visual filter on). N = 128 is meant for full data sets; the 14 seen
# demo classes have far fewer sentences, so N is clamped and the language side says so in its notes.

# %%
from lafg.language.encoders import create_text_encoder
from lafg.language.side import seen_language
from lafg.language.vocabulary import VocabularyConfig

encoder = create_text_encoder("minilm")
vcfg = VocabularyConfig()  # the validated defaults (N, visual filter, k-means)
lang = seen_language(seen_names, descriptions, encoder, vcfg)
vocab = lang.vocabulary
print(f"{vocab.n_atoms} atoms from {len(vocab.sentences)} sentences (N = {vcfg.n_atoms}, visual filter "
      f"{'on' if vcfg.visual_only else 'off'})")
for line in lang.notes:
    print("  note:", line)
for atom in vocab.atoms[:4]:
    print(f"  atom {atom.index}: '{atom.label}' ({len(atom.members)} sentences, {len(atom.classes)} classes)")

# %% [markdown]
# ## 5. Linguistic prototypes
# T_c = normalise(t_c + Σ_k softmax(t_c·a_k / τ_p) a_k): the template "a photo of a {class}" plus its K nearest
# atoms. Atoms none of the class's own sentences fell into are **borrowed** from other classes. The same call
# built them (`PrototypeConfig()`: the validated template, K and τ_p). The validated τ_p is small, so the weights
# are sharp: the nearest atom dominates, which is what separates classes (τ_p = 1 left them near-uniform).

# %%
protos = lang.prototypes["lafg"]
pcfg = lang.proto_config
own, borrowed = protos.own_and_borrowed(seen_names[0])
print(f"τ_p = {pcfg.tau:g}, K = {pcfg.top_k}")
for atom, weight in protos.chosen_atoms(seen_names[0]):
    kind = "own" if atom in own else "borrowed"
    print(f"  {weight:.3f}  [{kind}] {vocab.atoms[atom].label}")

# %% [markdown]
# ## 6. A short training
# `lafg.pipeline.train_run` is the one pipeline the CLI (`lafg train`), the app and the benchmarks call: frozen
# backbone features (EfficientNet-Lite0, shipped offline) of the seen images, a small head trained with
# L = L_aux + β·L_ali, which pulls each class's images towards its prototype, and a checkpoint that describes its
# own run. Every setting is the library's validated default (`RunConfig()`, `TrainConfig()`: lr, reading, β, τ,
# batch shape) and so is the schedule (`DEFAULT_EPOCHS["head"]`, as `lafg train` and the app use): on cached
# features of 84 images the full 60 epochs take seconds, so the tutorial needs no shortcut. `load_run` rebuilds
# the run from the checkpoint alone. Then Recall@K on the unseen classes, beside the untrained backbone. (120 images are far too few to
# separate methods: see docs/RESULTS.md for the real comparison.)

# %%
from lafg.pipeline import RunConfig, load_run, train_run
from lafg.retrieval.evaluate import evaluate_embeddings
from lafg.training.loop import DEFAULT_EPOCHS, TrainConfig
from lafg.vision.backbones import create_backbone
from lafg.vision.features import extract_features

cfg = RunConfig(train=TrainConfig(mode="head", epochs=DEFAULT_EPOCHS["head"]))  # nothing else departs
backbone = create_backbone(cfg.backbone)
run_dir = Path(tempfile.mkdtemp(prefix="lafg-tutorial-"))
result = train_run(cfg, [str(p) for p in seen_paths], seen_labels, seen_names, run_dir, language=lang,
                   backbone=backbone, encoder=encoder, num_workers=0)
run = load_run(result.checkpoint, backbone=backbone, encoder=encoder)  # the checkpoint alone
t = run.config
print(f"method {t.method}, reading {t.reading}, lr {t.lr:g}, β {t.beta:g}, {run.epochs_done} epochs")
frozen = extract_features(backbone, [str(p) for p in unseen_paths], backbone.eval_transform(), 32, num_workers=0)
before = evaluate_embeddings(frozen, unseen_labels)
emb, kept = run.embed_images([str(p) for p in unseen_paths])
after = evaluate_embeddings(emb, unseen_labels[kept])
print(f"unseen R@1: untrained backbone {before['R@1']:.1f} → trained head {after['R@1']:.1f}")

# %% [markdown]
# ## 7. Retrieval with explanations
# A faiss index over the unseen images' embeddings. Each result is explained by the attribute atoms active for
# both the query and the result (shared) and those that differ, read in `run.attribute_space()`: a space built
# only from parts that were trained or fitted: by default a ridge read-out from the frozen backbone features of
# the seen classes' images onto their classes' own description means (it measured truer than the trained
# embeddings or the prototypes: `benchmarks/results/grounding.md`). The space says what it is and what it reads
# (`space.reads`: the frozen features here, not the trained embeddings). The atoms come from the 14 seen
# classes' sentences alone, so an unseen bird is described by the seen-class attributes nearest to it, which can
# read oddly (a pelican through a blackbird's sentences): on a real data set 100+ classes stand behind the atoms.

# %%
from lafg.retrieval.explain import explain_projected
from lafg.retrieval.index import build_index

space = run.attribute_space()
print(f"explanations read: {space.kind} ({space.description})")
lang_emb = space.image(frozen[kept] if space.reads == "features" else emb)  # what the space reads, per image
index = build_index(emb)
scores, ids = index.search(emb[:1], 4)
print(f"query: {unseen_names[unseen_labels[kept][0]]}")
for score, i in zip(scores[0][1:], ids[0][1:], strict=True):
    ex = explain_projected(lang_emb[0], lang_emb[i], space.atoms, space.atom_labels, top=2, tau=space.tau,
                           method=space.kind)
    shared = "; ".join(c.label for c in ex.shared)
    print(f"  {score:.3f} {unseen_names[unseen_labels[kept][i]]:28s} shared: {shared}")

# %% [markdown]
# ## 8. Take it with you
# `lafg.store.export` writes the vocabulary (JSON/CSV), prototypes (npz/JSON), charts (HTML/PNG) and a whole-session
# run bundle that the app's *Take-aways* tab and `lafg bundle show/unpack` load again.

# %%
from lafg.store.export import RunBundle, read_bundle, write_bundle

with tempfile.TemporaryDirectory() as out:
    path = write_bundle(RunBundle(seen_names, filtered.kept, vocab, protos, {"encoder": encoder.name}), Path(out) / "demo.zip")
    again = read_bundle(path)
    print(f"bundle: {path.stat().st_size // 1024} KiB, {again.vocabulary.n_atoms} atoms, {len(again.prototypes.names)} prototypes")
shutil.rmtree(run_dir)
print(json.dumps({"tutorial_seconds": round(time.perf_counter() - T0, 1)}))
