import itertools
import json
import re

import pytest

from lafg.app.guide import ladder_figure, ladder_reading, read_ladder, too_small_note
from lafg.retrieval.verdict import LADDER_DATA, Outcome, compare, main_rows, minilm_rows


def row(method, r1, std=0.2, set_name="s", encoder=None, seeds=None):
    language = method not in ("aux", "pretrained")
    r = {"set": set_name, "mode": "head", "method": method, "descriptions": "gpt4" if language else "-",
         "reading": "relational" if language else "-", "R@1": [r1, std], "seeds": 3}
    if encoder:
        r["encoder"] = encoder
    if seeds:
        r["R@1_seeds"] = seeds
    return r


def test_reading_is_computed_from_the_rows():
    tie = ladder_reading([row("lafg", 50.0), row("permuted", 50.2), row("pretrained", 52.0)])
    assert "a tie" in tie and "is below the untrained backbone" in tie and "do no better" in tie
    ahead = ladder_reading([row("lafg", 55.0), row("permuted", 50.0), row("aux", 49.0)])
    assert "lafg ahead" in ahead and "beats no language" in ahead and "do no better" not in ahead
    assert "no rows" in ladder_reading([], "head")


def test_bridge_rows_do_not_replace_the_minilm_rows():
    """The issue's bug: a bridge row after the MiniLM one overwrote it (and turned a tie into 'permuted ahead')."""
    rows = [row("lafg", 54.42, 0.31, seeds=[54.77, 54.47, 54.01]), row("permuted", 54.95, 0.21, seeds=[55.21, 54.96, 54.69]),
            row("lafg", 54.24, 0.23, encoder="bridge", seeds=[53.93, 54.28, 54.5]),
            row("permuted", 54.79, 0.05, encoder="bridge", seeds=[54.74, 54.86, 54.77])]
    text = ladder_reading(rows)
    assert "lafg 54.42 ± 0.31 vs permuted 54.95 ± 0.21: a tie" in text and "54.24" not in text
    lafg = next(t for t in ladder_figure(rows, "head").data if t.name == "lafg")
    assert list(lafg.y) == [54.42]


# the panel's words for each outcome of lafg.retrieval.verdict.compare (lafg vs permuted)
SAID = {Outcome.TIE: "a tie", Outcome.WIN: "lafg ahead", Outcome.LOSS: "permuted ahead", Outcome.NO_SPREAD: "one seed each"}


def _pm(row: dict) -> str:
    return f"{row['R@1'][0]:.2f} ± {row['R@1'][1]:.2f}"


def _lifted(row: dict, points: float) -> dict:
    """``row`` with its R@1 (mean and every seed) ``points`` higher."""
    out = {**row, "R@1": [row["R@1"][0] + points, row["R@1"][1]]}
    if row.get("R@1_seeds"):
        out["R@1_seeds"] = [x + points for x in row["R@1_seeds"]]
    return out


def test_the_panel_says_what_the_verdict_rule_says_about_the_committed_rows():
    """Whatever the committed ladder holds, the panel's figures and verdicts are lafg.retrieval.verdict's on its rows, and
    its chart draws those same rows (nothing typed in, nothing read from a results document)."""
    committed = read_ladder()
    modes = [m for m in ("head", "partial") if any(r.get("mode") == m for r in committed)]
    assert committed and "head" in modes
    # and the same rows with lafg 5 points up, so the check does not hang on what the committed verdicts are
    lifted = [_lifted(r, 5.0) if r.get("method") == "lafg" else r for r in committed]
    outcomes = set()
    for rows, mode in itertools.product((committed, lifted), modes):
        text = ladder_reading(rows, mode)
        said = {s: (lafg, perm, verdict_words) for s, lafg, perm, verdict_words in re.findall(
            r"\*\*([\w-]+)\*\*: lafg ([\d.]+ ± [\d.]+) vs permuted ([\d.]+ ± [\d.]+): ([^(;.]+)", text)}
        compared = {s: main_rows(rows, mode, s) for s in dict.fromkeys(r["set"] for r in rows if r.get("mode") == mode)}
        compared = {s: get for s, get in compared.items() if "lafg" in get and "permuted" in get}
        assert compared and set(said) == set(compared), (mode, text)
        for set_name, get in compared.items():
            lafg, perm, words = said[set_name]
            assert (lafg, perm) == (_pm(get["lafg"]), _pm(get["permuted"])), (mode, set_name)
            outcome = compare(get["lafg"], get["permuted"]).outcome
            assert words.startswith(SAID[outcome]), (mode, set_name, words)
            outcomes.add(outcome)
        chart = {t.name.split(" ")[0]: dict(zip(t.x, t.y, strict=True)) for t in ladder_figure(rows, mode).data}
        drawn = {(name, set_name): y for name, by_set in chart.items() for set_name, y in by_set.items() if y is not None}
        expected = {(r["method"], r["set"]): r["R@1"][0] for r in minilm_rows(rows, mode)}
        assert drawn == pytest.approx(expected) and {("lafg", s) for s in compared} <= set(drawn)
    assert len(outcomes) > 1  # the two variants exercised more than one verdict


def test_the_package_copy_is_what_the_panel_reads():
    assert read_ladder() == json.loads(LADDER_DATA.read_text(encoding="utf-8"))["rows"]


def test_too_small_note():
    demo = {"unseen_classes": list("abcde")}
    assert "too small to separate methods" in too_small_note(demo, 40) and "2.5 points" in too_small_note(demo, 40)
    assert too_small_note({"unseen_classes": ["c"] * 98}, 8000) == ""
    assert too_small_note(demo, 0) == ""


def test_the_results_table_says_in_every_row_whether_runs_can_be_told_apart(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from lafg.app import tab_train

    def job(method, r1, ident):
        result = {"method": method, "dataset": "d", "unseen_classes": list("abcde"), "epochs_done": 60,
                  "recall": {"R@1": r1}, "pretrained": {"R@1": 90.0}}
        return SimpleNamespace(state="done", result=result, id=ident)

    svc = SimpleNamespace(jobs=SimpleNamespace(list=lambda owner: [job("lafg", 100.0, "j1"), job("permuted", 95.0, "j2")]))
    monkeypatch.setattr(tab_train, "unseen_images", lambda folder: 40)
    rows = tab_train.results_table(svc, "d")
    column = tab_train.RESULT_HEADERS.index("can these runs be told apart?")
    assert [r[0] for r in rows] == ["pretrained (frozen backbone)", "lafg", "permuted"]
    assert all(r[column] == "no: too few classes to separate methods (1 image = 2.5 points)" for r in rows)
    assert len(rows[0]) == len(tab_train.RESULT_HEADERS)
    monkeypatch.setattr(tab_train, "unseen_images", lambda folder: 8000)
    svc.jobs.list = lambda owner: [SimpleNamespace(**{**vars(job("lafg", 55.0, "j3")), "result": {**job("lafg", 55.0, "j3").result, "unseen_classes": ["c"] * 98}})]
    assert tab_train.results_table(svc, "d")[1][column].startswith("one seed, no spread")


def test_the_bundled_model_is_called_a_toy_with_where_to_go_instead():
    from lafg.app.tab_describe import toy_note
    from lafg.language.llm.published import PublishedDescriptionsLLM

    published = PublishedDescriptionsLLM()
    known = next(n for n in ("Blue Jay", "Cardinal", "Sunflower", "Tesla Model S Sedan 2012") if published.lookup(n))
    made_up = "Zorblax Flitterwing"
    assert published.lookup(made_up) is None
    assert "toy" in toy_note([made_up]) and "None of your names" in toy_note([made_up]) and "JSON" in toy_note([made_up])
    assert "All your names are in the published" in toy_note([known])
    mixed = toy_note([known, made_up])
    assert "1 of your 2 names" in mixed and made_up in mixed and "endpoint" in mixed
