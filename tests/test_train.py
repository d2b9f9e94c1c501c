import json

import numpy as np
import pytest
import torch

from lafg.train import CHECKPOINT, METRICS, CachedInputs, TrainConfig, load_model, read_checkpoint, train

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
    model, cfg = load_model(tmp_path / CHECKPOINT)
    assert cfg.epochs == 1 and cfg.method == "lafg"
    x = torch.randn(2, DIM)
    assert torch.allclose(model(x), result.model.cpu()(x), atol=1e-5)
    torch.load(tmp_path / CHECKPOINT, weights_only=True)


def test_killed_while_writing_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    _run(_cfg(epochs=1), tmp_path)
    good = (tmp_path / CHECKPOINT).read_bytes()

    def dies(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr("lafg.train.os.replace", dies)
    with pytest.raises(KeyboardInterrupt):
        _run(_cfg(epochs=2), tmp_path, resume=True)
    assert (tmp_path / CHECKPOINT).read_bytes() == good
    assert read_checkpoint(tmp_path / CHECKPOINT)["epochs_done"] == 1
