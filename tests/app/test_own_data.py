"""Uploads without dead ends: a zip with one top-level folder reads as its classes, the report says what the set
needs (≥ 2 seen classes with descriptions, so ≥ 4 classes), the seen classes can be chosen, and Retrieve offers
the same upload."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image


def png(value: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((16, 16, 3), value, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def zip_file(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def wrapped_zip(path, classes):
    """What a file manager's "compress folder" makes: one folder around the class folders (and, on macOS,
    a __MACOSX folder beside it)."""
    members = {f"myset/{c}/{i}.png": png(40 * k + i) for k, c in enumerate(classes) for i in range(3)}
    members[f"__MACOSX/myset/{classes[0]}/._0.png"] = b"\0" * 10
    return zip_file(path, members)


def test_a_wrapped_zip_reads_as_its_classes_and_says_what_it_needs(client, tmp_path):
    three = client.predict(handle_file(str(wrapped_zip(tmp_path / "three.zip", ["Red_Finch", "Blue_Finch", "Green_Finch"]))), api_name="/upload_dataset")
    assert three["value"] == "three (upload, 3 classes)"
    four = client.predict(handle_file(str(wrapped_zip(tmp_path / "four.zip", ["A_bird", "B_bird", "C_bird", "D_bird"]))), api_name="/retrieve_dataset")
    assert four["value"] == "four (upload, 4 classes)"
    report, pick = client.predict(four["value"], api_name="/retrieve_set_report")  # (the button update is not returned)
    assert "- **Seen** (training, explanations): A bird, B bird" in report and pick["choices"][0][0] == "A bird"
    # choose the seen classes: the report lists the new split
    report, pick = client.predict(four["value"], ["B bird", "D bird"], api_name="/retrieve_seen_classes")
    assert "- **Seen** (training, explanations): B bird, D bird" in report
    assert "- **Unseen** (evaluation): A bird, C bird" in report
    assert "read inside its top-level folder `myset/`" in report
    assert pick["value"] == ["B bird", "D bird"]
    with pytest.raises(AppError, match="at least two unseen"):
        client.predict(four["value"], ["A bird", "B bird", "C bird"], api_name="/retrieve_seen_classes")
    with pytest.raises(AppError, match="your uploaded data sets"):
        client.predict("demo", ["A bird"], api_name="/retrieve_seen_classes")


def test_the_report_says_too_few_classes_and_which_seen_classes_lack_descriptions(tmp_path):
    from lafg.app.own_data import set_report
    from lafg.vision.data import unwrap_single_folder

    for name, classes in (("three", ["A", "B", "C"]), ("five", ["A", "B", "C", "D", "E"])):
        folder = tmp_path / name
        with zipfile.ZipFile(wrapped_zip(tmp_path / f"{name}.zip", classes)) as z:
            z.extractall(folder)
    three = set_report("three", unwrap_single_folder(tmp_path / "three"), {})
    assert "3 classes are too few" in three and "at least 4 classes" in three and "Seen** (training, explanations): A\n" in three
    five = unwrap_single_folder(tmp_path / "five")
    assert "Only 0 seen class(es) have descriptions" in set_report("five", five, {}) and "Describe A, B" in set_report("five", five, {})
    assert "✅ 2 seen classes have descriptions" in set_report("five", five, {"A": ["a red bird"], "B": ["a blue bird"]})
