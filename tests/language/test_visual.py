import pytest

from lafg.language.visual import filter_descriptions, is_visual, non_visual_reason


def test_reasons_on_the_issue_examples():
    assert non_visual_reason("A bird that is known for its high-pitched musical song.") == "sound"
    assert non_visual_reason("A bird often seen at bird feeders.") == "habitat or range"
    assert non_visual_reason("A car with a top speed of 155 mph.") == "performance or mechanics"
    assert non_visual_reason("A car with a base price of $25,000.") == "price or reputation"
    assert non_visual_reason("A bird that feeds on seeds.") == "diet"
    assert non_visual_reason("A bird with a wingspan of 30 inches.") == "size or weight in numbers"
    assert non_visual_reason("A car with heated leather seats.") == "interior or equipment"


def test_visual_sentences_pass():
    for s in ("A bird with a black cap on its head.", "a long, hooked bill", "A car with 18-inch alloy wheels.",
              "A bird with a red patch in the throat region.", "two turbofan engines", "a large breed with a square muzzle",
              "black feet"):
        assert is_visual(s), s


def test_filter_counts_and_emptied_classes():
    desc = {"a": ["black cap", "sings a sweet song", "lives in forests"], "b": ["known for its call"], "c": []}
    out = filter_descriptions(desc)
    assert out.kept["a"] == ["black cap"]
    assert out.n_set_aside == 3 and out.reasons() == {"sound": 2, "habitat or range": 1}
    assert out.emptied == ["b"] and out.kept["b"] == ["known for its call"]  # kept so the class stays in
    strict = filter_descriptions(desc, keep_if_emptied=False)
    assert strict.kept["b"] == [] and strict.n_kept == 1 and out.kept["c"] == []


@pytest.mark.slow
def test_cli_vocab_visual_only(tmp_path, capsys):
    import json

    from lafg.cli import main
    from lafg.store.runs import load_vocabulary

    desc = {"Cardinal": ["a bright red crest", "known for its loud song"], "Blue Jay": ["a blue crest", "often seen at bird feeders"]}
    (tmp_path / "descriptions.json").write_text(json.dumps(desc))
    assert main(["vocab", "--run", str(tmp_path), "--n-atoms", "2", "--visual-only"]) == 0
    assert "set aside 2" in capsys.readouterr().out
    assert sorted(load_vocabulary(tmp_path)[0].sentences) == ["a blue crest", "a bright red crest"]
