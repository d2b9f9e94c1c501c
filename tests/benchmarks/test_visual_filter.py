from benchmarks.visual_filter import LABELS, label_scores, markdown, precision_recall, reading


def test_precision_recall_counts():
    rows = [{"sentence": "sings a song", "visual": False}, {"sentence": "black cap", "visual": True},
            {"sentence": "a loud bird", "visual": False}, {"sentence": "found in forests", "visual": True}]
    s = precision_recall(rows)
    assert (s["tp"], s["fp"], s["fn"], s["tn"]) == (1, 1, 1, 1) and s["precision"] == 0.5 and s["recall"] == 0.5


def test_committed_labels_score_and_reading():
    import json

    labels = json.loads(LABELS.read_text(encoding="utf-8"))
    assert {len(v) for v in labels["design"].values()} == {100} and {len(v) for v in labels["heldout"].values()} == {50}
    scores = label_scores(labels)
    assert scores["heldout/both"]["precision"] > 0.9 and scores["heldout/both"]["recall"] > 0.7
    rows = [{"set": "x", "method": m, "filter": f, "R@1": [r, 0.2], "MAP@R": [1, 0], "sentences": 1, "seeds": 3}
            for m, f, r in (("lafg", "all sentences", 50.0), ("lafg", "visual only", 50.1), ("permuted", "visual only", 50.0))]
    assert "a tie" in reading(rows) and "| x | lafg |" in markdown(scores, rows)
