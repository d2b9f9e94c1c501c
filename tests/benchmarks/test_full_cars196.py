from benchmarks.full_cars196 import ladder_rows


def test_report_rows_become_one_seed_ladder_rows_with_the_card_name():
    metrics = {"R@1": 47.016, "R@2": 59.0, "R@4": 70.0, "R@8": 80.0, "MAP@R": 7.484}
    report = {
        "device": "NVIDIA H200",
        "images": "reduced",
        "rows": [
            {"method": "pretrained", **metrics, "seconds": 5.0},
            {"method": "lafg", **metrics, "seconds": 41.0, "config": {"reading": "relational"}},
        ],
    }
    rows = ladder_rows(report)
    assert [(r["method"], r["descriptions"], r["reading"]) for r in rows] == [
        ("pretrained", "-", "-"),
        ("lafg", "gpt4", "relational"),
    ]
    assert rows[1]["R@1"] == [47.02, 0.0] and rows[1]["MAP@R"] == [7.48, 0.0]
    assert {r["mode"] for r in rows} == {"full"} and rows[0]["device"] == "NVIDIA H200"
