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
    data = tmp_path / "data"
    descriptions = _folder_set(data)
    out = tmp_path / "run"
    base = ["train", "--data", str(data), "--descriptions", str(descriptions), "--method", "lafg"]
    base += ["--reading", "meankl", "--views", "1", "--out", str(out)]
    assert main(base + ["--epochs", "2"]) == 0
    assert main(base + ["--epochs", "3", "--resume"]) == 0
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2, 3]
    meta = json.loads((out / "train_meta.json").read_text())
    assert meta["seen_classes"] == ["Red Fox", "Grey Wolf"] and meta["mode"] == "head"

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
