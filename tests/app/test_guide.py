from lafg.app.guide import ladder_reading, read_ladder, too_small_note


def row(method, r1, std=0.2, set_name="s"):
    return {"set": set_name, "mode": "head", "method": method, "descriptions": "-" if method in ("aux", "pretrained") else "gpt4",
            "reading": "-" if method in ("aux", "pretrained") else "relational", "R@1": [r1, std]}


def test_reading_is_computed_from_the_rows():
    tie = ladder_reading([row("lafg", 50.0), row("permuted", 50.2), row("pretrained", 52.0)])
    assert "a tie" in tie and "is below the untrained backbone" in tie and "do no better" in tie
    ahead = ladder_reading([row("lafg", 55.0), row("permuted", 50.0), row("aux", 49.0)])
    assert "lafg ahead" in ahead and "beats no language" in ahead and "do no better" not in ahead
    assert "no rows" in ladder_reading([], "head")


def test_committed_ladder_reads_as_a_tie():
    rows = read_ladder()
    assert rows and "a tie" in ladder_reading(rows, "head")


def test_too_small_note():
    demo = {"unseen_classes": list("abcde")}
    assert "too small to separate methods" in too_small_note(demo, 40) and "2.5 points" in too_small_note(demo, 40)
    assert too_small_note({"unseen_classes": ["c"] * 98}, 8000) == ""
    assert too_small_note(demo, 0) == ""
