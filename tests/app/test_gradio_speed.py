"""The two Gradio shortcuts give exactly Gradio's own answers."""

import os

import gradio as gr
import pytest
from gradio import utils as gradio_utils
from gradio.data_classes import FileData, _StaticFiles
from PIL import Image

from lafg.app import gradio_speed
from lafg.app.gradio_speed import Gallery, is_static_file


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "thumbs"
    (root / "sub").mkdir(parents=True)
    outside = tmp_path / "secret.jpg"
    (tmp_path / "thumbs2").mkdir()
    for p in (root / "a.jpg", root / "sub" / "b.png", outside, tmp_path / "thumbs2" / "c.jpg"):
        Image.new("RGB", (4, 4)).save(p)
    os.symlink(outside, root / "link.jpg")  # inside by name, outside in fact
    os.symlink(root, tmp_path / "alias")  # outside by name, inside in fact
    previous = list(_StaticFiles.all_paths)
    _StaticFiles.clear()
    gr.set_static_paths([str(root)])
    yield tmp_path, root
    _StaticFiles.all_paths = previous


def test_static_check_equals_gradios(tree):
    tmp, root = tree
    original = gradio_utils._is_static_file
    cases = [
        str(root / "a.jpg"), root / "sub" / "b.png", str(root / "link.jpg"), str(tmp / "alias" / "a.jpg"),
        str(tmp / "secret.jpg"), str(root / "missing.jpg"), str(root), str(root / ".." / "secret.jpg"),
        str(tmp / "thumbs2" / "c.jpg"),  # a sibling whose name starts with the root's
        FileData(path=str(root / "a.jpg")), FileData(path=str(tmp / "secret.jpg")), 12, None,
    ]
    got = [is_static_file(c) for c in cases]
    want = [original(c, _StaticFiles.all_paths) for c in cases]
    assert got == want
    assert got[:4] == [True, True, False, True]  # the symlink out of the root is refused, the alias into it allowed


def test_static_roots_are_re_resolved_when_they_change(tree, tmp_path):
    tmp, root = tree
    assert is_static_file(str(root / "a.jpg"))
    _StaticFiles.clear()
    gr.set_static_paths([str(tmp_path / "elsewhere")])
    assert not is_static_file(str(root / "a.jpg"))
    gr.set_static_paths([str(tmp / "alias")])  # Gradio adds to the list in place
    assert is_static_file(str(root / "a.jpg"))


def test_install_replaces_the_check_gradio_calls(monkeypatch):
    monkeypatch.setattr(gradio_utils, "is_static_file", gradio_utils.is_static_file)
    gradio_speed.install()
    assert gradio_utils.is_static_file is is_static_file


def test_gallery_payload_equals_gradios(tree):
    tmp, root = tree
    mine, theirs = Gallery(), gr.Gallery()
    value = [(str(root / "a.jpg"), "0.912 · Blue Jay"), (str(root / "sub" / "b.png"), None)]
    assert mine.postprocess(value).model_dump() == theirs.postprocess(value).model_dump()
    # anything else goes through Gradio's own code
    mixed = [str(root / "a.jpg"), (Image.new("RGB", (2, 2)), "pil")]
    assert [type(x) for x in mine.postprocess(mixed).root] == [type(x) for x in theirs.postprocess(mixed).root]
    assert mine.postprocess(None).model_dump() == theirs.postprocess(None).model_dump()
    assert type(mine) is gr.Gallery and mine.postprocess.__func__ is gradio_speed._postprocess_paths
