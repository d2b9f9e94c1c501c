import json

import numpy as np
import pytest
import torch

from lafg.training.checkpoint import CHECKPOINT, read_checkpoint
from lafg.training.inputs import CachedInputs
from lafg.training.loop import METRICS, TrainConfig, train
from lafg.training.model import ModelConfig, RetrievalModel

N_CLASSES, PER_CLASS, DIM = 6, 4, 16


def _data(seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((N_CLASSES, DIM))
    labels = np.repeat(np.arange(N_CLASSES), PER_CLASS)
    feats = centers[labels] + 0.5 * rng.standard_normal((2, len(labels), DIM))
    protos = rng.standard_normal((N_CLASSES, 5)).astype(np.float32)
    centroids = rng.standard_normal((7, 5)).astype(np.float32)
    return CachedInputs(feats.astype(np.float32)), labels, protos, centroids


def _cfg(**kw):
    base = dict(epochs=4, classes_per_batch=3, images_per_class=2, embed_dim=8, lr=1e-2)
    base.update(kw)
    return TrainConfig(**base)


def _run(cfg, out, **kw):
    inputs, labels, protos, centroids = _data()
    return train(cfg, inputs, labels, out, in_dim=DIM, prototypes=protos, centroids=centroids, **kw)


@pytest.mark.parametrize("reading", ["meankl", "symkl", "relational", "attribute"])
def test_every_reading_trains_and_logs(tmp_path, reading):
    events = []
    result = _run(_cfg(reading=reading), tmp_path, progress=events.append)
    assert result.status == "done" and result.epochs_done == 4
    lines = [json.loads(x) for x in (tmp_path / METRICS).read_text().splitlines()]
    assert [x["epoch"] for x in lines] == [1, 2, 3, 4]
    assert {"loss_aux", "loss_ali"} <= set(lines[0])
    assert events[-1].step == events[-1].total_steps and events[-1].eta_s == pytest.approx(0.0, abs=1e-6)
    assert set(events[0].terms) == {"aux", "ali"}


def test_onehot_and_aux_terms(tmp_path):
    assert set(_run(_cfg(method="onehot", epochs=1), tmp_path / "a").history[0]) >= {"loss_onehot"}
    assert "loss_ali" not in _run(_cfg(method="aux", epochs=1), tmp_path / "b").history[0]


def test_cancel_then_resume_reproduces_the_uninterrupted_run(tmp_path):
    cfg = _cfg(reading="meankl", cancel_every=1)
    straight = _run(cfg, tmp_path / "straight").model
    calls = {"n": 0}
    steps_per_epoch = 24 // 6

    def cancel_in_epoch_three():  # polled once per step; fires mid-way through the third epoch
        calls["n"] += 1
        return calls["n"] > 2 * steps_per_epoch + 1

    first = _run(cfg, tmp_path / "split", cancel=cancel_in_epoch_three)
    assert first.status == "cancelled" and first.epochs_done == 2
    assert read_checkpoint(tmp_path / "split" / CHECKPOINT)["epochs_done"] == 2
    assert not (tmp_path / "split" / (CHECKPOINT + ".tmp")).exists()
    resumed = _run(cfg, tmp_path / "split", resume=True)
    assert resumed.status == "done" and [h["epoch"] for h in resumed.history] == [3, 4]
    for (name, a), b in zip(straight.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a.cpu(), b.cpu()), name
    lines = (tmp_path / "split" / METRICS).read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2, 3, 4]


def test_checkpoint_is_weights_only_and_reloads(tmp_path):
    result = _run(_cfg(epochs=1), tmp_path)
    state = read_checkpoint(tmp_path / CHECKPOINT)
    cfg = TrainConfig.from_dict(state["config"])
    model = RetrievalModel(ModelConfig(**state["model_config"]))
    model.load_state_dict(state["model"])
    model.eval()
    assert cfg.epochs == 1 and cfg.method == "lafg"
    x = torch.randn(2, DIM)
    assert torch.allclose(model(x), result.model.cpu()(x), atol=1e-5)
    torch.load(tmp_path / CHECKPOINT, weights_only=True)


def test_killed_while_writing_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    _run(_cfg(epochs=1), tmp_path)
    good = (tmp_path / CHECKPOINT).read_bytes()

    def dies(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr("lafg.store.atomic.os.replace", dies)
    with pytest.raises(KeyboardInterrupt):
        _run(_cfg(epochs=2), tmp_path, resume=True)
    assert (tmp_path / CHECKPOINT).read_bytes() == good
    assert read_checkpoint(tmp_path / CHECKPOINT)["epochs_done"] == 1


def _stochastic_trunk():
    """A tiny 'fine-tuned stage' that draws from the global torch RNG (stochastic depth + dropout)."""
    from torchvision.ops import StochasticDepth

    gen_state = torch.get_rng_state()
    torch.manual_seed(123)
    trunk = torch.nn.Sequential(
        torch.nn.Linear(DIM, DIM), StochasticDepth(0.5, "row"), torch.nn.Dropout(0.3), torch.nn.ReLU()
    )
    torch.set_rng_state(gen_state)
    return trunk


@pytest.mark.parametrize("mode", ["head", "partial"])
def test_cancel_then_resume_is_bit_exact_in_every_mode(tmp_path, mode):
    cfg = _cfg(mode=mode, reading="relational", cancel_every=1, epochs=4)
    kw = (lambda: {"trunk": _stochastic_trunk()}) if mode == "partial" else dict
    straight = _run(cfg, tmp_path / "straight", **kw()).model
    calls = {"n": 0}

    def cancel_in_epoch_three():
        calls["n"] += 1
        return calls["n"] > 2 * 4 + 1

    first = _run(cfg, tmp_path / "split", cancel=cancel_in_epoch_three, **kw())
    assert first.status == "cancelled" and first.epochs_done == 2
    torch.manual_seed(999)  # the resuming process starts from another random state
    np.random.seed(999)
    resumed = _run(cfg, tmp_path / "split", resume=True, **kw()).model
    straight_sd, resumed_sd = straight.state_dict(), resumed.state_dict()
    assert straight_sd.keys() == resumed_sd.keys()
    differ = [k for k in straight_sd if not torch.equal(straight_sd[k].cpu(), resumed_sd[k].cpu())]
    assert differ == []
    if mode == "partial":  # the trunk really trained and really drew random numbers
        assert not torch.equal(straight_sd["trunk.0.weight"], _stochastic_trunk().state_dict()["0.weight"])


def test_partial_runs_depend_on_the_global_random_state(tmp_path):
    """Guards the test above: with the stochastic trunk, a different global RNG gives a different run, so
    only a restored random state can make the resumed run equal the straight one."""
    cfg = _cfg(mode="partial", reading="relational", epochs=2)
    a = _run(cfg, tmp_path / "a", trunk=_stochastic_trunk()).model.state_dict()
    from lafg.training import loop as train_module

    real = train_module.build_model

    def reseeded(*args, **kw):
        model = real(*args, **kw)
        torch.manual_seed(4242)  # what an un-restored resume amounts to: another stream after init
        return model

    train_module.build_model = reseeded
    try:
        b = _run(cfg, tmp_path / "b", trunk=_stochastic_trunk()).model.state_dict()
    finally:
        train_module.build_model = real
    assert any(not torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("method", ["onehot", "aux", "template", "lafg", "random", "permuted"])
@pytest.mark.parametrize("reading", ["meankl", "symkl", "relational", "attribute"])
def test_trained_parts_tell_the_truth(tmp_path, method, reading):
    """A projector recorded as trained changed during training; one recorded as untrained did not."""
    from lafg.training.loop import build_model, trained_parts

    cfg = _cfg(method=method, reading=reading, epochs=2)
    inputs, labels, protos, centroids = _data()
    init = build_model(cfg, DIM, protos.shape[1], centroids.shape[0], None, centroids).state_dict()
    model = _run(cfg, tmp_path).model.state_dict()
    parts = trained_parts(cfg)
    for part in ("proj_v", "proj_t"):
        changed = not torch.equal(init[f"{part}.weight"], model[f"{part}.weight"].cpu())
        assert changed == parts[part], (part, parts)
    assert not torch.equal(init["head.weight"], model["head.weight"].cpu())


def test_training_improves_retrieval_over_the_untrained_init(tmp_path):
    """Separable toy data, classes hidden along a few directions under strong noise: trained R@1 beats init."""
    from lafg.retrieval.evaluate import embed, evaluate_embeddings
    from lafg.training.loop import build_model

    rng = np.random.default_rng(0)
    n_classes, per, dim = 12, 10, 32
    centers = np.zeros((n_classes, dim))
    centers[:, :4] = rng.standard_normal((n_classes, 4)) * 1.5
    labels = np.repeat(np.arange(n_classes), per)

    def sample():
        x = centers[labels] + rng.standard_normal((len(labels), dim)) * np.r_[np.full(4, 0.3), np.full(dim - 4, 1.5)]
        return x.astype(np.float32)

    train_x, test_x = sample(), sample()
    cfg = TrainConfig(method="aux", epochs=30, classes_per_batch=6, images_per_class=4, embed_dim=16, lr=1e-2)
    init = build_model(cfg, dim, 8, 8, None, None)
    before = evaluate_embeddings(embed(init, test_x), labels)["R@1"]
    result = train(cfg, CachedInputs(train_x[None]), labels, tmp_path, in_dim=dim)
    after = evaluate_embeddings(embed(result.model, test_x), labels)["R@1"]
    assert after > before + 10, (before, after)
