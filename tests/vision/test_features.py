import logging
import os

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torchvision import transforms as T

from lafg.store.cache import ArrayCache
from lafg.vision.features import extract_activations, extract_features


class TinyBackbone(nn.Module):
    """Mean colour per channel, scaled: deterministic and fast; counts the images it has seen."""

    name = "tiny"
    feature_dim = 3

    def __init__(self):
        super().__init__()
        self.seen = 0

    def forward(self, x):
        self.seen += len(x)
        return x.mean(dim=(2, 3)) * 10

    def train_transform(self):
        return T.Compose([T.RandomResizedCrop(8, scale=(0.2, 0.5)), T.ToTensor()])


EVAL = T.Compose([T.Resize(8), T.CenterCrop(8), T.ToTensor()])


@pytest.fixture
def images(tmp_path):
    paths = []
    rng = np.random.default_rng(0)
    for i in range(5):
        path = tmp_path / f"img{i}.png"
        Image.fromarray(rng.integers(0, 255, size=(16, 16, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def test_features_values_and_cache(images, tmp_path):
    backbone = TinyBackbone()
    cache = ArrayCache(tmp_path / "c")
    calls = []
    feats = extract_features(backbone, images, EVAL, batch_size=2, cache=cache, progress=lambda *a: calls.append(a))
    assert feats.shape == (5, 3) and feats.dtype == np.float32
    expected = EVAL(Image.open(images[3]).convert("RGB")).mean(dim=(1, 2)).numpy() * 10
    np.testing.assert_allclose(feats[3], expected, rtol=1e-6)
    assert calls[-1][:2] == (5, 5) and backbone.seen == 5
    again = extract_features(backbone, images, EVAL, batch_size=2, cache=cache)
    np.testing.assert_array_equal(again, feats)
    assert backbone.seen == 5  # all from the cache
    st = os.stat(images[1])  # a changed file (mtime) is recomputed, the others are not
    os.utime(images[1], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    extract_features(backbone, images, EVAL, batch_size=2, cache=cache)
    assert backbone.seen == 6


def test_views_are_deterministic_and_view_major(images):
    backbone = TinyBackbone()
    a = extract_features(backbone, images, EVAL, batch_size=2, views=3, seed=1)
    b = extract_features(backbone, images[::-1], EVAL, batch_size=3, views=3, seed=1)
    assert a.shape == (15, 3)
    np.testing.assert_allclose(a[:5], extract_features(backbone, images, EVAL))
    # view v of image i sits at row v * n + i, whatever the order or batch size
    for v in range(3):
        np.testing.assert_allclose(a[v * 5 : v * 5 + 5], b[v * 5 : v * 5 + 5][::-1], rtol=1e-6)
    assert not np.allclose(a[5:10], a[10:15])  # different augmentations per view
    c = extract_features(backbone, images, EVAL, views=2, seed=2)
    assert not np.allclose(a[5:10], c[5:10])


def test_unreadable_images_are_skipped(images, tmp_path, caplog):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"garbage")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    paths = [images[0], bad, images[1], text]
    with caplog.at_level(logging.WARNING):
        feats, kept = extract_features(TinyBackbone(), paths, EVAL, views=2, num_workers=0, return_kept=True)
    assert kept.tolist() == [0, 2] and feats.shape == (4, 3)
    assert "bad.jpg" in caplog.text and "notes.txt" in caplog.text
    np.testing.assert_allclose(feats[:2], extract_features(TinyBackbone(), [images[0], images[1]], EVAL))


def test_workers_give_the_same_result(images):
    a = extract_features(TinyBackbone(), images * 3, EVAL, batch_size=4, views=2, num_workers=2)
    b = extract_features(TinyBackbone(), images * 3, EVAL, batch_size=4, views=2, num_workers=0)
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_activations_of_a_real_bottom_are_float16_and_cached(images, tmp_path):
    from lafg.vision.backbones import create_backbone

    torch.set_num_threads(2)
    backbone = create_backbone("timm:test_resnet", pretrained=False)
    bottom, top = backbone.split_at(1)
    transform = backbone.eval_transform()
    cache = ArrayCache(tmp_path / "c")
    acts = extract_activations(bottom, images[:3], transform, cache=cache, model_id="test_resnet/bottom-1")
    assert acts.dtype == np.float16 and acts.ndim == 4 and len(acts) == 3
    feats = extract_features(backbone, images[:3], transform)
    with torch.no_grad():
        from_acts = top(torch.from_numpy(acts).float()).numpy()
    np.testing.assert_allclose(from_acts, feats, atol=2e-2, rtol=1e-2)  # float16 storage
    again = extract_activations(bottom, images[:3], transform, cache=cache, model_id="test_resnet/bottom-1")
    np.testing.assert_array_equal(again, acts)
