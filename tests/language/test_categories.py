"""Tests for lafg.language.categories: parsing and validation of class names, and the bundled preset class lists."""

from __future__ import annotations

import csv
import json
import os
from importlib import resources
from pathlib import Path

import pytest

from lafg.errors import InputError
from lafg.language.categories import (
    CategoryLimits,
    CategoryList,
    clean_name,
    list_presets,
    load_preset,
    parse_categories,
    read_categories,
    resolve_categories,
    split_names,
    validate_names,
)

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

PRESET_COUNTS = {
    "cub200": 200,
    "cars196": 196,
    "aircraft100": 100,
    "flowers102": 102,
    "pets37": 37,
    "dogs120": 120,
}


# ----------------------------------------------------------------------------------------------------
# presets


def test_list_presets_names_and_copy():
    presets = list_presets()
    assert list(presets) == list(PRESET_COUNTS)
    assert all(isinstance(v, str) and v for v in presets.values())
    presets["extra"] = "x"  # the returned dict is a copy
    assert "extra" not in list_presets()


@pytest.mark.parametrize(("name", "count"), list(PRESET_COUNTS.items()))
def test_preset_count_unique_and_clean(name, count):
    names = load_preset(name)
    assert len(names) == count
    assert len({n.casefold() for n in names}) == count  # no duplicates, case-insensitive
    for n in names:
        assert n == clean_name(n)  # already clean: no control characters, single spaces, no outer spaces
        assert "," not in n and "\n" not in n and "\r" not in n
        assert "_" not in n  # readable names, underscores turned into spaces
        assert 0 < len(n) <= CategoryLimits().max_name_chars


@pytest.mark.parametrize("name", list(PRESET_COUNTS))
def test_preset_file_is_one_name_per_line(name):
    raw = resources.files("lafg.language.presets").joinpath(f"{name}.txt").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    assert b"\r" not in raw
    assert raw.endswith(b"\n") and not raw.endswith(b"\n\n")
    lines = raw.decode("utf-8").split("\n")[:-1]
    assert lines == load_preset(name)  # no blank lines, no padding


@pytest.mark.parametrize("name", list(PRESET_COUNTS))
def test_preset_round_trips_through_parsing(name):
    names = load_preset(name)
    assert validate_names(names).names == names
    assert validate_names(names).duplicates == []
    parsed = parse_categories("\n".join(names))
    assert parsed.names == names and parsed.duplicates == []
    via_resolve = resolve_categories(preset=name)
    assert via_resolve.names == names


def test_cub200_spot_checks():
    names = load_preset("cub200")
    assert names[0] == "Black footed Albatross"
    assert names[1] == "Laysan Albatross"
    assert names[16] == "Cardinal"  # 017.Cardinal
    assert names[21] == "Chuck will Widow"  # 022
    assert names[102] == "Sayornis"  # 103
    assert names[109] == "Geococcyx"  # 110
    assert names[140] == "Artic Tern"  # 141, the data set's own spelling
    assert names[198] == "Winter Wren"
    assert names[-1] == "Common Yellowthroat"


def test_cars196_spot_checks():
    names = load_preset("cars196")
    assert names[0] == "AM General Hummer SUV 2000"
    assert names[1] == "Acura RL Sedan 2012"
    assert names[97] == "Eagle Talon Hatchback 1998"  # last seen class of the DML split (id 98)
    assert names[98] == "FIAT 500 Abarth 2012"  # first unseen class (id 99)
    assert names[173] == "Ram C/V Cargo Van Minivan 2012"
    assert names[-1] == "smart fortwo Convertible 2012"


def test_aircraft100_spot_checks():
    names = load_preset("aircraft100")
    assert names[:3] == ["707-320", "727-200", "737-200"]
    assert names[21] == "A300B4"
    assert names[37] == "BAE 146-200"
    assert names[72] == "F-16A/B"
    assert names[73] == "F/A-18"
    assert names[-3:] == ["Tu-134", "Tu-154", "Yak-42"]


def test_flowers102_spot_checks():
    names = load_preset("flowers102")
    assert names[:3] == ["pink primrose", "hard-leaved pocket orchid", "canterbury bells"]
    assert names[11] == "colt's foot"
    assert names[15] == "globe flower"
    assert names[59] == "pink and yellow dahlia"
    assert names[92] == "air plant"
    assert names[-1] == "blackberry lily"


def test_pets37_spot_checks():
    names = load_preset("pets37")
    assert names[:3] == ["Abyssinian", "american bulldog", "american pit bull terrier"]
    assert names[5] == "Bengal"
    assert names[9] == "British Shorthair"
    assert names[-1] == "yorkshire terrier"
    assert names == sorted(names, key=str.casefold)  # official ids follow case-insensitive alphabetical order
    cats = [n for n in names if n[0].isupper()]  # the data set's convention: capitalised = cat breed
    assert cats == [
        "Abyssinian", "Bengal", "Birman", "Bombay", "British Shorthair", "Egyptian Mau",
        "Maine Coon", "Persian", "Ragdoll", "Russian Blue", "Siamese", "Sphynx",
    ]  # fmt: skip


def test_dogs120_spot_checks():
    names = load_preset("dogs120")
    assert names[:3] == ["Chihuahua", "Japanese spaniel", "Maltese dog"]
    assert names[4] == "Shih-Tzu"
    assert names[14] == "black-and-tan coonhound"
    assert names[59] == "German short-haired pointer"
    assert names[-3:] == ["dingo", "dhole", "African hunting dog"]
    assert "dalmatian" not in {n.casefold() for n in names}  # in ImageNet, not in Stanford Dogs


@pytest.mark.skipif(not (SHARED_DATA / "cars196" / "classes.csv").is_file(), reason="shared data absent")
def test_cars196_matches_shared_classes_csv():
    with open(SHARED_DATA / "cars196" / "classes.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["class_id"]) for r in rows] == list(range(1, 197))
    assert load_preset("cars196") == [r["name"] for r in rows]


@pytest.mark.skipif(
    not (SHARED_DATA / "descriptors" / "cub200_gpt4_adaptclipzs.json").is_file(), reason="shared data absent"
)
def test_cub200_matches_shared_descriptor_keys():
    keys = list(json.loads((SHARED_DATA / "descriptors" / "cub200_gpt4_adaptclipzs.json").read_text("utf-8")))
    assert load_preset("cub200") == keys


@pytest.mark.skipif(not (SHARED_DATA / "cub100" / "classes.csv").is_file(), reason="shared data absent")
def test_cub200_matches_official_ids_of_shared_cub100():
    names = load_preset("cub200")
    with open(SHARED_DATA / "cub100" / "classes.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 100
    for r in rows:
        assert names[int(r["class_id"]) - 1] == r["name"]


def test_unknown_preset():
    with pytest.raises(InputError, match=r"unknown preset 'cub2011'.*cub200.*dogs120"):
        load_preset("cub2011")
    with pytest.raises(InputError):
        resolve_categories(preset="nope")


# ----------------------------------------------------------------------------------------------------
# parsing and validation


def test_one_name_per_line():
    result = parse_categories("Blue Jay\nCardinal\nGreen Jay\n")
    assert isinstance(result, CategoryList)
    assert result.names == ["Blue Jay", "Cardinal", "Green Jay"]
    assert result.duplicates == []
    assert len(result) == 3


def test_comma_separated():
    assert parse_categories("Blue Jay, Cardinal ,Green Jay").names == ["Blue Jay", "Cardinal", "Green Jay"]
    assert parse_categories("a,,b, ,c,").names == ["a", "b", "c"]  # empty entries skipped


def test_lines_with_commas_are_split_too():
    assert split_names("a, b\nc") == ["a", " b", "c"]
    assert parse_categories("Blue Jay, Cardinal\nGreen Jay\n\nMallard").names == [
        "Blue Jay", "Cardinal", "Green Jay", "Mallard",
    ]  # fmt: skip


def test_crlf_and_lone_cr():
    assert parse_categories("Blue Jay\r\nCardinal\r\n").names == ["Blue Jay", "Cardinal"]
    expected = ["Blue Jay", "Cardinal", "Green Jay"]
    assert parse_categories("Blue Jay\rCardinal\r\nGreen Jay\n").names == expected
    assert split_names("a\r\nb\rc\nd") == ["a", "b", "c", "d"]


def test_whitespace_collapse():
    result = parse_categories("   Blue \t  Jay  \n\tRed   winged\u00a0Blackbird\t")
    assert result.names == ["Blue Jay", "Red winged Blackbird"]
    assert clean_name("  a \t b  ") == "a b"
    assert clean_name("Blue\x0bJay\x0cBird") == "Blue Jay Bird"  # vertical tab / form feed separate words


def test_duplicates_reported_case_insensitively():
    result = parse_categories("Blue Jay\nblue jay\nCardinal\nBLUE   JAY\ncardinal\nGreen Jay")
    assert result.names == ["Blue Jay", "Cardinal", "Green Jay"]  # first occurrence kept, in input order
    assert result.duplicates == ["blue jay", "BLUE JAY", "cardinal"]


def test_duplicates_after_unicode_normalisation():
    result = parse_categories("Caf\u00e9\nCafe\u0301\nCAF\u00c9")
    assert result.names == ["Caf\u00e9"]
    assert result.duplicates == ["Caf\u00e9", "CAF\u00c9"]


def test_empty_input_raises():
    for text in ("", None, "\n\n", " , ,\n,"):
        with pytest.raises(InputError, match="no category names given"):
            parse_categories(text)
    with pytest.raises(InputError):
        validate_names([])


def test_only_whitespace_raises():
    with pytest.raises(InputError, match="no category names given"):
        parse_categories("   \n\t\t\n \u00a0 \r\n   ")
    with pytest.raises(InputError):
        parse_categories("\x00\x01\n\x7f")  # only control characters: nothing left


def test_over_long_name_raises():
    ok = "x" * 120
    assert parse_categories(ok).names == [ok]
    with pytest.raises(InputError, match=r"too long \(121 > 120 characters\)"):
        parse_categories("Blue Jay\n" + "x" * 121)
    assert parse_categories("  " + ok + "  ").names == [ok]  # measured after cleaning
    with pytest.raises(InputError, match=r"too long \(6 > 5"):
        parse_categories("abcdef", CategoryLimits(max_name_chars=5))


def test_too_many_names_raises():
    names = [f"class {i}" for i in range(5000)]
    assert len(parse_categories("\n".join(names))) == 5000
    with pytest.raises(InputError, match=r"too many categories \(5001 > 5000\)"):
        parse_categories("\n".join([*names, "class 5000"]))
    with pytest.raises(InputError, match=r"too many categories \(4 > 3\)"):
        parse_categories("a,b,c,d", CategoryLimits(max_count=3))
    # duplicates do not count towards the limit
    assert parse_categories("a,b,c,A,B", CategoryLimits(max_count=3)).names == ["a", "b", "c"]


def test_min_count_limit():
    with pytest.raises(InputError):
        parse_categories("a", CategoryLimits(min_count=2))
    assert parse_categories("a,b", CategoryLimits(min_count=2)).names == ["a", "b"]


def test_unicode_names_kept():
    text = "M\u00e9sange charbonni\u00e8re\n\u30b7\u30b8\u30e5\u30a6\u30ab\u30e9\n\u00d1and\u00fa\n"
    text += "\u5927\u5c71\u96c0\nKohlmeise"
    result = parse_categories(text)
    assert result.names == ["Mésange charbonnière", "シジュウカラ", "Ñandú", "大山雀", "Kohlmeise"]
    assert result.duplicates == []


def test_decomposed_unicode_is_normalised_to_nfc():
    assert parse_categories("N\u0303andu\u0301").names == ["\u00d1and\u00fa"]


def test_joiners_kept_for_scripts_that_need_them():
    # the zero-width non-joiner (U+200C) is part of the Persian spelling
    persian = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"
    assert clean_name(persian) == persian
    assert clean_name("a\u200db") == "a\u200db"


def test_control_characters_stripped():
    result = parse_categories("Blue\x00 Jay\x07\n\x1bCardinal\x7f\nGreen\u200b Jay\ufeff")
    assert result.names == ["Blue Jay", "Cardinal", "Green Jay"]
    assert clean_name("\ufeffBlue Jay") == "Blue Jay"


def test_read_file_with_bom(tmp_path):
    path = tmp_path / "classes.txt"
    path.write_bytes("\ufeffBlue Jay\r\nM\u00e9sange charbonni\u00e8re\r\nblue jay\r\n".encode())
    result = read_categories(path)
    assert result.names == ["Blue Jay", "Mésange charbonnière"]
    assert result.duplicates == ["blue jay"]
    assert read_categories(str(path)).names == result.names  # str paths work too


def test_read_file_without_bom_and_limits(tmp_path):
    path = tmp_path / "classes.txt"
    path.write_text("a\nb\nc\n", encoding="utf-8")
    assert read_categories(path).names == ["a", "b", "c"]
    with pytest.raises(InputError, match="too many"):
        read_categories(path, CategoryLimits(max_count=2))


def test_missing_file_raises(tmp_path):
    with pytest.raises(InputError, match="category file not found"):
        read_categories(tmp_path / "nope.txt")
    with pytest.raises(InputError, match="category file not found"):
        read_categories(tmp_path)  # a folder is not a file


def test_non_utf8_file_raises(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("M\u00e9sange\n".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8"):
        read_categories(path)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs POSIX permissions as non-root")
def test_unreadable_file_raises_input_error(tmp_path):
    path = tmp_path / "locked.txt"
    path.write_text("a\n", encoding="utf-8")
    path.chmod(0)
    try:
        with pytest.raises(InputError, match="cannot be read"):
            read_categories(path)
    finally:
        path.chmod(0o600)


def test_read_error_becomes_input_error(tmp_path, monkeypatch):
    path = tmp_path / "classes.txt"
    path.write_text("a\n", encoding="utf-8")

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_text", refuse)
    with pytest.raises(InputError, match=r"cannot be read: .*classes.txt \(Permission denied\)"):
        read_categories(path)


def test_resolve_precedence(tmp_path):
    path = tmp_path / "classes.txt"
    path.write_text("From File\n", encoding="utf-8")
    assert resolve_categories(text="From Text").names == ["From Text"]
    assert resolve_categories(text="From Text", file=path).names == ["From File"]
    assert resolve_categories(text="From Text", file=path, preset="pets37").names == load_preset("pets37")
    assert resolve_categories(text="a\nA", file=None, preset="").duplicates == ["A"]
    with pytest.raises(InputError):
        resolve_categories()
    with pytest.raises(InputError, match="not found"):
        resolve_categories(file=tmp_path / "missing.txt")


# ----------------------------------------------------------------------------------------------------
# matching names across sources (data-set class names vs description keys)

from lafg.language.categories import loose_key, match_names, name_key  # noqa: E402


def test_name_key_ignores_case_punctuation_spacing_and_accents():
    assert name_key("Globe-Flower") == name_key("globe flower") == name_key(" globe_flower ") == "globeflower"
    assert name_key("Clark's Nutcracker") == name_key("Clarks_Nutcracker") == name_key("CLARK’S NUTCRACKER")
    assert name_key("Ñandú") == name_key("Nandu") == name_key("N\u0303andu\u0301")  # composed or not
    assert name_key("Black-footed Albatross") == name_key("001.Black_footed_Albatross".split(".", 1)[1])
    assert name_key("हिंदी") == "हिंदी"  # vowel signs of other scripts are kept (they are part of the spelling)
    assert name_key("Indigo Bunting") != name_key("Lazuli Bunting")


def test_loose_key_drops_connectors_and_repeated_words():
    assert loose_key("pink and yellow dahlia") == loose_key("pink-yellow dahlia") == "pinkyellowdahlia"
    assert loose_key("lotus lotus") == loose_key("Lotus") == "lotus"
    assert loose_key("Rock & Roll") == loose_key("rock roll")


def test_match_names_exact_then_key_then_loose_and_reports_the_rest():
    wanted = ["globe flower", "Clark's Nutcracker", "Red Fox", "pink and yellow dahlia", "Air Plant"]
    available = ["globe-flower", "clarks nutcracker", "Red Fox", "pink-yellow dahlia", "ball moss"]
    m = match_names(wanted, available)
    assert m.pairs == {
        "globe flower": "globe-flower",
        "Clark's Nutcracker": "clarks nutcracker",
        "Red Fox": "Red Fox",
        "pink and yellow dahlia": "pink-yellow dahlia",
    }
    assert m.loose == {"pink and yellow dahlia": "pink-yellow dahlia"}
    assert m.unmatched == ["Air Plant"] and m.unused == ["ball moss"]
    assert m.renamed({k: [k] for k in available}) == {w: [a] for w, a in m.pairs.items()}


def test_match_names_prefers_the_exact_spelling_and_never_guesses_between_two():
    m = match_names(["Grey Wolf"], ["grey-wolf", "Grey Wolf"])
    assert m.pairs == {"Grey Wolf": "Grey Wolf"} and m.unused == ["grey-wolf"]
    m = match_names(["grey wolf"], ["Grey-Wolf", "grey_wolf"])  # two candidates, same key: ambiguous
    assert m.pairs == {} and m.unmatched == ["grey wolf"]


def test_flowers102_preset_against_the_published_flowers_descriptions():
    path = SHARED_DATA / "descriptors" / "waffleclip" / "descriptors_flowers102.json"
    if not path.is_file():
        pytest.skip("shared descriptors not found")
    keys = list(json.loads(path.read_text(encoding="utf-8")))
    preset = load_preset("flowers102")
    assert len([n for n in preset if n not in keys]) == 4  # exact spelling differs for 4 classes
    m = match_names(preset, keys)
    assert m.pairs["globe flower"] == "globe-flower"
    assert m.loose == {"pink and yellow dahlia": "pink-yellow dahlia", "lotus": "lotus lotus"}
    # a different name altogether (torchvision's "ball moss" for CLIP's "air plant") stays reported
    assert m.unmatched == ["air plant"] and m.unused == ["ball moss"]
    assert len(m.pairs) == 101
