import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from benchmarks import ladder

REPO = ladder.RESULTS.parents[1]


def test_the_ladder_command_shows_its_options():
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.ladder", "--help"],
        cwd=REPO,  # a checkout's script: the installed library never imports benchmarks/
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    for flag in ("--mode", "--methods", "--seeds", "--data", "--descriptions", "--keep", "--merge"):
        assert flag in out.stdout
    args = ladder.build_arg_parser().parse_args(["--data", "x", "--descriptions", "d.json", "--seeds", "2"])
    assert (str(args.data), str(args.descriptions), args.seeds) == ("x", "d.json", 2)


def test_parse_row():
    assert ladder.parse_row("lafg") == ("lafg", "minilm")
    assert ladder.parse_row("permuted@bridge") == ("permuted", ladder.BRIDGE)
    assert ladder.parse_row(ladder.ORACLE) == ("lafg", ladder.ORACLE)
    with pytest.raises(ValueError):
        ladder.parse_row("lafg@word2vec")
    with pytest.raises(Exception, match="unknown method"):
        ladder.parse_row("nope")


def _row(seeds):
    return {"R@1": [float(np.mean(seeds)), float(np.std(seeds))], "R@1_seeds": seeds, "seeds": len(seeds)}


def test_compare_calls_only_separated_seeds_a_win():
    assert ladder.compare(_row([60.0, 61.0, 62.0]), _row([50.0, 51.0, 52.0]))[1].startswith("**wins**")
    assert ladder.compare(_row([50.0, 51.0, 52.0]), _row([60.0, 61.0, 62.0]))[1].startswith("**loses**")
    diff, word = ladder.compare(_row([58.7, 58.2, 59.2]), _row([58.67, 58.1, 59.3]))
    assert word.startswith("tie") and diff == pytest.approx(0.01)
    # separated seeds but a gap smaller than the spreads together: still a tie
    assert ladder.compare(_row([50.0, 50.1, 53.0]), _row([47.0, 49.8, 49.9]))[1].startswith("tie")
    assert ladder.compare(_row([60.0]), _row([50.0]))[1].startswith("one seed")


def test_write_results_keeps_reused_rows_marked(tmp_path):
    old = [
        {"set": "s", "mode": "partial", "method": "aux", "descriptions": "-", "reading": "-", "seeds": 3, "R@1": [57.0, 0.1], "seconds": 1},
        {"set": "s", "mode": "partial", "method": "lafg", "descriptions": "gpt4", "reading": "relational", "seeds": 3, "R@1": [58.0, 0.1], "seconds": 1},
    ]
    (tmp_path / "ladder.json").write_text(json.dumps(old))
    new = [{**old[1], "R@1": [59.0, 0.2], "encoder": "minilm", "R@1_seeds": [59.0, 59.2, 58.8]}]
    ladder.write_results(new, "partial", 10.0, tmp_path, keep=("aux",))
    rows = json.loads((tmp_path / "ladder.json").read_text())
    assert [(r["method"], r.get("reused", False), r["R@1"][0]) for r in rows] == [("aux", True, 57.0), ("lafg", False, 59.0)]
    md = (tmp_path / "ladder.md").read_text()
    assert "| s | aux ↺ |" in md and "| s | lafg | minilm |" in md


@pytest.mark.slow
def test_ladder_runs_on_any_folder_with_a_descriptions_file(tmp_path, capsys):
    """--data / --descriptions: a tiny class-per-folder set, head mode, 1 seed, the rows with and without language."""
    rng = np.random.default_rng(0)
    names = ["Red Bird", "Blue Bird", "Green Car", "Black Car"]
    for c, name in enumerate(names):
        folder = tmp_path / "data" / name.replace(" ", "_")
        folder.mkdir(parents=True)
        for i in range(3):
            pixels = np.full((40, 40, 3), 40 * c, np.uint8) + rng.integers(0, 30, (40, 40, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.png")
    desc = {n: [f"a {n.lower()} with {w}" for w in ("a small body", "a bright colour", "a round shape")] for n in names}
    (tmp_path / "d.json").write_text(json.dumps(desc))
    args = ladder.build_arg_parser().parse_args(
        ["--data", str(tmp_path / "data"), "--descriptions", str(tmp_path / "d.json"),
         "--seeds", "1", "--methods", "pretrained", "shuffled-atoms", "--out", str(tmp_path / "out")]
    )  # fmt: skip
    assert ladder.main(args) == 0
    rows = json.loads((tmp_path / "out" / "ladder.json").read_text())
    assert [r["method"] for r in rows] == ["pretrained", "shuffled-atoms"]
    assert all(r["set"] == "data" and 0 <= r["R@1"][0] <= 100 for r in rows)  # the folder's name (the feature
    # cache is keyed per image, so folders of the same name never mix)
    assert rows[1]["descriptions"] == "d.json" and rows[1]["encoder"] == "minilm" and rows[1]["seeds"] == 1


def test_the_package_copy_holds_the_committed_ladder_rows():
    """The app reads lafg/results/ladder.json (an installed wheel has no benchmarks/): it must be ladder.json."""
    from lafg.retrieval.verdict import LADDER_DATA, read_ladder

    assert read_ladder(LADDER_DATA) == json.loads((ladder.RESULTS / "ladder.json").read_text())


def test_write_results_elsewhere_leaves_the_package_copy_alone(tmp_path, monkeypatch):
    written = []
    monkeypatch.setattr(ladder, "write_package_copy", lambda rows, *a: written.append(rows))
    ladder.write_results([{"set": "s", "mode": "head", "method": "aux", "descriptions": "-", "seeds": 1, "R@1": [1.0, 0.0], "seconds": 1}], "head", 1.0, tmp_path)
    assert written == []
    monkeypatch.setattr(ladder, "RESULTS", tmp_path)
    ladder.write_results([], "partial", 1.0, tmp_path)
    assert len(written) == 1 and written[0][0]["method"] == "aux"
