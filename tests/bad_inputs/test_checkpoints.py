"""Checkpoints given to ``lafg eval`` that cannot be used: one line, exit 2, before any image is embedded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from lafg.cli import main


def _data(root):
    for cls in ("a_bird", "b_bird", "c_bird", "d_bird"):
        (root / cls).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (32, 32), (40 * i, 90, 30)).save(root / cls / f"{i}.jpg")
    return root


def _torch_file(path, in_dim=7, drop=None):
    state = {"model": {}, "model_config": json.dumps({"in_dim": in_dim}), "config": json.dumps({"method": "lafg"})}
    if drop:
        state.pop(drop)
    torch.save(state, path)


def _make(kind, path):
    if kind == "text":
        path.write_text("this is not a checkpoint\n", encoding="utf-8")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        _torch_file(path, 1280)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif kind == "foreign":
        torch.save({"weights": torch.zeros(3)}, path)
    elif kind == "other_backbone":
        _torch_file(path, 7)


MESSAGES = {
    "text": "not a checkpoint",
    "empty": "is empty",
    "truncated": "truncated or damaged",
    "foreign": "not a LaFG checkpoint",
    "other_backbone": "trained on 7-d features",
}


@pytest.mark.parametrize("kind", sorted(MESSAGES))
def test_eval_refuses_bad_checkpoints_before_embedding(tmp_path, capsys, monkeypatch, kind):
    import lafg.retrieval.evaluate

    def never(*args, **kwargs):
        raise AssertionError("features were extracted before the checkpoint was checked")

    monkeypatch.setattr(lafg.retrieval.evaluate, "image_embeddings", never)
    data = _data(tmp_path / "data")
    ckpt = tmp_path / "run" / "checkpoint.pt"
    ckpt.parent.mkdir()
    _make(kind, ckpt)
    code = main(["eval", "--data", str(data), "--checkpoint", str(ckpt)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and MESSAGES[kind] in err, err


def test_the_check_accepts_a_real_checkpoint_shape(tmp_path):
    from lafg.training.checkpoint import check_checkpoint_file

    _torch_file(tmp_path / "c.pt", 1280)
    state = check_checkpoint_file(tmp_path / "c.pt", 1280)
    assert state["model_config"]["in_dim"] == 1280 and state["config"]["method"] == "lafg"


def test_eval_says_which_single_image_classes_are_left_out(tmp_path, capsys):
    data = _data(tmp_path / "data")
    # c_bird and d_bird are the unseen half
    (data / "c_bird" / "1.jpg").unlink()
    assert main(["eval", "--data", str(data), "--method", "pretrained"]) == 0
    captured = capsys.readouterr()
    assert "1 class(es) with a single image excluded from R@K and MAP@R: c bird" in captured.err
    (data / "d_bird" / "1.jpg").unlink()
    assert main(["eval", "--data", str(data), "--method", "pretrained"]) == 2
    assert "Recall@K is undefined" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["text", "empty", "truncated"])
def test_app_refuses_a_damaged_checkpoint_in_one_line(client, app, kind):
    """A finished run whose checkpoint was damaged afterwards: the index is refused with one line."""
    from gradio_client.exceptions import AppError

    svc = app[1].services
    demo = str(app[1].services.datasets["demo (20 CUB birds, embedded)"])
    job = svc.jobs.submit(lambda ctx: svc.train_job(svc, ctx), {"dataset_dir": demo, "method": "aux", "epochs": 1, "lr": 1e-3}, "to damage", owner=f"s:{client.session_hash}")
    ckpt = svc.jobs.wait(job, 120).result["checkpoint"]
    _make(kind, Path(ckpt))
    label = next((c[0] for c in client.predict(api_name="/list_models")[0]["choices"] if job in c[0]), None)
    assert label is not None
    with pytest.raises(AppError, match="not a LaFG checkpoint") as err:
        client.predict(label, "demo (20 CUB birds, embedded)", api_name="/build_index")
    assert "\n" not in str(err.value)
