import json

import pytest

from lafg.errors import InputError
from lafg.language.describe import DescribeConfig, describe_classes, save_descriptions_json
from lafg.language.llm import create_llm


@pytest.fixture
def stored(tmp_path):
    path = tmp_path / "descs.json"
    save_descriptions_json({"Black footed Albatross": ["Dark plumage.", "Pale face ring."], "Robin": ["Red breast."]}, path)
    return path


def test_json_backend_returns_stored_descriptions_with_loose_names(stored):
    llm = create_llm("json", path=stored)
    assert llm.cacheable is False
    assert llm.model_id.startswith("descs.json@")
    out = describe_classes(["black_footed  albatross", "Robin"], llm, DescribeConfig(n=1))
    # stored sentences are the user's data: n does not trim them
    assert out == {"black_footed  albatross": ["Dark plumage.", "Pale face ring."], "Robin": ["Red breast."]}


def test_json_backend_names_missing_classes(stored):
    llm = create_llm("json", path=stored)
    with pytest.raises(InputError, match=r"2 class\(es\) not found in .*descs.json: 'Kiwi', 'Emu'$"):
        describe_classes(["Robin", "Kiwi", "Emu"], llm)


def test_json_backend_generate_finds_quoted_name(stored):
    llm = create_llm("json", descriptions=json.loads(stored.read_text("utf-8")))
    assert llm.generate('Describe "Robin" please', 10) == "Red breast."
    with pytest.raises(InputError):
        llm.generate("Describe nothing", 10)


def test_json_backend_bad_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        create_llm("json", path=tmp_path / "none.json")
    with pytest.raises(InputError, match="exactly one"):
        create_llm("json")
