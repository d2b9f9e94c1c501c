"""Small truths of issue 19: the default N gives no warning on a small set (the demo), and a gallery without an
attribute space says "no explanations" instead of "explanations read the unavailable (…)"."""

from __future__ import annotations

from gradio_client import handle_file

from lafg.language.vocabulary import VocabularyConfig, suggested_atoms
from tests.app.test_own_data import wrapped_zip


def call(client, name, *args):
    return client.predict(*args, api_name=f"/{name}")


def test_suggested_atoms():
    assert [suggested_atoms(n) for n in (1, 9, 100, 510, 5000)] == [2, 2, 25, 128, 128]
    assert suggested_atoms(100, limit=10) == 10


def test_the_default_n_on_the_demo_gives_no_warning_and_a_chosen_n_is_kept(client):
    default = VocabularyConfig().n_atoms
    _fig, info, rows, *_ = call(client, "build_vocabulary", default, "PCA", True, "atom")
    assert "⚠️" not in info and "requested" not in info
    n = len(rows["data"])
    assert f"**{n} atoms**" in info and (n == default or f"N = {n}: about 4 sentences per atom" in info)
    _fig, info, rows, *_ = call(client, "build_vocabulary", 7, "PCA", True, "atom")
    assert len(rows["data"]) == 7 and "about 4 sentences per atom" not in info


def test_a_gallery_without_explanations_says_so_plainly(client, tmp_path):
    label = call(client, "retrieve_dataset", handle_file(str(wrapped_zip(tmp_path / "plain.zip", ["Q_one", "Q_two", "Q_three", "Q_four"]))))["value"]
    models = call(client, "list_models")[0]["choices"]
    info, _browse = call(client, "build_index", models[0][0], label)
    assert "no explanations:" in info and "unavailable" not in info and "read the" not in info


def test_the_toy_note_comes_with_a_bundled_generation_and_goes_with_new_names(client):
    call(client, "set_names", "Zorblax Flitterwing\nQuibble Hound", None, None)
    _info, _desc, flags = call(client, "generate_descriptions", "bundled", "", "", "none", "", "Describe a {class_name} in {n} lines", 2)
    assert "The bundled LLM is a toy" in flags and "None of your names is in the published" in flags
    *_, flags = call(client, "set_names", "", None, "pets37")
    assert flags == ""  # the preset's published descriptions: no stale note
