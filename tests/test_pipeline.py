"""The one pipeline: seen-only language side, self-describing checkpoints, explanation spaces that read only
what was trained (fast: a bag-of-words text encoder and synthetic features)."""

import hashlib
import re

import numpy as np
import pytest
import torch

from lafg.errors import InputError
from lafg.language.side import seen_language
from lafg.pipeline import RunConfig, fit_readout, load_run, train_run
from lafg.retrieval.attribute_space import PROJECTOR, READOUT
from lafg.training.inputs import CachedInputs, PreparedInputs
from lafg.training.loop import TrainConfig
from lafg.training.methods import list_methods

SEEN = ["Red Fox", "Grey Wolf", "Snow Owl", "Barn Owl"]
UNSEEN = ["Arctic Fox", "Eagle Owl"]
WORDS = ["thick", "soft", "dense", "white", "orange", "grey", "feathered", "pointed", "round", "long"]


class BagOfWords:
    name, dim = "bow-test", 32

    def encode(self, texts, batch_size=64, progress=None):
        out = np.full((len(texts), self.dim), 1e-3, dtype=np.float32)
        for i, text in enumerate(texts):
            for w in re.findall(r"[a-z]+", text.lower()):
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def _descriptions(names, salt=""):
    rng = np.random.default_rng(len(salt))
    return {n: [f"a {n.lower()} with {rng.choice(WORDS)} {w}{salt}" for w in ("fur", "ears", "tail")] for n in names}


def _prepared(seed=0, per=6, dim=16):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(SEEN)), per)
    centers = rng.standard_normal((len(SEEN), dim))
    feats = (centers[labels] + 0.4 * rng.standard_normal((len(labels), dim))).astype(np.float32)
    prepared = PreparedInputs(CachedInputs(feats[None]), np.arange(len(labels)), None, dim)
    return prepared, labels, [f"/nowhere/{i}.jpg" for i in range(len(labels))]


def _train(tmp_path, method="lafg", reading="relational", descriptions=None, epochs=3, **kw):
    prepared, labels, paths = _prepared()
    cfg = RunConfig(train=TrainConfig(method=method, reading=reading, epochs=epochs, embed_dim=8, lr=1e-2,
                                      classes_per_batch=4, images_per_class=2))
    descriptions = _descriptions(SEEN) if descriptions is None else descriptions
    return train_run(cfg, paths, labels, SEEN, tmp_path, descriptions=descriptions, encoder=BagOfWords(),
                     prepared=prepared, backbone_id="synthetic-16", **kw)


def _checkpoint(path):
    return torch.load(path, weights_only=True)


def test_the_checkpoint_describes_its_run(tmp_path):
    result = _train(tmp_path, reading="meankl")
    state = _checkpoint(result.checkpoint)  # plain types only: weights_only loading works
    spec = state["run"]
    assert spec["backbone_id"] == "synthetic-16" and spec["mode"] == "head" and spec["n_top_stages"] == 2
    assert spec["encoder_id"] == "bow-test" and spec["method"] == "lafg" and spec["reading"] == "meankl"
    assert spec["seen_classes"] == SEEN and spec["train"]["epochs"] == 3 and spec["version"]
    assert spec["vocabulary"]["n_atoms"] == 128 and spec["prototypes"]["top_k"] == 5
    assert spec["trained"] == {"head": True, "trunk": False, "proj_v": True, "proj_t": True}
    assert len(spec["data_fingerprint"]) == 64
    assert any("N clamped from 128" in n for n in spec["notes"])
    run = load_run(result.checkpoint, encoder=BagOfWords())
    assert np.array_equal(run.language.centroids, result.language.centroids)
    assert np.array_equal(run.language.prototypes["lafg"].vectors, result.language.prototypes["lafg"].vectors)
    x = torch.randn(3, 16)
    assert torch.equal(run.model(x), result.model.cpu()(x))


def test_unseen_descriptions_never_reach_the_model(tmp_path):
    seen_only = _train(tmp_path / "a", descriptions=_descriptions(SEEN))
    with_unseen = _train(tmp_path / "b", descriptions={**_descriptions(SEEN), **_descriptions(UNSEEN, "x")})
    other_unseen = _train(tmp_path / "c", descriptions={**_descriptions(SEEN), **_descriptions(UNSEEN, "yz")})
    states = [_checkpoint(r.checkpoint) for r in (seen_only, with_unseen, other_unseen)]
    for key in ("model", "objective"):
        for s in states[1:]:
            assert all(torch.equal(states[0][key][k], s[key][k]) for k in states[0][key])
    vocab = [s["language"]["vocabulary"] for s in states]
    assert all(v["sentences"] == vocab[0]["sentences"] for v in vocab)
    assert all(torch.equal(v["centroids"], vocab[0]["centroids"]) for v in vocab)


def test_the_descriptions_method_trains_without_unseen_descriptions(tmp_path):
    result = _train(tmp_path, method="descriptions", descriptions=_descriptions(SEEN))
    assert result.status == "done" and set(result.language.prototypes) == {"descriptions", "lafg"}


def test_seen_language_reads_only_the_seen_classes():
    lang = seen_language(SEEN[:2], {**_descriptions(SEEN), "Eagle Owl": ["secret"]}, BagOfWords())
    assert set(lang.vocabulary.class_names) == set(SEEN[:2])
    assert "secret" not in lang.vocabulary.sentences and not any("owl" in s for s in lang.vocabulary.sentences)
    with pytest.raises(InputError, match="none of the seen classes has a description"):
        seen_language(SEEN, {"Eagle Owl": ["x"]}, BagOfWords())


def test_the_visual_filter_is_one_library_default_the_spec_records(tmp_path):
    from dataclasses import replace

    from lafg.language.vocabulary import VocabularyConfig

    assert VocabularyConfig().visual_only is True
    desc = {n: [*v, f"a {n.lower()} known for its loud call"] for n, v in _descriptions(SEEN).items()}
    on = seen_language(SEEN, desc, BagOfWords())
    assert not any("call" in s for s in on.vocabulary.sentences) and len(on.vocabulary.sentences) == 12
    assert any("set aside 4 non-visual" in n for n in on.notes)
    off = seen_language(SEEN, desc, BagOfWords(), VocabularyConfig(visual_only=False))
    assert sum("call" in s for s in off.vocabulary.sentences) == 4 and not any("visual" in n for n in off.notes)
    result = _train(tmp_path / "on", descriptions=desc)
    assert result.spec.vocabulary["visual_only"] is True
    assert load_run(result.checkpoint, encoder=BagOfWords()).language.vocabulary.config.visual_only is True
    prepared, labels, paths = _prepared()
    cfg = RunConfig(train=TrainConfig(epochs=1, embed_dim=8, classes_per_batch=4, images_per_class=2))
    cfg.vocab = replace(cfg.vocab, visual_only=False)
    result = train_run(cfg, paths, labels, SEEN, tmp_path / "off", descriptions=desc, encoder=BagOfWords(),
                       prepared=prepared, backbone_id="synthetic-16")
    assert result.spec.vocabulary["visual_only"] is False
    assert sum("call" in s for s in result.language.vocabulary.sentences) == 4


def test_every_shell_reads_the_visual_filter_default_and_can_toggle_it():
    from benchmarks.ladder import VOCAB, build_arg_parser
    from lafg.app.common import Session
    from lafg.app.training import run_config
    from lafg.cli import build_parser

    root = build_parser()
    train_args = ["train", "--data", "x", "--method", "lafg", "--out", "y"]
    assert root.parse_args(train_args).visual_only is True
    assert root.parse_args([*train_args, "--no-visual-only"]).visual_only is False
    assert root.parse_args(["vocab", "--run", "r"]).visual_only is True
    assert root.parse_args(["vocab", "--run", "r", "--no-visual-only"]).visual_only is False
    # the ladder stays explicit: its committed rows clustered all sentences
    assert VOCAB.visual_only is False and build_arg_parser().parse_args([]).visual_only is False
    assert build_arg_parser().parse_args(["--visual-only"]).visual_only is True
    assert Session().visual_only is True

    class Embedder:
        name, spec = "fake", None

    assert run_config({"method": "lafg"}, Embedder()).vocab.visual_only is True
    assert run_config({"method": "lafg", "visual_only": False}, Embedder()).vocab.visual_only is False


@pytest.mark.parametrize("method", [m for m in list_methods() if m != "pretrained"])
@pytest.mark.parametrize("reading", ["meankl", "symkl", "relational", "attribute"])
def test_explanations_read_the_fitted_readout_and_trained_projectors_on_request(tmp_path, method, reading):
    from lafg.training.loop import build_model

    result = _train(tmp_path, method=method, reading=reading, epochs=2)
    run = load_run(result.checkpoint, encoder=BagOfWords())
    lang = run.language
    init = build_model(run.config, 16, lang.centroids.shape[1], lang.centroids.shape[0], None, lang.centroids)
    z = run.model(torch.randn(5, 16)).detach().numpy()
    # every run's default: the read-out onto the seen classes' own descriptions, fitted on the frozen features
    space = run.attribute_space()
    assert space.kind == READOUT and run.readout is not None and run.readout.target == "descriptions"
    assert space.description == ("read-out onto the seen classes' own descriptions, fitted on the frozen backbone "
                                 "features of 4 seen classes (24 images)")
    feats = _prepared()[0].inputs.views[0].numpy()
    assert space.reads == "features" and np.allclose(space.image(feats), run.readout(feats))  # never P_v
    # refitting on the seen images' frozen features reproduces it
    refit = fit_readout(lang, feats, _prepared()[1])
    assert np.allclose(refit.weight, run.readout.weight, atol=1e-5)
    # the trained projectors stay readable, for readings that train them
    proj = run.attribute_space(PROJECTOR)
    trains = reading in ("meankl", "symkl", "attribute") and method not in ("onehot", "aux")
    assert proj.available == trains
    if trains:
        assert not torch.equal(init.proj_v.weight, run.model.proj_v.weight)
        assert "trained" in proj.description and "read-out" not in proj.description
        with torch.no_grad():
            assert np.allclose(proj.image(z), run.model.project_image(torch.as_tensor(z)).numpy())


def test_zero_shot_prototypes_come_from_names_only(tmp_path):
    run = load_run(_train(tmp_path, reading="meankl").checkpoint, encoder=BagOfWords())
    protos = run.zero_shot_prototypes(UNSEEN)
    assert protos.shape == (2, 32) and np.allclose(np.linalg.norm(protos, axis=1), 1, atol=1e-5)
    relational = load_run(_train(tmp_path / "r").checkpoint, encoder=BagOfWords())
    assert relational.zero_shot_prototypes(UNSEEN) is None  # its projectors never trained


def test_cancelled_run_keeps_a_readout_of_its_checkpoint(tmp_path):
    calls = {"n": 0}

    def cancel():
        calls["n"] += 1
        return calls["n"] > 4  # 3 steps per epoch, polled every 5 steps: stops in epoch 2

    cfg_kw = dict(epochs=6)
    result = _train(tmp_path, cancel=cancel, **cfg_kw)
    assert result.status == "cancelled"
    run = load_run(result.checkpoint, encoder=BagOfWords())
    assert run.readout is not None and run.epochs_done == result.epochs_done


@pytest.mark.slow
def test_a_partial_run_fine_tunes_a_copy_and_leaves_the_callers_backbone_alone(tmp_path):
    """The app shares one backbone between visitors and the ladder one between rows: training must not touch it."""
    from lafg.training.loop import TrainConfig
    from lafg.vision.backbones import create_backbone
    from lafg.vision.data import load_image_set
    from tests.cli.test_train_cli import _folder_set

    _folder_set(tmp_path / "data")
    paths, labels, names = load_image_set(tmp_path / "data").split("seen")
    backbone = create_backbone("efficientnet_lite0")
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    cfg = RunConfig(train=TrainConfig(method="aux", mode="partial", epochs=1, lr=1e-2, trunk_lr=1e-2), n_top_stages=1)
    result = train_run(cfg, paths, labels, names, tmp_path / "run", backbone=backbone)
    assert all(torch.equal(v, before[k]) for k, v in backbone.state_dict().items())
    trained = result.model.trunk.state_dict()
    top = backbone.split_at(1)[1].state_dict()
    assert any(not torch.equal(trained[k], top[k]) for k in top if top[k].is_floating_point())  # the copy trained
