# ruff: noqa: E402  (a notebook-style script: each cell imports what it introduces)
# %% [markdown]
# # LaFG Explorer tutorial: the library API end to end
#
# This walks the method on the **embedded demo** (10 CUB bird species, 80 images, shipped in `assets/demo/`),
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
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1] if "__file__" in globals() else Path.cwd()
DEMO = ROOT / "assets" / "demo"
T0 = time.perf_counter()

# %% [markdown]
# ## 1. Class names
# Any list of names works (`lafg.categories.parse_categories` cleans, de-duplicates and checks them). The demo's
# names are CUB species; half of them are *seen* (used for training), the other half *unseen* (retrieval is
# measured on them).

# %%
from lafg.categories import parse_categories
from lafg.data import load_image_set

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
from lafg.describe import describe_classes
from lafg.llm import create_llm

llm = create_llm("published", preset="cub200")
descriptions = describe_classes(names, llm)
print(llm.citation)
for sentence in descriptions[names[0]]:
    print(f"  {names[0]}: {sentence}")

# %% [markdown]
# ## 3. Keep what a photo can show
# `lafg.visual` sets aside sentences about song, habitat, diet, price, engine power … (named rules; measured
# precision/recall in `benchmarks/results/visual_filter.md`). The off-topic check (`lafg.offtopic`) flags
# sentences that describe another class: useful for a weak LLM's output.

# %%
from lafg.visual import filter_descriptions, non_visual_reason

filtered = filter_descriptions(descriptions)
print(f"kept {filtered.n_kept} visual sentences, set aside {filtered.n_set_aside}: {filtered.reasons()}")
print(non_visual_reason("A bird that is known for its high-pitched musical song."))

# %% [markdown]
# ## 4. The attribute vocabulary
# Every sentence is embedded by a frozen text encoder (MiniLM, shipped offline) and k-means groups them into N
# **attribute atoms** shared across classes. Here it is built from the seen classes only, like in training.

# %%
from lafg.encode import create_text_encoder
from lafg.language import encode_vocabulary
from lafg.vocabulary import VocabularyConfig

encoder = create_text_encoder("minilm")
vocab = encode_vocabulary(filtered.kept, seen_names, encoder, VocabularyConfig(n_atoms=12))
print(f"{vocab.n_atoms} atoms from {len(vocab.sentences)} sentences")
for atom in vocab.atoms[:4]:
    print(f"  atom {atom.index}: '{atom.label}' ({len(atom.members)} sentences, {len(atom.classes)} classes)")

# %% [markdown]
# ## 5. Linguistic prototypes
# T_c = normalise(t_c + Σ_k softmax(t_c·a_k / τ_p) a_k): the template "a photo of a {class}" plus its K nearest
# atoms. Atoms none of the class's own sentences fell into are **borrowed** from other classes.

# %%
from lafg.language import language_prototypes
from lafg.prototypes import PrototypeConfig

pcfg = PrototypeConfig()  # the validated defaults (template, K, τ_p)
protos = language_prototypes(seen_names, filtered.kept, encoder, None, pcfg, "lafg", vocab)
own, borrowed = protos.own_and_borrowed(seen_names[0])
print(f"τ_p = {pcfg.tau:g}, K = {pcfg.top_k}")
for atom, weight in protos.chosen_atoms(seen_names[0]):
    kind = "own" if atom in own else "borrowed"
    print(f"  {weight:.3f}  [{kind}] {vocab.atoms[atom].label}")

# %% [markdown]
# ## 6. A short training
# Frozen backbone features (EfficientNet-Lite0, shipped offline) of the seen images; a small head trained with
# L = L_aux + β·L_ali, which pulls each class's images towards its prototype. Then Recall@K on the unseen
# classes, beside the untrained backbone. (80 images are far too few to separate methods: see the README's
# results for the real comparison.)

# %%
from lafg.backbones import create_backbone
from lafg.evaluate import evaluate_embeddings, evaluate_model
from lafg.features import extract_features
from lafg.train import CachedInputs, TrainConfig, train

backbone = create_backbone("efficientnet_lite0")
feats = extract_features(backbone, [str(p) for p, _ in images.items], backbone.eval_transform(), 32, num_workers=0)
index_of = {str(p): i for i, (p, _) in enumerate(images.items)}
seen_x = feats[[index_of[str(p)] for p in seen_paths]]
unseen_x = feats[[index_of[str(p)] for p in unseen_paths]]
cfg = TrainConfig(method="lafg", mode="head", epochs=8, lr=1e-3, classes_per_batch=len(seen_names), images_per_class=4)
with tempfile.TemporaryDirectory() as out:
    result = train(cfg, CachedInputs(seen_x[None]), seen_labels, out, in_dim=backbone.feature_dim,
                   prototypes=protos.vectors, centroids=vocab.centroids)
before = evaluate_embeddings(unseen_x, unseen_labels)
after = evaluate_model(result.model, unseen_x, unseen_labels)
print(f"unseen R@1: untrained backbone {before['R@1']:.1f} → trained head {after['R@1']:.1f} ({result.epochs_done} epochs)")

# %% [markdown]
# ## 7. Retrieval with explanations
# A faiss index over the unseen images' embeddings; each result is explained by the attribute atoms the trained
# image projector P_v activates for both the query and the result (shared) and those that differ.

# %%
import torch

from lafg.explain import explain_projected
from lafg.index import build_index

model = result.model.eval()
with torch.no_grad():
    emb = model(torch.as_tensor(unseen_x)).numpy()
    lang = model.project_image(torch.as_tensor(emb)).numpy()
index = build_index(emb)
scores, ids = index.search(emb[:1], 4)
labels = [a.label for a in vocab.atoms]
print(f"query: {unseen_names[unseen_labels[0]]}")
for score, i in zip(scores[0][1:], ids[0][1:], strict=True):
    ex = explain_projected(lang[0], lang[i], np.eye(vocab.n_atoms, dtype=np.float32), labels, top=2, tau=0.2)
    shared = "; ".join(c.label for c in ex.shared)
    print(f"  {score:.3f} {unseen_names[unseen_labels[i]]:28s} shared: {shared}")

# %% [markdown]
# ## 8. Take it with you
# `lafg.export` writes the vocabulary (JSON/CSV), prototypes (npz/JSON), charts (HTML/PNG) and a whole-session
# run bundle that the app's *Take-aways* tab and `lafg bundle show/unpack` load again.

# %%
from lafg.export import RunBundle, read_bundle, write_bundle

with tempfile.TemporaryDirectory() as out:
    path = write_bundle(RunBundle(seen_names, filtered.kept, vocab, protos, {"encoder": encoder.name}), Path(out) / "demo.zip")
    again = read_bundle(path)
    print(f"bundle: {path.stat().st_size // 1024} KiB, {again.vocabulary.n_atoms} atoms, {len(again.prototypes.names)} prototypes")
print(json.dumps({"tutorial_seconds": round(time.perf_counter() - T0, 1)}))
