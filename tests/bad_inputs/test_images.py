"""Bad images: the library opens them right or refuses them in one line; the app API and the feature
extractor give the same answers."""

from __future__ import annotations

import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from lafg.errors import InputError
from lafg.vision.images import open_rgb
from tests.bad_inputs import images as bad


def test_16_bit_png_is_scaled_not_clipped_white(tmp_path):
    ramp = bad.png16(tmp_path / "g16.png")
    got = np.asarray(open_rgb(tmp_path / "g16.png"))[..., 0].astype(int)
    expect = np.rint(ramp.astype(float) * 255 / 65535).astype(int)
    assert np.abs(got - expect).max() <= 1 and got.min() == 0 and got.max() == 255


def test_exif_rotation_is_applied(tmp_path):
    upright = bad.exif_rotated(tmp_path / "rot.jpg")
    got = open_rgb(tmp_path / "rot.jpg")
    assert got.size == upright.size
    diff = np.abs(np.asarray(got, dtype=float) - np.asarray(upright, dtype=float)).mean()
    assert diff < 6, diff  # JPEG noise only: the photo is upright again


@pytest.mark.parametrize(("make", "message"), [
    (bad.tiny, r"only 1×1 pixels; images need at least 16"),
    (bad.bomb_png, r"(decompression bomb|900 MP).*before decoding"),
    (lambda p: bad.bomb_png(p, 9000), r"9000×9000 pixels \(81 MP\); at most 60 MP.*before decoding"),
    (bad.truncated_jpeg, r"not a readable image \(corrupt or truncated\)"),
    (bad.fake_jpeg, r"not a readable image"),
])
def test_bad_images_get_one_line(tmp_path, make, message, monkeypatch):
    from PIL import ImageFile

    path = tmp_path / ("x.png" if "bomb" in repr(make) or "lambda" in repr(make) else "x.jpg")
    make(path)
    decoded = []  # pixel data decoded (ImageFile.load), recorded
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self.size) or real_load(self))
    with pytest.raises(InputError, match=message) as err:
        open_rgb(path)
    assert "\n" not in str(err.value)
    if "before decoding" in message:
        assert decoded == []  # the bomb is refused from its header: its pixels are never decoded


def test_feature_extraction_skips_bad_images_and_keeps_the_rest(tmp_path, caplog):
    from lafg.vision.data import load_image

    bad.bomb_png(tmp_path / "bomb.png")
    bad.tiny(tmp_path / "tiny.png")
    with caplog.at_level("WARNING"):
        assert load_image(tmp_path / "bomb.png") is None and load_image(tmp_path / "tiny.png") is None
    assert load_image(bad.PHOTO).size[0] >= 16
    assert "before decoding" in caplog.text and "Traceback" not in caplog.text


def test_app_query_with_bad_images(client, tmp_path):
    """Through the API: each bad query image gets its one-line reason; a rotated photo finds the upright one."""
    client.predict("pretrained backbone (no training)", "demo (20 CUB birds, embedded)", api_name="/build_index")
    for make, message in ((bad.tiny, "at least 16"), (bad.bomb_png, "before decoding"), (bad.truncated_jpeg, "corrupt or truncated")):
        path = tmp_path / f"{make.__name__}.png"
        make(path)
        with pytest.raises(AppError, match=message):
            client.predict(handle_file(str(path)), api_name="/search_image")
    bad.exif_rotated(tmp_path / "rot.jpg")
    items, *_ = client.predict(handle_file(str(tmp_path / "rot.jpg")), api_name="/search_image")
    assert items[0]["caption"].endswith("Red winged Blackbird")
