"""benchmarks/grounding.py: its text-search figure and per-space measurement on tiny hand-made data."""

import numpy as np
import pytest

from benchmarks.grounding import Split, markdown, measure, text_search


def test_text_search_counts_the_class_at_rank_one_and_in_the_top_five():
    images = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.5, 0.5], [0.6, 0.4]])
    classes = ["a", "b", "b", "c", "c", "a"]
    queries = np.array([[1.0, 0.0], [0.0, 1.0]])
    # query "a": rank 1 is an "a" image; query "b" ([0, 1]): rank 1 is image 2, a "b"
    assert text_search(images, queries, classes, ["a", "b"]) == {"top-1": 100.0, "R@5": 100.0}
    # asked for "c" with the "a" direction: images 0, 1, 5, 4, 3 by cosine → "c" (image 4) in the top 5, not first
    assert text_search(images, queries[:1], classes, ["c"]) == {"top-1": 0.0, "R@5": 100.0}


def test_measure_reports_map_chance_precision_and_correlation():
    truth = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=bool)
    percent = np.where(truth, 80.0, 10.0)
    split = Split({"features": np.zeros((4, 2))}, ["x"] * 4, truth, percent)
    perfect = truth.astype(float)
    out = measure(perfect, split, reference=perfect)
    assert out["mAP"] == 100.0 and out["chance"] == 50.0 and out["attributes"] == 2
    assert out["P@5"] == pytest.approx(100 * truth.sum() / 8)  # k = 5 > 2 columns: every column counted
    assert out["r"] == pytest.approx(1.0) and "P@5 standardised" in out


def test_markdown_marks_the_default_row():
    row = {"space": "default: x", "default": True, "mAP": 31.2, "chance": 16.1, "P@5": 11.0, "r": 0.2,
           "search by name": {"top-1": 4.8, "R@5": 11.9}, "search by descriptions": {"top-1": 9.5, "R@5": 26.2},
           "fit-time grounding (descriptions, held-out seen classes)": {"mAP": 24.7, "chance": 12.9, "classes": 14}}
    res = {"seconds": 1, "descriptions": "d.json", "encoder": "minilm", "readout": {"alpha": 10.0},
           "selected alpha": 10.0, "models": [{"model": "m", "rows": [row]}],
           "selection": [{"input": "frozen backbone features", "target": "descriptions", "alpha": 10.0,
                          "val mAP": 31.4, "val mAP per split": [30.0, 31.0, 33.2], "chance": 17.7,
                          "val classes per split": [19, 20, 18]}]}
    md = markdown(res)
    assert "| **default: x** | 31.2 | 16.1 | 11.0 | – | 0.200 | 4.8 / 11.9 | 9.5 / 26.2 | – |" in md
    assert "mAP 24.7 vs chance 12.9 on 14 classes" in md and "Selected α = 10" in md


def test_demo_grounding_compares_the_demo_text_with_the_published_sets_of_the_same_classes():
    import json

    from benchmarks.grounding_demo import DEMO, description_sets
    from lafg.vision.data import shared_data_root

    root = shared_data_root()
    if root is None or not (root / "descriptors" / "waffleclip" / "descriptors_cub.json").is_file():
        pytest.skip("needs ../shared/data descriptors")
    own = json.loads((DEMO / "descriptions.json").read_text(encoding="utf-8"))
    sets = description_sets(root, list(own))
    assert list(sets.values())[0] == own  # the shipped text first
    assert all(set(d) == set(own) and all(d.values()) for d in sets.values())  # every class found in each set
