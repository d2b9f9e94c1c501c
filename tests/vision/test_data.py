import json
import logging

import numpy as np
import pytest
from PIL import Image

from lafg.errors import InputError
from lafg.vision.data import ImageSet, class_name_from_folder, load_image, load_image_set, shared_data_root


def _tree(root, classes=("001.Red_Bird", "002.Blue_Bird", "003.Green_Bird", "004.Grey_Bird"), per_class=2):
    for c, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (40 + i, 30), (60 * c, 20 * i, 100)).save(folder / f"img{i}.jpg")
    return root


def test_folder_layout_with_junk_files(tmp_path, caplog):
    root = _tree(tmp_path / "set")
    (root / "001.Red_Bird" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    (root / "002.Blue_Bird" / "notes.txt").write_text("not an image")
    with caplog.at_level(logging.WARNING, logger="lafg.vision.data"):
        image_set = load_image_set(root)
    assert image_set.classes == ["Red Bird", "Blue Bird", "Green Bird", "Grey Bird"]
    assert image_set.seen == [0, 1]
    assert len(image_set) == 9  # the corrupt .jpg is listed (found on read), the .txt is not
    assert "notes.txt" in caplog.text
    paths, labels, names = image_set.split("unseen")
    assert names == ["Green Bird", "Grey Bird"]
    assert labels.dtype == np.int64 and labels.tolist() == [0, 0, 1, 1]
    assert all(p.parent.name in {"003.Green_Bird", "004.Grey_Bird"} for p in paths)
    with caplog.at_level(logging.WARNING, logger="lafg.vision.data"):
        assert load_image(root / "001.Red_Bird" / "broken.jpg") is None
        assert load_image(root / "002.Blue_Bird" / "notes.txt") is None
    assert "broken.jpg" in caplog.text
    img = load_image(root / "001.Red_Bird" / "img1.jpg")
    assert img.mode == "RGB" and img.size == (41, 30)


def test_explicit_seen_list(tmp_path):
    root = _tree(tmp_path / "set")
    image_set = load_image_set(root, seen=["Grey Bird", "Red Bird"])
    assert image_set.seen == [0, 3]
    _, labels, names = image_set.split("seen")
    assert names == ["Red Bird", "Grey Bird"] and sorted(set(labels.tolist())) == [0, 1]
    with pytest.raises(InputError, match="Purple"):
        load_image_set(root, seen=["Purple Bird"])


def test_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_image_set(tmp_path / "nope")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(InputError, match="no images"):
        load_image_set(tmp_path / "empty")
    (tmp_path / "flat").mkdir()
    with pytest.raises(InputError, match="no class folders"):
        load_image_set(tmp_path / "flat")
    with pytest.raises(InputError):
        ImageSet(tmp_path, ["a"], [], [0]).split("train")


def test_csv_layout(tmp_path):
    root = _tree(tmp_path / "set", classes=("001.A", "002.B", "003.C"))
    (root / "classes.csv").write_text("class_id,name,split\n1,Alpha,test\n2,Beta,train\n3,Gamma,test\n")
    rows = ["path,class_id,split"] + [f"{d}/img{i}.jpg,{c},x" for c, d in [(1, "001.A"), (2, "002.B"), (3, "003.C")] for i in range(2)]
    (root / "images.csv").write_text("\n".join(rows) + "\n")
    image_set = load_image_set(root)
    assert image_set.classes == ["Alpha", "Beta", "Gamma"] and image_set.seen == [1]
    paths, labels, names = image_set.split("unseen")
    assert names == ["Alpha", "Gamma"] and labels.tolist() == [0, 0, 1, 1]
    assert paths[0] == root / "001.A" / "img0.jpg"
    (root / "images.csv").write_text("path,class_id\n001.A/img0.jpg,9\n")
    with pytest.raises(InputError, match="9"):
        load_image_set(root)


def test_decompression_bomb_refused(tmp_path, caplog):
    path = tmp_path / "big.png"
    Image.new("RGB", (100, 100)).save(path)
    with caplog.at_level(logging.WARNING, logger="lafg.vision.data"):
        assert load_image(path, max_pixels=5000) is None
    assert "big.png" in caplog.text
    assert load_image(path) is not None


def test_decompression_bomb_pil_limit(tmp_path, monkeypatch, caplog):
    path = tmp_path / "bomb.png"
    Image.new("RGB", (100, 100)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2000)  # 10,000 px > 2 x limit: PIL itself refuses
    with caplog.at_level(logging.WARNING, logger="lafg.vision.data"):
        assert load_image(path) is None
    assert "bomb.png" in caplog.text


def test_grey_and_palette_images_become_rgb(tmp_path):
    Image.new("L", (16, 16), 128).save(tmp_path / "g.png")
    Image.new("P", (16, 16)).save(tmp_path / "p.gif")
    assert load_image(tmp_path / "g.png").mode == "RGB"
    assert load_image(tmp_path / "p.gif").mode == "RGB"


def test_class_name_from_folder():
    assert class_name_from_folder("001.Black_footed_Albatross") == "Black footed Albatross"
    assert class_name_from_folder("AM General Hummer") == "AM General Hummer"
    assert class_name_from_folder("123") == "123"


def test_shared_data_root_env(tmp_path, monkeypatch):
    monkeypatch.setenv("LAFG_SHARED_DATA", str(tmp_path))
    assert shared_data_root() == tmp_path
    monkeypatch.setenv("LAFG_SHARED_DATA", str(tmp_path / "missing"))
    assert shared_data_root() is None


@pytest.mark.slow
def test_shared_cub100(shared_data):
    image_set = load_image_set(shared_data / "cub100")
    assert len(image_set.classes) == 100 and len(image_set.seen) == 58 and len(image_set) == 5902
    paths, labels, names = image_set.split("unseen")
    assert len(names) == 42 and labels.max() == 41 and len(paths) + len(image_set.split("seen")[0]) == 5902
    assert all(p.is_file() for p in paths[:20])
    assert load_image(paths[0]).mode == "RGB"


# ---------------------------------------------------------------- numeric folders and names files

from lafg.vision.data import natural_key, read_names_file  # noqa: E402

FLOWERS = ["pink primrose", "globe-flower", "colt's foot", "Sweet William"]


def _numeric_tree(root, n=12, per_class=1):
    for c in range(1, n + 1):
        folder = root / str(c)
        folder.mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (8, 8), (c * 10, i * 40, 0)).save(folder / f"image_{i + 1:05d}.jpg")
    return root


def test_natural_key_orders_numbers_as_numbers():
    names = ["10", "2", "1", "100", "img10", "img9", "b", "A"]
    assert sorted(names, key=natural_key) == ["1", "2", "10", "100", "A", "b", "img9", "img10"]


def test_numeric_folders_sort_naturally_and_split_in_that_order(tmp_path):
    image_set = load_image_set(_numeric_tree(tmp_path / "set", n=12))
    assert image_set.classes == [str(i) for i in range(1, 13)]  # not 1, 10, 11, 12, 2, ...
    assert image_set.seen == list(range(6))
    assert image_set.split("seen")[2] == ["1", "2", "3", "4", "5", "6"]
    assert [p.parent.name for p, _ in image_set.items][:3] == ["1", "2", "3"]


def test_names_file_json_csv_and_list(tmp_path):
    root = _numeric_tree(tmp_path / "set", n=4)
    (tmp_path / "names.json").write_text(json.dumps({str(i + 1): n for i, n in enumerate(FLOWERS)}))
    assert load_image_set(root, names_file=tmp_path / "names.json").classes == FLOWERS
    (tmp_path / "names.csv").write_text("class_id,name\n" + "".join(f'{i + 1},"{n}"\n' for i, n in enumerate(FLOWERS)))
    assert load_image_set(root, names_file=tmp_path / "names.csv").classes == FLOWERS
    (tmp_path / "list.json").write_text(json.dumps(FLOWERS))
    assert load_image_set(root, names_file=tmp_path / "list.json").classes == FLOWERS
    (tmp_path / "names.txt").write_text("\n".join(FLOWERS) + "\n")
    assert load_image_set(root, names_file=tmp_path / "names.txt").classes == FLOWERS
    # ids match folders as numbers ("7" names folder "007"), and a names.csv inside the root is picked up alone
    assert read_names_file(tmp_path / "names.json", ["001", "002", "003", "004"])["003"] == "colt's foot"
    (root / "names.csv").write_text("".join(f"{i + 1},{n.upper()}\n" for i, n in enumerate(FLOWERS)))
    assert load_image_set(root).classes == [n.upper() for n in FLOWERS]


def test_names_file_errors_name_the_problem(tmp_path):
    root = _numeric_tree(tmp_path / "set", n=3)
    (tmp_path / "short.json").write_text(json.dumps({"1": "a", "2": "b"}))
    with pytest.raises(InputError, match="names no class for folder\\(s\\) 3"):
        load_image_set(root, names_file=tmp_path / "short.json")
    (tmp_path / "dup.json").write_text(json.dumps({"1": "a", "2": "a", "3": "b"}))
    with pytest.raises(InputError, match="several folders the name\\(s\\) a"):
        load_image_set(root, names_file=tmp_path / "dup.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(InputError, match="not valid JSON"):
        load_image_set(root, names_file=tmp_path / "bad.json")
    (tmp_path / "list.json").write_text(json.dumps(["a", "b"]))
    with pytest.raises(InputError, match="2 names for 3 class folders"):
        load_image_set(root, names_file=tmp_path / "list.json")
    with pytest.raises(InputError, match="not found"):
        load_image_set(root, names_file=tmp_path / "nope.csv")


from lafg.vision.data import unwrap_single_folder, write_seen_split  # noqa: E402


def _png(path, value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8, 3), value, np.uint8)).save(path)


def test_a_single_top_level_folder_is_unwrapped(tmp_path):
    for c in ("A_bird", "B_bird", "C_bird", "D_bird"):
        _png(tmp_path / "up" / "myset" / c / "1.png")
    (tmp_path / "up" / "__MACOSX" / "myset" / "A_bird").mkdir(parents=True)  # what macOS's archiver adds
    (tmp_path / "up" / "__MACOSX" / "myset" / "A_bird" / "._1.png").write_bytes(b"x")
    root = unwrap_single_folder(tmp_path / "up")
    assert root == tmp_path / "up" / "myset"
    assert load_image_set(root).classes == ["A bird", "B bird", "C bird", "D bird"]
    # twice wrapped: unwrapped twice; the __MACOSX folder is never a class
    _png(tmp_path / "two" / "x" / "y" / "A" / "1.png")
    _png(tmp_path / "two" / "x" / "y" / "B" / "1.png")
    assert unwrap_single_folder(tmp_path / "two") == tmp_path / "two" / "x" / "y"
    _png(tmp_path / "mac" / "A" / "1.png")
    _png(tmp_path / "mac" / "B" / "1.png")
    (tmp_path / "mac" / "__MACOSX" / "A").mkdir(parents=True)
    assert unwrap_single_folder(tmp_path / "mac") == tmp_path / "mac"
    assert load_image_set(tmp_path / "mac").classes == ["A", "B"]


def test_a_single_class_folder_or_loose_files_stay_as_they_are(tmp_path):
    _png(tmp_path / "one" / "only_class" / "1.png")  # one folder of images: one class, not a wrapper
    assert unwrap_single_folder(tmp_path / "one") == tmp_path / "one"
    _png(tmp_path / "loose" / "x" / "A" / "1.png")
    _png(tmp_path / "loose" / "stray.png")
    assert unwrap_single_folder(tmp_path / "loose") == tmp_path / "loose"


def test_write_seen_split_makes_every_reader_see_the_chosen_seen_classes(tmp_path):
    for i, c in enumerate(("A", "B", "C", "D", "E")):
        _png(tmp_path / c / "1.png", i)
        _png(tmp_path / c / "2.png", i)
    image_set = load_image_set(tmp_path)
    assert [image_set.classes[i] for i in image_set.seen] == ["A", "B"]
    write_seen_split(image_set, ["B", "D"])
    again = load_image_set(tmp_path)
    assert again.layout == "csv" and again.classes == ["A", "B", "C", "D", "E"]
    assert [again.classes[i] for i in again.seen] == ["B", "D"] and len(again) == 10
    assert again.split("unseen")[2] == ["A", "C", "E"]
    write_seen_split(again, ["A", "B", "C"])  # a second choice rewrites the CSVs
    assert [load_image_set(tmp_path).classes[i] for i in load_image_set(tmp_path).seen] == ["A", "B", "C"]
    with pytest.raises(InputError, match="at least one seen"):
        write_seen_split(again, [])
    with pytest.raises(InputError, match="not in"):
        write_seen_split(again, ["Z"])
