"""The shipped published descriptions: every preset class is covered, the licence travels, names map right."""

from __future__ import annotations

import hashlib
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from lafg.errors import InputError
from lafg.language.categories import list_presets, load_preset
from lafg.language.describe import describe_classes
from lafg.language.llm import create_llm, list_llms
from lafg.language.llm.published import CITATION, SUPPLEMENT, PublishedDescriptionsLLM, aliases, published_set

ROOT = Path(__file__).resolve().parents[3]
SHARED = ROOT.parent / "shared" / "data" / "descriptors" / "waffleclip"


@pytest.mark.parametrize("preset", list(list_presets()))
def test_every_preset_class_has_published_descriptions(preset):
    names = load_preset(preset)
    llm = PublishedDescriptionsLLM(preset)
    out = describe_classes(names, llm)
    assert list(out) == names
    assert all(len(v) >= 2 for v in out.values()), [n for n, v in out.items() if len(v) < 2]
    supplemented = llm.supplemented()
    expected = {"cars196": 14, "aircraft100": 1}.get(preset, 0)
    assert len(supplemented) == expected


def test_known_mappings():
    llm = PublishedDescriptionsLLM()
    assert llm.lookup("737-800")[1] == "descriptors_fgvcaircraft.json:Boeing 737"
    assert llm.lookup("E-190")[1] == "descriptors_fgvcaircraft.json:Embraer E-Jet"
    assert llm.lookup("Model B200")[1] == "descriptors_fgvcaircraft.json:King Air"
    assert llm.lookup("Blenheim spaniel")[1] == "descriptors_imagenet.json:King Charles Spaniel"
    assert llm.lookup("Eskimo dog")[1] == "descriptors_imagenet.json:husky"
    assert llm.lookup("air plant")[1] == "descriptors_flowers102.json:ball moss"
    assert llm.lookup("Black footed Albatross")[1] == "descriptors_cub.json:Black-footed Albatross"
    assert llm.lookup("Saab 340")[1] == SUPPLEMENT
    assert llm.lookup("Löwe") is None


def test_every_aircraft_variant_maps_to_a_family_key():
    families = set(published_set("descriptors_fgvcaircraft.json"))
    assert len(families) == 70
    amap = aliases()["aircraft100"]["aliases"]
    for variant in load_preset("aircraft100"):
        assert amap.get(variant, variant) in families, variant


def test_unknown_names_are_a_clear_error_and_registry_entry():
    assert "published" in list_llms()
    llm = create_llm("published", preset="cub200")
    with pytest.raises(InputError, match="no published descriptions"):
        describe_classes(["Laysan Albatross", "my own bird"], llm)
    with pytest.raises(InputError):
        PublishedDescriptionsLLM("nope")
    assert "Menon" in llm.describe()["citation"] and "MIT" in CITATION


def test_licence_and_readme_are_shipped_as_package_data():
    folder = resources.files("lafg.language").joinpath("descriptors")
    licence = folder.joinpath("LICENSE").read_text(encoding="utf-8")
    assert "MIT License" in licence and "Karsten Roth" in licence
    readme = folder.joinpath("README.md").read_text(encoding="utf-8")
    shipped = sorted(f.name for f in folder.iterdir() if f.name.startswith("descriptors_") and f.name.endswith(".json"))
    assert shipped and all(f"`{name}`" in readme for name in shipped)  # it documents every file it travels with
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["lafg"]
    assert {"language/descriptors/LICENSE", "language/descriptors/*.json", "language/descriptors/README.md"} <= set(data)


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared data not mounted")
def test_copies_are_byte_identical_to_the_published_files():
    for src in sorted(SHARED.iterdir()):
        ours = ROOT / "lafg" / "language" / "descriptors" / src.name
        assert hashlib.sha256(ours.read_bytes()).hexdigest() == hashlib.sha256(src.read_bytes()).hexdigest(), src.name


def test_cli_describe_published_prints_the_citation(tmp_path, capsys):
    import json

    from lafg.cli import main

    assert main(["describe", "--preset", "aircraft100", "--llm", "published", "--out", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "wrote 725 descriptions for 100 classes" in out and "Menon" in out
    config = json.loads((tmp_path / "describe_config.json").read_text())
    assert config["backend"] == "published" and config["supplemented"] == ["Saab 340"]
    assert main(["describe", "--names", "Foo bar", "--llm", "published", "--out", str(tmp_path / "x"), "--no-progress"]) == 2
