import pytest
from PIL import Image

from lafg.errors import InputError
from lafg.vision.data import load_image_set
from lafg.vision.datacheck import check_data, descriptions_for_training, match_descriptions, unreadable_images

# folder names as a user writes them; description keys as a published file spells them
FOLDERS = {"01.Globe_Flower": 3, "02.Clarks_Nutcracker": 2, "03.Red_Fox": 1, "04.Air_Plant": 2, "05.Grey_Wolf": 2,
           "06.Snow_Owl": 2}
DESCRIPTIONS = {
    "globe-flower": ["yellow globe-shaped petals"],
    "Clark's Nutcracker": ["grey body", "black wings"],
    "red fox": ["orange fur"],
    "grey wolf": ["grey fur"],
    "snow-owl": [],  # present but empty: counts as missing
    "ball moss": ["grey tufts"],
}


@pytest.fixture
def data(tmp_path):
    for folder, n in FOLDERS.items():
        (tmp_path / folder).mkdir()
        for i in range(n):
            Image.new("RGB", (6, 6), (i * 50, 0, 0)).save(tmp_path / folder / f"{i}.png")
    (tmp_path / "03.Red_Fox" / "readme.txt").write_text("not an image")
    return load_image_set(tmp_path)


def test_check_data_counts_split_small_classes_and_names(data):
    report = check_data(data, DESCRIPTIONS)
    assert report.classes == ["Globe Flower", "Clarks Nutcracker", "Red Fox", "Air Plant", "Grey Wolf", "Snow Owl"]
    assert report.counts == [3, 2, 1, 2, 2, 2] and report.skipped == 1
    assert report.side(True) == (3, 6) and report.side(False) == (3, 6)
    assert report.small == ["Red Fox"]
    d = report.descriptions
    assert d.seen_missing == [] and d.unseen_missing == ["Air Plant", "Snow Owl"]
    assert d.match.unused == ["ball moss"]
    text = "\n".join(report.lines(list_classes=True))
    assert "classes: 6; images: 12 (per class min 1, median 2, max 3)" in text
    assert "seen (train): 3 classes, 6 images; unseen (test): 3 classes, 6 images" in text
    assert "classes with fewer than 2 images: 'Red Fox'" in text
    assert "descriptions: 4 of 6 classes matched (4 by a normalised name)" in text
    assert "2 unseen class(es) without descriptions: 'Air Plant', 'Snow Owl'" in text
    assert "1 description key(s) match no class of the data: 'ball moss'" in text
    assert "     3  unseen       2  Air Plant" in text
    assert report.problems == ["1 class(es) with fewer than 2 images: 'Red Fox'"]


def test_descriptions_are_rekeyed_by_the_data_set_names(data):
    seen, unseen = data.split("seen")[2], data.split("unseen")[2]
    out = match_descriptions(seen, unseen, DESCRIPTIONS).descriptions
    assert out == {"Globe Flower": ["yellow globe-shaped petals"], "Clarks Nutcracker": ["grey body", "black wings"],
                   "Red Fox": ["orange fur"], "Grey Wolf": ["grey fur"]}


def test_a_seen_class_without_descriptions_stops_training_with_one_line():
    seen, unseen = ["Globe Flower", "Air Plant"], ["Grey Wolf"]
    with pytest.raises(InputError) as exc:
        descriptions_for_training(seen, unseen, DESCRIPTIONS)
    message = str(exc.value)
    assert "\n" not in message and "'Air Plant'" in message and "--allow-missing" in message
    warned = []
    out = descriptions_for_training(seen, unseen, DESCRIPTIONS, allow_missing=True, warn=warned.append)
    assert list(out) == ["Globe Flower", "Grey Wolf"]
    assert "1 seen class(es) without descriptions: 'Air Plant'" in warned
    with pytest.raises(InputError, match="name none of the 2 seen classes"):
        descriptions_for_training(["Emu", "Kiwi"], [], DESCRIPTIONS, allow_missing=True)


def test_unreadable_images_found(data, tmp_path):
    (tmp_path / "01.Globe_Flower" / "9.png").write_bytes(b"\x89PNG broken")
    paths = [p for p, _ in load_image_set(tmp_path).items]
    assert [p.name for p in unreadable_images(paths)] == ["9.png"]
