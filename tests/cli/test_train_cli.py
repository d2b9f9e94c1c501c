import json

import numpy as np
import pytest
from PIL import Image

from lafg.cli import main

CLASSES = ["Red Fox", "Grey Wolf", "Snow Owl", "Barn Owl"]


def _folder_set(root, per_class=3):
    rng = np.random.default_rng(0)
    for c, name in enumerate(CLASSES):
        folder = root / f"{c:03d}.{name.replace(' ', '_')}"
        folder.mkdir(parents=True)
        for i in range(per_class):
            pixels = (rng.random((40, 48, 3)) * 60 + 50 * c).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.jpg")
    (root / "000.Red_Fox" / "broken.jpg").write_bytes(b"not a jpeg")  # must be skipped, not crash
    descriptions = {n: [f"a {n.lower()} with {w} fur" for w in ("thick", "soft", "dense")] for n in CLASSES}
    path = root.parent / "descriptions.json"
    path.write_text(json.dumps(descriptions))
    return path


def test_pretrained_cannot_train(tmp_path, capsys):
    assert (
        main(["train", "--data", str(tmp_path), "--method", "pretrained", "--out", str(tmp_path / "o")]) == 2
    )
    assert "lafg eval --method pretrained" in capsys.readouterr().err


@pytest.mark.slow
def test_train_resume_and_eval_on_a_folder_set(tmp_path):
    import torch

    data = tmp_path / "data"
    descriptions = _folder_set(data)
    out = tmp_path / "run"
    base = ["train", "--data", str(data), "--descriptions", str(descriptions), "--method", "lafg"]
    base += ["--reading", "meankl", "--views", "1", "--out", str(out)]
    assert main(base + ["--epochs", "2"]) == 0
    assert main(base + ["--epochs", "3", "--resume"]) == 0
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2, 3]
    spec = torch.load(out / "checkpoint.pt", weights_only=True)["run"]
    assert spec["seen_classes"] == ["Red Fox", "Grey Wolf"] and spec["mode"] == "head"
    assert spec["trained"] == {"head": True, "trunk": False, "proj_v": True, "proj_t": True}

    report = tmp_path / "eval.json"
    assert (
        main(["eval", "--data", str(data), "--checkpoint", str(out / "checkpoint.pt"), "--json", str(report)])
        == 0
    )
    result = json.loads(report.read_text())
    assert result["images"] == 6 and result["classes"] == 2 and result["method"] == "lafg"
    assert {"R@1", "MAP@R", "zero_shot"} <= set(result["metrics"])

    assert main(["eval", "--data", str(data), "--method", "pretrained", "--json", str(report)]) == 0
    assert json.loads(report.read_text())["method"] == "pretrained"


@pytest.mark.slow
def test_eval_needs_the_checkpoint_alone_and_gives_the_same_numbers(tmp_path):
    """Partial mode with a non-default trunk split: side files deleted, descriptions gone, checkpoint moved."""
    import shutil

    from lafg.pipeline import load_run
    from lafg.vision.data import load_image_set

    data = tmp_path / "data"
    descriptions = _folder_set(data)
    out = tmp_path / "run"
    args = ["train", "--data", str(data), "--descriptions", str(descriptions), "--method", "lafg", "--mode"]
    args += ["partial", "--n-top-stages", "1", "--reading", "meankl", "--epochs", "1", "--out", str(out)]
    assert main(args) == 0
    first = tmp_path / "first.json"
    assert main(["eval", "--data", str(data), "--checkpoint", str(out / "checkpoint.pt"), "--json", str(first)]) == 0
    alone = tmp_path / "elsewhere" / "model.pt"
    alone.parent.mkdir()
    shutil.move(out / "checkpoint.pt", alone)
    shutil.rmtree(out)
    descriptions.unlink()
    second = tmp_path / "second.json"
    assert main(["eval", "--data", str(data), "--checkpoint", str(alone), "--json", str(second)]) == 0
    a, b = json.loads(first.read_text())["metrics"], json.loads(second.read_text())["metrics"]
    assert a == b and "zero_shot" in a
    run = load_run(alone)  # the same numbers as the trained model itself, through its own trunk split
    assert run.spec.n_top_stages == 1 and run.spec.mode == "partial"
    paths, labels, names = load_image_set(data).split("unseen")
    assert run.evaluate(paths, labels, names)[0] == pytest.approx(a)


def test_old_checkpoints_get_a_one_line_error(tmp_path, capsys):
    import torch

    from lafg.training.model import ModelConfig, RetrievalModel

    model = RetrievalModel(ModelConfig(in_dim=1280))
    old = {"model": model.state_dict(), "config": "{}", "model_config": json.dumps({"in_dim": 1280}), "epochs_done": 1}
    torch.save(old, tmp_path / "old.pt")
    data = tmp_path / "data"
    _folder_set(data)
    assert main(["eval", "--data", str(data), "--checkpoint", str(tmp_path / "old.pt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has no run, language" in err[0] and "older LaFG" in err[0]


@pytest.mark.slow
def test_train_run_folder_consumes_the_vocabulary_and_prototypes_stages(tmp_path, capsys):
    import numpy as np
    import torch

    data = tmp_path / "data"
    descriptions = _folder_set(data)
    run = tmp_path / "stages"
    seen = "Red Fox, Grey Wolf"
    assert main(["vocab", "--run", str(run), "--descriptions", str(descriptions), "--names", seen, "--n-atoms", "4"]) == 0
    assert main(["prototypes", "--run", str(run), "--names", seen, "--top-k", "2"]) == 0
    out = tmp_path / "model"
    assert main(["train", "--data", str(data), "--run", str(run), "--method", "lafg", "--epochs", "1", "--out", str(out)]) == 0
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    with np.load(run / "vocab.npz") as vocab, np.load(run / "prototypes.npz") as protos:
        assert np.array_equal(state["language"]["vocabulary"]["centroids"].numpy(), vocab["centroids"])
        assert np.array_equal(state["language"]["prototypes"]["lafg"]["vectors"].numpy(), protos["vectors"])
    assert state["run"]["language_source"] == f"run folder {run}" and state["run"]["prototypes"]["top_k"] == 2
    assert state["run"]["vocabulary"]["n_atoms"] == 4

    everything = tmp_path / "all"  # a vocabulary over unseen classes too: refused, with the fix
    assert main(["vocab", "--run", str(everything), "--descriptions", str(descriptions), "--names", ", ".join(CLASSES)]) == 0
    capsys.readouterr()
    assert main(["train", "--data", str(data), "--run", str(everything), "--epochs", "1", "--out", str(tmp_path / "x")]) == 2
    assert "not seen (training) classes" in capsys.readouterr().err
