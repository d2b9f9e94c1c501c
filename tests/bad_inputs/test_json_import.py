"""Descriptions JSON that is not {class: [sentence, ...]}: one-line refusals in the app and the CLI; empty lists
keep a class's sentences; keys matching no class are reported."""

from __future__ import annotations

import json

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from lafg.cli import main

BAD = {
    "deep": "[" * 100_000 + "]" * 100_000,
    "deep_object": '{"Blue Jay": ' + "[" * 50 + "]" * 50 + "}",
    "string_value": json.dumps({"Blue Jay": "blue crest and a black necklace"}),
    "int_value": json.dumps({"Blue Jay": 3}),
    "nested_lists": json.dumps({"Blue Jay": [["blue crest"]]}),
    "int_sentences": json.dumps({"Blue Jay": [1, 2]}),
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_app_refuses_malformed_descriptions(client, tmp_path, kind):
    path = tmp_path / f"{kind}.json"
    path.write_text(BAD[kind], encoding="utf-8")
    with pytest.raises(AppError, match=r"nested|list of sentences|not a descriptions JSON") as err:
        client.predict(handle_file(str(path)), api_name="/import_descriptions")
    assert "\n" not in str(err.value)


def test_app_import_keeps_sentences_of_empty_lists_and_reports_unmatched(client, tmp_path):
    before = client.predict("Blue Jay", api_name="/show_descriptions")
    assert before
    path = tmp_path / "partial.json"
    path.write_text(json.dumps({"Blue Jay": [], "Mallard": ["green head"], "Not A Bird": ["x"], "Nor This": ["y"]}), encoding="utf-8")
    client.predict(handle_file(str(path)), api_name="/import_descriptions")
    assert client.predict("Blue Jay", api_name="/show_descriptions") == before  # not wiped
    assert client.predict("Mallard", api_name="/show_descriptions") == "green head"


def test_import_merge_counts_unmatched_keys_and_keeps_empty_classes():
    from lafg.app.descriptions import merge_imported

    current = {"Blue Jay": ["blue crest"], "Mallard": ["old"]}
    matched, note = merge_imported(current, ["Blue Jay", "Mallard"], {"Blue Jay": [], "Mallard": ["green head"], "x": ["a"], "y": ["b"]})
    assert matched == ["Blue Jay", "Mallard"] and current == {"Blue Jay": ["blue crest"], "Mallard": ["green head"]}
    assert note == "2 key(s) of the file match no class name; 1 class(es) have no sentence in the file and keep their own: Blue Jay"


@pytest.mark.parametrize("kind", ["string_value", "int_value", "nested_lists", "deep"])
def test_cli_train_refuses_malformed_descriptions_in_one_line(tmp_path, capsys, kind):
    data = tmp_path / "data"
    for cls in ("Blue Jay", "Mallard"):
        (data / cls).mkdir(parents=True)
    path = tmp_path / "d.json"
    path.write_text(BAD[kind], encoding="utf-8")
    code = main(["train", "--data", str(data), "--descriptions", str(path), "--method", "lafg", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
