"""The off-topic check on the bundled SmolLM2's real, hand-labelled sentences (benchmarks/offtopic.py): bounds
below the measured precision and recall, and the check as it was (no kind rule) flagging none of them."""

import json

import pytest

from benchmarks.offtopic import CONFIGS, LABELS, score


@pytest.mark.slow
def test_measured_precision_and_recall_on_the_labelled_sentences(minilm):
    labels = json.loads(LABELS.read_text(encoding="utf-8"))
    assert sum(len(v) for g in labels["groups"].values() for v in g.values()) >= 100
    design, heldout = (score(labels, minilm, CONFIGS["after"], split) for split in ("design", "heldout"))
    assert heldout["sentences"] >= 90 and heldout["off_topic"] >= 20
    # measured: design P 0.85 R 0.77; held-out P 1.00 R 0.52 (results/offtopic.md)
    assert design["precision"] >= 0.8 and design["recall"] >= 0.7
    assert heldout["precision"] >= 0.9 and heldout["recall"] >= 0.45
    before = score(labels, minilm, CONFIGS["before"], "heldout")
    assert before["tp"] == 0  # the check as it was caught none of the held-out off-topic sentences


def test_the_labels_are_complete_and_split_without_overlap():
    labels = json.loads(LABELS.read_text(encoding="utf-8"))
    design, heldout = set(labels["splits"]["design"]), set(labels["splits"]["heldout"])
    assert design.isdisjoint(heldout) and design | heldout == set(labels["groups"])
    rows = [r for g in labels["groups"].values() for v in g.values() for r in v]
    assert all(isinstance(r["off_topic"], bool) and r["sentence"] for r in rows)
    assert all(r.get("why") for r in rows if r["off_topic"])
