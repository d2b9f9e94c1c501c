"""A user's own image folder through the CLI: data check → describe → train → eval, with the progress and summary
lines a person reads (stderr is not a terminal under pytest, so bars print as plain lines)."""

import json

import numpy as np
import pytest
from PIL import Image

from lafg.cli import main
from lafg.language.llm.base import LLM

# Oxford-style numeric folders named by a names file; the class names are spelled differently from the list
# the user describes (hyphen, apostrophe, case), which must still match.
NAMES = ["Globe-Flower", "Clark's Nutcracker", "Red Fox", "Grey Wolf", "Snow Owl", "Barn Owl"]
DESCRIBED = ["globe flower", "Clarks Nutcracker", "red fox", "grey wolf", "snow owl", "barn owl"]


def _numeric_folders(root, per_class=3):
    rng = np.random.default_rng(0)
    for c in range(1, len(NAMES) + 1):
        folder = root / str(c)
        folder.mkdir(parents=True)
        for i in range(per_class):
            pixels = (rng.random((24, 24, 3)) * 40 + 35 * c).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"image_{i:04d}.jpg")
    (root / "names.csv").write_text("class_id,name\n" + "".join(f'{i},"{n}"\n' for i, n in enumerate(NAMES, 1)))
    return root


class FakeLLM(LLM):
    """Answers 3 sentences per class, only 1 for "red fox" until asked again with sampling."""

    name = "bundled"
    model_id = "fake-llm"

    def __init__(self):
        self.loads = 0

    def load(self):
        self.loads += 1

    def generate(self, prompt, max_new_tokens, temperature=0.0):
        name = next(n for n in DESCRIBED if json.dumps(n) in prompt)
        if name == "red fox" and temperature == 0.0:
            return f"1. The {name} has a distinctive coat."
        return "\n".join(f"{i}. The {name} shows attribute number {i}." for i in range(1, 4))


@pytest.fixture
def fake_llm(monkeypatch):
    llm = FakeLLM()
    monkeypatch.setattr("lafg.language.llm.create_llm", lambda name, **kw: llm)
    return llm


def test_describe_help_lists_the_presets(capsys):
    with pytest.raises(SystemExit):
        main(["describe", "--help"])
    out = capsys.readouterr().out
    assert all(p in out for p in ("cub200", "cars196", "flowers102", "pets37", "dogs120", "aircraft100"))


def test_data_check_reports_counts_split_and_unmatched_names(tmp_path, capsys):
    data = _numeric_folders(tmp_path / "flowers")
    desc = tmp_path / "desc.json"
    desc.write_text(json.dumps({n: ["a sentence about it"] for n in DESCRIBED if n != "grey wolf"}))
    assert main(["data", "check", str(data), "--descriptions", str(desc)]) == 0  # Grey Wolf is unseen: a note
    out = capsys.readouterr().out
    assert "classes: 6; images: 18 (per class min 3, median 3, max 3)" in out
    assert "seen (train): 3 classes, 9 images; unseen (test): 3 classes, 9 images" in out
    assert "seen classes: 'Globe-Flower', \"Clark's Nutcracker\", 'Red Fox'\n" in out
    assert "unseen classes: 'Grey Wolf', 'Snow Owl', 'Barn Owl'\n" in out
    assert "descriptions: 5 of 6 classes matched (5 by a normalised name)" in out
    assert "1 unseen class(es) without descriptions: 'Grey Wolf'" in out
    for f in (data / "3").iterdir():
        f.unlink() if f.name != "image_0000.jpg" else None
    desc.write_text(json.dumps({n: ["a sentence about it"] for n in DESCRIBED if n != "globe flower"}))
    assert main(["data", "check", str(data), "--descriptions", str(desc)]) == 1
    captured = capsys.readouterr()
    assert "lafg data check: 2 problem(s):" in captured.err
    assert "1 class(es) with fewer than 2 images: 'Red Fox'" in captured.err
    assert "1 seen class(es) without descriptions: 'Globe-Flower'" in captured.err


def test_train_stops_with_one_line_naming_a_seen_class_without_descriptions(tmp_path, capsys):
    data = _numeric_folders(tmp_path / "flowers")
    desc = tmp_path / "desc.json"
    desc.write_text(json.dumps({n: ["a sentence about it"] for n in DESCRIBED if n != "Clarks Nutcracker"}))
    code = main(["train", "--data", str(data), "--descriptions", str(desc), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0
    assert err.startswith("lafg train: error: 1 seen class(es) have no descriptions: \"Clark's Nutcracker\"")
    assert "--allow-missing" in err and not (tmp_path / "run" / "checkpoint.pt").exists()


def test_walk_describe_train_eval_on_a_new_folder(tmp_path, capsys, fake_llm):
    data = _numeric_folders(tmp_path / "flowers")
    (tmp_path / "names.txt").write_text("\n".join(DESCRIBED) + "\n")
    run = tmp_path / "run"

    # describe: the model loads before the bar, the bar ends at 6/6, the thin class is named with a way out
    assert main(["describe", "--file", str(tmp_path / "names.txt"), "--n", "3", "--out", str(run)]) == 0
    out, err = capsys.readouterr()
    assert "loading LLM bundled (fake-llm): done in" in err
    assert "describe: 0 of 6 classes cached, 6 to generate" in err
    assert "describe: 6/6 classes (100%)" in err
    assert "warning: 1 of 6 classes got fewer than the 3 sentences asked for; rerun with --retry-thin" in err
    assert "  red fox: 1 of 3" in err.splitlines()
    assert f"wrote 16 descriptions for 6 classes to {run / 'descriptions.json'}" in out

    # --retry-thin: the others come from the cache, only the thin class is asked again
    assert main(["describe", "--file", str(tmp_path / "names.txt"), "--n", "3", "--out", str(run), "--retry-thin"]) == 0
    out, err = capsys.readouterr()
    assert "describe: 6 of 6 classes cached, 0 to generate" in err
    assert "retry thin: 2/2 attempts (100%)" in err and "warning" not in err
    assert len(json.loads((run / "descriptions.json").read_text())["red fox"]) == 3
    assert json.loads((run / "describe_config.json").read_text())["thin_classes"] == {}

    # train: names matched across spellings, extraction bar, training steps, unseen metrics at the end
    assert main(["train", "--data", str(data), "--run", str(run), "--epochs", "2", "--n-atoms", "4",
                 "--top-k", "2", "--out", str(run)]) == 0
    out, err = capsys.readouterr()
    assert "lafg train: loading backbone efficientnet_lite0: done in" in err
    assert "lafg train: 9 images of 3 seen classes; preparing head inputs" in err
    assert "extract head inputs: 9/9 images (100%)" in err
    assert "epoch 2 step" in err and "eval unseen: 9/9 images (100%)" in err
    assert "lafg train: done after 2 epoch(s)" in out
    summary = next(line for line in out.splitlines() if line.startswith("lafg train: unseen R@1="))
    assert "(9 images of 3 unseen classes;" in summary
    saved = json.loads((run / "eval_unseen.json").read_text())
    assert saved["classes"] == 3 and 0 <= saved["metrics"]["R@1"] <= 100
    assert f"R@1={saved['metrics']['R@1']:.2f} MAP@R={saved['metrics']['MAP@R']:.2f}" in summary

    # eval: says what it evaluated, on what, and reuses the cached features (bar at 9/9 at once)
    assert main(["eval", "--data", str(data), "--checkpoint", str(run / "checkpoint.pt")]) == 0
    out, err = capsys.readouterr()
    assert (f"evaluated checkpoint {run / 'checkpoint.pt'} (method lafg, mode head) on {data}, unseen split: "
            "9 images of 3 classes") in out
    assert f"R@1={saved['metrics']['R@1']:.2f}" in out  # the same model, the same numbers as at the end of training
    assert "eval unseen: 9/9 images (100%)" in err and "9 cached, 0 to compute" in err

    # --no-eval skips the end-of-training report
    assert main(["train", "--data", str(data), "--run", str(run), "--epochs", "1", "--n-atoms", "4", "--top-k",
                 "2", "--out", str(tmp_path / "run2"), "--no-eval"]) == 0
    assert "unseen R@1" not in capsys.readouterr().out
