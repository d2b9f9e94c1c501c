import json

import numpy as np
import pytest

from lafg.retrieval.verdict import Outcome, compare, main_rows, minilm_rows, read_ladder, row_key


def _row(seeds, method="m", **extra):
    return {"method": method, "R@1": [float(np.mean(seeds)), float(np.std(seeds))], "R@1_seeds": seeds, "seeds": len(seeds), **extra}


def test_a_win_needs_separated_seeds_and_a_gap_beyond_both_spreads():
    v = compare(_row([60.0, 61.0, 62.0]), _row([50.0, 51.0, 52.0]))
    assert v.outcome is Outcome.WIN and v.diff == pytest.approx(10.0) and v.per_seed
    assert compare(_row([50.0, 51.0, 52.0]), _row([60.0, 61.0, 62.0])).outcome is Outcome.LOSS
    # separated seeds, gap 1.73 < spreads 1.39 + 0.42 = 1.81: a tie
    assert compare(_row([50.0, 50.1, 53.0]), _row([47.0, 49.8, 49.9])).outcome is Outcome.TIE
    # gap beyond the spreads but overlapping seeds: a tie
    assert compare(_row([60.0, 60.1, 50.0]), _row([50.1, 50.2, 50.3])).outcome is Outcome.TIE


def test_single_seed_rows_and_rows_without_seed_values():
    assert compare(_row([60.0]), _row([50.0])).outcome is Outcome.NO_SPREAD
    # a deterministic baseline (one run) against three seeds: judged on the three seeds against its value
    assert compare(_row([85.65, 84.44, 85.25]), _row([86.86])).outcome is Outcome.LOSS
    assert compare(_row([86.0, 87.0, 88.0]), _row([86.86])).outcome is Outcome.TIE
    means_only = {"R@1": [57.03, 0.14], "seeds": 3}
    v = compare(_row([58.36, 59.29, 58.68]), means_only)
    assert v.outcome is Outcome.WIN and not v.per_seed
    assert compare({"R@1": [57.2, 0.1], "seeds": 3}, means_only).outcome is Outcome.TIE  # 0.17 < 0.24


def test_main_rows_keep_the_first_row_per_method_and_encoder():
    rows = [
        {"set": "s", "mode": "head", "method": "lafg", "encoder": "minilm", "reading": "relational", "R@1": [54.4, 0.3]},
        {"set": "s", "mode": "head", "method": "aux", "reading": "-", "R@1": [53.6, 0.2]},
        {"set": "s", "mode": "head", "method": "lafg", "encoder": "bridge", "reading": "relational", "R@1": [54.2, 0.2]},
        {"set": "s", "mode": "head", "method": "lafg", "encoder": "minilm", "reading": "relational", "descriptions": "x", "R@1": [1.0, 0.0]},
        {"set": "s", "mode": "head", "method": "lafg", "encoder": "minilm", "reading": "direct", "R@1": [2.0, 0.0]},
        {"set": "s", "mode": "partial", "method": "lafg", "R@1": [3.0, 0.0]},
    ]
    by = main_rows(rows, "head", "s")
    assert sorted(by) == ["aux", "lafg", "lafg@bridge"] and by["lafg"]["R@1"] == [54.4, 0.3]
    assert [r["R@1"][0] for r in minilm_rows(rows, "head")] == [54.4, 53.6]
    assert row_key(rows[2]) == "lafg@bridge" and row_key(rows[1]) == "aux"


def test_read_ladder_accepts_a_list_or_rows_and_survives_bad_files(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps([{"set": "s"}]))
    (tmp_path / "b.json").write_text(json.dumps({"rows": [{"set": "t"}, 3]}))
    (tmp_path / "c.json").write_text("{nope")
    assert read_ladder(tmp_path / "a.json") == [{"set": "s"}]
    assert read_ladder(tmp_path / "b.json") == [{"set": "t"}]
    assert read_ladder(tmp_path / "c.json") == [] and read_ladder(tmp_path / "missing.json") == []
